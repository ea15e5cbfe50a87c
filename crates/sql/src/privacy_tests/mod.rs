//! Tests that carry the privacy argument of the SQL layer, on the exact
//! (pre-noise) bounded values: neighbouring datasets never differ by more
//! than the declared sensitivity, and non-consenting rows change nothing.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Field, Int64Type, Schema};
use datafusion::common::ScalarValue;
use privagg_budget::MemoryLedger;

use crate::aggregate::{LEAF, WEIGHT};
use crate::bounded::UNITS;
use crate::catalog::{Catalog, ColumnConfig, TableConfig};
use crate::engine::Engine;
use crate::exact::group_keys;
use crate::register::TableSource;

mod fuzz;
mod fuzz_data;
mod grammar;

/// One row of a users table.
#[derive(Clone)]
struct Row {
    user: String,
    segment: String,
    usage: f64,
    consent: Option<bool>,
}

fn d1() -> Vec<Row> {
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/d1.csv");
    let text = std::fs::read_to_string(path).expect("d1.csv");
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some(Row {
                user: f.first()?.to_string(),
                segment: f.get(1)?.to_string(),
                usage: f.get(3)?.parse().ok()?,
                consent: Some(true),
            })
        })
        .collect()
}

/// A unit with thousands of rows in hundreds of groups.
fn heavy_unit() -> Vec<Row> {
    (0..3000)
        .map(|i| Row {
            user: "heavy".into(),
            segment: format!("S{}", i % 300),
            usage: f64::from(i % 97),
            consent: Some(true),
        })
        .collect()
}

fn batch(rows: &[Row]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("UserId", DataType::Utf8, true),
        Field::new("Segment", DataType::Utf8, true),
        Field::new("Usage", DataType::Float64, true),
        Field::new("consent", DataType::Boolean, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(
            rows.iter()
                .map(|r| Some(r.user.clone()))
                .collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter()
                .map(|r| Some(r.segment.clone()))
                .collect::<Vec<_>>(),
        )),
        Arc::new(Float64Array::from(
            rows.iter().map(|r| Some(r.usage)).collect::<Vec<_>>(),
        )),
        Arc::new(BooleanArray::from(
            rows.iter().map(|r| r.consent).collect::<Vec<_>>(),
        )),
    ];
    RecordBatch::try_new(schema, columns).expect("batch")
}

async fn context(rows: &[Row], max_groups: u32, max_rows: u32) -> Engine {
    let catalog = Catalog::parse(
        "[ledger]\npath = \"x.db\"\n[[analysts]]\nname = \"a\"\nepsilon = 1000.0\ndelta = 0.1\n",
        "test.toml",
        Default::default(),
    )
    .expect("catalog");
    let mut ctx = Engine::with_ledger(catalog, Arc::new(MemoryLedger::new()))
        .await
        .expect("context");
    let mut columns = std::collections::BTreeMap::new();
    columns.insert(
        "Usage".to_string(),
        ColumnConfig {
            lower: Some(0.0),
            upper: Some(50.0),
            public_values: None,
            data_type: None,
        },
    );
    let table = TableConfig {
        name: "users".into(),
        path: Default::default(),
        privacy_unit: "UserId".into(),
        consent_column: Some("consent".into()),
        max_groups_contributed: max_groups,
        max_rows_per_group: max_rows,
        epsilon: None,
        rho: None,
        delta: None,
        columns,
    };
    ctx.register_private_table(table, TableSource::Batches(vec![batch(rows)]))
        .await
        .expect("register");
    ctx
}

/// Exact values per group: `units`, then every component column, then (for
/// percentiles) the leaf weights keyed by (group, leaf).
pub(super) type Exact = HashMap<Vec<ScalarValue>, Vec<i128>>;

pub(super) fn decimal_or_int(a: &ArrayRef, row: usize) -> i128 {
    if a.is_null(row) {
        return 0;
    }
    if let Some(d) = a.as_primitive_opt::<Decimal128Type>() {
        return d.value(row);
    }
    a.as_primitive_opt::<Int64Type>()
        .map_or(0, |i| i128::from(i.value(row)))
}

pub(super) fn exact_by_group(
    batches: &[RecordBatch],
    key_types: &[DataType],
    columns: &[String],
) -> Exact {
    let mut out = HashMap::new();
    for b in batches {
        let keys = group_keys(b, key_types).expect("keys");
        for (row, key) in keys.into_iter().enumerate() {
            let mut values = vec![decimal_or_int(b.column_by_name(UNITS).expect("units"), row)];
            values.extend(
                columns
                    .iter()
                    .map(|c| decimal_or_int(b.column_by_name(c).expect("component"), row)),
            );
            out.insert(key, values);
        }
    }
    out
}

pub(super) fn leaf_weights(
    batches: &[RecordBatch],
    key_types: &[DataType],
) -> HashMap<(Vec<ScalarValue>, i64), i128> {
    let mut out = HashMap::new();
    for b in batches {
        let leaf: &Int64Array = b
            .column_by_name(LEAF)
            .expect("leaf")
            .as_primitive::<Int64Type>();
        let keys = group_keys(b, key_types).expect("keys");
        for (row, key) in keys.into_iter().enumerate() {
            out.insert(
                (key, leaf.value(row)),
                decimal_or_int(b.column_by_name(WEIGHT).expect("weight"), row),
            );
        }
    }
    out
}

pub(super) fn l1_difference<K: std::hash::Hash + Eq + Clone>(
    a: &HashMap<K, i128>,
    b: &HashMap<K, i128>,
) -> i128 {
    let keys: std::collections::HashSet<&K> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .map(|k| (a.get(k).copied().unwrap_or(0) - b.get(k).copied().unwrap_or(0)).abs())
        .sum()
}

const QUERY: &str = "SELECT Segment, COUNT(*), COUNT(DISTINCT UserId), SUM(Usage, contribution_bounds_per_group => (0, 120)), AVG(Usage), VAR_POP(Usage), MEDIAN(Usage) FROM users GROUP BY Segment";

/// Runs QUERY on both datasets with one salt and checks every component's
/// L1 difference against its declared (lattice) sensitivity.
async fn check_neighbours(d: &[Row], d_minus: &[Row], max_groups: u32, max_rows: u32) {
    let salt = 0x5eed;
    let full = context(d, max_groups, max_rows).await;
    let less = context(d_minus, max_groups, max_rows).await;
    let (prepared, exact_full, trees_full) = full.exact_for_tests(QUERY, salt).await.expect("full");
    let (_, exact_less, trees_less) = less.exact_for_tests(QUERY, salt).await.expect("less");
    let components: Vec<_> = prepared
        .aggregates
        .iter()
        .flat_map(|a| a.components.iter())
        .filter(|c| c.leaf_weight_bound().is_none())
        .collect();
    let columns: Vec<String> = components.iter().map(|c| c.column.clone()).collect();
    let a = exact_by_group(&exact_full, &prepared.analysis.key_types, &columns);
    let b = exact_by_group(&exact_less, &prepared.analysis.key_types, &columns);
    // Distinct units per group: the partition-selection input, sensitivity k.
    let column_of = |m: &Exact, i: usize| -> HashMap<Vec<ScalarValue>, i128> {
        m.iter().map(|(k, v)| (k.clone(), v[i])).collect()
    };
    let units_diff = l1_difference(&column_of(&a, 0), &column_of(&b, 0));
    assert!(
        units_diff <= i128::from(max_groups),
        "unit counts differ by {units_diff} > k = {max_groups}"
    );
    for (i, c) in components.iter().enumerate() {
        let diff = l1_difference(&column_of(&a, i + 1), &column_of(&b, i + 1));
        let sensitivity = c.sensitivity.to_f64() as i128;
        assert!(
            diff <= sensitivity,
            "{} ({:?}): pre-noise L1 difference {diff} > sensitivity {sensitivity}",
            c.column,
            c.kind
        );
    }
    // Quantile trees: each level's counts differ by at most k · L∞ · scale.
    let tree = prepared
        .aggregates
        .iter()
        .flat_map(|a| a.components.iter())
        .find_map(|c| c.leaf_weight_bound())
        .expect("a percentile");
    let per_level = tree;
    let leaf_diff = l1_difference(
        &leaf_weights(&trees_full[0], &prepared.analysis.key_types),
        &leaf_weights(&trees_less[0], &prepared.analysis.key_types),
    );
    assert!(
        leaf_diff <= per_level,
        "leaf weights differ by {leaf_diff} > {per_level}"
    );
}

#[tokio::test]
async fn removing_a_unit_changes_nothing_beyond_the_sensitivity() {
    let d = d1();
    // Remove each of a few units in turn, including one with several rows.
    for victim in ["A1", "A2", "B13", "C20"] {
        let less: Vec<Row> = d.iter().filter(|r| r.user != victim).cloned().collect();
        check_neighbours(&d, &less, 1, 1).await;
    }
}

#[tokio::test]
async fn a_unit_with_thousands_of_rows_in_hundreds_of_groups_is_bounded() {
    let base = d1();
    let mut with_heavy = base.clone();
    with_heavy.extend(heavy_unit());
    check_neighbours(&with_heavy, &base, 3, 2).await;
    check_neighbours(&with_heavy, &base, 1, 5).await;
}

#[tokio::test]
async fn rows_without_consent_change_no_pre_noise_value() {
    let base = d1();
    let mut with_refusals = base.clone();
    // Non-consenting rows for new and for existing customers, consent false or NULL.
    for (i, r) in base.iter().take(200).enumerate() {
        with_refusals.push(Row {
            user: r.user.clone(),
            segment: "A".into(),
            usage: 49.0,
            consent: Some(false),
        });
        with_refusals.push(Row {
            user: format!("new{i}"),
            segment: "Q".into(),
            usage: 1.0,
            consent: if i % 2 == 0 { None } else { Some(false) },
        });
    }
    let salt = 7;
    let a = context(&base, 2, 3)
        .await
        .exact_for_tests(QUERY, salt)
        .await
        .expect("base");
    let b = context(&with_refusals, 2, 3)
        .await
        .exact_for_tests(QUERY, salt)
        .await
        .expect("with refusals");
    let columns: Vec<String> =
        a.0.aggregates
            .iter()
            .flat_map(|x| x.components.iter())
            .filter(|c| c.leaf_weight_bound().is_none())
            .map(|c| c.column.clone())
            .collect();
    assert_eq!(
        exact_by_group(&a.1, &a.0.analysis.key_types, &columns),
        exact_by_group(&b.1, &a.0.analysis.key_types, &columns)
    );
    assert_eq!(
        leaf_weights(&a.2[0], &a.0.analysis.key_types),
        leaf_weights(&b.2[0], &a.0.analysis.key_types)
    );
}

#[tokio::test]
async fn each_unit_picks_its_groups_with_its_own_random_order() {
    // 2,000 users, each with one row in segment A and one in B, and one group
    // allowed per user: about half must land in each segment, in the bounded
    // aggregation and in the percentile plan alike. A salt shared by all units
    // would send every user to the same segment.
    let rows: Vec<Row> = (0..2000)
        .flat_map(|u| {
            ["A", "B"].map(|s| Row {
                user: format!("u{u}"),
                segment: s.into(),
                usage: 10.0,
                consent: Some(true),
            })
        })
        .collect();
    let ctx = context(&rows, 1, 1).await;
    for salt in [1, 2, 3] {
        let (prepared, exact, trees) = ctx.exact_for_tests(QUERY, salt).await.expect("exact");
        let by_group = exact_by_group(&exact, &prepared.analysis.key_types, &[]);
        let units: Vec<i128> = by_group.values().map(|v| v[0]).collect();
        assert_eq!(units.len(), 2, "both segments present");
        assert_eq!(
            units.iter().sum::<i128>(),
            2000,
            "every user in exactly one group"
        );
        // Binomial(2000, 1/2): ±200 is more than 8 standard deviations.
        assert!(units.iter().all(|n| (800..=1200).contains(n)), "{units:?}");
        let leaves = leaf_weights(&trees[0], &prepared.analysis.key_types);
        let mut per_group: HashMap<Vec<ScalarValue>, i128> = HashMap::new();
        for ((group, _), w) in leaves {
            *per_group.entry(group).or_default() += w;
        }
        let weights: Vec<i128> = per_group.values().copied().collect();
        let total: i128 = weights.iter().sum();
        assert!(
            weights
                .iter()
                .all(|w| *w * 10 >= total * 4 && *w * 10 <= total * 6),
            "percentile plan: {weights:?}"
        );
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The neighbour fuzzer (see `fuzz`): 1,000 queries by default;
/// `PRIVAGG_FUZZ_QUERIES` and `PRIVAGG_FUZZ_SEED` change the run.
#[tokio::test(flavor = "multi_thread")]
async fn neighbour_fuzzer() {
    let queries = env_or("PRIVAGG_FUZZ_QUERIES", 1000usize);
    let seed = env_or("PRIVAGG_FUZZ_SEED", 20_261_130u64);
    let started = std::time::Instant::now();
    let f = fuzz::run(queries, seed).await;
    eprintln!(
        "neighbour fuzzer, seed {seed}: {} queries generated, {} accepted, {} rejected, \
         {} neighbour runs, {} cells checked, {:.1} s",
        f.generated,
        f.accepted,
        f.rejected,
        f.neighbour_runs,
        f.cells,
        started.elapsed().as_secs_f64()
    );
    assert!(
        f.accepted * 5 >= queries && f.rejected * 10 >= queries,
        "the grammar should produce both accepted and rejected queries: {f:?}"
    );
}
