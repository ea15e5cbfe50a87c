//! The fused operator's state: rows radix-partitioned by a hash of their
//! unit into buckets small enough for one bucket's per-(unit, group) table to
//! stay in cache, then, per bucket, the per-(unit, group) sums and the L0
//! choice of each unit's groups.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, Decimal128Builder, Int64Array, Int64Builder,
    RecordBatch,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Int64Type, SchemaRef};
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use datafusion::common::Result;
use datafusion::logical_expr::EmitTo;
use datafusion::physical_plan::aggregates::group_values::GroupValues;

use super::Partial;
use crate::udf::{LATTICE_TYPE, group_hash, unit_salt};

/// Buckets: 2^BITS, and one more for the NULL unit.
const BITS: u32 = 7;
const NULL_BUCKET: usize = 1 << BITS;
/// Rows of a bucket's largest chunks (chunks are never moved once filled).
const CHUNK: usize = 4096;

type Unit = Option<i64>;
type Table = HashMap<(i64, u32), usize, foldhash::fast::FixedState>;

/// Up to [`CHUNK`] rows of one bucket, column by column.
struct Chunk {
    units: Vec<i64>,
    groups: Vec<u32>,
    /// The stored partials' values, `stored` per row.
    values: Vec<i128>,
}

/// The rows of one bucket.
#[derive(Default)]
struct Bucket {
    chunks: Vec<Chunk>,
}

impl Bucket {
    fn push(&mut self, unit: i64, group: u32, values: impl Iterator<Item = i128>, stored: usize) {
        let last = self
            .chunks
            .last()
            .map(|c| (c.units.len(), c.units.capacity()));
        if last.is_none_or(|(len, capacity)| len == capacity) {
            // Chunks grow from 256 rows to CHUNK: a small table allocates
            // little.
            let rows = last.map_or(256, |(len, _)| (2 * len).min(CHUNK));
            self.chunks.push(Chunk {
                units: Vec::with_capacity(rows),
                groups: Vec::with_capacity(rows),
                values: Vec::with_capacity(rows * stored),
            });
        }
        if let Some(c) = self.chunks.last_mut() {
            c.units.push(unit);
            c.groups.push(group);
            c.values.extend(values);
        }
    }
}

/// The bucket of a unit: the top bits of a Fibonacci hash (consecutive ids
/// spread evenly).
fn bucket_of(unit: i64) -> usize {
    ((unit as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - BITS)) as usize
}

/// One partition's state.
pub(super) struct Aggregation {
    salt: i64,
    k: usize,
    partials: Vec<Partial>,
    unit_type: DataType,
    key_types: Vec<DataType>,
    keys: Box<dyn GroupValues>,
    buckets: Vec<Bucket>,
    scratch: Vec<usize>,
}

/// Bytes one input row takes in the buckets, with `stored` partials (those
/// that are not the row count).
pub(super) fn row_bytes(stored: usize) -> usize {
    8 + 4 + 16 * stored
}

impl Aggregation {
    pub(super) fn new(
        salt: i64,
        k: usize,
        partials: Vec<Partial>,
        input: &SchemaRef,
        keys: Box<dyn GroupValues>,
    ) -> Self {
        let n_keys = input.fields().len() - 1 - partials.len();
        Self {
            salt,
            k,
            unit_type: input.field(0).data_type().clone(),
            key_types: (1..=n_keys)
                .map(|i| input.field(i).data_type().clone())
                .collect(),
            partials,
            keys,
            buckets: (0..=NULL_BUCKET).map(|_| Bucket::default()).collect(),
            scratch: Vec::new(),
        }
    }

    /// Adds a batch of input rows (unit, keys, partials).
    pub(super) fn add(&mut self, batch: &RecordBatch) -> Result<()> {
        let n_keys = self.key_types.len();
        let units = cast(batch.column(0), &DataType::Int64)?;
        let units = units.as_primitive::<Int64Type>();
        self.keys
            .intern(&batch.columns()[1..=n_keys], &mut self.scratch)?;
        let values: Vec<Vec<i128>> = self
            .partials
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.is_row_count)
            .map(|(j, _)| values(batch.column(1 + n_keys + j)))
            .collect::<Result<_>>()?;
        let stored = values.len();
        for row in 0..batch.num_rows() {
            let (bucket, unit) = if units.is_valid(row) {
                let unit = units.value(row);
                (bucket_of(unit), unit)
            } else {
                (NULL_BUCKET, 0)
            };
            self.buckets[bucket].push(
                unit,
                self.scratch[row] as u32,
                values.iter().map(|v| v[row]),
                stored,
            );
        }
        Ok(())
    }

    /// The kept (unit, group) entries as batches of `schema`.
    pub(super) fn finish(mut self, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
        let key_arrays = self.keys.emit(EmitTo::All)?;
        let key_arrays: Vec<ArrayRef> = key_arrays
            .iter()
            .zip(&self.key_types)
            .map(|(a, t)| cast(a, t))
            .collect::<std::result::Result<_, _>>()?;
        let fields = self
            .key_types
            .iter()
            .map(|t| SortField::new(t.clone()))
            .collect();
        let key_rows = RowConverter::new(fields)?.convert_columns(&key_arrays)?;
        let unit_rows = RowConverter::new(vec![SortField::new(self.unit_type.clone())])?;
        let buckets = std::mem::take(&mut self.buckets);
        let mut out = Vec::new();
        for (i, bucket) in buckets.into_iter().enumerate() {
            if !bucket.chunks.is_empty() {
                let null = i == NULL_BUCKET;
                out.push(self.bucket(bucket, null, &key_rows, &unit_rows, schema)?);
            }
        }
        Ok(out)
    }

    /// One bucket's kept entries (`null`: the bucket of the NULL unit).
    fn bucket(
        &self,
        bucket: Bucket,
        null: bool,
        key_rows: &Rows,
        unit_rows: &RowConverter,
        schema: &SchemaRef,
    ) -> Result<RecordBatch> {
        let stored = self.partials.iter().filter(|p| !p.is_row_count).count();
        // Per (unit, group): row count and stored partials' sums.
        let mut table = Table::default();
        let mut entries: Vec<(Unit, u32)> = Vec::new();
        let mut counts: Vec<i64> = Vec::new();
        let mut sums: Vec<i128> = Vec::new();
        for chunk in &bucket.chunks {
            for (row, (&unit, &group)) in chunk.units.iter().zip(&chunk.groups).enumerate() {
                let next = entries.len();
                let e = *table.entry((unit, group)).or_insert(next);
                if e == next {
                    entries.push(((!null).then_some(unit), group));
                    counts.push(0);
                    sums.extend(std::iter::repeat_n(0, stored));
                }
                counts[e] += 1;
                for (dst, v) in sums[e * stored..(e + 1) * stored]
                    .iter_mut()
                    .zip(&chunk.values[row * stored..(row + 1) * stored])
                {
                    *dst = dst.saturating_add(*v);
                }
            }
        }
        drop(table);
        // Per unit: its entries, all of them when at most k, else the k
        // first in (salted hash, key bytes) order.
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_unstable_by_key(|&e| entries[e].0);
        let mut kept: Vec<usize> = Vec::with_capacity(entries.len());
        let mut crowded: Vec<&[usize]> = Vec::new();
        for run in order.chunk_by(|a, b| entries[*a].0 == entries[*b].0) {
            if run.len() <= self.k {
                kept.extend_from_slice(run);
            } else {
                crowded.push(run);
            }
        }
        if !crowded.is_empty() {
            let units = Int64Array::from_iter(crowded.iter().map(|run| entries[run[0]].0));
            let units = cast(&units, &self.unit_type)?;
            let rows = unit_rows.convert_columns(&[units])?;
            for (i, run) in crowded.iter().enumerate() {
                let salt = unit_salt(self.salt, rows.row(i).as_ref());
                let mut ranked: Vec<(u64, &[u8], usize)> = run
                    .iter()
                    .map(|&e| {
                        let key = key_rows.row(entries[e].1 as usize).data();
                        (group_hash(salt, key), key, e)
                    })
                    .collect();
                ranked.sort_unstable();
                kept.extend(ranked.iter().take(self.k).map(|r| r.2));
            }
        }
        // The output columns.
        let mut keys = BinaryBuilder::with_capacity(kept.len(), kept.len() * 16);
        let mut ns = Int64Builder::with_capacity(kept.len());
        for &e in &kept {
            keys.append_value(key_rows.row(entries[e].1 as usize).as_ref());
            ns.append_value(counts[e]);
        }
        let mut columns: Vec<ArrayRef> = vec![Arc::new(keys.finish()), Arc::new(ns.finish())];
        let mut j = 0;
        for partial in &self.partials {
            if partial.is_row_count {
                columns.push(Arc::new(Int64Array::from_iter_values(
                    kept.iter().map(|&e| counts[e]),
                )));
                continue;
            }
            let at = j;
            j += 1;
            let column = kept.iter().map(|&e| sums[e * stored + at]);
            columns.push(if partial.is_count {
                let column = column.map(|v| i64::try_from(v).ok());
                Arc::new(Int64Array::from_iter(column))
            } else {
                let mut b = Decimal128Builder::with_capacity(kept.len());
                b.extend(column.map(Some));
                Arc::new(b.finish().with_data_type(LATTICE_TYPE))
            });
        }
        Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
    }
}

/// A partial's per-row values as `i128` (NULL as 0). Counts (`Int64`)
/// convert to the lattice type exactly, so one conversion serves both kinds.
fn values(column: &ArrayRef) -> Result<Vec<i128>> {
    let c = cast(column, &LATTICE_TYPE)?;
    let c = c.as_primitive::<Decimal128Type>();
    Ok((0..c.len())
        .map(|i| if c.is_valid(i) { c.value(i) } else { 0 })
        .collect())
}
