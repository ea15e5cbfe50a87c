//! The fused operator's second phase: per bucket, the per-(unit, group)
//! sums over the rows of every input partition that holds the bucket, then
//! the L0 choice of each unit's groups, as output rows.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, Decimal128Builder, Int64Array, Int64Builder, RecordBatch,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use datafusion::common::{Result, exec_err};
use datafusion::physical_plan::aggregates::group_values::new_group_values;
use datafusion::physical_plan::aggregates::order::GroupOrdering;

use super::Partial;
use super::spill::Piece;
use super::state::{Bucket, NULL_BUCKET, Parts, WIDE, key_schema};
use crate::udf::{LATTICE_TYPE, group_hash, unit_salt};

type Unit = Option<i64>;
type Table = HashMap<(i64, u32), u32, foldhash::fast::FixedState>;

/// The bucket `index` of every input partition, with each partition's map
/// from its group ids to the common ones.
pub(super) type Pieces<'a> = Vec<(Bucket, &'a [u32])>;

/// Memory one output partition reuses from bucket to bucket (allocating it
/// afresh per bucket maps and unmaps pages each time).
#[derive(Default)]
pub(super) struct Scratch {
    table: Table,
    entries: Vec<(Unit, u32)>,
    acc: Vec<i128>,
}

/// What the second phase needs: the parameters and the groups' keys.
pub(super) struct Bounder {
    salt: i64,
    k: usize,
    partials: Vec<Partial>,
    unit_type: DataType,
    key_rows: Rows,
    unit_rows: RowConverter,
    schema: SchemaRef,
}

/// The input partitions' buckets by bucket, and each partition's group map.
pub(super) struct Merged {
    /// Per bucket, per input partition (in order): the partition's part of
    /// the bucket.
    pub buckets: Vec<Vec<Piece>>,
    /// Per input partition, its group ids' common ids.
    pub maps: Vec<Vec<u32>>,
}

impl Bounder {
    /// Gives the input partitions' groups common ids (their keys interned
    /// once more) and regroups their buckets by bucket.
    ///
    /// # Errors
    /// DataFusion's errors from interning or encoding the keys.
    pub(super) fn new(
        salt: i64,
        k: usize,
        partials: Vec<Partial>,
        input: &SchemaRef,
        schema: SchemaRef,
        parts: Vec<Parts>,
    ) -> Result<(Self, Merged)> {
        let key_schema = key_schema(input, partials.len())?;
        let mut groups = new_group_values(Arc::clone(&key_schema), &GroupOrdering::None)?;
        let mut ids = Vec::new();
        let mut maps = Vec::with_capacity(parts.len());
        let mut buckets: Vec<Vec<Piece>> = Vec::new();
        for part in parts {
            groups.intern(&part.keys, &mut ids)?;
            maps.push(ids.iter().map(|&g| g as u32).collect());
            buckets.resize_with(part.buckets.len(), Vec::new);
            for (index, (all, memory)) in buckets.iter_mut().zip(part.buckets).enumerate() {
                let spilled = part.spills.iter().filter_map(|s| s.bucket(index)).collect();
                all.push(Piece { memory, spilled });
            }
        }
        let keys = groups.emit(datafusion::logical_expr::EmitTo::All)?;
        let keys: Vec<ArrayRef> = keys
            .iter()
            .zip(key_schema.fields())
            .map(|(a, f)| cast(a, f.data_type()))
            .collect::<std::result::Result<_, _>>()?;
        let fields = key_schema
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        let key_rows = RowConverter::new(fields)?.convert_columns(&keys)?;
        let unit_type = input.field(0).data_type().clone();
        let unit_rows = RowConverter::new(vec![SortField::new(unit_type.clone())])?;
        let bounder = Self {
            salt,
            k,
            partials,
            unit_type,
            key_rows,
            unit_rows,
            schema,
        };
        Ok((bounder, Merged { buckets, maps }))
    }

    /// Bucket `index`'s kept (unit, group) entries, `None` when it is empty.
    ///
    /// # Errors
    /// DataFusion's errors from encoding units or building the batch.
    pub(super) fn bucket(
        &self,
        index: usize,
        pieces: Pieces,
        scratch: &mut Scratch,
    ) -> Result<Option<RecordBatch>> {
        if pieces.iter().all(|(b, _)| b.is_empty()) {
            return Ok(None);
        }
        let null = index == NULL_BUCKET;
        let stored = self.partials.iter().filter(|p| !p.is_row_count).count();
        let stride = 2 + stored;
        // Per (unit, group), in one place: the row count, then the stored
        // partials' sums.
        let width = 1 + stored;
        let rows: usize = pieces
            .iter()
            .flat_map(|(b, _)| &b.chunks)
            .map(|c| c.len() / stride)
            .sum();
        let Scratch {
            table,
            entries,
            acc,
        } = scratch;
        table.clear();
        table.reserve(rows / 4);
        entries.clear();
        acc.clear();
        for (bucket, map) in &pieces {
            let mut wide = bucket.wide.iter();
            for chunk in &bucket.chunks {
                for row in chunk.chunks_exact(stride) {
                    let (unit, group) = (row[0], map[row[1] as usize]);
                    let next = entries.len();
                    let Ok(id) = u32::try_from(next) else {
                        return exec_err!("BoundByUnitExec: more than 2^32 entries in a bucket");
                    };
                    let e = *table.entry((unit, group)).or_insert(id) as usize;
                    if e == next {
                        entries.push(((!null).then_some(unit), group));
                        acc.extend(std::iter::repeat_n(0, width));
                    }
                    let a = &mut acc[e * width..(e + 1) * width];
                    a[0] += 1;
                    for (dst, &v) in a[1..].iter_mut().zip(&row[2..]) {
                        let v = if v == WIDE {
                            wide.next().copied().unwrap_or_default()
                        } else {
                            i128::from(v)
                        };
                        *dst = dst.saturating_add(v);
                    }
                }
            }
        }
        drop(pieces);
        let kept = self.choose(entries)?;
        self.output(&kept, entries, acc, width).map(Some)
    }

    /// Per unit: its entries, all of them when at most k, else the k first
    /// in (salted hash, key bytes) order.
    fn choose(&self, entries: &[(Unit, u32)]) -> Result<Vec<usize>> {
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
            let rows = self.unit_rows.convert_columns(&[units])?;
            for (i, run) in crowded.iter().enumerate() {
                let salt = unit_salt(self.salt, rows.row(i).as_ref());
                let mut ranked: Vec<(u64, &[u8], usize)> = run
                    .iter()
                    .map(|&e| {
                        let key = self.key_rows.row(entries[e].1 as usize).data();
                        (group_hash(salt, key), key, e)
                    })
                    .collect();
                ranked.sort_unstable();
                kept.extend(ranked.iter().take(self.k).map(|r| r.2));
            }
        }
        Ok(kept)
    }

    /// The output columns of the kept entries (`acc`: per entry, `width`
    /// values: the row count, then the stored partials' sums).
    fn output(
        &self,
        kept: &[usize],
        entries: &[(Unit, u32)],
        acc: &[i128],
        width: usize,
    ) -> Result<RecordBatch> {
        let count = |e: usize| i64::try_from(acc[e * width]).unwrap_or(i64::MAX);
        let mut keys = BinaryBuilder::with_capacity(kept.len(), kept.len() * 16);
        let mut ns = Int64Builder::with_capacity(kept.len());
        for &e in kept {
            keys.append_value(self.key_rows.row(entries[e].1 as usize).as_ref());
            ns.append_value(count(e));
        }
        let mut columns: Vec<ArrayRef> = vec![Arc::new(keys.finish()), Arc::new(ns.finish())];
        let mut j = 0;
        for partial in &self.partials {
            if partial.is_row_count {
                columns.push(Arc::new(Int64Array::from_iter_values(
                    kept.iter().map(|&e| count(e)),
                )));
                continue;
            }
            j += 1;
            let at = j;
            let column = kept.iter().map(|&e| acc[e * width + at]);
            columns.push(if partial.is_count {
                let column = column.map(|v| i64::try_from(v).ok());
                Arc::new(Int64Array::from_iter(column))
            } else {
                let mut b = Decimal128Builder::with_capacity(kept.len());
                b.extend(column.map(Some));
                Arc::new(b.finish().with_data_type(LATTICE_TYPE))
            });
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }
}
