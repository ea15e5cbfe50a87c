//! `REPORT.md`: the privacy and accuracy of an export in plain language, for
//! a compliance reviewer or a customer-facing privacy page.

use std::fmt::Write;

use privagg_sql::GroupSelection;
use privagg_sql::{TOO_NOISY_RANGE_FRACTION, TOO_NOISY_RELATIVE_HALF_WIDTH};

use super::manifest::Manifest;
use super::text::number;

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
    let mut units: Vec<&str> = m
        .queries
        .iter()
        .map(|q| q.release.privacy_unit.as_str())
        .collect();
    units.sort_unstable();
    units.dedup();
    let units = units
        .iter()
        .map(|u| format!("`{u}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(s, "## The guarantee\n");
    let _ = writeln!(
        s,
        "Every number in this export is **differentially private at the level of one customer** \
         — one value of the privacy unit {units}, with all its rows. The whole export cost ε = {} and δ = {} of the analyst's \
         privacy budget, charged once before any data was read. In words: whether or not any one \
         customer's data was used, the chance of producing these files changes by at most a factor \
         of {:.2} (e^ε), except with probability at most δ. This holds for everything in the \
         export together, and for anything computed from it later.\n",
        m.epsilon,
        m.delta,
        m.epsilon.parse::<f64>().unwrap_or(f64::NAN).exp()
    );
    let _ = writeln!(
        s,
        "How this is achieved: customers who have not consented to analytics are never read; each \
         customer's influence is bounded (a limited number of groups per query, a limited number of \
         rows per group, values clamped to declared bounds); then exact random noise calibrated to \
         that bound is added to every value. Numbers are therefore approximate by design.\n"
    );
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
        "Each value has a {level:.0}% confidence interval (columns `<name>_ci_low` and \
         `<name>_ci_high` in the files): the noise keeps the true value inside it {level:.0}% of \
         the time for counts, sums and percentiles. An average's interval combines the intervals \
         of a noisy sum and a noisy count, so it holds at least {:.0}% of the time (a variance's or \
         standard deviation's, three noisy sums: at least {:.0}%); in practice more. A value is \
         marked **not reliable** when it is 0, when the interval's half-width exceeds {:.0}% of the \
         value, or when the interval spans more than {:.0}% of the range the statistic's declared \
         bounds allow (averages, percentiles, variances): do not act on it (merge segments, widen \
         the time range, or spend more budget).\n",
        2.0 * level - 100.0,
        3.0 * level - 200.0,
        TOO_NOISY_RELATIVE_HALF_WIDTH * 100.0,
        TOO_NOISY_RANGE_FRACTION * 100.0
    );
    for q in &m.queries {
        let r = &q.release;
        let _ = writeln!(s, "### `{}`\n\n```sql\n{}\n```\n", q.name, r.sql.trim());
        match r.group_selection {
            _ if !r.grouped => {
                let _ = writeln!(
                    s,
                    "The query has no GROUP BY: each statistic is one value over all customers \
                     (`{}`), so there are no segments and nothing was withheld.\n",
                    r.privacy_unit
                );
            }
            GroupSelection::PublicGroups => {
                let _ = writeln!(
                    s,
                    "Segments come from a published list: every listed segment is present, \
                     including segments with no customers.\n"
                );
            }
            _ => {
                let _ = writeln!(
                    s,
                    "Segments found in the data were published only if a noisy count of their \
                     customers passed a threshold{}. Smaller segments are withheld to protect \
                     their members; how many were withheld is not reported, because that number \
                     is itself private.\n",
                    r.units_for_even_odds
                        .map(|n| format!(" (about {n} customers give even odds)"))
                        .unwrap_or_default()
                );
            }
        }
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
    for line in LIMITATIONS {
        let _ = writeln!(s, "- {line}");
    }
    s
}

/// Honest limits of the guarantee, printed in every report.
const LIMITATIONS: [&str; 5] = [
    "Differential privacy protects individual customers, not groups: facts about a large segment as a whole are what is released, and they can be sensitive in themselves.",
    "The guarantee is per customer as identified by the privacy unit. If one person has several customer ids, or a household shares one, the protection per person is weaker or shared accordingly.",
    "The budget bounds what this analyst can learn in total; releases to other analysts are accounted separately (and by a per-table cap where the catalog sets one).",
    "Declared bounds, public segment lists and the schema are public by assumption; values outside the bounds were clamped, which biases sums and averages when many customers exceed them.",
    "Timing, file sizes and the fact that a query was run are not protected; the content of the files is.",
];
