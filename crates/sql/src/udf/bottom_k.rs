//! `privagg_bottom_k_groups(salt, k, keys, unit, rows, partials...)`: L0
//! bounding inside a hash aggregation. Grouped by the privacy unit, over rows
//! that each stand for `rows` input rows of one (unit, group) with partial
//! sums `partials`, it keeps, for each
//! unit, the partial sums of at most `k` of the unit's groups: those first in
//! the order of [`group_hash`] (then the key bytes), i.e. k groups picked at
//! random for a fresh salt, the same ones `ROW_NUMBER()` over that order would
//! pick. Only k entries are held per unit: a group pushed out by a group with
//! a smaller hash is dropped whole, so no sort and no second pass are needed.
//!
//! Output per unit: `List<Struct<key: Binary, n: Int64, p0.., : Decimal128(38, 0)>>`
//! with the row-encoded group key (arrow `RowConverter`), the unit's row
//! count in the group, and the sum of each partial argument (NULL as 0).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanArray, Decimal128Builder, Int64Builder,
    ListArray, StructArray, UInt64Builder,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Decimal128Type, Field, FieldRef, Fields, Int64Type, UInt64Type,
};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

use super::LATTICE_TYPE;

/// Arguments before the partial sums: salt, k, keys, unit, rows.
const FIXED_ARGS: usize = 5;

/// The salt of one unit: the query's salt hashed with the unit's row bytes.
/// Each unit thus orders its groups by its own random permutation; with the
/// query salt alone every unit holding the same groups would pick the same
/// ones, a bias towards whichever keys hash low.
pub fn unit_salt(salt: i64, unit: &[u8]) -> i64 {
    group_hash(salt, unit) as i64
}

/// The salted hash that orders a unit's groups (shared with the window-based
/// plans); `salt` is the unit's salt from [`unit_salt`].
pub fn group_hash(salt: i64, key: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    salt.hash(&mut h);
    key.hash(&mut h);
    h.finish()
}

/// The aggregate function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BottomKGroups {
    signature: Signature,
}

impl BottomKGroups {
    /// The function.
    pub fn new() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl Default for BottomKGroups {
    fn default() -> Self {
        Self::new()
    }
}

fn entry_fields(n_partials: usize, with_hash: bool) -> Fields {
    let mut fields = Vec::new();
    if with_hash {
        fields.push(Field::new("hash", DataType::UInt64, false));
    }
    fields.push(Field::new("key", DataType::Binary, false));
    fields.push(Field::new("n", DataType::Int64, false));
    fields.extend((0..n_partials).map(|i| Field::new(format!("p{i}"), LATTICE_TYPE, false)));
    Fields::from(fields)
}

fn list_type(n_partials: usize, with_hash: bool) -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(entry_fields(n_partials, with_hash)),
        true,
    )))
}

fn literal(args: &AccumulatorArgs, i: usize) -> Option<i64> {
    let e = args.exprs.get(i)?;
    let lit = e.downcast_ref::<datafusion::physical_expr::expressions::Literal>()?;
    match lit.value() {
        ScalarValue::Int64(v) => *v,
        _ => None,
    }
}

impl AggregateUDFImpl for BottomKGroups {
    fn name(&self) -> &str {
        "privagg_bottom_k_groups"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(list_type(arg_types.len().saturating_sub(FIXED_ARGS), false))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let n = args.input_fields.len().saturating_sub(FIXED_ARGS);
        Ok(vec![Arc::new(Field::new(
            format!("{}[entries]", args.name),
            list_type(n, true),
            true,
        ))])
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Single(self.make(&args)?)))
    }
    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(self.make(&args)?))
    }
}

impl BottomKGroups {
    fn make(&self, args: &AccumulatorArgs) -> Result<BottomK> {
        let (Some(salt), Some(k)) = (literal(args, 0), literal(args, 1)) else {
            return exec_err!("privagg_bottom_k_groups: salt and k must be Int64 literals");
        };
        if k < 1 {
            return exec_err!("privagg_bottom_k_groups: k must be at least 1");
        }
        Ok(BottomK::new(
            salt,
            k as usize,
            args.exprs.len().saturating_sub(FIXED_ARGS),
        ))
    }
}

/// The groups accumulator. Each unit has `k` slots in flat arrays (hash, row
/// count, `p` partial sums) and a count of used slots; group keys are copied
/// into one byte arena. Two groups of a unit are the same group when their
/// 64-bit salted hashes are equal: a collision (probability 2^-64 per pair)
/// would only merge two of the unit's groups, which keeps every bound.
#[derive(Debug)]
struct BottomK {
    salt: i64,
    k: usize,
    n_partials: usize,
    /// Used slots per unit.
    used: Vec<u32>,
    /// `k` slots per unit, each `3 + n_partials` words: hash, row count,
    /// key reference (arena offset << 32 | length), then the partial sums.
    /// One interleaved array keeps a row's update within one or two cache lines.
    slots: Vec<i128>,
    arena: Vec<u8>,
}

const HASH: usize = 0;
const ROWS: usize = 1;
const KEY: usize = 2;
const SUMS: usize = 3;

impl BottomK {
    fn new(salt: i64, k: usize, n_partials: usize) -> Self {
        Self {
            salt,
            k,
            n_partials,
            used: Vec::new(),
            slots: Vec::new(),
            arena: Vec::new(),
        }
    }

    fn stride(&self) -> usize {
        SUMS + self.n_partials
    }

    fn resize(&mut self, units: usize) {
        self.used.resize(units, 0);
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
        let packed = self.word(slot, KEY);
        let at = (packed >> 32) as usize;
        let len = (packed & 0xffff_ffff) as usize;
        &self.arena[at..at + len]
    }

    fn write(
        &mut self,
        slot: usize,
        hash: u64,
        key: &[u8],
        n: i64,
        sums: impl Iterator<Item = i128>,
    ) {
        let base = slot * self.stride();
        let packed = ((self.arena.len() as i128) << 32) | (key.len() as i128 & 0xffff_ffff);
        self.arena.extend_from_slice(key);
        let words = &mut self.slots[base..base + SUMS + self.n_partials];
        words[HASH] = i128::from(hash);
        words[ROWS] = i128::from(n);
        words[KEY] = packed;
        for (dst, v) in words[SUMS..].iter_mut().zip(sums) {
            *dst = v;
        }
    }

    /// Adds `n` rows with partial sums `sums` of group (`hash`, `key`) to `unit`.
    fn add(
        &mut self,
        unit: usize,
        hash: u64,
        key: &[u8],
        n: i64,
        sums: impl Iterator<Item = i128>,
    ) {
        let (k, stride) = (self.k, self.stride());
        let first = unit * k;
        let used = self.used[unit] as usize;
        if let Some(slot) = (first..first + used).find(|s| self.hash(*s) == hash) {
            let words = &mut self.slots[slot * stride..(slot + 1) * stride];
            words[ROWS] = words[ROWS].saturating_add(i128::from(n));
            for (dst, v) in words[SUMS..].iter_mut().zip(sums) {
                *dst = dst.saturating_add(v);
            }
            return;
        }
        if used < k {
            self.used[unit] += 1;
            self.write(first + used, hash, key, n, sums);
            return;
        }
        // Full: the new group replaces the last one in (hash, key) order, if it comes before it.
        let last = (first..first + k)
            .max_by(|a, b| (self.hash(*a), self.key(*a)).cmp(&(self.hash(*b), self.key(*b))));
        if let Some(slot) = last
            && (hash, key) < (self.hash(slot), self.key(slot))
        {
            self.write(slot, hash, key, n, sums);
        }
    }

    fn emit(&mut self, emit_to: EmitTo, with_hash: bool) -> Result<ArrayRef> {
        let units = match emit_to {
            EmitTo::All => self.used.len(),
            EmitTo::First(n) => n.min(self.used.len()),
        };
        let (k, p) = (self.k, self.n_partials);
        let total: usize = self.used[..units].iter().map(|u| *u as usize).sum();
        let mut hashes = UInt64Builder::with_capacity(total);
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
                hashes.append_value(self.hash(slot));
                keys.append_value(self.key(slot));
                ns.append_value(self.rows(slot));
                for (j, b) in sums.iter_mut().enumerate() {
                    b.append_value(self.sum(slot, j));
                }
            }
            let last = offsets.last().copied().unwrap_or(0);
            offsets.push(last + i32::try_from(used).unwrap_or(0));
        }
        // Drop the emitted units (the arena keeps their bytes until all are emitted).
        let stride = self.stride();
        self.used.drain(..units);
        self.slots.drain(..units * k * stride);
        if self.used.is_empty() {
            self.arena = Vec::new();
        }
        let mut columns: Vec<ArrayRef> = Vec::new();
        if with_hash {
            columns.push(Arc::new(hashes.finish()));
        }
        columns.push(Arc::new(keys.finish()));
        columns.push(Arc::new(ns.finish()));
        for mut b in sums {
            columns.push(Arc::new(b.finish().with_precision_and_scale(38, 0)?));
        }
        let fields = entry_fields(p, with_hash);
        let structs = StructArray::try_new(fields.clone(), columns, None)?;
        let item = Arc::new(Field::new("item", DataType::Struct(fields), true));
        Ok(Arc::new(ListArray::try_new(
            item,
            OffsetBuffer::new(offsets.into()),
            Arc::new(structs),
            None,
        )?))
    }
}

fn as_decimal(a: &ArrayRef) -> Result<ArrayRef> {
    Ok(cast(a, &LATTICE_TYPE)?)
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
        let Some(keys) = values.get(2) else {
            return exec_err!("privagg_bottom_k_groups: missing keys");
        };
        let key_columns: Vec<ArrayRef> = match keys.as_struct_opt() {
            Some(s) => s.columns().to_vec(),
            None => vec![keys.clone()],
        };
        let converter = RowConverter::new(
            key_columns
                .iter()
                .map(|c| SortField::new(c.data_type().clone()))
                .collect(),
        )?;
        let rows = converter.convert_columns(&key_columns)?;
        let Some(units) = values.get(3) else {
            return exec_err!("privagg_bottom_k_groups: missing unit");
        };
        let units = RowConverter::new(vec![SortField::new(units.data_type().clone())])?
            .convert_columns(std::slice::from_ref(units))?;
        let Some(rows_in) = values.get(4) else {
            return exec_err!("privagg_bottom_k_groups: missing row counts");
        };
        let rows_in = cast(rows_in, &DataType::Int64)?;
        let rows_in = rows_in.as_primitive::<Int64Type>();
        let partials: Vec<ArrayRef> = values
            .iter()
            .skip(FIXED_ARGS)
            .map(as_decimal)
            .collect::<Result<_>>()?;
        let partials: Vec<_> = partials
            .iter()
            .map(|p| p.as_primitive::<Decimal128Type>().clone())
            .collect();
        for (row, &unit) in group_indices.iter().enumerate() {
            if opt_filter.is_some_and(|f| !f.value(row) || f.is_null(row)) {
                continue;
            }
            let key = rows.row(row);
            let key = key.as_ref();
            let hash = group_hash(unit_salt(self.salt, units.row(row).as_ref()), key);
            self.add(
                unit,
                hash,
                key,
                if rows_in.is_null(row) {
                    0
                } else {
                    rows_in.value(row)
                },
                partials
                    .iter()
                    .map(|p| if p.is_null(row) { 0 } else { p.value(row) }),
            );
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        self.emit(emit_to, false)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.emit(emit_to, true)?])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let Some(lists) = values.first().and_then(|v| v.as_list_opt::<i32>()) else {
            return exec_err!("privagg_bottom_k_groups: bad state");
        };
        // Read the flattened entries once; each row's entries are an offset range.
        let s = lists.values().as_struct();
        let hashes = s.column(0).as_primitive::<UInt64Type>();
        let keys = s.column(1).as_binary::<i32>();
        let ns = s.column(2).as_primitive::<Int64Type>();
        let sums: Vec<_> = (0..self.n_partials)
            .map(|j| s.column(3 + j).as_primitive::<Decimal128Type>())
            .collect();
        let offsets = lists.value_offsets();
        for (row, &unit) in group_indices.iter().enumerate() {
            if lists.is_null(row) {
                continue;
            }
            for e in offsets[row] as usize..offsets[row + 1] as usize {
                self.add(
                    unit,
                    hashes.value(e),
                    keys.value(e),
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
        // Each row on its own: a one-entry list (none when filtered out).
        let n = values.first().map_or(0, |v| v.len());
        let mut scratch = BottomK::new(self.salt, self.k, self.n_partials);
        let groups: Vec<usize> = (0..n).collect();
        scratch.update_batch(values, &groups, opt_filter, n)?;
        Ok(vec![scratch.emit(EmitTo::All, true)?])
    }

    fn size(&self) -> usize {
        self.used.capacity() * 4 + self.slots.capacity() * 16 + self.arena.capacity()
    }
}

/// The same logic for a single group (DataFusion's non-grouped path).
#[derive(Debug)]
struct Single(BottomK);

impl Accumulator for Single {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let n = values.first().map_or(0, |v| v.len());
        self.0.update_batch(values, &vec![0; n], None, 1)
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.0.used.is_empty() {
            self.0.resize(1);
        }
        let array = self.0.emit(EmitTo::All, false)?;
        ScalarValue::try_from_array(&array, 0)
    }
    fn size(&self) -> usize {
        self.0.size()
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        if self.0.used.is_empty() {
            self.0.resize(1);
        }
        let array = self.0.emit(EmitTo::All, true)?;
        Ok(vec![ScalarValue::try_from_array(&array, 0)?])
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
            let (mut forward, mut backward) = (BottomK::new(salt, 3, 1), BottomK::new(salt, 3, 1));
            forward.resize(1);
            backward.resize(1);
            for g in &groups {
                forward.add(0, group_hash(salt, g), g, 1, [1i128].into_iter());
            }
            for g in groups.iter().rev() {
                backward.add(0, group_hash(salt, g), g, 1, [1i128].into_iter());
                backward.add(0, group_hash(salt, g), g, 1, [1i128].into_iter());
            }
            assert_eq!(kept(&forward), first_k(salt));
            assert_eq!(kept(&backward), first_k(salt));
            assert!(
                (0..3).all(|s| backward.rows(s) == 2 && backward.sum(s, 0) == 2),
                "rows of a kept group all count"
            );
        }
    }
}
