//! [`BoundByUnitExec`]: the physical operator of [`super::BoundByUnit`].
//! In one process its input partitions are read as they come and exchanged
//! through the operator's buckets ([`super::exchange`]); on a cluster its
//! input is hash-partitioned by the unit (every row of a unit in one
//! partition) and each partition is bounded on its own.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, internal_err};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::expressions::Column;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, ExecutionPlanProperties,
    PlanProperties, SendableRecordBatchStream,
};
use futures::TryStreamExt;

use super::bound::Bounder;
use super::exchange::{Parameters, Slot, bound_all, bounding_reservation, gather};
use super::{Names, Partial};

/// Where the rows of one unit meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exchange {
    /// In this process: the operator reads every input partition and
    /// exchanges rows through its buckets, into this many output partitions.
    Local(usize),
    /// Below the operator: its input is hash-partitioned by the unit (a
    /// cluster's shuffle).
    Shuffled,
}

/// Per (unit, group) aggregation and L0 bounding, one pass over the input.
#[derive(Debug)]
pub struct BoundByUnitExec {
    input: Arc<dyn ExecutionPlan>,
    parameters: Parameters,
    exchange: Exchange,
    slot: Arc<Slot>,
    properties: Arc<PlanProperties>,
}

impl fmt::Debug for Parameters {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "k={}, partials={:?}", self.k, self.partials)
    }
}

impl BoundByUnitExec {
    /// The operator over `input` (unit, keys, partials), with output `schema`.
    pub fn new(
        input: Arc<dyn ExecutionPlan>,
        salt: i64,
        k: usize,
        partials: Vec<Partial>,
        schema: SchemaRef,
        exchange: Exchange,
    ) -> Self {
        let partitions = match exchange {
            Exchange::Local(n) => n.max(1),
            Exchange::Shuffled => input.output_partitioning().partition_count(),
        };
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self {
            input,
            parameters: Parameters {
                salt,
                k,
                partials,
                schema,
            },
            exchange,
            slot: Arc::default(),
            properties,
        }
    }

    /// Salt, k, key count, output names, partials and exchange (for the
    /// codec).
    pub(super) fn parameters(&self) -> (i64, usize, usize, Names, &[Partial], Exchange) {
        let p = &self.parameters;
        let n_keys = self.input.schema().fields().len() - 1 - p.partials.len();
        let names = Names {
            key_bytes: p.schema.field(0).name().clone(),
            rows: p.schema.field(1).name().clone(),
        };
        (p.salt, p.k, n_keys, names, &p.partials, self.exchange)
    }
}

impl DisplayAs for BoundByUnitExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let exchange = match self.exchange {
            Exchange::Local(_) => "local",
            Exchange::Shuffled => "shuffled",
        };
        write!(
            f,
            "BoundByUnitExec: k={}, partials={}, exchange={exchange}",
            self.parameters.k,
            self.parameters.partials.len()
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
        match self.exchange {
            Exchange::Local(_) => vec![Distribution::UnspecifiedDistribution],
            Exchange::Shuffled => {
                let unit = self.input.schema().field(0).name().clone();
                let unit: Arc<dyn PhysicalExpr> = Arc::new(Column::new(&unit, 0));
                vec![Distribution::KeyPartitioned(vec![unit])]
            }
        }
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
        let p = self.parameters.clone();
        Ok(Arc::new(Self::new(
            input,
            p.salt,
            p.k,
            p.partials,
            p.schema,
            self.exchange,
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let (input, parameters) = (Arc::clone(&self.input), self.parameters.clone());
        let (slot, exchange) = (Arc::clone(&self.slot), self.exchange);
        let batches = async move {
            match exchange {
                Exchange::Local(outputs) => {
                    slot.run(partition, &input, &parameters, outputs.max(1), &context)
                        .await
                }
                Exchange::Shuffled => {
                    let partials = parameters.partials.clone();
                    let (parts, reservation) = gather(
                        Arc::clone(&input),
                        partition,
                        partials,
                        Arc::clone(&context),
                    )
                    .await?;
                    let p = parameters;
                    let schema = input.schema();
                    let (bounder, merged) =
                        Bounder::new(p.salt, p.k, p.partials, &schema, p.schema, vec![parts])?;
                    let work = merged.buckets.into_iter().enumerate().collect();
                    let bounding = bounding_reservation(&context, partition);
                    let out = bound_all(&bounder, &merged.maps, work, &bounding)?;
                    drop(reservation);
                    Ok(out)
                }
            }
        };
        let out = futures::stream::once(batches)
            .map_ok(|batches| futures::stream::iter(batches.into_iter().map(Ok)))
            .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.parameters.schema),
            out,
        )))
    }
}
