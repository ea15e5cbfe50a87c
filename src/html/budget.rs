//! The budget page: spent and remaining per scope, and spend over time from
//! the audit log (ledger facts only: no data value ever appears).

use std::fmt::Write;

use privagg_budget::{AuditEntry, Decision, Limit, Scope, ScopeBudget};

use super::chart::{budget_bars, spend_lines};
use super::{HtmlError, escape, page};

/// Share of a scope's limit spent, in percent (ε for (ε, δ) limits, ρ for ρ limits).
fn percent_spent(b: &ScopeBudget) -> f64 {
    let (spent, limit) = match b.limit {
        Limit::EpsilonDelta { epsilon, .. } => (b.spent.epsilon.to_f64(), epsilon.to_f64()),
        Limit::Zcdp { rho, .. } => (b.spent.rho.to_f64(), rho.to_f64()),
    };
    if limit > 0.0 {
        100.0 * spent / limit
    } else {
        100.0
    }
}

/// The amount a scope's limit counts, from one audit entry.
fn amount(b: &ScopeBudget, e: &AuditEntry) -> f64 {
    match b.limit {
        Limit::EpsilonDelta { .. } => e.epsilon.to_f64(),
        Limit::Zcdp { .. } => e.rho.map_or(0.0, |r| r.to_f64()),
    }
}

/// Whether an entry charged (or refunded) `scope`: its recorded scopes, or
/// for entries written before scopes were recorded, its analyst.
fn touches(e: &AuditEntry, scope: &Scope) -> bool {
    if e.scopes.is_empty() {
        matches!(scope, Scope::Analyst(a) if *a == e.analyst)
    } else {
        e.scopes.contains(scope)
    }
}

/// Cumulative spend of `b`'s scope after each audit entry (x: the entry's
/// position in the log), starting at 0.
fn cumulative(b: &ScopeBudget, audit: &[AuditEntry]) -> Vec<(f64, f64)> {
    let mut total = 0.0;
    let mut points = vec![(0.0, 0.0)];
    for (i, e) in audit.iter().enumerate() {
        if !touches(e, &b.scope) {
            continue;
        }
        match e.decision {
            Decision::Accepted => total += amount(b, e),
            Decision::Refunded => total -= amount(b, e),
            Decision::Rejected => continue,
        }
        points.push(((i + 1) as f64, total.max(0.0)));
    }
    points
}

/// The page for `budgets` (from the catalog and ledger) and the ledger's
/// audit log; `catalog` names the catalog file.
///
/// # Errors
/// [`HtmlError`] if a chart cannot be drawn.
pub fn budget_page(
    catalog: &str,
    budgets: &[ScopeBudget],
    audit: &[AuditEntry],
) -> Result<String, HtmlError> {
    let title = format!("Privacy budget: {catalog}");
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<header>\n<h1>Privacy budget</h1>\n<p class=\"sub\">Catalog <code>{}</code>; {} ledger \
         entr{} ({} charge(s), {} refused, {} refunded).</p>\n</header>",
        escape(catalog),
        audit.len(),
        if audit.len() == 1 { "y" } else { "ies" },
        audit
            .iter()
            .filter(|e| e.decision == Decision::Accepted)
            .count(),
        audit
            .iter()
            .filter(|e| e.decision == Decision::Rejected)
            .count(),
        audit
            .iter()
            .filter(|e| e.decision == Decision::Refunded)
            .count(),
    );
    let _ = writeln!(
        b,
        "<section id=\"scopes\">\n<h2>Spent and remaining</h2>\n<p>Each analyst has a budget; a \
         table may also cap what all analysts together spend on it. A query is refused before it \
         reads anything when it does not fit every scope it touches.</p>"
    );
    let rows: Vec<(String, f64)> = budgets
        .iter()
        .map(|s| (s.scope.key(), percent_spent(s)))
        .collect();
    let _ = writeln!(
        b,
        "<figure class=\"chart\" id=\"budget-chart\">\n{}\n<figcaption>Share of each scope's limit \
         spent (vermillion from 90%).</figcaption>\n</figure>",
        budget_bars(&rows)?
    );
    let _ = writeln!(
        b,
        "<div class=\"scroll\"><table class=\"scopes\">\n<thead><tr><th>scope</th><th>limit</th>\
         <th>spent</th><th>remaining</th></tr></thead>\n<tbody>"
    );
    for s in budgets {
        let _ = writeln!(
            b,
            "<tr data-scope=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&s.scope.key()),
            escape(&s.scope.key()),
            escape(&s.limit_text()),
            escape(&s.spent_text()),
            escape(&s.remaining())
        );
    }
    let _ = writeln!(b, "</tbody></table></div>\n</section>");
    let series: Vec<(String, Vec<(f64, f64)>)> = budgets
        .iter()
        .map(|s| (s.scope.key(), cumulative(s, audit)))
        .collect();
    let unit = if budgets
        .iter()
        .all(|s| matches!(s.limit, Limit::Zcdp { .. }))
    {
        "ρ spent"
    } else {
        "ε spent (ρ for ρ budgets)"
    };
    let _ = writeln!(
        b,
        "<section id=\"over-time\">\n<h2>Spend over time</h2>\n<figure class=\"chart\" \
         id=\"spend-chart\">\n{}\n<figcaption>Cumulative spend per scope after each ledger entry \
         (charges raise it, refunds lower it, refusals change nothing).</figcaption>\n</figure>\n<ul>",
        spend_lines(&series, unit)?
    );
    for (i, (name, points)) in series.iter().enumerate() {
        let colour = super::css_colour(super::SERIES[i % super::SERIES.len()]);
        let last = points.last().map_or(0.0, |p| p.1);
        let _ = writeln!(
            b,
            "<li><span class=\"key\" style=\"background: {colour}\"></span>{}: {} spent over {} \
             charge(s) and refund(s)</li>",
            escape(name),
            crate::export::text::number(last),
            points.len() - 1
        );
    }
    let _ = writeln!(
        b,
        "</ul>\n</section>\n<section id=\"what-appears\">\n<h2>What this page shows</h2>\n<p>The \
         catalog's limits and the ledger's charges only: no data value, no query result. \
         <code>privagg audit verify</code> checks that the ledger's books balance.</p>\n</section>"
    );
    Ok(page(&title, &b))
}
