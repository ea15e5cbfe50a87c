//! One DP quantile by the exponential mechanism over a bounded domain cut into
//! equal bins (Smith 2011, as OpenDP's `make_quantile_score_candidates`),
//! sampled exactly, with a confidence interval from two more exponential
//! mechanisms.
//!
//! # Scores
//! For weighted values (a unit's rows weigh at most a fixed bound in a group)
//! let `L(j)` be the weight in bins below bin `j`, `N` the total and `w` the
//! weight of one value; the target rank is `T = p·(N − w)` (as the quantile
//! tree's). Bin `j` covers the ranks `[L(j), L(j+1)]`, and scores its distance
//! to a target rank `t`: `s_t(j) = max(0, L(j) − t, t − L(j+1))`. Adding or
//! removing a unit that adds `d_below`, `d_in`, `d_above ≥ 0` (in total at most
//! `D`) to a group moves `L(j) − T` by `d_below − p·(d_below + d_in + d_above)`
//! ∈ `[−p·D, (1 − p)·D]` and `T − L(j+1)` likewise, so every score moves by at
//! most `max(p, 1 − p)·D`. A unit's weight changes of all groups together are at
//! most `D_total` (the weight bound: `k · L∞ · weight scale`), so with
//! `Δ = max(p, 1 − p)·D_total`, choosing bin `j` with probability
//! `∝ exp(−ε·s(j) / (2Δ))` independently per group is ε-DP for all groups
//! together (McSherry & Talwar 2007; the group losses add to at most ε because
//! the groups' `D` add to at most `D_total`).
//!
//! # Exact sampling
//! With `b = 2Δ/ε` rational and scores rational, bin `j` is proposed with
//! probability `1/bins` (an exact uniform integer) and accepted with
//! probability `exp(−(s(j) − s_min)/b)` (exact Bernoulli(exp(−γ)), Canonne,
//! Kamath & Steinke 2020); the accepted bin has exactly the exponential
//! mechanism's distribution. At most `bins + 1` proposals are expected
//! (the best bin is accepted with probability 1). No floating point touches
//! the draw.
//!
//! # Interval
//! ε is split: 1/5 for the point (`t = T`, the bin's midpoint is released),
//! 2/5 for each end. The lower end targets `t = T − r` over the bins plus one
//! extra candidate, the domain's lower bound, with the constant score `c`; it
//! releases the chosen bin's lower edge. A bin with `L(j) > T` (lower edge
//! above the data's quantile) scores more than `r`, so it is chosen with
//! probability at most `bins · exp(−(r − c)/b)` (the extra candidate has weight
//! `exp(−c/b)`): with `r = c + b·ln(2·bins/α)` that is `α/2`. The upper end is
//! symmetric (`t = T + w + r`, upper edges, the domain's upper bound). Both ends
//! hold with probability at least `1 − α`, and the interval is widened to
//! contain the point. `c = b·ln 100` makes the extra candidate unlikely (at
//! most 1% against a bin of score 0) when there is data. `r`, `c` and `b`
//! depend on public parameters only. See `docs/privacy/exponential_quantile.md`.

use num_bigint::{BigInt, BigUint};
use num_rational::BigRational;
use num_traits::{Signed, Zero};

use rand::{CryptoRng, RngCore};

use crate::accuracy::ConfidenceInterval;
use crate::bernoulli_exp::bernoulli_exp_big;
use crate::error::{Result, invalid};
use crate::exact::{exact_binary, to_naturals};
use crate::params::{Epsilon, check_confidence};
use crate::privacy_loss::PrivacyLoss;
use crate::quantile_tree::QuantileEstimate;
use crate::rng::uniform_below_u64;

/// Parts of ε out of [`PARTS`]: the point's.
const POINT_PARTS: i64 = 1;
/// Parts of ε out of [`PARTS`]: each interval end's.
const END_PARTS: i64 = 2;
/// ε is cut in this many parts.
const PARTS: i64 = POINT_PARTS + 2 * END_PARTS;
/// `c / b`: the extra candidate's score in noise scales (`ln 100`).
const EXTRA_SCORE_SCALES: f64 = 4.605_170_185_988_092;

/// The exponential mechanism for the `p`-quantile of weighted values in
/// `[lower, upper]`, cut into `bins` equal bins.
///
/// ```
/// use privagg_noise::{Epsilon, ExponentialQuantile, SecureRng};
/// let q = ExponentialQuantile::new(0.0, 100.0, 4096, 0.5, &Epsilon::new(1.0).unwrap(), 1).unwrap();
/// // 1,000 values 0..99 (ten of each), one per unit, each weighing 1.
/// let bins: Vec<(u64, u64)> = (0..100u64).map(|v| (v * 4096 / 100, 10)).collect();
/// let e = q.release(&bins, 1, 0.95, &mut SecureRng::from_os()).unwrap();
/// assert!((e.value - 50.0).abs() < 10.0);
/// assert!(e.interval.low <= e.value && e.value <= e.interval.high);
/// ```
#[derive(Clone, Debug)]
pub struct ExponentialQuantile {
    lower: f64,
    upper: f64,
    bins: u64,
    p: BigRational,
    epsilon: BigRational,
    /// `b = 2Δ/ε_part` of the point.
    point_scale: BigRational,
    /// `b` of each end.
    end_scale: BigRational,
    /// The ends' extra candidate's score `c = b·ln 100`.
    extra: BigRational,
}

/// A run of bins with one score (or the extra candidate, `bins` long 1).
struct Run {
    first: u64,
    len: u64,
    score: BigRational,
}

/// What a draw chose.
enum Choice {
    Bin(u64),
    Extra,
}

impl ExponentialQuantile {
    /// The mechanism at `epsilon` for the `p`-quantile when one unit changes
    /// the bin weights of all groups together by at most `weight_bound` (L1).
    ///
    /// # Errors
    /// [`crate::NoiseError::InvalidParameter`] for bounds that are not finite
    /// with `lower < upper`, `bins` outside 1..=2^32, `p` outside [0, 1] or a
    /// zero weight bound.
    pub fn new(
        lower: f64,
        upper: f64,
        bins: u64,
        p: f64,
        epsilon: &Epsilon,
        weight_bound: u64,
    ) -> Result<Self> {
        if !(lower.is_finite() && upper.is_finite() && lower < upper) {
            return Err(invalid(
                "quantile bounds",
                format!("[{lower}, {upper}]"),
                "bounds must be finite with lower < upper",
            ));
        }
        if !(1..=1 << 32).contains(&bins) {
            return Err(invalid("bins", bins, "between 1 and 2^32 bins"));
        }
        let exact_p = exact_binary(p)
            .filter(|r| !r.is_negative() && *r <= BigRational::from_integer(1.into()))
            .ok_or_else(|| invalid("quantile", p, "p must be between 0 and 1"))?;
        if weight_bound == 0 {
            return Err(invalid(
                "weight bound",
                0,
                "each unit must be able to add some weight",
            ));
        }
        let one = BigRational::from_integer(1.into());
        let larger_side = std::cmp::max(exact_p.clone(), &one - &exact_p);
        // Δ = max(p, 1 − p)·D; b = 2Δ/ε_part = 2Δ·PARTS/(ε·parts).
        let delta = larger_side * BigRational::from_integer(weight_bound.into());
        let scale_of = |parts: i64| {
            BigRational::from_integer(BigInt::from(2 * PARTS)) * &delta
                / (epsilon.as_ratio() * BigRational::from_integer(parts.into()))
        };
        let end_scale = scale_of(END_PARTS);
        let extra = &end_scale * exact_binary(EXTRA_SCORE_SCALES).unwrap_or_default();
        Ok(Self {
            lower,
            upper,
            bins,
            p: exact_p,
            epsilon: epsilon.as_ratio().clone(),
            point_scale: scale_of(POINT_PARTS),
            end_scale,
            extra,
        })
    }

    /// The exact loss: the three draws' ε add to the mechanism's ε.
    pub fn privacy_loss(&self) -> PrivacyLoss {
        PrivacyLoss::pure(self.epsilon.clone())
    }

    /// The point's noise scale `b` (weight units).
    pub fn scale(&self) -> f64 {
        crate::exact::to_f64_up(&self.point_scale)
    }

    /// How far (weight units) from the target rank each end of the interval
    /// aims: `r = c + b·ln(2·bins/α)`. Public: it depends on the parameters only.
    ///
    /// # Errors
    /// [`crate::NoiseError::InvalidParameter`] for a confidence outside (0, 1).
    pub fn end_radius(&self, confidence: f64) -> Result<f64> {
        let alpha = 1.0 - check_confidence(confidence)?;
        let b = crate::exact::to_f64_up(&self.end_scale);
        let r = b * (EXTRA_SCORE_SCALES + (2.0 * self.bins as f64 / alpha).ln());
        // Rounded up: a larger r only widens the interval.
        Ok(r * (1.0 + 1e-9))
    }

    /// How far (weight units) from the target rank the ends' ranks are at
    /// most, at `confidence`: `2r` (each end lands within `r` of its target,
    /// which is `r` from the quantile's rank). Comparable with
    /// [`crate::RankRadii::rank_radius`].
    ///
    /// # Errors
    /// As [`Self::end_radius`].
    pub fn rank_radius(&self, confidence: f64) -> Result<f64> {
        Ok(2.0 * self.end_radius(confidence)?)
    }

    /// The quantile of one group's weighted values and its interval at
    /// `confidence`. `bin_weights` are `(bin, weight)` pairs (any order,
    /// bins below `bins`); `value_weight` is the weight of one value.
    ///
    /// # Errors
    /// [`crate::NoiseError::InvalidParameter`] for a bin out of range or a
    /// confidence outside (0, 1).
    pub fn release<R: RngCore + CryptoRng + ?Sized>(
        &self,
        bin_weights: &[(u64, u64)],
        value_weight: u64,
        confidence: f64,
        rng: &mut R,
    ) -> Result<QuantileEstimate> {
        let r = exact_binary(self.end_radius(confidence)?)
            .ok_or_else(|| invalid("radius", "NaN", "the end radius must be finite"))?;
        let weights = self.sorted(bin_weights)?;
        let total: u128 = weights.iter().map(|(_, w)| u128::from(*w)).sum();
        let w = BigRational::from_integer(value_weight.into());
        let target = &self.p * (BigRational::from_integer(BigInt::from(total)) - &w);

        let point = self.draw(&weights, &target, &self.point_scale, None, rng);
        let value = match point {
            Choice::Bin(j) => (self.edge(j) + self.edge(j + 1)) / 2.0,
            Choice::Extra => (self.lower + self.upper) / 2.0,
        };
        let low_target = &target - &r;
        let low = match self.draw(
            &weights,
            &low_target,
            &self.end_scale,
            Some(&self.extra),
            rng,
        ) {
            Choice::Bin(j) => self.edge(j),
            Choice::Extra => self.lower,
        };
        let high_target = &target + &w + &r;
        let high = match self.draw(
            &weights,
            &high_target,
            &self.end_scale,
            Some(&self.extra),
            rng,
        ) {
            Choice::Bin(j) => self.edge(j + 1),
            Choice::Extra => self.upper,
        };
        Ok(QuantileEstimate {
            value,
            interval: ConfidenceInterval {
                low: low.min(value),
                high: high.max(value),
                confidence,
            },
        })
    }

    /// The lower edge of bin `j` (`j = bins` is the upper bound).
    fn edge(&self, j: u64) -> f64 {
        if j >= self.bins {
            return self.upper;
        }
        self.lower + (self.upper - self.lower) * (j as f64 / self.bins as f64)
    }

    /// Bin weights merged per bin, sorted by bin, zero weights dropped.
    fn sorted(&self, bin_weights: &[(u64, u64)]) -> Result<Vec<(u64, u64)>> {
        let mut sorted: Vec<(u64, u64)> = bin_weights
            .iter()
            .copied()
            .filter(|(_, w)| *w > 0)
            .collect();
        sorted.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(sorted.len());
        for (bin, w) in sorted {
            if bin >= self.bins {
                return Err(invalid("bin", bin, "a bin beyond the domain"));
            }
            match merged.last_mut() {
                Some((b, sum)) if *b == bin => *sum = sum.saturating_add(w),
                _ => merged.push((bin, w)),
            }
        }
        Ok(merged)
    }

    /// The runs of equal-score bins for target rank `t`: each non-empty bin
    /// alone, each gap between them as one run.
    fn runs(&self, weights: &[(u64, u64)], t: &BigRational) -> Vec<Run> {
        let score = |below: u128, through: u128| {
            let below = BigRational::from_integer(BigInt::from(below));
            let through = BigRational::from_integer(BigInt::from(through));
            let zero = BigRational::zero();
            let a = &below - t;
            let b = t - &through;
            std::cmp::max(zero, std::cmp::max(a, b))
        };
        let mut runs = Vec::with_capacity(2 * weights.len() + 1);
        let (mut next, mut below) = (0u64, 0u128);
        for &(bin, w) in weights {
            if bin > next {
                runs.push(Run {
                    first: next,
                    len: bin - next,
                    score: score(below, below),
                });
            }
            let through = below + u128::from(w);
            runs.push(Run {
                first: bin,
                len: 1,
                score: score(below, through),
            });
            below = through;
            next = bin + 1;
        }
        if next < self.bins {
            runs.push(Run {
                first: next,
                len: self.bins - next,
                score: score(below, below),
            });
        }
        runs
    }

    /// One exact exponential-mechanism draw over the bins (and the extra
    /// candidate with score `extra`, when given) for target rank `t`.
    fn draw<R: RngCore + CryptoRng + ?Sized>(
        &self,
        weights: &[(u64, u64)],
        t: &BigRational,
        scale: &BigRational,
        extra: Option<&BigRational>,
        rng: &mut R,
    ) -> Choice {
        let mut runs = self.runs(weights, t);
        if let Some(c) = extra {
            runs.push(Run {
                first: self.bins,
                len: 1,
                score: c.clone(),
            });
        }
        let best = runs
            .iter()
            .map(|r| &r.score)
            .min()
            .cloned()
            .unwrap_or_default();
        // γ_i = (s_i − s_min)/b as a ratio of naturals, once per run.
        // Zero for the best runs (accepted outright); positive otherwise.
        let gammas: Vec<Option<(BigUint, BigUint)>> = runs
            .iter()
            .map(|r| to_naturals(&((&r.score - &best) / scale)))
            .collect();
        let mut ends = Vec::with_capacity(runs.len());
        let mut total = 0u64;
        for r in &runs {
            total += r.len;
            ends.push(total);
        }
        loop {
            let u = uniform_below_u64(total, rng);
            let i = ends.partition_point(|&end| end <= u);
            let accept = match &gammas[i] {
                None => true,
                Some((n, d)) => bernoulli_exp_big(n, d, rng),
            };
            if accept {
                let run = &runs[i];
                if run.first == self.bins {
                    return Choice::Extra;
                }
                let start = ends[i] - run.len;
                return Choice::Bin(run.first + (u - start));
            }
        }
    }
}

#[cfg(test)]
#[path = "exponential_quantile_tests.rs"]
mod tests;
