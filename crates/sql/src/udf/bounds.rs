//! `privagg_bounds(x, lower, upper[, 'per_row'])`: a marker for per-aggregate bounds.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// The function name the dialect rewrites bounded aggregates to.
pub const BOUNDS_UDF_NAME: &str = "privagg_bounds";

/// The marker function: the plan rewrite reads its bounds and drops it.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BoundsMarker {
    signature: Signature,
}

impl BoundsMarker {
    /// The function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for BoundsMarker {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for BoundsMarker {
    fn name(&self) -> &str {
        BOUNDS_UDF_NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types.len() {
            3 => Ok(vec![DataType::Float64; 3]),
            // (value, lower, upper, 'per_row')
            4 => Ok(vec![
                DataType::Float64,
                DataType::Float64,
                DataType::Float64,
                DataType::Utf8,
            ]),
            _ => datafusion::common::plan_err!("privagg_bounds takes (value, lower, upper)"),
        }
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match args.args.into_iter().next() {
            Some(v) => Ok(v),
            None => datafusion::common::exec_err!("privagg_bounds takes (value, lower, upper)"),
        }
    }
}
