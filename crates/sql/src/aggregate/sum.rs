//! `SUM(x)`: the per-group total of a value with per-unit bounds.
//!
//! Privacy claim: each row's value is put on the lattice of spacing `r`
//! (NaN → NULL, rows clamped to ±2^80 lattice units so no 127-bit sum can
//! wrap), summed per (unit, group), and the unit's per-group total is
//! clamped to `[round(lower/r), round(upper/r)]`. After L0 bounding a unit
//! changes at most `k` group sums by at most `B = max(|l|, |u|)` lattice
//! units each, so the L1 sensitivity is `k·B` on the lattice; integer
//! Laplace noise of scale `k·B/ε` there makes it ε-DP.

use std::sync::Arc;

use datafusion::logical_expr::{Expr, when};
use privagg_noise::SecureRng;

use super::component::{ComponentKind, lattice_component, one_component_explained};
use super::exprs::{decimal, fail, lattice};
use super::{
    AggCall, AggregatePlan, Call, Component, Contribution, DpAggregate, Explained, GroupInput,
    GroupRelease, Partial, Released, Share,
};
use crate::error::Result;

/// Per-row magnitude limit of SUM partials, in lattice units (2^80).
const SUM_ROW_LIMIT: f64 = 1_208_925_819_614_629_174_706_176.0;

/// `SUM(x)`.
#[derive(Debug)]
pub(super) struct Sum;

/// `SUM(x)`.
pub(super) fn recognise(call: &Call<'_>) -> Option<Result<Arc<dyn DpAggregate>>> {
    (call.name == "sum").then(|| Ok(Arc::new(Sum) as Arc<dyn DpAggregate>))
}

/// The lattice clamp of a SUM: a unit's per-group total is clamped to
/// `[round(lower / r), round(upper / r)]`.
fn sum_clamp(lo: f64, hi: f64, r: f64) -> (i128, i128) {
    ((lo / r).round() as i128, (hi / r).round() as i128)
}

impl DpAggregate for Sum {
    fn calibrate(
        &self,
        call: &AggCall,
        share: &Share,
        b: Contribution,
        column: &dyn Fn(&str) -> String,
    ) -> Result<Vec<Component>> {
        let (lo, hi) = call.bounds.unwrap_or((0.0, 0.0));
        let bound = lo.abs().max(hi.abs());
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
        _b: Contribution,
    ) -> Result<Vec<Expr>> {
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
