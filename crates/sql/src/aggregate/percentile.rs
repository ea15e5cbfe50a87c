//! `PERCENTILE_CONT(x, p)` and `MEDIAN(x)`: a percentile from a noisy
//! quantile tree over `[lower, upper]` (height [`TREE_HEIGHT`], branching
//! [`TREE_BRANCHING`]), built from the group's leaf histogram in a plan of
//! its own.
//!
//! Privacy claim: each row falls in one leaf; a unit's rows in a group are
//! reweighted so they weigh at most `L∞ · WEIGHT_SCALE` in total (floored,
//! `privagg_cap` mode 1), for the same ≤ `k` groups per unit the bounded
//! aggregation keeps. A leaf's weight reaches one node per level, so the
//! tree's node counts have L1 sensitivity `height · k · L∞ · WEIGHT_SCALE`;
//! integer Laplace noise of that scale over ε makes every node count ε-DP
//! together, and the percentile and its interval are post-processing
//! (`docs/privacy/quantile_tree.md`).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::functions_window::expr_fn::dense_rank;
use datafusion::logical_expr::expr::{WindowFunction, WindowFunctionDefinition};
use datafusion::logical_expr::{Expr, ExprFunctionExt, LogicalPlan, col, lit, try_cast, when};
use privagg_noise::{
    ExponentialQuantile, Grid, L1Sensitivity, L2Sensitivity, LaplaceMechanism, QuantileTree,
    RankRadii, SecureRng,
};

use num_rational::BigRational;

use super::component::{ComponentKind, Noise, at_least, distinct_bounds};
use super::exprs::{call, cap, fail, literal_f64};
use super::{
    AggCall, AggregatePlan, Call, Component, Contribution, DpAggregate, Explained, GroupInput,
    GroupRelease, OutputAccuracy, Partial, PlanShape, Released, Share,
};
use crate::error::{Result, rejected};
use crate::udf::Leaf;

/// Height of the quantile trees used for percentiles.
pub(crate) const TREE_HEIGHT: u32 = 4;
/// Branching factor of the quantile trees (16^4 = 65,536 leaves).
pub(crate) const TREE_BRANCHING: u64 = 16;
/// Leaves per bin of the exponential mechanism (65,536 leaves → 4,096 bins:
/// fewer candidates, a tighter interval, a resolution of 1/4,096 of the range).
pub(crate) const BINS_PER_CHOICE: u64 = 16;
/// Fixed-point scale of quantile-tree counts: a unit's rows in a group weigh
/// at most `max_rows · WEIGHT_SCALE` in total (reweighted, floored).
pub(crate) const WEIGHT_SCALE: i64 = 1024;
/// Column of quantile-tree leaves in a percentile plan's result.
pub(crate) const LEAF: &str = "__privagg_leaf";
/// Column of fixed-point leaf weights in a percentile plan's result.
pub(crate) const WEIGHT: &str = "__privagg_weight";
const ROWS: &str = "__privagg_rows";
const RANK: &str = "__privagg_rank";
const VALUES: &str = "__privagg_n";

/// The `p`-th percentile.
#[derive(Debug)]
pub(super) struct Percentile {
    p: f64,
}

/// `MEDIAN(x)`, `PERCENTILE_CONT(x, p)` / `QUANTILE_CONT(x, p)`.
pub(super) fn recognise(call: &Call<'_>) -> Option<Result<Arc<dyn DpAggregate>>> {
    let p = match call.name {
        "median" => Some(0.5),
        "percentile_cont" | "quantile_cont" => call
            .args
            .get(1)
            .and_then(literal_f64)
            .filter(|p| (0.0..=1.0).contains(p)),
        _ => return None,
    };
    Some(
        p.map(|p| Arc::new(Percentile { p }) as Arc<dyn DpAggregate>)
            .ok_or_else(|| rejected("PERCENTILE_CONT(x, p) needs a literal p between 0 and 1")),
    )
}

fn named(name: &str) -> Expr {
    col(datafusion::common::Column::from_name(name))
}

impl DpAggregate for Percentile {
    fn bounding(&self, call: &AggCall, unit: &str, rows: u32) -> Option<String> {
        super::clamped_values(call, unit, rows)
    }

    fn value_range(&self, call: &AggCall) -> Option<f64> {
        super::bounds_width(call)
    }

    fn calibrate(
        &self,
        call: &AggCall,
        share: &Share,
        b: Contribution,
        column: &dyn Fn(&str) -> String,
    ) -> Result<Vec<Component>> {
        let (lo, hi) = distinct_bounds(call)?;
        let tree = QuantileTree::new(lo, hi, TREE_HEIGHT, TREE_BRANCHING)
            .map_err(|e| rejected(format!("{}: {e}", call.label)))?;
        // A unit's rows in a group weigh at most L∞·W, and reach one node
        // per level: Δ₁ = H·k·L∞·W; Δ₂² = H·k·(L∞·W)² (within a level a
        // group's nodes share the weight, so their L2 is at most its L1).
        let per_group = i128::from(b.max_rows) * i128::from(WEIGHT_SCALE);
        let levels = TREE_HEIGHT;
        let sensitivity =
            L1Sensitivity::new(at_least(i128::from(levels * b.max_groups) * per_group))?;
        let l2 = L2Sensitivity::from_squared(BigRational::from_integer(
            num_bigint::BigInt::from(per_group) * per_group * levels * b.max_groups,
        ))?;
        // Both need ε-DP; under ρ-zCDP they get the ε with ε²/2 ≤ their ρ.
        let epsilon = share.laplace_epsilon()?;
        let mechanism = LaplaceMechanism::calibrate_integer(&epsilon, &sensitivity)?;
        // The exponential mechanism reads the same leaf weights, in bins of
        // `BINS_PER_CHOICE` leaves: a unit changes them by at most k·L∞·W (L1).
        let weight_bound = u64::try_from(i128::from(b.max_groups) * per_group)
            .map_err(|_| rejected(format!("{}: contribution bounds too large", call.label)))?;
        let exponential = ExponentialQuantile::new(
            lo,
            hi,
            tree.leaf_count() / BINS_PER_CHOICE,
            self.p,
            &epsilon,
            weight_bound,
        )
        .map_err(|e| rejected(format!("{}: {e}", call.label)))?;
        // The rule: the mechanism whose interval ends are nearer the
        // quantile's rank at 95% (public parameters only).
        let tree_radius = tree.rank_radii(&mechanism, 0.95)?.rank_radius(self.p);
        if exponential.rank_radius(0.95)? <= tree_radius {
            return Ok(vec![Component {
                kind: ComponentKind::ExponentialQuantile,
                noise: Noise::Exponential(exponential),
                grid: Grid::UNIT,
                sensitivity: L1Sensitivity::new(at_least(i128::from(weight_bound)))?,
                l2,
                clamp: None,
                tree: Some(tree),
                column: column("tree"),
            }]);
        }
        Ok(vec![Component {
            kind: ComponentKind::QuantileTree,
            noise: Noise::Laplace(mechanism),
            grid: Grid::UNIT,
            sensitivity,
            l2,
            clamp: None,
            tree: Some(tree),
            column: column("tree"),
        }])
    }

    fn has_own_plan(&self) -> bool {
        true
    }

    fn partials(&self, _plan: &AggregatePlan) -> Result<Vec<Partial>> {
        Ok(Vec::new())
    }

    fn contributions(
        &self,
        _plan: &AggregatePlan,
        _partials: &[Expr],
        _b: Contribution,
    ) -> Result<Vec<Expr>> {
        Ok(Vec::new())
    }

    /// The bounded leaf histogram: per (group, leaf) the sum over units of
    /// the unit's leaf count, reweighted so that a unit's rows in a group
    /// weigh at most `max_rows · WEIGHT_SCALE` (floored), for the same ≤ k
    /// groups per unit as the bounded aggregation picks.
    fn own_plan(&self, plan: &AggregatePlan, shape: PlanShape) -> Result<Option<LogicalPlan>> {
        let (lo, hi) = plan.call.bounds.unwrap_or((0.0, 0.0));
        let value = plan.call.value.clone().unwrap_or_else(|| lit(0.0));
        let leaf = call(
            Leaf::new(),
            vec![
                try_cast(value, DataType::Float64),
                lit(lo),
                lit(hi),
                lit(i64::from(TREE_HEIGHT)),
                lit(TREE_BRANCHING as i64),
            ],
        )
        .alias(LEAF);
        let mut group = shape.unit_and_keys;
        group.push(leaf);
        let per_leaf = shape
            .input
            .aggregate(group, vec![count(lit(1i64)).alias(ROWS)])
            .map_err(fail)?;
        let mut unit_group = vec![shape.unit.clone()];
        unit_group.extend(shape.keys.clone());
        let valued = when(named(LEAF).is_not_null(), named(ROWS))
            .otherwise(lit(0i64))
            .map_err(fail)?;
        let n = Expr::from(WindowFunction::new(
            WindowFunctionDefinition::AggregateUDF(sum_udaf()),
            vec![valued],
        ))
        .partition_by(unit_group)
        .build()
        .map_err(fail)?
        .alias(VALUES);
        // One window node per partitioning (DataFusion needs equal sort keys per node).
        let mut bounded = per_leaf.window(vec![n]).map_err(fail)?;
        if !shape.keys.is_empty() {
            // DENSE_RANK over (unit, keys, leaf) rows ranks the unit's groups
            // in the order the bounded aggregation keeps them.
            let rank = dense_rank()
                .partition_by(vec![shape.unit])
                .order_by(shape.l0_order)
                .build()
                .map_err(fail)?
                .alias(RANK);
            bounded = bounded
                .window(vec![rank])
                .map_err(fail)?
                .filter(named(RANK).lt_eq(lit(u64::from(shape.contribution.max_groups))))
                .map_err(fail)?;
        }
        bounded = bounded.filter(named(LEAF).is_not_null()).map_err(fail)?;
        let weight = cap(
            named(ROWS) * lit(WEIGHT_SCALE),
            named(VALUES),
            shape.contribution.max_rows,
            1,
        );
        let mut out_keys = shape.keys;
        out_keys.push(named(LEAF));
        bounded
            .aggregate(
                out_keys,
                vec![datafusion::functions_aggregate::expr_fn::sum(weight).alias(WEIGHT)],
            )
            .and_then(|b| b.build())
            .map(Some)
            .map_err(fail)
    }

    fn releaser<'a>(
        &'a self,
        plan: &'a AggregatePlan,
        confidence: f64,
    ) -> Result<Box<dyn GroupRelease + 'a>> {
        if let Some(mechanism) = exponential_of(plan) {
            return Ok(Box::new(ExponentialRelease {
                mechanism,
                confidence,
            }));
        }
        let (tree, mechanism) = tree_of(plan)?;
        // Interval radii depend only on public parameters: once per aggregate.
        let radii = tree.rank_radii(mechanism, confidence)?;
        Ok(Box::new(PercentileRelease {
            tree,
            mechanism,
            radii,
            p: self.p,
        }))
    }

    fn explain(&self, plan: &AggregatePlan) -> Result<Explained> {
        // Both count rows in fixed point; the output's error is in ranks:
        // rows of the group.
        let rows = WEIGHT_SCALE as f64;
        let (component, radius) = match exponential_of(plan) {
            Some(m) => (
                (
                    format!("{} (exponential mechanism scale, rows)", plan.call.label),
                    m.scale() / rows,
                ),
                m.rank_radius(0.95)? / rows,
            ),
            None => {
                let (tree, mechanism) = tree_of(plan)?;
                (
                    (
                        format!("{} (tree node, rows)", plan.call.label),
                        mechanism.half_width(0.95)? / rows,
                    ),
                    tree.rank_radii(mechanism, 0.95)?.rank_radius(self.p) / rows,
                )
            }
        };
        Ok(Explained {
            components: vec![component],
            output: OutputAccuracy {
                aggregate: plan.call.label.clone(),
                half_width: None,
                half_width_times_values: None,
                rank_radius: Some(radius),
                description: format!(
                    "the value at a rank within ±{radius:.0} rows of {}·n for a group of n rows \
                     (±{:.1}% of the group at n = 10,000); the interval in value units depends \
                     on the data's spread there",
                    self.p,
                    radius / 100.0
                ),
            },
        })
    }
}

fn tree_of(plan: &AggregatePlan) -> Result<(&QuantileTree, &LaplaceMechanism)> {
    plan.components
        .first()
        .and_then(|c| Some((c.tree.as_ref()?, c.noise.laplace()?)))
        .ok_or_else(|| rejected(format!("{}: internal: no quantile tree", plan.call.label)))
}

fn exponential_of(plan: &AggregatePlan) -> Option<&ExponentialQuantile> {
    match plan.components.first().map(|c| &c.noise) {
        Some(Noise::Exponential(m)) => Some(m),
        _ => None,
    }
}

/// The exponential mechanism's release: the leaf weights merged into its
/// bins (docs/privacy/exponential_quantile.md).
struct ExponentialRelease<'a> {
    mechanism: &'a ExponentialQuantile,
    confidence: f64,
}

impl GroupRelease for ExponentialRelease<'_> {
    fn release(&self, group: &GroupInput<'_>, rng: &mut SecureRng) -> Result<Released> {
        let bins: Vec<(u64, u64)> = group
            .leaves
            .unwrap_or(&[])
            .iter()
            .map(|(leaf, w)| (leaf / BINS_PER_CHOICE, *w))
            .collect();
        let e = self
            .mechanism
            .release(&bins, WEIGHT_SCALE as u64, self.confidence, rng)?;
        Ok((Some(e.value), Some(e.interval)))
    }
}

struct PercentileRelease<'a> {
    tree: &'a QuantileTree,
    mechanism: &'a LaplaceMechanism,
    radii: RankRadii,
    p: f64,
}

impl GroupRelease for PercentileRelease<'_> {
    /// A percentile from the group's noisy quantile tree, with an interval
    /// that covers the bounded data's percentile (docs/privacy/quantile_tree.md).
    fn release(&self, group: &GroupInput<'_>, rng: &mut SecureRng) -> Result<Released> {
        let leaves = group.leaves.unwrap_or(&[]);
        let q = self.tree.quantiles_with_intervals(
            leaves,
            self.mechanism,
            &[self.p],
            &self.radii,
            WEIGHT_SCALE as u64,
            rng,
        )?;
        Ok(q.first()
            .map_or((None, None), |e| (Some(e.value), Some(e.interval))))
    }
}
