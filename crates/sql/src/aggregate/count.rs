//! `COUNT(*)` and `COUNT(col)`: rows (or non-NULL values) per group.
//!
//! Privacy claim: after L0 bounding a unit is in at most `k` groups and its
//! per-group row count is capped at `L∞` (`min(rows, max_rows)` in the
//! bounded plan), so adding or removing one unit changes the vector of
//! group counts by at most `k·L∞` in L1; integer Laplace noise of scale
//! `k·L∞/ε` makes it ε-DP (`docs/privacy/sql.md`).

use std::sync::Arc;

use datafusion::logical_expr::{Expr, lit};
use privagg_noise::SecureRng;

use super::component::{check_bounds, count_component, one_component_explained, release_count};
use super::exprs::{least, present};
use super::{
    AggCall, AggregatePlan, Call, Component, Contribution, DpAggregate, Explained, GroupInput,
    GroupRelease, Partial, Released, Share,
};
use crate::error::Result;

/// `COUNT(*)` (`values == false`) or `COUNT(col)`.
#[derive(Debug)]
pub(super) struct Count {
    /// Counts non-NULL values of the argument rather than rows.
    values: bool,
}

/// `COUNT(...)` without DISTINCT.
pub(super) fn recognise(call: &Call<'_>) -> Option<Result<Arc<dyn DpAggregate>>> {
    if call.name != "count" || call.distinct {
        return None;
    }
    let rows = call.value.is_none_or(|v| matches!(v, Expr::Literal(..)));
    Some(Ok(Arc::new(Count { values: !rows })))
}

impl DpAggregate for Count {
    fn needs_bounds(&self) -> bool {
        false
    }

    fn calibrate(
        &self,
        call: &AggCall,
        share: &Share,
        b: Contribution,
        column: &dyn Fn(&str) -> String,
    ) -> Result<Vec<Component>> {
        check_bounds(call)?;
        Ok(vec![count_component(
            column("count"),
            share,
            b.max_groups,
            b.max_rows,
        )?])
    }

    fn partials(&self, plan: &AggregatePlan) -> Result<Vec<Partial>> {
        let row = match (&plan.call.value, self.values) {
            (Some(v), true) => present(v.clone())?,
            _ => lit(1i64),
        };
        Ok(vec![Partial {
            row,
            is_count: true,
        }])
    }

    fn contributions(
        &self,
        _plan: &AggregatePlan,
        partials: &[Expr],
        b: Contribution,
    ) -> Result<Vec<Expr>> {
        Ok(partials
            .iter()
            .map(|p| least(p.clone(), i64::from(b.max_rows)))
            .collect())
    }

    fn releaser<'a>(
        &'a self,
        plan: &'a AggregatePlan,
        confidence: f64,
    ) -> Result<Box<dyn GroupRelease + 'a>> {
        Ok(Box::new(CountRelease { plan, confidence }))
    }

    fn explain(&self, plan: &AggregatePlan) -> Result<Explained> {
        one_component_explained(plan)
    }
}

/// The release of a count component.
pub(super) struct CountRelease<'a> {
    pub plan: &'a AggregatePlan,
    pub confidence: f64,
}

impl GroupRelease for CountRelease<'_> {
    fn release(&self, group: &GroupInput<'_>, rng: &mut SecureRng) -> Result<Released> {
        match (self.plan.components.first(), group.sums.first()) {
            (Some(c), Some(exact)) => release_count(c, *exact, group.drawn, self.confidence, rng),
            _ => Ok((None, None)),
        }
    }
}
