//! The Gaussian mechanism with exact discrete Gaussian noise, for integers and
//! (on a power-of-two grid) for reals. Privacy claim: `docs/privacy/gaussian.md`.

use num_rational::BigRational;
use rand::{CryptoRng, RngCore};

use crate::accuracy::{ConfidenceInterval, gaussian_radius};
use crate::discrete_gaussian::DiscreteGaussian;
use crate::error::{NoiseError, Result};
use crate::exact::{is_integer, round_up_to_u64_ratio};
use crate::grid::Grid;
use crate::params::{Delta, Epsilon, L2Sensitivity, Rho, check_confidence};
use crate::privacy_loss::{PrivacyLoss, epsilon_to_zcdp};

/// Adds discrete Gaussian noise calibrated to ρ-zCDP for an L2 sensitivity.
///
/// # Privacy
/// For inputs whose values differ by at most Δ₂ (on the lattice), adding
/// discrete Gaussian noise with parameter σ is (Δ₂²/2σ²)-zCDP (Canonne, Kamath
/// & Steinke 2020, Thm. 4), reported as (ε, δ)-DP through
/// [`crate::zcdp_to_epsilon`]. σ² is rounded up, so ρ is never exceeded.
#[derive(Clone, Debug)]
pub struct GaussianMechanism {
    grid: Grid,
    rounds: bool,
    noise: DiscreteGaussian,
    delta: Delta,
}

impl GaussianMechanism {
    /// Calibrates for real values to (ε, δ)-DP: ρ from [`epsilon_to_zcdp`],
    /// then as [`Self::calibrate_rho`].
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] for δ = 0 or parameters out of range.
    pub fn calibrate(
        epsilon: &Epsilon,
        delta: &Delta,
        sensitivity: &L2Sensitivity,
    ) -> Result<Self> {
        let rho = epsilon_to_zcdp(epsilon, delta)?;
        Self::calibrate_rho(&rho, delta, sensitivity)
    }

    /// Calibrates for real values to ρ-zCDP; `delta` is only used to state
    /// the loss as (ε, δ). Grid `r ≈ σ/2^40`, σ² = (Δ₂/r + 1)²/(2ρ) rounded up.
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] for δ = 0 or parameters out of range.
    pub fn calibrate_rho(rho: &Rho, delta: &Delta, sensitivity: &L2Sensitivity) -> Result<Self> {
        let approx_sigma = sensitivity.to_f64() / (2.0 * rho.to_f64()).sqrt();
        let grid = Grid::for_scale(approx_sigma)?;
        let lattice = lattice_sensitivity(sensitivity, grid, true);
        Self::build(grid, true, &lattice, rho, delta)
    }

    /// Calibrates for integer values with an integer Δ₂² (e.g. a count with
    /// one unit in k groups: Δ₂² = k), to (ε, δ)-DP.
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] for δ = 0, non-integer Δ₂², or range errors.
    pub fn calibrate_integer(
        epsilon: &Epsilon,
        delta: &Delta,
        sensitivity: &L2Sensitivity,
    ) -> Result<Self> {
        let rho = epsilon_to_zcdp(epsilon, delta)?;
        Self::calibrate_integer_rho(&rho, delta, sensitivity)
    }

    /// Calibrates for integer values with an integer Δ₂² to ρ-zCDP (σ² =
    /// Δ₂²/2ρ rounded up); `delta` is only used to state the loss as (ε, δ).
    ///
    /// # Errors
    /// As [`Self::calibrate_integer`].
    pub fn calibrate_integer_rho(
        rho: &Rho,
        delta: &Delta,
        sensitivity: &L2Sensitivity,
    ) -> Result<Self> {
        if !is_integer(sensitivity.squared()) {
            return Err(NoiseError::InvalidParameter {
                name: "L2 sensitivity",
                value: sensitivity.to_f64().to_string(),
                reason: "integer noise needs an integer squared sensitivity; use calibrate() for real values",
            });
        }
        Self::build(Grid::UNIT, false, sensitivity.squared(), rho, delta)
    }

    fn build(
        grid: Grid,
        rounds: bool,
        lattice_sq: &BigRational,
        rho: &Rho,
        delta: &Delta,
    ) -> Result<Self> {
        let two = BigRational::from_integer(2.into());
        let variance = round_up_to_u64_ratio(&(lattice_sq / (two * rho.as_ratio())));
        let noise = DiscreteGaussian::from_variance(variance)?;
        if delta.is_zero() {
            return Err(NoiseError::InvalidParameter {
                name: "delta",
                value: "0".into(),
                reason: "Gaussian noise needs delta > 0; use Laplace noise for pure epsilon-DP",
            });
        }
        Ok(Self {
            grid,
            rounds,
            noise,
            delta: delta.clone(),
        })
    }

    /// The exact loss for inputs differing by at most `sensitivity` (L2):
    /// ρ = (Δ₂/r [+ 1])² / 2σ², and (ε, δ) at the calibration δ.
    ///
    /// # Errors
    /// Only if the conversion fails (not for calibrated mechanisms).
    pub fn privacy_loss(&self, sensitivity: &L2Sensitivity) -> Result<PrivacyLoss> {
        let lattice = lattice_sensitivity(sensitivity, self.grid, self.rounds);
        let two = BigRational::from_integer(2.into());
        let rho = lattice / (two * self.noise.variance());
        PrivacyLoss::zcdp(rho, &self.delta)
    }

    /// The grid spacing `r` of released values.
    pub fn granularity(&self) -> f64 {
        self.grid.spacing()
    }

    /// The grid.
    pub fn grid(&self) -> Grid {
        self.grid
    }

    /// σ in value units, rounded up.
    pub fn sigma(&self) -> f64 {
        self.noise.sigma() * self.grid.spacing()
    }

    /// Adds noise to a real value (saturating as [`crate::LaplaceMechanism::release`]).
    ///
    /// # Errors
    /// [`NoiseError::NotANumber`] for NaN.
    pub fn release<R: RngCore + CryptoRng + ?Sized>(&self, value: f64, rng: &mut R) -> Result<f64> {
        self.grid.add_noise(value, || self.noise.sample(rng))
    }

    /// Adds integer noise to an integer value.
    pub fn release_integer<R: RngCore + CryptoRng + ?Sized>(
        &self,
        value: i128,
        rng: &mut R,
    ) -> i128 {
        value.saturating_add(self.noise.sample(rng))
    }

    /// Half-width of the `confidence` interval (public parameters only).
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] for a confidence outside (0, 1).
    pub fn half_width(&self, confidence: f64) -> Result<f64> {
        let alpha = 1.0 - check_confidence(confidence)?;
        Ok(gaussian_radius(self.noise.sigma(), alpha) * self.grid.spacing())
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

/// (Δ₂/r + [1])² exactly: rounding each value moves it by at most half a step.
fn lattice_sensitivity(sensitivity: &L2Sensitivity, grid: Grid, rounds: bool) -> BigRational {
    let r = grid.spacing_ratio();
    let scaled_sq = sensitivity.squared() / (&r * &r);
    if !rounds {
        return scaled_sq;
    }
    // (√a + 1)² = a + 2√a + 1 with √a rounded up exactly: an upper bound.
    let sqrt_up =
        BigRational::from_integer(num_integer::Roots::sqrt(&scaled_sq.ceil().to_integer()) + 1);
    let one = BigRational::from_integer(1.into());
    scaled_sq + BigRational::from_integer(2.into()) * sqrt_up + one
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn calibrated_loss_fits_and_is_tight() {
        for (e, d, s) in [(1.0, 1e-6, 1.0), (0.1, 1e-5, 250.0), (3.0, 1e-9, 0.01)] {
            let (eps, delta) = (Epsilon::new(e).expect("e"), Delta::new(d).expect("d"));
            let sens = L2Sensitivity::new(s).expect("s");
            let mech = GaussianMechanism::calibrate(&eps, &delta, &sens).expect("calibrate");
            let loss = mech.privacy_loss(&sens).expect("loss");
            assert!(
                loss.fits(&eps, &delta),
                "{e} {d} {s}: {}",
                loss.epsilon_f64()
            );
            assert!(loss.epsilon_f64() > e * 0.999_99);
        }
    }

    #[test]
    fn integer_calibration_with_sqrt_k_sensitivity() {
        let eps = Epsilon::new(1.0).expect("e");
        let delta = Delta::new(1e-6).expect("d");
        let sens = L2Sensitivity::sqrt_of(4).expect("s");
        let mech = GaussianMechanism::calibrate_integer(&eps, &delta, &sens).expect("calibrate");
        assert!(mech.privacy_loss(&sens).expect("loss").fits(&eps, &delta));
        assert_eq!(mech.granularity(), 1.0);
        let mut rng = StdRng::seed_from_u64(41); // test-only
        let n = 20_000;
        let var: f64 = (0..n)
            .map(|_| (mech.release_integer(0, &mut rng) as f64).powi(2))
            .sum::<f64>()
            / n as f64;
        let sigma = mech.sigma();
        assert!(
            (var.sqrt() - sigma).abs() / sigma < 0.03,
            "{} vs {sigma}",
            var.sqrt()
        );
    }

    #[test]
    fn coverage_and_grid() {
        let eps = Epsilon::new(1.0).expect("e");
        let delta = Delta::new(1e-5).expect("d");
        let mech = GaussianMechanism::calibrate(&eps, &delta, &L2Sensitivity::new(5.0).expect("s"))
            .expect("m");
        let mut rng = StdRng::seed_from_u64(42); // test-only
        let truth = 17.25;
        let trials = 10_000;
        let mut covered = 0;
        for _ in 0..trials {
            let v = mech.release(truth, &mut rng).expect("finite");
            assert_eq!((v / mech.granularity()).fract(), 0.0);
            let ci = mech.confidence_interval(v, 0.9).expect("ci");
            covered += usize::from(ci.low <= truth && truth <= ci.high);
        }
        let rate = covered as f64 / trials as f64;
        assert!((0.89..0.915).contains(&rate), "{rate}");
    }

    #[test]
    fn rejects_zero_delta_and_nan() {
        let eps = Epsilon::new(1.0).expect("e");
        let sens = L2Sensitivity::new(1.0).expect("s");
        assert!(GaussianMechanism::calibrate(&eps, &Delta::zero(), &sens).is_err());
        let mech =
            GaussianMechanism::calibrate(&eps, &Delta::new(1e-6).expect("d"), &sens).expect("m");
        let mut rng = StdRng::seed_from_u64(43); // test-only
        assert_eq!(
            mech.release(f64::NAN, &mut rng),
            Err(NoiseError::NotANumber)
        );
    }
}
