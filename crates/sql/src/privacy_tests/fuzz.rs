//! The neighbour fuzzer: grammar-generated queries run on neighbouring
//! datasets. For every query it asserts that
//! - the outcome (accepted or the exact error text) is the same on both;
//! - every exact (pre-noise) component differs in L1 over the groups by at
//!   most its declared sensitivity (twice that when one unit's rows are
//!   replaced: a removal then an addition), distinct-unit counts by at most
//!   k, quantile-tree leaves by at most one level's sensitivity;
//! - a unit that never consented changes nothing at all;
//! - released rows come in the order of their keys (without ORDER BY), and
//!   public-group releases list the same keys in the same order.
//!
//! `cargo test -p privagg-sql --lib neighbour_fuzzer` runs 1,000 queries;
//! `PRIVAGG_FUZZ_QUERIES=100000 PRIVAGG_FUZZ_SEED=7 cargo test --release -p
//! privagg-sql --lib neighbour_fuzzer -- --nocapture` runs more (figures in
//! docs/privacy/testing.md). Noise is off only here: `exact_for_tests` exists
//! in test builds only, and releases are noised with OS-seeded randomness.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::ScalarValue;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::fuzz_data::{Dataset, adversary, base};
use super::grammar::{Generated, Grammar};
use super::{Exact, exact_by_group, l1_difference, leaf_weights};

use crate::engine::Engine;
use crate::options::GroupSelection;
use crate::prepare::Prepared;

/// What a run checked.
#[derive(Debug, Default)]
pub(super) struct Figures {
    pub generated: usize,
    pub accepted: usize,
    pub rejected: usize,
    pub cells: usize,
    pub neighbour_runs: usize,
}

/// The exact result of one query on one dataset.
struct ExactRun {
    prepared: Prepared,
    groups: Exact,
    leaves: Vec<HashMap<(Vec<ScalarValue>, i64), i128>>,
}

async fn exact(ctx: &Engine, sql: &str, salt: i64) -> Result<ExactRun, String> {
    let (prepared, batches, trees) = ctx
        .exact_for_tests(sql, salt)
        .await
        .map_err(|e| e.to_string())?;
    let columns: Vec<String> = prepared
        .aggregates
        .iter()
        .flat_map(|a| a.components.iter())
        .filter(|c| c.leaf_weight_bound().is_none())
        .map(|c| c.column.clone())
        .collect();
    let key_types = &prepared.analysis.key_types;
    let groups = exact_by_group(&batches, key_types, &columns);
    let leaves = trees.iter().map(|t| leaf_weights(t, key_types)).collect();
    Ok(ExactRun {
        prepared,
        groups,
        leaves,
    })
}

/// How a neighbour was made.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Removed,
    Added,
    Changed,
    NeverConsented,
}

impl Kind {
    /// The multiple of the add/remove sensitivity a difference may reach.
    fn factor(self) -> i128 {
        match self {
            Kind::Removed | Kind::Added => 1,
            Kind::Changed => 2,
            Kind::NeverConsented => 0,
        }
    }
}

fn column(groups: &Exact, i: usize) -> HashMap<Vec<ScalarValue>, i128> {
    groups.iter().map(|(k, v)| (k.clone(), v[i])).collect()
}

/// Checks one neighbour's exact run against the base's; returns cells checked.
fn compare(q: &str, kind: Kind, a: &ExactRun, b: &ExactRun) -> usize {
    let factor = kind.factor();
    let k = i128::from(a.prepared.contribution.max_groups);
    let units = l1_difference(&column(&a.groups, 0), &column(&b.groups, 0));
    assert!(
        units <= factor * k,
        "{kind:?}: unit counts differ by {units} > {factor}·{k}\n{q}"
    );
    let components = a
        .prepared
        .aggregates
        .iter()
        .flat_map(|x| x.components.iter())
        .filter(|c| c.leaf_weight_bound().is_none());
    let mut cells = 0;
    for (i, c) in components.enumerate() {
        let diff = l1_difference(&column(&a.groups, i + 1), &column(&b.groups, i + 1));
        let sensitivity = c.sensitivity.to_f64() as i128;
        assert!(
            diff <= factor * sensitivity,
            "{kind:?}: {} ({:?}) differs by {diff} > {factor}·{sensitivity}\n{q}",
            c.column,
            c.kind
        );
        cells += a.groups.len().max(b.groups.len());
    }
    let trees = a
        .prepared
        .aggregates
        .iter()
        .flat_map(|x| x.components.iter())
        .filter_map(|c| c.leaf_weight_bound());
    for (i, per_level) in trees.enumerate() {
        let diff = l1_difference(&a.leaves[i], &b.leaves[i]);
        assert!(
            diff <= factor * per_level,
            "{kind:?}: quantile-tree leaves differ by {diff} > {factor}·{per_level}\n{q}"
        );
        cells += a.leaves[i].len().max(b.leaves[i].len());
    }
    cells
}

fn key_rows(batches: &[RecordBatch], n_keys: usize) -> Vec<Vec<ScalarValue>> {
    let mut rows = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            rows.push(
                (0..n_keys)
                    .map(|c| ScalarValue::try_from_array(b.column(c), r).expect("key"))
                    .collect(),
            );
        }
    }
    rows
}

/// Whether released rows come in the order of their keys.
fn in_key_order(batches: &[RecordBatch], n_keys: usize) -> bool {
    let Some(first) = batches.iter().find(|b| b.num_rows() > 0) else {
        return true;
    };
    let fields = (0..n_keys)
        .map(|c| SortField::new(first.column(c).data_type().clone()))
        .collect();
    let converter = RowConverter::new(fields).expect("converter");
    let mut previous: Option<Vec<u8>> = None;
    for b in batches {
        let rows = converter
            .convert_columns(&b.columns()[..n_keys])
            .expect("rows");
        for row in rows.iter() {
            let bytes = row.as_ref().to_vec();
            if previous.as_ref().is_some_and(|p| *p > bytes) {
                return false;
            }
            previous = Some(bytes);
        }
    }
    true
}

/// Releases on the base and one neighbour: same outcome, rows in key order,
/// and the same key sequence when the groups are public.
async fn compare_releases(q: &Generated, base: &Engine, other: &Engine) {
    let a = base.query("a", &q.sql).await;
    let b = other.query("a", &q.sql).await;
    match (&a, &b) {
        (Ok(a), Ok(b)) => {
            if q.ordered || q.keys == 0 {
                return;
            }
            for r in [a, b] {
                assert!(
                    in_key_order(&r.batches, q.keys),
                    "released rows are not in key order\n{}",
                    q.sql
                );
            }
            if a.metadata.group_selection == GroupSelection::PublicGroups && !q.having {
                assert_eq!(
                    key_rows(&a.batches, q.keys),
                    key_rows(&b.batches, q.keys),
                    "public-group keys differ\n{}",
                    q.sql
                );
            }
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{}", q.sql),
        _ => panic!(
            "released on one dataset only: {:?} / {:?}\n{}",
            a.as_ref().err(),
            b.as_ref().err(),
            q.sql
        ),
    }
}

/// Runs `queries` generated queries from `seed`, in rounds of 50 with a new
/// victim unit each round.
pub(super) async fn run(queries: usize, seed: u64) -> Figures {
    let mut figures = Figures::default();
    let mut grammar = Grammar::new(seed);
    let mut rng = StdRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
    let d = base(300);
    let consenting: Vec<i64> =
        d.t.iter()
            .filter(|r| r.consent == Some(true))
            .map(|r| r.uid)
            .collect();
    while figures.generated < queries {
        let victim = consenting[rng.random_range(0..consenting.len())];
        let neighbours: Vec<(Kind, Dataset)> = vec![
            (Kind::Removed, d.without(victim)),
            (Kind::Added, d.with(&adversary(1_000_001, true))),
            (
                Kind::Changed,
                d.without(victim).with(&adversary(victim, true)),
            ),
            (Kind::NeverConsented, d.with(&adversary(1_000_002, false))),
        ];
        let base_ctx = Arc::new(d.context().await);
        let mut contexts = Vec::new();
        for (kind, data) in &neighbours {
            contexts.push((*kind, Arc::new(data.context().await)));
        }
        for _ in 0..50.min(queries - figures.generated) {
            let q = grammar.query();
            figures.generated += 1;
            let salt = rng.random::<i64>();
            // The five runs in parallel (the machine has cores to spare).
            let spawn = |ctx: &Arc<Engine>| {
                let (ctx, sql) = (Arc::clone(ctx), q.sql.clone());
                tokio::spawn(async move { exact(&ctx, &sql, salt).await })
            };
            let base_task = spawn(&base_ctx);
            let tasks: Vec<_> = contexts.iter().map(|(_, c)| spawn(c)).collect();
            let base_run = base_task.await.expect("base run");
            for ((kind, _), task) in contexts.iter().zip(tasks) {
                let other = task.await.expect("neighbour run");
                figures.neighbour_runs += 1;
                match (&base_run, &other) {
                    (Ok(a), Ok(b)) => figures.cells += compare(&q.sql, *kind, a, b),
                    (Err(a), Err(b)) => {
                        assert_eq!(a, b, "{kind:?}: different errors\n{}", q.sql);
                    }
                    (a, b) => panic!(
                        "{kind:?}: accepted on one dataset only: {:?} / {:?}\n{}",
                        a.as_ref().err(),
                        b.as_ref().err(),
                        q.sql
                    ),
                }
            }
            match &base_run {
                Ok(_) => {
                    figures.accepted += 1;
                    let (_, other) = &contexts[(figures.generated) % 3];
                    compare_releases(&q, &base_ctx, other).await;
                }
                Err(_) => figures.rejected += 1,
            }
        }
    }
    figures
}
