//! The bounded exact aggregation: the analyst's row-level input, then per
//! (unit, group) partial aggregates, L0 bounding (at most k groups per unit,
//! picked at random by a salted hash), L∞ bounding and clamping, and exact
//! per-group integer sums on the noise lattice. Only DataFusion operators and
//! the privagg functions of [`crate::udf`] appear in it.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Column;
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::logical_expr::{
    Expr, LogicalPlan, LogicalPlanBuilder, ScalarUDF, col, lit, try_cast,
};

use crate::aggregate::{AggregatePlan, Contribution, PlanShape};
use crate::analyze::Analysis;
use crate::error::{Result, rejected};
use crate::fused::{BoundByUnit, Names, Partial};
use crate::udf::{GroupHash, LATTICE_TYPE};

/// Column of row-encoded group keys in the result (when there are keys).
pub(crate) const KEY_BYTES: &str = "__privagg_key_bytes";

/// Column of distinct units per group in the result.
pub(crate) const UNITS: &str = "__privagg_units";
use crate::aggregate::ROWS;

fn key_name(i: usize) -> String {
    format!("__privagg_key{i}")
}

fn call(udf: impl datafusion::logical_expr::ScalarUDFImpl + 'static, args: Vec<Expr>) -> Expr {
    Arc::new(ScalarUDF::from(udf)).call(args)
}

fn fail(e: datafusion::error::DataFusionError) -> crate::error::SqlError {
    rejected(crate::messages::engine_message(&e.to_string()))
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
    contribution: Contribution,
    salt: i64,
) -> Result<LogicalPlan> {
    let input = public_filtered(analysis)?;
    // Stage 1: per (unit, group) partials, one row-level expression each,
    // as each aggregate's module says.
    let mut row_partials: Vec<(String, Expr, bool)> = Vec::new(); // (name, per-row value, is a count)
    for a in aggregates {
        let partials = a.call.aggregate.partials(a)?;
        for (c, p) in a.inline_components().iter().zip(partials) {
            row_partials.push((format!("{}_p", c.column), p.row, p.is_count));
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
    let (per_unit, stage2_keys) = if analysis.keys.is_empty() {
        // One group: no L0 bounding needed.
        let per_group = input
            .aggregate(unit_and_keys(analysis), partials)
            .and_then(|b| b.project(fields))
            .map_err(fail)?;
        (per_group, Vec::new())
    } else {
        // Per (unit, group) sums and L0 bounding — at most k groups per
        // unit, the first k in the unit's salted-hash order — by the fused
        // operator (crate::fused), over the row-level values.
        let mut columns = unit_and_keys(analysis);
        let mut specs = Vec::new();
        for (name, e, is_count) in &row_partials {
            let t = if *is_count {
                DataType::Int64
            } else {
                LATTICE_TYPE
            };
            columns.push(try_cast(e.clone(), t).alias(name));
            specs.push(Partial {
                name: name.clone(),
                is_count: *is_count,
                is_row_count: *e == one,
            });
        }
        let rows_in = input
            .project(columns)
            .and_then(|b| b.build())
            .map_err(fail)?;
        let names = Names {
            rows: ROWS.into(),
            key_bytes: KEY_BYTES.into(),
        };
        let fused = crate::fused::unit_type_supported(rows_in.schema().field(0).data_type());
        let node = BoundByUnit::try_new(
            rows_in,
            salt,
            contribution.max_groups as usize,
            analysis.keys.len(),
            specs,
            &names,
        )
        .map_err(fail)?;
        let plan = if fused {
            node.into_plan()
        } else {
            node.stock().map_err(fail)?
        };
        (LogicalPlanBuilder::from(plan), vec![named(KEY_BYTES)])
    };
    // Stage 2: per group, exact integer sums of bounded contributions.
    let mut totals: Vec<Expr> = vec![count(lit(1i64)).alias(UNITS)];
    for a in aggregates {
        let inline = a.inline_components();
        let partials: Vec<Expr> = inline
            .iter()
            .map(|c| named(&format!("{}_p", c.column)))
            .collect();
        let contributions = a.call.aggregate.contributions(a, &partials, contribution)?;
        for (c, e) in inline.iter().zip(contributions) {
            totals.push(sum(e).alias(c.column.clone()));
        }
    }
    per_unit
        .aggregate(stage2_keys, totals)
        .and_then(|b| b.build())
        .map_err(fail)
}

/// The plans aggregates run beside the bounded aggregation (a percentile's
/// leaf histogram), by aggregate index, over the same ≤ k groups per unit.
pub(crate) fn own_plans(
    analysis: &Analysis,
    aggregates: &[AggregatePlan],
    contribution: Contribution,
    salt: i64,
) -> Result<Vec<(usize, LogicalPlan)>> {
    let mut plans = Vec::new();
    for (i, a) in aggregates.iter().enumerate() {
        let shape = PlanShape {
            input: public_filtered(analysis)?,
            unit_and_keys: unit_and_keys(analysis),
            unit: named(crate::analyze::UNIT),
            keys: (0..analysis.keys.len())
                .map(|i| named(&key_name(i)))
                .collect(),
            l0_order: l0_order(analysis.keys.len(), salt),
            contribution,
        };
        if let Some(plan) = a.call.aggregate.own_plan(a, shape)? {
            plans.push((i, plan));
        }
    }
    Ok(plans)
}

/// Name of key column `i` in the bounded result.
pub(crate) fn key_column(i: usize) -> String {
    key_name(i)
}
