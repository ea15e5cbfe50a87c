//! An aggregate's share of the query's budget: ε, or ρ under zCDP, and the
//! noise its components get from it.

use num_rational::BigRational;
use privagg_noise::{Delta, Epsilon, Rho};

use crate::error::{Result, rejected};

/// An aggregate's part of the query's budget, which also says the noise
/// its components get.
#[derive(Clone, Debug)]
pub(crate) enum Share {
    /// ε-DP: integer Laplace noise, ε split over the components.
    Laplace(Epsilon),
    /// ρ-zCDP: discrete Gaussian noise, ρ split over the components; `delta`
    /// only states each component's loss as (ε, δ).
    Gaussian {
        /// The aggregate's ρ.
        rho: Rho,
        /// δ of the (ε, δ) statement.
        delta: Delta,
    },
    /// ρ-zCDP, but Laplace noise (`mechanism => 'laplace'` in a zCDP
    /// query): ε with ε²/2 ≤ ρ.
    LaplaceRho(Rho),
}

impl Share {
    /// `self / n`, for each of an aggregate's `n` components.
    pub(super) fn split(&self, n: usize) -> Result<Share> {
        let n = BigRational::from_integer(n.into());
        Ok(match self {
            Share::Laplace(e) => Share::Laplace(
                Epsilon::from_ratio(e.as_ratio() / n).map_err(|e| rejected(e.to_string()))?,
            ),
            Share::Gaussian { rho, delta } => Share::Gaussian {
                rho: Rho::from_ratio(rho.as_ratio() / n).map_err(|e| rejected(e.to_string()))?,
                delta: delta.clone(),
            },
            Share::LaplaceRho(rho) => Share::LaplaceRho(
                Rho::from_ratio(rho.as_ratio() / n).map_err(|e| rejected(e.to_string()))?,
            ),
        })
    }

    /// The ε of a Laplace-only component (a quantile tree) within this
    /// share: ε itself, or under ρ-zCDP the largest ε with ε²/2 ≤ ρ (pure
    /// ε-DP is ε²/2-zCDP, Bun & Steinke 2016, Prop. 1.4).
    pub(super) fn laplace_epsilon(&self) -> Result<Epsilon> {
        match self {
            Share::Laplace(e) => Ok(e.clone()),
            Share::Gaussian { rho, .. } | Share::LaplaceRho(rho) => {
                let two = BigRational::from_integer(2.into());
                let mut eps = (2.0_f64 * rho.to_f64()).sqrt();
                for _ in 0..64 {
                    if let Ok(e) = Epsilon::new(eps)
                        && e.as_ratio() * e.as_ratio() / &two <= *rho.as_ratio()
                    {
                        return Ok(e);
                    }
                    eps *= 1.0 - 1e-12;
                }
                Err(rejected(format!("no epsilon fits rho {rho}")))
            }
        }
    }

    /// The noise scale (Laplace b, Gaussian σ) for a sum to which a unit adds
    /// at most `bound` (value units) in each of `k` groups: where the grid
    /// of a real-valued component is chosen.
    pub(super) fn scale(&self, k: f64, bound: f64) -> f64 {
        match self {
            Share::Laplace(e) => k * bound / e.to_f64(),
            Share::Gaussian { rho, .. } => k.sqrt() * bound / (2.0_f64 * rho.to_f64()).sqrt(),
            Share::LaplaceRho(rho) => k * bound / (2.0_f64 * rho.to_f64()).sqrt(),
        }
    }

    /// Its ρ, when it is a zCDP share.
    pub(crate) fn rho(&self) -> Option<&Rho> {
        match self {
            Share::Laplace(_) => None,
            Share::Gaussian { rho, .. } | Share::LaplaceRho(rho) => Some(rho),
        }
    }
}
