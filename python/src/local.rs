//! `privagg.session(ledger, analyst=..., epsilon=...)`: a session without a
//! catalog file, for notebooks that register their DataFrames with
//! `Session.register_table`. The analyst's budget and the ledger are what a
//! one-analyst catalog would declare, parsed and validated by
//! `Catalog::parse`; the ledger is the same durable SQLite file the CLI
//! charges, so the spend survives the notebook's kernel.

use std::path::PathBuf;

use privagg_sql::{Catalog, Engine};
use pyo3::prelude::*;

use crate::errors::{CatalogError, guarded, to_py};
use crate::runtime::wait;
use crate::session::Session;

/// The one-analyst catalog (no tables) of a catalog-less session.
fn catalog(
    ledger: &std::path::Path,
    analyst: &str,
    epsilon: Option<f64>,
    rho: Option<f64>,
    delta: Option<f64>,
) -> PyResult<Catalog> {
    let mut entry = serde_json::json!({ "name": analyst });
    if let Some(map) = entry.as_object_mut() {
        for (key, value) in [("epsilon", epsilon), ("rho", rho), ("delta", delta)] {
            if let Some(v) = value {
                if !v.is_finite() {
                    return Err(CatalogError::new_err(format!(
                        "analyst '{analyst}': {key} must be a finite number, got {v}"
                    )));
                }
                map.insert(key.into(), v.into());
            }
        }
    }
    let path = ledger.to_string_lossy().to_string();
    let value = serde_json::json!({ "ledger": { "path": path }, "analysts": [entry] });
    let base = std::env::current_dir()
        .map_err(|e| CatalogError::new_err(format!("the working directory: {e}")))?;
    crate::register::parse_catalog(value, "<privagg.session>", base)
}

/// A session of `analyst` with no tables yet (register DataFrames with
/// `Session.register_table`), charging a budget of `epsilon` (and `delta`)
/// — or of `rho` in zCDP — in the SQLite ledger at `ledger`, created if
/// missing. The budget is a declaration, as a catalog's is: whoever can
/// open the ledger file with a larger one can spend more, so share a
/// ledger through a catalog file when the budget is someone else's call.
///
/// Raises `CatalogError` for an invalid budget and `LedgerError` when the
/// ledger cannot be opened.
#[pyfunction]
#[pyo3(signature = (ledger, *, analyst, epsilon = None, rho = None, delta = None))]
pub fn session(
    py: Python<'_>,
    ledger: PathBuf,
    analyst: String,
    epsilon: Option<f64>,
    rho: Option<f64>,
    delta: Option<f64>,
) -> PyResult<Session> {
    guarded("opening the session", || {
        let catalog = catalog(&ledger, &analyst, epsilon, rho, delta)?;
        let engine = wait(
            py,
            move || async move { Engine::from_catalog(catalog).await },
        )?
        .map_err(to_py)?;
        Ok(Session::over(engine, analyst, None))
    })
}
