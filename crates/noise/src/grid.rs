//! The power-of-two grid real values are noised on (Google, *Secure Noise
//! Generation*, differential-privacy `common_docs/`).
//!
//! A real value `x` is rounded to `m = round(x / r)` with `r = 2^k`, integer
//! noise is added to `m`, and `(m + Z)·r` is released. `k` comes from public
//! parameters only (`r ≈ scale / 2^40`), so every output is an exact multiple
//! of the same `r` whatever the data: the set of reachable outputs is the same
//! for every input, which defeats the least-significant-bit attack of Mironov
//! (2012). Rounding moves a value by at most `r/2`, so a sensitivity of Δ
//! becomes `Δ/r + 1` on the integer lattice.

use num_bigint::BigInt;
use num_rational::BigRational;

use crate::error::{NoiseError, Result};

/// How many bits of resolution the grid keeps below the noise scale.
pub const GRID_BITS_BELOW_SCALE: i32 = 40;

/// Largest lattice magnitude: values are clamped to `±2^100 · r`, leaving
/// headroom in `i128` for the noise (`x / r` and its rounding are exact in
/// `f64`, and the cast to `i128` is exact below 2^127).
const LATTICE_LIMIT: f64 = 1_267_650_600_228_229_401_496_703_205_376.0; // 2^100

/// A power-of-two grid `r = 2^exponent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
    exponent: i32,
}

impl Grid {
    /// The unit grid `r = 1`, for integer-valued queries.
    pub const UNIT: Grid = Grid { exponent: 0 };

    /// The grid for noise of (real) scale `scale`: `r = 2^(⌈log2 scale⌉ − 40)`.
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] for a non-finite or non-positive scale.
    pub fn for_scale(scale: f64) -> Result<Self> {
        if !(scale.is_finite() && scale > 0.0) {
            return Err(NoiseError::InvalidParameter {
                name: "noise scale",
                value: scale.to_string(),
                reason: "the noise scale must be finite and positive",
            });
        }
        let exponent = scale.log2().ceil() as i32 - GRID_BITS_BELOW_SCALE;
        Ok(Self {
            exponent: exponent.clamp(-1000, 1000),
        })
    }

    /// The exponent `k` of `r = 2^k`.
    pub fn exponent(&self) -> i32 {
        self.exponent
    }

    /// `r` as an `f64` (exact: a power of two in the normal range).
    pub fn spacing(&self) -> f64 {
        2f64.powi(self.exponent)
    }

    /// `r` as an exact rational.
    pub fn spacing_ratio(&self) -> BigRational {
        let one = BigInt::from(1u8);
        if self.exponent >= 0 {
            BigRational::from_integer(one << self.exponent as usize)
        } else {
            BigRational::new(one.clone(), one << (-self.exponent) as usize)
        }
    }

    /// The largest magnitude representable exactly on this grid.
    pub fn max_magnitude(&self) -> f64 {
        LATTICE_LIMIT * self.spacing()
    }

    /// Checks that values up to `bound` in magnitude are represented exactly
    /// (a check on public bounds, made before any data is read).
    ///
    /// # Errors
    /// [`NoiseError::NotRepresentable`] when `bound` exceeds [`Grid::max_magnitude`].
    pub fn check_bound(&self, bound: f64) -> Result<()> {
        if bound.is_finite() && bound.abs() <= self.max_magnitude() {
            Ok(())
        } else {
            Err(NoiseError::NotRepresentable {
                bound,
                grid_exponent: self.exponent,
            })
        }
    }

    /// `round(x / r)`, after clamping `x` to `±max_magnitude` (a contraction,
    /// so it never increases sensitivity). `x` must not be NaN.
    pub fn to_lattice(&self, x: f64) -> i128 {
        let m = (x / self.spacing())
            .clamp(-LATTICE_LIMIT, LATTICE_LIMIT)
            .round();
        m as i128
    }

    /// Releases a real value: `(round(clamp(x) / r) + Z) · r` with the integer
    /// noise `Z` drawn by `sample` (only for a value that is not NaN).
    ///
    /// # Errors
    /// [`NoiseError::NotANumber`] for NaN (callers treat NaN as NULL first).
    pub fn add_noise(&self, value: f64, sample: impl FnOnce() -> i128) -> Result<f64> {
        if value.is_nan() {
            return Err(NoiseError::NotANumber);
        }
        Ok(self.from_lattice(self.to_lattice(value).saturating_add(sample())))
    }

    /// `m · r` as the nearest `f64`, which is still a multiple of `r`.
    pub fn from_lattice(&self, m: i128) -> f64 {
        (m as f64) * self.spacing()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_follows_scale() {
        let g = Grid::for_scale(5000.0).expect("valid");
        assert_eq!(g.exponent(), 13 - 40);
        assert!(Grid::for_scale(0.0).is_err() && Grid::for_scale(f64::NAN).is_err());
        assert_eq!(Grid::UNIT.spacing(), 1.0);
    }

    #[test]
    fn lattice_round_trip_and_clamp() {
        let g = Grid::for_scale(1.0).expect("valid");
        let r = g.spacing();
        assert_eq!(g.from_lattice(g.to_lattice(3.0 * r)), 3.0 * r);
        assert_eq!(g.to_lattice(f64::INFINITY) as f64, LATTICE_LIMIT);
        assert!(g.check_bound(1e9).is_ok());
        assert!(g.check_bound(1e19).is_err());
    }
}
