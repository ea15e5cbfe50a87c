//! Every bounded-plan shape survives datafusion-proto: plan → bytes → plan
//! gives the same exact results, so an executor in another process runs
//! exactly what was analysed and calibrated here.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use privagg_budget::MemoryLedger;

use super::PlanCodec;
use crate::catalog::Catalog;
use crate::engine::Engine;

const CATALOG: &str = r#"
[ledger]
path = "unused.db"
[[analysts]]
name = "alice"
epsilon = 100.0
delta = 1e-3
[[tables]]
name = "pums"
path = "PUMS_dup.csv"
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
path = "PUMS_pid.csv"
privacy_unit = "pid"
[tables.columns.income]
lower = 0.0
upper = 500000.0
[[public_tables]]
name = "educ_names"
path = "educ.csv"
"#;

/// The shapes a bounded plan takes: no keys, private keys (L0 bounding in
/// the bounded-k aggregate), public keys, percentiles (their own plans),
/// joins with public and private tables, sub-queries, and total row
/// expressions (functions and operators wrapped per query).
const SHAPES: &[&str] = &[
    "SELECT COUNT(*) FROM pums",
    "SELECT educ, COUNT(*), SUM(income), AVG(age), VAR_POP(age), STDDEV_POP(age), \
     COUNT(DISTINCT pid) FROM pums GROUP BY educ",
    "SELECT sex, AVG(income) AS avg_income FROM pums GROUP BY sex",
    "SELECT educ, MEDIAN(age), PERCENTILE_CONT(income, 0.9) FROM pums GROUP BY educ",
    "SELECT n.label, COUNT(*) FROM pums p JOIN educ_names n ON p.educ = n.educ GROUP BY n.label",
    "SELECT p.married, AVG(q.income) FROM pums p JOIN people q ON p.pid = q.pid GROUP BY p.married",
    "SELECT race, COUNT(*) FROM pums WHERE educ IN (SELECT educ FROM educ_names) GROUP BY race",
    "SELECT UPPER(CAST(race AS VARCHAR)) || '-' || CAST(sex AS VARCHAR) AS r, \
     SUM(income / (age - 30), contribution_bounds_per_group => (0, 1000)) \
     FROM pums WHERE age % 7 <> 0 GROUP BY r",
];

fn sorted(batches: &[RecordBatch]) -> Vec<String> {
    let text = pretty_format_batches(batches)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// A plan as text, without the optimiser's numbering of the names it makes
/// (common sub-expressions, decorrelated sub-queries).
fn shown(plan: &datafusion::logical_expr::LogicalPlan) -> String {
    let mut text = plan.display_indent().to_string();
    for prefix in ["__common_expr_", "__correlated_sq_"] {
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(i) = rest.find(prefix) {
            let (head, tail) = rest.split_at(i + prefix.len());
            out.push_str(head);
            rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
        }
        out.push_str(rest);
        text = out;
    }
    text
}

async fn engine(dir: &std::path::Path) -> Engine {
    let data = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    for f in ["PUMS_dup.csv", "PUMS_pid.csv"] {
        std::fs::copy(data.join(f), dir.join(f)).expect("copy");
    }
    let names: String = (1..=16).map(|e| format!("{e},level {e}\n")).collect();
    std::fs::write(dir.join("educ.csv"), format!("educ,label\n{names}")).expect("names");
    let catalog = Catalog::parse(CATALOG, "proto.toml", dir.to_path_buf()).expect("catalog");
    Engine::with_ledger(catalog, Arc::new(MemoryLedger::new()))
        .await
        .expect("engine")
}

#[tokio::test]
async fn every_bounded_plan_shape_round_trips_through_proto() {
    let dir = tempfile::tempdir().expect("dir");
    let engine = engine(dir.path()).await;
    let codec = PlanCodec::new(&engine.session);
    let task = engine.session.task_ctx();
    let mut wrapped = 0;
    for sql in SHAPES {
        let (prepared, exact, trees) = engine.exact_for_tests(sql, 42).await.expect(sql);
        assert!(!exact.is_empty(), "{sql}: no exact result");
        let mut plans = vec![(prepared.bounded.clone(), exact)];
        for ((_, plan), tree) in prepared.percentiles.iter().zip(trees) {
            plans.push((plan.clone(), tree));
        }
        for (plan, expected) in plans {
            wrapped += shown(&plan).matches("privagg_total_").count();
            let bytes = codec.to_bytes(&plan).expect(sql);
            let decoded = codec.from_bytes(&bytes, &task).expect(sql);
            let optimized = engine.session.state().optimize(&plan).expect(sql);
            assert_eq!(
                shown(&decoded),
                shown(&optimized),
                "{sql}: the decoded plan differs"
            );
            let again = engine.run(decoded).await.expect(sql);
            assert_eq!(sorted(&again), sorted(&expected), "{sql}: results differ");
        }
    }
    // The codec's own encoding (total functions and operators) was exercised.
    assert!(wrapped >= 4, "only {wrapped} total wrappers in the shapes");
}

/// An executor as a remote one works: the plan travels as bytes and runs in
/// a fresh DataFusion session that knows privagg's functions but no table.
struct FreshSessionExecutor {
    codec: PlanCodec,
    fresh: datafusion::prelude::SessionContext,
}

impl std::fmt::Debug for FreshSessionExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FreshSessionExecutor")
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl crate::executor::Executor for FreshSessionExecutor {
    async fn execute(
        &self,
        plan: datafusion::logical_expr::LogicalPlan,
    ) -> datafusion::error::Result<Vec<RecordBatch>> {
        let bytes = self.codec.to_bytes(&plan)?;
        let plan = self.codec.from_bytes(&bytes, &self.fresh.task_ctx())?;
        self.fresh.execute_logical_plan(plan).await?.collect().await
    }
}

#[tokio::test]
async fn a_plan_sent_to_a_fresh_session_gives_the_same_exact_results() {
    let dir = tempfile::tempdir().expect("dir");
    let local = engine(dir.path()).await;
    let mut fresh = datafusion::prelude::SessionContext::new();
    crate::udf::register_all(&mut fresh).expect("functions");
    let codec = PlanCodec::new(&fresh);
    let remote = engine(dir.path())
        .await
        .with_executor(Arc::new(FreshSessionExecutor { codec, fresh }));
    for sql in SHAPES {
        let (_, exact, trees) = local.exact_for_tests(sql, 7).await.expect(sql);
        let (_, again, again_trees) = remote.exact_for_tests(sql, 7).await.expect(sql);
        assert_eq!(sorted(&again), sorted(&exact), "{sql}");
        for (a, b) in again_trees.iter().zip(&trees) {
            assert_eq!(sorted(a), sorted(b), "{sql}: percentile plan");
        }
    }
}

/// Tables registered from in-memory batches cannot travel: a clear error.
#[tokio::test]
async fn in_memory_tables_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("dir");
    let mut engine = engine(dir.path()).await;
    let schema = Arc::new(datafusion::arrow::datatypes::Schema::new(vec![
        datafusion::arrow::datatypes::Field::new(
            "educ",
            datafusion::arrow::datatypes::DataType::Int64,
            true,
        ),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![Arc::new(datafusion::arrow::array::Int64Array::from(vec![
            1, 2,
        ]))],
    )
    .expect("batch");
    engine
        .register_public_table("mem", crate::register::TableSource::Batches(vec![batch]))
        .await
        .expect("register");
    let (prepared, _, _) = engine
        .exact_for_tests(
            "SELECT p.educ, COUNT(*) FROM pums p JOIN mem m ON p.educ = m.educ GROUP BY p.educ",
            1,
        )
        .await
        .expect("prepare");
    let error = PlanCodec::new(&engine.session)
        .to_bytes(&prepared.bounded)
        .expect_err("in-memory table");
    assert!(error.to_string().contains("in-memory batches"), "{error}");
}
