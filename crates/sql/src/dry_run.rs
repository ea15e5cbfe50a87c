//! The dry run before the charge: the whole release pipeline — the bounded
//! plan, the percentile plans, the release, HAVING / ORDER BY / LIMIT and the
//! projections above it — run on **empty** tables of the catalog's schemas.
//! Every failure that does not depend on the data (a predicate comparing a
//! number with `'abc'`, `HAVING COUNT(*) > '-inf'`, a `LIMIT` DataFusion
//! cannot evaluate) therefore happens here, is audited as a rejection, and
//! costs nothing. What can still fail after the charge depends on the data
//! (a malformed row in a file, a cast of a value), and keeps its charge
//! (`docs/reliability.md`).
//!
//! No private data is read: every table scan in the plans is replaced by an
//! empty table with the scanned table's schema, so nothing here, not even
//! the error text, depends on a row.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::catalog::empty::EmptyTable;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::LogicalPlan;
use datafusion::logical_expr::TableScan;
use datafusion::prelude::SessionContext;

use crate::error::{Result, SqlError, rejected};
use crate::syntax::clean;

/// `plan` with every table scan reading an empty table of the same schema.
pub(crate) fn on_empty_tables(plan: &LogicalPlan) -> Result<LogicalPlan> {
    plan.clone()
        .transform_up(|node| {
            let LogicalPlan::TableScan(scan) = node else {
                return Ok(Transformed::no(node));
            };
            let empty = EmptyTable::new(scan.source.schema());
            Ok(Transformed::yes(LogicalPlan::TableScan(TableScan {
                source: provider_as_source(Arc::new(empty)),
                ..scan
            })))
        })
        .map(|t| t.data)
        .map_err(|e| SqlError::Execution(format!("preparing the dry run failed: {e}")))
}

/// Runs `plan` on empty tables in `session`; a failure is a rejection (it
/// cannot depend on data) naming `stage`.
pub(crate) async fn run_empty(
    session: &SessionContext,
    plan: &LogicalPlan,
    stage: &str,
) -> Result<Vec<RecordBatch>> {
    let plan = on_empty_tables(plan)?;
    let fail = |e: datafusion::error::DataFusionError| dry_run_failed(stage, &e.to_string());
    session
        .execute_logical_plan(plan)
        .await
        .map_err(fail)?
        .collect()
        .await
        .map_err(fail)
}

/// The rejection for a failure found by the dry run.
pub(crate) fn dry_run_failed(stage: &str, message: &str) -> SqlError {
    rejected(format!(
        "{stage} fails for any data, so nothing was charged: {}",
        crate::messages::engine_message(&one_line(&clean(message)))
    ))
}

/// DataFusion's nested error text on one line, without its wrapper names.
fn one_line(message: &str) -> String {
    let parts: Vec<&str> = message
        .split("caused by")
        .map(|p| p.trim())
        .filter(|p| !p.is_empty() && !p.starts_with("Optimizer rule") && *p != "type_coercion")
        .collect();
    let text = parts.last().copied().unwrap_or(message);
    let text = text
        .trim_start_matches("Arrow error: ")
        .trim_start_matches("Error during planning: ");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
