//! `privagg_leaf(x, lower, upper, height, branching)`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Int64Builder};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use privagg_noise::QuantileTree;

use super::lattice::{literal_f64, literal_i64};

/// The leaf of a quantile tree over `[lower, upper]` a value falls in
/// (values outside clamp to the edge leaves); NULL for NULL and NaN.
/// Uses [`QuantileTree::leaf_of`], so the plan and the release agree.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Leaf {
    signature: Signature,
}

impl Leaf {
    /// The function.
    pub fn new() -> Self {
        Self {
            signature: Signature::exact(
                vec![
                    DataType::Float64,
                    DataType::Float64,
                    DataType::Float64,
                    DataType::Int64,
                    DataType::Int64,
                ],
                Volatility::Immutable,
            ),
        }
    }
}

impl Default for Leaf {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for Leaf {
    fn name(&self) -> &str {
        "privagg_leaf"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [x, lo, hi, height, branching] = args.args.as_slice() else {
            return exec_err!("privagg_leaf takes 5 arguments");
        };
        let (Some(lo), Some(hi), Some(h), Some(b)) = (
            literal_f64(lo),
            literal_f64(hi),
            literal_i64(height),
            literal_i64(branching),
        ) else {
            return exec_err!("privagg_leaf: bounds and shape must be literals");
        };
        let tree = match QuantileTree::new(
            lo,
            hi,
            u32::try_from(h).unwrap_or(0),
            u64::try_from(b).unwrap_or(0),
        ) {
            Ok(t) => t,
            Err(e) => return exec_err!("privagg_leaf: {e}"),
        };
        let values = x.to_array(args.number_rows)?;
        let values = values.as_primitive::<Float64Type>();
        let mut out = Int64Builder::with_capacity(values.len());
        for i in 0..values.len() {
            let v = values.value(i);
            if values.is_null(i) || v.is_nan() {
                out.append_null();
            } else {
                out.append_value(tree.leaf_of(v) as i64);
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}
