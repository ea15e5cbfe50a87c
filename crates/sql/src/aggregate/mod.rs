//! The aggregates privagg releases, one module each. A module owns, in one
//! place, everything about its aggregate: recognising the call, its noisy
//! components and their sensitivities (calibration), the bounded partial
//! expressions that justify those sensitivities, the release of one group
//! with its interval, and explain's accuracy. Its module doc states its
//! privacy claim.
//!
//! Adding an aggregate is one new file implementing [`DpAggregate`] plus one
//! line in [`RECOGNISERS`] (see `docs/architecture.md`).

mod component;
mod count;
mod count_units;
mod exprs;
mod mean;
mod percentile;
mod share;
mod sum;
mod variance;

use std::sync::Arc;

use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, SortExpr};
use privagg_noise::{ConfidenceInterval, SecureRng};
use serde::Serialize;

use crate::error::Result;

pub use component::ComponentKind;
pub use component::Noise;
pub(crate) use component::{Component, Contribution, Share};
pub(crate) use exprs::literal_f64;
#[cfg(test)]
pub(crate) use percentile::TREE_HEIGHT;
pub(crate) use percentile::{LEAF, WEIGHT};

/// Column of a unit's row count per group in the bounded plan.
pub(crate) const ROWS: &str = "__privagg_rows";

/// How an aggregate is recognised: the tried order of every module's
/// `recognise`. Registering an aggregate is one line here.
const RECOGNISERS: &[Recogniser] = &[
    count::recognise,
    count_units::recognise,
    sum::recognise,
    mean::recognise,
    variance::recognise,
    percentile::recognise,
];

/// A module's recogniser: `None` when the call is not its aggregate.
type Recogniser = fn(&Call<'_>) -> Option<Result<Arc<dyn DpAggregate>>>;

/// What recognition sees of an aggregate call (markers already removed).
pub(crate) struct Call<'a> {
    /// The function name, lower case.
    pub name: &'a str,
    /// `DISTINCT` was written.
    pub distinct: bool,
    /// The first argument (bounds and share markers removed).
    pub value: Option<&'a Expr>,
    /// The first argument is a bare column that is a privacy unit.
    pub value_is_unit: bool,
    /// All arguments as written.
    pub args: &'a [Expr],
    /// Bounds given with `contribution_bounds_per_row` (SUM: clamp each
    /// row, not the unit's total).
    pub per_row_bounds: bool,
}

/// The aggregate a call names, if any module recognises it.
pub(crate) fn recognise(call: &Call<'_>) -> Option<Result<Arc<dyn DpAggregate>>> {
    RECOGNISERS.iter().find_map(|r| r(call))
}

/// One aggregate of the query.
#[derive(Clone, Debug)]
pub(crate) struct AggCall {
    /// What it computes.
    pub aggregate: Arc<dyn DpAggregate>,
    /// Its row-level argument (bounds marker removed).
    pub value: Option<Expr>,
    /// Bounds: per-unit-per-group for SUM, per value otherwise.
    pub bounds: Option<(f64, f64)>,
    /// As written (for messages and metadata).
    pub label: String,
    /// Relative share of the query's ε (`epsilon_share => w`; 1 by default).
    pub weight: f64,
    /// Its own noise (`mechanism => 'gaussian'`), else the query's.
    pub mechanism: Option<crate::options::Mechanism>,
}

/// One aggregate, calibrated.
#[derive(Clone, Debug)]
pub(crate) struct AggregatePlan {
    /// The aggregate.
    pub call: AggCall,
    /// Its noisy components.
    pub components: Vec<Component>,
    /// Its share of the query's budget (and so its noise).
    pub share: Share,
    /// Its part of the query's ε (by its weight; under zCDP its ρ comes
    /// from the aggregates' parts together).
    pub epsilon: privagg_noise::Epsilon,
}

impl AggregatePlan {
    /// The components the bounded aggregation sums (all of them, unless the
    /// aggregate has a plan of its own).
    pub fn inline_components(&self) -> &[Component] {
        if self.call.aggregate.has_own_plan() {
            &[]
        } else {
            &self.components
        }
    }
}

/// A per-row value summed per (unit, group) by the bounded aggregation.
#[derive(Clone, Debug)]
pub(crate) struct Partial {
    /// The row-level expression.
    pub row: Expr,
    /// Summed as a 64-bit count (otherwise as an exact lattice decimal).
    pub is_count: bool,
}

/// The pieces of the bounded plan an aggregate with its own plan (a
/// percentile's leaf histogram) builds on; made by `crate::bounded`.
pub(crate) struct PlanShape {
    /// The analyst's row-level input (public-groups filter applied).
    pub input: LogicalPlanBuilder,
    /// `unit AS __privagg_unit, key_i AS __privagg_key{i}`.
    pub unit_and_keys: Vec<Expr>,
    /// The unit column, after grouping by `unit_and_keys`.
    pub unit: Expr,
    /// The key columns, after grouping by `unit_and_keys`.
    pub keys: Vec<Expr>,
    /// The order in which a unit's groups are kept by L0 bounding.
    pub l0_order: Vec<SortExpr>,
    /// The query's contribution bounds.
    pub contribution: Contribution,
}

/// What the release of one group gets for an aggregate.
pub(crate) struct GroupInput<'a> {
    /// The exact bounded sums of its inline components, in order.
    pub sums: &'a [i128],
    /// The leaf histogram of its own plan (percentiles), if it has one and
    /// the group has leaves.
    pub leaves: Option<&'a [(u64, u64)]>,
    /// The noisy lattice value of its first component, when partition
    /// selection already drew it (it is released, never drawn again).
    pub drawn: Option<i128>,
}

/// A released value and its interval.
pub(crate) type Released = (Option<f64>, Option<ConfidenceInterval>);

/// Releases one aggregate for group after group (state computed once per
/// aggregate, from public parameters).
pub(crate) trait GroupRelease {
    /// The noisy value of one group.
    fn release(&self, group: &GroupInput<'_>, rng: &mut SecureRng) -> Result<Released>;
}

/// Explain's view of one aggregate.
pub(crate) struct Explained {
    /// Expected 95% half-width per component, labelled.
    pub components: Vec<(String, f64)>,
    /// The output's expected accuracy.
    pub output: OutputAccuracy,
}

/// The expected accuracy of one output aggregate, known before any data is read.
#[derive(Clone, Debug, Serialize)]
pub struct OutputAccuracy {
    /// The aggregate as written.
    pub aggregate: String,
    /// Counts and sums: the 95% half-width, whatever the data.
    pub half_width: Option<f64>,
    /// Averages and variances: the half-width is at most this (to first
    /// order) divided by the number of values in the group (after
    /// contribution bounding).
    pub half_width_times_values: Option<f64>,
    /// Percentiles: the interval's ends lie within this many rows of the
    /// percentile's rank (`p·n`) in the group, after contribution bounding.
    pub rank_radius: Option<f64>,
    /// In words.
    pub description: String,
}

/// One differentially private aggregate. Every method sees only public
/// parameters, except [`GroupRelease::release`], which sees the exact bounded
/// sums of one group (after the budget was charged).
pub(crate) trait DpAggregate: std::fmt::Debug + Send + Sync {
    /// Whether the call needs contribution bounds (catalog or SQL).
    fn needs_bounds(&self) -> bool {
        true
    }

    /// Whether `DISTINCT` is part of the aggregate.
    fn distinct(&self) -> bool {
        false
    }

    /// Whether its first component is the noisy number of distinct units
    /// per group (then partition selection can threshold it instead of
    /// spending a share of its own).
    fn counts_units(&self) -> bool {
        false
    }

    /// Its noisy components, calibrated to its `share` of the budget under
    /// the query's contribution bounds; `column(suffix)` names a component's column.
    fn calibrate(
        &self,
        call: &AggCall,
        share: &Share,
        contribution: Contribution,
        column: &dyn Fn(&str) -> String,
    ) -> Result<Vec<Component>>;

    /// One row-level partial per component the bounded aggregation sums
    /// (none for aggregates with their own plan).
    fn partials(&self, plan: &AggregatePlan) -> Result<Vec<Partial>>;

    /// A unit's bounded contribution to each partial's group total, given
    /// the columns holding the unit's per-group partials.
    fn contributions(
        &self,
        plan: &AggregatePlan,
        partials: &[Expr],
        contribution: Contribution,
    ) -> Result<Vec<Expr>>;

    /// Whether its components come from a plan of its own rather than
    /// from the bounded aggregation.
    fn has_own_plan(&self) -> bool {
        false
    }

    /// A plan of its own, run beside the bounded aggregation (percentiles).
    fn own_plan(&self, _plan: &AggregatePlan, _shape: PlanShape) -> Result<Option<LogicalPlan>> {
        Ok(None)
    }

    /// The release of one group after another, at `confidence`.
    fn releaser<'a>(
        &'a self,
        plan: &'a AggregatePlan,
        confidence: f64,
    ) -> Result<Box<dyn GroupRelease + 'a>>;

    /// Expected accuracy, for explain.
    fn explain(&self, plan: &AggregatePlan) -> Result<Explained>;

    /// The width of the range every value of the statistic lies in, from the
    /// declared bounds (public); `None` when unbounded (counts, sums). The
    /// "too noisy" rule compares intervals with it.
    fn value_range(&self, _call: &AggCall) -> Option<f64> {
        None
    }

    /// What bounding does to its meaning, in words, for `unit` and L∞ =
    /// `rows` (public parameters only); `None` when the query-level lines say it.
    fn bounding(&self, _call: &AggCall, _unit: &str, _rows: u32) -> Option<String> {
        None
    }
}

/// The bounding line of a value aggregate: values clamped, a unit's values
/// in a group reweighted to at most `rows` values' worth.
pub(super) fn clamped_values(call: &AggCall, unit: &str, rows: u32) -> Option<String> {
    let (lo, hi) = call.bounds?;
    Some(format!(
        "{}: each value clamped to [{lo}, {hi}]; a {unit} with more than {rows} value(s) in a group has them down-weighted to {rows} values' worth",
        call.label
    ))
}

/// The width of `[lower, upper]` of a call with bounds.
pub(super) fn bounds_width(call: &AggCall) -> Option<f64> {
    call.bounds
        .map(|(lo, hi)| hi - lo)
        .filter(|w| w.is_finite() && *w > 0.0)
}
