//! The one place a catalog's ledger is opened and its budget scopes are
//! built (used by the engine to charge and by the CLI to show budgets).

use privagg_budget::{LedgerOptions, Limit, Scope, SqliteLedger};

use crate::catalog::Catalog;
use crate::error::{Result, SqlError};

/// How a ledger is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// To charge: created when missing; a file without write permission is
    /// opened read-only (even for root, who could otherwise write it), so
    /// charges then fail cleanly with `BudgetError::ReadOnly`.
    Charge,
    /// To read budgets and the audit log: never created or written.
    Read,
}

/// Opens the catalog's SQLite ledger. `None` only for [`Access::Read`] of a
/// ledger that does not exist yet (nothing was ever charged).
///
/// # Errors
/// [`SqlError::Budget`] when the ledger cannot be opened.
pub fn open_ledger(catalog: &Catalog, access: Access) -> Result<Option<SqliteLedger>> {
    let path = catalog.ledger_path();
    let read_only = match access {
        Access::Read if !path.exists() => return Ok(None),
        Access::Read => true,
        Access::Charge => std::fs::metadata(&path).is_ok_and(|m| m.permissions().readonly()),
    };
    let options = LedgerOptions {
        read_only,
        ..LedgerOptions::default()
    };
    Ok(Some(SqliteLedger::open_with(path, options)?))
}

/// The scopes a request of `analyst` reading `tables` is charged to: the
/// analyst's, then each table's that has a cap (once each).
///
/// # Errors
/// [`SqlError::UnknownAnalyst`], or [`SqlError::Budget`] for an invalid limit.
pub fn charge_scopes(
    catalog: &Catalog,
    analyst: &str,
    tables: &[String],
) -> Result<Vec<(Scope, Limit)>> {
    let a = catalog
        .analyst(analyst)
        .ok_or_else(|| SqlError::UnknownAnalyst(analyst.to_string()))?;
    let mut scopes = vec![a.scope()?];
    for t in tables {
        if let Some(cfg) = catalog.table(t)
            && let Some(scope) = cfg.scope()?
            && !scopes.iter().any(|(s, _)| *s == scope.0)
        {
            scopes.push(scope);
        }
    }
    Ok(scopes)
}

/// Every scope of the catalog (or of one analyst), then every table cap.
///
/// # Errors
/// [`SqlError::UnknownAnalyst`] for an analyst not in the catalog, or
/// [`SqlError::Budget`] for an invalid limit.
pub fn catalog_scopes(catalog: &Catalog, analyst: Option<&str>) -> Result<Vec<(Scope, Limit)>> {
    let mut scopes = Vec::new();
    for a in &catalog.analysts {
        if analyst.is_none_or(|n| n == a.name) {
            scopes.push(a.scope()?);
        }
    }
    if let Some(name) = analyst
        && scopes.is_empty()
    {
        return Err(SqlError::UnknownAnalyst(name.to_string()));
    }
    for t in &catalog.tables {
        if let Some(scope) = t.scope()? {
            scopes.push(scope);
        }
    }
    Ok(scopes)
}
