//! `privagg budget` and `privagg audit`: read-only views of the ledger.

use std::io::Write;
use std::path::Path;

use privagg_budget::{Ledger, ScopeBudget, SqliteLedger};
use privagg_sql::ledger::{Access, catalog_scopes};
use privagg_sql::{Catalog, SqlError};

use super::CliError;

/// Opens the catalog's ledger for reading; `None` when no charge was ever made.
fn open_ledger(catalog: &Catalog) -> Result<Option<SqliteLedger>, CliError> {
    Ok(privagg_sql::ledger::open_ledger(catalog, Access::Read)?)
}

fn load(catalog: &Path) -> Result<Catalog, CliError> {
    Ok(Catalog::load(catalog)?)
}

/// The budgets of the catalog's analysts (or one) and tables with a cap.
fn budgets(
    catalog: &Catalog,
    ledger: Option<&SqliteLedger>,
    analyst: Option<&str>,
) -> Result<Vec<ScopeBudget>, CliError> {
    catalog_scopes(catalog, analyst)?
        .into_iter()
        .map(|(scope, limit)| {
            let spent = match ledger {
                Some(l) => l.spent(&scope).map_err(SqlError::from)?,
                None => Default::default(),
            };
            Ok(ScopeBudget {
                scope,
                limit,
                spent,
            })
        })
        .collect()
}

/// `privagg budget`: spent and remaining per scope.
///
/// # Errors
/// Catalog and ledger errors.
pub fn run_budget(
    catalog: &Path,
    analyst: Option<&str>,
    json: bool,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let catalog = load(catalog)?;
    let ledger = open_ledger(&catalog)?;
    let budgets = budgets(&catalog, ledger.as_ref(), analyst)?;
    if json {
        let rows: Vec<serde_json::Value> = budgets
            .iter()
            .map(|b| {
                serde_json::json!({
                    "scope": b.scope.key(),
                    "limit": b.limit,
                    "spent": b.spent,
                    "remaining": b.remaining(),
                    "implied_epsilon": b.implied_epsilon().map(|e| e.to_string()),
                })
            })
            .collect();
        let text =
            serde_json::to_string_pretty(&rows).map_err(|e| CliError::Other(e.to_string()))?;
        writeln!(out, "{text}")?;
        return Ok(());
    }
    let mut rows = vec![[
        "scope".to_string(),
        "limit".to_string(),
        "spent".to_string(),
        "remaining".to_string(),
    ]];
    for b in &budgets {
        rows.push([b.scope.key(), b.limit_text(), b.spent_text(), b.remaining()]);
    }
    let rows: Vec<Vec<String>> = rows.into_iter().map(Vec::from).collect();
    for line in privagg::export::text::aligned(&rows, false) {
        writeln!(out, "{line}")?;
    }
    if ledger.is_none() {
        writeln!(out, "(no ledger yet: nothing has been charged)")?;
    }
    Ok(())
}

/// `privagg audit [verify]`: the log, or a check of its hash chain.
///
/// # Errors
/// Catalog and ledger errors; a broken chain is an error naming the first broken entry.
pub fn run_audit(catalog: &Path, verify: bool, out: &mut impl Write) -> Result<(), CliError> {
    let catalog = load(catalog)?;
    let Some(ledger) = open_ledger(&catalog)? else {
        writeln!(out, "audit log is empty (no ledger yet)")?;
        return Ok(());
    };
    if verify {
        let v = ledger.verify_audit().map_err(SqlError::from)?;
        return match (v.first_broken, v.problem) {
            (None, _) => {
                writeln!(
                    out,
                    "audit log intact: {} entries, hash chain verified",
                    v.entries
                )?;
                Ok(())
            }
            (Some(seq), problem) => Err(CliError::Other(format!(
                "audit log broken at entry {seq}: {} ({} entries checked)",
                problem.unwrap_or_default(),
                v.entries
            ))),
        };
    }
    for e in ledger.audit_log().map_err(SqlError::from)? {
        let request = e.request_text.lines().next().unwrap_or_default();
        let mut line = format!(
            "{:>5}  {}  {:<10} {:<8}  epsilon {:<8} delta {:<10} {}",
            e.seq,
            e.time(),
            e.analyst,
            e.decision.as_str(),
            e.epsilon.to_string(),
            e.delta.to_string(),
            request
        );
        if !e.reason.is_empty() {
            line.push_str(&format!("  — {}", e.reason));
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
