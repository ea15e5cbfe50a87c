//! `privagg budget` and `privagg audit`: read-only views of the ledger.

use std::io::Write;
use std::path::Path;

use privagg_budget::{BudgetError, Ledger, ScopeBudget, SqliteLedger};
use privagg_sql::ledger::{Access, catalog_scopes};
use privagg_sql::{Catalog, SqlError};

use super::CliError;

/// Opens the catalog's ledger for reading; `None` when no charge was ever made.
/// Errors speak of reading (the ledger's own messages speak of charges).
fn open_ledger(catalog: &Catalog) -> Result<Option<SqliteLedger>, CliError> {
    privagg_sql::ledger::open_ledger(catalog, Access::Read).map_err(|e| match e {
        SqlError::Budget(BudgetError::Storage { path, detail }) => {
            CliError::Other(format!("cannot read ledger {path}: {detail}"))
        }
        other => other.into(),
    })
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

/// `privagg budget --html [--out F]`: the budget page (spent and remaining
/// per scope, spend over time from the audit log).
///
/// # Errors
/// Catalog and ledger errors; the page's file cannot be written.
pub fn run_budget_html(
    catalog_path: &Path,
    analyst: Option<&str>,
    out_file: Option<&Path>,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let catalog = load(catalog_path)?;
    let ledger = open_ledger(&catalog)?;
    let budgets = budgets(&catalog, ledger.as_ref(), analyst)?;
    let audit = match &ledger {
        Some(l) => l.audit_log().map_err(SqlError::from)?,
        None => Vec::new(),
    };
    let html = privagg::html::budget_page(&catalog_path.display().to_string(), &budgets, &audit)
        .map_err(|e| CliError::Other(e.to_string()))?;
    match out_file {
        Some(path) => {
            privagg::export::write_atomically(path, html.as_bytes())
                .map_err(|e| CliError::Other(format!("writing {}: {e}", path.display())))?;
            writeln!(out, "wrote the budget page to {}", path.display())?;
        }
        None => out.write_all(html.as_bytes())?,
    }
    Ok(())
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
                    "remaining": b.remaining_amounts(),
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

/// Parses `SEQ:HASH` as `audit verify` prints it.
fn parse_head(text: &str) -> Result<(u64, String), CliError> {
    let bad = || {
        CliError::Usage(format!(
            "--expect-head {text:?}: expected SEQ:HASH as `privagg audit verify` printed it (e.g. 42:9f86d0…)"
        ))
    };
    let (seq, hash) = text.trim().split_once(':').ok_or_else(bad)?;
    let seq = seq.parse::<u64>().map_err(|_| bad())?;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    Ok((seq, hash.to_ascii_lowercase()))
}

/// `privagg audit verify`: the chain, the money, and the recorded head.
fn run_verify(
    ledger: &SqliteLedger,
    expect_head: Option<&str>,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let anchor = expect_head.map(parse_head).transpose()?;
    let v = ledger
        .verify_ledger(anchor.as_ref())
        .map_err(SqlError::from)?;
    if let Some(seq) = v.first_broken {
        return Err(CliError::Other(format!(
            "audit log broken at entry {seq}: {} ({} entries checked); do not charge on this ledger, restore it from a backup",
            v.problem.unwrap_or_default(),
            v.entries
        )));
    }
    if !v.problems.is_empty() {
        let mut text = format!(
            "the ledger does not verify ({} problem{}); do not charge on it, restore it from a backup:",
            v.problems.len(),
            if v.problems.len() == 1 { "" } else { "s" }
        );
        for p in &v.problems {
            text.push_str(&format!("\n  - {p}"));
        }
        return Err(CliError::Other(text));
    }
    writeln!(
        out,
        "ledger verified: {} audit entries (hash chain intact), {} charges and {} scope spends recomputed from the chain",
        v.entries, v.charges, v.scopes
    )?;
    match (&v.head, &anchor) {
        (Some((seq, hash)), _) => {
            if let Some((anchored, _)) = &anchor {
                writeln!(out, "recorded head {anchored} found unchanged")?;
            }
            writeln!(out, "head: {seq}:{hash}")?;
            writeln!(
                out,
                "record this head outside the ledger; `privagg audit verify --expect-head {seq}:{hash}` later proves entries 1..{seq} were neither changed nor removed"
            )?;
        }
        (None, _) => writeln!(out, "head: none (the log is empty)")?,
    }
    Ok(())
}

/// `privagg audit [verify]`: the log, or a check of its chain and money.
///
/// # Errors
/// Catalog and ledger errors; a ledger that does not verify is an error
/// naming every problem.
pub fn run_audit(
    catalog: &Path,
    verify: bool,
    expect_head: Option<&str>,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let catalog = load(catalog)?;
    let Some(ledger) = open_ledger(&catalog)? else {
        if expect_head.is_some() {
            return Err(CliError::Other(
                "the recorded head is not in the log: there is no ledger".into(),
            ));
        }
        writeln!(out, "audit log is empty (no ledger yet)")?;
        return Ok(());
    };
    if verify {
        return run_verify(&ledger, expect_head, out);
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
