//! The planner that turns [`super::BoundByUnit`] into [`BoundByUnitExec`]:
//! registered in the local engine's session (and in any session that should
//! run the fused operator).

use std::sync::Arc;

use datafusion::catalog::Session;
use datafusion::common::Result;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{LogicalPlan, UserDefinedLogicalNode};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};

use super::BoundByUnit;
use super::exec::{BoundByUnitExec, Exchange};

/// Plans [`BoundByUnit`] nodes: in one process (the default) or for a
/// cluster (input hash-partitioned by the unit, see [`Exchange`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct FusedPlanner {
    shuffled: bool,
}

impl FusedPlanner {
    /// For a cluster: the operator's input is shuffled by the unit.
    pub fn shuffled() -> Self {
        Self { shuffled: true }
    }
}

#[async_trait::async_trait]
impl ExtensionPlanner for FusedPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        session_state: &dyn Session,
        _planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(bound) = node.as_any().downcast_ref::<BoundByUnit>() else {
            return Ok(None);
        };
        let [input] = physical_inputs else {
            return datafusion::common::plan_err!("BoundByUnit has one input");
        };
        Ok(Some(Arc::new(BoundByUnitExec::new(
            Arc::clone(input),
            bound.salt,
            bound.k,
            bound.partials.clone(),
            Arc::new(bound.schema.as_arrow().clone()),
            if self.shuffled {
                Exchange::Shuffled
            } else {
                Exchange::Local(session_state.config().target_partitions())
            },
        ))))
    }
}

/// DataFusion's physical planner with [`FusedPlanner`].
#[derive(Debug, Default)]
pub struct FusedQueryPlanner {
    planner: FusedPlanner,
}

impl FusedQueryPlanner {
    /// For a cluster's scheduler: see [`FusedPlanner::shuffled`].
    pub fn shuffled() -> Self {
        Self {
            planner: FusedPlanner::shuffled(),
        }
    }
}

#[async_trait::async_trait]
impl QueryPlanner for FusedQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(self.planner)])
            .create_physical_plan(logical_plan, session_state)
            .await
    }
}
