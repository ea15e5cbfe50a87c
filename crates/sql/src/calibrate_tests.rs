//! The calibration of Gaussian components: the noise a SQL release adds has
//! the σ its metadata declares (χ² goodness of fit, with a negative control
//! 6% off), and σ² ≥ Δ₂²/2ρ for the share each component got.

use std::sync::Arc;

use num_rational::BigRational;
use privagg_budget::MemoryLedger;
use privagg_noise::SecureRng;
use privagg_noise::test_stats::{assert_fit_and_power, gaussian_cdf};

use crate::aggregate::Noise;
use crate::catalog::Catalog;
use crate::engine::Engine;
use crate::options::Mechanism;

const D1: &str = r#"
[ledger]
path = "unused.db"
[[analysts]]
name = "alice"
epsilon = 100.0
delta = 1e-3
[[tables]]
name = "users"
path = "d1.csv"
privacy_unit = "UserId"
max_groups_contributed = 2
max_rows_per_group = 3
[tables.columns.Usage]
lower = 0.0
upper = 100.0
"#;

async fn engine() -> Engine {
    let data = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    let catalog = Catalog::parse(D1, "test.toml", data).expect("catalog");
    Engine::with_ledger(catalog, Arc::new(MemoryLedger::new()))
        .await
        .expect("engine")
}

const QUERY: &str = "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 1, delta = 1e-6, \
     mechanism = 'gaussian') Segment, COUNT(*) AS n, SUM(Usage) AS total, AVG(Usage) AS mean \
     FROM users GROUP BY Segment";

#[tokio::test]
async fn gaussian_components_add_noise_of_their_declared_sigma() {
    let engine = engine().await;
    let (prepared, _, _) = engine.exact_for_tests(QUERY, 3).await.expect("prepare");
    assert_eq!(prepared.mechanism, Mechanism::Gaussian);
    let mut rng = SecureRng::from_os();
    let mut tested = 0;
    for a in &prepared.aggregates {
        for c in &a.components {
            let Noise::Gaussian(m) = &c.noise else {
                panic!("{}: not Gaussian", a.call.label);
            };
            // The declared σ (metadata's scale, in lattice units).
            let sigma = c.noise.scale();
            assert!((m.sigma() - sigma).abs() < 1e-9);
            let samples: Vec<i128> = (0..20_000)
                .map(|_| c.noise.release_integer(0, &mut rng).expect("additive"))
                .collect();
            let search = (sigma * 60.0) as i128 + 100;
            assert_fit_and_power(
                &samples,
                gaussian_cdf(sigma),
                gaussian_cdf(sigma * 1.06),
                search,
                &format!("{} ({:?})", a.call.label, c.kind),
            );
            tested += 1;
        }
    }
    // COUNT, SUM, and AVG's count and centred sum.
    assert_eq!(tested, 4);
}

#[tokio::test]
async fn each_gaussian_component_stays_within_its_rho() {
    let engine = engine().await;
    let (prepared, _, _) = engine.exact_for_tests(QUERY, 3).await.expect("prepare");
    let mut total = BigRational::from_integer(0.into());
    for a in &prepared.aggregates {
        let Some(rho) = a.share.rho() else {
            panic!("not a zCDP share");
        };
        let mut spent = BigRational::from_integer(0.into());
        for c in &a.components {
            let loss = c.loss().expect("loss");
            spent += loss.rho().expect("rho").clone();
            // Δ₂² = k·B²: k = 2 groups, B = L∞ = 3 rows for counts.
            if c.kind == crate::aggregate::ComponentKind::Count {
                assert_eq!(c.l2.squared(), &BigRational::from_integer((2 * 9).into()));
            }
        }
        assert!(
            spent <= *rho.as_ratio(),
            "{}: {spent} > {rho}",
            a.call.label
        );
        total += spent;
    }
    // The query's loss is ρ-zCDP for the sum of the components' ρ, stated
    // at the noise δ; with selection the total fits (ε, δ) = (1, 1e-6).
    let loss = &prepared.loss;
    assert!(loss.rho().is_none(), "selection has no zCDP statement");
    assert!(loss.epsilon() <= &BigRational::from_integer(1.into()));
    assert!(loss.delta_f64() <= 1e-6 * (1.0 + 1e-12));
    assert!(total > BigRational::from_integer(0.into()));
}
