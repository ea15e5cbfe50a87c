//! A noisy component: one exact integer sum per group, released with
//! integer noise on a lattice — discrete Laplace for ε-DP, discrete Gaussian
//! for ρ-zCDP. The calibration helpers here are the only way an aggregate
//! makes a component, so every component's sensitivities are computed the
//! same way from the per-group bound the bounded plan enforces: a unit adds
//! at most `B` (lattice units) to each of at most `k` groups, so
//! `Δ₁ = k·B` and `Δ₂ = √k·B`.

use num_rational::BigRational;
use privagg_noise::{
    ConfidenceInterval, ExponentialQuantile, GaussianMechanism, Grid, L1Sensitivity, L2Sensitivity,
    LaplaceMechanism, PrivacyLoss, SecureRng,
};
use serde::Serialize;

use super::AggCall;
pub(crate) use super::share::Share;
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
    /// A quantile chosen by the exponential mechanism from the same leaf
    /// weights (no noisy sum: `Noise::Exponential`).
    ExponentialQuantile,
}

/// Contribution bounds of a query.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Contribution {
    /// L0: groups per unit.
    pub max_groups: u32,
    /// L∞: rows per unit and group.
    pub max_rows: u32,
}

/// The noise of one component.
#[derive(Clone, Debug)]
pub enum Noise {
    /// Integer Laplace, calibrated to ε for the L1 sensitivity.
    Laplace(LaplaceMechanism),
    /// Discrete Gaussian, calibrated to ρ for the L2 sensitivity.
    Gaussian(GaussianMechanism),
    /// The exponential mechanism of a percentile: it chooses, it adds no noise.
    Exponential(ExponentialQuantile),
}

impl Noise {
    /// Its name, as metadata shows it.
    pub fn name(&self) -> &'static str {
        match self {
            Noise::Laplace(_) => "discrete Laplace (exact, CKS20)",
            Noise::Gaussian(_) => "discrete Gaussian (exact, CKS20)",
            Noise::Exponential(_) => "exponential mechanism (exact, rejection sampling)",
        }
    }

    /// The Laplace mechanism, if it is one.
    pub fn laplace(&self) -> Option<&LaplaceMechanism> {
        match self {
            Noise::Laplace(m) => Some(m),
            Noise::Gaussian(_) | Noise::Exponential(_) => None,
        }
    }

    /// Laplace `b` or Gaussian `σ`, in lattice units (the exponential
    /// mechanism's `b` of its point, in weight units).
    pub fn scale(&self) -> f64 {
        match self {
            Noise::Laplace(m) => m.scale(),
            Noise::Gaussian(m) => m.sigma(),
            Noise::Exponential(m) => m.scale(),
        }
    }

    /// Half-width at `confidence`, in lattice units (not for the
    /// exponential mechanism: its error is in ranks).
    pub fn half_width(&self, confidence: f64) -> Result<f64> {
        match self {
            Noise::Laplace(m) => Ok(m.half_width(confidence)?),
            Noise::Gaussian(m) => Ok(m.half_width(confidence)?),
            Noise::Exponential(_) => Err(not_additive()),
        }
    }

    /// An exact lattice value plus noise.
    ///
    /// # Errors
    /// For the exponential mechanism, which adds no noise to a sum.
    pub fn release_integer(&self, exact: i128, rng: &mut SecureRng) -> Result<i128> {
        match self {
            Noise::Laplace(m) => Ok(m.release_integer(exact, rng)),
            Noise::Gaussian(m) => Ok(m.release_integer(exact, rng)),
            Noise::Exponential(_) => Err(not_additive()),
        }
    }
}

fn not_additive() -> crate::error::SqlError {
    rejected("internal: the exponential mechanism releases no noisy sum")
}

/// One noisy integer sum of the release.
#[derive(Clone, Debug)]
pub struct Component {
    /// What it measures.
    pub kind: ComponentKind,
    /// Its noise.
    pub noise: Noise,
    /// Value units per lattice step (1 for counts).
    pub grid: Grid,
    /// L1 lattice sensitivity (`k·B`).
    pub sensitivity: L1Sensitivity,
    /// L2 lattice sensitivity (`√k·B`).
    pub l2: L2Sensitivity,
    /// Lattice clamp for `Sum` (per unit and group).
    pub clamp: Option<(i128, i128)>,
    /// The tree of a `QuantileTree` component.
    pub tree: Option<privagg_noise::QuantileTree>,
    /// Name of its column in the bounded aggregation.
    pub column: String,
}

impl Component {
    /// The exact loss of this component.
    pub fn loss(&self) -> Result<PrivacyLoss> {
        Ok(match &self.noise {
            Noise::Laplace(m) => m.privacy_loss(&self.sensitivity),
            Noise::Gaussian(m) => m.privacy_loss(&self.l2)?,
            Noise::Exponential(m) => m.privacy_loss(),
        })
    }

    /// Expected half-width at `confidence`, in value units.
    pub fn half_width(&self, confidence: f64) -> Result<f64> {
        Ok(self.noise.half_width(confidence)? * self.grid.spacing())
    }

    /// For a percentile's component (a tree or the exponential mechanism),
    /// the L1 bound on one unit's change of all groups' leaf weights: `k·L∞·W`.
    #[cfg(test)]
    pub(crate) fn leaf_weight_bound(&self) -> Option<i128> {
        let d = self.sensitivity.to_f64() as i128;
        match self.kind {
            ComponentKind::QuantileTree => Some(d / i128::from(super::TREE_HEIGHT)),
            ComponentKind::ExponentialQuantile => Some(d),
            _ => None,
        }
    }

    /// What `mechanism = auto` compares between accountings: the 95%
    /// half-width, or for the exponential mechanism its 95% rank radius.
    pub fn width_95(&self) -> Result<f64> {
        match &self.noise {
            Noise::Exponential(m) => Ok(m.rank_radius(0.95)?),
            _ => self.half_width(0.95),
        }
    }

    /// The noisy value (value units) of an exact lattice sum, and its
    /// interval at `confidence`.
    pub fn release(
        &self,
        exact: i128,
        confidence: f64,
        rng: &mut SecureRng,
    ) -> Result<(f64, ConfidenceInterval)> {
        self.release_drawn(self.noise.release_integer(exact, rng)?, confidence)
    }

    /// The value (value units) and interval of a lattice value already noised.
    pub fn release_drawn(&self, noisy: i128, confidence: f64) -> Result<(f64, ConfidenceInterval)> {
        let value = self.grid.from_lattice(noisy);
        let hw = self.half_width(confidence)?;
        Ok((value, ConfidenceInterval::around(value, hw, confidence)))
    }
}

/// A component to which a unit adds at most `bound` lattice units in each
/// of at most `k` groups: `Δ₁ = k·bound`, `Δ₂² = k·bound²`, noise as the
/// share says.
pub(super) fn noisy_component(
    kind: ComponentKind,
    column: String,
    share: &Share,
    grid: Grid,
    k: u32,
    bound: i128,
) -> Result<Component> {
    let sensitivity = L1Sensitivity::new(at_least(i128::from(k) * bound))?;
    let l2 = L2Sensitivity::from_squared(BigRational::from_integer(
        (num_bigint::BigInt::from(bound) * bound) * k,
    ))?;
    let noise = match share {
        Share::Gaussian { rho, delta } => {
            Noise::Gaussian(GaussianMechanism::calibrate_integer_rho(rho, delta, &l2)?)
        }
        laplace => Noise::Laplace(LaplaceMechanism::calibrate_integer(
            &laplace.laplace_epsilon()?,
            &sensitivity,
        )?),
    };
    Ok(Component {
        kind,
        noise,
        grid,
        sensitivity,
        l2,
        clamp: None,
        tree: None,
        column,
    })
}

/// A count component: a unit adds at most `per_group` to each of its ≤ k groups.
pub(super) fn count_component(
    column: String,
    share: &Share,
    k: u32,
    per_group: u32,
) -> Result<Component> {
    noisy_component(
        ComponentKind::Count,
        column,
        share,
        Grid::UNIT,
        k,
        i128::from(per_group),
    )
}

/// A real-valued component: grid from the value-unit bound (so the noise
/// spans about 2^40 lattice steps), then integer noise on the lattice for
/// the lattice bound. `lattice_bound(r)` is the largest lattice magnitude
/// one unit can add to one group with grid spacing `r`, computed with the
/// very function the bounded plan uses, so the plan provably cannot exceed it.
pub(super) fn lattice_component(
    kind: ComponentKind,
    column: String,
    share: &Share,
    per_unit_bound: f64,
    k: u32,
    lattice_bound: &dyn Fn(f64) -> i128,
) -> Result<Component> {
    if per_unit_bound <= 0.0 || !per_unit_bound.is_finite() {
        return Err(rejected("bounds must not all be zero: widen lower/upper"));
    }
    let grid = Grid::for_scale(share.scale(f64::from(k), per_unit_bound))?;
    grid.check_bound(per_unit_bound)?;
    noisy_component(kind, column, share, grid, k, lattice_bound(grid.spacing()))
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

/// Releases a count: noise (unless selection drew it already), then never
/// negative (post-processing), interval likewise.
pub(super) fn release_count(
    c: &Component,
    exact: i128,
    drawn: Option<i128>,
    confidence: f64,
    rng: &mut SecureRng,
) -> Result<(Option<f64>, Option<ConfidenceInterval>)> {
    let (v, ci) = match drawn {
        Some(noisy) => c.release_drawn(noisy, confidence)?,
        None => c.release(exact, confidence, rng)?,
    };
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
