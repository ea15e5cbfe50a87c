//! Randomness: the OS-seeded CSPRNG every release uses, and exact uniform
//! and Bernoulli draws built on raw random words.
//!
//! Samplers take `R: Rng + CryptoRng + ?Sized`, so tests can pass a seeded
//! cryptographic RNG. Production code gets its generator from
//! [`SecureRng::from_os`], which has no way to choose a seed.

use num_bigint::BigUint;
use rand::rngs::StdRng;
use rand::{CryptoRng, RngCore, SeedableRng};

/// The generator all noise in privagg comes from: ChaCha12 (`StdRng`) seeded
/// from the operating system's entropy source. There is deliberately no
/// constructor taking a seed.
pub struct SecureRng(StdRng);

impl SecureRng {
    /// A fresh generator seeded from the OS.
    pub fn from_os() -> Self {
        Self(StdRng::from_os_rng())
    }
}

impl std::fmt::Debug for SecureRng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecureRng(os-seeded ChaCha12)")
    }
}

impl RngCore for SecureRng {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        self.0.fill_bytes(dst)
    }
}

impl CryptoRng for SecureRng {}

/// An exactly uniform integer in `[0, bound)` (`bound > 0`), by Lemire's
/// multiply-and-reject method: unbiased, one multiplication in the common case.
#[inline]
pub(crate) fn uniform_below_u64<R: RngCore + ?Sized>(bound: u64, rng: &mut R) -> u64 {
    debug_assert!(bound > 0);
    let mut m = u128::from(rng.next_u64()) * u128::from(bound);
    if (m as u64) < bound {
        let threshold = bound.wrapping_neg() % bound;
        while (m as u64) < threshold {
            m = u128::from(rng.next_u64()) * u128::from(bound);
        }
    }
    (m >> 64) as u64
}

/// An exactly uniform natural number in `[0, bound)` (`bound > 0`), by
/// drawing as many random bits as `bound` has and rejecting values `>= bound`
/// (fewer than two tries on average).
pub(crate) fn uniform_below_big<R: RngCore + ?Sized>(bound: &BigUint, rng: &mut R) -> BigUint {
    let bits = bound.bits();
    if bits <= 64 {
        let small = bound.iter_u64_digits().next().unwrap_or(1).max(1);
        return BigUint::from(uniform_below_u64(small, rng));
    }
    let words = bits.div_ceil(64) as usize;
    let top_bits = bits - 64 * (words as u64 - 1);
    let top_mask = if top_bits == 64 {
        u64::MAX
    } else {
        (1u64 << top_bits) - 1
    };
    let mut digits = vec![0u64; words];
    loop {
        for d in digits.iter_mut() {
            *d = rng.next_u64();
        }
        if let Some(top) = digits.last_mut() {
            *top &= top_mask;
        }
        let candidate = BigUint::from_slice(&to_u32_digits(&digits));
        if candidate < *bound {
            return candidate;
        }
    }
}

fn to_u32_digits(words: &[u64]) -> Vec<u32> {
    words
        .iter()
        .flat_map(|w| [*w as u32, (*w >> 32) as u32])
        .collect()
}

/// Bernoulli(`numer / denom`) exactly (`numer <= denom`, `denom > 0`).
#[inline]
pub(crate) fn bernoulli_u64<R: RngCore + ?Sized>(numer: u64, denom: u64, rng: &mut R) -> bool {
    uniform_below_u64(denom, rng) < numer
}

/// Bernoulli(`numer / denom`) exactly for natural numbers of any size.
pub(crate) fn bernoulli_big<R: RngCore + ?Sized>(
    numer: &BigUint,
    denom: &BigUint,
    rng: &mut R,
) -> bool {
    uniform_below_big(denom, rng) < *numer
}

/// Bernoulli(`p`) for a probability computed in floating point: true with
/// probability `floor(p · 2^128) / 2^128`, i.e. at most `p`, within 2^-128.
/// Used only where the privacy analysis already has slack for float error.
pub(crate) fn bernoulli_f64_at_most<R: RngCore + ?Sized>(p: f64, rng: &mut R) -> bool {
    if p.is_nan() || p <= 0.0 {
        return false;
    }
    if p >= 1.0 {
        return true;
    }
    // p · 2^128 is exact (a power-of-two scaling); the cast truncates.
    let threshold = (p * TWO_POW_128) as u128;
    random_u128(rng) < threshold
}

/// Bernoulli(1 − `c`) for a float complement `c`: false with probability
/// `ceil(c · 2^128) / 2^128`, so true with probability at most `1 − c`.
pub(crate) fn bernoulli_complement_at_most<R: RngCore + ?Sized>(c: f64, rng: &mut R) -> bool {
    if c.is_nan() || c >= 1.0 {
        return false;
    }
    if c <= 0.0 {
        return true;
    }
    let threshold = (c * TWO_POW_128).ceil() as u128;
    random_u128(rng) >= threshold
}

/// 2^128, exactly representable.
const TWO_POW_128: f64 = 340_282_366_920_938_463_463_374_607_431_768_211_456.0;

fn random_u128<R: RngCore + ?Sized>(rng: &mut R) -> u128 {
    (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7) // test-only
    }

    #[test]
    fn uniform_u64_is_in_range_and_covers_it() {
        let mut r = rng();
        let mut seen = [0u32; 7];
        for _ in 0..70_000 {
            let v = uniform_below_u64(7, &mut r);
            seen[v as usize] += 1;
        }
        for c in seen {
            assert!((9_000..11_000).contains(&c), "{seen:?}");
        }
    }

    #[test]
    fn uniform_big_is_in_range_and_covers_it() {
        let mut r = rng();
        let bound = (BigUint::from(1u8) << 130) + 3u8; // just over a word boundary
        let half = &bound >> 1;
        let mut below_half = 0;
        for _ in 0..4_000 {
            let v = uniform_below_big(&bound, &mut r);
            assert!(v < bound);
            if v < half {
                below_half += 1;
            }
        }
        assert!((1_800..2_200).contains(&below_half), "{below_half}");
        let small = BigUint::from(3u8);
        assert!((0..100).all(|_| uniform_below_big(&small, &mut r) < small));
    }

    #[test]
    fn float_bernoulli_never_exceeds_p() {
        let mut r = rng();
        assert!(!(0..1000).any(|_| bernoulli_f64_at_most(0.0, &mut r)));
        assert!((0..1000).all(|_| bernoulli_f64_at_most(1.0, &mut r)));
        assert!(!bernoulli_f64_at_most(f64::NAN, &mut r));
        let hits = (0..100_000)
            .filter(|_| bernoulli_f64_at_most(0.25, &mut r))
            .count();
        assert!((24_000..26_000).contains(&hits), "{hits}");
    }
}
