//! The catalog functions psql and drivers call: constants (a visible table,
//! the owner's name, the current schema, no comment, no default) and
//! `format_type`.

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};

/// A function that answers one value whatever its arguments.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct Constant {
    name: String,
    value: ScalarValue,
    signature: Signature,
}

impl Constant {
    pub(crate) fn new(name: &str, value: ScalarValue) -> Self {
        Self {
            name: name.to_string(),
            value,
            signature: Signature::one_of(
                vec![TypeSignature::Nullary, TypeSignature::VariadicAny],
                Volatility::Stable,
            ),
        }
    }
}

impl ScalarUDFImpl for Constant {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.value.data_type())
    }
    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Ok(ColumnarValue::Scalar(self.value.clone()))
    }
}

/// `format_type(oid, typmod)`: the type's name.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct FormatType {
    signature: Signature,
}

impl FormatType {
    pub(crate) fn new() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for FormatType {
    fn name(&self) -> &str {
        "format_type"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let Some(oid) = args.args.first() else {
            return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)));
        };
        let oids = oid.to_array(args.number_rows)?;
        let oids = datafusion::arrow::compute::cast(&oids, &DataType::Int64)?;
        let oids = oids
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| datafusion::error::DataFusionError::Internal("oid type".into()))?;
        let names: StringArray = oids
            .iter()
            .map(|o| {
                o.map(|o| match o {
                    16 => "boolean",
                    20 => "bigint",
                    701 => "double precision",
                    _ => "text",
                })
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(names)))
    }
}
