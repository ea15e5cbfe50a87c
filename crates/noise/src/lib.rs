//! # privagg-noise
//!
//! The noise core of privagg: validated privacy parameters, exact integer
//! samplers seeded by a CSPRNG, the Laplace and Gaussian mechanisms (for
//! integers, and for reals on a power-of-two grid), exact confidence
//! intervals, partition selection and a DP quantile tree.
//!
//! No floating-point noise exists in this crate: every random draw is an
//! integer comparison on uniform words from [`SecureRng`] (or, in tests, a
//! seeded cryptographic RNG), following Canonne, Kamath & Steinke (2020).
//! Each mechanism's exact privacy claim is written in `docs/privacy/`.
//!
//! ```
//! use privagg_noise::{Epsilon, L1Sensitivity, LaplaceMechanism, SecureRng};
//! // A count: one customer changes it by at most 1.
//! let mech = LaplaceMechanism::calibrate_integer(
//!     &Epsilon::new(1.0).unwrap(), &L1Sensitivity::new(1.0).unwrap()).unwrap();
//! let noisy = mech.release_integer(1_204, &mut SecureRng::from_os());
//! let ci = mech.confidence_interval(noisy as f64, 0.95).unwrap();
//! println!("{noisy} customers (95% CI {:.0}..{:.0})", ci.low, ci.high);
//! ```

pub mod accuracy;
mod bernoulli_exp;
mod discrete_gaussian;
mod discrete_laplace;
mod error;
pub mod exact;
mod exponential_quantile;
mod gaussian;
mod grid;
mod laplace;
mod params;
mod partition_selection;
mod privacy_loss;
mod quantile_tree;
mod rng;
#[cfg(any(test, feature = "test-stats"))]
#[doc(hidden)]
pub mod test_stats;

pub use accuracy::ConfidenceInterval;
pub use discrete_gaussian::{DiscreteGaussian, discrete_gaussian_weight};
pub use discrete_laplace::{DiscreteLaplace, discrete_laplace_pmf};
pub use error::{NoiseError, Result};
pub use exponential_quantile::ExponentialQuantile;
pub use gaussian::GaussianMechanism;
pub use grid::{GRID_BITS_BELOW_SCALE, Grid};
pub use laplace::LaplaceMechanism;
pub use params::{Delta, Epsilon, L1Sensitivity, L2Sensitivity, NoiseScale, Rho};
pub use partition_selection::{
    PartitionSelector, gaussian_count_threshold, laplace_count_threshold,
};
pub use privacy_loss::{PrivacyLoss, epsilon_to_zcdp, zcdp_to_epsilon};
pub use quantile_tree::{QuantileEstimate, QuantileTree, RankRadii};
pub use rng::SecureRng;
