//! Exact privacy amounts: fixed point with 30 decimal places in a `u128`.
//!
//! Decimal text is read exactly (`"0.1"` is 10^29 units), so ten charges of
//! 0.1 exhaust a budget of 1.0 exactly. Amounts computed by mechanisms (exact
//! rationals) are rounded **up** when charged and limits are rounded **down**,
//! so rounding can only make the accountant stricter.

use std::fmt;

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Signed, ToPrimitive};
use privagg_noise::exact::{parse_decimal, shortest_decimal};

use crate::error::BudgetError;

/// Decimal places kept.
pub const DECIMALS: u32 = 30;
const UNIT: u128 = 10u128.pow(DECIMALS);

/// A non-negative privacy amount (ε, δ or ρ) in units of 10^-30, up to about 3.4·10^8.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(u128);

/// Which way to round a value that is not a multiple of 10^-30.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rounding {
    /// For charges: never understate a cost.
    Up,
    /// For limits: never overstate a budget.
    Down,
}

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(0);

    /// From raw units of 10^-30.
    pub const fn from_units(units: u128) -> Self {
        Self(units)
    }

    /// Raw units of 10^-30.
    pub const fn units(&self) -> u128 {
        self.0
    }

    /// From an exact rational, rounded as asked.
    ///
    /// # Errors
    /// [`BudgetError::InvalidAmount`] for negative values or values above the range.
    pub fn from_ratio(value: &BigRational, rounding: Rounding) -> Result<Self, BudgetError> {
        if value.is_negative() {
            return Err(invalid(
                value.to_string(),
                "privacy amounts cannot be negative",
            ));
        }
        let scaled = value * BigRational::from_integer(BigInt::from(UNIT));
        let units = match rounding {
            Rounding::Up => scaled.ceil(),
            Rounding::Down => scaled.floor(),
        }
        .to_integer();
        units
            .to_u128()
            .map(Self)
            .ok_or_else(|| invalid(value.to_string(), "privacy amounts must be below 3.4e8"))
    }

    /// Parses decimal text exactly (rounding only beyond 30 decimal places).
    ///
    /// # Errors
    /// [`BudgetError::InvalidAmount`] for text that is not a finite,
    /// non-negative decimal in range.
    pub fn parse(text: &str, rounding: Rounding) -> Result<Self, BudgetError> {
        let value = parse_decimal(text).ok_or_else(|| {
            invalid(
                text.to_string(),
                "expected a decimal number such as 0.5 or 1e-6",
            )
        })?;
        Self::from_ratio(&value, rounding)
    }

    /// From an `f64` read as the shortest decimal that prints as it (what was typed).
    ///
    /// # Errors
    /// [`BudgetError::InvalidAmount`] for NaN, ±∞, negatives or values out of range.
    pub fn from_f64(value: f64, rounding: Rounding) -> Result<Self, BudgetError> {
        let exact = shortest_decimal(value)
            .ok_or_else(|| invalid(value.to_string(), "NaN and infinities are not amounts"))?;
        Self::from_ratio(&exact, rounding)
    }

    /// The exact rational value.
    pub fn to_ratio(&self) -> BigRational {
        BigRational::new(BigInt::from(self.0), BigInt::from(UNIT))
    }

    /// The nearest `f64` (for display and float-based conversions).
    pub fn to_f64(&self) -> f64 {
        self.0 as f64 / UNIT as f64
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(&self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Self)
    }

    /// `self − other`, saturating at zero.
    pub fn saturating_sub(&self, other: Amount) -> Amount {
        Self(self.0.saturating_sub(other.0))
    }

    /// `true` when zero.
    pub fn is_zero(&self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Amount {
    /// Exact decimal text without trailing zeros (`0.1`, `1`, `0.000001`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let int = self.0 / UNIT;
        let frac = self.0 % UNIT;
        if frac == 0 {
            return write!(f, "{int}");
        }
        let digits = format!("{frac:030}");
        write!(f, "{int}.{}", digits.trim_end_matches('0'))
    }
}

impl std::str::FromStr for Amount {
    type Err = BudgetError;
    /// Exact parse; text with more than 30 decimal places is rejected rather than rounded.
    fn from_str(text: &str) -> Result<Self, BudgetError> {
        if let Some(amount) = plain_decimal(text) {
            return Ok(amount);
        }
        let up = Self::parse(text, Rounding::Up)?;
        let down = Self::parse(text, Rounding::Down)?;
        if up == down {
            Ok(up)
        } else {
            Err(invalid(text.to_string(), "more than 30 decimal places"))
        }
    }
}

impl serde::Serialize for Amount {
    /// Serialised as exact decimal text (`"0.1"`), never as a lossy float.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Amount {
    /// Accepts exact decimal text, re-validated.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Fast exact parse of the form [`Amount`]'s `Display` writes (`12`,
/// `0.000001`: digits, at most 30 decimals, no exponent); `None` for any
/// other text (which the general parser then reads). The ledger stores every
/// amount this way and re-reads them all before each charge.
fn plain_decimal(text: &str) -> Option<Amount> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || int.len() > 9 || frac.len() > DECIMALS as usize {
        return None;
    }
    if !digits(int) || !digits(frac) || (text.contains('.') && frac.is_empty()) {
        return None;
    }
    let int: u128 = int.parse().ok()?;
    let frac_units: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse::<u128>().ok()? * 10u128.pow(DECIMALS - frac.len() as u32)
    };
    int.checked_mul(UNIT)?.checked_add(frac_units).map(Amount)
}

fn invalid(value: String, reason: &'static str) -> BudgetError {
    BudgetError::InvalidAmount { value, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decimal_text_is_exact() {
        let tenth = Amount::parse("0.1", Rounding::Up).expect("valid");
        assert_eq!(tenth.units(), 10u128.pow(29));
        let ten = (0..10)
            .try_fold(Amount::ZERO, |acc, _| acc.checked_add(tenth))
            .expect("no overflow");
        assert_eq!(ten, Amount::parse("1.0", Rounding::Down).expect("valid"));
        assert_eq!(tenth.to_string(), "0.1");
        assert_eq!(
            Amount::from_f64(1e-6, Rounding::Up)
                .expect("valid")
                .to_string(),
            "0.000001"
        );
        assert_eq!("0.25".parse::<Amount>().expect("valid").to_string(), "0.25");
    }

    #[test]
    fn rounding_directions() {
        let third = BigRational::new(1.into(), 3.into());
        let up = Amount::from_ratio(&third, Rounding::Up).expect("valid");
        let down = Amount::from_ratio(&third, Rounding::Down).expect("valid");
        assert_eq!(up.units(), down.units() + 1);
        assert!(up.to_ratio() >= third && down.to_ratio() <= third);
        let tiny = Amount::parse("1e-40", Rounding::Up).expect("valid");
        assert_eq!(tiny.units(), 1, "a tiny charge still costs one unit");
        assert!("1e-40".parse::<Amount>().is_err());
    }

    #[test]
    fn bad_amounts_are_rejected() {
        for bad in ["-1", "NaN", "abc", "", "1e300"] {
            assert!(Amount::parse(bad, Rounding::Up).is_err(), "{bad}");
        }
        assert!(Amount::from_f64(f64::INFINITY, Rounding::Up).is_err());
        assert!(Amount::from_f64(f64::NAN, Rounding::Down).is_err());
    }

    proptest! {
        #[test]
        fn the_fast_parse_agrees_with_the_exact_one(units in any::<u128>(), cut in 0usize..40) {
            let text = Amount::from_units(units % (UNIT * 100_000_000)).to_string();
            let text = &text[..cut.min(text.len())];
            if let Some(fast) = plain_decimal(text) {
                prop_assert_eq!(Some(fast), Amount::parse(text, Rounding::Up).ok());
            }
        }

        #[test]
        fn display_round_trips(units in any::<u64>(), scale in 0u32..20) {
            let a = Amount::from_units(u128::from(units) * 10u128.pow(scale));
            let back: Amount = a.to_string().parse().expect("parses");
            prop_assert_eq!(back, a);
        }
    }
}
