//! What a query returns: Arrow batches plus metadata saying what was spent,
//! how each column was noised, and how accurate every cell is.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::arrow::util::display::array_value_to_string;
use privagg_budget::Amount;
use serde::Serialize;

use crate::aggregate::{Component, ComponentKind};
use crate::options::GroupSelection;

/// A released value is flagged when its interval's half-width exceeds this
/// fraction of its magnitude.
pub const TOO_NOISY_RELATIVE_HALF_WIDTH: f64 = 0.5;
/// A cell is also too noisy when its interval spans more than this fraction
/// of the statistic's declared range (AVG, percentiles: `upper − lower`).
pub const TOO_NOISY_RANGE_FRACTION: f64 = 0.5;

/// The result of a private query.
#[derive(Clone, Debug)]
pub struct Release {
    /// The released rows.
    pub batches: Vec<RecordBatch>,
    /// What was spent and how accurate the values are.
    pub metadata: ReleaseMetadata,
}

/// Metadata of a release. Holds only DP values and public parameters: in
/// particular never the number of groups that were suppressed.
#[derive(Clone, Debug, Serialize)]
pub struct ReleaseMetadata {
    /// The ledger request id.
    pub request_id: String,
    /// Who asked.
    pub analyst: String,
    /// The query as written.
    pub sql: String,
    /// ε charged (exact; serialised as a decimal string).
    pub epsilon: Amount,
    /// δ charged (exact; serialised as a decimal string).
    pub delta: Amount,
    /// ρ charged, when the release is ρ-zCDP (exact; a decimal string).
    pub rho: Option<Amount>,
    /// The noise of the aggregates.
    pub mechanism: crate::options::Mechanism,
    /// How ε was split.
    pub split: Vec<BudgetShare>,
    /// Per aggregate: mechanism and scale of its noise.
    pub columns: Vec<ColumnNoise>,
    /// Contribution bounds applied.
    pub max_groups_contributed: u32,
    /// The privacy unit (column) of the query's private table(s): whom one
    /// "customer" of the guarantee is.
    pub privacy_unit: String,
    /// Rows per unit and group.
    pub max_rows_contributed: u32,
    /// What contribution bounding does to the statistics' meaning, in words
    /// (public parameters only; as `explain` shows it).
    pub bounding: Vec<String>,
    /// Whether the query has GROUP BY keys (without, there is one group of
    /// all units, and no group is ever selected or withheld).
    pub grouped: bool,
    /// How group keys were chosen (meaningful only when `grouped`).
    pub group_selection: GroupSelection,
    /// Groups need about this many units to be released with even odds (private keys only).
    pub units_for_even_odds: Option<u64>,
    /// Rows released.
    pub groups_released: usize,
    /// Confidence level of the intervals.
    pub confidence: f64,
    /// Per-cell accuracy.
    pub accuracy: Vec<CellAccuracy>,
    /// Remaining budget per scope after the charge.
    pub remaining: Vec<String>,
}

/// One part of the ε split.
#[derive(Clone, Debug, Serialize)]
pub struct BudgetShare {
    /// What received it (`COUNT(*)`, `partition selection`).
    pub part: String,
    /// Its ε (exact decimal or fraction).
    pub epsilon: String,
    /// Its ρ, when its noise is Gaussian (zCDP).
    pub rho: Option<String>,
}

/// The noise of one aggregate's component.
#[derive(Clone, Debug, Serialize)]
pub struct ColumnNoise {
    /// The aggregate as written.
    pub aggregate: String,
    /// What the component measures.
    pub component: ComponentKind,
    /// The mechanism.
    pub mechanism: &'static str,
    /// Noise scale in value units (Laplace b, Gaussian σ).
    pub scale: f64,
    /// Grid spacing of released values.
    pub granularity: f64,
    /// Its ε (for a Gaussian component: at the query's noise δ), as text:
    /// the exact decimal when it has a short one, else rounded up.
    pub epsilon: String,
    /// Its ρ (zCDP), when its noise is Gaussian, likewise.
    pub rho: Option<String>,
}

/// An amount as text: its exact decimal when it has one of at most 20
/// characters (`0.6`), else the smallest f64 at least as large (`0.333…4`).
fn amount_text(r: &num_rational::BigRational) -> String {
    let exact = privagg_noise::exact::exact_text(r);
    if exact.contains('/') || exact.len() > 20 {
        format!("{:?}", privagg_noise::exact::to_f64_up(r))
    } else {
        exact
    }
}

impl ColumnNoise {
    pub(crate) fn of(aggregate: &str, c: &Component) -> crate::error::Result<Self> {
        let loss = c.loss()?;
        Ok(Self {
            aggregate: aggregate.to_string(),
            component: c.kind,
            mechanism: c.noise.name(),
            scale: c.noise.scale() * c.grid.spacing(),
            granularity: c.grid.spacing(),
            epsilon: amount_text(loss.epsilon()),
            rho: match c.noise {
                crate::aggregate::Noise::Gaussian(_) => loss.rho().map(amount_text),
                crate::aggregate::Noise::Laplace(_) | crate::aggregate::Noise::Exponential(_) => {
                    None
                }
            },
        })
    }
}

/// Accuracy of one released cell.
#[derive(Clone, Debug, Serialize)]
pub struct CellAccuracy {
    /// The segment: the row's non-aggregate values joined by `/`.
    pub segment: String,
    /// The column.
    pub column: String,
    /// The row of the release it is in (0-based, across batches).
    pub row: usize,
    /// The released value.
    pub value: f64,
    /// Interval low end.
    pub ci_low: f64,
    /// Interval high end.
    pub ci_high: f64,
    /// Half-width relative to |value| (∞ for a zero value).
    pub relative_half_width: f64,
    /// The width of the range the statistic's values lie in, from the
    /// declared bounds (`None` for counts and sums).
    pub declared_range: Option<f64>,
    /// The aggregate the column releases, as written (`COUNT(*)`).
    pub aggregate: String,
    /// Whether it is a count (of rows, values or units): a segment's size.
    pub is_count: bool,
    /// `true` when too noisy to act on.
    pub too_noisy: bool,
    /// Why it is too noisy, when it is.
    pub reason: Option<String>,
}

/// Why a cell is too noisy to act on, or `None`: the rule of
/// `docs/accuracy.md` ("Too noisy to act on"), from the released value, its
/// interval and the statistic's declared range (public) only.
pub fn too_noisy_reason(value: f64, low: f64, high: f64, range: Option<f64>) -> Option<String> {
    if value == 0.0 {
        return Some("the value is 0".into());
    }
    let relative = (high - low) / 2.0 / value.abs();
    if relative > TOO_NOISY_RELATIVE_HALF_WIDTH {
        return Some(format!(
            "interval wider than ±{:.0}% of the value",
            TOO_NOISY_RELATIVE_HALF_WIDTH * 100.0
        ));
    }
    match range {
        Some(r) if (high - low) > TOO_NOISY_RANGE_FRACTION * r => Some(format!(
            "interval spans more than {:.0}% of the declared range",
            TOO_NOISY_RANGE_FRACTION * 100.0
        )),
        _ => None,
    }
}

/// What the release of one aggregate says about itself, for its cells.
pub(crate) struct AggregateLabel {
    /// As written.
    pub label: String,
    /// A count (of rows, values or units).
    pub is_count: bool,
}

/// Per-cell accuracy from released batches that carry the hidden interval,
/// range and aggregate columns (before `post_process::finish`); `labels`
/// by aggregate index.
pub(crate) fn accuracy(batches: &[RecordBatch], labels: &[AggregateLabel]) -> Vec<CellAccuracy> {
    use crate::hidden::{AGGREGATE, HIGH, LOW, RANGE, hidden, is_hidden};
    let mut cells = Vec::new();
    let mut row_base = 0;
    for b in batches {
        let schema = b.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let output: Vec<usize> = (0..names.len()).filter(|i| !is_hidden(names[*i])).collect();
        let with_ci: Vec<usize> = output
            .iter()
            .copied()
            .filter(|i| names.contains(&hidden(names[*i], LOW).as_str()))
            .collect();
        let label_cols: Vec<usize> = output
            .iter()
            .copied()
            .filter(|i| !with_ci.contains(i))
            .collect();
        // Per aggregate column: its name, value as f64, interval ends and range, cast once.
        let mut columns = Vec::new();
        for &c in &with_ci {
            let float = |i: usize| {
                datafusion::arrow::compute::cast(
                    b.column(i),
                    &datafusion::arrow::datatypes::DataType::Float64,
                )
                .ok()
            };
            let at = |which: &str| schema.index_of(&hidden(names[c], which)).ok();
            if let (Some(v), Some(lo), Some(hi)) = (float(c), at(LOW), at(HIGH)) {
                let range = at(RANGE).and_then(float);
                let aggregate = at(AGGREGATE).and_then(float);
                columns.push((names[c], v, float(lo), float(hi), range, aggregate));
            }
        }
        for row in 0..b.num_rows() {
            let segment = label_cols
                .iter()
                .map(|c| array_value_to_string(b.column(*c), row).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("/");
            for (name, v, l, h, range, aggregate) in &columns {
                let get = |a: &Option<ArrayRef>| {
                    let a = a.as_ref()?.as_primitive::<Float64Type>();
                    (!a.is_null(row)).then(|| a.value(row))
                };
                let v = v.as_primitive::<Float64Type>();
                if v.is_null(row) {
                    continue;
                }
                let (Some(low), Some(high)) = (get(l), get(h)) else {
                    continue;
                };
                let value = v.value(row);
                let range = get(range);
                let label = get(aggregate).and_then(|i| labels.get(i as usize));
                let rel = if value == 0.0 {
                    f64::INFINITY
                } else {
                    (high - low) / 2.0 / value.abs()
                };
                let reason = too_noisy_reason(value, low, high, range);
                cells.push(CellAccuracy {
                    row: row_base + row,
                    segment: segment.clone(),
                    column: name.to_string(),
                    value,
                    ci_low: low,
                    ci_high: high,
                    relative_half_width: rel,
                    declared_range: range,
                    aggregate: label.map(|l| l.label.clone()).unwrap_or_default(),
                    is_count: label.is_some_and(|l| l.is_count),
                    too_noisy: reason.is_some(),
                    reason,
                });
            }
        }
        row_base += b.num_rows();
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::too_noisy_reason;

    #[test]
    fn the_flag_holds_the_value_and_the_declared_range() {
        // The newcomer's one-row AVG: ±50% of the value, but the whole range.
        assert_eq!(
            too_noisy_reason(100.0, 0.0, 100.0, Some(100.0)).as_deref(),
            Some("interval spans more than 50% of the declared range")
        );
        assert_eq!(too_noisy_reason(100.0, 0.0, 100.0, None), None);
        assert_eq!(too_noisy_reason(100.0, 80.0, 120.0, Some(100.0)), None);
        assert_eq!(
            too_noisy_reason(10.0, 0.0, 30.0, Some(1000.0)).as_deref(),
            Some("interval wider than ±50% of the value")
        );
        assert_eq!(
            too_noisy_reason(0.0, -1.0, 1.0, None).as_deref(),
            Some("the value is 0")
        );
    }
}
