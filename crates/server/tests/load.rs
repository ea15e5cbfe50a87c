//! Many connections of two analysts charging at once: no overspend (each
//! analyst's ledger spend is exactly the sum of its released queries and
//! within its limit), no lost charge, the audit verifies. Prints queries/s and
//! latency percentiles (a measurement, not a timed assertion):
//! `PRIVAGG_LOAD_CONNECTIONS=32 PRIVAGG_LOAD_QUERIES=50 cargo test -p
//! privagg-server --test load -- --nocapture` (8 × 10 by default).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests may panic

mod common;

use std::time::{Duration, Instant};

use common::{code, connect, server};
use privagg_budget::{Ledger, Scope};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_connections_never_overspend_or_lose_a_charge() {
    let (connections, per_connection) = (
        env("PRIVAGG_LOAD_CONNECTIONS", 8),
        env("PRIVAGG_LOAD_QUERIES", 10),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server(dir.path(), connections + 4).await;
    // alice has ε 1 and bob ε 5; each query costs 0.02: with enough load
    // alice runs out (53400) while bob does not.
    let sql = "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 0.02) sex, COUNT(*) AS n FROM pums GROUP BY sex";
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..connections {
        let (user, password) = if i % 2 == 0 {
            ("alice", "alice-pw")
        } else {
            ("bob", "bob-pw")
        };
        let conn = connect(&server, user, password).await.expect("login");
        tasks.push(tokio::spawn(async move {
            let (mut released, mut refused, mut latencies) = (0usize, 0usize, Vec::new());
            for _ in 0..per_connection {
                let t = Instant::now();
                match conn.client.simple_query(sql).await {
                    Ok(_) => released += 1,
                    Err(e) => {
                        assert_eq!(code(&e), "53400", "only budget refusals: {e:?}");
                        refused += 1;
                    }
                }
                latencies.push(t.elapsed());
            }
            (user, released, refused, latencies)
        }));
    }
    let mut released = std::collections::BTreeMap::new();
    let mut latencies: Vec<Duration> = Vec::new();
    let mut refused_total = 0;
    for t in tasks {
        let (user, ok, refused, l) = t.await.expect("connection task");
        *released.entry(user).or_insert(0usize) += ok;
        refused_total += refused;
        latencies.extend(l);
    }
    let elapsed = started.elapsed();
    server.shutdown().await;

    let catalog = privagg_sql::Catalog::load(dir.path().join("privagg.toml")).expect("catalog");
    let ledger = privagg_sql::ledger::open_ledger(&catalog, privagg_sql::ledger::Access::Read)
        .expect("ledger")
        .expect("a ledger exists");
    for (user, limit) in [("alice", 1.0), ("bob", 5.0)] {
        let spent = ledger
            .spent(&Scope::Analyst(user.into()))
            .expect("spent")
            .epsilon
            .to_f64();
        let expected = released.get(user).copied().unwrap_or(0) as f64 * 0.02;
        assert!(
            (spent - expected).abs() < 1e-9,
            "{user}: ledger {spent} vs releases {expected}"
        );
        assert!(spent <= limit + 1e-9, "{user} overspent: {spent} > {limit}");
    }
    let verification = ledger.verify_ledger(None).expect("verify");
    assert!(verification.is_intact(), "{verification:?}");

    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    let total = latencies.len();
    println!(
        "load: {connections} connections × {per_connection} queries = {total} in {:.2} s ({:.1} queries/s); \
         released {released:?}, refused {refused_total}; latency p50 {:?}, p99 {:?}",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99)
    );
}
