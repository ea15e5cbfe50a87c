//! `Engine`: what every caller shares — the catalog, the registered tables
//! (private ones as consent-filtered views), the ledger and the executor.
//! It holds no per-caller settings: those live in a [`crate::Session`]. It
//! never hands out its DataFusion session.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use privagg_budget::{ChargeRequest, Ledger, PrivacyCost, Receipt, Rejection};

use crate::catalog::{Catalog, TableConfig};
use crate::error::{Result, SqlError, rejected};
use crate::executor::{Executor, ExecutorFailure, LocalExecutor};
use crate::ledger::{Access, charge_scopes, open_ledger};
use crate::options::OptionValues;
use crate::prepare::Prepared;
use crate::register::{TableSource, Views, register_catalog, register_private, register_public};

/// The private query engine, shared by every session (wrap it in an `Arc`).
pub struct Engine {
    pub(crate) session: SessionContext,
    pub(crate) catalog: Catalog,
    pub(crate) views: Views,
    pub(crate) ledger: Arc<dyn Ledger>,
    pub(crate) executor: Arc<dyn Executor>,
    /// Defaults set through the API or the command line (below every
    /// session's `SET` and every query's `OPTIONS`).
    pub(crate) defaults: OptionValues,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("catalog", &self.catalog.file)
            .finish_non_exhaustive()
    }
}

/// The internal session: identifiers keep their case (CSV headers such as
/// `UserId` are used as written), privagg's functions are registered, and
/// the memory pool holds `memory_limit_mb` MiB when given.
fn new_session(memory_limit_mb: Option<u64>) -> Result<SessionContext> {
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
    // The fused bounding operator (crate::fused) is planned by its own
    // extension planner.
    let mut runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new();
    if let Some(mb) = memory_limit_mb {
        let bytes = usize::try_from(mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        runtime = runtime.with_memory_limit(bytes, 1.0);
    }
    let runtime = runtime.build_arc().map_err(|e| rejected(e.to_string()))?;
    let state = datafusion::execution::SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .with_query_planner(std::sync::Arc::new(
            crate::fused::FusedQueryPlanner::default(),
        ))
        .build();
    let mut session = SessionContext::new_with_state(state);
    let registry: &mut dyn FunctionRegistry = &mut session;
    crate::udf::register_all(registry).map_err(|e| rejected(e.to_string()))?;
    Ok(session)
}

impl Engine {
    /// Loads a catalog file, opens (or creates) its SQLite ledger and registers its tables.
    /// A ledger file without write permission is opened read-only: queries are
    /// then refused with [`privagg_budget::BudgetError::ReadOnly`], nothing charged.
    ///
    /// # Errors
    /// [`SqlError::Catalog`] for catalog or data problems, [`SqlError::Budget`] for ledger problems.
    pub async fn open(catalog_path: impl AsRef<Path>) -> Result<Self> {
        Self::from_catalog(Catalog::load(catalog_path)?).await
    }

    /// [`Engine::open`] over a catalog already loaded (or built, as a
    /// catalog-less Python session's one-analyst catalog).
    ///
    /// # Errors
    /// As [`Engine::open`].
    pub async fn from_catalog(catalog: Catalog) -> Result<Self> {
        let ledger = open_ledger(&catalog, Access::Charge)?
            .ok_or_else(|| SqlError::Execution("the ledger could not be opened".into()))?;
        Self::with_ledger(catalog, Arc::new(ledger)).await
    }

    /// An engine over a catalog and any ledger, executing locally.
    ///
    /// # Errors
    /// [`SqlError::Catalog`] for data problems.
    pub async fn with_ledger(catalog: Catalog, ledger: Arc<dyn Ledger>) -> Result<Self> {
        let session = new_session(catalog.engine.memory_limit_mb)?;
        let views = register_catalog(&session, &catalog).await?;
        Ok(Self {
            executor: Arc::new(LocalExecutor::new(session.clone())),
            session,
            catalog,
            views,
            ledger,
            defaults: OptionValues::default(),
        })
    }

    /// An executor over this engine's own DataFusion session (its tables and
    /// functions), whatever executor the engine uses: what a distributed
    /// executor's results are compared with.
    pub fn local_executor(&self) -> LocalExecutor {
        LocalExecutor::new(self.session.clone())
    }

    /// Runs bounded plans with another executor (the analysis, calibration,
    /// charge and release stay here).
    pub fn with_executor(mut self, executor: Arc<dyn Executor>) -> Self {
        self.executor = executor;
        self
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

    /// Sets an engine-wide default (API / command-line level; a session's
    /// `SET` and a query's `OPTIONS` override it).
    ///
    /// # Errors
    /// [`SqlError::Rejected`] for unknown options or bad values.
    pub fn set_option(&mut self, name: &str, value: &str) -> Result<()> {
        self.defaults.set(name, value)
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The tables an analyst can name, with their columns as queries see
    /// them: public metadata (names and types), never data. Private tables
    /// first, each flagged `true`.
    pub fn table_schemas(&self) -> Vec<(String, bool, datafusion::arrow::datatypes::SchemaRef)> {
        let private = self.views.private.iter().map(|v| (v, true));
        let public = self.views.public.iter().map(|v| (v, false));
        private
            .chain(public)
            .map(|((name, plan), is_private)| {
                (
                    name.clone(),
                    is_private,
                    Arc::new(plan.schema().as_arrow().clone()),
                )
            })
            .collect()
    }

    /// The ledger.
    pub fn ledger(&self) -> &Arc<dyn Ledger> {
        &self.ledger
    }

    /// Runs a bounded plan over private data. Errors name the stage only:
    /// DataFusion's messages can quote data values.
    pub(crate) async fn run(&self, plan: LogicalPlan) -> Result<Vec<RecordBatch>> {
        self.executor.execute(plan).await.map_err(|e| {
            SqlError::Execution(match ExecutorFailure::find(&e) {
                Some(failure) => failure.to_string(),
                None => "reading the private data failed (check that the files match the catalog)"
                    .into(),
            })
        })
    }

    /// Charges the total cost of `prepared` to the analyst and every table
    /// with a cap, durably, all-or-nothing.
    pub(crate) fn charge(
        &self,
        request_id: &str,
        analyst: &str,
        text: &str,
        prepared: &[&Prepared],
    ) -> Result<Receipt> {
        let tables: Vec<String> = prepared
            .iter()
            .flat_map(|p| p.analysis.private_tables.iter().cloned())
            .collect();
        let scopes = charge_scopes(&self.catalog, analyst, &tables)?;
        let mut cost: Option<PrivacyCost> = None;
        for p in prepared {
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

    /// Audits a refused request.
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
