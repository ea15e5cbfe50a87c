//! Exact accuracy of the noise: the smallest integer radius `k` such that the
//! noise `Z` satisfies `P[|Z| > k] <= 1 − confidence`, computed from the
//! discrete distribution itself (not a normal approximation), rounded so the
//! stated coverage is never overstated.

use serde::Serialize;

/// A two-sided interval `[low, high]` that contains the true (pre-noise)
/// value with at least `confidence` probability, over the noise.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ConfidenceInterval {
    /// Lower end.
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// The coverage probability it was computed for.
    pub confidence: f64,
}

impl ConfidenceInterval {
    /// The interval `released ± half_width`, rounded outwards when the float
    /// arithmetic is not exact (it is for integers below 2^53).
    pub fn around(released: f64, half_width: f64, confidence: f64) -> Self {
        let exact = |x: f64| x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0;
        if exact(released) && exact(half_width) {
            return Self {
                low: released - half_width,
                high: released + half_width,
                confidence,
            };
        }
        Self {
            low: (released - half_width).next_down(),
            high: (released + half_width).next_up(),
            confidence,
        }
    }

    /// Half the width of the interval.
    pub fn half_width(&self) -> f64 {
        (self.high - self.low) / 2.0
    }
}

/// Relative slack on float-computed tail probabilities, so that rounding in
/// `exp`/`ln`/`erfc` can only make an interval wider, never narrower.
const TAIL_SLACK: f64 = 1.0 + 1e-9;

/// Smallest `k >= 0` with `P[|Z| > k] <= alpha` for discrete Laplace noise of
/// scale `b`: `P[|Z| > k] = 2·q^(k+1)/(1+q)`, `q = e^(−1/b)`.
pub fn laplace_radius(b: f64, alpha: f64) -> f64 {
    let q = (-1.0 / b).exp();
    let tail = |k: f64| 2.0 * (-(k + 1.0) / b).exp() / (1.0 + q) * TAIL_SLACK;
    // Solve 2q^(k+1)/(1+q) = alpha for k, then fix up the float estimate.
    let estimate = (-b * (alpha * (1.0 + q) / 2.0).ln() - 1.0).ceil().max(0.0);
    let mut k = (estimate - 2.0).max(0.0);
    while tail(k) > alpha {
        k += 1.0 + (k * 1e-12).floor();
    }
    k
}

/// An integer `k >= 0` with `P[|Z_1 + … + Z_m| > k] <= alpha` for `m`
/// independent discrete Laplace variables of scale `b` (a sum of noisy
/// counts): [`laplace_sum_one_sided_radius`] at `alpha / 2`, the sum being
/// symmetric. For `m = 1` it is never below [`laplace_radius`].
pub fn laplace_sum_radius(b: f64, m: u64, alpha: f64) -> f64 {
    laplace_sum_one_sided_radius(b, m, alpha / 2.0)
}

/// An integer `k >= 0` with `P[Z_1 + … + Z_m > k] <= alpha` (equally
/// `P[Z_1 + … + Z_m < −k] <= alpha`) for `m` independent discrete Laplace
/// variables of scale `b`.
///
/// Chernoff bound with the exact moment generating function
/// `M(λ) = (1−q)² / ((1−q·e^λ)(1−q·e^(−λ)))`, `q = e^(−1/b)`, `0 < λ < 1/b`:
/// `P[S > k] = P[S >= k+1] <= e^(−λ(k+1))·M(λ)^m`, minimised over λ by a
/// coarse grid then a golden-section search around its best point (any λ
/// gives a valid bound, so the search only costs tightness, never coverage).
pub fn laplace_sum_one_sided_radius(b: f64, m: u64, alpha: f64) -> f64 {
    if m == 0 {
        return 0.0;
    }
    let ln_one_minus_q = (-(-1.0 / b).exp_m1()).ln();
    let ln_one_over_alpha = (1.0 / alpha).ln();
    // The bound on k + 1 at λ = u / b, for u in (0, 1).
    let bound = |u: f64| {
        let lambda = u / b;
        let ln_mgf = 2.0 * ln_one_minus_q
            - (-(lambda - 1.0 / b).exp_m1()).ln()
            - (-(-lambda - 1.0 / b).exp_m1()).ln();
        (m as f64 * ln_mgf + ln_one_over_alpha) / lambda
    };
    let steps = 64;
    let grid = |i: u32| f64::from(i) / f64::from(steps);
    let best = (1..steps)
        .min_by(|a, c| bound(grid(*a)).total_cmp(&bound(grid(*c))))
        .unwrap_or(1);
    let (mut lo, mut hi) = (grid(best - 1).max(1e-9), grid(best + 1).min(1.0 - 1e-9));
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    let mut found = bound(grid(best));
    for _ in 0..60 {
        let (x1, x2) = (hi - phi * (hi - lo), lo + phi * (hi - lo));
        let (f1, f2) = (bound(x1), bound(x2));
        found = found.min(f1).min(f2);
        if f1 < f2 {
            hi = x2;
        } else {
            lo = x1;
        }
    }
    // k + 1 >= found; round the float bound up before taking the integer.
    ((found * TAIL_SLACK).ceil() - 1.0).max(0.0)
}

/// Smallest `k >= 0` (up to float resolution) with `P[|Z| > k] <= alpha` for
/// discrete Gaussian noise with parameter σ.
///
/// For σ < 64 the tail is summed exactly from the PMF. Beyond, the bound
/// `P[|Z| > k] <= erfc(k / (σ√2))` is used: the normaliser
/// `Σ_z e^(−z²/2σ²) >= √(2π)·σ` (Poisson summation) and
/// `Σ_{z>k} e^(−z²/2σ²) <= ∫_k^∞ e^(−x²/2σ²) dx`; it is tight to ~1e-300 there.
pub fn gaussian_radius(sigma: f64, alpha: f64) -> f64 {
    if sigma < 64.0 {
        let m = (40.0 * sigma).ceil() as i64 + 10;
        let w = |x: i64| (-((x * x) as f64) / (2.0 * sigma * sigma)).exp();
        let total: f64 = (-m..=m).map(w).sum();
        // tail(k) = 2 Σ_{z>k} w(z) / total; walk k up from 0.
        let mut tail_mass: f64 = 2.0 * (1..=m).map(w).sum::<f64>();
        let mut k = 0i64;
        while tail_mass / total * TAIL_SLACK > alpha && k < m {
            k += 1;
            tail_mass -= 2.0 * w(k);
        }
        return k as f64;
    }
    let bound = |k: f64| libm::erfc(k / (sigma * std::f64::consts::SQRT_2)) * TAIL_SLACK;
    let (mut lo, mut hi) = (0.0f64, 40.0 * sigma);
    while hi - lo > 1.0 {
        let mid = ((lo + hi) / 2.0).floor();
        if bound(mid) <= alpha {
            hi = mid
        } else {
            lo = mid
        }
    }
    hi.ceil()
}

/// ln P[X >= x] for X ~ Binomial(n, p), summed in log space; meant for
/// `p <= x / n`, where the terms fall from k = x on, so the sum stops once
/// they are below 1e-30 of the first.
fn log_binomial_upper_tail(n: u64, x: u64, p: f64) -> f64 {
    let ln_term = |k: u64| -> f64 {
        libm::lgamma(n as f64 + 1.0)
            - libm::lgamma(k as f64 + 1.0)
            - libm::lgamma((n - k) as f64 + 1.0)
            + k as f64 * p.ln()
            + (n - k) as f64 * (1.0 - p).ln()
    };
    let first = ln_term(x);
    let mut sum = 0.0;
    for k in x..=n {
        let rel = ln_term(k) - first;
        if rel < -70.0 {
            break;
        }
        sum += rel.exp();
    }
    first + sum.ln()
}

/// The one-sided Clopper–Pearson lower confidence bound at level `alpha` for
/// a rate observed as `x` successes in `n` trials: the `p` with
/// `P[X >= x; n, p] = alpha`. Used to test that an event (e.g. releasing a
/// one-unit group) is not more frequent than a bound such as δ.
pub fn clopper_pearson_lower(x: u64, n: u64, alpha: f64) -> f64 {
    if x == 0 || n == 0 {
        return 0.0;
    }
    let (mut lo, mut hi) = (0.0f64, x as f64 / n as f64);
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if log_binomial_upper_tail(n, x, mid) < alpha.ln() {
            lo = mid
        } else {
            hi = mid
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discrete_laplace_pmf;

    #[test]
    fn laplace_radius_is_the_smallest_covering_integer() {
        for b in [0.5, 1.0, 3.7, 100.0] {
            for alpha in [0.05, 0.01, 0.001] {
                let k = laplace_radius(b, alpha) as i64;
                let covered = |k: i64| (-k..=k).map(|x| discrete_laplace_pmf(b, x)).sum::<f64>();
                assert!(1.0 - covered(k) <= alpha, "b {b} alpha {alpha} k {k}");
                if k > 0 {
                    assert!(
                        1.0 - covered(k - 1) > alpha,
                        "b {b} alpha {alpha}: k {k} not minimal"
                    );
                }
            }
        }
    }

    #[test]
    fn laplace_radius_at_grid_scale_matches_continuous_formula() {
        let b = 2f64.powi(40);
        let k = laplace_radius(b, 0.05);
        let continuous = -b * 0.05f64.ln();
        assert!((k - continuous).abs() / continuous < 1e-6);
    }

    #[test]
    fn laplace_sum_radius_covers_the_exact_sum_distribution() {
        // Exact PMF of a sum of m discrete Laplace variables by convolution.
        for (b, m) in [(1.0, 1u64), (2.0, 4), (4.0, 60), (0.7, 12)] {
            // Each term beyond ±40b has mass < e^-40: negligible at these alphas.
            let support = (40.0 * b) as i64 + 5;
            let single: Vec<f64> = (-support..=support)
                .map(|x| discrete_laplace_pmf(b, x))
                .collect();
            let mut sum = vec![1.0];
            for _ in 0..m {
                let mut next = vec![0.0; sum.len() + single.len() - 1];
                for (i, a) in sum.iter().enumerate() {
                    for (j, c) in single.iter().enumerate() {
                        next[i + j] += a * c;
                    }
                }
                sum = next;
            }
            let centre = (sum.len() / 2) as i64;
            for alpha in [0.05, 1e-6] {
                let k = laplace_sum_radius(b, m, alpha) as i64;
                let inside: f64 = sum
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| (*i as i64 - centre).abs() <= k)
                    .map(|(_, p)| p)
                    .sum();
                assert!(1.0 - inside <= alpha, "b {b} m {m} alpha {alpha} k {k}");
                let one = laplace_sum_one_sided_radius(b, m, alpha) as i64;
                let above: f64 = sum
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i as i64 - centre > one)
                    .map(|(_, p)| p)
                    .sum();
                assert!(
                    above <= alpha && one <= k,
                    "one-sided: b {b} m {m} alpha {alpha}"
                );
                // Not absurdly loose: within 2x of the exact radius.
                let exact = (0..)
                    .find(|r: &i64| {
                        let inner: f64 = sum
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| (*i as i64 - centre).abs() <= *r)
                            .map(|(_, p)| p)
                            .sum();
                        1.0 - inner <= alpha
                    })
                    .unwrap_or(i64::MAX);
                assert!(
                    k <= 2 * exact + 2,
                    "b {b} m {m} alpha {alpha}: {k} vs exact {exact}"
                );
            }
            if m == 1 {
                assert!(laplace_sum_radius(b, 1, 0.05) >= laplace_radius(b, 0.05));
            }
        }
    }

    #[test]
    fn gaussian_radius_matches_normal_quantile_for_large_sigma() {
        let k = gaussian_radius(1000.0, 0.05);
        assert!((k - 1959.96).abs() < 2.0, "{k}");
        // Small sigma: exact summation; ~95% of mass within k.
        let k = gaussian_radius(2.0, 0.05);
        assert_eq!(k, 4.0);
    }

    #[test]
    fn clopper_pearson_brackets_the_rate() {
        let lower = clopper_pearson_lower(50, 1000, 0.025);
        assert!((0.036..0.05).contains(&lower), "{lower}");
        assert_eq!(clopper_pearson_lower(0, 1000, 0.025), 0.0);
    }

    #[test]
    fn interval_rounds_outwards() {
        let ci = ConfidenceInterval::around(0.1, 0.2, 0.95);
        assert!(ci.low <= 0.1 - 0.2 && ci.high >= 0.1 + 0.2);
    }
}
