//! Partition selection: deciding which group keys found in private data may
//! be released. A key held by a single unit must be released with probability
//! at most δ (adjusted for units in k groups). Privacy claims and references:
//! `docs/privacy/partition_selection.md`.

use rand::{CryptoRng, RngCore};

use crate::accuracy::{gaussian_radius, laplace_radius};
use crate::error::{Result, invalid};
use crate::exact::{ratio, to_f64_down};
use crate::gaussian::GaussianMechanism;
use crate::laplace::LaplaceMechanism;
use crate::params::{Delta, Epsilon, L1Sensitivity, L2Sensitivity};
use crate::privacy_loss::PrivacyLoss;
use crate::rng::{bernoulli_complement_at_most, bernoulli_f64_at_most};

/// Most entries the truncated-geometric keep table may hold.
const MAX_TABLE: usize = 10_000_000;

/// Which rule decides whether a group is released.
#[derive(Clone, Debug)]
enum Rule {
    /// Keep iff `units + Z >= threshold`, Z discrete Laplace.
    LaplaceThreshold {
        noise: LaplaceMechanism,
        threshold: i128,
    },
    /// Keep iff `units + Z >= threshold`, Z discrete Gaussian.
    GaussianThreshold {
        noise: GaussianMechanism,
        threshold: i128,
    },
    /// Keep with probability π(units): `keep[n] = (π(n), 1 − π(n))`, π = 1 beyond.
    TruncatedGeometric { keep: Vec<(f64, f64)> },
}

/// A partition-selection rule for units that contribute to at most `k` groups.
///
/// ```
/// use privagg_noise::{Delta, Epsilon, PartitionSelector, SecureRng};
/// let sel = PartitionSelector::truncated_geometric(
///     &Epsilon::new(1.0).unwrap(), &Delta::new(1e-6).unwrap(), 1).unwrap();
/// let mut rng = SecureRng::from_os();
/// assert!(!sel.keep(0, &mut rng));
/// assert!(sel.keep(1_000, &mut rng));
/// ```
#[derive(Clone, Debug)]
pub struct PartitionSelector {
    rule: Rule,
    loss: PrivacyLoss,
    max_partitions: u32,
}

impl PartitionSelector {
    /// Laplace thresholding: distinct-unit count plus discrete Laplace noise
    /// of scale k/ε, kept above the smallest threshold τ with
    /// `P[1 + Z >= τ] <= δ/k` (Wilson et al. 2020; Google's DP library).
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] for δ = 0 or k = 0.
    pub fn laplace_threshold(
        epsilon: &Epsilon,
        delta: &Delta,
        max_partitions: u32,
    ) -> Result<Self> {
        let per_partition_delta = per_partition_delta(delta, max_partitions)?;
        let k = L1Sensitivity::new(f64::from(max_partitions))?;
        let noise = LaplaceMechanism::calibrate_integer(epsilon, &k)?;
        // radius: P[|Z| > r] <= 2δ_p, so P[Z > r] <= δ_p by symmetry.
        let r = laplace_radius(noise.scale(), 2.0 * per_partition_delta);
        let threshold = r as i128 + 2;
        let eps = noise.privacy_loss(&k).epsilon().clone();
        let loss = PrivacyLoss::approximate(eps, delta.as_ratio().clone());
        Ok(Self {
            rule: Rule::LaplaceThreshold { noise, threshold },
            loss,
            max_partitions,
        })
    }

    /// Gaussian thresholding: distinct-unit count plus discrete Gaussian noise
    /// for L2 sensitivity √k at (ε, δ/2), kept above the smallest τ with
    /// `P[1 + Z >= τ] <= δ/(2k)`. Total (ε, δ)-DP.
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] for δ = 0 or k = 0.
    pub fn gaussian_threshold(
        epsilon: &Epsilon,
        delta: &Delta,
        max_partitions: u32,
    ) -> Result<Self> {
        let half = Delta::from_ratio(delta.as_ratio() / ratio(2, 1))?;
        let per_partition_delta = per_partition_delta(&half, max_partitions)?;
        let k = L2Sensitivity::sqrt_of(u64::from(max_partitions))?;
        let noise = GaussianMechanism::calibrate_integer(epsilon, &half, &k)?;
        let r = gaussian_radius(noise.sigma(), 2.0 * per_partition_delta);
        let threshold = r as i128 + 2;
        let eps = noise.privacy_loss(&k)?.epsilon().clone();
        let loss = PrivacyLoss::approximate(eps, delta.as_ratio().clone());
        Ok(Self {
            rule: Rule::GaussianThreshold { noise, threshold },
            loss,
            max_partitions,
        })
    }

    /// The near-optimal truncated-geometric rule (Desfontaines, Voss, Gipson &
    /// Mandayam, PoPETs 2022): keep a group of n units with probability π(n),
    /// π(0) = 0, π(n) = min(e^ε'·π(n−1) + δ', 1 − e^(−ε')·(1 − π(n−1) − δ'), 1),
    /// with ε' = ε/k and δ' = δ/k for units in k groups.
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] for δ/k below 1e-30, k = 0, or a
    /// table that would exceed 10^7 entries (ε too small: use Laplace thresholding).
    pub fn truncated_geometric(
        epsilon: &Epsilon,
        delta: &Delta,
        max_partitions: u32,
    ) -> Result<Self> {
        let dp = per_partition_delta(delta, max_partitions)?;
        if dp < 1e-30 {
            return Err(invalid(
                "delta",
                delta,
                "truncated-geometric selection needs delta / max_groups_contributed >= 1e-30",
            ));
        }
        // Slack for float error in π (relative ~1e-15) and the 2^-128 draws.
        let eps_p = to_f64_down(epsilon.as_ratio()) / f64::from(max_partitions) * (1.0 - 1e-9);
        let delta_p = dp * (1.0 - 1e-6);
        let keep = keep_table(eps_p, delta_p)?;
        let loss = PrivacyLoss::approximate(epsilon.as_ratio().clone(), delta.as_ratio().clone());
        Ok(Self {
            rule: Rule::TruncatedGeometric { keep },
            loss,
            max_partitions,
        })
    }

    /// Decides, with fresh randomness, whether a group with `units` distinct
    /// privacy units is released.
    pub fn keep<R: RngCore + CryptoRng + ?Sized>(&self, units: u64, rng: &mut R) -> bool {
        if units == 0 {
            return false;
        }
        match &self.rule {
            Rule::LaplaceThreshold { noise, threshold } => {
                noise.release_integer(i128::from(units), rng) >= *threshold
            }
            Rule::GaussianThreshold { noise, threshold } => {
                noise.release_integer(i128::from(units), rng) >= *threshold
            }
            Rule::TruncatedGeometric { keep } => match keep.get(units as usize) {
                None => true,
                Some((p, _)) if *p < 0.5 => bernoulli_f64_at_most(*p, rng),
                Some((_, c)) => bernoulli_complement_at_most(*c, rng),
            },
        }
    }

    /// The privacy loss of the selection step.
    pub fn privacy_loss(&self) -> &PrivacyLoss {
        &self.loss
    }

    /// The L0 bound the rule was calibrated for.
    pub fn max_partitions(&self) -> u32 {
        self.max_partitions
    }

    /// The number of units at which a group is kept with probability at least
    /// 1/2: groups well below it are usually suppressed (public parameters only).
    pub fn units_for_even_odds(&self) -> u64 {
        match &self.rule {
            Rule::LaplaceThreshold { threshold, .. }
            | Rule::GaussianThreshold { threshold, .. } => {
                u64::try_from(*threshold).unwrap_or(u64::MAX)
            }
            Rule::TruncatedGeometric { keep } => keep
                .iter()
                .position(|(p, _)| *p >= 0.5)
                .unwrap_or(keep.len()) as u64,
        }
    }
}

/// The threshold τ for selecting groups on a distinct-unit count that is
/// *released anyway* with integer Laplace noise `noise` (sensitivity k, one
/// unit in at most `max_partitions` groups): the smallest τ with
/// `P[1 + Z >= τ] <= δ/k`. Keeping a group iff its noisy count is at least
/// τ adds δ and no ε to the count's own loss (Wilson et al. 2020, §3:
/// a group only one of two neighbours has holds exactly one unit, and is
/// kept with probability at most δ/k; on the other groups the selection is
/// post-processing of the noisy counts). See `docs/privacy/partition_selection.md`.
///
/// # Errors
/// [`NoiseError::InvalidParameter`] for δ = 0 or k = 0.
pub fn laplace_count_threshold(
    noise: &LaplaceMechanism,
    delta: &Delta,
    max_partitions: u32,
) -> Result<i128> {
    let per_partition_delta = per_partition_delta(delta, max_partitions)?;
    Ok(laplace_radius(noise.scale(), 2.0 * per_partition_delta) as i128 + 2)
}

/// [`laplace_count_threshold`] for a count released with discrete Gaussian noise.
///
/// # Errors
/// [`NoiseError::InvalidParameter`] for δ = 0 or k = 0.
pub fn gaussian_count_threshold(
    noise: &GaussianMechanism,
    delta: &Delta,
    max_partitions: u32,
) -> Result<i128> {
    let per_partition_delta = per_partition_delta(delta, max_partitions)?;
    Ok(gaussian_radius(noise.sigma(), 2.0 * per_partition_delta) as i128 + 2)
}

fn per_partition_delta(delta: &Delta, max_partitions: u32) -> Result<f64> {
    if delta.is_zero() {
        return Err(invalid(
            "delta",
            delta,
            "releasing group keys found in private data needs delta > 0 (or declare public group values)",
        ));
    }
    if max_partitions == 0 {
        return Err(invalid(
            "max_groups_contributed",
            0,
            "each unit must be allowed at least one group",
        ));
    }
    Ok(to_f64_down(delta.as_ratio()) / f64::from(max_partitions))
}

/// π(n) and 1 − π(n) for n = 0.. until π reaches 1, each computed in the form
/// (π or its complement) where it is small, so relative precision is kept.
fn keep_table(eps: f64, delta: f64) -> Result<Vec<(f64, f64)>> {
    let (grow, shrink) = (eps.exp(), (-eps).exp());
    let mut table = vec![(0.0, 1.0)];
    let (mut p, mut c) = (0.0f64, 1.0f64);
    while c > 0.0 {
        if table.len() >= MAX_TABLE {
            return Err(invalid(
                "epsilon",
                eps,
                "epsilon per group is too small for truncated-geometric selection; use LAPLACE_THRESHOLD",
            ));
        }
        let from_below = grow * p + delta; // candidate π(n)
        let from_above = shrink * (c - delta); // candidate 1 − π(n)
        if from_below < 0.5 && from_below <= 1.0 - from_above {
            p = from_below;
            c = 1.0 - from_below;
        } else {
            c = (1.0 - from_below).max(from_above).max(0.0);
            p = 1.0 - c;
        }
        table.push((p, c));
    }
    Ok(table)
}

#[cfg(test)]
#[path = "partition_selection_tests.rs"]
mod tests;
