//! Shared helpers for the SQL integration tests.

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use privagg_budget::MemoryLedger;
use privagg_sql::{Catalog, PrivateContext};

/// `../shared/data` of the repository (beside the clone in CI too).
#[allow(dead_code)]
pub fn shared_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

/// A context over catalog text whose paths are relative to the shared data.
#[allow(dead_code)]
pub async fn context(catalog: &str) -> PrivateContext {
    let catalog = Catalog::parse(catalog, "test.toml", shared_data()).expect("catalog");
    PrivateContext::with_ledger(catalog, Arc::new(MemoryLedger::new()))
        .await
        .expect("context")
}

/// Pretty text of batches.
#[allow(dead_code)]
pub fn show(batches: &[RecordBatch]) -> String {
    pretty_format_batches(batches)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// The catalog over d1.csv used by several tests.
#[allow(dead_code)]
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

/// PUMS with one row per person, bounds from the dataset's documentation.
#[allow(dead_code)]
pub const PUMS: &str = r#"
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
max_groups_contributed = 1
max_rows_per_group = 4
[tables.columns.age]
lower = 0.0
upper = 100.0
[tables.columns.income]
lower = 0.0
upper = 500000.0
[tables.columns.sex]
public_values = [0, 1]
"#;
