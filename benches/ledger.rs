//! Durable charges per second and charge latency (p50/p99) of the SQLite
//! ledger with full durability (WAL, synchronous = FULL), from 1 process and
//! from 8 concurrent processes on one ledger file.
//!
//! `cargo bench --bench ledger` — results are reported in docs/performance.md.
//! The 8-process mode re-runs this binary as child processes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use privagg::budget::{ChargeRequest, Ledger, Limit, PrivacyCost, Scope, SqliteLedger};

const CHILD_ENV: &str = "PRIVAGG_LEDGER_BENCH_CHILD";
const CHARGES_PER_PROCESS: usize = 400;

fn request(id: &str) -> ChargeRequest {
    ChargeRequest {
        request_id: id.to_string(),
        analyst: "bench".into(),
        request_text: "SELECT segment, COUNT(*) FROM customers GROUP BY segment".into(),
        cost: PrivacyCost::parse("0.001", "0").unwrap_or_default(),
        scopes: vec![
            (
                Scope::Analyst("bench".into()),
                Limit::EpsilonDelta {
                    epsilon: big(),
                    delta: big(),
                },
            ),
            (
                Scope::Table("customers".into()),
                Limit::EpsilonDelta {
                    epsilon: big(),
                    delta: big(),
                },
            ),
        ],
    }
}

fn big() -> privagg::budget::Amount {
    privagg::budget::Amount::from_units(10u128.pow(36))
}

/// Charges `n` times and returns each latency in microseconds. With a
/// `period`, charges start on a fixed schedule (open loop, like queries
/// arriving); without, back to back (saturation).
fn run_charges(db: &Path, tag: &str, n: usize, period: Option<Duration>) -> Vec<u128> {
    let Ok(ledger) = SqliteLedger::open(db) else {
        return Vec::new();
    };
    let t0 = Instant::now();
    (0..n)
        .filter_map(|i| {
            if let Some(p) = period {
                let due = t0 + p * i as u32;
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
            let start = Instant::now();
            ledger.charge(&request(&format!("{tag}-{i}"))).ok()?;
            Some(start.elapsed().as_micros())
        })
        .collect()
}

/// Runs 8 child processes, each charging `n` times at `period` (or back to back).
fn run_processes(db: &Path, label: &str, n: usize, period: Option<Duration>) {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let period_us = period.map_or(0, |p| p.as_micros());
    let start = Instant::now();
    let children: Vec<_> = (0..8)
        .filter_map(|i| {
            Command::new(&exe)
                .env(
                    CHILD_ENV,
                    format!("{}|{label}{i}|{n}|{period_us}", db.display()),
                )
                .stdout(Stdio::piped())
                .spawn()
                .ok()
        })
        .collect();
    let mut all = Vec::new();
    for c in children {
        if let Ok(out) = c.wait_with_output() {
            all.extend(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter_map(|l| l.parse::<u128>().ok()),
            );
        }
    }
    report(label, all, start.elapsed().as_secs_f64());
}

fn percentile(sorted: &[u128], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx] as f64 / 1000.0
}

fn report(label: &str, mut latencies: Vec<u128>, wall_s: f64) {
    latencies.sort_unstable();
    println!(
        "{label:<12} {:>6} charges  {:>8.0} charges/s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms",
        latencies.len(),
        latencies.len() as f64 / wall_s,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
    );
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let parts: Vec<&str> = spec.split('|').collect();
        let [db, tag, n, period_us] = parts[..] else {
            return;
        };
        let period = period_us
            .parse::<u64>()
            .ok()
            .filter(|p| *p > 0)
            .map(Duration::from_micros);
        for l in run_charges(Path::new(db), tag, n.parse().unwrap_or(0), period) {
            println!("{l}");
        }
        return;
    }
    // Benchmark on the project's disk (not a tmpfs), where fsync costs what it costs.
    let Ok(dir) = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")) else {
        return;
    };
    let db = dir.path().join("bench-ledger.db");
    if SqliteLedger::open(&db).is_err() {
        return;
    }

    println!("back to back (saturation):");
    let start = Instant::now();
    let one = run_charges(&db, "solo", CHARGES_PER_PROCESS, None);
    report("1 process", one, start.elapsed().as_secs_f64());
    run_processes(&db, "8 processes", CHARGES_PER_PROCESS, None);
    println!("paced, 8 processes x 50 charges/s = 400 charges/s offered:");
    run_processes(&db, "8 paced", 250, Some(Duration::from_millis(20)));
}
