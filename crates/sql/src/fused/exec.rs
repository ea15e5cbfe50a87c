//! [`BoundByUnitExec`]: the physical operator of [`super::BoundByUnit`].
//! Its input is hash-partitioned by the unit (every row of a unit in one
//! partition); each partition is bounded on its own, on its own core.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, internal_err};
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::MemoryConsumer;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::aggregates::group_values::new_group_values;
use datafusion::physical_plan::aggregates::order::GroupOrdering;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::expressions::Column;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, ExecutionPlanProperties,
    PlanProperties, SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt};

use super::state::{Aggregation, row_bytes};
use super::{Names, Partial};

/// Per (unit, group) aggregation and L0 bounding, one pass per partition.
#[derive(Debug)]
pub struct BoundByUnitExec {
    input: Arc<dyn ExecutionPlan>,
    salt: i64,
    k: usize,
    partials: Vec<Partial>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl BoundByUnitExec {
    /// The operator over `input` (unit, keys, partials), with output `schema`.
    pub fn new(
        input: Arc<dyn ExecutionPlan>,
        salt: i64,
        k: usize,
        partials: Vec<Partial>,
        schema: SchemaRef,
    ) -> Self {
        let partitions = input.output_partitioning().partition_count();
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self {
            input,
            salt,
            k,
            partials,
            schema,
            properties,
        }
    }
}

impl BoundByUnitExec {
    /// Salt, k, key count, output names and partials (for the codec).
    pub(super) fn parameters(&self) -> (i64, usize, usize, Names, &[Partial]) {
        let n_keys = self.input.schema().fields().len() - 1 - self.partials.len();
        let names = Names {
            key_bytes: self.schema.field(0).name().clone(),
            rows: self.schema.field(1).name().clone(),
        };
        (self.salt, self.k, n_keys, names, &self.partials)
    }
}

impl DisplayAs for BoundByUnitExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "BoundByUnitExec: k={}, partials={}",
            self.k,
            self.partials.len()
        )
    }
}

impl ExecutionPlan for BoundByUnitExec {
    fn name(&self) -> &str {
        "BoundByUnitExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        let unit = self.input.schema().field(0).name().clone();
        let unit: Arc<dyn PhysicalExpr> = Arc::new(Column::new(&unit, 0));
        vec![Distribution::KeyPartitioned(vec![unit])]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (Some(input), true) = (children.pop(), children.is_empty()) else {
            return internal_err!("BoundByUnitExec has one input");
        };
        Ok(Arc::new(Self::new(
            input,
            self.salt,
            self.k,
            self.partials.clone(),
            Arc::clone(&self.schema),
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input_schema = self.input.schema();
        let n_keys = input_schema.fields().len() - 1 - self.partials.len();
        let key_schema = Arc::new(input_schema.project(&(1..=n_keys).collect::<Vec<_>>())?);
        let keys = new_group_values(key_schema, &GroupOrdering::None)?;
        let mut state = Aggregation::new(
            self.salt,
            self.k,
            self.partials.clone(),
            &input_schema,
            keys,
        );
        let mut input = self.input.execute(partition, Arc::clone(&context))?;
        let reservation = MemoryConsumer::new(format!("BoundByUnitExec[{partition}]"))
            .register(context.memory_pool());
        let per_row = row_bytes(self.partials.iter().filter(|p| !p.is_row_count).count());
        let schema = Arc::clone(&self.schema);
        let out = futures::stream::once(async move {
            while let Some(batch) = input.next().await {
                let batch = batch?;
                reservation.try_grow(batch.num_rows() * per_row)?;
                state.add(&batch)?;
            }
            let batches = state.finish(&schema)?;
            drop(reservation);
            Ok::<_, datafusion::error::DataFusionError>(futures::stream::iter(
                batches.into_iter().map(Ok),
            ))
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            out,
        )))
    }
}
