//! The discrete Laplace distribution on ℤ, sampled exactly.
//!
//! `P[X = x] = (e^{1/b} − 1) / (e^{1/b} + 1) · e^{−|x|/b}` for scale `b > 0`.
//! Algorithm 2 of Canonne, Kamath & Steinke (2020): with `b = t/s`, draw
//! `U ~ Uniform{0..t−1}` accepted with probability `exp(−U/t)`, `V ~ Geometric(1 − e^{−1})`,
//! set `Y = ⌊(U + tV)/s⌋`, and a uniform sign (rejecting `−0`).
//! Every step is an integer comparison on uniform random words: no floating
//! point is involved, so the attacks of Mironov (2012) do not apply.

use num_bigint::BigUint;
use num_traits::ToPrimitive;
use rand::{CryptoRng, RngCore};

use crate::bernoulli_exp::{
    bernoulli_exp_big, bernoulli_exp_fraction_u64, bernoulli_exp_minus_one,
};
use crate::error::Result;
use crate::exact::{round_up_to_u64_ratio, to_naturals};
use crate::params::NoiseScale;
use crate::rng::{uniform_below_big, uniform_below_u64};

/// An exact discrete Laplace sampler.
///
/// ```
/// use privagg_noise::{DiscreteLaplace, NoiseScale, SecureRng};
/// let lap = DiscreteLaplace::new(&NoiseScale::new(2.5).unwrap()).unwrap();
/// let x: i128 = lap.sample(&mut SecureRng::from_os());
/// # let _ = x;
/// ```
#[derive(Clone, Debug)]
pub struct DiscreteLaplace {
    scale: NoiseScale,
    repr: Repr,
}

#[derive(Clone, Debug)]
enum Repr {
    /// `b = t/s` with both in 64 bits: every draw is a 64-bit operation.
    Fast { t: u64, s: u64 },
    /// Scales of 2^64 and beyond: big-integer arithmetic.
    Big { t: BigUint, s: BigUint },
}

impl DiscreteLaplace {
    /// A sampler with scale at least `scale`: the scale is rounded *up* (by a
    /// relative 2^-62 at most) to a fraction of 64-bit integers when that
    /// makes sampling faster. [`DiscreteLaplace::scale`] is the exact scale used.
    ///
    /// # Errors
    /// Never for a validated scale; kept for forward compatibility.
    pub fn new(scale: &NoiseScale) -> Result<Self> {
        let rounded = round_up_to_u64_ratio(scale.as_ratio());
        let scale = NoiseScale::from_ratio(rounded)?;
        let (t, s) = to_naturals(scale.as_ratio())
            .ok_or(crate::error::NoiseError::Overflow("scale is not positive"))?;
        let repr = match (t.to_u64(), s.to_u64()) {
            (Some(t), Some(s)) => Repr::Fast { t, s },
            _ => Repr::Big { t, s },
        };
        Ok(Self { scale, repr })
    }

    /// The exact scale this sampler draws with.
    pub fn scale(&self) -> &NoiseScale {
        &self.scale
    }

    /// One exact sample. Values beyond ±(2^127 − 1) saturate (probability
    /// below exp(−2^27) for any valid scale).
    pub fn sample<R: RngCore + CryptoRng + ?Sized>(&self, rng: &mut R) -> i128 {
        match &self.repr {
            Repr::Fast { t, s } => sample_fast(*t, *s, rng),
            Repr::Big { t, s } => sample_big(t, s, rng),
        }
    }
}

fn geometric_exp_minus_one<R: RngCore + ?Sized>(rng: &mut R) -> u64 {
    let mut v = 0u64;
    while bernoulli_exp_minus_one(rng) {
        v = v.saturating_add(1);
    }
    v
}

fn signed(magnitude: u128, negative: bool) -> i128 {
    let m = magnitude.min(i128::MAX as u128) as i128;
    if negative { -m } else { m }
}

#[inline]
fn sample_fast<R: RngCore + ?Sized>(t: u64, s: u64, rng: &mut R) -> i128 {
    loop {
        let u = uniform_below_u64(t, rng);
        if !bernoulli_exp_fraction_u64(u, t, rng) {
            continue;
        }
        let v = geometric_exp_minus_one(rng);
        let x = u128::from(u).saturating_add(u128::from(t).saturating_mul(u128::from(v)));
        let y = x / u128::from(s);
        let negative = rng.next_u32() & 1 == 1;
        if negative && y == 0 {
            continue;
        }
        return signed(y, negative);
    }
}

/// Exact sample for a big-integer scale `t/s`.
pub(crate) fn sample_big<R: RngCore + ?Sized>(t: &BigUint, s: &BigUint, rng: &mut R) -> i128 {
    loop {
        let u = uniform_below_big(t, rng);
        if !bernoulli_exp_big(&u, t, rng) {
            continue;
        }
        let v = geometric_exp_minus_one(rng);
        let y = (u + t * BigUint::from(v)) / s;
        let negative = rng.next_u32() & 1 == 1;
        if negative && y == BigUint::ZERO {
            continue;
        }
        return signed(y.to_u128().unwrap_or(u128::MAX), negative);
    }
}

/// `P[X = x]` of the discrete Laplace with scale `b` (float; for tests and accuracy).
pub fn discrete_laplace_pmf(b: f64, x: i64) -> f64 {
    let q = (-1.0 / b).exp();
    (1.0 - q) / (1.0 + q) * q.powf(x.unsigned_abs() as f64)
}

#[cfg(test)]
#[path = "discrete_laplace_tests.rs"]
mod tests;
