//! `COUNT(DISTINCT unit)`: customers per group.
//!
//! Privacy claim: after L0 bounding a unit adds exactly 1 to at most `k`
//! groups (its contribution is the constant 1 in the bounded plan), so the
//! vector of unit counts has L1 sensitivity `k`; integer Laplace noise of
//! scale `k/ε` makes it ε-DP. Only a column that resolves by lineage to a
//! private table's privacy unit is accepted (`crate::analyze`).

use std::sync::Arc;

use datafusion::logical_expr::{Expr, lit};

use super::component::one_component_explained;
use super::component::{check_bounds, count_component};
use super::count::CountRelease;
use super::{
    AggCall, AggregatePlan, Call, Component, Contribution, DpAggregate, Explained, GroupRelease,
    Partial, Share,
};
use crate::error::{Result, rejected};

/// `COUNT(DISTINCT unit)`.
#[derive(Debug)]
pub(super) struct CountUnits;

/// `COUNT(DISTINCT ...)`: only on the privacy unit.
pub(super) fn recognise(call: &Call<'_>) -> Option<Result<Arc<dyn DpAggregate>>> {
    if call.name != "count" || !call.distinct {
        return None;
    }
    if matches!(call.value, Some(Expr::Column(_))) && call.value_is_unit {
        return Some(Ok(Arc::new(CountUnits)));
    }
    Some(Err(rejected(
        "COUNT(DISTINCT ...) is only supported on the privacy unit (it counts customers); use COUNT(*) or GROUP BY the column",
    )))
}

impl DpAggregate for CountUnits {
    fn needs_bounds(&self) -> bool {
        false
    }

    fn distinct(&self) -> bool {
        true
    }

    fn counts_units(&self) -> bool {
        true
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
            1,
        )?])
    }

    fn partials(&self, _plan: &AggregatePlan) -> Result<Vec<Partial>> {
        Ok(vec![Partial {
            row: lit(1i64),
            is_count: true,
        }])
    }

    fn contributions(
        &self,
        _plan: &AggregatePlan,
        partials: &[Expr],
        _b: Contribution,
    ) -> Result<Vec<Expr>> {
        Ok(partials.iter().map(|_| lit(1i64)).collect())
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
