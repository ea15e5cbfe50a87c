//! The bounded exact aggregation: the analyst's row-level input, then per
//! (unit, group) partial aggregates, L0 bounding (at most k groups per unit,
//! picked at random by a salted hash), L∞ bounding and clamping, and exact
//! per-group integer sums on the noise lattice. Only DataFusion operators and
//! the privagg functions of [`crate::udf`] appear in it.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, ScalarValue};
use datafusion::functions::core::expr_fn::{get_field, r#struct};
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::functions_window::expr_fn::dense_rank;
use datafusion::logical_expr::expr::{WindowFunction, WindowFunctionDefinition};
use datafusion::logical_expr::{
    AggregateUDF, Expr, ExprFunctionExt, LogicalPlan, LogicalPlanBuilder, ScalarUDF, col, lit,
    try_cast, when,
};

use crate::analyze::{AggKind, Analysis};
use crate::budget_split::{
    AggregatePlan, ComponentKind, TREE_BRANCHING, TREE_HEIGHT, WEIGHT_SCALE,
};
use crate::error::{Result, rejected};
use crate::udf::{BottomKGroups, Cap, GroupHash, LATTICE_TYPE, Leaf, ToLattice};

/// Column of row-encoded group keys in the result (when there are keys).
pub(crate) const KEY_BYTES: &str = "__privagg_key_bytes";
const GROUPS: &str = "__privagg_groups";
/// Per-row magnitude limit of SUM partials, in lattice units (2^80).
const SUM_ROW_LIMIT: f64 = 1_208_925_819_614_629_174_706_176.0;

/// Column of distinct units per group in the result.
pub(crate) const UNITS: &str = "__privagg_units";
const ROWS: &str = "__privagg_rows";
const RANK: &str = "__privagg_rank";

fn key_name(i: usize) -> String {
    format!("__privagg_key{i}")
}

fn call(udf: impl datafusion::logical_expr::ScalarUDFImpl + 'static, args: Vec<Expr>) -> Expr {
    Arc::new(ScalarUDF::from(udf)).call(args)
}

fn decimal(v: i128) -> Expr {
    lit(ScalarValue::Decimal128(Some(v), 38, 0))
}

/// `privagg_to_lattice(CAST(x AS DOUBLE), lo, hi, offset, exponent, power)`.
fn lattice(x: &Expr, lo: f64, hi: f64, offset: f64, exponent: i32, power: i64) -> Expr {
    call(
        ToLattice::new(),
        vec![
            try_cast(x.clone(), DataType::Float64),
            lit(lo),
            lit(hi),
            lit(offset),
            lit(i64::from(exponent)),
            lit(power),
        ],
    )
}

fn least(v: Expr, cap: i64) -> Expr {
    when(v.clone().gt(lit(cap)), lit(cap))
        .otherwise(v)
        .unwrap_or_else(|_| lit(cap))
}

fn fail(e: datafusion::error::DataFusionError) -> crate::error::SqlError {
    rejected(crate::syntax::clean(&e.to_string()))
}

fn named(name: &str) -> Expr {
    col(Column::from_name(name))
}

/// The analyst's row-level input; with public groups, only rows whose keys
/// are declared values (other rows never count).
fn public_filtered(analysis: &Analysis) -> Result<LogicalPlanBuilder> {
    let mut input = LogicalPlanBuilder::from(analysis.input.clone());
    if let Some(publics) = &analysis.public_values {
        for (key, values) in analysis.keys.iter().zip(publics) {
            let list = values.iter().cloned().map(lit).collect();
            input = input
                .filter(key.clone().in_list(list, false))
                .map_err(fail)?;
        }
    }
    Ok(input)
}

/// `unit AS __privagg_unit, key_i AS __privagg_key{i}, extra...`.
fn unit_and_keys(analysis: &Analysis) -> Vec<Expr> {
    let mut group: Vec<Expr> =
        vec![Expr::Column(analysis.unit.clone()).alias(crate::analyze::UNIT)];
    group.extend(
        analysis
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| k.clone().alias(key_name(i))),
    );
    group
}

/// The L0 order of a unit's groups: salted hash, then the keys (so ties are
/// impossible and every plan of the query picks the same groups).
fn l0_order(n_keys: usize, salt: i64) -> Vec<datafusion::logical_expr::SortExpr> {
    let keys: Vec<Expr> = (0..n_keys).map(|i| named(&key_name(i))).collect();
    let mut hash_args = vec![lit(salt), named(crate::analyze::UNIT)];
    hash_args.extend(keys.clone());
    let mut order = vec![call(GroupHash::new(), hash_args).sort(true, true)];
    order.extend(keys.into_iter().map(|k| k.sort(true, true)));
    order
}

/// Builds the bounded aggregation: one row per group with [`UNITS`], the
/// key columns `__privagg_key{i}` and one exact column per component.
pub(crate) fn bounded_plan(
    analysis: &Analysis,
    aggregates: &[AggregatePlan],
    max_groups: u32,
    max_rows: u32,
    salt: i64,
) -> Result<LogicalPlan> {
    let rows_cap = i64::from(max_rows);
    let input = public_filtered(analysis)?;
    // Stage 1: per (unit, group) partials, one row-level expression each.
    let mut row_partials: Vec<(String, Expr, bool)> = Vec::new(); // (name, per-row value, is a count)
    for a in aggregates {
        let value = a.call.value.clone().unwrap_or_else(|| lit(1i64));
        let (lo, hi) = a.call.bounds.unwrap_or((0.0, 0.0));
        let mid = (lo + hi) / 2.0;
        let present = |e: Expr| when(e.is_not_null(), lit(1i64)).otherwise(lit(0i64));
        for c in &a.components {
            let e = c.grid.exponent();
            let partial = match (c.kind, &a.call.kind) {
                (ComponentKind::Count, AggKind::CountRows | AggKind::CountUnits) => Ok(lit(1i64)),
                (ComponentKind::Count, AggKind::CountValues) => present(value.clone()),
                // Numeric aggregates count their non-NULL, non-NaN values.
                (ComponentKind::Count, _) => present(lattice(&value, lo, hi, mid, 0, 1)),
                (ComponentKind::Sum, _) => {
                    // Rows are clamped to ±2^80 lattice units (not the grid's
                    // 2^100): a unit's per-group sum then cannot wrap the
                    // 127-bit sums below 2^46 rows. The unit's total is
                    // clamped to the SUM bounds afterwards either way.
                    let edge = c.grid.spacing() * SUM_ROW_LIMIT;
                    Ok(lattice(&value, -edge, edge, 0.0, e, 1))
                }
                (ComponentKind::NormalizedSum, _) => Ok(lattice(&value, lo, hi, mid, e, 1)),
                (ComponentKind::NormalizedSquares, _) => Ok(lattice(&value, lo, hi, mid, e, 2)),
                // Percentiles run in their own plan (see `percentile_plan`).
                (ComponentKind::QuantileTree, _) => continue,
            };
            row_partials.push((
                format!("{}_p", c.column),
                partial.map_err(fail)?,
                c.kind == ComponentKind::Count,
            ));
        }
    }
    // Stage 1b: per (unit, group) row count and partial sums, by DataFusion's
    // hash aggregation and its own accumulators. (One interleaved state for
    // all sums was tried: slower, see docs/performance.md.)
    // A partial of 1 per row (COUNT(*), COUNT(DISTINCT unit)) is the row
    // count itself: one accumulator fewer per such aggregate.
    let one = lit(1i64);
    let mut partials = vec![count(one.clone()).alias(ROWS)];
    let mut fields: Vec<Expr> = vec![named(crate::analyze::UNIT)];
    fields.extend((0..analysis.keys.len()).map(|i| named(&key_name(i))));
    fields.push(named(ROWS));
    for (name, e, is_count) in &row_partials {
        if *e == one {
            fields.push(named(ROWS).alias(name));
            continue;
        }
        let summed = if *is_count {
            sum(e.clone())
        } else {
            sum(try_cast(e.clone(), LATTICE_TYPE))
        };
        partials.push(summed.alias(name));
        fields.push(named(name));
    }
    let per_group = input
        .aggregate(unit_and_keys(analysis), partials)
        .and_then(|b| b.project(fields))
        .map_err(fail)?;
    let (per_unit, stage2_keys) = if analysis.keys.is_empty() {
        // One group: no L0 bounding needed.
        (per_group, Vec::new())
    } else {
        // L0 over the per-(unit, group) rows, in a hash aggregation by unit:
        // at most k groups per unit, the first k in the unit's salted-hash
        // order (see udf::bottom_k).
        let keys: Vec<Expr> = (0..analysis.keys.len())
            .map(|i| named(&key_name(i)))
            .collect();
        let mut args = vec![
            lit(salt),
            lit(i64::from(max_groups)),
            r#struct(keys),
            named(crate::analyze::UNIT),
            named(ROWS),
        ];
        args.extend(row_partials.iter().map(|(name, _, _)| named(name)));
        let groups = Arc::new(AggregateUDF::from(BottomKGroups::new()))
            .call(args)
            .alias(GROUPS);
        let entries = per_group
            .aggregate(vec![named(crate::analyze::UNIT)], vec![groups])
            .and_then(|b| b.unnest_column(GROUPS))
            .map_err(fail)?;
        let mut fields = vec![
            get_field(named(GROUPS), "key").alias(KEY_BYTES),
            get_field(named(GROUPS), "n").alias(ROWS),
        ];
        for (j, (name, _, is_count)) in row_partials.iter().enumerate() {
            let field = get_field(named(GROUPS), format!("p{j}"));
            let field = if *is_count {
                try_cast(field, DataType::Int64)
            } else {
                field
            };
            fields.push(field.alias(name));
        }
        (
            entries.project(fields).map_err(fail)?,
            vec![named(KEY_BYTES)],
        )
    };
    // Stage 2: per group, exact integer sums of bounded contributions.
    let mut totals: Vec<Expr> = vec![count(lit(1i64)).alias(UNITS)];
    for a in aggregates {
        for c in &a.components {
            let p = col(Column::from_name(format!("{}_p", c.column)));
            let contribution = match (c.kind, &a.call.kind) {
                (ComponentKind::Count, AggKind::CountUnits) => lit(1i64),
                (ComponentKind::Count, _) => least(p, rows_cap),
                (ComponentKind::Sum, _) => {
                    let (lo, hi) = c.clamp.unwrap_or((0, 0));
                    when(p.clone().lt(decimal(lo)), decimal(lo))
                        .when(p.clone().gt(decimal(hi)), decimal(hi))
                        .otherwise(p)
                        .map_err(fail)?
                }
                (ComponentKind::NormalizedSum | ComponentKind::NormalizedSquares, _) => {
                    let count_col = col(Column::from_name(format!("{}_p", a.components[0].column)));
                    call(
                        Cap::new(),
                        vec![
                            try_cast(p, LATTICE_TYPE),
                            count_col,
                            lit(rows_cap),
                            lit(0i64),
                        ],
                    )
                }
                (ComponentKind::QuantileTree, _) => continue,
            };
            totals.push(sum(contribution).alias(c.column.clone()));
        }
    }
    per_unit
        .aggregate(stage2_keys, totals)
        .and_then(|b| b.build())
        .map_err(fail)
}

/// Column of quantile-tree leaves in a percentile plan's result.
pub(crate) const LEAF: &str = "__privagg_leaf";
/// Column of fixed-point leaf weights in a percentile plan's result.
pub(crate) const WEIGHT: &str = "__privagg_weight";

/// The bounded leaf histogram of one percentile aggregate: per (group, leaf)
/// the sum over units of the unit's leaf count, reweighted so that a unit's
/// rows in a group weigh at most `max_rows · WEIGHT_SCALE` (floored), for the
/// same ≤ k groups per unit as [`bounded_plan`] picks.
pub(crate) fn percentile_plan(
    analysis: &Analysis,
    aggregate: &AggregatePlan,
    max_groups: u32,
    max_rows: u32,
    salt: i64,
) -> Result<LogicalPlan> {
    let (lo, hi) = aggregate.call.bounds.unwrap_or((0.0, 0.0));
    let value = aggregate.call.value.clone().unwrap_or_else(|| lit(0.0));
    let leaf = call(
        Leaf::new(),
        vec![
            try_cast(value, DataType::Float64),
            lit(lo),
            lit(hi),
            lit(i64::from(TREE_HEIGHT)),
            lit(TREE_BRANCHING as i64),
        ],
    )
    .alias(LEAF);
    let mut group = unit_and_keys(analysis);
    group.push(leaf);
    let per_leaf = public_filtered(analysis)?
        .aggregate(group, vec![count(lit(1i64)).alias(ROWS)])
        .map_err(fail)?;
    let keys: Vec<Expr> = (0..analysis.keys.len())
        .map(|i| named(&key_name(i)))
        .collect();
    let mut unit_group = vec![named(crate::analyze::UNIT)];
    unit_group.extend(keys.clone());
    let valued = when(named(LEAF).is_not_null(), named(ROWS))
        .otherwise(lit(0i64))
        .map_err(fail)?;
    let n = Expr::from(WindowFunction::new(
        WindowFunctionDefinition::AggregateUDF(sum_udaf()),
        vec![valued],
    ))
    .partition_by(unit_group)
    .build()
    .map_err(fail)?
    .alias("__privagg_n");
    // One window node per partitioning (DataFusion needs equal sort keys per node).
    let mut bounded = per_leaf.window(vec![n]).map_err(fail)?;
    if !analysis.keys.is_empty() {
        // DENSE_RANK over (unit, keys, leaf) rows ranks the unit's groups in
        // the order ROW_NUMBER uses over (unit, keys) rows in `bounded_plan`.
        let rank = dense_rank()
            .partition_by(vec![named(crate::analyze::UNIT)])
            .order_by(l0_order(analysis.keys.len(), salt))
            .build()
            .map_err(fail)?
            .alias(RANK);
        bounded = bounded
            .window(vec![rank])
            .map_err(fail)?
            .filter(named(RANK).lt_eq(lit(u64::from(max_groups))))
            .map_err(fail)?;
    }
    bounded = bounded.filter(named(LEAF).is_not_null()).map_err(fail)?;
    let weight = call(
        Cap::new(),
        vec![
            try_cast(named(ROWS) * lit(WEIGHT_SCALE), LATTICE_TYPE),
            named("__privagg_n"),
            lit(i64::from(max_rows)),
            lit(1i64),
        ],
    );
    let mut out_keys = keys;
    out_keys.push(named(LEAF));
    bounded
        .aggregate(out_keys, vec![sum(weight).alias(WEIGHT)])
        .and_then(|b| b.build())
        .map_err(fail)
}

/// Name of key column `i` in the bounded result.
pub(crate) fn key_column(i: usize) -> String {
    key_name(i)
}
