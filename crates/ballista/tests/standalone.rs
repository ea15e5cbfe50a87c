//! An in-process standalone Ballista cluster (scheduler and executor on
//! localhost gRPC, privagg's functions and codecs) gives exactly the same
//! pre-noise bounded aggregates as the local executor, for every shape of
//! bounded plan: the engine sends each plan through a tee that runs it on
//! both and compares the results row for row.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::logical_expr::LogicalPlan;
use privagg_ballista::BallistaExecutor;
use privagg_budget::{Ledger, MemoryLedger};
use privagg_sql::{Catalog, Engine, Executor, LocalExecutor, Session};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data");

/// Runs every plan on the local engine and on the cluster; keeps the
/// local result, records every difference.
#[derive(Debug)]
struct Tee {
    local: LocalExecutor,
    cluster: Arc<BallistaExecutor>,
    compared: Mutex<usize>,
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

#[async_trait::async_trait]
impl Executor for Tee {
    async fn execute(&self, plan: LogicalPlan) -> datafusion::error::Result<Vec<RecordBatch>> {
        let local = self.local.execute(plan.clone()).await?;
        let remote = self.cluster.execute(plan.clone()).await?;
        *self.compared.lock().unwrap() += 1;
        if rows(&local) != rows(&remote) {
            self.differences.lock().unwrap().push(format!(
                "plan\n{}\nlocal\n{}\ncluster\n{}",
                plan.display_indent(),
                rows(&local).join("\n"),
                rows(&remote).join("\n")
            ));
        }
        Ok(local)
    }
}

fn catalog(dir: &Path) -> Catalog {
    let text = format!(
        r#"
[ledger]
path = "unused.db"
[[analysts]]
name = "alice"
epsilon = 1000.0
delta = 1e-3
[[tables]]
name = "pums"
path = "{DATA}/PUMS_dup.csv"
privacy_unit = "pid"
max_groups_contributed = 2
max_rows_per_group = 3
[tables.columns.age]
lower = 0.0
upper = 100.0
[tables.columns.income]
lower = 0.0
upper = 500000.0
[tables.columns.sex]
public_values = [0, 1]
[[tables]]
name = "people"
path = "{DATA}/PUMS_pid.csv"
privacy_unit = "pid"
[tables.columns.income]
lower = 0.0
upper = 500000.0
[[tables]]
name = "visits"
path = "{DATA}/restaurant_week.csv"
privacy_unit = "VisitorId"
max_groups_contributed = 3
[[tables]]
name = "shop"
path = "{dir}/shop.parquet"
privacy_unit = "customer"
consent_column = "consent"
max_groups_contributed = 2
max_rows_per_group = 4
[tables.columns.spend]
lower = 0.0
upper = 300.0
[tables.columns.segment]
public_values = ["a", "b", "c", "d"]
[[public_tables]]
name = "educ_names"
path = "{dir}/educ.csv"
"#,
        dir = dir.display()
    );
    Catalog::parse(&text, "standalone.toml", dir.to_path_buf()).expect("catalog")
}

/// Generated data: 30,000 rows of 3,000 customers, a consent flag.
async fn generate(dir: &Path) {
    let ctx = datafusion::prelude::SessionContext::new();
    let sql = format!(
        "COPY (SELECT value % 3000 AS customer, \
         CASE value % 4 WHEN 0 THEN 'a' WHEN 1 THEN 'b' WHEN 2 THEN 'c' ELSE 'd' END AS segment, \
         CAST((value * 7919) % 400 AS DOUBLE) AS spend, \
         CASE value % 3000 % 10 WHEN 0 THEN 'vip' ELSE 'std' END AS tier, \
         (value % 3000) % 7 <> 0 AS consent \
         FROM generate_series(1, 30000)) TO '{}/shop.parquet' STORED AS PARQUET",
        dir.display()
    );
    ctx.sql(&sql)
        .await
        .expect("copy")
        .collect()
        .await
        .expect("write");
    let names: String = (1..=16).map(|e| format!("{e},level {e}\n")).collect();
    std::fs::write(dir.join("educ.csv"), format!("educ,label\n{names}")).expect("educ.csv");
}

/// Every shape of bounded plan: no keys, private keys (partition
/// selection), public keys, percentiles (their own plans), joins on the
/// unit and with a public value list, sub-queries, a consent table,
/// per-row bounds and total row expressions.
const SHAPES: &[&str] = &[
    "SELECT COUNT(*) FROM pums",
    "SELECT educ, COUNT(*), SUM(income), AVG(age), VAR_POP(age), STDDEV_POP(age), \
     COUNT(DISTINCT pid) FROM pums GROUP BY educ",
    "SELECT sex, AVG(income) AS avg_income FROM pums GROUP BY sex",
    "SELECT educ, MEDIAN(age), PERCENTILE_CONT(income, 0.9) FROM pums GROUP BY educ",
    "SELECT p.married, AVG(q.income) FROM pums p JOIN people q ON p.pid = q.pid GROUP BY p.married",
    "SELECT race, COUNT(*) FROM pums WHERE educ IN (SELECT educ FROM educ_names) GROUP BY race",
    "SELECT n.label, COUNT(*) FROM pums p JOIN educ_names n ON p.educ = n.educ GROUP BY n.label",
    "SELECT UPPER(CAST(race AS VARCHAR)) || '-' || CAST(sex AS VARCHAR) AS r, \
     SUM(income / (age - 30), contribution_bounds_per_group => (0, 1000)) \
     FROM pums WHERE age % 7 <> 0 GROUP BY r",
    "SELECT \"Day\", COUNT(*) AS visits FROM visits GROUP BY \"Day\"",
    "SELECT segment, COUNT(*), SUM(spend), AVG(spend) FROM shop GROUP BY segment",
    "SELECT tier, segment, MEDIAN(spend) FROM shop GROUP BY tier, segment",
    "SELECT segment, SUM(spend, contribution_bounds_per_row => (0, 100)) FROM shop GROUP BY segment",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_cluster_computes_the_local_bounded_aggregates_exactly() {
    let dir = tempfile::tempdir().expect("dir");
    generate(dir.path()).await;
    let engine = Engine::with_ledger(catalog(dir.path()), Arc::new(MemoryLedger::new()))
        .await
        .expect("engine");
    let cluster = Arc::new(BallistaExecutor::standalone().await.expect("cluster"));
    let tee = Arc::new(Tee {
        local: engine.local_executor(),
        cluster,
        compared: Mutex::new(0),
        differences: Mutex::new(Vec::new()),
    });
    let engine = Arc::new(engine.with_executor(Arc::clone(&tee) as Arc<dyn Executor>));
    let mut session = Session::new(engine);
    for sql in SHAPES {
        let release = session.query("alice", sql).await;
        assert!(release.is_ok(), "{sql}: {:?}", release.err());
    }
    let differences = tee.differences.lock().unwrap();
    assert!(differences.is_empty(), "{}", differences.join("\n\n"));
    let compared = *tee.compared.lock().unwrap();
    // Percentile queries run more than one plan.
    assert!(compared >= SHAPES.len(), "only {compared} plans compared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_the_cluster_does_not_finish_in_time_fails_with_the_timeout() {
    let dir = tempfile::tempdir().expect("dir");
    generate(dir.path()).await;
    let ledger = Arc::new(MemoryLedger::new());
    let engine = Engine::with_ledger(catalog(dir.path()), Arc::clone(&ledger) as _)
        .await
        .expect("engine");
    let cluster = BallistaExecutor::standalone()
        .await
        .expect("cluster")
        .with_timeout(Some(std::time::Duration::from_millis(1)));
    let engine = Arc::new(engine.with_executor(Arc::new(cluster.clone())));
    let mut session = Session::new(engine);
    let sql = "SELECT segment, COUNT(*) FROM shop GROUP BY segment";
    let err = session
        .query("alice", sql)
        .await
        .expect_err("1 ms is too short");
    // The analyst is told it was the cluster's time limit, not the data.
    let message = err.to_string();
    assert!(
        message.contains("did not finish within 1ms ([engine] timeout_seconds)")
            && message.contains("after the budget was charged"),
        "{message}"
    );
    assert_eq!(ledger.charges().expect("charges").len(), 1, "charged once");
    // Without the limit the same bounded plan runs.
    let plan = datafusion::prelude::SessionContext::new()
        .sql("SELECT 1 AS one")
        .await
        .expect("plan")
        .logical_plan()
        .clone();
    let cluster = cluster.with_timeout(None);
    assert_eq!(rows(&cluster.execute(plan).await.expect("runs")).len(), 1);
}
