//! `privagg_group_hash(salt, keys...)`: a salted hash of a row's group keys.

use std::sync::Arc;

use datafusion::arrow::array::UInt64Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::lattice::literal_i64;

/// Hashes the group keys of each row with a per-query random salt. Ordering a
/// unit's groups by this hash and keeping the first k picks k of its groups
/// uniformly at random (for a fresh salt), independently of other units.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct GroupHash {
    signature: Signature,
}

impl GroupHash {
    /// The function.
    pub fn new() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl Default for GroupHash {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for GroupHash {
    fn name(&self) -> &str {
        "privagg_group_hash"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::UInt64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some((salt, keys)) = args.args.split_first() else {
            return exec_err!("privagg_group_hash takes (salt, keys...)");
        };
        let Some(salt) = literal_i64(salt) else {
            return exec_err!("privagg_group_hash: salt must be a literal");
        };
        let arrays = keys
            .iter()
            .map(|k| k.to_array(args.number_rows))
            .collect::<Result<Vec<_>>>()?;
        let hashes: Vec<u64> = if arrays.is_empty() {
            vec![salt as u64; args.number_rows]
        } else {
            let fields = arrays
                .iter()
                .map(|a| SortField::new(a.data_type().clone()))
                .collect();
            let rows = RowConverter::new(fields)?.convert_columns(&arrays)?;
            rows.iter()
                .map(|row| super::group_hash(salt, row.as_ref()))
                .collect()
        };
        Ok(ColumnarValue::Array(Arc::new(UInt64Array::from(hashes))))
    }
}
