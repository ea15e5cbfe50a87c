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

mod bernoulli_exp;
mod discrete_gaussian;
mod discrete_laplace;
mod error;
pub mod exact;
mod params;
mod rng;
#[cfg(test)]
mod test_stats;

pub use discrete_gaussian::{DiscreteGaussian, discrete_gaussian_weight};
pub use discrete_laplace::{DiscreteLaplace, discrete_laplace_pmf};
pub use error::{NoiseError, Result};
pub use params::{Delta, Epsilon, L1Sensitivity, L2Sensitivity, NoiseScale, Rho};
pub use rng::SecureRng;
