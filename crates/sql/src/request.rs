//! One request's planning, shared by explain and execution: parse the
//! request (its `SET` statements and one SELECT), merge the settings, and
//! prepare the query (analysis, calibration, bounded plans); and explain,
//! which stops there. Nothing here charges or reads private data.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use privagg_budget::{Amount, Rounding};
use serde::Serialize;

use crate::aggregate::{AggregatePlan, ComponentKind, Contribution, OutputAccuracy};
use crate::dialect::{Statement, parse_request};
use crate::engine::Engine;
use crate::error::{Result, SqlError, rejected};
use crate::metadata::{BudgetShare, ColumnNoise};
use crate::options::{Mechanism, OptionValues};
use crate::post_process::{finish, upper_plan};
use crate::prepare::{Prepared, prepare};

/// How to present a release.
#[derive(Clone, Copy, Debug)]
pub struct QueryConfig {
    /// Confidence level of intervals and accuracy flags.
    pub confidence: f64,
    /// Add `<col>_ci_low` / `<col>_ci_high` columns.
    pub intervals: bool,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            confidence: 0.95,
            intervals: false,
        }
    }
}

/// What a query would do and cost, computed without charging or reading data.
#[derive(Clone, Debug, Serialize)]
pub struct Explanation {
    /// The bounded aggregation DataFusion would run.
    pub plan: String,
    /// Total ε (exact; a decimal string when serialised).
    pub epsilon: Amount,
    /// Total δ (exact).
    pub delta: Amount,
    /// Total ρ, when the whole release is ρ-zCDP (no private-key selection).
    pub rho: Option<Amount>,
    /// The noise of the aggregates.
    pub mechanism: Mechanism,
    /// The ε split.
    pub split: Vec<BudgetShare>,
    /// Noise per aggregate component.
    pub columns: Vec<ColumnNoise>,
    /// Expected 95% half-width of each component, in value units (rows for
    /// the node counts of a percentile's quantile tree).
    pub half_widths: Vec<(String, f64)>,
    /// Expected 95% half-width of each output aggregate, in its own units.
    pub outputs: Vec<OutputAccuracy>,
    /// The same under the other mechanism, at the same ε and δ, so the
    /// analyst can choose (`mechanism = 'laplace' | 'gaussian'`).
    pub alternative: Option<Alternative>,
    /// Groups need about this many units to be released with even odds.
    pub units_for_even_odds: Option<u64>,
    /// What contribution bounding does to the meaning of the statistics, in
    /// plain words, from public parameters only.
    pub bounding: Vec<String>,
    /// The columns a release of this query has, `<col>_ci_low`/`_ci_high`
    /// after each aggregate (what a Postgres client's `Describe` answers).
    #[serde(skip)]
    pub result_schema: SchemaRef,
}

/// Explain's accuracy under the mechanism the query did not pick.
#[derive(Clone, Debug, Serialize)]
pub struct Alternative {
    /// The other mechanism.
    pub mechanism: Mechanism,
    /// Expected 95% half-width of each component with it.
    pub half_widths: Vec<(String, f64)>,
    /// Expected accuracy of each output aggregate with it.
    pub outputs: Vec<OutputAccuracy>,
}

/// Expected half-widths, labelled.
type Widths = Vec<(String, f64)>;

/// Explain's accuracy of calibrated aggregates: per component, per output.
fn accuracy_of(aggregates: &[AggregatePlan]) -> Result<(Widths, Vec<OutputAccuracy>)> {
    let mut half_widths = Vec::new();
    let mut outputs = Vec::new();
    for a in aggregates {
        let explained = a.call.aggregate.explain(a)?;
        half_widths.extend(explained.components);
        outputs.push(explained.output);
    }
    Ok((half_widths, outputs))
}

/// What a prepared query costs: ε, δ and (when it is ρ-zCDP) ρ, each
/// rounded up to the ledger's exact decimals — the amounts it is charged.
pub(crate) fn cost(prepared: &Prepared) -> Result<(Amount, Amount, Option<Amount>)> {
    let loss = &prepared.loss;
    Ok((
        Amount::from_ratio(loss.epsilon(), Rounding::Up)?,
        Amount::from_ratio(loss.delta(), Rounding::Up)?,
        loss.rho()
            .map(|r| Amount::from_ratio(r, Rounding::Up))
            .transpose()?,
    ))
}

/// A prepared request: the query, its text as written, and its `SET`
/// statements as a pending change of the session's settings (applied by
/// the caller only once the request succeeds).
pub(crate) struct PreparedRequest {
    /// The prepared query.
    pub prepared: Prepared,
    /// The request as written.
    pub original: String,
    /// Its `SET` statements.
    pub pending: OptionValues,
}

/// Plans a request. Its `SET` statements are returned as a pending
/// change of the session defaults (they apply to this request's query
/// at once): the caller applies them only once the request succeeds, so
/// `explain` and rejected requests change nothing. `explain`: also
/// calibrate the other mechanism, to show its accuracy.
pub(crate) async fn prepare_request(
    engine: &Engine,
    settings: &OptionValues,
    sql: &str,
    salt: i64,
    overrides: &OptionValues,
    explain: bool,
) -> Result<PreparedRequest> {
    let mut query = None;
    let mut pending = OptionValues::default();
    for statement in parse_request(sql)? {
        match statement {
            Statement::Set { name, value } => pending.set(&name, &value)?,
            Statement::Query {
                sql,
                options,
                original,
            } => {
                if query.is_some() {
                    return Err(rejected("one SELECT per request: run queries separately"));
                }
                query = Some((sql, options, original));
            }
        }
    }
    let Some((plain, options, original)) = query else {
        return Err(SqlError::InvalidSql("the request has no SELECT".into()));
    };
    let mut sql_options = OptionValues::default();
    for (name, value) in &options {
        sql_options.set(name, value)?;
    }
    // OPTIONS, then the batch's per-query values, then this request's
    // SET, then the session's settings, then the engine's defaults.
    let merged = sql_options.or(&overrides.or(&pending.or(&settings.or(&engine.defaults))));
    let prepared = prepare(
        &engine.session,
        &engine.catalog,
        &engine.views,
        &plain,
        &merged,
        salt,
        explain,
    )
    .await?;
    Ok(PreparedRequest {
        prepared,
        original,
        pending,
    })
}

/// What a query would cost and how accurate it would be; charges nothing.
///
/// # Errors
/// As the preparation of [`Self::query`].
pub(crate) async fn explain(
    engine: &Engine,
    settings: &OptionValues,
    sql: &str,
) -> Result<Explanation> {
    let prepared = prepare_request(engine, settings, sql, 0, &OptionValues::default(), true)
        .await?
        .prepared;
    let (half_widths, outputs) = accuracy_of(&prepared.aggregates)?;
    let alternative = match &prepared.alternative {
        Some((mechanism, aggregates)) => {
            let (half_widths, outputs) = accuracy_of(aggregates)?;
            Some(Alternative {
                mechanism: *mechanism,
                half_widths,
                outputs,
            })
        }
        None => None,
    };
    let (epsilon, delta, rho) = cost(&prepared)?;
    Ok(Explanation {
        plan: prepared.bounded.display_indent().to_string(),
        epsilon,
        delta,
        rho,
        mechanism: prepared.mechanism,
        split: prepared.split(),
        columns: columns(&prepared)?,
        half_widths,
        outputs,
        alternative,
        units_for_even_odds: prepared.selection.units_for_even_odds(),
        bounding: bounding(engine, &prepared),
        result_schema: released_schema(&prepared)?,
    })
}

/// What bounding does to the statistics' meaning: public parameters only
/// (the catalog's unit column, L0, L∞ and which aggregates count rows).
pub(crate) fn bounding(engine: &Engine, prepared: &Prepared) -> Vec<String> {
    let unit = prepared
        .analysis
        .private_tables
        .first()
        .and_then(|t| engine.catalog.table(t))
        .map_or_else(|| "privacy unit".to_string(), |t| t.privacy_unit.clone());
    let Contribution {
        max_groups: k,
        max_rows: rows,
    } = prepared.contribution;
    let mut out = Vec::new();
    if prepared.analysis.keys.is_empty() {
        out.push(format!(
            "no GROUP BY: one group, to which every {unit} contributes once"
        ));
    } else {
        out.push(format!(
            "each {unit} counts in at most {k} group(s): one with rows in more groups keeps {k} of them, chosen at random, and its rows in the others are dropped from every statistic"
        ));
    }
    let counts_rows = prepared.aggregates.iter().any(|a| {
        !a.call.aggregate.counts_units()
            && a.components.iter().any(|c| c.kind == ComponentKind::Count)
            && a.components.len() == 1
    });
    if counts_rows {
        out.push(if rows == 1 {
            format!(
                "COUNT(*) and COUNT(col) count {unit}s, not rows: each {unit} contributes at most 1 row per group"
            )
        } else {
            format!(
                "COUNT(*) and COUNT(col) count rows, at most {rows} per {unit} and group: a {unit}'s rows beyond that are not counted"
            )
        });
    }
    out.extend(
        prepared
            .aggregates
            .iter()
            .filter_map(|a| a.call.aggregate.bounding(&a.call, &unit, rows)),
    );
    out
}

pub(crate) fn columns(prepared: &Prepared) -> Result<Vec<ColumnNoise>> {
    prepared
        .aggregates
        .iter()
        .flat_map(|a| {
            a.components
                .iter()
                .map(|c| ColumnNoise::of(&a.call.label, c))
        })
        .collect()
}

#[cfg(test)]
impl Engine {
    /// Test instrumentation: prepares a query with a fixed salt and returns
    /// the exact (pre-noise) bounded results. Never available outside tests.
    pub(crate) async fn exact_for_tests(
        &self,
        sql: &str,
        salt: i64,
    ) -> Result<(
        Prepared,
        Vec<datafusion::arrow::array::RecordBatch>,
        Vec<Vec<datafusion::arrow::array::RecordBatch>>,
    )> {
        let none = OptionValues::default();
        let prepared = prepare_request(self, &none, sql, salt, &none, false)
            .await?
            .prepared;
        let exact = self.run(prepared.bounded.clone()).await?;
        let mut trees = Vec::new();
        for (_, plan) in &prepared.percentiles {
            trees.push(self.run(plan.clone()).await?);
        }
        Ok((prepared, exact, trees))
    }
}

/// The schema of a release of `prepared` with intervals, from the plan alone
/// (no row, no data): the same post-processing over no released rows.
pub(crate) fn released_schema(prepared: &Prepared) -> Result<SchemaRef> {
    let upper = upper_plan(
        &prepared.analysis.plan,
        &[],
        prepared.analysis.keys.len(),
        &prepared.value_ranges(),
    )?;
    let empty = RecordBatch::new_empty(Arc::new(upper.schema().as_arrow().clone()));
    let finished = finish(vec![empty], true)?;
    Ok(finished
        .first()
        .map_or_else(|| Arc::new(Schema::empty()), RecordBatch::schema))
}
