//! `privagg.connect(catalog, analyst=...)` and the session's calls. A
//! session is one analyst's view of one engine: its `SET privagg.*`
//! settings persist across its queries (as a server connection's do), and
//! every query is charged to that analyst's durable budget.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use privagg::noise::{Delta, Epsilon};
use privagg_sql::{BatchQuery, Engine, QueryConfig, SqlError};
use pyo3::prelude::*;

use crate::errors::{PrivaggError, QueryRejected, guarded, to_py};
use crate::release::Release;
use crate::runtime::wait;

/// An analyst's session over a catalog (see `privagg.connect`).
#[pyclass(module = "privagg._privagg", frozen)]
pub struct Session {
    /// The engine session (None only while a table is being registered).
    pub(crate) session: Mutex<Option<privagg_sql::Session>>,
    analyst: String,
    /// The catalog file (None for a `privagg.session` without one).
    catalog: Option<PathBuf>,
}

/// Opens `catalog` (its tables and ledger) for `analyst`.
///
/// Raises `CatalogError` for a broken catalog and `UnknownAnalyst` for an
/// analyst the catalog does not list.
#[pyfunction]
#[pyo3(signature = (catalog, *, analyst))]
pub fn connect(py: Python<'_>, catalog: PathBuf, analyst: String) -> PyResult<Session> {
    guarded("opening the catalog", || {
        let path = catalog.clone();
        let engine = wait(py, move || async move { Engine::open(&path).await })?.map_err(to_py)?;
        privagg_sql::ledger::catalog_scopes(engine.catalog(), Some(&analyst)).map_err(to_py)?;
        Ok(Session::over(engine, analyst, Some(catalog)))
    })
}

fn epsilon_of(value: Option<f64>) -> PyResult<Option<Epsilon>> {
    value
        .map(|e| {
            Epsilon::new(e).map_err(|err| QueryRejected::new_err(format!("epsilon {e}: {err}")))
        })
        .transpose()
}

fn delta_of(value: Option<f64>) -> PyResult<Option<Delta>> {
    value
        .map(|d| Delta::new(d).map_err(|err| QueryRejected::new_err(format!("delta {d}: {err}"))))
        .transpose()
}

impl Session {
    /// A session of `analyst` over an opened engine.
    pub(crate) fn over(engine: Engine, analyst: String, catalog: Option<PathBuf>) -> Self {
        Session {
            session: Mutex::new(Some(privagg_sql::Session::new(Arc::new(engine)))),
            analyst,
            catalog,
        }
    }

    fn current(&self) -> PyResult<privagg_sql::Session> {
        self.session
            .lock()
            .ok()
            .and_then(|s| s.clone())
            .ok_or_else(|| {
                PrivaggError::new_err("the session is unusable after an earlier failure")
            })
    }

    fn engine(&self) -> PyResult<Arc<Engine>> {
        Ok(Arc::clone(self.current()?.engine()))
    }
}

#[pymethods]
impl Session {
    /// Runs a DP query (and any `SET privagg.x = v;` before it) and returns
    /// its `Release`. `epsilon`/`delta` apply to this query unless its SQL
    /// `OPTIONS` set them; `confidence` is the level of the intervals
    /// (0.95 by default). The budget is charged before any data is read.
    #[pyo3(signature = (sql, *, epsilon = None, delta = None, confidence = None))]
    fn query(
        &self,
        py: Python<'_>,
        sql: String,
        epsilon: Option<f64>,
        delta: Option<f64>,
        confidence: Option<f64>,
    ) -> PyResult<Release> {
        guarded("running the query", || {
            let confidence = confidence.unwrap_or(0.95);
            if !(confidence > 0.0 && confidence < 1.0) {
                return Err(QueryRejected::new_err(format!(
                    "confidence {confidence}: must be strictly between 0 and 1"
                )));
            }
            let query = BatchQuery {
                name: "query".to_string(),
                sql: sql.clone(),
                epsilon: epsilon_of(epsilon)?,
                delta: delta_of(delta)?,
            };
            let mut session = self.current()?;
            let analyst = self.analyst.clone();
            let config = QueryConfig {
                confidence,
                intervals: true,
            };
            let (session, result) = wait(py, move || async move {
                let r = session
                    .query_batch(&analyst, &sql, &[query], config, &mut |_| {})
                    .await;
                (session, r)
            })?;
            let mut releases = result.map_err(to_py)?;
            // The request's SET statements are the session's now.
            if let Ok(mut s) = self.session.lock() {
                *s = Some(session);
            }
            let release = releases
                .pop()
                .ok_or_else(|| PrivaggError::new_err("the query released nothing"))?;
            Release::new(release)
        })
    }

    /// What a query would cost and how accurate it would be, as a dict
    /// (ε, δ, the split, expected half-widths, bounding); charges nothing.
    fn explain<'py>(&self, py: Python<'py>, sql: String) -> PyResult<Bound<'py, PyAny>> {
        guarded("explaining the query", || {
            let session = self.current()?;
            let explanation =
                wait(py, move || async move { session.explain(&sql).await })?.map_err(to_py)?;
            let text = serde_json::to_string(&explanation)
                .map_err(|e| PrivaggError::new_err(e.to_string()))?;
            py.import("json")?.call_method1("loads", (text,))
        })
    }

    /// The analyst's budgets (and each capped table's touched by them): a
    /// list of dicts with `scope`, `limit`, `spent`, `remaining`.
    fn budget<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guarded("reading the budget", || {
            let engine = self.engine()?;
            let catalog = engine.catalog();
            let scopes =
                privagg_sql::ledger::catalog_scopes(catalog, Some(&self.analyst)).map_err(to_py)?;
            let ledger = engine.ledger();
            let mut rows = Vec::new();
            for (scope, limit) in scopes {
                let spent = ledger.spent(&scope).map_err(|e| to_py(SqlError::from(e)))?;
                let budget = privagg_budget::ScopeBudget {
                    scope,
                    limit,
                    spent,
                };
                rows.push(serde_json::json!({
                    "scope": budget.scope.key(),
                    "limit": budget.limit,
                    "spent": budget.spent,
                    "remaining": budget.remaining_amounts(),
                }));
            }
            let text =
                serde_json::to_string(&rows).map_err(|e| PrivaggError::new_err(e.to_string()))?;
            py.import("json")?.call_method1("loads", (text,))
        })
    }

    /// Verifies the ledger's audit hash chain and its money (every charge
    /// and every scope's spend recomputed): a dict with `intact` and details.
    fn audit_verify<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guarded("verifying the audit log", || {
            let ledger = Arc::clone(self.engine()?.ledger());
            let verification = wait(py, move || async move { ledger.verify_ledger(None) })?
                .map_err(|e| to_py(SqlError::from(e)))?;
            let mut value = serde_json::to_value(&verification)
                .map_err(|e| PrivaggError::new_err(e.to_string()))?;
            if let Some(map) = value.as_object_mut() {
                map.insert("intact".into(), verification.is_intact().into());
            }
            py.import("json")?
                .call_method1("loads", (value.to_string(),))
        })
    }

    /// Runs an export job (`privagg export`'s TOML) for this session's
    /// analyst into `out`; returns the files written. The job must name this
    /// session's analyst and catalog.
    #[pyo3(signature = (job, *, out, force = false))]
    fn export(
        &self,
        py: Python<'_>,
        job: PathBuf,
        out: PathBuf,
        force: bool,
    ) -> PyResult<Vec<String>> {
        guarded("exporting", || {
            let Some(catalog) = &self.catalog else {
                return Err(QueryRejected::new_err(
                    "an export job reads a catalog file: this session has none (open it with privagg.connect)",
                ));
            };
            let parsed = privagg::export::job::Job::load(&job)
                .map_err(|e| QueryRejected::new_err(e.to_string()))?;
            if parsed.analyst != self.analyst {
                return Err(QueryRejected::new_err(format!(
                    "the job is for analyst '{}', this session is '{}': a session spends only its own analyst's budget",
                    parsed.analyst, self.analyst
                )));
            }
            let same_catalog =
                std::fs::canonicalize(&parsed.catalog).ok() == std::fs::canonicalize(catalog).ok();
            if !same_catalog {
                return Err(QueryRejected::new_err(format!(
                    "the job's catalog {} is not this session's {}",
                    parsed.catalog.display(),
                    catalog.display()
                )));
            }
            let options = privagg::export::ExportOptions {
                show_progress: false,
                force,
                engine: None,
            };
            let summary = wait(py, move || async move {
                privagg::export::run(&job, &out, options).await
            })?
            .map_err(|e| PrivaggError::new_err(e.to_string()))?;
            Ok(summary
                .files
                .iter()
                .map(|p| p.display().to_string())
                .collect())
        })
    }

    /// Registers a pandas/polars/pyarrow DataFrame (or any Arrow stream) as a
    /// private table of this session, with its privacy unit and bounds, as a
    /// catalog `[[tables]]` entry would declare them and with the same
    /// validation. `columns` maps a column to `{"lower": …, "upper": …}`,
    /// `{"public_values": [...]}` and/or `{"type": "int64"}`.
    #[pyo3(signature = (name, data, *, privacy_unit, columns = None, max_groups_contributed = 1, max_rows_per_group = 1, consent_column = None))]
    #[allow(clippy::too_many_arguments)]
    fn register_table(
        &self,
        py: Python<'_>,
        name: String,
        data: Bound<'_, PyAny>,
        privacy_unit: String,
        columns: Option<Bound<'_, PyAny>>,
        max_groups_contributed: u32,
        max_rows_per_group: u32,
        consent_column: Option<String>,
    ) -> PyResult<()> {
        guarded("registering the table", || {
            let ipc: Vec<u8> = py
                .import("privagg._convert")?
                .call_method1("to_ipc", (data,))?
                .extract()?;
            let columns: String = match columns {
                Some(c) => py.import("json")?.call_method1("dumps", (c,))?.extract()?,
                None => "{}".to_string(),
            };
            let policy = crate::register::Policy {
                name,
                privacy_unit,
                columns,
                max_groups_contributed,
                max_rows_per_group,
                consent_column,
            };
            crate::register::register(self, py, policy, ipc)
        })
    }

    /// The analyst this session charges.
    #[getter]
    fn analyst(&self) -> String {
        self.analyst.clone()
    }

    fn __repr__(&self) -> String {
        match &self.catalog {
            Some(catalog) => format!(
                "<privagg.Session analyst={:?} catalog={:?}>",
                self.analyst,
                catalog.display().to_string()
            ),
            None => format!(
                "<privagg.Session analyst={:?} without a catalog>",
                self.analyst
            ),
        }
    }
}
