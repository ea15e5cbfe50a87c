//! `PrivateContext`: the embedded API. It owns a DataFusion session whose
//! private tables are consent-filtered views, a budget ledger, and session
//! option defaults; it answers SQL with [`Release`]s and never hands out the
//! session itself.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use datafusion::execution::FunctionRegistry;
use datafusion::prelude::SessionContext;
use privagg_budget::{ChargeRequest, Ledger, PrivacyCost, Rejection, SqliteLedger};
use serde::Serialize;

use crate::aggregate::OutputAccuracy;
use crate::batch::BatchQuery;
use crate::catalog::{Catalog, TableConfig};
use crate::dialect::{Statement, parse_request};
use crate::error::{Result, SqlError, rejected};
use crate::metadata::{BudgetShare, ColumnNoise, Release};
use crate::options::OptionValues;
use crate::prepare::{Prepared, prepare};
use crate::register::{TableSource, Views, register_catalog, register_private, register_public};

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
    /// Total ε.
    pub epsilon: String,
    /// Total δ.
    pub delta: String,
    /// The ε split.
    pub split: Vec<BudgetShare>,
    /// Noise per aggregate component.
    pub columns: Vec<ColumnNoise>,
    /// Expected 95% half-width of each component, in value units (rows for
    /// the node counts of a percentile's quantile tree).
    pub half_widths: Vec<(String, f64)>,
    /// Expected 95% half-width of each output aggregate, in its own units.
    pub outputs: Vec<OutputAccuracy>,
    /// Groups need about this many units to be released with even odds.
    pub units_for_even_odds: Option<u64>,
}

/// The private query engine.
pub struct PrivateContext {
    pub(crate) session: SessionContext,
    pub(crate) catalog: Catalog,
    pub(crate) views: Views,
    pub(crate) ledger: Arc<dyn Ledger>,
    pub(crate) settings: Mutex<OptionValues>,
}

impl std::fmt::Debug for PrivateContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateContext")
            .field("catalog", &self.catalog.file)
            .finish_non_exhaustive()
    }
}

/// The internal session: identifiers keep their case (CSV headers such as
/// `UserId` are used as written), and privagg's functions are registered.
fn new_session() -> Result<SessionContext> {
    // Partial aggregation by unit is kept even when it barely reduces the
    // rows: privagg_bottom_k_groups bounds each unit's state, and passing
    // every row on as a one-entry state measured no faster
    // (docs/performance.md).
    let config = datafusion::prelude::SessionConfig::new()
        .set_bool("datafusion.sql_parser.enable_ident_normalization", false)
        .set_str(
            "datafusion.execution.skip_partial_aggregation_probe_ratio_threshold",
            "1.0",
        );
    let mut session = SessionContext::new_with_config(config);
    let registry: &mut dyn FunctionRegistry = &mut session;
    crate::udf::register_all(registry).map_err(|e| rejected(e.to_string()))?;
    Ok(session)
}

impl PrivateContext {
    /// Loads a catalog file, opens (or creates) its SQLite ledger and registers its tables.
    /// A ledger file without write permission is opened read-only: queries are
    /// then refused with [`privagg_budget::BudgetError::ReadOnly`], nothing charged.
    ///
    /// # Errors
    /// [`SqlError::Catalog`] for catalog or data problems, [`SqlError::Budget`] for ledger problems.
    pub async fn open(catalog_path: impl AsRef<Path>) -> Result<Self> {
        let catalog = Catalog::load(catalog_path)?;
        // A ledger file without write permission is opened read-only (even
        // for root, who could otherwise write it): charges then fail cleanly.
        let path = catalog.ledger_path();
        let read_only = std::fs::metadata(&path).is_ok_and(|m| m.permissions().readonly());
        let options = privagg_budget::LedgerOptions {
            read_only,
            ..Default::default()
        };
        let ledger = SqliteLedger::open_with(path, options)?;
        Self::with_ledger(catalog, Arc::new(ledger)).await
    }

    /// A context over a catalog and any ledger.
    ///
    /// # Errors
    /// [`SqlError::Catalog`] for data problems.
    pub async fn with_ledger(catalog: Catalog, ledger: Arc<dyn Ledger>) -> Result<Self> {
        let session = new_session()?;
        let views = register_catalog(&session, &catalog).await?;
        Ok(Self {
            session,
            catalog,
            views,
            ledger,
            settings: Mutex::new(OptionValues::default()),
        })
    }

    /// Registers a private table programmatically (from a path or batches).
    ///
    /// # Errors
    /// [`SqlError::Catalog`] when the policy does not fit the data.
    pub async fn register_private_table(
        &mut self,
        table: TableConfig,
        source: TableSource,
    ) -> Result<()> {
        let mut catalog = self.catalog.clone();
        catalog
            .tables
            .retain(|t| !t.name.eq_ignore_ascii_case(&table.name));
        catalog.tables.push(table.clone());
        let plan = register_private(&self.session, &catalog, &table, source).await?;
        self.views
            .private
            .retain(|(n, _)| !n.eq_ignore_ascii_case(&table.name));
        self.views.private.push((table.name.clone(), plan));
        self.catalog = catalog;
        Ok(())
    }

    /// Registers a public (non-private) table.
    ///
    /// # Errors
    /// [`SqlError::Catalog`] when the source cannot be read.
    pub async fn register_public_table(&mut self, name: &str, source: TableSource) -> Result<()> {
        let plan = register_public(&self.session, &self.catalog, name, source).await?;
        self.views.public.push((name.to_string(), plan));
        self.catalog
            .public_tables
            .push(crate::catalog::PublicTableConfig {
                name: name.to_string(),
                path: Default::default(),
            });
        Ok(())
    }

    /// Sets a session default (API / command-line level; SQL `OPTIONS` override it).
    ///
    /// # Errors
    /// [`SqlError::Rejected`] for unknown options or bad values.
    pub fn set_option(&self, name: &str, value: &str) -> Result<()> {
        self.settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .set(name, value)
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The ledger.
    pub fn ledger(&self) -> &Arc<dyn Ledger> {
        &self.ledger
    }

    /// Runs a request (`SET privagg.x = v;` statements and one SELECT).
    ///
    /// # Errors
    /// See [`SqlError`]; every request, accepted or not, is audited.
    pub async fn query(&self, analyst: &str, sql: &str) -> Result<Release> {
        self.query_with(analyst, sql, QueryConfig::default()).await
    }

    /// [`Self::query`] with presentation settings.
    ///
    /// # Errors
    /// As [`Self::query`].
    pub async fn query_with(
        &self,
        analyst: &str,
        sql: &str,
        config: QueryConfig,
    ) -> Result<Release> {
        let query = BatchQuery {
            name: String::new(),
            sql: sql.to_string(),
            epsilon: None,
            delta: None,
        };
        let mut releases = self
            .run_batch(analyst, None, &[query], config, &mut |_| {})
            .await?;
        releases
            .pop()
            .ok_or_else(|| SqlError::Execution("no release was produced".into()))
    }

    /// Runs several queries as one request: every query is planned first, the
    /// sum of their costs is charged once, all-or-nothing, and only then is
    /// any private data read. `job` is the request text audited for the whole
    /// batch. Releases come back in the order of `queries`; `progress` is
    /// called with the number of queries released so far.
    ///
    /// # Errors
    /// As [`Self::query`]; a rejection names the query (`name`) at fault, and
    /// nothing is charged unless every query plans and the total is affordable.
    pub async fn query_batch(
        &self,
        analyst: &str,
        job: &str,
        queries: &[BatchQuery],
        config: QueryConfig,
        progress: &mut (dyn FnMut(usize) + Send),
    ) -> Result<Vec<Release>> {
        self.run_batch(analyst, Some(job), queries, config, progress)
            .await
    }

    /// What a query would cost and how accurate it would be; charges nothing.
    ///
    /// # Errors
    /// As the preparation of [`Self::query`].
    pub async fn explain(&self, sql: &str) -> Result<Explanation> {
        let (prepared, _, _) = self
            .prepare_request(sql, 0, &OptionValues::default())
            .await?;
        let mut half_widths = Vec::new();
        let mut outputs = Vec::new();
        for a in &prepared.aggregates {
            let explained = a.call.aggregate.explain(a)?;
            half_widths.extend(explained.components);
            outputs.push(explained.output);
        }
        Ok(Explanation {
            plan: prepared.bounded.display_indent().to_string(),
            epsilon: privagg_budget::Amount::from_ratio(
                prepared.loss.epsilon(),
                privagg_budget::Rounding::Up,
            )?
            .to_string(),
            delta: privagg_budget::Amount::from_ratio(
                prepared.loss.delta(),
                privagg_budget::Rounding::Up,
            )?
            .to_string(),
            split: prepared.split(),
            columns: columns(&prepared),
            half_widths,
            outputs,
            units_for_even_odds: prepared.selector.as_ref().map(|s| s.units_for_even_odds()),
        })
    }

    /// Runs a bounded plan over private data. Errors name the stage only:
    /// DataFusion's messages can quote data values.
    pub(crate) async fn run(
        &self,
        plan: datafusion::logical_expr::LogicalPlan,
    ) -> Result<Vec<datafusion::arrow::array::RecordBatch>> {
        self.session
            .execute_logical_plan(plan)
            .await
            .map_err(|_| SqlError::Execution("planning the bounded aggregation failed".into()))?
            .collect()
            .await
            .map_err(|_| {
                SqlError::Execution(
                    "reading the private data failed (check that the files match the catalog)"
                        .into(),
                )
            })
    }

    /// Plans a request. Its `SET` statements are returned as a pending
    /// change of the session defaults (they apply to this request's query
    /// at once): the caller applies them only once the request succeeds, so
    /// `explain` and rejected requests change nothing.
    pub(crate) async fn prepare_request(
        &self,
        sql: &str,
        salt: i64,
        overrides: &OptionValues,
    ) -> Result<(Prepared, String, OptionValues)> {
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
        let merged = sql_options.or(&overrides
            .or(&pending.or(&self.settings.lock().unwrap_or_else(PoisonError::into_inner))));
        let prepared = prepare(
            &self.session,
            &self.catalog,
            &self.views,
            &plain,
            &merged,
            salt,
        )
        .await?;
        Ok((prepared, original, pending))
    }

    /// Makes a successful request's `SET` statements the session defaults.
    pub(crate) fn apply_settings(&self, pending: &OptionValues) {
        let mut settings = self.settings.lock().unwrap_or_else(PoisonError::into_inner);
        *settings = pending.or(&settings);
    }

    pub(crate) fn charge(
        &self,
        request_id: &str,
        analyst: &str,
        text: &str,
        prepared: &[&Prepared],
    ) -> Result<privagg_budget::Receipt> {
        let a = self
            .catalog
            .analyst(analyst)
            .ok_or_else(|| SqlError::UnknownAnalyst(analyst.to_string()))?;
        let mut scopes = vec![a.scope()?];
        let mut cost: Option<PrivacyCost> = None;
        for p in prepared {
            for t in &p.analysis.private_tables {
                if let Some(cfg) = self.catalog.table(t)
                    && let Some(scope) = cfg.scope()?
                    && !scopes.iter().any(|(s, _)| *s == scope.0)
                {
                    scopes.push(scope);
                }
            }
            let c = PrivacyCost::from_loss(&p.loss)?;
            cost = Some(match cost {
                Some(total) => total.plus(&c)?,
                None => c,
            });
        }
        let cost = cost.ok_or_else(|| rejected("the request has no query"))?;
        let request = ChargeRequest {
            request_id: request_id.to_string(),
            analyst: analyst.to_string(),
            request_text: text.to_string(),
            cost,
            scopes,
        };
        Ok(self.ledger.charge(&request)?)
    }

    pub(crate) fn audit_rejection(
        &self,
        request_id: &str,
        analyst: &str,
        sql: &str,
        error: &SqlError,
    ) -> Result<()> {
        self.ledger.record_rejection(&Rejection {
            request_id: request_id.to_string(),
            analyst: analyst.to_string(),
            request_text: sql.to_string(),
            reason: error.to_string(),
        })?;
        Ok(())
    }
}

pub(crate) fn columns(prepared: &Prepared) -> Vec<ColumnNoise> {
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
impl PrivateContext {
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
        let (prepared, _, _) = self
            .prepare_request(sql, salt, &OptionValues::default())
            .await?;
        let exact = self.run(prepared.bounded.clone()).await?;
        let mut trees = Vec::new();
        for (_, plan) in &prepared.percentiles {
            trees.push(self.run(plan.clone()).await?);
        }
        Ok((prepared, exact, trees))
    }
}
