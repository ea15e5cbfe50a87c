//! The fused bounding operator gives bit-identical pre-noise bounded sums:
//! every bounded plan of every query runs twice on the local engine — as
//! planned (with `BoundByUnit`, the fused operator) and expanded into stock
//! DataFusion operators and `privagg_bottom_k_groups` — over random tables
//! (random sizes, units, group counts per unit, NULL keys and values, NaN
//! and out-of-bounds values), and every result is compared row for row.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::common::tree_node::TreeNode;
use datafusion::logical_expr::LogicalPlan;
use privagg_budget::MemoryLedger;
use privagg_sql::{Catalog, Engine, Executor, LocalExecutor, Session};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug)]
struct Tee {
    local: LocalExecutor,
    /// Runs the stock expansion (without the catalog's memory limit:
    /// DataFusion's hash aggregation does not spill its partial stage).
    stock: LocalExecutor,
    fused_plans: Mutex<usize>,
    differences: Mutex<Vec<String>>,
}

fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let text = pretty_format_batches(batches).expect("format").to_string();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(1)
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

fn has_fused_node(plan: &LogicalPlan) -> bool {
    plan.exists(|p| Ok(matches!(p, LogicalPlan::Extension(e) if e.node.name() == "BoundByUnit")))
        .expect("walk")
}

#[async_trait::async_trait]
impl Executor for Tee {
    async fn execute(&self, plan: LogicalPlan) -> datafusion::error::Result<Vec<RecordBatch>> {
        let fused = self.local.execute(plan.clone()).await?;
        if has_fused_node(&plan) {
            *self.fused_plans.lock().unwrap() += 1;
            let stock = self
                .stock
                .execute(privagg_sql::fused::expand(plan.clone())?)
                .await?;
            if rows(&fused) != rows(&stock) {
                self.differences.lock().unwrap().push(format!(
                    "plan\n{}\nfused\n{}\nstock\n{}",
                    plan.display_indent(),
                    rows(&fused).join("\n"),
                    rows(&stock).join("\n")
                ));
            }
        }
        Ok(fused)
    }
}

/// A random table: `units` customers with 1..=12 rows each, spread over
/// up to 6 segments (some NULL) and 3 regions; spend with NULLs, NaN and
/// values beyond the bounds.
fn write_table(path: &Path, rng: &mut StdRng, units: u32) {
    let mut text = String::from("customer,segment,region,spend,qty\n");
    let segments = rng.random_range(1..=6);
    for customer in 0..units {
        // Units as sparse ids, negative ones included.
        let id = i64::from(customer) * 7919 - 50_000;
        for _ in 0..rng.random_range(1..=12) {
            let segment = match rng.random_range(0..=segments) {
                0 => String::new(),
                s => format!("s{s}"),
            };
            let region = rng.random_range(0..3);
            let spend = match rng.random_range(0..20) {
                0 => String::new(),
                1 => "NaN".into(),
                2 => "1e9".into(),
                3 => "-5".into(),
                _ => format!("{:.2}", rng.random_range(0.0..400.0)),
            };
            let qty = rng.random_range(0..9);
            writeln!(text, "{id},{segment},{region},{spend},{qty}").expect("write");
        }
    }
    std::fs::write(path, text).expect("table");
}

fn catalog(dir: &Path, k: u32, rows_per_group: u32) -> Catalog {
    catalog_with(dir, k, rows_per_group, "")
}

/// [`catalog`] with `engine` as its `[engine]` section's body.
fn catalog_with(dir: &Path, k: u32, rows_per_group: u32, engine: &str) -> Catalog {
    let text = format!(
        r#"
[engine]
{engine}
[ledger]
path = "unused.db"
[[analysts]]
name = "alice"
epsilon = 100000.0
delta = 1e-3
[[tables]]
name = "t"
path = "{dir}/t.csv"
privacy_unit = "customer"
max_groups_contributed = {k}
max_rows_per_group = {rows_per_group}
[tables.columns.customer]
type = "int64"
[tables.columns.segment]
type = "string"
[tables.columns.region]
type = "int32"
public_values = [0, 1, 2]
[tables.columns.spend]
type = "float64"
lower = 0.0
upper = 300.0
[tables.columns.qty]
type = "int64"
lower = 0
upper = 8
"#,
        dir = dir.display()
    );
    Catalog::parse(&text, "fused.toml", dir.to_path_buf()).expect("catalog")
}

const SHAPES: &[&str] = &[
    "SELECT segment, COUNT(*) FROM t GROUP BY segment",
    "SELECT region, COUNT(*), SUM(spend), AVG(spend) FROM t GROUP BY region",
    "SELECT segment, region, COUNT(spend), SUM(qty), AVG(qty) FROM t GROUP BY segment, region",
    "SELECT segment, VAR_POP(spend), STDDEV(qty) FROM t GROUP BY segment",
    "SELECT region, COUNT(DISTINCT customer) FROM t GROUP BY region",
    "SELECT segment, SUM(spend, contribution_bounds_per_group => (0, 500)) FROM t GROUP BY segment",
    "SELECT segment, SUM(spend, contribution_bounds_per_row => (10, 100)) FROM t \
     WHERE qty > 2 GROUP BY segment",
    "SELECT CASE WHEN qty > 4 THEN 'big' ELSE 'small' END AS size, region, COUNT(*) \
     FROM t GROUP BY size, region",
    "SELECT segment, MEDIAN(spend), COUNT(*) FROM t GROUP BY segment",
];

/// Runs `shapes` through an engine over `catalog` whose executor compares
/// every fused plan with its stock expansion; the fused plans compared.
async fn compare(catalog: Catalog, shapes: &[&str], what: &str) -> usize {
    let mut unlimited = catalog.clone();
    unlimited.engine.memory_limit_mb = None;
    let unlimited = Engine::with_ledger(unlimited, Arc::new(MemoryLedger::new()))
        .await
        .expect("engine");
    let engine = Engine::with_ledger(catalog, Arc::new(MemoryLedger::new()))
        .await
        .expect("engine");
    let tee = Arc::new(Tee {
        local: engine.local_executor(),
        stock: unlimited.local_executor(),
        fused_plans: Mutex::new(0),
        differences: Mutex::new(Vec::new()),
    });
    let engine = Arc::new(engine.with_executor(Arc::clone(&tee) as Arc<dyn Executor>));
    let mut session = Session::new(engine);
    for sql in shapes {
        let release = session.query("alice", sql).await;
        assert!(release.is_ok(), "{what}: {sql}: {:?}", release.err());
    }
    let differences = tee.differences.lock().unwrap();
    assert!(
        differences.is_empty(),
        "{what}:\n{}",
        differences.join("\n\n")
    );
    *tee.fused_plans.lock().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fused_operator_gives_the_stock_plans_exact_sums() {
    let mut compared = 0;
    for seed in 0..6u64 {
        let dir = tempfile::tempdir().expect("dir");
        let mut rng = StdRng::seed_from_u64(seed);
        let units = [20, 300, 2_000][seed as usize % 3];
        write_table(&dir.path().join("t.csv"), &mut rng, units);
        let k = rng.random_range(1..=3);
        let rows_per_group = rng.random_range(1..=4);
        let what = format!("seed {seed} (k {k}, rows {rows_per_group})");
        compared += compare(catalog(dir.path(), k, rows_per_group), SHAPES, &what).await;
    }
    // Every grouped shape but the percentile's own plan goes through the
    // operator, for every table.
    assert!(
        compared >= 6 * (SHAPES.len() - 1),
        "only {compared} fused plans"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_the_catalogs_memory_limit_the_operator_spills_and_the_sums_stay_exact() {
    // ~40,000 rows: ~1.6 MB of the operator's buckets, over a 1 MiB pool.
    let dir = tempfile::tempdir().expect("dir");
    let mut rng = StdRng::seed_from_u64(77);
    write_table(&dir.path().join("t.csv"), &mut rng, 6_000);
    let catalog = catalog_with(dir.path(), 2, 3, "memory_limit_mb = 1");
    let compared = compare(catalog, &SHAPES[..3], "memory_limit_mb = 1").await;
    assert_eq!(compared, 3, "every shape goes through the operator");
}
