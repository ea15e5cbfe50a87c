//! `privagg_group_hash(salt, unit, keys...)`: a hash of a row's group keys
//! salted by the query and the row's privacy unit.

use std::sync::Arc;

use datafusion::arrow::array::UInt64Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::lattice::literal_i64;

/// Hashes the group keys of each row with a salt made of the per-query random
/// salt and the row's unit. Ordering a unit's groups by this hash and keeping
/// the first k picks k of its groups at random, with a different permutation
/// for each unit.
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
        let (Some(salt), Some(unit), keys) = (
            args.args.first(),
            args.args.get(1),
            args.args.get(2..).unwrap_or_default(),
        ) else {
            return exec_err!("privagg_group_hash takes (salt, unit, keys...)");
        };
        let Some(salt) = literal_i64(salt) else {
            return exec_err!("privagg_group_hash: salt must be a literal");
        };
        let arrays = keys
            .iter()
            .map(|k| k.to_array(args.number_rows))
            .collect::<Result<Vec<_>>>()?;
        let unit = unit.to_array(args.number_rows)?;
        let units = RowConverter::new(vec![SortField::new(unit.data_type().clone())])?
            .convert_columns(&[unit])?;
        let salts = (0..args.number_rows).map(|r| super::unit_salt(salt, units.row(r).as_ref()));
        let hashes: Vec<u64> = if arrays.is_empty() {
            salts.map(|s| s as u64).collect()
        } else {
            let fields = arrays
                .iter()
                .map(|a| SortField::new(a.data_type().clone()))
                .collect();
            let rows = RowConverter::new(fields)?.convert_columns(&arrays)?;
            rows.iter()
                .zip(salts)
                .map(|(row, s)| super::group_hash(s, row.as_ref()))
                .collect()
        };
        Ok(ColumnarValue::Array(Arc::new(UInt64Array::from(hashes))))
    }
}
