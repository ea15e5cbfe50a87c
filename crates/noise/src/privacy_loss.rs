//! What a release costs: exact (ε, δ) and, where it applies, ρ-zCDP; and the
//! conservative conversion from ρ-zCDP to (ε, δ)-DP.

use num_rational::BigRational;
use num_traits::{Signed, Zero};
use serde::Serialize;

use crate::error::{NoiseError, Result};
use crate::exact::{exact_binary, to_f64_down, to_f64_up};
use crate::params::{Delta, Epsilon, Rho, display_ratio};

/// The privacy loss of a mechanism for a given sensitivity: it is
/// (`epsilon`, `delta`)-DP, and ρ-zCDP with `rho` when that is known.
/// All amounts are exact and never understate the loss.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrivacyLoss {
    epsilon: BigRational,
    delta: BigRational,
    rho: Option<BigRational>,
}

impl PrivacyLoss {
    /// Pure ε-DP, which is also (ε²/2)-zCDP (Bun & Steinke 2016, Prop. 1.4).
    pub fn pure(epsilon: BigRational) -> Self {
        let rho = &epsilon * &epsilon / BigRational::from_integer(2.into());
        Self {
            epsilon,
            delta: BigRational::zero(),
            rho: Some(rho),
        }
    }

    /// (ε, δ)-DP with no zCDP statement.
    pub fn approximate(epsilon: BigRational, delta: BigRational) -> Self {
        Self {
            epsilon,
            delta,
            rho: None,
        }
    }

    /// ρ-zCDP, stated as (ε, δ)-DP at the given δ by [`zcdp_to_epsilon`].
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] when δ = 0 (zCDP implies no pure DP).
    pub fn zcdp(rho: BigRational, delta: &Delta) -> Result<Self> {
        let epsilon = zcdp_to_epsilon(&rho, delta)?;
        Ok(Self {
            epsilon,
            delta: delta.as_ratio().clone(),
            rho: Some(rho),
        })
    }

    /// The exact ε.
    pub fn epsilon(&self) -> &BigRational {
        &self.epsilon
    }

    /// The exact δ.
    pub fn delta(&self) -> &BigRational {
        &self.delta
    }

    /// The exact ρ, when the mechanism is also ρ-zCDP.
    pub fn rho(&self) -> Option<&BigRational> {
        self.rho.as_ref()
    }

    /// ε rounded up to an `f64`.
    pub fn epsilon_f64(&self) -> f64 {
        to_f64_up(&self.epsilon)
    }

    /// δ rounded up to an `f64`.
    pub fn delta_f64(&self) -> f64 {
        to_f64_up(&self.delta)
    }

    /// `true` when this loss fits within (ε, δ) (`self.ε <= ε` and `self.δ <= δ`).
    pub fn fits(&self, epsilon: &Epsilon, delta: &Delta) -> bool {
        self.epsilon <= *epsilon.as_ratio() && self.delta <= *delta.as_ratio()
    }

    /// Basic sequential composition: losses add up (ε, δ and ρ each).
    pub fn compose(&self, other: &Self) -> Self {
        let rho = match (&self.rho, &other.rho) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        Self {
            epsilon: &self.epsilon + &other.epsilon,
            delta: &self.delta + &other.delta,
            rho,
        }
    }
}

impl Serialize for PrivacyLoss {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("PrivacyLoss", 3)?;
        st.serialize_field("epsilon", &display_ratio(&self.epsilon))?;
        st.serialize_field("delta", &display_ratio(&self.delta))?;
        st.serialize_field("rho", &self.rho.as_ref().map(display_ratio))?;
        st.end()
    }
}

/// An ε such that ρ-zCDP implies (ε, δ)-DP: ε = ρ + 2·√(ρ·ln(1/δ))
/// (Bun & Steinke 2016, Prop. 1.3). Computed in floating point with every
/// input and the result rounded against us, plus a relative margin of 1e-14
/// that covers the error of `ln` and `sqrt`; the returned value is never
/// smaller than the true bound.
///
/// # Errors
/// [`NoiseError::InvalidParameter`] when δ = 0.
pub fn zcdp_to_epsilon(rho: &BigRational, delta: &Delta) -> Result<BigRational> {
    if delta.is_zero() {
        return Err(NoiseError::InvalidParameter {
            name: "delta",
            value: "0".into(),
            reason: "Gaussian noise (zCDP) needs delta > 0 to state an (epsilon, delta) guarantee",
        });
    }
    let rho_up = to_f64_up(rho);
    let log_inv_delta = (1.0 / to_f64_down(delta.as_ratio())).ln().next_up();
    let eps = (rho_up + 2.0 * (rho_up * log_inv_delta).sqrt()) * (1.0 + 1e-14);
    exact_binary(eps.next_up()).ok_or(NoiseError::Overflow("epsilon of a zCDP conversion"))
}

/// The largest ρ (up to float precision) such that ρ-zCDP implies (ε, δ)-DP by
/// [`zcdp_to_epsilon`]: ρ = ε² / (√(ln(1/δ) + ε) + √ln(1/δ))². The result is
/// checked against [`zcdp_to_epsilon`] and shrunk until it fits, so the
/// round trip never exceeds ε.
///
/// # Errors
/// [`NoiseError::InvalidParameter`] when δ = 0 or the resulting ρ is out of range.
pub fn epsilon_to_zcdp(epsilon: &Epsilon, delta: &Delta) -> Result<Rho> {
    if delta.is_zero() {
        return Err(NoiseError::InvalidParameter {
            name: "delta",
            value: "0".into(),
            reason: "Gaussian noise needs delta > 0; use Laplace noise for pure epsilon-DP",
        });
    }
    let eps = to_f64_down(epsilon.as_ratio());
    let l = (1.0 / to_f64_up(delta.as_ratio())).ln();
    let mut rho = eps * eps / ((l + eps).sqrt() + l.sqrt()).powi(2) * (1.0 - 1e-12);
    for _ in 0..64 {
        if let Some(r) = exact_binary(rho).filter(|r| r.is_positive())
            && zcdp_to_epsilon(&r, delta)? <= *epsilon.as_ratio()
        {
            return Rho::from_ratio(r);
        }
        rho *= 1.0 - 1e-9;
    }
    Err(NoiseError::Overflow(
        "could not find a rho for this (epsilon, delta)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exact::ratio;

    #[test]
    fn conversion_round_trip_never_exceeds_epsilon() {
        for (e, d) in [(0.1, 1e-6), (1.0, 1e-5), (5.0, 1e-10), (0.001, 1e-3)] {
            let eps = Epsilon::new(e).expect("valid");
            let delta = Delta::new(d).expect("valid");
            let rho = epsilon_to_zcdp(&eps, &delta).expect("rho");
            let back = zcdp_to_epsilon(rho.as_ratio(), &delta).expect("eps");
            assert!(back <= *eps.as_ratio());
            // ...and is tight: within 1e-6 relative.
            assert!(
                to_f64_up(&back) > e * (1.0 - 1e-6),
                "{e} -> {}",
                to_f64_up(&back)
            );
        }
    }

    #[test]
    fn zcdp_needs_positive_delta() {
        assert!(zcdp_to_epsilon(&ratio(1, 2), &Delta::zero()).is_err());
        assert!(epsilon_to_zcdp(&Epsilon::new(1.0).expect("valid"), &Delta::zero()).is_err());
    }

    #[test]
    fn composition_adds_exactly() {
        let a = PrivacyLoss::pure(ratio(1, 10));
        let total = (0..10).fold(PrivacyLoss::pure(ratio(0, 1)), |acc, _| acc.compose(&a));
        assert_eq!(total.epsilon(), &ratio(1, 1));
        assert_eq!(total.rho(), Some(&ratio(1, 20)));
    }
}
