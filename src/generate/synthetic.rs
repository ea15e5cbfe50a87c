//! A synthetic customer base with the shape of real retail data: skewed
//! segment sizes, log-normal spend, several purchases per customer, and some
//! customers who have not consented to analytics.

use rand::Rng;
use rand_distr::{Distribution, LogNormal, Poisson};

/// Loyalty tiers, from most to least common.
pub const SEGMENTS: [&str; 4] = ["bronze", "silver", "gold", "platinum"];
/// Relative sizes of the tiers (public knowledge in this demo).
const SEGMENT_WEIGHTS: [f64; 4] = [0.62, 0.25, 0.10, 0.03];
/// Regions a customer shops in.
pub const REGIONS: [&str; 5] = ["north", "south", "east", "west", "online"];
/// Sales channels.
pub const CHANNELS: [&str; 3] = ["store", "web", "app"];
const CHANNEL_WEIGHTS: [f64; 3] = [0.55, 0.30, 0.15];
/// Home cities: a long tail (Zipf-like sizes), so some are too small to report.
pub const CITIES: [&str; 24] = [
    "Lyon", "Porto", "Gent", "Graz", "Turku", "Aarhus", "Bergen", "Bilbao", "Brno", "Cork",
    "Delft", "Evora", "Fano", "Gouda", "Hamar", "Ieper", "Jena", "Kotor", "Lund", "Mende", "Nyon",
    "Olot", "Pula", "Rye",
];

/// One purchase row.
#[derive(Clone, Debug)]
pub struct Purchase {
    /// The privacy unit.
    pub customer_id: u64,
    /// Loyalty tier.
    pub segment: &'static str,
    /// Region of the purchase.
    pub region: &'static str,
    /// Channel of the purchase.
    pub channel: &'static str,
    /// The customer's home city.
    pub city: &'static str,
    /// Basket value in euros.
    pub spend: f64,
    /// Whether the customer consented to analytics.
    pub consent: bool,
}

/// Generates purchases for `customers` customers (1 + Poisson(2) purchases each).
///
/// # Errors
/// Only if a distribution parameter were invalid (they are constants).
pub fn generate<R: Rng + ?Sized>(
    customers: u32,
    rng: &mut R,
) -> Result<Vec<Purchase>, rand_distr::NormalError> {
    let purchases_per_customer =
        Poisson::new(2.0).map_err(|_| rand_distr::NormalError::BadVariance)?;
    let mut rows = Vec::new();
    for id in 0..u64::from(customers) {
        let segment_idx = pick(&SEGMENT_WEIGHTS, rng);
        let segment = SEGMENTS[segment_idx];
        // Higher tiers spend more: median basket 25, 40, 70, 120 euros.
        let median = [25.0f64, 40.0, 70.0, 120.0][segment_idx];
        let spend = LogNormal::new(median.ln(), 0.8)?;
        let home = REGIONS[rng.random_range(0..REGIONS.len())];
        let consent = rng.random_bool(0.9);
        let city = CITIES[zipf_index(CITIES.len(), rng)];
        let n: f64 = purchases_per_customer.sample(rng);
        for _ in 0..=(n as u32) {
            // Mostly the home region, sometimes online.
            let region = if rng.random_bool(0.8) { home } else { "online" };
            rows.push(Purchase {
                customer_id: id,
                segment,
                region,
                channel: CHANNELS[pick(&CHANNEL_WEIGHTS, rng)],
                city,
                spend: (spend.sample(rng) * 100.0).round() / 100.0,
                consent,
            });
        }
    }
    Ok(rows)
}

/// An index in `0..n` with probability proportional to 1/(i+1)^1.8.
fn zipf_index<R: Rng + ?Sized>(n: usize, rng: &mut R) -> usize {
    let weights: Vec<f64> = (1..=n).map(|i| (i as f64).powf(-1.8)).collect();
    pick(&weights, rng)
}

fn pick<R: Rng + ?Sized>(weights: &[f64], rng: &mut R) -> usize {
    let mut x: f64 = rng.random::<f64>() * weights.iter().sum::<f64>();
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}
