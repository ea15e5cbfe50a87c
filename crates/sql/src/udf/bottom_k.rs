//! `privagg_bottom_k_groups(salt, k, keys, unit, rows, partials...)`: L0
//! bounding inside a hash aggregation. Grouped by the privacy unit, over rows
//! that each stand for `rows` input rows of one (unit, group) with partial
//! sums `partials`, it keeps, for each
//! unit, the partial sums of at most `k` of the unit's groups: those first in
//! the order of [`group_hash`] (then the key bytes), i.e. k groups picked at
//! random for a fresh salt, the same ones `ROW_NUMBER()` over that order would
//! pick. Only k entries are held per unit: a group pushed out by a group with
//! a smaller hash is dropped whole, so no sort and no second pass are needed.
//!
//! Output per unit: `List<Struct<key: Binary, n: Int64, p0.., : Decimal128(38, 0)>>`
//! with the row-encoded group key (arrow `RowConverter`), the unit's row
//! count in the group, and the sum of each partial argument (NULL as 0).
//! The intermediate state adds the unit's salt (`Int64`) beside that list, so
//! a merge can order groups it has not seen without the unit's value, and a
//! row converts to a state without hashing anything.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, GroupsAccumulator, Signature, Volatility,
};

mod slots;
use slots::{BottomK, Single};

use super::LATTICE_TYPE;

/// Arguments before the partial sums: salt, k, keys, unit, rows.
const FIXED_ARGS: usize = 5;

/// The salt of one unit: the query's salt hashed with the unit's row bytes.
/// Each unit thus orders its groups by its own random permutation; with the
/// query salt alone every unit holding the same groups would pick the same
/// ones, a bias towards whichever keys hash low.
///
/// The hash (foldhash, seeded by the salt) only has to look random with
/// respect to the data for the choice of groups to be unbiased; privacy never
/// depends on which k groups a unit keeps (any choice made from the unit's own
/// rows keeps the sensitivity bounds).
pub fn unit_salt(salt: i64, unit: &[u8]) -> i64 {
    group_hash(salt, unit) as i64
}

/// The salted hash that orders a unit's groups (shared with the window-based
/// plans); `salt` is the unit's salt from [`unit_salt`].
pub fn group_hash(salt: i64, key: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(salt as u64).hash_one(key)
}

/// The aggregate function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BottomKGroups {
    signature: Signature,
}

impl BottomKGroups {
    /// The function.
    pub fn new() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl Default for BottomKGroups {
    fn default() -> Self {
        Self::new()
    }
}

fn entry_fields(n_partials: usize) -> Fields {
    let mut fields = vec![
        Field::new("key", DataType::Binary, false),
        Field::new("n", DataType::Int64, false),
    ];
    fields.extend((0..n_partials).map(|i| Field::new(format!("p{i}"), LATTICE_TYPE, false)));
    Fields::from(fields)
}

fn list_type(n_partials: usize) -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(entry_fields(n_partials)),
        true,
    )))
}

fn literal(args: &AccumulatorArgs, i: usize) -> Option<i64> {
    let e = args.exprs.get(i)?;
    let lit = e.downcast_ref::<datafusion::physical_expr::expressions::Literal>()?;
    match lit.value() {
        ScalarValue::Int64(v) => *v,
        _ => None,
    }
}

impl AggregateUDFImpl for BottomKGroups {
    fn name(&self) -> &str {
        "privagg_bottom_k_groups"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(list_type(arg_types.len().saturating_sub(FIXED_ARGS)))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let n = args.input_fields.len().saturating_sub(FIXED_ARGS);
        Ok(vec![
            Arc::new(Field::new(
                format!("{}[unit_salt]", args.name),
                DataType::Int64,
                true,
            )),
            Arc::new(Field::new(
                format!("{}[entries]", args.name),
                list_type(n),
                true,
            )),
        ])
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Single(self.make(&args)?)))
    }
    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(self.make(&args)?))
    }
}

impl BottomKGroups {
    fn make(&self, args: &AccumulatorArgs) -> Result<BottomK> {
        let (Some(salt), Some(k)) = (literal(args, 0), literal(args, 1)) else {
            return exec_err!("privagg_bottom_k_groups: salt and k must be Int64 literals");
        };
        if k < 1 {
            return exec_err!("privagg_bottom_k_groups: k must be at least 1");
        }
        Ok(BottomK::new(
            salt,
            k as usize,
            args.exprs.len().saturating_sub(FIXED_ARGS),
        ))
    }
}
