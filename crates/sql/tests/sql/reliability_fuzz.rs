//! The reliability fuzzer: mutated SQL, mutated catalogs and mutated data
//! files (CSV, NDJSON, Parquet) through the public API, each case asserting
//! - no panic (neither escaping nor caught at the engine's boundary, which
//!   reports it as an "internal error"),
//! - no hang (a time limit per case),
//! - charged implies released, unless the failure came after the charge as
//!   an execution failure (a failure that depends on the data, documented in
//!   `docs/reliability.md`); such cases are counted and shown.
//!
//! `cargo test -p privagg-sql --test sql reliability_fuzzer` runs a bounded
//! slice (300 cases, seed 17). `PRIVAGG_RELIABILITY_CASES=100000
//! PRIVAGG_RELIABILITY_SEED=1 cargo test -p privagg-sql --test sql
//! reliability_fuzzer -- --nocapture` runs the long campaign; the figures are
//! in `docs/reliability.md`.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use privagg_budget::{Ledger, MemoryLedger};
use privagg_sql::{Catalog, Engine, SqlError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::reliability_mutations::{Base, base, catalog_text, mutate_catalog, mutate_data};
use crate::reliability_sql::{SEEDS, mutate_sql, pick};

/// What one case did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Sql,
    Catalog,
    Data,
}

/// The outcome of one case, as counted.
fn outcome(result: &Result<(), SqlError>) -> &'static str {
    match result {
        Ok(()) => "released",
        Err(SqlError::Catalog { .. }) => "catalog error",
        Err(SqlError::Rejected(m)) if m.starts_with("internal error") => "INTERNAL ERROR",
        Err(SqlError::Rejected(_)) => "rejected",
        Err(SqlError::InvalidSql(_)) => "invalid SQL",
        Err(SqlError::UnknownAnalyst(_)) => "unknown analyst",
        Err(SqlError::Budget(_)) => "budget",
        Err(SqlError::Noise(_)) => "invalid parameter",
        Err(SqlError::Execution(m)) if m.starts_with("internal error") => "INTERNAL ERROR",
        Err(SqlError::Execution(_)) => "failed after the charge",
        Err(_) => "other error",
    }
}

/// Runs one query on an engine; returns the outcome and whether it charged.
async fn run(engine: &Engine, ledger: &MemoryLedger, sql: &str) -> (Result<(), SqlError>, bool) {
    let before = ledger.charges().expect("charges").len();
    let result = engine.query("alice", sql).await.map(|_| ());
    let charged = ledger.charges().expect("charges").len() > before;
    (result, charged)
}

async fn open(catalog: &str, base_dir: &Path) -> Result<(Engine, Arc<MemoryLedger>), SqlError> {
    let catalog = Catalog::parse(catalog, "fuzz.toml", base_dir.to_path_buf())?;
    let ledger = Arc::new(MemoryLedger::new());
    let engine = Engine::with_ledger(catalog, ledger.clone()).await?;
    Ok((engine, ledger))
}

/// One case: returns (kind, outcome, charged, what was run).
async fn case(
    rng: &mut StdRng,
    base: &Base,
    engines: &[(Engine, Arc<MemoryLedger>)],
) -> (Kind, &'static str, bool, String) {
    let kind = match rng.random_range(0..10) {
        0..6 => Kind::Sql,
        6..8 => Kind::Catalog,
        _ => Kind::Data,
    };
    let case_dir = tempfile::tempdir().expect("case dir");
    let (result, charged, what) = match kind {
        Kind::Sql => {
            let (engine, ledger) = &engines[rng.random_range(0..engines.len())];
            let sql = mutate_sql(rng);
            let (r, c) = run(engine, ledger, &sql).await;
            (r, c, sql)
        }
        Kind::Catalog | Kind::Data => {
            let (file, mut what) = match kind {
                Kind::Data => mutate_data(rng, base, case_dir.path()),
                _ => (
                    [&base.csv, &base.json, &base.parquet][rng.random_range(0..3)].clone(),
                    String::new(),
                ),
            };
            let plain = catalog_text(&file);
            let mut text = plain.clone();
            if kind == Kind::Catalog {
                text = mutate_catalog(rng, &text);
                let before: Vec<&str> = plain.lines().collect();
                let changed: Vec<&str> = text.lines().filter(|l| !before.contains(l)).collect();
                what = format!("catalog lines {changed:?} (of {})", file.display());
            }
            let sql = pick(rng, SEEDS);
            match open(&text, base.dir.path()).await {
                Ok((engine, ledger)) => {
                    let (r, c) = run(&engine, &ledger, sql).await;
                    let detail = r
                        .as_ref()
                        .err()
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    (r, c, format!("{what} -- {sql} -- {detail}"))
                }
                Err(e) => (Err(e), false, what),
            }
        }
    };
    (kind, outcome(&result), charged, what)
}

/// Prints the outcome histogram.
fn report(histogram: &BTreeMap<(Kind, &'static str), usize>) {
    for ((kind, outcome), n) in histogram {
        eprintln!("  {kind:?} {outcome}: {n}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_fuzzer() {
    let cases: usize = std::env::var("PRIVAGG_RELIABILITY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let seed: u64 = std::env::var("PRIVAGG_RELIABILITY_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(17);
    let base = base();
    let mut engines = Vec::new();
    for file in [&base.csv, &base.json, &base.parquet] {
        engines.push(
            open(&catalog_text(file), base.dir.path())
                .await
                .expect("base engine"),
        );
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut histogram: BTreeMap<(Kind, &'static str), usize> = BTreeMap::new();
    let mut charged_failures = Vec::new();
    let mut failures = Vec::new();
    let started = std::time::Instant::now();
    for i in 0..cases {
        if i > 0 && i % 5_000 == 0 {
            // Progress of a long run: the figures so far.
            eprintln!(
                "after {i} cases ({:.0} s): {} failures, {} charged then failed on data",
                started.elapsed().as_secs_f64(),
                failures.len(),
                charged_failures.len()
            );
            report(&histogram);
        }
        let work = AssertUnwindSafe(case(&mut rng, &base, &engines)).catch_unwind();
        let (kind, outcome, charged, what) =
            match tokio::time::timeout(Duration::from_secs(60), work).await {
                Ok(Ok(done)) => done,
                Ok(Err(_)) => {
                    eprintln!("FAILURE case {i}: PANIC");
                    failures.push(format!("case {i}: PANIC"));
                    continue;
                }
                Err(_) => {
                    eprintln!("FAILURE case {i}: HANG");
                    failures.push(format!("case {i}: HANG (over 60 s)"));
                    continue;
                }
            };
        *histogram.entry((kind, outcome)).or_default() += 1;
        if outcome == "INTERNAL ERROR" {
            eprintln!("FAILURE case {i}: internal error: {what}");
            failures.push(format!("case {i}: a panic caught at the boundary:\n{what}"));
        }
        if charged && outcome != "released" {
            if outcome == "failed after the charge" {
                charged_failures.push(format!("case {i} ({kind:?}): {what}"));
            } else {
                eprintln!("FAILURE case {i}: charged, then {outcome}: {what}");
                failures.push(format!("case {i}: charged, then {outcome}:\n{what}"));
            }
        }
    }
    eprintln!(
        "reliability fuzzer: {cases} cases, seed {seed}, {:.0} s",
        started.elapsed().as_secs_f64()
    );
    report(&histogram);
    eprintln!("  charged then failed on data: {}", charged_failures.len());
    for c in charged_failures.iter().take(20) {
        eprintln!("    {}", c.chars().take(300).collect::<String>());
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        histogram.keys().any(|(_, o)| *o == "released") && histogram.len() > 5,
        "the mutations never reached a release or never failed: the fuzzer proves nothing"
    );
}
