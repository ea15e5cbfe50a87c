//! privagg's errors as Python exceptions, with the CLI's messages. Every
//! call into the engine is also guarded: a Rust panic becomes a
//! `PrivaggError` (never a `PanicException` that `except Exception` misses).

use std::panic::{AssertUnwindSafe, catch_unwind};

use privagg_budget::BudgetError;
use privagg_sql::SqlError;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    privagg,
    PrivaggError,
    PyException,
    "Base class of privagg's errors."
);
create_exception!(
    privagg,
    QueryRejected,
    PrivaggError,
    "The DP analysis refused the query, or an option value (nothing charged)."
);
create_exception!(
    privagg,
    InvalidSql,
    QueryRejected,
    "Malformed SQL, an unknown table or column (nothing charged)."
);
create_exception!(
    privagg,
    BudgetExhausted,
    PrivaggError,
    "The analyst's (or a table's) budget cannot pay for the query (nothing charged)."
);
create_exception!(
    privagg,
    CatalogError,
    PrivaggError,
    "The catalog file, a table's data or a registered DataFrame is not usable."
);
create_exception!(
    privagg,
    UnknownAnalyst,
    CatalogError,
    "The analyst is not in the catalog."
);
create_exception!(
    privagg,
    LedgerError,
    PrivaggError,
    "The budget ledger failed (read-only, locked, disk): nothing was charged."
);
create_exception!(
    privagg,
    ExecutionError,
    PrivaggError,
    "Reading data failed after the charge (the charge stays, as in the CLI)."
);

/// The exception for an engine error.
pub(crate) fn to_py(e: SqlError) -> PyErr {
    let message = e.to_string();
    match e {
        SqlError::InvalidSql(_) => InvalidSql::new_err(message),
        SqlError::Rejected(_) => QueryRejected::new_err(message),
        SqlError::Budget(BudgetError::BudgetExhausted { .. }) => BudgetExhausted::new_err(message),
        SqlError::Budget(_) => LedgerError::new_err(message),
        SqlError::UnknownAnalyst(_) => UnknownAnalyst::new_err(message),
        SqlError::Catalog { .. } => CatalogError::new_err(message),
        SqlError::Execution(_) => ExecutionError::new_err(message),
        _ => PrivaggError::new_err(message),
    }
}

/// Runs `f`, turning a panic into a `PrivaggError` (its message withheld: it
/// could name internals).
pub(crate) fn guarded<T>(what: &str, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => Err(PrivaggError::new_err(format!(
            "internal error while {what}; nothing was released (please report it)"
        ))),
    }
}

/// Adds the exception classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("PrivaggError", py.get_type::<PrivaggError>())?;
    m.add("QueryRejected", py.get_type::<QueryRejected>())?;
    m.add("InvalidSql", py.get_type::<InvalidSql>())?;
    m.add("BudgetExhausted", py.get_type::<BudgetExhausted>())?;
    m.add("CatalogError", py.get_type::<CatalogError>())?;
    m.add("UnknownAnalyst", py.get_type::<UnknownAnalyst>())?;
    m.add("LedgerError", py.get_type::<LedgerError>())?;
    m.add("ExecutionError", py.get_type::<ExecutionError>())?;
    Ok(())
}
