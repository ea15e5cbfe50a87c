//! The discrete Gaussian distribution on ℤ, sampled exactly.
//!
//! `P[X = x] ∝ exp(−x² / 2σ²)`. Algorithm 3 of Canonne, Kamath & Steinke
//! (2020): with `t = ⌊σ⌋ + 1`, draw `Y` from the discrete Laplace of scale `t`
//! and accept it with probability `exp(−(|Y| − σ²/t)² / 2σ²)`, drawn exactly by
//! Bernoulli(exp(−γ)) on the rational γ. σ² is an exact rational.

use num_bigint::BigUint;
use num_traits::ToPrimitive;
use rand::{CryptoRng, RngCore};

use crate::bernoulli_exp::bernoulli_exp_big;
use crate::discrete_laplace::DiscreteLaplace;
use crate::error::{NoiseError, Result};
use crate::exact::{to_f64_up, to_naturals};
use crate::params::NoiseScale;
use num_rational::BigRational;

/// An exact discrete Gaussian sampler, parameterised by the exact variance σ².
///
/// ```
/// use num_rational::BigRational;
/// use privagg_noise::{DiscreteGaussian, SecureRng};
/// let g = DiscreteGaussian::from_variance(BigRational::from_integer(9.into())).unwrap();
/// let x: i128 = g.sample(&mut SecureRng::from_os());
/// # let _ = x;
/// ```
#[derive(Clone, Debug)]
pub struct DiscreteGaussian {
    variance: BigRational,
    numer: BigUint,
    denom: BigUint,
    t: BigUint,
    laplace: DiscreteLaplace,
}

impl DiscreteGaussian {
    /// A sampler with variance parameter `σ² = variance` (exact).
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] when σ² is not positive or σ is outside
    /// the valid [`NoiseScale`] range.
    pub fn from_variance(variance: BigRational) -> Result<Self> {
        let (numer, denom) =
            to_naturals(&variance).ok_or_else(|| NoiseError::InvalidParameter {
                name: "variance",
                value: variance.to_string(),
                reason: "the Gaussian variance must be positive",
            })?;
        // ⌊σ⌋ = ⌊√⌊σ²⌋⌋.
        let t = (&numer / &denom).sqrt() + 1u8;
        let laplace = DiscreteLaplace::new(&NoiseScale::from_ratio(BigRational::from_integer(
            t.clone().into(),
        ))?)?;
        Ok(Self {
            variance,
            numer,
            denom,
            t,
            laplace,
        })
    }

    /// The exact variance parameter σ².
    pub fn variance(&self) -> &BigRational {
        &self.variance
    }

    /// σ rounded up to an `f64`.
    pub fn sigma(&self) -> f64 {
        to_f64_up(&self.variance).sqrt().next_up()
    }

    /// One exact sample (saturating at ±(2^127 − 1), as [`DiscreteLaplace::sample`]).
    pub fn sample<R: RngCore + CryptoRng + ?Sized>(&self, rng: &mut R) -> i128 {
        // γ = (|Y|·d·t − n)² / (2·n·d·t²) with σ² = n/d.
        let gamma_denom = BigUint::from(2u8) * &self.numer * &self.denom * &self.t * &self.t;
        let dt = &self.denom * &self.t;
        loop {
            let y = self.laplace.sample(rng);
            let a = BigUint::from(y.unsigned_abs()) * &dt;
            let diff = if a >= self.numer {
                a - &self.numer
            } else {
                &self.numer - a
            };
            if bernoulli_exp_big(&(&diff * &diff), &gamma_denom, rng) {
                return y;
            }
        }
    }
}

/// Unnormalised `exp(−x²/2σ²)` (float; for tests and accuracy).
pub fn discrete_gaussian_weight(sigma: f64, x: i64) -> f64 {
    let x = x.to_f64().unwrap_or(f64::MAX);
    (-(x * x) / (2.0 * sigma * sigma)).exp()
}

#[cfg(test)]
#[path = "discrete_gaussian_tests.rs"]
mod tests;
