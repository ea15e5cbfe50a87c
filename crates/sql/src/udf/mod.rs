//! privagg's DataFusion functions. They are registered in the session's
//! function registry by name, so any DataFusion engine that registers the
//! same functions can run a privagg plan.
//!
//! - `privagg_bounds(x, lower, upper)` — marks per-aggregate contribution
//!   bounds in analyst SQL (identity on `x` if ever evaluated).
//! - `privagg_share(x, weight)` — marks an aggregate's relative share of ε
//!   (`epsilon_share => weight` in analyst SQL; identity on `x`).
//! - `privagg_to_lattice(x, lower, upper, offset, exponent, power)` — NaN→NULL,
//!   clamp, subtract `offset`, raise to `power` (1 or 2), round to the grid
//!   `2^exponent`, as an exact integer (`Decimal128(38, 0)`).
//! - `privagg_cap(v, n, cap, mode)` — scales a unit's partial sum `v` over `n`
//!   rows to at most `cap` rows' worth: `round(v·cap/n)` (or floor) when `n > cap`.
//! - `privagg_leaf(x, lower, upper, height, branching)` — the quantile-tree leaf of a value.
//! - `privagg_bottom_k_groups(salt, k, keys, unit, rows, partials...)` (aggregate) — L0
//!   bounding inside the hash aggregation by unit.
//! - `privagg_total_<f>(...)` / `privagg_total_op(op)(a, b)` — any scalar function or binary
//!   operator with per-row error → NULL semantics (row expressions never fail a query).
//! - `privagg_group_hash(salt, unit, keys...)` — a keyed hash of group keys, used to
//!   pick each unit's groups at random for L0 bounding.

mod bottom_k;
mod bounds;
mod cap;
mod group_hash;
mod lattice;
mod leaf;
mod share;
mod total;

use std::sync::Arc;

use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::ScalarUDF;

pub use bottom_k::{BottomKGroups, group_hash, unit_salt};
pub use bounds::{BOUNDS_UDF_NAME, BoundsMarker};
pub use cap::Cap;
pub use group_hash::GroupHash;
pub use lattice::{ToLattice, lattice_value};
pub use leaf::Leaf;
pub use share::{SHARE_UDF_NAME, ShareMarker};
pub use total::{TotalBinary, TotalFunction};

/// The integer type of exact lattice sums.
pub const LATTICE_TYPE: datafusion::arrow::datatypes::DataType =
    datafusion::arrow::datatypes::DataType::Decimal128(38, 0);

/// All privagg scalar functions.
pub fn all() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::from(BoundsMarker::new())),
        Arc::new(ScalarUDF::from(ShareMarker::new())),
        Arc::new(ScalarUDF::from(ToLattice::new())),
        Arc::new(ScalarUDF::from(Cap::new())),
        Arc::new(ScalarUDF::from(GroupHash::new())),
        Arc::new(ScalarUDF::from(Leaf::new())),
    ]
}

/// All privagg aggregate functions.
pub fn all_aggregates() -> Vec<Arc<datafusion::logical_expr::AggregateUDF>> {
    vec![Arc::new(datafusion::logical_expr::AggregateUDF::from(
        BottomKGroups::new(),
    ))]
}

/// Registers every privagg function in a registry.
///
/// # Errors
/// If the registry refuses a function.
pub fn register_all(registry: &mut dyn FunctionRegistry) -> datafusion::error::Result<()> {
    for f in all() {
        registry.register_udf(f)?;
    }
    for f in all_aggregates() {
        registry.register_udaf(f)?;
    }
    Ok(())
}
