//! Confidence intervals for quantile-tree estimates, from the noisy counts
//! only (post-processing: no extra privacy cost).
//!
//! For a leaf boundary `x`, let `F(x)` be the (weighted) count of values below
//! `x` and `N` the total. The tree estimates `F(x)` by summing, on the path
//! from the root to `x`, the noisy counts of the siblings left of the path: at
//! most `m = height·(branching − 1)` noisy counts, so the estimate's error is
//! a sum of at most `m` independent discrete Laplace draws; `N` is estimated
//! by the `branching` children of the root.
//!
//! The lower end is found by a greedy descent that, inside the current node,
//! takes the rightmost child whose left edge `y` passes a test
//! `F̃(y) ≤ target`. Boundaries at or above the data's quantile are "bad".
//! The descent only ever tests boundaries inside its current node, and it is
//! inside a node holding bad inner boundaries only when that node strictly
//! contains the first bad boundary — one node per level, fixed by the data,
//! not by the noise. So the bad boundaries that can be tested form a fixed set
//! of at most `m` boundaries, and a union bound over that set alone (one-sided
//! tails, `(α/3)/m` per boundary with the radius for its own number of noisy
//! counts, `α/3` for the total) makes the interval cover the quantile with
//! probability at least `1 − α`. See
//! `docs/privacy/quantile_tree.md`.

use rand::{CryptoRng, RngCore};

use super::{NoisyTree, QuantileTree};
use crate::accuracy::{ConfidenceInterval, laplace_sum_one_sided_radius, laplace_sum_radius};
use crate::error::{NoiseError, Result};
use crate::laplace::LaplaceMechanism;
use crate::params::check_confidence;

/// A DP quantile and the interval that contains the data's quantile with at
/// least the interval's confidence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantileEstimate {
    /// The estimate (as [`QuantileTree::quantiles`]).
    pub value: f64,
    /// The interval, which always contains `value`.
    pub interval: ConfidenceInterval,
}

/// Error radii of a tree's rank estimates at one confidence level, each
/// holding with its share of α. They depend only on public parameters (the
/// tree's shape, the mechanism, the confidence): compute them once per
/// aggregate with [`QuantileTree::rank_radii`] and reuse them for every group.
#[derive(Clone, Debug, PartialEq)]
pub struct RankRadii {
    /// One-sided error of a below-boundary count that sums `i` noisy counts,
    /// at index `i` (0 ..= m), each at `(α/3)/m`: a union over the at most `m`
    /// boundaries one end of the interval can wrongly pass.
    below: Vec<f64>,
    /// Two-sided error of the total.
    total: f64,
    /// What they were computed for.
    confidence: f64,
    scale: f64,
}

impl RankRadii {
    /// How far (in counts, or weights) from `p · N` the rank of the interval's
    /// ends may be at most: `t_F + p·t_N`, with `t_F` for a boundary estimated
    /// from the most noisy counts (ends at boundaries estimated from fewer
    /// counts get closer). Can be shown before a query runs.
    pub fn rank_radius(&self, p: f64) -> f64 {
        self.below.last().copied().unwrap_or(0.0) + p.clamp(0.0, 1.0) * self.total
    }

    /// The confidence level they hold at.
    pub fn confidence(&self) -> f64 {
        self.confidence
    }
}

impl QuantileTree {
    /// The radii of this tree's rank estimates under `mechanism` at `confidence`.
    ///
    /// # Errors
    /// [`crate::NoiseError::InvalidParameter`] for a confidence outside (0, 1).
    pub fn rank_radii(&self, mechanism: &LaplaceMechanism, confidence: f64) -> Result<RankRadii> {
        let alpha = 1.0 - check_confidence(confidence)?;
        let scale = mechanism.scale();
        let terms = self.max_terms();
        let each = alpha / 3.0 / terms as f64;
        Ok(RankRadii {
            below: (0..=terms)
                .map(|i| laplace_sum_one_sided_radius(scale, i, each))
                .collect(),
            total: laplace_sum_radius(scale, self.branching, alpha / 3.0),
            confidence,
            scale,
        })
    }

    /// The most noisy counts a below-boundary estimate sums: `h·(b − 1)`.
    fn max_terms(&self) -> u64 {
        u64::from(self.height) * (self.branching - 1)
    }

    /// As [`Self::quantiles`], each with a confidence interval at the
    /// confidence of `radii` (from [`Self::rank_radii`] for this tree and mechanism).
    ///
    /// `value_weight` is the count one value adds to its leaf (1 for plain
    /// counts). The interval covers every value between the order statistics
    /// that bracket rank `p·(n − 1)` (so `PERCENTILE_CONT(p)` of the values,
    /// clamped to the tree's bounds), with probability at least the confidence
    /// over the noise.
    ///
    /// # Errors
    /// As [`Self::quantiles`], and [`NoiseError::InvalidParameter`] for radii
    /// made for another tree shape or mechanism.
    pub fn quantiles_with_intervals<R: RngCore + CryptoRng + ?Sized>(
        &self,
        leaf_counts: &[(u64, u64)],
        mechanism: &LaplaceMechanism,
        ps: &[f64],
        radii: &RankRadii,
        value_weight: u64,
        rng: &mut R,
    ) -> Result<Vec<QuantileEstimate>> {
        if radii.scale != mechanism.scale() || radii.below.len() as u64 != self.max_terms() + 1 {
            return Err(NoiseError::InvalidParameter {
                name: "rank radii",
                value: format!("scale {}", radii.scale),
                reason: "radii must come from rank_radii for the same tree and mechanism",
            });
        }
        let confidence = radii.confidence;
        let mut noisy = self.noisy_tree(leaf_counts, mechanism, ps)?;
        let w = value_weight as f64;
        let mut out = Vec::with_capacity(ps.len());
        for p in ps {
            let value = noisy.descend(*p, rng);
            let total = noisy.total(rng) as f64;
            // F(x) <= p(N − w) puts the quantile at or above x; F(x) >= p(N − w) + w below.
            // Each boundary's test adds the radius for its own number of noisy counts.
            let low_target = p * (total - radii.total - w);
            let high_target = p * (total + radii.total - w) + w;
            let low = noisy.highest_boundary_below(low_target, &radii.below, rng);
            let high = noisy.lowest_boundary_above(high_target, &radii.below, rng);
            out.push(QuantileEstimate {
                value,
                interval: ConfidenceInterval {
                    low: low.min(value),
                    high: high.max(value),
                    confidence,
                },
            });
        }
        Ok(out)
    }
}

impl NoisyTree<'_> {
    /// Noisy total: the sum of the root's children.
    fn total<R: RngCore + CryptoRng + ?Sized>(&mut self, rng: &mut R) -> i128 {
        (0..self.tree.branching)
            .map(|i| self.noisy(1, i, rng))
            .fold(0i128, i128::saturating_add)
    }

    /// Estimates of the below-count at the inner edges of `node` at `level`
    /// (index k − 1 for the left edge of child k, k in 1..b), from the
    /// estimate `below` at its left edge: one more noisy count per edge.
    fn inner_edges<R: RngCore + CryptoRng + ?Sized>(
        &mut self,
        level: u32,
        node: u64,
        below: i128,
        rng: &mut R,
    ) -> Vec<i128> {
        let b = self.tree.branching;
        let mut running = below;
        let mut edges = Vec::with_capacity(b as usize - 1);
        for j in 0..b - 1 {
            running = running.saturating_add(self.noisy(level, node * b + j, rng));
            edges.push(running);
        }
        edges
    }

    /// Descends from the root; at each level `pick` chooses a child from the
    /// node's inner-edge estimates, each paired with its radius
    /// (`radius[i]`, `i` the noisy counts the estimate sums). Returns the leaf.
    fn descend_by<R: RngCore + CryptoRng + ?Sized>(
        &mut self,
        radius: &[f64],
        pick: impl Fn(&[(f64, f64)]) -> usize,
        rng: &mut R,
    ) -> u64 {
        let b = self.tree.branching;
        let (mut node, mut below, mut terms) = (0u64, 0i128, 0usize);
        for level in 1..=self.tree.height {
            let edges = self.inner_edges(level, node, below, rng);
            let scored: Vec<(f64, f64)> = edges
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let r = radius.get(terms + i + 1).copied();
                    (*e as f64, r.unwrap_or(f64::INFINITY))
                })
                .collect();
            let child = pick(&scored).min(b as usize - 1);
            if child > 0 {
                below = edges[child - 1];
            }
            (node, terms) = (node * b + child as u64, terms + child);
        }
        node
    }

    /// A leaf boundary whose estimated below-count `F̃` passes
    /// `F̃ + radius ≤ target`, or the lower bound when none does (nothing is
    /// below it), found greedily: at each level the rightmost child whose left
    /// edge passes.
    fn highest_boundary_below<R: RngCore + CryptoRng + ?Sized>(
        &mut self,
        target: f64,
        radius: &[f64],
        rng: &mut R,
    ) -> f64 {
        let pick = |edges: &[(f64, f64)]| {
            (1..=edges.len())
                .rev()
                .find(|k| edges[k - 1].0 + edges[k - 1].1 <= target)
                .unwrap_or(0)
        };
        let leaf = self.descend_by(radius, pick, rng);
        self.value_at(leaf as f64)
    }

    /// A leaf boundary whose estimated below-count `F̃` passes
    /// `F̃ − radius ≥ target`, or the upper bound when none does (everything
    /// is below it), found greedily: at each level the leftmost child whose
    /// right edge passes, else the last child (whose right edge is the
    /// node's, which passed above).
    fn lowest_boundary_above<R: RngCore + CryptoRng + ?Sized>(
        &mut self,
        target: f64,
        radius: &[f64],
        rng: &mut R,
    ) -> f64 {
        let pick = |edges: &[(f64, f64)]| {
            // Child j's right edge is inner edge j + 1.
            edges
                .iter()
                .position(|(e, r)| e - r >= target)
                .unwrap_or(edges.len())
        };
        let leaf = self.descend_by(radius, pick, rng);
        self.value_at(leaf as f64 + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Epsilon;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// PERCENTILE_CONT of sorted values.
    fn percentile_cont(sorted: &[f64], p: f64) -> f64 {
        let h = p * (sorted.len() - 1) as f64;
        let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
        sorted[lo] + (h - h.floor()) * (sorted[hi] - sorted[lo])
    }

    fn skewed(n: usize, rng: &mut StdRng) -> Vec<f64> {
        // Log-normal-ish spend in [0, 1000): exp of a sum of uniforms.
        let mut v: Vec<f64> = (0..n)
            .map(|_| {
                let u: f64 = (0..4).map(|_| rng.next_u32() as f64 / 4.3e9).sum();
                (u * 1.7).exp().min(999.0)
            })
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    #[test]
    fn intervals_cover_the_percentile_and_shrink_with_data() {
        let tree = QuantileTree::new(0.0, 1000.0, 4, 16).expect("tree");
        let mech = tree
            .calibrate(&Epsilon::new(0.5).expect("e"), 1)
            .expect("mech");
        let mut rng = StdRng::seed_from_u64(90); // test-only
        let radii = tree.rank_radii(&mech, 0.95).expect("radii");
        let mut widths = Vec::new();
        for n in [30usize, 3_000, 300_000] {
            let values = skewed(n, &mut rng);
            let leaves = tree.leaf_counts(values.iter().copied());
            let ps = [0.05, 0.5, 0.9];
            let truth: Vec<f64> = ps.iter().map(|p| percentile_cont(&values, *p)).collect();
            let (mut covered, mut width, trials) = (0, 0.0, 200);
            for _ in 0..trials {
                let est = tree
                    .quantiles_with_intervals(&leaves, &mech, &ps, &radii, 1, &mut rng)
                    .expect("quantiles");
                for (e, t) in est.iter().zip(&truth) {
                    assert!(e.interval.low <= e.value && e.value <= e.interval.high);
                    covered += usize::from(e.interval.low <= *t && *t <= e.interval.high);
                    width += e.interval.high - e.interval.low;
                }
            }
            let rate = covered as f64 / (trials * ps.len()) as f64;
            assert!(rate >= 0.95, "n {n}: coverage {rate}");
            widths.push(width / (trials * ps.len()) as f64);
        }
        // Tiny groups get (almost) the whole domain; large ones a narrow band.
        assert!(widths[0] > 500.0, "{widths:?}");
        assert!(widths[2] < 20.0, "{widths:?}");
        assert!(widths[0] > widths[1] && widths[1] > widths[2], "{widths:?}");
    }

    #[test]
    fn weighted_values_and_extreme_quantiles() {
        // Weight 1024 per value (the SQL layer's fixed point), sensitivity to match.
        let tree = QuantileTree::new(-50.0, 50.0, 3, 8).expect("tree");
        let mech = tree
            .calibrate(&Epsilon::new(1.0).expect("e"), 1024)
            .expect("mech");
        let mut rng = StdRng::seed_from_u64(91); // test-only
        let values: Vec<f64> = (0..20_000).map(|i| f64::from(i % 100) - 50.0).collect();
        let leaves: Vec<(u64, u64)> = tree
            .leaf_counts(values.iter().copied())
            .into_iter()
            .map(|(l, c)| (l, c * 1024))
            .collect();
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let radii = tree.rank_radii(&mech, 0.9).expect("radii");
        for p in [0.0, 0.25, 1.0] {
            let t = percentile_cont(&sorted, p);
            for _ in 0..50 {
                let e = tree
                    .quantiles_with_intervals(&leaves, &mech, &[p], &radii, 1024, &mut rng)
                    .expect("q")[0];
                assert!(
                    e.interval.low <= t && t <= e.interval.high,
                    "p {p}: {t} outside {e:?}"
                );
                assert!(e.interval.high - e.interval.low < 10.0, "p {p}: {e:?}");
            }
        }
    }

    #[test]
    fn empty_data_gives_the_whole_domain_and_bad_radii_fail() {
        let tree = QuantileTree::new(0.0, 10.0, 2, 4).expect("tree");
        let mech = tree
            .calibrate(&Epsilon::new(1.0).expect("e"), 1)
            .expect("mech");
        let mut rng = StdRng::seed_from_u64(92); // test-only
        let radii = tree.rank_radii(&mech, 0.95).expect("radii");
        let e = tree
            .quantiles_with_intervals(&[], &mech, &[0.5], &radii, 1, &mut rng)
            .expect("q")[0];
        assert_eq!((e.interval.low, e.interval.high), (0.0, 10.0));
        assert_eq!(e.interval.confidence, 0.95);
        assert!(tree.rank_radii(&mech, 1.0).is_err());
        // Radii of another mechanism or another tree shape are refused.
        let other = tree
            .calibrate(&Epsilon::new(0.1).expect("e"), 1)
            .expect("mech");
        let deeper = QuantileTree::new(0.0, 10.0, 3, 4).expect("tree");
        for wrong in [
            tree.rank_radii(&other, 0.95).expect("radii"),
            deeper.rank_radii(&mech, 0.95).expect("radii"),
        ] {
            assert!(
                tree.quantiles_with_intervals(&[], &mech, &[0.5], &wrong, 1, &mut rng)
                    .is_err()
            );
        }
        // The radius grows with p (the total's share) and with less ε.
        let (r0, r1) = (radii.rank_radius(0.0), radii.rank_radius(1.0));
        assert!(0.0 < r0 && r0 < r1, "{r0} {r1}");
        let less_epsilon = tree.rank_radii(&other, 0.95).expect("radii");
        assert!(less_epsilon.rank_radius(0.5) > 5.0 * radii.rank_radius(0.5));
    }
}
