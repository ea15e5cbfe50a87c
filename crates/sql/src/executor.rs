//! The executor seam: where a bounded plan runs. The analysis, calibration
//! and release never see how; the local DataFusion session is the default,
//! and a distributed executor (a Ballista cluster) implements the same trait
//! (plans serialise with `crate::proto`).

use datafusion::arrow::array::RecordBatch;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;

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
