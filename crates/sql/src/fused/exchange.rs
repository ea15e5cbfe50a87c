//! The fused operator's exchange inside one process: instead of a hash
//! repartition by unit below it (a hash and a copy of every column of every
//! row), every input partition buckets its rows by a hash of the unit, and
//! output partition `p` then bounds the buckets `b ≡ p (mod outputs)` of all
//! of them — every row of a unit lands in one bucket, so each unit is
//! bounded once, with all its rows (the radix-partitioned aggregation of
//! DuckDB and Umbra). A cluster cannot share memory between tasks, so there
//! the operator's input is hash-partitioned by the unit instead.

use std::sync::{Arc, Mutex};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::{DataFusionError, Result, exec_datafusion_err, resources_datafusion_err};
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::physical_plan::aggregates::group_values::new_group_values;
use datafusion::physical_plan::aggregates::order::GroupOrdering;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt};

use super::Partial;
use super::bound::{Bounder, Merged, Scratch};
use super::spill::Piece;
use super::state::{Aggregation, Parts, key_schema, row_bytes};

/// The operator's parameters.
#[derive(Clone)]
pub(super) struct Parameters {
    pub salt: i64,
    pub k: usize,
    pub partials: Vec<Partial>,
    pub schema: SchemaRef,
}

/// Reads input partition `partition` into buckets, reserving their memory.
pub(super) async fn gather(
    input: Arc<dyn ExecutionPlan>,
    partition: usize,
    partials: Vec<Partial>,
    context: Arc<TaskContext>,
) -> Result<(Parts, MemoryReservation)> {
    let input_schema = input.schema();
    let keys = new_group_values(
        key_schema(&input_schema, partials.len())?,
        &GroupOrdering::None,
    )?;
    let mut state = Aggregation::new(&partials, &input_schema, keys);
    let mut stream = input.execute(partition, Arc::clone(&context))?;
    let reservation = MemoryConsumer::new(format!("BoundByUnitExec[{partition}]"))
        .with_can_spill(true)
        .register(context.memory_pool());
    let runtime = context.runtime_env();
    let disk = &runtime.disk_manager;
    let per_row = row_bytes(partials.iter().filter(|p| !p.is_row_count).count());
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let bytes = batch.num_rows() * per_row;
        if reservation.try_grow(bytes).is_err() {
            // The pool is full: the buckets go to disk, and the second
            // phase reads them back one at a time.
            state.spill(disk)?;
            reservation.free();
            reservation.try_grow(bytes)?;
        }
        state.add(&batch)?;
    }
    if state.has_spilled() {
        // All of it on disk, so the second phase holds one bucket at a
        // time, not this remainder besides.
        state.spill(disk)?;
        reservation.free();
    }
    Ok((state.into_parts()?, reservation))
}

/// The output partitions' batches, computed together once every input
/// partition is read.
struct Gathered {
    /// Per output partition: its batches, taken by the partition when it
    /// runs.
    outputs: Vec<Mutex<Vec<RecordBatch>>>,
    _reservations: Vec<MemoryReservation>,
}

/// Bounds the buckets of one output partition, reading spilled rows back
/// one bucket at a time within `reservation`.
///
/// # Errors
/// When one bucket's spilled rows do not fit the memory pool, I/O errors,
/// and the errors of [`Bounder::bucket`].
pub(super) fn bound_all(
    bounder: &Bounder,
    maps: &[Vec<u32>],
    work: Vec<(usize, Vec<Piece>)>,
    reservation: &MemoryReservation,
) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    let mut scratch = Scratch::default();
    for (index, pieces) in work {
        let bytes = pieces.iter().map(Piece::spilled_bytes).sum::<usize>();
        // The message names no size: a bucket's size is a fact about the data.
        reservation.try_grow(bytes).map_err(|_| {
            resources_datafusion_err!(
                "BoundByUnitExec: one spilled bucket does not fit the memory limit; raise it"
            )
        })?;
        let pieces = pieces
            .into_iter()
            .zip(maps.iter().map(Vec::as_slice))
            .map(|(p, map)| Ok((p.load()?, map)))
            .collect::<Result<_>>()?;
        out.extend(bounder.bucket(index, pieces, &mut scratch)?);
        reservation.free();
    }
    Ok(out)
}

/// The memory the second phase of output partition `partition` reserves.
pub(super) fn bounding_reservation(context: &TaskContext, partition: usize) -> MemoryReservation {
    MemoryConsumer::new(format!("BoundByUnitExec[{partition}] bounding"))
        .register(context.memory_pool())
}

type Gathering =
    Shared<BoxFuture<'static, std::result::Result<Arc<Gathered>, Arc<DataFusionError>>>>;

/// One execution's exchange: the shared reading of all input partitions and
/// which output partitions have started.
pub(super) struct Exchange {
    gathering: Gathering,
    started: Vec<bool>,
}

impl Exchange {
    fn new(
        input: &Arc<dyn ExecutionPlan>,
        parameters: &Parameters,
        outputs: usize,
        context: &Arc<TaskContext>,
    ) -> Self {
        let (input, parameters, context) =
            (Arc::clone(input), parameters.clone(), Arc::clone(context));
        let gathering = async move {
            let inputs = input.output_partitioning().partition_count();
            let tasks: Vec<_> = (0..inputs)
                .map(|i| {
                    let (input, partials, context) = (
                        Arc::clone(&input),
                        parameters.partials.clone(),
                        Arc::clone(&context),
                    );
                    SpawnedTask::spawn(gather(input, i, partials, context))
                })
                .collect();
            let mut parts = Vec::with_capacity(inputs);
            let mut reservations = Vec::with_capacity(inputs);
            for task in tasks {
                let (p, r) = task
                    .join()
                    .await
                    .map_err(|e| exec_datafusion_err!("BoundByUnitExec: {e}"))??;
                parts.push(p);
                reservations.push(r);
            }
            let (bounder, Merged { buckets, maps }) = Bounder::new(
                parameters.salt,
                parameters.k,
                parameters.partials,
                &input.schema(),
                parameters.schema,
                parts,
            )?;
            let mut work: Vec<Vec<_>> = (0..outputs).map(|_| Vec::new()).collect();
            for (index, pieces) in buckets.into_iter().enumerate() {
                work[index % outputs].push((index, pieces));
            }
            // Bounded here, one task per output partition, rather than when
            // each output partition is polled: a consumer that polls the
            // partitions one after another still gets them in parallel.
            let (bounder, maps) = (Arc::new(bounder), Arc::new(maps));
            let tasks: Vec<_> = work
                .into_iter()
                .enumerate()
                .map(|(p, w)| {
                    let (bounder, maps) = (Arc::clone(&bounder), Arc::clone(&maps));
                    let reservation = bounding_reservation(&context, p);
                    SpawnedTask::spawn(async move { bound_all(&bounder, &maps, w, &reservation) })
                })
                .collect();
            let mut outputs = Vec::with_capacity(tasks.len());
            for task in tasks {
                let batches = task
                    .join()
                    .await
                    .map_err(|e| exec_datafusion_err!("BoundByUnitExec: {e}"))??;
                outputs.push(Mutex::new(batches));
            }
            Ok(Arc::new(Gathered {
                outputs,
                _reservations: reservations,
            }))
        };
        let gathering: BoxFuture<'static, Result<Arc<Gathered>>> = Box::pin(gathering);
        Self {
            gathering: gathering.map(|r| r.map_err(Arc::new)).boxed().shared(),
            started: vec![false; outputs],
        }
    }
}

/// The exchange an operator holds: the current execution's, replaced when
/// an output partition is executed a second time (a new execution).
#[derive(Default)]
pub(super) struct Slot(Mutex<Option<Exchange>>);

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("Slot")
    }
}

impl Slot {
    /// Output partition `partition`'s batches: after every input partition
    /// is read (by whichever output partition is polled first), the kept
    /// entries of its buckets.
    pub(super) async fn run(
        &self,
        partition: usize,
        input: &Arc<dyn ExecutionPlan>,
        parameters: &Parameters,
        outputs: usize,
        context: &Arc<TaskContext>,
    ) -> Result<Vec<RecordBatch>> {
        let gathering = {
            let mut slot = self
                .0
                .lock()
                .map_err(|_| exec_datafusion_err!("BoundByUnitExec: poisoned"))?;
            let exchange = match slot.as_mut() {
                Some(e) if !e.started.get(partition).copied().unwrap_or(true) => e,
                _ => slot.insert(Exchange::new(input, parameters, outputs, context)),
            };
            if let Some(s) = exchange.started.get_mut(partition) {
                *s = true;
            }
            exchange.gathering.clone()
        };
        let gathered = gathering.await.map_err(DataFusionError::Shared)?;
        let batches = std::mem::take(
            &mut *gathered
                .outputs
                .get(partition)
                .ok_or_else(|| exec_datafusion_err!("BoundByUnitExec: no partition {partition}"))?
                .lock()
                .map_err(|_| exec_datafusion_err!("BoundByUnitExec: poisoned"))?,
        );
        Ok(batches)
    }
}
