//! `privagg demo`: segment statistics over a synthetic customer base, released
//! through privagg's mechanisms with user-level DP, each value with a 95%
//! confidence interval and a flag when it is too noisy to act on.
//!
//! This runs the mechanisms directly on data held in memory; the SQL layer
//! and the durable budget ledger are separate components.

mod release;
pub mod synthetic;

use std::io::Write;

use privagg_noise::{
    Delta, Epsilon, L1Sensitivity, LaplaceMechanism, NoiseError, PartitionSelector, PrivacyLoss,
    QuantileTree, SecureRng,
};

pub use release::{Cell, NOISY_RELATIVE_HALF_WIDTH};
use release::{contributions, print_table};
use synthetic::{REGIONS, SEGMENTS};

/// Errors of the demo.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// A mechanism rejected its parameters.
    #[error(transparent)]
    Noise(#[from] NoiseError),
    /// The synthetic generator failed.
    #[error("generating data: {0}")]
    Generate(String),
    /// Writing the report failed.
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
}

/// Per-customer total spend is clamped to this (public) bound.
pub const SPEND_CAP: f64 = 1000.0;
/// Customers are counted in at most this many regions.
pub const MAX_REGIONS_PER_CUSTOMER: usize = 2;
/// Confidence level of every interval shown.
pub const CONFIDENCE: f64 = 0.95;

/// Runs the demo for `customers` synthetic customers and writes the report.
///
/// # Errors
/// [`DemoError`] if a mechanism or the output fails.
pub fn run(customers: u32, out: &mut impl Write) -> Result<(), DemoError> {
    let mut rng = SecureRng::from_os();
    let rows =
        synthetic::generate(customers, &mut rng).map_err(|e| DemoError::Generate(e.to_string()))?;
    let consenting: Vec<_> = rows.iter().filter(|r| r.consent).collect();
    writeln!(
        out,
        "privagg demo — {customers} synthetic customers, {} purchases",
        rows.len()
    )?;
    writeln!(out, "Customers without analytics consent are never read.")?;
    writeln!(
        out,
        "Every number below is differentially private (user level) unless marked public.\n"
    )?;

    let eps = |x: f64| Epsilon::new(x);
    let mut spent: Vec<PrivacyLoss> = Vec::new();
    let by_customer = contributions(&consenting, MAX_REGIONS_PER_CUSTOMER, &mut rng);

    // 1. Customers and average spend per tier (tiers are public keys).
    let count_mech = LaplaceMechanism::calibrate_integer(&eps(0.3)?, &L1Sensitivity::new(1.0)?)?;
    let spend_mech = LaplaceMechanism::calibrate(&eps(0.3)?, &L1Sensitivity::new(SPEND_CAP)?)?;
    spent.push(count_mech.privacy_loss(&L1Sensitivity::new(1.0)?));
    spent.push(spend_mech.privacy_loss(&L1Sensitivity::new(SPEND_CAP)?));
    let mut tier_rows = Vec::new();
    for segment in SEGMENTS {
        let members: Vec<_> = by_customer
            .values()
            .filter(|c| c.segment == segment)
            .collect();
        let total: f64 = members
            .iter()
            .map(|c| c.total_spend.clamp(0.0, SPEND_CAP))
            .sum();
        let count = Cell::integer(&count_mech, members.len() as i128, CONFIDENCE, &mut rng)?;
        let sum = Cell::real(&spend_mech, total, CONFIDENCE, &mut rng)?;
        let mean = Cell::ratio(&sum, &count);
        tier_rows.push((segment.to_string(), vec![count, mean]));
    }
    writeln!(
        out,
        "Customers and average spend per customer, by loyalty tier (public tiers)"
    )?;
    print_table(out, &["tier", "customers", "avg spend €"], &tier_rows)?;

    // 2. Median basket per tier: a quantile tree over [0, 500] euros, 3 baskets per customer.
    let tree = QuantileTree::new(0.0, 500.0, 4, 16)?;
    let median_mech = tree.calibrate(&eps(0.2)?, 3)?;
    spent.push(tree.privacy_loss(&median_mech, 3)?);
    writeln!(
        out,
        "\nMedian basket by tier (quantile tree, at most 3 baskets per customer)"
    )?;
    for segment in SEGMENTS {
        let baskets = by_customer
            .values()
            .filter(|c| c.segment == segment)
            .flat_map(|c| c.baskets.iter().copied());
        let leaves = tree.leaf_counts(baskets);
        let median = tree.quantiles(&leaves, &median_mech, &[0.5], &mut rng)?;
        writeln!(
            out,
            "  {segment:<10} {:>8.2} €",
            median.first().copied().unwrap_or(f64::NAN)
        )?;
    }

    // 3. Customers per (tier, region): keys found in the data, so partition selection decides
    //    which ones may be shown; each customer counts in at most 2 regions.
    let k = MAX_REGIONS_PER_CUSTOMER as u32;
    let delta = Delta::new(1e-6)?;
    let selector = PartitionSelector::truncated_geometric(&eps(0.1)?, &delta, k)?;
    let pair_mech =
        LaplaceMechanism::calibrate_integer(&eps(0.1)?, &L1Sensitivity::new(f64::from(k))?)?;
    spent.push(selector.privacy_loss().clone());
    spent.push(pair_mech.privacy_loss(&L1Sensitivity::new(f64::from(k))?));
    let mut pair_rows = Vec::new();
    for segment in SEGMENTS {
        for region in REGIONS {
            let units = by_customer
                .values()
                .filter(|c| c.segment == segment && c.regions.contains(&region))
                .count();
            if !selector.keep(units as u64, &mut rng) {
                continue;
            }
            let count = Cell::integer(&pair_mech, units as i128, CONFIDENCE, &mut rng)?;
            pair_rows.push((format!("{segment}/{region}"), vec![count]));
        }
    }
    writeln!(
        out,
        "\nCustomers by tier and region (groups with too few customers are not shown)"
    )?;
    print_table(out, &["tier/region", "customers"], &pair_rows)?;
    writeln!(
        out,
        "  groups need about {} customers to be shown with even odds",
        selector.units_for_even_odds()
    )?;

    let total = spent
        .iter()
        .skip(1)
        .fold(spent[0].clone(), |acc, l| acc.compose(l));
    writeln!(
        out,
        "\nPrivacy budget of this report: epsilon = {:.3}, delta = {:.0e} (basic composition of {} releases).",
        total.epsilon_f64(),
        total.delta_f64(),
        spent.len()
    )?;
    writeln!(
        out,
        "'~' marks values whose {:.0}% interval is wider than ±{:.0}% of the value: too noisy to act on.",
        CONFIDENCE * 100.0,
        NOISY_RELATIVE_HALF_WIDTH * 100.0
    )?;
    Ok(())
}
