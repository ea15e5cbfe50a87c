//! What a query returns: Arrow batches plus metadata saying what was spent,
//! how each column was noised, and how accurate every cell is.

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::arrow::util::display::array_value_to_string;
use privagg_budget::Amount;
use serde::Serialize;

use crate::aggregate::{Component, ComponentKind};
use crate::options::GroupSelection;

/// A released value is flagged when its interval's half-width exceeds this
/// fraction of its magnitude.
pub const TOO_NOISY_RELATIVE_HALF_WIDTH: f64 = 0.5;

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
    /// Rows per unit and group.
    pub max_rows_contributed: u32,
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
    /// Its ε (for a Gaussian component: at the query's noise δ).
    pub epsilon: f64,
    /// Its ρ (zCDP), when its noise is Gaussian.
    pub rho: Option<f64>,
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
            epsilon: loss.epsilon_f64(),
            rho: match c.noise {
                crate::aggregate::Noise::Gaussian(_) => {
                    loss.rho().map(privagg_noise::exact::to_f64_up)
                }
                crate::aggregate::Noise::Laplace(_) => None,
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
    /// The released value.
    pub value: f64,
    /// Interval low end.
    pub ci_low: f64,
    /// Interval high end.
    pub ci_high: f64,
    /// Half-width relative to |value| (∞ for a zero value).
    pub relative_half_width: f64,
    /// `true` when too noisy to act on.
    pub too_noisy: bool,
}

/// Per-cell accuracy from batches that carry `<col>_ci_low/_ci_high` columns.
pub(crate) fn accuracy(batches: &[RecordBatch]) -> Vec<CellAccuracy> {
    let mut cells = Vec::new();
    for b in batches {
        let schema = b.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let with_ci: Vec<usize> = (0..names.len())
            .filter(|i| names.contains(&format!("{}_ci_low", names[*i]).as_str()))
            .collect();
        let label_cols: Vec<usize> = (0..names.len())
            .filter(|i| {
                !with_ci.contains(i)
                    && !names[*i].ends_with("_ci_low")
                    && !names[*i].ends_with("_ci_high")
            })
            .collect();
        // Per aggregate column: (name, value as f64, interval low, interval high), cast once.
        let mut columns = Vec::new();
        for &c in &with_ci {
            let value = datafusion::arrow::compute::cast(
                b.column(c),
                &datafusion::arrow::datatypes::DataType::Float64,
            );
            let lo = schema.index_of(&format!("{}_ci_low", names[c]));
            let hi = schema.index_of(&format!("{}_ci_high", names[c]));
            if let (Ok(value), Ok(lo), Ok(hi)) = (value, lo, hi) {
                columns.push((names[c], value, b.column(lo).clone(), b.column(hi).clone()));
            }
        }
        for row in 0..b.num_rows() {
            let segment = label_cols
                .iter()
                .map(|c| array_value_to_string(b.column(*c), row).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("/");
            for (name, v, l, h) in &columns {
                let (v, l, h) = (
                    v.as_primitive::<Float64Type>(),
                    l.as_primitive::<Float64Type>(),
                    h.as_primitive::<Float64Type>(),
                );
                if v.is_null(row) || l.is_null(row) || h.is_null(row) {
                    continue;
                }
                let (value, low, high) = (v.value(row), l.value(row), h.value(row));
                let rel = if value == 0.0 {
                    f64::INFINITY
                } else {
                    (high - low) / 2.0 / value.abs()
                };
                cells.push(CellAccuracy {
                    segment: segment.clone(),
                    column: name.to_string(),
                    value,
                    ci_low: low,
                    ci_high: high,
                    relative_half_width: rel,
                    too_noisy: rel > TOO_NOISY_RELATIVE_HALF_WIDTH,
                });
            }
        }
    }
    cells
}
