//! `Session.register_table`: a DataFrame from Python as a private table. The
//! policy is written as a catalog `[[tables]]` entry and parsed by
//! `Catalog::parse`, so it gets exactly the catalog's validation; the data
//! comes as Arrow IPC bytes (`privagg/_convert.py`) and is read by arrow's
//! IPC reader; the engine registers it as it registers a catalog table
//! (consent filter, declared types and bounds checked against the data).

use std::io::Cursor;
use std::sync::Arc;

use arrow::ipc::reader::StreamReader;
use datafusion::arrow::array::RecordBatch;
use privagg_sql::{Catalog, TableSource};
use pyo3::prelude::*;

use crate::errors::{CatalogError, PrivaggError, guarded, to_py};
use crate::runtime::finish;
use crate::session::Session;

/// What a table is registered with.
pub(crate) struct Policy {
    pub name: String,
    pub privacy_unit: String,
    /// The `columns` dict as JSON.
    pub columns: String,
    pub max_groups_contributed: u32,
    pub max_rows_per_group: u32,
    pub consent_column: Option<String>,
}

/// The policy as a validated catalog table entry.
fn table_config(policy: &Policy) -> PyResult<privagg_sql::TableConfig> {
    let columns: serde_json::Value = serde_json::from_str(&policy.columns)
        .map_err(|e| CatalogError::new_err(format!("columns: {e}")))?;
    let mut table = serde_json::json!({
        "name": policy.name,
        "path": "<registered DataFrame>",
        "privacy_unit": policy.privacy_unit,
        "max_groups_contributed": policy.max_groups_contributed,
        "max_rows_per_group": policy.max_rows_per_group,
        "columns": columns,
    });
    if let (Some(c), Some(map)) = (&policy.consent_column, table.as_object_mut()) {
        map.insert("consent_column".into(), c.clone().into());
    }
    // A catalog of this one table (its ledger is never opened: the session's is charged).
    let catalog = serde_json::json!({ "ledger": { "path": "unused.db" }, "tables": [table] });
    parse_catalog(catalog, "<register_table>", std::env::temp_dir())?
        .tables
        .into_iter()
        .next()
        .ok_or_else(|| CatalogError::new_err("no table in the policy"))
}

/// A catalog given as JSON, written as TOML and parsed by `Catalog::parse`,
/// so it gets exactly a catalog file's validation (`file` names it in errors).
pub(crate) fn parse_catalog(
    catalog: serde_json::Value,
    file: &str,
    base_dir: std::path::PathBuf,
) -> PyResult<Catalog> {
    let text = toml::Value::try_from(catalog)
        .and_then(|v| toml::to_string(&v))
        .map_err(|e| CatalogError::new_err(format!("{file}: {e}")))?;
    Catalog::parse(&text, file, base_dir).map_err(to_py)
}

/// The batches of Arrow IPC stream bytes (one empty batch for no rows).
fn batches(ipc: Vec<u8>) -> PyResult<Vec<RecordBatch>> {
    let bad = |e: arrow::error::ArrowError| CatalogError::new_err(format!("reading the data: {e}"));
    let reader = StreamReader::try_new(Cursor::new(ipc), None).map_err(bad)?;
    let schema = reader.schema();
    let mut out = reader.collect::<Result<Vec<_>, _>>().map_err(bad)?;
    if out.is_empty() {
        out.push(RecordBatch::new_empty(schema));
    }
    Ok(out)
}

/// Registers the table in the session's engine, which must not be running
/// a query of this session at the time.
pub(crate) fn register(
    session: &Session,
    py: Python<'_>,
    policy: Policy,
    ipc: Vec<u8>,
) -> PyResult<()> {
    let config = table_config(&policy)?;
    let data = batches(ipc)?;
    let mut guard = session
        .session
        .lock()
        .map_err(|_| PrivaggError::new_err("the session is unusable after an earlier failure"))?;
    let Some(current) = guard.take() else {
        return Err(PrivaggError::new_err(
            "the session is unusable after an earlier failure",
        ));
    };
    let settings = current.settings().clone();
    let engine = Arc::clone(current.engine());
    drop(current);
    let mut engine = match Arc::try_unwrap(engine) {
        Ok(engine) => engine,
        Err(shared) => {
            *guard = Some(privagg_sql::Session::with_settings(shared, settings));
            return Err(PrivaggError::new_err(
                "a query of this session is still running: register tables before or after it",
            ));
        }
    };
    let (engine, result) = guarded("registering the table", || {
        finish(py, move || async move {
            let r = engine
                .register_private_table(config, TableSource::Batches(data))
                .await;
            (engine, r)
        })
    })?;
    *guard = Some(privagg_sql::Session::with_settings(
        Arc::new(engine),
        settings,
    ));
    result.map_err(to_py)
}
