//! Per-customer contribution bounding and the released cells of the demo.

use std::collections::HashMap;
use std::io::Write;

use rand::seq::SliceRandom;
use rand::{CryptoRng, RngCore};

use privagg_noise::{ConfidenceInterval, LaplaceMechanism, NoiseError};

use super::synthetic::Purchase;

/// A released value is flagged when its interval's half-width exceeds this
/// fraction of the value.
pub const NOISY_RELATIVE_HALF_WIDTH: f64 = 0.5;

/// What one customer contributes after bounding.
pub struct Contribution {
    /// The customer's tier.
    pub segment: &'static str,
    /// Total spend (clamped by the caller).
    pub total_spend: f64,
    /// At most 3 baskets, chosen at random.
    pub baskets: Vec<f64>,
    /// At most `max_regions` regions, chosen at random.
    pub regions: Vec<&'static str>,
}

/// Groups rows by customer and bounds each customer's contribution.
pub fn contributions<R: RngCore + CryptoRng + ?Sized>(
    rows: &[&Purchase],
    max_regions: usize,
    rng: &mut R,
) -> HashMap<u64, Contribution> {
    let mut map: HashMap<u64, Contribution> = HashMap::new();
    for r in rows {
        let c = map.entry(r.customer_id).or_insert_with(|| Contribution {
            segment: r.segment,
            total_spend: 0.0,
            baskets: Vec::new(),
            regions: Vec::new(),
        });
        c.total_spend += r.spend;
        c.baskets.push(r.spend);
        if !c.regions.contains(&r.region) {
            c.regions.push(r.region);
        }
    }
    for c in map.values_mut() {
        c.baskets.shuffle(rng);
        c.baskets.truncate(3);
        c.regions.shuffle(rng);
        c.regions.truncate(max_regions);
    }
    map
}

/// One released value with its confidence interval.
#[derive(Clone, Copy, Debug)]
pub struct Cell {
    /// The DP value.
    pub value: f64,
    /// Its interval.
    pub ci: ConfidenceInterval,
}

impl Cell {
    /// Releases an integer.
    ///
    /// # Errors
    /// For an invalid confidence level.
    pub fn integer<R: RngCore + CryptoRng + ?Sized>(
        mech: &LaplaceMechanism,
        exact: i128,
        confidence: f64,
        rng: &mut R,
    ) -> Result<Self, NoiseError> {
        let value = mech.release_integer(exact, rng) as f64;
        Ok(Self {
            value,
            ci: mech.confidence_interval(value, confidence)?,
        })
    }

    /// Releases a real value.
    ///
    /// # Errors
    /// For NaN or an invalid confidence level.
    pub fn real<R: RngCore + CryptoRng + ?Sized>(
        mech: &LaplaceMechanism,
        exact: f64,
        confidence: f64,
        rng: &mut R,
    ) -> Result<Self, NoiseError> {
        let value = mech.release(exact, rng)?;
        Ok(Self {
            value,
            ci: mech.confidence_interval(value, confidence)?,
        })
    }

    /// `numerator / denominator` (post-processing). The interval is the range
    /// of ratios over both intervals; with each at level c its coverage is at
    /// least 2c − 1 (union bound).
    pub fn ratio(numerator: &Cell, denominator: &Cell) -> Cell {
        let d_low = denominator.ci.low.max(1.0);
        let d_high = denominator.ci.high.max(1.0);
        let value = numerator.value / denominator.value.max(1.0);
        let candidates = [
            numerator.ci.low / d_low,
            numerator.ci.low / d_high,
            numerator.ci.high / d_low,
            numerator.ci.high / d_high,
        ];
        let low = candidates.iter().copied().fold(f64::INFINITY, f64::min);
        let high = candidates.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let confidence = (numerator.ci.confidence + denominator.ci.confidence - 1.0).max(0.0);
        Cell {
            value,
            ci: ConfidenceInterval {
                low,
                high,
                confidence,
            },
        }
    }

    /// `true` when the interval is too wide relative to the value to act on.
    pub fn too_noisy(&self) -> bool {
        self.value.abs() < f64::MIN_POSITIVE
            || self.ci.half_width() / self.value.abs() > NOISY_RELATIVE_HALF_WIDTH
    }
}

/// Writes an aligned table of labelled cells.
///
/// # Errors
/// On write failure.
pub fn print_table(
    out: &mut impl Write,
    headers: &[&str],
    rows: &[(String, Vec<Cell>)],
) -> std::io::Result<()> {
    let mut line = format!("  {:<16}", headers.first().copied().unwrap_or(""));
    for h in headers.iter().skip(1) {
        line.push_str(&format!("{h:>14} {:>22}", "95% interval"));
    }
    writeln!(out, "{line}")?;
    for (label, cells) in rows {
        let mut line = format!("  {label:<16}");
        for c in cells {
            let flag = if c.too_noisy() { "~" } else { " " };
            line.push_str(&format!(
                "{:>13.1}{flag} {:>22}",
                c.value,
                format!("[{:.1}, {:.1}]", c.ci.low, c.ci.high)
            ));
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}
