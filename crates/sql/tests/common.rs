//! Shared helpers for the SQL integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use privagg_budget::MemoryLedger;
use privagg_sql::{Catalog, PrivateContext};

/// `../shared/data` of the repository (beside the clone in CI too).
pub fn shared_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

/// A context over catalog text whose paths are relative to the shared data.
pub async fn context(catalog: &str) -> PrivateContext {
    let catalog = Catalog::parse(catalog, "test.toml", shared_data()).expect("catalog");
    PrivateContext::with_ledger(catalog, Arc::new(MemoryLedger::new()))
        .await
        .expect("context")
}

/// Pretty text of batches.
pub fn show(batches: &[RecordBatch]) -> String {
    pretty_format_batches(batches)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// The catalog over d1.csv used by several tests.
pub const D1: &str = r#"
[ledger]
path = "unused.db"
[[analysts]]
name = "alice"
epsilon = 100.0
delta = 1e-3
[[tables]]
name = "users"
path = "d1.csv"
privacy_unit = "UserId"
max_groups_contributed = 1
[tables.columns.Usage]
lower = 0.0
upper = 100.0
[tables.columns.Segment]
public_values = ["A", "B", "C", "Z"]
"#;
