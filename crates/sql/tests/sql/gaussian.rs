//! Gaussian noise and zCDP through the public API: intervals that cover the
//! truth about 95% of the time, a ρ budget that composes as zCDP says,
//! explain's comparison of the two mechanisms and the `auto` rule, and
//! clear refusals.

use std::sync::Arc;

use privagg_budget::{Amount, Ledger, MemoryLedger, Rounding, Scope, ScopeBudget};
use privagg_sql::{Catalog, Engine, Mechanism, QueryConfig};

use crate::common::{Row, column_f64, column_str, shared_data, table_context};

/// Forty public segments of 20 to 137 customers, one row each, values in
/// [10, 90] (bounds [0, 100] never bind): the truth is exact.
fn generated() -> (Vec<Row>, Vec<(String, f64, f64)>) {
    let mut rows = Vec::new();
    let mut truth = Vec::new();
    for s in 0..40 {
        let name = format!("s{s:02}");
        let n = 20 + (s * 3) % 118;
        let mut sum = 0.0;
        for i in 0..n {
            let v = 10.0 + f64::from((i * 37 + s) % 81);
            sum += v;
            rows.push((format!("{name}-{i}"), Some(name.clone()), Some(v)));
        }
        truth.push((name, f64::from(n), sum));
    }
    (rows, truth)
}

#[tokio::test]
async fn gaussian_intervals_cover_the_truth_about_95_percent_of_the_time() {
    let (rows, truth) = generated();
    let names: Vec<String> = truth.iter().map(|(s, _, _)| s.clone()).collect();
    let ctx = table_context(
        &rows,
        (0.0, 100.0),
        Some(names.iter().map(String::as_str).collect()),
        1,
    )
    .await;
    let config = QueryConfig {
        confidence: 0.95,
        intervals: true,
    };
    // ε 0.25 makes the counts' σ about 34: the integer interval's own
    // rounding then adds well under a point of coverage.
    let sql = "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 0.25, delta = 1e-5, \
               mechanism = 'gaussian') seg, COUNT(*) AS n, SUM(v) AS total, AVG(v) AS mean \
               FROM t GROUP BY seg";
    let (mut cells, mut covered) = ([0u32; 3], [0u32; 3]);
    for _ in 0..100 {
        let r = ctx.query_with("alice", sql, config).await.expect("query");
        assert_eq!(r.metadata.mechanism, Mechanism::Gaussian);
        assert!(
            r.metadata
                .columns
                .iter()
                .all(|c| c.mechanism.starts_with("discrete Gaussian"))
        );
        let segs = column_str(&r.batches, "seg");
        for (s, n, sum) in &truth {
            let row = segs.iter().position(|x| x == s).expect("segment");
            for (j, (col, value)) in [("n", *n), ("total", *sum), ("mean", sum / n)]
                .into_iter()
                .enumerate()
            {
                let lo = column_f64(&r.batches, &format!("{col}_ci_low"))[row].expect("low");
                let hi = column_f64(&r.batches, &format!("{col}_ci_high"))[row].expect("high");
                cells[j] += 1;
                covered[j] += u32::from(lo <= value && value <= hi);
            }
        }
    }
    for (j, name) in ["COUNT", "SUM", "AVG"].iter().enumerate() {
        let rate = f64::from(covered[j]) / f64::from(cells[j]);
        eprintln!("{name}: coverage {rate:.4} over {} cells", cells[j]);
        // COUNT and SUM intervals are exact: 4,000 cells put the coverage
        // within ±0.011 of 0.95 (3 standard deviations). AVG's combine two
        // intervals by a union bound (at least 95%).
        if j < 2 {
            assert!((0.93..=0.97).contains(&rate), "{name}: coverage {rate}");
        } else {
            assert!(rate >= 0.93, "{name}: coverage {rate}");
        }
    }
}

const ZCDP: &str = r#"
[ledger]
path = "unused.db"
[[analysts]]
name = "zoe"
rho = 0.5
delta = 1e-6
[[tables]]
name = "users"
path = "d1.csv"
privacy_unit = "UserId"
[tables.columns.Usage]
lower = 0.0
upper = 100.0
"#;

async fn zcdp_engine() -> (Engine, Arc<MemoryLedger>) {
    let catalog = Catalog::parse(ZCDP, "zcdp.toml", shared_data()).expect("catalog");
    let ledger = Arc::new(MemoryLedger::new());
    let engine = Engine::with_ledger(catalog, ledger.clone())
        .await
        .expect("engine");
    (engine, ledger)
}

fn zoe(ledger: &MemoryLedger, catalog: &Catalog) -> ScopeBudget {
    let (scope, limit) = catalog.analyst("zoe").expect("zoe").scope().expect("scope");
    assert_eq!(scope, Scope::Analyst("zoe".into()));
    ScopeBudget {
        spent: ledger.spent(&scope).expect("spent"),
        scope,
        limit,
    }
}

/// A zCDP analyst runs 100 Gaussian queries of ε 0.1 (at δ 1e-6) each: the
/// ledger spends exactly the sum of their ρ, which implies ε ≈ 1 where basic
/// composition of the same queries would have spent ε 10.
#[tokio::test]
async fn a_zcdp_analyst_spends_what_zcdp_composition_says() {
    let (engine, ledger) = zcdp_engine().await;
    let sql = "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 0.1, delta = 1e-6, \
               mechanism = 'gaussian') COUNT(*) AS n FROM users";
    let mut total = Amount::default();
    for _ in 0..100 {
        let r = engine.query("zoe", sql).await.expect("query");
        let rho = r.metadata.rho.expect("a zCDP release states its rho");
        total = total.checked_add(rho).expect("sum");
    }
    let budget = zoe(&ledger, engine.catalog());
    assert_eq!(
        budget.spent.rho, total,
        "the ledger's rho is the sum of the releases'"
    );
    let per_query = privagg_noise::epsilon_to_zcdp(
        &privagg_noise::Epsilon::new(0.1).expect("eps"),
        &privagg_noise::Delta::new(1e-6).expect("delta"),
    )
    .expect("rho");
    // Each charge rounds its ρ up to the ledger's decimals.
    let per_charge = Amount::from_ratio(per_query.as_ratio(), Rounding::Up).expect("rho");
    let bound = (0..100).fold(Amount::default(), |t, _| {
        t.checked_add(per_charge).expect("sum")
    });
    assert!(budget.spent.rho <= bound, "{} > {bound}", budget.spent.rho);
    let implied = budget.implied_epsilon().expect("implied epsilon").to_f64();
    let basic = budget.spent.epsilon.to_f64();
    eprintln!(
        "100 queries of epsilon 0.1: rho {} -> epsilon {implied:.4} at delta 1e-6 (zCDP); \
         basic composition: epsilon {basic:.4}",
        budget.spent.rho
    );
    assert!(implied < 1.1, "zCDP: {implied}");
    assert!(basic > 9.9 && basic <= 10.0 + 1e-9, "basic: {basic}");
    assert!(budget.spent_text().contains("basic composition"));
}

/// Laplace releases are pure ε-DP, so ε²/2-zCDP: a ρ budget can pay for them.
#[tokio::test]
async fn a_laplace_release_costs_epsilon_squared_over_two_in_rho() {
    let (engine, _) = zcdp_engine().await;
    let r = engine
        .query(
            "zoe",
            "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 0.1, mechanism = 'laplace') \
             COUNT(*) FROM users",
        )
        .await
        .expect("query");
    assert_eq!(
        r.metadata.rho.map(|r| r.to_string()).as_deref(),
        Some("0.005")
    );
}

/// Selecting private group keys has a δ with no ρ: a ρ budget refuses it,
/// before anything is charged, and says what to do.
#[tokio::test]
async fn a_zcdp_budget_refuses_private_key_selection_clearly() {
    let (engine, ledger) = zcdp_engine().await;
    let error = engine
        .query(
            "zoe",
            "SELECT Segment, COUNT(*) FROM users GROUP BY Segment",
        )
        .await
        .expect_err("no rho for selection");
    assert!(error.to_string().contains("rho"), "{error}");
    assert_eq!(zoe(&ledger, engine.catalog()).spent.rho, Amount::default());
}

#[tokio::test]
async fn gaussian_noise_needs_a_delta() {
    let (engine, _) = zcdp_engine().await;
    let error = engine
        .query(
            "zoe",
            "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (delta = 0, mechanism = 'gaussian') \
             COUNT(*) FROM users",
        )
        .await
        .expect_err("delta 0");
    assert!(error.to_string().contains("needs delta > 0"), "{error}");
}

/// Explain shows both mechanisms; `auto` keeps Laplace for one count and
/// takes Gaussian for sixteen sums, where it is more accurate for every one.
#[tokio::test]
async fn explain_compares_the_mechanisms_and_auto_picks_the_more_accurate() {
    let (engine, _) = zcdp_engine().await;
    let one = engine
        .explain("SELECT COUNT(*) FROM users")
        .await
        .expect("explain");
    assert_eq!(one.mechanism, Mechanism::Laplace);
    let other = one.alternative.expect("the Gaussian alternative");
    assert_eq!(other.mechanism, Mechanism::Gaussian);
    let (l, g) = (one.outputs[0].half_width, other.outputs[0].half_width);
    assert!(l < g, "one count: Laplace {l:?} should beat Gaussian {g:?}");

    let sums: Vec<String> = (1..=16)
        .map(|i| {
            format!(
                "SUM(Usage * {i}, contribution_bounds_per_group => (0, {})) AS s{i}",
                100 * i
            )
        })
        .collect();
    let many = engine
        .explain(&format!("SELECT {} FROM users", sums.join(", ")))
        .await
        .expect("explain");
    assert_eq!(many.mechanism, Mechanism::Gaussian);
    let laplace = many.alternative.expect("the Laplace alternative");
    for (g, l) in many.outputs.iter().zip(&laplace.outputs) {
        assert!(g.half_width < l.half_width, "{}", g.aggregate);
    }
    // The analyst can still choose.
    let forced = engine
        .explain(&format!(
            "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (mechanism = 'laplace') {} FROM users",
            sums.join(", ")
        ))
        .await
        .expect("explain");
    assert_eq!(forced.mechanism, Mechanism::Laplace);
}

/// `mechanism => 'gaussian'` on one aggregate: it gets Gaussian noise, the
/// others keep Laplace noise, and the query is accounted in zCDP.
#[tokio::test]
async fn an_aggregate_can_ask_for_its_own_noise() {
    let (engine, _) = zcdp_engine().await;
    let sql = "SELECT COUNT(*) AS n, SUM(Usage, mechanism => 'gaussian') AS s FROM users";
    let e = engine.explain(sql).await.expect("explain");
    let noise: Vec<(&str, &str)> = e
        .columns
        .iter()
        .map(|c| (c.aggregate.as_str(), c.mechanism))
        .collect();
    assert!(noise[0].1.starts_with("discrete Laplace"), "{noise:?}");
    assert!(noise[1].1.starts_with("discrete Gaussian"), "{noise:?}");
    assert!(e.rho.is_some(), "accounted in zCDP");
    let r = engine.query("zoe", sql).await.expect("query");
    assert_eq!(r.metadata.rho, e.rho);
    for (bad, want) in [
        ("'fast'", "is 'laplace' or 'gaussian'"),
        ("'auto'", "is 'laplace' or 'gaussian'"),
        ("1", "string literal"),
    ] {
        let error = engine
            .explain(&format!("SELECT SUM(Usage, mechanism => {bad}) FROM users"))
            .await
            .expect_err(bad);
        assert!(error.to_string().contains(want), "{bad}: {error}");
    }
}
