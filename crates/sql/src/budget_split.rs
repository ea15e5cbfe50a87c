//! How a query's ε is split and each noisy component is calibrated, from
//! public parameters only (options, bounds, catalog): done before anything
//! is charged or read, and shown by `explain`.

use num_rational::BigRational;
use privagg_noise::{
    Delta, Epsilon, Grid, L1Sensitivity, LaplaceMechanism, PartitionSelector, PrivacyLoss,
};
use serde::Serialize;

use crate::analyze::{AggCall, AggKind};
use crate::error::{Result, rejected};
use crate::options::GroupSelection;
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
    /// Noisy counts of a quantile tree (fixed point, [`WEIGHT_SCALE`] per row).
    QuantileTree,
}

/// Height of the quantile trees used for percentiles.
pub const TREE_HEIGHT: u32 = 4;
/// Branching factor of the quantile trees (16^4 = 65,536 leaves).
pub const TREE_BRANCHING: u64 = 16;
/// Fixed-point scale of quantile-tree counts: a unit's rows in a group weigh
/// at most `max_rows · WEIGHT_SCALE` in total (reweighted, floored).
pub const WEIGHT_SCALE: i64 = 1024;

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
}

/// One aggregate and its components.
#[derive(Clone, Debug)]
pub struct AggregatePlan {
    /// The aggregate.
    pub(crate) call: AggCall,
    /// Its noisy components.
    pub components: Vec<Component>,
    /// Its ε share.
    pub epsilon: Epsilon,
}

/// Contribution bounds of a query.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Contribution {
    /// L0: groups per unit.
    pub max_groups: u32,
    /// L∞: rows per unit and group.
    pub max_rows: u32,
}

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
        plans.push(plan_one(i, call, &share_of(w)?, bounds)?);
    }
    let selection = match (with_selection, weights.last()) {
        (true, Some(w)) => Some(share_of(w)?),
        _ => None,
    };
    Ok((plans, selection))
}

fn split(share: &Epsilon, n: usize) -> Result<Epsilon> {
    Epsilon::from_ratio(share.as_ratio() / BigRational::from_integer(n.into()))
        .map_err(|e| rejected(e.to_string()))
}

fn count_component(column: String, epsilon: &Epsilon, sensitivity: f64) -> Result<Component> {
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
fn lattice_component(
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
fn at_least(n: i128) -> f64 {
    let f = n as f64;
    if (f as i128) < n { f.next_up() } else { f }
}

/// The lattice clamp of a SUM: a unit's per-group total is clamped to
/// `[round(lower / r), round(upper / r)]`.
fn sum_clamp(lo: f64, hi: f64, r: f64) -> (i128, i128) {
    ((lo / r).round() as i128, (hi / r).round() as i128)
}

/// The largest magnitude of `privagg_to_lattice(x, lo, hi, mid, r, power)`
/// over all x: the value is monotone in x on each side of `mid`, so it is
/// reached at `lo` or `hi`.
fn centred_bound(lo: f64, hi: f64, r: f64, power: i64) -> i128 {
    let mid = (lo + hi) / 2.0;
    [lo, hi]
        .iter()
        .filter_map(|&x| lattice_value(x, lo, hi, mid, r, power))
        .map(i128::abs)
        .max()
        .unwrap_or(0)
}

fn plan_one(i: usize, call: &AggCall, share: &Epsilon, b: Contribution) -> Result<AggregatePlan> {
    if let Some((lo, hi)) = call.bounds
        && lo == hi
        && !matches!(call.kind, AggKind::Sum)
    {
        return Err(rejected(format!(
            "{}: lower and upper bounds must differ",
            call.label
        )));
    }
    let k = f64::from(b.max_groups);
    let rows = f64::from(b.max_rows);
    let (lo, hi) = call.bounds.unwrap_or((0.0, 0.0));
    let half = (hi - lo) / 2.0;
    let col = |suffix: &str| format!("__a{i}_{suffix}");
    let components = match call.kind {
        AggKind::CountRows | AggKind::CountValues => {
            vec![count_component(col("count"), share, k * rows)?]
        }
        AggKind::CountUnits => vec![count_component(col("count"), share, k)?],
        AggKind::Sum => {
            let bound = lo.abs().max(hi.abs());
            let clamp = |r: f64| {
                let (l, u) = sum_clamp(lo, hi, r);
                l.abs().max(u.abs())
            };
            let mut c = lattice_component(ComponentKind::Sum, col("sum"), share, bound, k, &clamp)?;
            c.clamp = Some(sum_clamp(lo, hi, c.grid.spacing()));
            vec![c]
        }
        AggKind::Mean | AggKind::Variance | AggKind::StdDev => {
            // A count and a normalised sum; variances add normalised squares.
            let with_squares = call.kind != AggKind::Mean;
            let e = split(share, if with_squares { 3 } else { 2 })?;
            let mut parts = vec![
                count_component(col("count"), &e, k * rows)?,
                lattice_component(
                    ComponentKind::NormalizedSum,
                    col("nsum"),
                    &e,
                    rows * half,
                    k,
                    &|r| i128::from(b.max_rows) * centred_bound(lo, hi, r, 1),
                )?,
            ];
            if with_squares {
                parts.push(lattice_component(
                    ComponentKind::NormalizedSquares,
                    col("nsq"),
                    &e,
                    rows * half * half,
                    k,
                    &|r| i128::from(b.max_rows) * centred_bound(lo, hi, r, 2),
                )?);
            }
            parts
        }
        AggKind::Percentile(_) => {
            let tree = privagg_noise::QuantileTree::new(lo, hi, TREE_HEIGHT, TREE_BRANCHING)
                .map_err(|e| rejected(format!("{}: {e}", call.label)))?;
            let sensitivity =
                L1Sensitivity::new(f64::from(TREE_HEIGHT) * k * rows * WEIGHT_SCALE as f64)?;
            let mechanism = LaplaceMechanism::calibrate_integer(share, &sensitivity)?;
            vec![Component {
                kind: ComponentKind::QuantileTree,
                mechanism,
                grid: Grid::UNIT,
                sensitivity,
                clamp: None,
                tree: Some(tree),
                column: col("tree"),
            }]
        }
    };
    Ok(AggregatePlan {
        call: call.clone(),
        components,
        epsilon: share.clone(),
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
        GroupSelection::TruncatedGeometric | GroupSelection::PublicGroups => {
            PartitionSelector::truncated_geometric(epsilon, delta, k)
        }
    };
    sel.map_err(|e| rejected(format!("group selection: {e}")))
}
