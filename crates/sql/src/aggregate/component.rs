//! A noisy component: one exact integer sum per group, released with
//! integer Laplace noise on a lattice. The calibration helpers here are the
//! only way an aggregate makes a component, so every component's
//! sensitivity is computed the same way from the bounds the bounded plan
//! enforces.

use num_rational::BigRational;
use privagg_noise::{
    ConfidenceInterval, Epsilon, Grid, L1Sensitivity, LaplaceMechanism, PrivacyLoss, SecureRng,
};
use serde::Serialize;

use super::AggCall;
use crate::error::{Result, rejected};
use crate::udf::lattice_value;

/// What a noisy component measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentKind {
    /// A count (rows, values or units), capped per unit and group.
    Count,
    /// A per-unit-per-group clamped total.
    Sum,
    /// Σ (clamp(x) − mid), reweighted to at most L∞ rows per unit and group.
    NormalizedSum,
    /// Σ (clamp(x) − mid)², reweighted likewise.
    NormalizedSquares,
    /// Noisy counts of a quantile tree (fixed point, `WEIGHT_SCALE` per row).
    QuantileTree,
}

/// Contribution bounds of a query.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Contribution {
    /// L0: groups per unit.
    pub max_groups: u32,
    /// L∞: rows per unit and group.
    pub max_rows: u32,
}

/// One noisy integer sum of the release.
#[derive(Clone, Debug)]
pub struct Component {
    /// What it measures.
    pub kind: ComponentKind,
    /// The mechanism (integer Laplace on the lattice).
    pub mechanism: LaplaceMechanism,
    /// Value units per lattice step (1 for counts).
    pub grid: Grid,
    /// Lattice sensitivity used to calibrate.
    pub sensitivity: L1Sensitivity,
    /// Lattice clamp for `Sum` (per unit and group).
    pub clamp: Option<(i128, i128)>,
    /// The tree of a `QuantileTree` component.
    pub tree: Option<privagg_noise::QuantileTree>,
    /// Name of its column in the bounded aggregation.
    pub column: String,
}

impl Component {
    /// The exact loss of this component.
    pub fn loss(&self) -> PrivacyLoss {
        self.mechanism.privacy_loss(&self.sensitivity)
    }

    /// Expected half-width at `confidence`, in value units.
    pub fn half_width(&self, confidence: f64) -> Result<f64> {
        Ok(self.mechanism.half_width(confidence)? * self.grid.spacing())
    }

    /// The noisy value (value units) of an exact lattice sum, and its
    /// interval at `confidence`.
    pub fn release(
        &self,
        exact: i128,
        confidence: f64,
        rng: &mut SecureRng,
    ) -> Result<(f64, ConfidenceInterval)> {
        let m = self.mechanism.release_integer(exact, rng);
        let value = self.grid.from_lattice(m);
        let hw = self.half_width(confidence)?;
        Ok((value, ConfidenceInterval::around(value, hw, confidence)))
    }
}

/// `share / n`: a share split evenly over an aggregate's `n` components.
pub(super) fn split(share: &Epsilon, n: usize) -> Result<Epsilon> {
    Epsilon::from_ratio(share.as_ratio() / BigRational::from_integer(n.into()))
        .map_err(|e| rejected(e.to_string()))
}

/// A count component of lattice (and value) sensitivity `sensitivity`.
pub(super) fn count_component(
    column: String,
    epsilon: &Epsilon,
    sensitivity: f64,
) -> Result<Component> {
    let sensitivity = L1Sensitivity::new(sensitivity)?;
    let mechanism = LaplaceMechanism::calibrate_integer(epsilon, &sensitivity)?;
    Ok(Component {
        kind: ComponentKind::Count,
        mechanism,
        grid: Grid::UNIT,
        sensitivity,
        clamp: None,
        tree: None,
        column,
    })
}

/// A real-valued component: grid from the value-unit sensitivity, then an
/// integer mechanism on the lattice with the lattice sensitivity `k · B`.
/// `lattice_bound(r)` is the largest lattice magnitude one unit can add to
/// one group with grid spacing `r`, computed with the very function the
/// bounded plan uses, so the plan provably cannot exceed it.
pub(super) fn lattice_component(
    kind: ComponentKind,
    column: String,
    epsilon: &Epsilon,
    per_unit_bound: f64,
    k: f64,
    lattice_bound: &dyn Fn(f64) -> i128,
) -> Result<Component> {
    if per_unit_bound <= 0.0 || !per_unit_bound.is_finite() {
        return Err(rejected("bounds must not all be zero: widen lower/upper"));
    }
    let grid = Grid::for_scale(k * per_unit_bound / epsilon.to_f64())?;
    grid.check_bound(per_unit_bound)?;
    let sensitivity = L1Sensitivity::new(at_least(k as i128 * lattice_bound(grid.spacing())))?;
    let mechanism = LaplaceMechanism::calibrate_integer(epsilon, &sensitivity)?;
    Ok(Component {
        kind,
        mechanism,
        grid,
        sensitivity,
        clamp: None,
        tree: None,
        column,
    })
}

/// The smallest f64 that is at least `n` (sensitivities round up).
pub(super) fn at_least(n: i128) -> f64 {
    let f = n as f64;
    if (f as i128) < n { f.next_up() } else { f }
}

/// The largest magnitude of `privagg_to_lattice(x, lo, hi, mid, r, power)`
/// over all x: the value is monotone in x on each side of `mid`, so it is
/// reached at `lo` or `hi`.
pub(super) fn centred_bound(lo: f64, hi: f64, r: f64, power: i64) -> i128 {
    let mid = (lo + hi) / 2.0;
    [lo, hi]
        .iter()
        .filter_map(|&x| lattice_value(x, lo, hi, mid, r, power))
        .map(i128::abs)
        .max()
        .unwrap_or(0)
}

/// The call's bounds, which must differ (a value aggregate over one point
/// has nothing to measure).
pub(super) fn distinct_bounds(call: &AggCall) -> Result<(f64, f64)> {
    let (lo, hi) = call.bounds.unwrap_or((0.0, 0.0));
    if lo == hi {
        return Err(rejected(format!(
            "{}: lower and upper bounds must differ",
            call.label
        )));
    }
    Ok((lo, hi))
}

/// Explain's per-component half-widths, labelled `<aggregate> (<Kind>)`.
pub(super) fn labelled_widths(plan: &super::AggregatePlan) -> Result<Vec<(String, f64)>> {
    plan.components
        .iter()
        .map(|c| {
            Ok((
                format!("{} ({:?})", plan.call.label, c.kind),
                c.half_width(0.95)?,
            ))
        })
        .collect()
}

/// Rejects equal bounds when a call has bounds at all (counts need none,
/// but bounds declared for their column must still be sensible).
pub(super) fn check_bounds(call: &AggCall) -> Result<()> {
    if call.bounds.is_some() {
        distinct_bounds(call)?;
    }
    Ok(())
}

/// Releases a count: noise, then never negative (post-processing), interval likewise.
pub(super) fn release_count(
    c: &Component,
    exact: i128,
    confidence: f64,
    rng: &mut SecureRng,
) -> Result<(Option<f64>, Option<ConfidenceInterval>)> {
    let (v, ci) = c.release(exact, confidence, rng)?;
    Ok((
        Some(v.max(0.0)),
        Some(ConfidenceInterval {
            low: ci.low.max(0.0),
            high: ci.high.max(0.0),
            confidence,
        }),
    ))
}

/// Explain for an aggregate of one component (counts, sums): its
/// half-width is the output's, whatever the data.
pub(super) fn one_component_explained(plan: &super::AggregatePlan) -> Result<super::Explained> {
    let components = labelled_widths(plan)?;
    let w = components.first().map_or(f64::NAN, |(_, w)| *w);
    Ok(super::Explained {
        components,
        output: super::OutputAccuracy {
            aggregate: plan.call.label.clone(),
            half_width: Some(w),
            half_width_times_values: None,
            rank_radius: None,
            description: format!("±{w:.1}"),
        },
    })
}
