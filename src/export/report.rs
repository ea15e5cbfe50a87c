//! `REPORT.md`: the privacy and accuracy of an export in plain language, for
//! a compliance reviewer or a customer-facing privacy page.

use std::fmt::Write;

use super::manifest::Manifest;
use super::text::number;
use super::wording;

/// Renders `report.html`: the same facts as `REPORT.md`, with a chart per
/// statistic and the fairness panel.
///
/// # Errors
/// [`crate::html::HtmlError`] if a chart cannot be drawn.
pub fn render_html(m: &Manifest) -> Result<String, crate::html::HtmlError> {
    let intro = crate::html::Intro {
        title: format!("Privacy and accuracy report: export job {}", m.job),
        what: "export".into(),
        facts: vec![
            ("Export job".into(), format!("`{}`", m.job)),
            ("Analyst".into(), format!("`{}`", m.analyst)),
            (
                "Run".into(),
                format!("{} (privagg {})", m.created, m.privagg_version),
            ),
            (
                "Catalog".into(),
                format!("`{}` (SHA-256 `{}`)", m.catalog.path, m.catalog.sha256),
            ),
            ("Ledger request".into(), format!("`{}`", m.request_id)),
        ],
        epsilon: m.epsilon.clone(),
        delta: m.delta.clone(),
        confidence: m.confidence,
        remaining: m.remaining.clone(),
    };
    let sections: Vec<crate::html::ReleaseSection<'_>> = m
        .queries
        .iter()
        .map(|q| crate::html::ReleaseSection {
            name: &q.name,
            release: &q.release,
        })
        .collect();
    crate::html::release_page(&intro, &sections)
}

/// Renders the report. Mentions suppression only in aggregate, public terms:
/// how many groups were withheld is itself private and is never stated.
pub fn render(m: &Manifest) -> String {
    let mut s = String::new();
    let level = m.confidence * 100.0;
    let _ = writeln!(s, "# Privacy and accuracy report\n");
    let _ = writeln!(
        s,
        "Export job `{}` run for analyst `{}` on {} (privagg {}).  \nCatalog `{}` (SHA-256 `{}`), ledger request `{}`.\n",
        m.job,
        m.analyst,
        m.created,
        m.privagg_version,
        m.catalog.path,
        m.catalog.sha256,
        m.request_id
    );
    let units = wording::units(m.queries.iter().map(|q| &q.release));
    let _ = writeln!(s, "## The guarantee\n");
    let _ = writeln!(
        s,
        "{}\n",
        wording::guarantee("export", &units, &m.epsilon, &m.delta)
    );
    let _ = writeln!(s, "{}\n", wording::HOW_ACHIEVED);
    let _ = writeln!(s, "## What was released\n");
    let _ = writeln!(
        s,
        "| file | ε | δ | rows | groups per customer | rows per customer and group |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for q in &m.queries {
        let r = &q.release;
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} | ≤ {} | ≤ {} |",
            q.file,
            r.epsilon,
            r.delta,
            r.groups_released,
            r.max_groups_contributed,
            r.max_rows_contributed
        );
    }
    let _ = writeln!(
        s,
        "\nBudget remaining after this export: {}.\n",
        m.remaining.join("; ")
    );
    let _ = writeln!(s, "## Reliability of each segment\n");
    let _ = writeln!(
        s,
        "{}\n",
        wording::reliability(
            level,
            " (columns `<name>_ci_low` and `<name>_ci_high` in the files)"
        )
    );
    for q in &m.queries {
        let r = &q.release;
        let _ = writeln!(s, "### `{}`\n\n```sql\n{}\n```\n", q.name, r.sql.trim());
        let _ = writeln!(s, "{}\n", wording::segments(r));
        if r.accuracy.is_empty() {
            let _ = writeln!(
                s,
                "No segment was released, so there is no value to qualify.\n"
            );
            continue;
        }
        let _ = writeln!(
            s,
            "| segment | value | estimate | {level:.0}% interval | ± relative | reliable |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|");
        for c in &r.accuracy {
            let rel = if c.relative_half_width.is_finite() {
                format!("{:.1}%", c.relative_half_width * 100.0)
            } else {
                "∞".into()
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | [{}, {}] | {} | {} |",
                if c.segment.is_empty() {
                    "(all)"
                } else {
                    &c.segment
                },
                c.column,
                number(c.value),
                number(c.ci_low),
                number(c.ci_high),
                rel,
                match &c.reason {
                    Some(why) => format!("**no**: {why}"),
                    None => "yes".into(),
                }
            );
        }
        let unreliable = r.accuracy.iter().filter(|c| c.too_noisy).count();
        let _ = writeln!(
            s,
            "\n{} of {} values reliable.\n",
            r.accuracy.len() - unreliable,
            r.accuracy.len()
        );
    }
    let _ = writeln!(s, "## What this does not protect\n");
    for line in wording::LIMITATIONS {
        let _ = writeln!(s, "- {line}");
    }
    s
}
