//! The Laplace mechanism with exact discrete Laplace noise, for integers and
//! (on a power-of-two grid) for reals. Privacy claim: `docs/privacy/laplace.md`.

use num_rational::BigRational;
use rand::{CryptoRng, RngCore};

use crate::accuracy::{ConfidenceInterval, laplace_radius};
use crate::discrete_laplace::DiscreteLaplace;
use crate::error::{NoiseError, Result};
use crate::exact::{is_integer, to_f64_up};
use crate::grid::Grid;
use crate::params::{Epsilon, L1Sensitivity, NoiseScale, check_confidence};
use crate::privacy_loss::PrivacyLoss;

/// Adds discrete Laplace noise calibrated to ε-DP for an L1 sensitivity.
///
/// # Privacy
/// For any two inputs whose values differ by at most the calibrated L1
/// sensitivity Δ, the released outputs are ε-DP (ε exact, never exceeded:
/// the scale is rounded up). On the real grid the rounding adds one lattice
/// step to the sensitivity, which the calibration includes.
///
/// ```
/// use privagg_noise::{Epsilon, L1Sensitivity, LaplaceMechanism, SecureRng};
/// let eps = Epsilon::new(0.5).unwrap();
/// let mech = LaplaceMechanism::calibrate(&eps, &L1Sensitivity::new(100.0).unwrap()).unwrap();
/// let noisy = mech.release(1234.5, &mut SecureRng::from_os()).unwrap();
/// assert_eq!(noisy % mech.granularity(), 0.0); // on the grid
/// assert!(mech.privacy_loss(&L1Sensitivity::new(100.0).unwrap()).fits(&eps, &Default::default()));
/// ```
#[derive(Clone, Debug)]
pub struct LaplaceMechanism {
    grid: Grid,
    /// One lattice step added to the sensitivity for rounding real inputs.
    rounds: bool,
    noise: DiscreteLaplace,
}

impl LaplaceMechanism {
    /// Calibrates for real-valued inputs: grid `r ≈ (Δ/ε)/2^40`, integer scale
    /// `(Δ/r + 1)/ε` rounded up.
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] if the resulting scale is out of range.
    pub fn calibrate(epsilon: &Epsilon, sensitivity: &L1Sensitivity) -> Result<Self> {
        let approx_scale = sensitivity.to_f64() / epsilon.to_f64();
        let grid = Grid::for_scale(approx_scale)?;
        let lattice_sensitivity = sensitivity.as_ratio() / grid.spacing_ratio() + one();
        Self::build(grid, true, lattice_sensitivity / epsilon.as_ratio())
    }

    /// Calibrates for integer-valued inputs (counts, fixed-point sums) with an
    /// integer sensitivity: scale `Δ/ε`, no grid.
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] if Δ is not an integer or the scale is out of range.
    pub fn calibrate_integer(epsilon: &Epsilon, sensitivity: &L1Sensitivity) -> Result<Self> {
        if !is_integer(sensitivity.as_ratio()) {
            return Err(NoiseError::InvalidParameter {
                name: "L1 sensitivity",
                value: sensitivity.to_f64().to_string(),
                reason: "integer noise needs an integer sensitivity; use calibrate() for real values",
            });
        }
        Self::build(
            Grid::UNIT,
            false,
            sensitivity.as_ratio() / epsilon.as_ratio(),
        )
    }

    /// A mechanism with a given integer-domain scale (for callers that
    /// calibrate themselves, e.g. partition selection).
    ///
    /// # Errors
    /// As [`DiscreteLaplace::new`].
    pub fn with_scale(scale: &NoiseScale) -> Result<Self> {
        Self::build(Grid::UNIT, false, scale.as_ratio().clone())
    }

    fn build(grid: Grid, rounds: bool, scale: BigRational) -> Result<Self> {
        let noise = DiscreteLaplace::new(&NoiseScale::from_ratio(scale)?)?;
        Ok(Self {
            grid,
            rounds,
            noise,
        })
    }

    /// The exact privacy loss for inputs differing by at most `sensitivity`:
    /// ε = (Δ/r + [1 if rounding]) / b, δ = 0.
    pub fn privacy_loss(&self, sensitivity: &L1Sensitivity) -> PrivacyLoss {
        let mut lattice = sensitivity.as_ratio() / self.grid.spacing_ratio();
        if self.rounds {
            lattice += one();
        }
        PrivacyLoss::pure(lattice / self.noise.scale().as_ratio())
    }

    /// The grid spacing `r` of released values (1 for integer mechanisms).
    pub fn granularity(&self) -> f64 {
        self.grid.spacing()
    }

    /// The grid.
    pub fn grid(&self) -> Grid {
        self.grid
    }

    /// The noise scale in value units (`b·r`), rounded up.
    pub fn scale(&self) -> f64 {
        to_f64_up(self.noise.scale().as_ratio()) * self.grid.spacing()
    }

    /// Adds noise to a real value. `±∞` and values beyond the grid's range
    /// saturate at `±`[`Grid::max_magnitude`] (a contraction: no extra loss).
    ///
    /// # Errors
    /// [`NoiseError::NotANumber`] for NaN (callers treat NaN as NULL first).
    pub fn release<R: RngCore + CryptoRng + ?Sized>(&self, value: f64, rng: &mut R) -> Result<f64> {
        self.grid.add_noise(value, || self.noise.sample(rng))
    }

    /// Adds integer noise to an integer value (for [`Self::calibrate_integer`]).
    pub fn release_integer<R: RngCore + CryptoRng + ?Sized>(
        &self,
        value: i128,
        rng: &mut R,
    ) -> i128 {
        value.saturating_add(self.noise.sample(rng))
    }

    /// Half-width of the interval `released ± w` that contains the pre-noise
    /// (rounded) value with probability at least `confidence`. Depends only on
    /// public parameters, so it can be shown before a query runs.
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] for a confidence outside (0, 1).
    pub fn half_width(&self, confidence: f64) -> Result<f64> {
        let alpha = 1.0 - check_confidence(confidence)?;
        let b = to_f64_up(self.noise.scale().as_ratio());
        Ok(laplace_radius(b, alpha) * self.grid.spacing())
    }

    /// The confidence interval around a released value.
    ///
    /// # Errors
    /// As [`Self::half_width`].
    pub fn confidence_interval(
        &self,
        released: f64,
        confidence: f64,
    ) -> Result<ConfidenceInterval> {
        Ok(ConfidenceInterval::around(
            released,
            self.half_width(confidence)?,
            confidence,
        ))
    }
}

fn one() -> BigRational {
    BigRational::from_integer(1.into())
}

#[cfg(test)]
#[path = "laplace_tests.rs"]
mod tests;
