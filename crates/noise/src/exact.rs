//! Exact rational arithmetic helpers: the bridge between the decimal numbers
//! people type, the `f64`s programs pass around, and the exact rationals the
//! samplers and the accountant compute with.

use num_bigint::{BigInt, BigUint, Sign};
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};

/// Parses decimal text (`"0.1"`, `"1e-5"`, `"10"`, `"2.5E+3"`) into an exact rational.
///
/// Returns `None` for anything that is not a finite decimal number.
pub fn parse_decimal(text: &str) -> Option<BigRational> {
    let text = text.trim();
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i32>().ok()?),
        None => (text, 0),
    };
    let (negative, digits) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (int_part, frac_part) = match digits.split_once('.') {
        Some((i, f)) => (i, f),
        None => (digits, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part
        .bytes()
        .chain(frac_part.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    if !(-400..=400).contains(&exponent) {
        return None;
    }
    let all_digits = format!("{int_part}{frac_part}");
    let numer = BigInt::parse_bytes(all_digits.as_bytes(), 10)?;
    let scale = exponent - frac_part.len() as i32;
    let ten = BigInt::from(10u8);
    let value = if scale >= 0 {
        BigRational::from_integer(numer * num_traits::pow(ten, scale as usize))
    } else {
        BigRational::new(numer, num_traits::pow(ten, (-scale) as usize))
    };
    Some(if negative { -value } else { value })
}

/// The exact rational named by the shortest decimal that prints as `x`
/// (what a person typed to get this `f64`: `0.1` reads as exactly 1/10).
///
/// Returns `None` for NaN and infinities.
pub fn shortest_decimal(x: f64) -> Option<BigRational> {
    if !x.is_finite() {
        return None;
    }
    parse_decimal(&format!("{x:e}"))
}

/// The exact binary value of a finite `f64` (a dyadic rational).
pub fn exact_binary(x: f64) -> Option<BigRational> {
    BigRational::from_float(x)
}

/// The smallest `f64` that is `>= r` (rounds up; saturates at `f64::MAX`).
pub fn to_f64_up(r: &BigRational) -> f64 {
    let x = r.to_f64().unwrap_or(f64::MAX);
    match exact_binary(x) {
        Some(bx) if bx >= *r => x,
        Some(_) => x.next_up(),
        None => f64::MAX,
    }
}

/// The largest `f64` that is `<= r` (rounds down).
pub fn to_f64_down(r: &BigRational) -> f64 {
    -to_f64_up(&-r)
}

/// Splits a positive rational into numerator and denominator as natural numbers.
pub fn to_naturals(r: &BigRational) -> Option<(BigUint, BigUint)> {
    if !r.is_positive() {
        return None;
    }
    Some((r.numer().magnitude().clone(), r.denom().magnitude().clone()))
}

/// Rounds a positive rational *up* to one whose numerator and denominator
/// both fit in 64 bits, when that is possible without exceeding the numerator
/// range; otherwise returns the rational unchanged. The result is `>= r`, and
/// within a relative `2^-62` of it for values in `[2^-62, 2^63]`.
pub fn round_up_to_u64_ratio(r: &BigRational) -> BigRational {
    if fits_u64(r.numer()) && fits_u64(r.denom()) {
        return r.clone();
    }
    // Choose the denominator 2^p as large as possible with ceil(r * 2^p) < 2^63.
    let bits = r.numer().bits() as i64 - r.denom().bits() as i64 + 1; // r < 2^bits
    let p = (62 - bits).min(63);
    if p < 0 {
        // r >= 2^62: an integer scale, rounded up.
        let ceil = ceil_integer(r);
        return BigRational::from_integer(ceil);
    }
    let two_p = BigInt::one() << (p as usize);
    let scaled = r * BigRational::from_integer(two_p.clone());
    BigRational::new(ceil_integer(&scaled), two_p)
}

fn ceil_integer(r: &BigRational) -> BigInt {
    r.ceil().to_integer()
}

fn fits_u64(i: &BigInt) -> bool {
    i.sign() != Sign::Minus && i.bits() <= 64
}

/// An exact rational from a natural fraction `numer / denom` (`denom > 0`).
pub fn ratio(numer: u64, denom: u64) -> BigRational {
    BigRational::new(BigInt::from(numer), BigInt::from(denom.max(1)))
}

/// `true` when the rational is an integer.
pub fn is_integer(r: &BigRational) -> bool {
    r.denom().is_one() || r.numer().is_zero()
}

/// A rational as text: its exact decimal when it has one (`0.6`), else
/// `numerator/denominator` (`1/3`); never a rounded float.
pub fn exact_text(r: &BigRational) -> String {
    crate::params::display_ratio(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text_is_exact() {
        assert_eq!(parse_decimal("0.1"), Some(ratio(1, 10)));
        assert_eq!(parse_decimal("1e-5"), Some(ratio(1, 100_000)));
        assert_eq!(parse_decimal("2.5E+3"), Some(ratio(2500, 1)));
        assert_eq!(parse_decimal("-3"), Some(-ratio(3, 1)));
        for bad in ["", ".", "abc", "1e", "1.2.3", "NaN", "inf", "1e999"] {
            assert_eq!(parse_decimal(bad), None, "{bad}");
        }
    }

    #[test]
    fn shortest_decimal_reads_what_was_typed() {
        assert_eq!(shortest_decimal(0.1), Some(ratio(1, 10)));
        assert_eq!(shortest_decimal(1e-6), Some(ratio(1, 1_000_000)));
        assert_eq!(shortest_decimal(f64::NAN), None);
        assert_ne!(exact_binary(0.1), Some(ratio(1, 10)));
    }

    #[test]
    fn directed_rounding_brackets_the_rational() {
        let third = ratio(1, 3);
        let up = to_f64_up(&third);
        let down = to_f64_down(&third);
        assert!(exact_binary(up).is_some_and(|u| u >= third));
        assert!(exact_binary(down).is_some_and(|d| d <= third));
        assert_eq!(up, down.next_up());
    }

    #[test]
    fn rounding_to_u64_ratio_never_rounds_down() {
        let big = BigRational::new(BigInt::from(10u8).pow(30) + 7, BigInt::from(3u8).pow(40));
        let r = round_up_to_u64_ratio(&big);
        assert!(r >= big);
        assert!(fits_u64(r.numer()) && fits_u64(r.denom()));
        let rel = (&r - &big) / &big;
        assert!(rel < ratio(1, 1 << 60));
    }
}
