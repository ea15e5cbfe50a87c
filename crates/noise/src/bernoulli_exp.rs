//! Exact Bernoulli(exp(−γ)) for rational γ ≥ 0 — Algorithm 1 of Canonne,
//! Kamath & Steinke, *The Discrete Gaussian for Differential Privacy* (2020).
//!
//! For γ ∈ [0, 1]: draw A_k ~ Bernoulli(γ/k) for k = 1, 2, … until the first
//! A_k = 0; return 1 iff that k is odd. The probability of stopping at an odd k
//! is Σ (−γ)^j / j! = exp(−γ). For γ > 1, exp(−γ) = exp(−1)^⌊γ⌋ · exp(−(γ − ⌊γ⌋)).
//! Bernoulli(γ/k) is drawn as Bernoulli(1/k) ∧ Bernoulli(γ) (independent), so
//! every draw is an exact integer comparison on uniform words.

use num_bigint::BigUint;
use num_integer::Integer;
use num_traits::Zero;
use rand::RngCore;

use crate::rng::{bernoulli_big, bernoulli_u64};

/// The γ ∈ [0, 1] case, with Bernoulli(γ) supplied by the caller.
#[inline]
fn bernoulli_exp_unit<R, G>(rng: &mut R, mut bernoulli_gamma: G) -> bool
where
    R: RngCore + ?Sized,
    G: FnMut(&mut R) -> bool,
{
    let mut k: u64 = 1;
    loop {
        // Bernoulli(γ/k) = Bernoulli(1/k) ∧ Bernoulli(γ); 1/k first: it is cheaper.
        let a = (k == 1 || bernoulli_u64(1, k, rng)) && bernoulli_gamma(rng);
        if !a {
            return k % 2 == 1;
        }
        k = k.saturating_add(1);
    }
}

/// Bernoulli(exp(−1)).
#[inline]
pub(crate) fn bernoulli_exp_minus_one<R: RngCore + ?Sized>(rng: &mut R) -> bool {
    bernoulli_exp_unit(rng, |_| true)
}

/// Bernoulli(exp(−n/d)) for `0 <= n <= d`, `d > 0`, in 64-bit arithmetic.
#[inline]
pub(crate) fn bernoulli_exp_fraction_u64<R: RngCore + ?Sized>(n: u64, d: u64, rng: &mut R) -> bool {
    if n == 0 {
        return true;
    }
    bernoulli_exp_unit(rng, |r| bernoulli_u64(n, d, r))
}

/// Bernoulli(exp(−n/d)) for any rational `n/d >= 0` (`d > 0`).
pub(crate) fn bernoulli_exp_big<R: RngCore + ?Sized>(
    n: &BigUint,
    d: &BigUint,
    rng: &mut R,
) -> bool {
    let (whole, frac) = n.div_rem(d);
    // exp(−1)^⌊γ⌋: each factor fails with probability 1 − 1/e, so this loop
    // ends after fewer than two draws on average however large ⌊γ⌋ is.
    let mut i = BigUint::zero();
    while i < whole {
        if !bernoulli_exp_minus_one(rng) {
            return false;
        }
        i += 1u8;
    }
    if frac.is_zero() {
        return true;
    }
    bernoulli_exp_unit(rng, |r| bernoulli_big(&frac, d, r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn rate(trials: u32, mut f: impl FnMut() -> bool) -> f64 {
        (0..trials).filter(|_| f()).count() as f64 / f64::from(trials)
    }

    #[test]
    fn matches_exp_minus_gamma() {
        let mut rng = StdRng::seed_from_u64(11); // test-only
        let n = 200_000;
        // 4.5 standard errors of a binomial proportion: a false alarm is ~1e-5.
        let tol = |p: f64| 4.5 * (p * (1.0 - p) / f64::from(n)).sqrt();
        let p = rate(n, || bernoulli_exp_minus_one(&mut rng));
        assert!((p - (-1f64).exp()).abs() < tol(0.37), "{p}");
        let p = rate(n, || bernoulli_exp_fraction_u64(3, 10, &mut rng));
        assert!((p - (-0.3f64).exp()).abs() < tol(0.74), "{p}");
        let (num, den) = (BigUint::from(5u8), BigUint::from(2u8));
        let p = rate(n, || bernoulli_exp_big(&num, &den, &mut rng));
        assert!((p - (-2.5f64).exp()).abs() < tol(0.08), "{p}");
        let p = rate(n, || bernoulli_exp_big(&BigUint::zero(), &den, &mut rng));
        assert_eq!(p, 1.0);
    }
}
