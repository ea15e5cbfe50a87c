//! What psql's `\d`, drivers and BI tools ask about the database
//! (`pg_catalog`, `information_schema`, `current_schema()`), answered by a
//! DataFusion session of its own that holds **metadata only**: the catalog's
//! table and column names and types (public in privagg's model — the catalog
//! declares them) as small `pg_catalog` tables, and, under `public`, an
//! *empty* table with each catalog table's columns so DataFusion's own
//! `information_schema` lists them. No private data is registered here, so
//! nothing a catalog query does can read a row; row counts are unknown (-1).
//!
//! psql's and drivers' SQL is brought to DataFusion's dialect first:
//! `OPERATOR(pg_catalog.~)` is `~`, `COLLATE pg_catalog.default` goes,
//! `pg_catalog.f(` is `f(`, and casts to `regclass`/`regtype`/`oid` are
//! dropped.

mod dialect;
mod functions;
mod tables;

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::Result as DfResult;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;

use dialect::{reads_nothing, rewrite, with_user};
pub(crate) use tables::session;

/// Whether `text` asks about the database rather than its data.
pub(crate) fn is_catalog_query(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("pg_catalog.")
        || lower.contains("information_schema.")
        || lower.contains("current_schema")
        || lower.contains("current_database")
        || lower.contains("session_user")
        || lower.contains("current_user")
        || [
            "pg_class",
            "pg_namespace",
            "pg_attribute",
            "pg_type",
            "pg_database",
            "pg_settings",
            "pg_roles",
            "pg_proc",
        ]
        .iter()
        .any(|t| lower.contains(t))
}

/// The one-column, no-row answer of a query that reads nothing.
fn nothing() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "?column?",
        DataType::Utf8,
        true,
    )]))
}

/// A catalog query's rows. DDL, DML and other statements are refused: this
/// session must never register a table (`CREATE EXTERNAL TABLE` would read
/// any file the server can).
pub(crate) async fn run(
    ctx: &SessionContext,
    sql: &str,
    analyst: &str,
) -> DfResult<Vec<RecordBatch>> {
    if reads_nothing(sql) {
        return Ok(vec![RecordBatch::new_empty(nothing())]);
    }
    plan(ctx, sql, analyst).await?.collect().await
}

/// The planned catalog query: DDL, DML and other statements refused, and a
/// query reading a catalog table's (empty) copy refused too — its answer
/// would say the table is empty.
async fn plan(
    ctx: &SessionContext,
    sql: &str,
    analyst: &str,
) -> DfResult<datafusion::dataframe::DataFrame> {
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let df = ctx
        .sql_with_options(&with_user(&rewrite(sql), analyst), options)
        .await?;
    let mut reads_a_table = false;
    df.logical_plan().apply(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && scan.table_name.schema() == Some("public")
        {
            reads_a_table = true;
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    if reads_a_table {
        return Err(datafusion::error::DataFusionError::Plan(
            "it reads a table's rows: query tables with DP SQL, without pg_catalog or information_schema in the text".into(),
        ));
    }
    Ok(df)
}

/// A catalog query's columns, without running it.
pub(crate) async fn describe(
    ctx: &SessionContext,
    sql: &str,
    analyst: &str,
) -> DfResult<SchemaRef> {
    if reads_nothing(sql) {
        return Ok(nothing());
    }
    let df = plan(ctx, sql, analyst).await?;
    Ok(Arc::new(df.schema().as_arrow().clone()))
}

#[cfg(test)]
mod tests {
    use super::is_catalog_query;

    #[test]
    fn catalog_questions_are_told_from_data_questions() {
        assert!(is_catalog_query("select * from information_schema.tables"));
        assert!(is_catalog_query("SELECT relname FROM pg_class"));
        assert!(!is_catalog_query("SELECT COUNT(*) FROM purchases"));
    }
}
