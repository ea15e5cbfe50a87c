//! DP quantiles over a bounded domain with a quantile tree of noisy counts
//! (as Google's `quantile-tree`): the domain `[lower, upper]` is cut into
//! `branching^height` equal leaves; every node holds the count of values in
//! its subtree; a quantile is found by descending from the root, at each level
//! picking the child whose noisy cumulative count crosses the target rank.
//!
//! # Privacy
//! A unit contributing at most `c` values changes the counts of each level by
//! at most `c` in L1, so all node counts together have L1 sensitivity
//! `height · c`; noising every node with discrete Laplace of scale
//! `height · c / ε` makes the whole tree ε-DP, and any number of quantiles read
//! from it are post-processing. Nodes the descent never visits have no
//! influence on the output, so their noise is drawn only when first visited.
//! See `docs/privacy/quantile_tree.md`.

use std::collections::HashMap;

use rand::{CryptoRng, RngCore};

use crate::error::{NoiseError, Result, invalid};
use crate::laplace::LaplaceMechanism;
use crate::params::{Epsilon, L1Sensitivity};
use crate::privacy_loss::PrivacyLoss;

mod interval;
pub use interval::{QuantileEstimate, RankRadii};

/// The shape of a quantile tree over `[lower, upper]`.
///
/// ```
/// use privagg_noise::{Epsilon, QuantileTree, SecureRng};
/// let tree = QuantileTree::new(0.0, 100.0, 4, 16).unwrap();
/// let values = (0..1000).map(|i| f64::from(i % 100));
/// let leaves = tree.leaf_counts(values);
/// let mech = tree.calibrate(&Epsilon::new(1.0).unwrap(), 1).unwrap();
/// let q = tree.quantiles(&leaves, &mech, &[0.5], &mut SecureRng::from_os()).unwrap();
/// assert!((q[0] - 50.0).abs() < 10.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantileTree {
    lower: f64,
    upper: f64,
    height: u32,
    branching: u64,
}

impl QuantileTree {
    /// A tree of `branching^height` leaves over `[lower, upper]`.
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] for non-finite or empty bounds, a
    /// height outside 1..=8, a branching factor outside 2..=64, or more than 2^32 leaves.
    pub fn new(lower: f64, upper: f64, height: u32, branching: u64) -> Result<Self> {
        if !(lower.is_finite() && upper.is_finite() && lower < upper) {
            return Err(invalid(
                "quantile bounds",
                format!("[{lower}, {upper}]"),
                "bounds must be finite with lower < upper",
            ));
        }
        if !(1..=8).contains(&height) || !(2..=64).contains(&branching) {
            return Err(invalid(
                "quantile tree shape",
                format!("height {height}, branching {branching}"),
                "height must be 1..=8 and branching 2..=64",
            ));
        }
        if branching.checked_pow(height).is_none_or(|n| n > 1 << 32) {
            return Err(invalid(
                "quantile tree shape",
                format!("{branching}^{height} leaves"),
                "at most 2^32 leaves",
            ));
        }
        Ok(Self {
            lower,
            upper,
            height,
            branching,
        })
    }

    /// Number of leaves.
    pub fn leaf_count(&self) -> u64 {
        self.branching.pow(self.height)
    }

    /// The leaf of a value; values outside the bounds clamp to the edge
    /// leaves, NaN goes to the lowest (callers drop NaN first).
    pub fn leaf_of(&self, value: f64) -> u64 {
        let n = self.leaf_count();
        let frac = (value - self.lower) / (self.upper - self.lower);
        let idx = (frac * n as f64).floor();
        if idx.is_nan() {
            0
        } else {
            idx.clamp(0.0, (n - 1) as f64) as u64
        }
    }

    /// Exact per-leaf counts of some values, sorted by leaf.
    pub fn leaf_counts(&self, values: impl IntoIterator<Item = f64>) -> Vec<(u64, u64)> {
        let mut map: HashMap<u64, u64> = HashMap::new();
        for v in values {
            *map.entry(self.leaf_of(v)).or_default() += 1;
        }
        let mut counts: Vec<(u64, u64)> = map.into_iter().collect();
        counts.sort_unstable();
        counts
    }

    /// The Laplace mechanism for this tree when each unit contributes at most
    /// `max_values` values: integer scale `height · max_values / ε`.
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] for `max_values = 0` or out-of-range scales.
    pub fn calibrate(&self, epsilon: &Epsilon, max_values: u64) -> Result<LaplaceMechanism> {
        LaplaceMechanism::calibrate_integer(epsilon, &self.sensitivity(max_values)?)
    }

    /// The L1 sensitivity of all node counts: `height · max_values`.
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] for `max_values = 0`.
    pub fn sensitivity(&self, max_values: u64) -> Result<L1Sensitivity> {
        if max_values == 0 {
            return Err(invalid(
                "max values per unit",
                0,
                "each unit must contribute at least one value",
            ));
        }
        L1Sensitivity::new(f64::from(self.height) * max_values as f64)
    }

    /// The privacy loss of a tree noised by `mechanism` for `max_values` per unit.
    ///
    /// # Errors
    /// As [`Self::sensitivity`].
    pub fn privacy_loss(
        &self,
        mechanism: &LaplaceMechanism,
        max_values: u64,
    ) -> Result<PrivacyLoss> {
        Ok(mechanism.privacy_loss(&self.sensitivity(max_values)?))
    }

    /// DP estimates of the quantiles `ps` (each in [0, 1]) from exact leaf
    /// counts (`(leaf, count)` sorted by leaf), with node noise from `mechanism`
    /// (integer, as made by [`Self::calibrate`]). All quantiles share one noisy tree.
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] for a p outside [0, 1] or a mechanism on a
    /// non-unit grid.
    pub fn quantiles<R: RngCore + CryptoRng + ?Sized>(
        &self,
        leaf_counts: &[(u64, u64)],
        mechanism: &LaplaceMechanism,
        ps: &[f64],
        rng: &mut R,
    ) -> Result<Vec<f64>> {
        let mut noisy = self.noisy_tree(leaf_counts, mechanism, ps)?;
        Ok(ps.iter().map(|p| noisy.descend(*p, rng)).collect())
    }

    /// Checks the mechanism and the quantiles, and sets up the lazily noised tree.
    fn noisy_tree<'a>(
        &'a self,
        leaf_counts: &[(u64, u64)],
        mechanism: &'a LaplaceMechanism,
        ps: &[f64],
    ) -> Result<NoisyTree<'a>> {
        if mechanism.granularity() != 1.0 {
            return Err(NoiseError::InvalidParameter {
                name: "mechanism",
                value: format!("grid {}", mechanism.granularity()),
                reason: "quantile trees need an integer mechanism (QuantileTree::calibrate)",
            });
        }
        if let Some(p) = ps.iter().find(|p| !(0.0..=1.0).contains(*p)) {
            return Err(invalid("quantile", p, "quantiles must be between 0 and 1"));
        }
        Ok(NoisyTree {
            tree: self,
            prefix: prefix_sums(leaf_counts),
            mechanism,
            noise: HashMap::new(),
        })
    }
}

/// Prefix sums over sorted leaf counts, for subtree counts by binary search.
struct Prefix {
    leaves: Vec<u64>,
    cumulative: Vec<u128>,
}

fn prefix_sums(leaf_counts: &[(u64, u64)]) -> Prefix {
    let mut acc = 0u128;
    let mut cumulative = Vec::with_capacity(leaf_counts.len() + 1);
    cumulative.push(0);
    for (_, c) in leaf_counts {
        acc += u128::from(*c);
        cumulative.push(acc);
    }
    Prefix {
        leaves: leaf_counts.iter().map(|(l, _)| *l).collect(),
        cumulative,
    }
}

impl Prefix {
    /// Total count of leaves in `[from, to)`.
    fn range(&self, from: u64, to: u64) -> u128 {
        let a = self.leaves.partition_point(|l| *l < from);
        let b = self.leaves.partition_point(|l| *l < to);
        self.cumulative[b] - self.cumulative[a]
    }
}

struct NoisyTree<'a> {
    tree: &'a QuantileTree,
    prefix: Prefix,
    mechanism: &'a LaplaceMechanism,
    noise: HashMap<(u32, u64), i128>,
}

impl NoisyTree<'_> {
    /// Noisy count of node `index` at `level` (1 = children of the root),
    /// clamped at zero; the noise is drawn once per node and reused.
    fn count<R: RngCore + CryptoRng + ?Sized>(
        &mut self,
        level: u32,
        index: u64,
        rng: &mut R,
    ) -> f64 {
        self.noisy(level, index, rng).max(0) as f64
    }

    /// Noisy count of node `index` at `level`, not clamped (interval bounds
    /// use these: the noise stays centred).
    fn noisy<R: RngCore + CryptoRng + ?Sized>(
        &mut self,
        level: u32,
        index: u64,
        rng: &mut R,
    ) -> i128 {
        let width = self.tree.branching.pow(self.tree.height - level);
        let exact = self.prefix.range(index * width, (index + 1) * width) as i128;
        let mechanism = self.mechanism;
        let z = *self
            .noise
            .entry((level, index))
            .or_insert_with(|| mechanism.release_integer(0, rng));
        exact.saturating_add(z)
    }

    fn descend<R: RngCore + CryptoRng + ?Sized>(&mut self, p: f64, rng: &mut R) -> f64 {
        let b = self.tree.branching;
        let mut node = 0u64;
        let mut fraction = p;
        for level in 1..=self.tree.height {
            let children: Vec<f64> = (0..b)
                .map(|i| self.count(level, node * b + i, rng))
                .collect();
            let total: f64 = children.iter().sum();
            if total <= 0.0 {
                // No signal below here: interpolate uniformly within the node.
                let leaves_per_child = b.pow(self.tree.height - level + 1) as f64;
                return self.value_at(node as f64 * leaves_per_child + fraction * leaves_per_child);
            }
            let target = fraction * total;
            let mut before = 0.0;
            let mut chosen = b - 1;
            for (i, c) in children.iter().enumerate() {
                if before + c >= target && *c > 0.0 {
                    chosen = i as u64;
                    break;
                }
                before += c;
            }
            let c = children[chosen as usize];
            fraction = if c > 0.0 {
                ((target - before) / c).clamp(0.0, 1.0)
            } else {
                0.5
            };
            node = node * b + chosen;
        }
        self.value_at(node as f64 + fraction)
    }

    /// The value at a fractional leaf position.
    fn value_at(&self, leaf_position: f64) -> f64 {
        let n = self.tree.leaf_count() as f64;
        let span = self.tree.upper - self.tree.lower;
        (self.tree.lower + leaf_position / n * span).clamp(self.tree.lower, self.tree.upper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn median_of_uniform_data_is_close() {
        let tree = QuantileTree::new(0.0, 1000.0, 4, 16).expect("tree");
        let values: Vec<f64> = (0..100_000).map(|i| f64::from(i % 1000)).collect();
        let leaves = tree.leaf_counts(values.iter().copied());
        let mech = tree
            .calibrate(&Epsilon::new(1.0).expect("e"), 1)
            .expect("mech");
        let mut rng = StdRng::seed_from_u64(80); // test-only
        let qs = tree
            .quantiles(&leaves, &mech, &[0.1, 0.5, 0.9], &mut rng)
            .expect("quantiles");
        for (q, want) in qs.iter().zip([100.0, 500.0, 900.0]) {
            assert!((q - want).abs() < 5.0, "{q} vs {want}");
        }
    }

    #[test]
    fn skewed_data_and_empty_data() {
        let tree = QuantileTree::new(0.0, 100.0, 3, 10).expect("tree");
        let mut values = vec![5.0; 9000];
        values.extend(vec![95.0; 1000]);
        let leaves = tree.leaf_counts(values);
        let mech = tree
            .calibrate(&Epsilon::new(1.0).expect("e"), 1)
            .expect("mech");
        let mut rng = StdRng::seed_from_u64(81); // test-only
        let qs = tree
            .quantiles(&leaves, &mech, &[0.5, 0.95], &mut rng)
            .expect("quantiles");
        assert!(
            (qs[0] - 5.0).abs() < 1.0 && (qs[1] - 95.0).abs() < 1.0,
            "{qs:?}"
        );
        let empty = tree
            .quantiles(&[], &mech, &[0.5], &mut rng)
            .expect("quantiles");
        assert!((0.0..=100.0).contains(&empty[0]));
    }

    #[test]
    fn leaves_clamp_and_sensitivity() {
        let tree = QuantileTree::new(-1.0, 1.0, 2, 4).expect("tree");
        assert_eq!(tree.leaf_of(-5.0), 0);
        assert_eq!(tree.leaf_of(5.0), 15);
        assert_eq!(tree.leaf_of(f64::NAN), 0);
        assert_eq!(tree.sensitivity(3).expect("s").to_f64(), 6.0);
    }

    #[test]
    fn invalid_shapes_and_quantiles() {
        assert!(QuantileTree::new(1.0, 1.0, 4, 16).is_err());
        assert!(QuantileTree::new(0.0, f64::INFINITY, 4, 16).is_err());
        assert!(QuantileTree::new(0.0, 1.0, 9, 16).is_err());
        assert!(QuantileTree::new(0.0, 1.0, 8, 64).is_err());
        let tree = QuantileTree::new(0.0, 1.0, 2, 4).expect("tree");
        let mech = tree
            .calibrate(&Epsilon::new(1.0).expect("e"), 1)
            .expect("mech");
        let mut rng = StdRng::seed_from_u64(82); // test-only
        assert!(tree.quantiles(&[], &mech, &[1.5], &mut rng).is_err());
        assert!(tree.calibrate(&Epsilon::new(1.0).expect("e"), 0).is_err());
    }
}
