//! The plain-language sentences of the reports, shared by `REPORT.md` and
//! the HTML pages so both say the same thing. Code spans are written in
//! backticks (Markdown); the HTML pages turn them into `<code>`.

use privagg_sql::{
    GroupSelection, ReleaseMetadata, TOO_NOISY_RANGE_FRACTION, TOO_NOISY_RELATIVE_HALF_WIDTH,
};

/// The privacy units of some releases, each once: `` `a`, `b` ``.
pub fn units<'a>(releases: impl IntoIterator<Item = &'a ReleaseMetadata>) -> String {
    let mut units: Vec<&str> = releases
        .into_iter()
        .map(|r| r.privacy_unit.as_str())
        .collect();
    units.sort_unstable();
    units.dedup();
    units
        .iter()
        .map(|u| format!("`{u}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The promise: `what` is "export" or "page".
pub fn guarantee(what: &str, units: &str, epsilon: &str, delta: &str) -> String {
    format!(
        "Every number in this {what} is differentially private at the level of one customer \
         — one value of the privacy unit {units}, with all its rows. The whole {what} cost ε = {epsilon} \
         and δ = {delta} of the analyst's privacy budget, charged once before any data was read. In \
         words: whether or not any one customer's data was used, the chance of producing these \
         numbers changes by at most a factor of {:.2} (e^ε), except with probability at most δ. \
         This holds for everything in the {what} together, and for anything computed from it later.",
        epsilon.parse::<f64>().unwrap_or(f64::NAN).exp()
    )
}

/// How the promise is kept.
pub const HOW_ACHIEVED: &str = "How this is achieved: customers who have not consented to \
     analytics are never read; each customer's influence is bounded (a limited number of groups \
     per query, a limited number of rows per group, values clamped to declared bounds); then exact \
     random noise calibrated to that bound is added to every value. Numbers are therefore \
     approximate by design.";

/// What an interval means and when a value is not reliable, at `level` %;
/// `columns` says where the intervals are (may be empty).
pub fn reliability(level: f64, columns: &str) -> String {
    format!(
        "Each value has a {level:.0}% confidence interval{columns}: the noise keeps the true value \
         inside it {level:.0}% of the time for counts, sums and percentiles. An average's interval \
         combines the intervals of a noisy sum and a noisy count, so it holds at least {:.0}% of the \
         time (a variance's or standard deviation's, three noisy sums: at least {:.0}%); in practice \
         more. A value is not reliable when it is 0, when the interval's half-width exceeds {:.0}% \
         of the value, or when the interval spans more than {:.0}% of the range the statistic's \
         declared bounds allow (averages, percentiles, variances): do not act on it (merge \
         segments, widen the time range, or spend more budget).",
        2.0 * level - 100.0,
        3.0 * level - 200.0,
        TOO_NOISY_RELATIVE_HALF_WIDTH * 100.0,
        TOO_NOISY_RANGE_FRACTION * 100.0
    )
}

/// Where a release's segments come from, in public terms only: how many were
/// withheld is itself private and never stated.
pub fn segments(r: &ReleaseMetadata) -> String {
    match r.group_selection {
        _ if !r.grouped => format!(
            "The query has no GROUP BY: each statistic is one value over all customers (`{}`), so \
             there are no segments and nothing was withheld.",
            r.privacy_unit
        ),
        GroupSelection::PublicGroups => "Segments come from a published list: every listed \
             segment is present, including segments with no customers."
            .to_string(),
        _ => format!(
            "Segments found in the data were published only if a noisy count of their customers \
             passed a threshold{}. Smaller segments are withheld to protect their members; how many \
             were withheld is not reported, because that number is itself private.",
            r.units_for_even_odds
                .map(|n| format!(" (about {n} customers give even odds)"))
                .unwrap_or_default()
        ),
    }
}

/// What only released values and public parameters means for a page.
pub const ONLY_RELEASED: &str = "Only released values, their intervals and public parameters \
     (ε, δ, bounds, contribution limits, published segment lists) appear here: never the number of \
     segments withheld, nor anything else computed on the raw data.";

/// Honest limits of the guarantee, printed in every report.
pub const LIMITATIONS: [&str; 5] = [
    "Differential privacy protects individual customers, not groups: facts about a large segment as a whole are what is released, and they can be sensitive in themselves.",
    "The guarantee is per customer as identified by the privacy unit. If one person has several customer ids, or a household shares one, the protection per person is weaker or shared accordingly.",
    "The budget bounds what this analyst can learn in total; releases to other analysts are accounted separately (and by a per-table cap where the catalog sets one).",
    "Declared bounds, public segment lists and the schema are public by assumption; values outside the bounds were clamped, which biases sums and averages when many customers exceed them.",
    "Timing, file sizes and the fact that a query was run are not protected; the content of the files is.",
];
