//! Validated privacy parameters: ε, δ, ρ, sensitivities and noise scales.
//!
//! Each type holds an *exact* rational. `new(f64)` reads the `f64` as the
//! shortest decimal that prints as it (`0.1` is exactly 1/10), so what a person
//! typed is what is charged and what the noise is calibrated for;
//! [`std::str::FromStr`] parses decimal text exactly. NaN, infinities,
//! negatives and out-of-range values cannot be constructed, and serde
//! re-validates on deserialize.

use std::fmt;
use std::str::FromStr;

use num_rational::BigRational;
use num_traits::{Signed, Zero};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{NoiseError, Result, invalid};
use crate::exact::{exact_binary, parse_decimal, shortest_decimal, to_f64_up};

macro_rules! exact_param {
    ($(#[$doc:meta])* $name:ident, $label:literal, $check:expr, $reason:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(BigRational);

        impl $name {
            /// Validates `value`, read as the shortest decimal that prints as it.
            ///
            /// # Errors
            /// [`NoiseError::InvalidParameter`] for NaN, ±∞ or a value out of range.
            pub fn new(value: f64) -> Result<Self> {
                let exact = shortest_decimal(value)
                    .ok_or_else(|| invalid($label, value, $reason))?;
                Self::from_ratio(exact)
            }

            /// Validates an exact rational value.
            ///
            /// # Errors
            /// [`NoiseError::InvalidParameter`] for a value out of range.
            pub fn from_ratio(value: BigRational) -> Result<Self> {
                let check: fn(&BigRational) -> bool = $check;
                if check(&value) {
                    Ok(Self(value))
                } else {
                    Err(invalid($label, crate::params::display_short(&value), $reason))
                }
            }

            /// The exact value.
            pub fn as_ratio(&self) -> &BigRational {
                &self.0
            }

            /// The value rounded *up* to an `f64` (for display and float bounds).
            pub fn to_f64(&self) -> f64 {
                to_f64_up(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = NoiseError;
            fn from_str(text: &str) -> Result<Self> {
                let exact = crate::params::parse_exact(text)
                    .ok_or_else(|| invalid($label, text, $reason))?;
                Self::from_ratio(exact)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&crate::params::display_ratio(&self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(&crate::params::display_ratio(&self.0))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let raw = crate::params::NumberOrText::deserialize(d)?;
                let parsed = match raw {
                    crate::params::NumberOrText::Number(x) => Self::new(x),
                    crate::params::NumberOrText::Text(t) => t.parse(),
                };
                parsed.map_err(serde::de::Error::custom)
            }
        }
    };
}

exact_param!(
    /// Privacy-loss parameter ε of pure or approximate DP: `1e-9 <= ε <= 1000`.
    ///
    /// ```
    /// use privagg_noise::Epsilon;
    /// let eps = Epsilon::new(0.1).unwrap();
    /// assert_eq!(eps.to_string(), "0.1");
    /// assert!(Epsilon::new(0.0).is_err() && Epsilon::new(f64::NAN).is_err());
    /// ```
    Epsilon,
    "epsilon",
    |v| *v >= crate::exact::ratio(1, 1_000_000_000) && *v <= crate::exact::ratio(1000, 1),
    "epsilon must be a finite number with 1e-9 <= epsilon <= 1000"
);

exact_param!(
    /// Failure probability δ of approximate DP: `0 <= δ < 1`.
    ///
    /// ```
    /// use privagg_noise::Delta;
    /// assert!(Delta::new(1e-6).is_ok() && Delta::new(1.0).is_err());
    /// ```
    Delta,
    "delta",
    |v| !v.is_negative() && *v < crate::exact::ratio(1, 1),
    "delta must be a finite number with 0 <= delta < 1"
);

exact_param!(
    /// Zero-concentrated DP parameter ρ (Bun & Steinke 2016): `0 < ρ <= 10^6`.
    Rho,
    "rho",
    |v| v.is_positive() && *v <= crate::exact::ratio(1_000_000, 1),
    "rho must be a finite number with 0 < rho <= 1e6"
);

impl Delta {
    /// δ = 0 (pure DP).
    pub fn zero() -> Self {
        Self(BigRational::zero())
    }

    /// `true` when δ = 0.
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }
}

/// Sensitivities and scales are compared against the *binary* value of the
/// `f64` a program clamps with (rounding them to a shorter decimal could
/// understate them), and must lie in `[2^-50, 2^50]`.
fn sensitivity_in_range(v: &BigRational) -> bool {
    let lo = BigRational::new(1.into(), num_bigint::BigInt::from(1u64 << 50));
    let hi = BigRational::from_integer(num_bigint::BigInt::from(1u64 << 50));
    *v >= lo && *v <= hi
}

const SENSITIVITY_REASON: &str = "sensitivity must be a finite number with 2^-50 <= sensitivity <= 2^50; check the clamping bounds";

/// L1 sensitivity Δ₁ of a query: the most one privacy unit can change the sum
/// of absolute differences of its outputs. Exact binary value of the `f64`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct L1Sensitivity(BigRational);

impl L1Sensitivity {
    /// Validates a sensitivity.
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] for NaN, ±∞, zero, negatives, or values
    /// outside `[2^-50, 2^50]`.
    pub fn new(value: f64) -> Result<Self> {
        exact_binary(value)
            .filter(sensitivity_in_range)
            .map(Self)
            .ok_or_else(|| invalid("L1 sensitivity", value, SENSITIVITY_REASON))
    }

    /// The exact value.
    pub fn as_ratio(&self) -> &BigRational {
        &self.0
    }

    /// The value as `f64` (exact: it was built from one).
    pub fn to_f64(&self) -> f64 {
        to_f64_up(&self.0)
    }
}

/// L2 sensitivity Δ₂ of a query. Held as the exact *square* Δ₂², so that
/// `√k` (a unit in k groups) is exact.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct L2Sensitivity {
    squared: BigRational,
}

impl L2Sensitivity {
    /// Validates a sensitivity.
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] as for [`L1Sensitivity::new`].
    pub fn new(value: f64) -> Result<Self> {
        let exact = exact_binary(value)
            .filter(sensitivity_in_range)
            .ok_or_else(|| invalid("L2 sensitivity", value, SENSITIVITY_REASON))?;
        Ok(Self {
            squared: &exact * &exact,
        })
    }

    /// Δ₂ = √k exactly, for one unit contributing 1 to each of `k` groups.
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] for `k = 0` or `k > 2^40`.
    pub fn sqrt_of(k: u64) -> Result<Self> {
        if k == 0 || k > 1 << 40 {
            return Err(invalid(
                "L2 sensitivity",
                format!("sqrt({k})"),
                SENSITIVITY_REASON,
            ));
        }
        Ok(Self {
            squared: BigRational::from_integer(k.into()),
        })
    }

    /// Δ₂ from its exact square (`k · B²` for a unit adding at most `B` to
    /// each of `k` groups).
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] for a square outside `(0, 2^200]`.
    pub fn from_squared(squared: BigRational) -> Result<Self> {
        let max = BigRational::from_integer(num_bigint::BigInt::from(1u8) << 200);
        if squared <= BigRational::from_integer(0.into()) || squared > max {
            return Err(invalid(
                "L2 sensitivity",
                format!("sqrt({squared})"),
                SENSITIVITY_REASON,
            ));
        }
        Ok(Self { squared })
    }

    /// The exact square Δ₂².
    pub fn squared(&self) -> &BigRational {
        &self.squared
    }

    /// Δ₂ rounded up to an `f64`.
    pub fn to_f64(&self) -> f64 {
        to_f64_up(&self.squared).sqrt().next_up()
    }
}

/// The scale of a noise distribution (Laplace `b`, Gaussian `σ`): an exact
/// positive rational in `[2^-50, 2^100]`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct NoiseScale(BigRational);

impl NoiseScale {
    /// Validates a scale given as an `f64` (its exact binary value).
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] for NaN, ±∞, zero, negatives or
    /// values outside `[2^-50, 2^100]`.
    pub fn new(value: f64) -> Result<Self> {
        exact_binary(value)
            .ok_or_else(|| invalid("noise scale", value, SCALE_REASON))
            .and_then(Self::from_ratio)
    }

    /// Validates an exact scale.
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] for values outside `[2^-50, 2^100]`.
    pub fn from_ratio(value: BigRational) -> Result<Self> {
        let lo = BigRational::new(1.into(), num_bigint::BigInt::from(1u64 << 50));
        let hi = BigRational::from_integer(num_bigint::BigInt::from(1u8) << 100);
        if value >= lo && value <= hi {
            Ok(Self(value))
        } else {
            Err(invalid("noise scale", display_ratio(&value), SCALE_REASON))
        }
    }

    /// The exact value.
    pub fn as_ratio(&self) -> &BigRational {
        &self.0
    }

    /// The scale rounded up to an `f64`.
    pub fn to_f64(&self) -> f64 {
        to_f64_up(&self.0)
    }
}

const SCALE_REASON: &str = "noise scale must be a finite number with 2^-50 <= scale <= 2^100";

#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum NumberOrText {
    Number(f64),
    Text(String),
}

/// Parses `"0.1"`, `"1e-5"` or an exact fraction `"1/3"`.
pub(crate) fn parse_exact(text: &str) -> Option<BigRational> {
    match text.split_once('/') {
        Some((n, d)) => {
            let n = parse_decimal(n)?;
            let d = parse_decimal(d)?;
            (!d.is_zero()).then(|| n / d)
        }
        None => parse_decimal(text),
    }
}

/// Exact text of a rational: a plain decimal when it terminates, else `n/d`.
/// An out-of-range value for a message: exact when short, else in
/// scientific notation (`1e-300`, not three hundred digits).
pub(crate) fn display_short(value: &BigRational) -> String {
    let exact = display_ratio(value);
    if exact.len() <= 24 {
        exact
    } else {
        format!("{:e}", to_f64_up(value))
    }
}

pub(crate) fn display_ratio(r: &BigRational) -> String {
    use num_traits::One;
    let mut denom = r.denom().magnitude().clone();
    let (mut twos, mut fives) = (0u32, 0u32);
    let two = num_bigint::BigUint::from(2u8);
    let five = num_bigint::BigUint::from(5u8);
    while (&denom % &two).is_zero() {
        denom /= &two;
        twos += 1;
    }
    while (&denom % &five).is_zero() {
        denom /= &five;
        fives += 1;
    }
    if !denom.is_one() {
        return format!("{}/{}", r.numer(), r.denom());
    }
    let digits = twos.max(fives);
    let scaled = r * BigRational::from_integer(num_traits::pow(
        num_bigint::BigInt::from(10u8),
        digits as usize,
    ));
    let int = scaled.to_integer();
    let negative = int.is_negative();
    let mut text = int.magnitude().to_string();
    if digits > 0 {
        let width = digits as usize + 1;
        if text.len() < width {
            text = format!("{}{}", "0".repeat(width - text.len()), text);
        }
        text.insert(text.len() - digits as usize, '.');
        let trimmed = text.trim_end_matches('0').trim_end_matches('.');
        text = trimmed.to_string();
    }
    if negative { format!("-{text}") } else { text }
}

/// Validates a confidence level in (0, 1).
pub(crate) fn check_confidence(confidence: f64) -> Result<f64> {
    if confidence.is_finite() && confidence > 0.0 && confidence < 1.0 {
        Ok(confidence)
    } else {
        Err(NoiseError::InvalidParameter {
            name: "confidence",
            value: confidence.to_string(),
            reason: "confidence must be strictly between 0 and 1, e.g. 0.95",
        })
    }
}

#[cfg(test)]
#[path = "params_tests.rs"]
mod tests;

impl Default for Delta {
    /// δ = 0.
    fn default() -> Self {
        Self::zero()
    }
}
