//! Calibration: how a query's ε is split over its aggregates and the
//! selection step, each aggregate's components calibrated by its own module
//! (`crate::aggregate`), from public parameters only (options, bounds,
//! catalog): done before anything is charged or read, and shown by
//! `explain`.

use num_rational::BigRational;
use privagg_noise::{Delta, Epsilon, PartitionSelector};

use crate::aggregate::{AggCall, AggregatePlan, Contribution};
use crate::error::{Result, rejected};
use crate::options::GroupSelection;

/// Calibrates every component. `epsilon` is the query's total; it is split
/// across the aggregates and the selection step in proportion to their
/// weights (each aggregate's `epsilon_share`, 1 by default; selection 1):
/// evenly unless the analyst says otherwise. Weights are read as their
/// shortest decimal, so the split is exact and sums to `epsilon`.
pub(crate) fn plan_aggregates(
    calls: &[AggCall],
    epsilon: &Epsilon,
    bounds: Contribution,
    with_selection: bool,
) -> Result<(Vec<AggregatePlan>, Option<Epsilon>)> {
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
    let share_of = |w: &BigRational| {
        Epsilon::from_ratio(epsilon.as_ratio() * w / &total).map_err(|e| {
            rejected(format!(
                "epsilon {epsilon} split over {} parts is too small: {e}",
                weights.len()
            ))
        })
    };
    let mut plans = Vec::new();
    for (i, (call, w)) in calls.iter().zip(&weights).enumerate() {
        let share = share_of(w)?;
        let column = |suffix: &str| format!("__a{i}_{suffix}");
        let components = call.aggregate.calibrate(call, &share, bounds, &column)?;
        plans.push(AggregatePlan {
            call: call.clone(),
            components,
            epsilon: share,
        });
    }
    let selection = match (with_selection, weights.last()) {
        (true, Some(w)) => Some(share_of(w)?),
        _ => None,
    };
    Ok((plans, selection))
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
        GroupSelection::TruncatedGeometric | GroupSelection::PublicGroups => {
            PartitionSelector::truncated_geometric(epsilon, delta, k)
        }
    };
    sel.map_err(|e| rejected(format!("group selection: {e}")))
}
