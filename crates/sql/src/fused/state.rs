//! The fused operator's first phase: rows radix-partitioned by a hash of
//! their unit into buckets small enough for one bucket's per-(unit, group)
//! table to stay in cache ([`super::bound`] aggregates them).

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Int64Type, SchemaRef};
use datafusion::common::Result;
use datafusion::execution::disk_manager::DiskManager;
use datafusion::logical_expr::EmitTo;
use datafusion::physical_plan::aggregates::group_values::GroupValues;

use super::Partial;
use super::spill::Spill;
use crate::udf::LATTICE_TYPE;

/// Buckets: 2^BITS, and one more for the NULL unit.
const BITS: u32 = 8;
/// The bucket of the NULL unit.
pub(super) const NULL_BUCKET: usize = 1 << BITS;
/// Buckets in all.
pub(super) const BUCKETS: usize = NULL_BUCKET + 1;
/// `i64`s of a bucket's largest chunks (chunks are never moved once
/// filled): 96 KiB, under glibc's threshold for serving an allocation with
/// its own `mmap` (128 KiB), so chunks come from the allocator's heaps and
/// freeing them does not unmap pages (with 160 KiB chunks, page faults and
/// unmapping showed high in the profile).
const CHUNK: usize = 12 * 1024;
/// A stored value that is in [`Bucket::wide`] (every value that does not
/// fit an `i64`, and `i64::MIN` itself).
pub(super) const WIDE: i64 = i64::MIN;

/// The rows of one bucket, row-major in chunks of `i64`s: per row the unit,
/// the group id, then each stored partial (or [`WIDE`]).
#[derive(Default)]
pub(super) struct Bucket {
    /// The rows.
    pub chunks: Vec<Vec<i64>>,
    /// The values stored as [`WIDE`], in the order they were pushed.
    pub wide: Vec<i128>,
}

/// The bucket of a unit: the top bits of a Fibonacci hash (consecutive ids
/// spread evenly).
fn bucket_of(unit: i64) -> usize {
    ((unit as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - BITS)) as usize
}

/// Bytes one input row takes in the buckets, with `stored` partials (those
/// that are not the row count).
pub(super) fn row_bytes(stored: usize) -> usize {
    8 * (2 + stored)
}

/// One partial's per-row values in a batch, read in place (NULL as 0).
enum Values<'a> {
    Narrow(&'a [i64], Option<&'a NullBuffer>),
    Wide(&'a [i128], Option<&'a NullBuffer>),
}

impl Values<'_> {
    /// Row `row`'s value as stored in a bucket row: the value itself, or
    /// [`WIDE`] and the value for the side list (NULL is 0).
    fn stored(&self, row: usize) -> (i64, Option<i128>) {
        match self {
            Self::Narrow(v, nulls) => {
                let v = if nulls.is_none_or(|n| n.is_valid(row)) {
                    v[row]
                } else {
                    0
                };
                if v == WIDE {
                    (WIDE, Some(i128::from(v)))
                } else {
                    (v, None)
                }
            }
            Self::Wide(v, nulls) => {
                let v = if nulls.is_none_or(|n| n.is_valid(row)) {
                    v[row]
                } else {
                    0
                };
                match i64::try_from(v) {
                    Ok(narrow) if narrow != WIDE => (narrow, None),
                    _ => (WIDE, Some(v)),
                }
            }
        }
    }
}

/// The key columns of an input of `input`'s layout with `partials` partials
/// (after the unit, before the partials).
pub(super) fn key_schema(input: &SchemaRef, partials: usize) -> Result<SchemaRef> {
    let n_keys = input.fields().len() - 1 - partials;
    Ok(std::sync::Arc::new(
        input.project(&(1..=n_keys).collect::<Vec<_>>())?,
    ))
}

/// A partial's column as `Int64` or the lattice type (anything else is cast
/// to the lattice type; counts convert exactly).
fn normalise(column: &ArrayRef) -> Result<ArrayRef> {
    Ok(match column.data_type() {
        DataType::Int64 => std::sync::Arc::clone(column),
        t if *t == LATTICE_TYPE => std::sync::Arc::clone(column),
        _ => cast(column, &LATTICE_TYPE)?,
    })
}

fn values(column: &ArrayRef) -> Values<'_> {
    match column.data_type() {
        DataType::Int64 => {
            let c = column.as_primitive::<Int64Type>();
            Values::Narrow(c.values(), c.nulls())
        }
        _ => {
            let c = column.as_primitive::<Decimal128Type>();
            Values::Wide(c.values(), c.nulls())
        }
    }
}

/// Appends each row (unit, group id, stored partials) to its unit's
/// bucket, through `line` (one row; an array when its width is fixed).
fn append_rows<L: AsRef<[i64]> + AsMut<[i64]>>(
    buckets: &mut [Bucket],
    mut line: L,
    (units, groups): (&datafusion::arrow::array::Int64Array, &[usize]),
    values: &[Values],
) {
    let stride = line.as_ref().len();
    for (row, &group) in groups.iter().enumerate().take(units.len()) {
        let (b, unit) = if units.is_valid(row) {
            let unit = units.value(row);
            (bucket_of(unit), unit)
        } else {
            (NULL_BUCKET, 0)
        };
        let bucket = &mut buckets[b];
        let cells = line.as_mut();
        cells[0] = unit;
        cells[1] = group as i64;
        for (dst, v) in cells[2..].iter_mut().zip(values) {
            let (narrow, wide) = v.stored(row);
            *dst = narrow;
            bucket.wide.extend(wide);
        }
        if bucket
            .chunks
            .last()
            .is_none_or(|c| c.len() + stride > c.capacity())
        {
            // Chunks grow from 256 rows to CHUNK values: a small table
            // allocates little.
            let rows = bucket
                .chunks
                .last()
                .map_or(256, |c| (2 * c.len() / stride).min(CHUNK / stride));
            bucket.chunks.push(Vec::with_capacity(rows * stride));
        }
        if let Some(chunk) = bucket.chunks.last_mut() {
            chunk.extend_from_slice(line.as_ref());
        }
    }
}

/// One input partition's rows, bucketed, with its own group ids.
pub(super) struct Aggregation {
    stored: Vec<usize>,
    n_keys: usize,
    key_types: Vec<DataType>,
    keys: Box<dyn GroupValues>,
    buckets: Vec<Bucket>,
    spills: Vec<Spill>,
    scratch: Vec<usize>,
}

/// What an input partition hands on: its buckets and its groups' keys (the
/// group id is the index into these arrays).
pub(super) struct Parts {
    /// The buckets, [`BUCKETS`] of them.
    pub buckets: Vec<Bucket>,
    /// The key columns of the partition's groups.
    pub keys: Vec<ArrayRef>,
    /// The buckets' rows spilled to disk, oldest first.
    pub spills: Vec<Spill>,
}

impl Aggregation {
    /// The state for input rows of `input`'s layout (unit, keys, partials).
    pub(super) fn new(partials: &[Partial], input: &SchemaRef, keys: Box<dyn GroupValues>) -> Self {
        let n_keys = input.fields().len() - 1 - partials.len();
        Self {
            stored: (0..partials.len())
                .filter(|&j| !partials[j].is_row_count)
                .map(|j| 1 + n_keys + j)
                .collect(),
            n_keys,
            key_types: (1..=n_keys)
                .map(|i| input.field(i).data_type().clone())
                .collect(),
            keys,
            buckets: (0..BUCKETS).map(|_| Bucket::default()).collect(),
            spills: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Adds a batch of input rows (unit, keys, partials).
    pub(super) fn add(&mut self, batch: &RecordBatch) -> Result<()> {
        let units = cast(batch.column(0), &DataType::Int64)?;
        let units = units.as_primitive::<Int64Type>();
        self.keys
            .intern(&batch.columns()[1..=self.n_keys], &mut self.scratch)?;
        let columns: Vec<ArrayRef> = self
            .stored
            .iter()
            .map(|&c| normalise(batch.column(c)))
            .collect::<Result<_>>()?;
        let values: Vec<Values> = columns.iter().map(values).collect();
        // A row of a fixed width is copied with a few moves; a call to
        // `memcpy` per row showed as 17% of the profile.
        let units = (units, self.scratch.as_slice());
        let buckets = &mut self.buckets;
        match values.len() {
            0 => append_rows(buckets, [0; 2], units, &values),
            1 => append_rows(buckets, [0; 3], units, &values),
            2 => append_rows(buckets, [0; 4], units, &values),
            3 => append_rows(buckets, [0; 5], units, &values),
            4 => append_rows(buckets, [0; 6], units, &values),
            n => append_rows(buckets, vec![0; 2 + n], units, &values),
        }
        Ok(())
    }

    /// Moves every bucket's rows to a temporary file of `disk`.
    ///
    /// # Errors
    /// When the disk manager is disabled or full, or on I/O errors.
    pub(super) fn spill(&mut self, disk: &std::sync::Arc<DiskManager>) -> Result<()> {
        self.spills.push(Spill::write(&mut self.buckets, disk)?);
        Ok(())
    }

    /// Whether rows were spilled.
    pub(super) fn has_spilled(&self) -> bool {
        !self.spills.is_empty()
    }

    /// The buckets and the groups' keys.
    pub(super) fn into_parts(mut self) -> Result<Parts> {
        let keys = self.keys.emit(EmitTo::All)?;
        let keys = keys
            .iter()
            .zip(&self.key_types)
            .map(|(a, t)| cast(a, t))
            .collect::<std::result::Result<_, _>>()?;
        Ok(Parts {
            buckets: self.buckets,
            keys,
            spills: self.spills,
        })
    }
}
