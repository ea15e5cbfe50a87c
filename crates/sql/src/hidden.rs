//! The hidden columns that ride along with each released aggregate through
//! post-processing: its interval's ends and its declared value range.

/// Its interval's low end.
pub(crate) const LOW: &str = "__privagg_ci_low";
/// Its interval's high end.
pub(crate) const HIGH: &str = "__privagg_ci_high";
/// The width of the range its statistic's values lie in (declared bounds),
/// NULL when it has none (counts, sums): for the "too noisy" rule.
pub(crate) const RANGE: &str = "__privagg_range";
/// The index of the aggregate (in the query's order) an output column is.
pub(crate) const AGGREGATE: &str = "__privagg_aggregate";
/// The suffixes of the hidden columns that ride along with an aggregate.
pub(crate) const HIDDEN: [&str; 4] = [LOW, HIGH, RANGE, AGGREGATE];

/// The hidden column `which` of output column `name`.
pub(crate) fn hidden(name: &str, which: &str) -> String {
    format!("{name}{which}")
}

/// Whether a column is one of the hidden ones.
pub(crate) fn is_hidden(name: &str) -> bool {
    HIDDEN.iter().any(|h| name.ends_with(h))
}
