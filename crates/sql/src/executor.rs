//! The executor seam: where a bounded plan runs. The analysis, calibration
//! and release never see how; the local DataFusion session is the default,
//! and a distributed executor (a Ballista cluster) implements the same trait
//! (plans serialise with `crate::proto`).

use datafusion::arrow::array::RecordBatch;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;

/// A failure of the executor itself (a cluster that did not answer in time,
/// or went away) whose message names no data, so the engine shows it to the
/// analyst instead of its generic "reading the private data failed". An
/// executor returns it as `DataFusionError::External(Box::new(..))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorFailure(pub String);

impl std::fmt::Display for ExecutorFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExecutorFailure {}

impl ExecutorFailure {
    /// The failure inside `error`, if it is one (through DataFusion's
    /// context and sharing wrappers only; anything else may quote data).
    pub fn find(error: &datafusion::error::DataFusionError) -> Option<&Self> {
        use datafusion::error::DataFusionError as E;
        match error {
            E::External(inner) => inner.downcast_ref::<Self>(),
            E::Context(_, inner) => Self::find(inner),
            E::Shared(inner) => Self::find(inner),
            _ => None,
        }
    }
}

/// Runs bounded plans (the exact per-group aggregation and the percentile
/// leaf histograms) over the registered tables.
#[async_trait::async_trait]
pub trait Executor: Send + Sync + std::fmt::Debug {
    /// Runs `plan` to completion. The error is never shown to the analyst
    /// (it could quote data); the caller names the failed stage instead.
    async fn execute(&self, plan: LogicalPlan) -> datafusion::error::Result<Vec<RecordBatch>>;
}

/// The default executor: the engine's own DataFusion session, in process.
#[derive(Clone)]
pub struct LocalExecutor {
    session: SessionContext,
}

impl LocalExecutor {
    /// An executor over a session whose tables and privagg functions are registered.
    pub fn new(session: SessionContext) -> Self {
        Self { session }
    }
}

impl std::fmt::Debug for LocalExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalExecutor").finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Executor for LocalExecutor {
    async fn execute(&self, plan: LogicalPlan) -> datafusion::error::Result<Vec<RecordBatch>> {
        self.session
            .execute_logical_plan(plan)
            .await?
            .collect()
            .await
    }
}
