//! The operator under a memory limit, and its wire form.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::prelude::{SessionConfig, SessionContext, col};

use super::{BoundByUnit, FusedQueryPlanner, Names, Partial};

/// A session with the fused planner and a memory pool of `limit` bytes.
fn session(limit: usize) -> SessionContext {
    session_with(limit, FusedQueryPlanner::default())
}

/// A session with `planner` and a memory pool of `limit` bytes.
fn session_with(limit: usize, planner: FusedQueryPlanner) -> SessionContext {
    session_on(limit, planner, DiskManagerMode::OsTmpDirectory)
}

/// A session with `planner`, a memory pool of `limit` bytes and temporary
/// files as `disk` says.
fn session_on(limit: usize, planner: FusedQueryPlanner, disk: DiskManagerMode) -> SessionContext {
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(limit, 1.0)
        .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(disk))
        .build_arc()
        .expect("runtime");
    let state = SessionStateBuilder::new()
        .with_config(SessionConfig::new().with_target_partitions(2))
        .with_runtime_env(runtime)
        .with_default_features()
        .with_query_planner(Arc::new(planner))
        .build();
    SessionContext::new_with_state(state)
}

/// `rows` rows of `rows / 3` units, 4 segments, count partial 1 per row.
fn plan(ctx: &SessionContext, rows: i64) -> datafusion::logical_expr::LogicalPlan {
    plan_in(ctx, rows, 1)
}

/// [`plan`] over a table of `partitions` partitions, rows dealt round-robin
/// (so a unit's rows are in several partitions), in batches of 8,192 rows.
fn plan_in(
    ctx: &SessionContext,
    rows: i64,
    partitions: usize,
) -> datafusion::logical_expr::LogicalPlan {
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
    let parts: Vec<Vec<RecordBatch>> = (0..partitions)
        .map(|p| {
            let take: Vec<u64> = (p as u64..rows as u64).step_by(partitions).collect();
            let take = datafusion::arrow::array::UInt64Array::from(take);
            let columns = batch
                .columns()
                .iter()
                .map(|c| datafusion::arrow::compute::take(c, &take, None).expect("take"))
                .collect();
            let part = RecordBatch::try_new(Arc::clone(&schema), columns).expect("part");
            (0..part.num_rows())
                .step_by(8192)
                .map(|at| part.slice(at, 8192.min(part.num_rows() - at)))
                .collect()
        })
        .collect();
    let table =
        datafusion::datasource::MemTable::try_new(Arc::clone(&schema), parts).expect("table");
    let table = ctx.read_table(Arc::new(table)).expect("table");
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

/// The rows of `plan` in `ctx`, as sorted text lines (or the error).
async fn rows_of(ctx: &SessionContext, rows: i64) -> datafusion::common::Result<Vec<String>> {
    let batches = ctx
        .execute_logical_plan(plan_in(ctx, rows, 3))
        .await?
        .collect()
        .await?;
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)?.to_string();
    let mut lines: Vec<String> = text.lines().skip(3).map(str::to_owned).collect();
    lines.sort();
    Ok(lines)
}

#[tokio::test]
async fn under_a_memory_limit_the_buckets_spill_and_the_rows_are_the_same() {
    // 300,000 rows take ~7 MB of buckets: over 1 MiB they go to disk.
    let unlimited = rows_of(&session(512 * 1024 * 1024), 300_000)
        .await
        .expect("runs");
    // 100,000 units, 2 groups at most each (plus the table's frame lines).
    assert!((100_000..=200_010).contains(&unlimited.len()));
    let spilled = rows_of(&session(1024 * 1024), 300_000)
        .await
        .expect("spills and runs");
    assert!(spilled == unlimited, "spilling changed the rows");
    let shuffled = session_with(1024 * 1024, FusedQueryPlanner::shuffled());
    let spilled = rows_of(&shuffled, 300_000).await.expect("spills and runs");
    assert!(spilled == unlimited, "spilling changed the shuffled rows");
    // Without a temporary directory, the same limit is a clear error: the
    // run above did need the disk.
    let no_disk = session_on(
        1024 * 1024,
        FusedQueryPlanner::default(),
        DiskManagerMode::Disabled,
    );
    let message = rows_of(&no_disk, 300_000)
        .await
        .expect_err("no room and no disk")
        .to_string();
    assert!(
        message.contains("Resources exhausted") && message.contains("DiskManager is disabled"),
        "{message}"
    );
    // A limit below one batch is a clear error too.
    let message = rows_of(&session(16 * 1024), 300_000)
        .await
        .expect_err("one batch does not fit 16 KiB")
        .to_string();
    assert!(
        message.contains("Resources exhausted") && message.contains("BoundByUnitExec"),
        "{message}"
    );
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

/// The kept entries of `plan` under `planner`, sorted.
async fn entries(planner: FusedQueryPlanner, partitions: usize) -> Vec<String> {
    let ctx = session_with(512 * 1024 * 1024, planner);
    let batches = ctx
        .execute_logical_plan(plan_in(&ctx, 30_000, partitions))
        .await
        .expect("planned")
        .collect()
        .await
        .expect("runs");
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .expect("format")
        .to_string();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[tokio::test]
async fn the_exchange_in_process_bounds_each_unit_once_across_partitions() {
    // Each unit's 3 rows are in 3 different input partitions (of 5) and
    // in up to 3 groups; k = 2. Bounding per input partition would keep
    // more entries than bounding each unit once.
    let local = entries(FusedQueryPlanner::default(), 5).await;
    let shuffled = entries(FusedQueryPlanner::shuffled(), 5).await;
    let one = entries(FusedQueryPlanner::default(), 1).await;
    assert_eq!(local, shuffled);
    assert_eq!(local, one);
    assert_eq!(
        local.len(),
        4 + 20_000,
        "two entries per unit and table borders"
    );
}

#[tokio::test]
async fn the_operator_wire_form_keeps_its_exchange() {
    for planner in [FusedQueryPlanner::default(), FusedQueryPlanner::shuffled()] {
        let ctx = session_with(1 << 30, planner);
        let physical = ctx
            .state()
            .create_physical_plan(&plan_in(&ctx, 100, 2))
            .await
            .expect("physical");
        let mut found = None;
        let _ = datafusion::common::tree_node::TreeNode::apply(&physical, |p| {
            if let Some(bytes) = super::encode_exec(p.as_ref()) {
                let shown = datafusion::physical_plan::displayable(p.as_ref())
                    .one_line()
                    .to_string();
                found = Some((bytes, Arc::clone(p.children()[0]), shown));
            }
            Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
        });
        let (bytes, input, shown) = found.expect("the plan has the operator");
        let back = super::decode_exec(&bytes, &input)
            .expect("recognised")
            .expect("decodes");
        assert_eq!(super::encode_exec(back.as_ref()), Some(bytes.clone()));
        let shown_back = datafusion::physical_plan::displayable(back.as_ref())
            .one_line()
            .to_string();
        assert_eq!(shown, shown_back);
        let mut broken = bytes.clone();
        broken.truncate(bytes.len() - 3);
        broken.extend(b"x\n");
        assert!(super::decode_exec(&broken, &input).is_some_and(|r| r.is_err()));
    }
}
