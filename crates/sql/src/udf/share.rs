//! `privagg_share(x, weight[, mechanism])`: a marker for an aggregate's
//! share of ε and, optionally, its own noise (`mechanism => 'gaussian'`).

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// The function name the dialect rewrites `epsilon_share => w` to.
pub const SHARE_UDF_NAME: &str = "privagg_share";

/// The marker function: the analysis reads its weight and drops it; the
/// value keeps its type.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ShareMarker {
    signature: Signature,
}

impl ShareMarker {
    /// The function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for ShareMarker {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for ShareMarker {
    fn name(&self) -> &str {
        SHARE_UDF_NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [value, _] => Ok(vec![value.clone(), DataType::Float64]),
            [value, _, _] => Ok(vec![value.clone(), DataType::Float64, DataType::Utf8]),
            _ => datafusion::common::plan_err!("privagg_share takes (value, weight[, mechanism])"),
        }
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types.first().cloned().unwrap_or(DataType::Null))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match args.args.into_iter().next() {
            Some(v) => Ok(v),
            None => datafusion::common::exec_err!("privagg_share takes (value, weight)"),
        }
    }
}
