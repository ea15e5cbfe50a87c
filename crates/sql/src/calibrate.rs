//! Calibration: how a query's ε is split over its aggregates and the
//! selection step, each aggregate's components calibrated by its own module
//! (`crate::aggregate`), from public parameters only (options, bounds,
//! catalog): done before anything is charged or read, and shown by
//! `explain`.

use num_rational::BigRational;
use privagg_noise::{
    Delta, Epsilon, PartitionSelector, PrivacyLoss, Rho, epsilon_to_zcdp, gaussian_count_threshold,
    laplace_count_threshold,
};

use crate::aggregate::{AggCall, AggregatePlan, Component, Contribution, Noise, Share};
use crate::error::{Result, rejected};
use crate::options::{GroupSelection, Mechanism};

/// A query's aggregates, calibrated, and what is left for selection.
pub(crate) struct Calibration {
    /// The aggregates with their components.
    pub aggregates: Vec<AggregatePlan>,
    /// The noise they got (never `Auto`).
    pub mechanism: Mechanism,
    /// The exact loss of all their components together.
    pub loss: PrivacyLoss,
    /// ε of the selection step, when there is one.
    pub selection_epsilon: Option<Epsilon>,
    /// δ of the selection step.
    pub selection_delta: Delta,
    /// The same aggregates under the other mechanism, for explain (`None`
    /// when it does not apply, e.g. Gaussian noise with δ = 0).
    pub alternative: Option<(Mechanism, Vec<AggregatePlan>)>,
}

/// The exact ε shares of the aggregates and the selection step: the query's
/// ε split in proportion to their weights (each aggregate's
/// `epsilon_share`, 1 by default; selection 1), evenly unless the analyst
/// says otherwise. Weights are read as their shortest decimal, so the split
/// is exact and sums to `epsilon`.
fn epsilon_shares(
    calls: &[AggCall],
    epsilon: &Epsilon,
    with_selection: bool,
) -> Result<(Vec<Epsilon>, Option<Epsilon>)> {
    let weight = |w: f64| {
        privagg_noise::exact::shortest_decimal(w)
            .ok_or_else(|| rejected(format!("epsilon_share {w} is not a number")))
    };
    let mut weights = calls
        .iter()
        .map(|c| weight(c.weight))
        .collect::<Result<Vec<_>>>()?;
    if with_selection {
        weights.push(BigRational::from_integer(1.into()));
    }
    let total: BigRational = weights.iter().cloned().sum();
    let mut shares = weights
        .iter()
        .map(|w| {
            Epsilon::from_ratio(epsilon.as_ratio() * w / &total).map_err(|e| {
                rejected(format!(
                    "epsilon {epsilon} split over {} parts is too small: {e}",
                    weights.len()
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let selection = if with_selection { shares.pop() } else { None };
    Ok((shares, selection))
}

/// What the selection step needs from the budget.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Needs {
    /// A share of ε (a selection step of its own).
    pub selection_epsilon: bool,
    /// A share of δ (any selection of private keys).
    pub selection_delta: bool,
    /// The other mechanism's calibration too (explain shows it); `auto`
    /// computes both anyway.
    pub alternative: bool,
}

/// The threshold of [`GroupSelection::CountThreshold`] on the noisy unit
/// count of `plan` (its first component), at δ.
pub(crate) fn count_threshold(
    plan: &AggregatePlan,
    delta: &Delta,
    bounds: Contribution,
) -> Result<i128> {
    let count = plan
        .components
        .first()
        .ok_or_else(|| rejected("internal: a unit count without components"))?;
    let k = bounds.max_groups;
    let threshold = match &count.noise {
        Noise::Laplace(m) => laplace_count_threshold(m, delta, k),
        Noise::Gaussian(m) => gaussian_count_threshold(m, delta, k),
        Noise::Exponential(_) => return Err(rejected("internal: a unit count is a noisy sum")),
    };
    threshold.map_err(|e| rejected(format!("group selection: {e}")))
}

/// Calibrates every aggregate's components under `mechanism`.
///
/// Laplace: each aggregate gets its ε share and the losses add (basic
/// composition); selection gets its ε share and all of δ.
///
/// Gaussian: δ is halved between the noise and the selection step (all of
/// it to the noise without selection); the aggregates' ε shares together
/// become one ρ = ρ(ε_aggregates, δ_noise) (`epsilon_to_zcdp`), split over
/// the aggregates by the same weights; the components' ρ add up (zCDP
/// composition) and the total is stated as (ε, δ_noise) once, which is at
/// most ε_aggregates (Bun & Steinke 2016, Prop. 1.3 and Lemma 2.3).
///
/// An aggregate with `mechanism => 'gaussian'` makes the whole query
/// zCDP-accounted; its other aggregates keep the query's noise (Laplace
/// unless the query says `gaussian`), a Laplace one with the ε whose ε²/2
/// is its ρ (pure ε-DP is ε²/2-zCDP).
pub(crate) fn calibrate(
    calls: &[AggCall],
    epsilon: &Epsilon,
    delta: &Delta,
    bounds: Contribution,
    needs: Needs,
    mechanism: Mechanism,
) -> Result<Calibration> {
    let own = |call: &AggCall, query: Mechanism| call.mechanism.unwrap_or(query);
    if calls
        .iter()
        .any(|c| c.mechanism == Some(Mechanism::Gaussian))
    {
        let query = if mechanism == Mechanism::Gaussian {
            Mechanism::Gaussian
        } else {
            Mechanism::Laplace
        };
        let noise = |c: &AggCall| own(c, query);
        return one_mechanism(
            calls,
            epsilon,
            delta,
            bounds,
            needs,
            Mechanism::Gaussian,
            &noise,
        );
    }
    let all_laplace = |_: &AggCall| Mechanism::Laplace;
    let gaussian_unless_marked = |c: &AggCall| own(c, Mechanism::Gaussian);
    let laplace = || {
        one_mechanism(
            calls,
            epsilon,
            delta,
            bounds,
            needs,
            Mechanism::Laplace,
            &all_laplace,
        )
    };
    let gaussian = || {
        one_mechanism(
            calls,
            epsilon,
            delta,
            bounds,
            needs,
            Mechanism::Gaussian,
            &gaussian_unless_marked,
        )
    };
    let (mut chosen, other) = match mechanism {
        Mechanism::Laplace => (
            laplace()?,
            needs.alternative.then(gaussian).and_then(Result::ok),
        ),
        Mechanism::Gaussian => (
            gaussian()?,
            needs.alternative.then(laplace).and_then(Result::ok),
        ),
        Mechanism::Auto => {
            let l = laplace()?;
            match gaussian().ok() {
                Some(g) if more_accurate(&g.aggregates, &l.aggregates)? => (g, Some(l)),
                g => (l, g),
            }
        }
    };
    chosen.alternative = other.map(|o| (o.mechanism, o.aggregates));
    Ok(chosen)
}

/// The rule of `mechanism = auto`: Gaussian only when every noisy component
/// of the query has a smaller expected 95% half-width with it.
fn more_accurate(candidate: &[AggregatePlan], than: &[AggregatePlan]) -> Result<bool> {
    let widths = |plans: &[AggregatePlan]| -> Result<Vec<f64>> {
        plans
            .iter()
            .flat_map(|a| a.components.iter())
            .map(Component::width_95)
            .collect()
    };
    let (a, b) = (widths(candidate)?, widths(than)?);
    Ok(a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x < y))
}

/// Calibrates under one accounting (`Laplace`: ε adds; `Gaussian`: ρ adds),
/// each aggregate with the noise `noise(call)` says (under Laplace
/// accounting, always Laplace).
fn one_mechanism(
    calls: &[AggCall],
    epsilon: &Epsilon,
    delta: &Delta,
    bounds: Contribution,
    needs: Needs,
    mechanism: Mechanism,
    noise: &dyn Fn(&AggCall) -> Mechanism,
) -> Result<Calibration> {
    let (epsilons, selection_epsilon) = epsilon_shares(calls, epsilon, needs.selection_epsilon)?;
    let (shares, noise_delta, selection_delta) = match mechanism {
        Mechanism::Gaussian => {
            if delta.is_zero() {
                return Err(rejected(
                    "mechanism = gaussian needs delta > 0 (Gaussian noise has no pure epsilon-DP guarantee)",
                ));
            }
            let noise_delta = if needs.selection_delta {
                Delta::from_ratio(delta.as_ratio() / BigRational::from_integer(2.into()))?
            } else {
                delta.clone()
            };
            let selection_delta = Delta::from_ratio(delta.as_ratio() - noise_delta.as_ratio())?;
            let total: BigRational = epsilons.iter().map(|e| e.as_ratio().clone()).sum();
            let rho = epsilon_to_zcdp(&Epsilon::from_ratio(total.clone())?, &noise_delta)?;
            let shares = calls
                .iter()
                .zip(&epsilons)
                .map(|(call, e)| {
                    let rho = Rho::from_ratio(rho.as_ratio() * e.as_ratio() / &total)?;
                    Ok(match noise(call) {
                        Mechanism::Laplace => Share::LaplaceRho(rho),
                        _ => Share::Gaussian {
                            rho,
                            delta: noise_delta.clone(),
                        },
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            (shares, Some(noise_delta), selection_delta)
        }
        _ => (
            epsilons.iter().cloned().map(Share::Laplace).collect(),
            None,
            delta.clone(),
        ),
    };
    let mut aggregates = Vec::new();
    for (i, ((call, share), epsilon)) in calls.iter().zip(shares).zip(epsilons).enumerate() {
        let column = |suffix: &str| format!("__a{i}_{suffix}");
        let components = call.aggregate.calibrate(call, &share, bounds, &column)?;
        aggregates.push(AggregatePlan {
            call: call.clone(),
            components,
            share,
            epsilon,
        });
    }
    let mut loss = PrivacyLoss::pure(BigRational::from_integer(0.into()));
    for c in aggregates.iter().flat_map(|a| a.components.iter()) {
        loss = loss.compose(&c.loss()?);
    }
    if let Some(noise_delta) = noise_delta {
        // zCDP composition: the components' ρ add up; stated as (ε, δ) once.
        let rho = loss
            .rho()
            .cloned()
            .ok_or_else(|| rejected("internal: a Gaussian component has no rho"))?;
        loss = PrivacyLoss::zcdp(rho, &noise_delta)?;
    }
    Ok(Calibration {
        aggregates,
        mechanism: if mechanism == Mechanism::Gaussian {
            Mechanism::Gaussian
        } else {
            Mechanism::Laplace
        },
        loss,
        selection_epsilon,
        selection_delta,
        alternative: None,
    })
}

/// The partition selector for private group keys.
pub(crate) fn selector(
    strategy: GroupSelection,
    epsilon: &Epsilon,
    delta: &Delta,
    k: u32,
) -> Result<PartitionSelector> {
    let sel = match strategy {
        GroupSelection::LaplaceThreshold => PartitionSelector::laplace_threshold(epsilon, delta, k),
        GroupSelection::GaussianThreshold => {
            PartitionSelector::gaussian_threshold(epsilon, delta, k)
        }
        GroupSelection::TruncatedGeometric
        | GroupSelection::PublicGroups
        | GroupSelection::CountThreshold => {
            PartitionSelector::truncated_geometric(epsilon, delta, k)
        }
    };
    sel.map_err(|e| rejected(format!("group selection: {e}")))
}

#[cfg(test)]
#[path = "calibrate_tests.rs"]
mod tests;
