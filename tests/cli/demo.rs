//! `privagg demo` and `privagg generate`.

use crate::common::{generated, ok, run, spent_epsilon};

#[test]
fn demo_answers_segment_questions_through_sql_and_the_ledger() {
    let dir = tempfile::tempdir().expect("tempdir");
    let work = dir.path().join("demo");
    let out = ok(&[
        "demo",
        "--customers",
        "3000",
        "--dir",
        work.to_str().expect("utf-8"),
    ]);
    for needle in [
        "by loyalty tier",
        "bronze",
        "platinum",
        "Median basket by region",
        "home city",
        "Purchases by tier and channel",
        "a group needs about",
        "Budget of alice: spent epsilon 3.5",
        "remaining analyst 'alice': epsilon 6.5",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    // Every tier row carries a value with its interval: `n [lo, hi]`.
    let bronze = out
        .lines()
        .find(|l| l.trim_start().starts_with("bronze "))
        .expect("a bronze row");
    assert_eq!(bronze.matches('[').count(), 2, "{bronze}");
    // The demo worked through real files and a real ledger.
    let catalog = work.join("privagg.toml");
    assert!(work.join("data/purchases.parquet").is_file());
    assert_eq!(spent_epsilon(&catalog, "alice"), "3.5");
    let audit = ok(&[
        "audit",
        "--catalog",
        catalog.to_str().expect("utf-8"),
        "verify",
    ]);
    assert!(
        audit.contains("ledger verified: 4 audit entries"),
        "{audit}"
    );
}

#[test]
fn generate_writes_parquet_and_a_catalog_that_query_can_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = generated(dir.path(), 2000);
    let c = catalog.to_str().expect("utf-8");
    let out = ok(&[
        "query",
        "--catalog",
        c,
        "--format",
        "json",
        "SELECT segment, COUNT(DISTINCT customer_id) AS customers FROM purchases GROUP BY segment",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    let rows = doc["rows"].as_array().expect("rows");
    // Public tiers: all four are released, whatever the noise.
    assert_eq!(rows.len(), 4, "{out}");
    let total: f64 = rows
        .iter()
        .map(|r| r["customers"].as_f64().unwrap_or(0.0))
        .sum();
    // ~90% of 2,000 customers consented; the noise is a few units per tier.
    assert!((1600.0..2000.0).contains(&total), "total {total}");
    assert_eq!(doc["metadata"]["epsilon"], "1", "the catalog default");
}

#[test]
fn generate_into_an_unwritable_place_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("file");
    std::fs::write(&file, "x").expect("write");
    let (code, _, err) = run(&[
        "generate",
        "--customers",
        "10",
        "--out",
        file.join("sub").to_str().expect("utf-8"),
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.starts_with("privagg: writing ") && err.lines().count() == 1,
        "{err}"
    );
}
