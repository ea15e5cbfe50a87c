//! The operator under a memory limit, and its wire form.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::prelude::{SessionConfig, SessionContext, col};

use super::{BoundByUnit, FusedQueryPlanner, Names, Partial};

/// A session with the fused planner and a memory pool of `limit` bytes.
fn session(limit: usize) -> SessionContext {
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(limit, 1.0)
        .build_arc()
        .expect("runtime");
    let state = SessionStateBuilder::new()
        .with_config(SessionConfig::new().with_target_partitions(2))
        .with_runtime_env(runtime)
        .with_default_features()
        .with_query_planner(Arc::new(FusedQueryPlanner))
        .build();
    SessionContext::new_with_state(state)
}

/// `rows` rows of `rows / 3` units, 4 segments, count partial 1 per row.
fn plan(ctx: &SessionContext, rows: i64) -> datafusion::logical_expr::LogicalPlan {
    let schema = Arc::new(Schema::new(vec![
        Field::new("u", DataType::Int64, false),
        Field::new("g", DataType::Utf8, false),
        Field::new("c", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from_iter_values((0..rows).map(|i| i / 3))),
            Arc::new(StringArray::from_iter_values(
                (0..rows).map(|i| format!("g{}", i % 4)),
            )),
            Arc::new(Int64Array::from_iter_values((0..rows).map(|_| 1))),
        ],
    )
    .expect("batch");
    let table = ctx.read_batch(batch).expect("table");
    let input = LogicalPlanBuilder::from(table.logical_plan().clone())
        .project(vec![col("u"), col("g"), col("c")])
        .and_then(|b| b.build())
        .expect("input");
    let names = Names {
        rows: "n".into(),
        key_bytes: "key".into(),
    };
    let partials = vec![Partial {
        name: "c".into(),
        is_count: true,
        is_row_count: false,
    }];
    BoundByUnit::try_new(input, 7, 2, 1, partials, &names)
        .expect("node")
        .into_plan()
}

#[tokio::test]
async fn a_memory_limit_is_honoured_with_a_clear_error() {
    let ctx = session(256 * 1024);
    let err = ctx
        .execute_logical_plan(plan(&ctx, 300_000))
        .await
        .expect("planned")
        .collect()
        .await
        .expect_err("300,000 rows do not fit 256 KiB");
    let message = err.to_string();
    assert!(
        message.contains("Resources exhausted") && message.contains("BoundByUnitExec"),
        "{message}"
    );
    // With room, the same plan runs: 100,000 units, 2 groups at most each.
    let ctx = session(512 * 1024 * 1024);
    let batches = ctx
        .execute_logical_plan(plan(&ctx, 300_000))
        .await
        .expect("planned")
        .collect()
        .await
        .expect("runs");
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert!((100_000..=200_000).contains(&rows), "{rows} entries");
}

#[test]
fn the_wire_form_round_trips_and_refuses_garbage() {
    let ctx = SessionContext::new();
    let plan = plan(&ctx, 10);
    let datafusion::logical_expr::LogicalPlan::Extension(e) = &plan else {
        panic!("not an extension");
    };
    let bytes = super::encode_node(e.node.as_ref()).expect("encodes");
    let input = e.node.inputs()[0].clone();
    let back = super::decode_node(&bytes, &input)
        .expect("recognised")
        .expect("decodes");
    assert_eq!(back.into_plan(), plan);
    assert!(
        super::decode_node(b"\x0a\x02hi", &input).is_none(),
        "not ours"
    );
    let mut broken = bytes.clone();
    broken.truncate(bytes.len() - 3);
    broken.extend(b"x\n");
    assert!(super::decode_node(&broken, &input).is_some_and(|r| r.is_err()));
}
