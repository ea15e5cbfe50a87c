//! The state of `privagg_bottom_k_groups`: `k` slots per unit.
//!
//! Over 400 lines on purpose: the slot layout and the Arrow encoding of the
//! state must agree field by field, so they stay in one file.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanArray, Decimal128Array, Decimal128Builder,
    Int64Array, Int64Builder, ListArray, PrimitiveArray, StructArray,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Field, Int64Type};
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};

use super::{FIXED_ARGS, entry_fields, group_hash, unit_salt};
use crate::udf::LATTICE_TYPE;

/// The groups accumulator. Each unit has `k` slots in one flat array (hash,
/// row count, key id, `p` partial sums), a count of used slots and its salt;
/// group keys are interned once (a small in-cache map for segment-like keys),
/// so a row of a held group is matched by id in the slot's own cache line,
/// with no hashing. Two groups of a unit are the same group when their ids
/// match, or (when merging groups not held yet) when their 64-bit salted
/// hashes are equal: a collision (probability 2^-64 per pair) would only merge
/// two of the unit's groups, which keeps every bound.
#[derive(Debug)]
pub(super) struct BottomK {
    salt: i64,
    k: usize,
    n_partials: usize,
    /// Used slots per unit.
    used: Vec<u32>,
    /// Salt per unit (set with the unit's first group).
    unit_salts: Vec<i64>,
    /// `k` slots per unit, each `3 + n_partials` words: hash, row count,
    /// key id (index in `keys`), then the partial sums.
    slots: Vec<i128>,
    /// Distinct group keys (row-encoded), by id.
    keys: Vec<Box<[u8]>>,
    ids: HashMap<Box<[u8]>, u32, foldhash::fast::FixedState>,
    /// Bytes held by `keys` and `ids` (kept up to date: `size` is O(1)).
    key_bytes: usize,
}

const HASH: usize = 0;
const ROWS: usize = 1;
const KEY: usize = 2;
const SUMS: usize = 3;

/// The row-level inputs of one batch, converted once.
struct Inputs {
    keys: Rows,
    units: Rows,
    rows: Int64Array,
    partials: Vec<Decimal128Array>,
}

impl Inputs {
    fn new(values: &[ArrayRef]) -> Result<Self> {
        let (Some(keys), Some(units), Some(rows)) = (values.get(2), values.get(3), values.get(4))
        else {
            return exec_err!("privagg_bottom_k_groups: missing arguments");
        };
        let key_columns: Vec<ArrayRef> = match keys.as_struct_opt() {
            Some(s) => s.columns().to_vec(),
            None => vec![keys.clone()],
        };
        let fields = key_columns
            .iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect();
        let keys = RowConverter::new(fields)?.convert_columns(&key_columns)?;
        let units = RowConverter::new(vec![SortField::new(units.data_type().clone())])?
            .convert_columns(std::slice::from_ref(units))?;
        let rows = cast(rows, &DataType::Int64)?
            .as_primitive::<Int64Type>()
            .clone();
        let partials = values
            .iter()
            .skip(FIXED_ARGS)
            .map(|p| {
                Ok(cast(p, &LATTICE_TYPE)?
                    .as_primitive::<Decimal128Type>()
                    .clone())
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            keys,
            units,
            rows,
            partials,
        })
    }

    fn rows(&self, row: usize) -> i64 {
        if self.rows.is_null(row) {
            0
        } else {
            self.rows.value(row)
        }
    }

    fn sums(&self, row: usize) -> impl Iterator<Item = i128> + '_ {
        self.partials
            .iter()
            .map(move |p| if p.is_null(row) { 0 } else { p.value(row) })
    }
}

impl BottomK {
    pub(super) fn new(salt: i64, k: usize, n_partials: usize) -> Self {
        Self {
            salt,
            k,
            n_partials,
            used: Vec::new(),
            unit_salts: Vec::new(),
            slots: Vec::new(),
            keys: Vec::new(),
            ids: HashMap::default(),
            key_bytes: 0,
        }
    }

    fn stride(&self) -> usize {
        SUMS + self.n_partials
    }

    fn resize(&mut self, units: usize) {
        self.used.resize(units, 0);
        self.unit_salts.resize(units, 0);
        self.slots.resize(units * self.k * self.stride(), 0);
    }

    fn word(&self, slot: usize, field: usize) -> i128 {
        self.slots[slot * self.stride() + field]
    }

    fn hash(&self, slot: usize) -> u64 {
        self.word(slot, HASH) as u64
    }

    fn rows(&self, slot: usize) -> i64 {
        self.word(slot, ROWS) as i64
    }

    fn sum(&self, slot: usize, j: usize) -> i128 {
        self.word(slot, SUMS + j)
    }

    fn key(&self, slot: usize) -> &[u8] {
        self.key_of(self.word(slot, KEY) as u32)
    }

    fn key_of(&self, id: u32) -> &[u8] {
        self.keys.get(id as usize).map_or(&[], |k| k)
    }

    /// The id of a group key, assigned on first sight.
    fn intern(&mut self, key: &[u8]) -> u32 {
        if let Some(id) = self.ids.get(key) {
            return *id;
        }
        let id = self.keys.len() as u32;
        self.keys.push(key.into());
        self.ids.insert(key.into(), id);
        self.key_bytes += 2 * key.len() + 48;
        id
    }

    /// The slot of `unit` holding group `id`, if it is held.
    fn slot_of_id(&self, unit: usize, id: u32) -> Option<usize> {
        let first = unit * self.k;
        (first..first + self.used[unit] as usize).find(|s| self.word(*s, KEY) == i128::from(id))
    }

    /// Adds `n` rows with partial sums `sums` to a held slot.
    fn accumulate(&mut self, slot: usize, n: i64, sums: impl Iterator<Item = i128>) {
        let stride = self.stride();
        let words = &mut self.slots[slot * stride..(slot + 1) * stride];
        words[ROWS] = words[ROWS].saturating_add(i128::from(n));
        for (dst, v) in words[SUMS..].iter_mut().zip(sums) {
            *dst = dst.saturating_add(v);
        }
    }

    fn write(&mut self, slot: usize, hash: u64, id: u32, n: i64, sums: impl Iterator<Item = i128>) {
        let base = slot * self.stride();
        let words = &mut self.slots[base..base + SUMS + self.n_partials];
        words[HASH] = i128::from(hash);
        words[ROWS] = i128::from(n);
        words[KEY] = i128::from(id);
        for (dst, v) in words[SUMS..].iter_mut().zip(sums) {
            *dst = v;
        }
    }

    /// Adds `n` rows with partial sums `sums` of group `key` to `unit`: into
    /// its slot if held; else, with the unit's salt (from `salt_of_unit` for
    /// the unit's first group), into a free slot, or in place of the held
    /// group last in (hash, key) order if the new group comes before it.
    fn add(
        &mut self,
        unit: usize,
        key: &[u8],
        salt_of_unit: impl FnOnce() -> i64,
        n: i64,
        sums: impl Iterator<Item = i128>,
    ) {
        let id = self.intern(key);
        if let Some(slot) = self.slot_of_id(unit, id) {
            self.accumulate(slot, n, sums);
            return;
        }
        let (k, first, used) = (self.k, unit * self.k, self.used[unit] as usize);
        if used == 0 {
            self.unit_salts[unit] = salt_of_unit();
        }
        let hash = group_hash(self.unit_salts[unit], key);
        if let Some(slot) = (first..first + used).find(|s| self.hash(*s) == hash) {
            self.accumulate(slot, n, sums);
            return;
        }
        if used < k {
            self.used[unit] += 1;
            self.write(first + used, hash, id, n, sums);
            return;
        }
        let last = (first..first + k)
            .max_by(|a, b| (self.hash(*a), self.key(*a)).cmp(&(self.hash(*b), self.key(*b))));
        if let Some(slot) = last
            && (hash, key) < (self.hash(slot), self.key(slot))
        {
            self.write(slot, hash, id, n, sums);
        }
    }

    /// The entries of the first units, as `List<Struct<key, n, p...>>`, and
    /// the units' salts; the emitted units are dropped.
    fn emit(&mut self, emit_to: EmitTo) -> Result<(Int64Array, ArrayRef)> {
        let units = match emit_to {
            EmitTo::All => self.used.len(),
            EmitTo::First(n) => n.min(self.used.len()),
        };
        let (k, p) = (self.k, self.n_partials);
        let total: usize = self.used[..units].iter().map(|u| *u as usize).sum();
        let mut keys = BinaryBuilder::with_capacity(total, total * 16);
        let mut ns = Int64Builder::with_capacity(total);
        let mut sums: Vec<Decimal128Builder> = (0..p)
            .map(|_| Decimal128Builder::with_capacity(total))
            .collect();
        let mut offsets = Vec::with_capacity(units + 1);
        offsets.push(0i32);
        for unit in 0..units {
            let used = self.used[unit] as usize;
            for slot in unit * k..unit * k + used {
                keys.append_value(self.key(slot));
                ns.append_value(self.rows(slot));
                for (j, b) in sums.iter_mut().enumerate() {
                    b.append_value(self.sum(slot, j));
                }
            }
            let last = offsets.last().copied().unwrap_or(0);
            offsets.push(last + i32::try_from(used).unwrap_or(0));
        }
        let salts = Int64Array::from_iter_values(self.unit_salts.drain(..units));
        let stride = self.stride();
        self.used.drain(..units);
        self.slots.drain(..units * k * stride);
        if self.used.is_empty() {
            // Keys stay interned until every unit is emitted.
            self.keys = Vec::new();
            self.ids = HashMap::default();
            self.key_bytes = 0;
        }
        let mut columns: Vec<ArrayRef> = vec![Arc::new(keys.finish()), Arc::new(ns.finish())];
        for mut b in sums {
            columns.push(Arc::new(b.finish().with_precision_and_scale(38, 0)?));
        }
        Ok((salts, entry_list(p, columns, offsets, None)?))
    }
}

/// A list of entry structs from their columns.
fn entry_list(
    n_partials: usize,
    columns: Vec<ArrayRef>,
    offsets: Vec<i32>,
    nulls: Option<NullBuffer>,
) -> Result<ArrayRef> {
    let fields = entry_fields(n_partials);
    let structs = StructArray::try_new(fields.clone(), columns, None)?;
    let item = Arc::new(Field::new("item", DataType::Struct(fields), true));
    Ok(Arc::new(ListArray::try_new(
        item,
        OffsetBuffer::new(offsets.into()),
        Arc::new(structs),
        nulls,
    )?))
}

fn filtered_out(opt_filter: Option<&BooleanArray>, row: usize) -> bool {
    opt_filter.is_some_and(|f| !f.value(row) || f.is_null(row))
}

impl GroupsAccumulator for BottomK {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let inputs = Inputs::new(values)?;
        let salt = self.salt;
        for (row, &unit) in group_indices.iter().enumerate() {
            if filtered_out(opt_filter, row) {
                continue;
            }
            self.add(
                unit,
                inputs.keys.row(row).as_ref(),
                || unit_salt(salt, inputs.units.row(row).as_ref()),
                inputs.rows(row),
                inputs.sums(row),
            );
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(self.emit(emit_to)?.1)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (salts, entries) = self.emit(emit_to)?;
        Ok(vec![Arc::new(salts), entries])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let (Some(salts), Some(lists)) = (
            values
                .first()
                .and_then(|v| v.as_primitive_opt::<Int64Type>()),
            values.get(1).and_then(|v| v.as_list_opt::<i32>()),
        ) else {
            return exec_err!("privagg_bottom_k_groups: bad state");
        };
        // Read the flattened entries once; each row's entries are an offset range.
        let s = lists.values().as_struct();
        let keys = s.column(0).as_binary::<i32>();
        let ns = s.column(1).as_primitive::<Int64Type>();
        let sums: Vec<&PrimitiveArray<Decimal128Type>> = (0..self.n_partials)
            .map(|j| s.column(2 + j).as_primitive::<Decimal128Type>())
            .collect();
        let offsets = lists.value_offsets();
        for (row, &unit) in group_indices.iter().enumerate() {
            if lists.is_null(row) {
                continue;
            }
            for e in offsets[row] as usize..offsets[row + 1] as usize {
                self.add(
                    unit,
                    keys.value(e),
                    || salts.value(row),
                    ns.value(e),
                    sums.iter().map(|c| c.value(e)),
                );
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row on its own: a one-entry list (a NULL list when filtered
        // out), columns converted whole; no hash is computed here.
        let inputs = Inputs::new(values)?;
        let n = inputs.rows.len();
        let salts = Int64Array::from_iter_values(
            (0..n).map(|row| unit_salt(self.salt, inputs.units.row(row).as_ref())),
        );
        let mut keys = BinaryBuilder::with_capacity(n, inputs.keys.size());
        for row in inputs.keys.iter() {
            keys.append_value(row.as_ref());
        }
        let ns = Int64Array::from_iter_values((0..n).map(|row| inputs.rows(row)));
        let mut columns: Vec<ArrayRef> = vec![Arc::new(keys.finish()), Arc::new(ns)];
        for p in &inputs.partials {
            let zeroed: Decimal128Array = (0..n)
                .map(|row| Some(if p.is_null(row) { 0 } else { p.value(row) }))
                .collect();
            columns.push(Arc::new(zeroed.with_precision_and_scale(38, 0)?));
        }
        let nulls =
            opt_filter.map(|f| NullBuffer::from_iter((0..n).map(|r| !filtered_out(Some(f), r))));
        let offsets = (0..=n)
            .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
            .collect();
        let entries = entry_list(self.n_partials, columns, offsets, nulls)?;
        Ok(vec![Arc::new(salts), entries])
    }

    fn size(&self) -> usize {
        self.used.capacity() * 4
            + self.unit_salts.capacity() * 8
            + self.slots.capacity() * 16
            + self.key_bytes
    }
}

/// The same logic for a single group (DataFusion's non-grouped path).
#[derive(Debug)]
pub(super) struct Single(pub(super) BottomK);

impl Single {
    fn emit(&mut self) -> Result<(Int64Array, ArrayRef)> {
        if self.0.used.is_empty() {
            self.0.resize(1);
        }
        self.0.emit(EmitTo::All)
    }
}

impl Accumulator for Single {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let n = values.first().map_or(0, |v| v.len());
        self.0.update_batch(values, &vec![0; n], None, 1)
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        let (_, entries) = self.emit()?;
        ScalarValue::try_from_array(&entries, 0)
    }
    fn size(&self) -> usize {
        self.0.size()
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let (salts, entries) = self.emit()?;
        Ok(vec![
            ScalarValue::try_from_array(&salts, 0)?,
            ScalarValue::try_from_array(&entries, 0)?,
        ])
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let n = states.first().map_or(0, |v| v.len());
        self.0.merge_batch(states, &vec![0; n], 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_k_first_groups_in_hash_order_whatever_the_row_order() {
        let groups: Vec<Vec<u8>> = (0..50u8).map(|g| vec![g, 1, 2]).collect();
        let first_k = |salt: i64| {
            let mut by_hash: Vec<&Vec<u8>> = groups.iter().collect();
            by_hash.sort_by_key(|g| (group_hash(salt, g), (*g).clone()));
            let mut keys: Vec<Vec<u8>> = by_hash.into_iter().take(3).cloned().collect();
            keys.sort();
            keys
        };
        let kept = |acc: &BottomK| {
            let mut keys: Vec<Vec<u8>> = (0..acc.used[0] as usize)
                .map(|s| acc.key(s).to_vec())
                .collect();
            keys.sort();
            keys
        };
        for salt in [1, 2, 3] {
            let (mut forward, mut backward) = (BottomK::new(0, 3, 1), BottomK::new(0, 3, 1));
            forward.resize(1);
            backward.resize(1);
            for g in &groups {
                forward.add(0, g, || salt, 1, [1i128].into_iter());
            }
            for g in groups.iter().rev() {
                backward.add(0, g, || salt, 1, [1i128].into_iter());
                backward.add(0, g, || salt, 1, [1i128].into_iter());
            }
            assert_eq!(kept(&forward), first_k(salt));
            assert_eq!(kept(&backward), first_k(salt));
            assert!(
                (0..3).all(|s| backward.rows(s) == 2 && backward.sum(s, 0) == 2),
                "rows of a kept group all count"
            );
        }
    }

    #[test]
    fn rows_converted_to_states_merge_like_rows_updated() {
        use datafusion::arrow::array::StringArray;
        // 200 rows of 20 units, each in 7 groups, k = 2, one partial.
        let n = 200;
        let keys: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| format!("g{}", (i / 20) % 7)),
        ));
        let units: ArrayRef = Arc::new(Int64Array::from_iter_values((0..n).map(|i| i % 20)));
        let values: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![5; n as usize])),
            Arc::new(Int64Array::from(vec![2; n as usize])),
            keys,
            units.clone(),
            Arc::new(Int64Array::from(vec![1; n as usize])),
            Arc::new(Int64Array::from_iter_values(0..n)),
        ];
        let groups: Vec<usize> = (0..n as usize).map(|i| i % 20).collect();
        let mut direct = BottomK::new(5, 2, 1);
        direct
            .update_batch(&values, &groups, None, 20)
            .expect("update");
        let mut merged = BottomK::new(5, 2, 1);
        let state = merged.convert_to_state(&values, None).expect("state");
        merged.merge_batch(&state, &groups, 20).expect("merge");
        let a = direct.evaluate(EmitTo::All).expect("a");
        let b = merged.evaluate(EmitTo::All).expect("b");
        assert_eq!(a.as_ref(), b.as_ref());
        assert_eq!(a.as_list::<i32>().values().len(), 40, "2 groups per unit");
    }
}
