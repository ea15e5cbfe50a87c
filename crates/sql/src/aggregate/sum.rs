//! `SUM(x)`: the per-group total of a value with per-unit bounds.
//!
//! Privacy claim: each row's value is put on the lattice of spacing `r`
//! (NaN → NULL, rows clamped to ±2^80 lattice units so no 127-bit sum can
//! wrap), summed per (unit, group), and the unit's per-group total is
//! clamped to `[round(lower/r), round(upper/r)]`. After L0 bounding a unit
//! changes at most `k` group sums by at most `B = max(|l|, |u|)` lattice
//! units each, so the L1 sensitivity is `k·B` on the lattice; integer
//! Laplace noise of scale `k·B/ε` there makes it ε-DP.
//!
//! With `contribution_bounds_per_row => (l, u)` (BigQuery's per-row bounds)
//! each row is clamped to `[l, u]` on the lattice instead, and a unit's
//! clamped rows in a group are reweighted to at most `L∞` rows' worth
//! (`privagg_cap` over its `n` rows, rounding: `|Σ·L∞/n| ≤ L∞·b` with `b`
//! the row bound, an integer, so rounding cannot pass it). Then
//! `B = L∞·max(|l|, |u|)` on the lattice (the lattice function's own values at
//! `l` and `u`), and the rest is as above.

use std::sync::Arc;

use datafusion::logical_expr::{Expr, when};
use privagg_noise::SecureRng;

use super::component::{ComponentKind, lattice_component, one_component_explained};
use super::exprs::{cap, decimal, fail, lattice};
use super::{
    AggCall, AggregatePlan, Call, Component, Contribution, DpAggregate, Explained, GroupInput,
    GroupRelease, Partial, Released, Share,
};
use crate::error::Result;

/// Per-row magnitude limit of SUM partials, in lattice units (2^80).
const SUM_ROW_LIMIT: f64 = 1_208_925_819_614_629_174_706_176.0;

/// `SUM(x)`.
#[derive(Debug)]
pub(super) struct Sum {
    /// Bounds clamp each row (and rows are reweighted to `L∞`), not the
    /// unit's per-group total.
    per_row: bool,
}

/// `SUM(x)`.
pub(super) fn recognise(call: &Call<'_>) -> Option<Result<Arc<dyn DpAggregate>>> {
    (call.name == "sum").then(|| {
        Ok(Arc::new(Sum {
            per_row: call.per_row_bounds,
        }) as Arc<dyn DpAggregate>)
    })
}

/// The largest lattice magnitude of one row clamped to `[lo, hi]` (not
/// centred), from the lattice function itself: it is monotone, so reached at
/// `lo` or `hi`.
fn row_bound(lo: f64, hi: f64, r: f64) -> i128 {
    [lo, hi]
        .iter()
        .filter_map(|&x| crate::udf::lattice_value(x, lo, hi, 0.0, r, 1))
        .map(i128::abs)
        .max()
        .unwrap_or(0)
}

/// The lattice clamp of a SUM: a unit's per-group total is clamped to
/// `[round(lower / r), round(upper / r)]`.
fn sum_clamp(lo: f64, hi: f64, r: f64) -> (i128, i128) {
    ((lo / r).round() as i128, (hi / r).round() as i128)
}

impl DpAggregate for Sum {
    fn bounding(&self, call: &AggCall, unit: &str, rows: u32) -> Option<String> {
        let (lo, hi) = call.bounds?;
        Some(if self.per_row {
            format!(
                "{}: each row clamped to [{lo}, {hi}]; a {unit} with more than {rows} row(s) in a group has them down-weighted to {rows} rows' worth",
                call.label
            )
        } else {
            format!(
                "{}: each {unit}'s total in a group clamped to [{lo}, {hi}] (per-group bounds; write contribution_bounds_per_row => (l, u) to clamp each row)",
                call.label
            )
        })
    }

    fn calibrate(
        &self,
        call: &AggCall,
        share: &Share,
        b: Contribution,
        column: &dyn Fn(&str) -> String,
    ) -> Result<Vec<Component>> {
        let (lo, hi) = call.bounds.unwrap_or((0.0, 0.0));
        let bound = lo.abs().max(hi.abs());
        if self.per_row {
            let rows = i128::from(b.max_rows);
            return Ok(vec![lattice_component(
                ComponentKind::Sum,
                column("sum"),
                share,
                f64::from(b.max_rows) * bound,
                b.max_groups,
                &|r| rows * row_bound(lo, hi, r),
            )?]);
        }
        let clamp = |r: f64| {
            let (l, u) = sum_clamp(lo, hi, r);
            l.abs().max(u.abs())
        };
        let mut c = lattice_component(
            ComponentKind::Sum,
            column("sum"),
            share,
            bound,
            b.max_groups,
            &clamp,
        )?;
        c.clamp = Some(sum_clamp(lo, hi, c.grid.spacing()));
        Ok(vec![c])
    }

    fn partials(&self, plan: &AggregatePlan) -> Result<Vec<Partial>> {
        let value = plan
            .call
            .value
            .clone()
            .unwrap_or_else(|| datafusion::logical_expr::lit(1i64));
        Ok(plan
            .components
            .iter()
            .map(|c| {
                if self.per_row {
                    let (lo, hi) = plan.call.bounds.unwrap_or((0.0, 0.0));
                    return Partial {
                        row: lattice(&value, lo, hi, 0.0, c.grid.exponent(), 1),
                        is_count: false,
                    };
                }
                // Rows are clamped to ±2^80 lattice units (not the grid's
                // 2^100): a unit's per-group sum then cannot wrap the
                // 127-bit sums below 2^46 rows. The unit's total is
                // clamped to the SUM bounds afterwards either way.
                let edge = c.grid.spacing() * SUM_ROW_LIMIT;
                Partial {
                    row: lattice(&value, -edge, edge, 0.0, c.grid.exponent(), 1),
                    is_count: false,
                }
            })
            .collect())
    }

    fn contributions(
        &self,
        plan: &AggregatePlan,
        partials: &[Expr],
        b: Contribution,
    ) -> Result<Vec<Expr>> {
        if self.per_row {
            // Reweighted over the unit's rows in the group (NULLs count as
            // rows adding 0, which only lowers the weight of the others).
            let rows =
                datafusion::logical_expr::col(datafusion::common::Column::from_name(super::ROWS));
            return Ok(partials
                .iter()
                .map(|p| cap(p.clone(), rows.clone(), b.max_rows, 0))
                .collect());
        }
        plan.components
            .iter()
            .zip(partials)
            .map(|(c, p)| {
                let (lo, hi) = c.clamp.unwrap_or((0, 0));
                when(p.clone().lt(decimal(lo)), decimal(lo))
                    .when(p.clone().gt(decimal(hi)), decimal(hi))
                    .otherwise(p.clone())
                    .map_err(fail)
            })
            .collect()
    }

    fn releaser<'a>(
        &'a self,
        plan: &'a AggregatePlan,
        confidence: f64,
    ) -> Result<Box<dyn GroupRelease + 'a>> {
        Ok(Box::new(SumRelease { plan, confidence }))
    }

    fn explain(&self, plan: &AggregatePlan) -> Result<Explained> {
        one_component_explained(plan)
    }
}

struct SumRelease<'a> {
    plan: &'a AggregatePlan,
    confidence: f64,
}

impl GroupRelease for SumRelease<'_> {
    fn release(&self, group: &GroupInput<'_>, rng: &mut SecureRng) -> Result<Released> {
        match (self.plan.components.first(), group.sums.first()) {
            (Some(c), Some(exact)) => {
                let (v, ci) = c.release(*exact, self.confidence, rng)?;
                Ok((Some(v), Some(ci)))
            }
            _ => Ok((None, None)),
        }
    }
}
