//! Reads the exact bounded results: per group its keys, its number of units
//! and the exact sums of its components; per percentile aggregate its leaf
//! histograms. Runs on the small bounded result, after the budget was
//! charged; errors never quote a value.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::datatypes::{Decimal128Type, Int64Type};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::ScalarValue;

use crate::aggregate::{LEAF, WEIGHT};
use crate::bounded::{KEY_BYTES, UNITS, key_column};
use crate::error::{Result, SqlError};

/// The exact bounded result of one group.
pub(crate) struct ExactGroup {
    /// Units with rows in the group (after bounding).
    pub units: u64,
    /// The exact sums of the inline components, in order.
    pub sums: Vec<i128>,
}

/// A failure reading the bounded result. `what` is one of this module's own
/// labels (never a data value, which DataFusion errors could quote).
fn execution(what: impl std::fmt::Display) -> SqlError {
    let what = what.to_string();
    let label = if what.contains(' ') {
        "value"
    } else {
        what.as_str()
    };
    SqlError::Execution(format!(
        "the bounded aggregation returned an unexpected result ({label})"
    ))
}

/// Arrow's row format for the group keys (the order of released groups, and
/// the encoding of the bounded plan's key column).
fn key_converter(key_types: &[DataType]) -> Result<RowConverter> {
    let fields = key_types
        .iter()
        .map(|t| SortField::new(t.clone()))
        .collect();
    RowConverter::new(fields).map_err(execution)
}

/// The group keys of every row of a bounded result: decoded from the
/// row-encoded [`KEY_BYTES`] column, or read from `__privagg_key{i}` columns.
pub(crate) fn group_keys(b: &RecordBatch, key_types: &[DataType]) -> Result<Vec<Vec<ScalarValue>>> {
    let arrays: Vec<ArrayRef> = match b.column_by_name(KEY_BYTES) {
        Some(bytes) => {
            let bytes = bytes
                .as_binary_opt::<i32>()
                .ok_or_else(|| execution("keys"))?;
            let converter = key_converter(key_types)?;
            let parser = converter.parser();
            let rows: Vec<_> = (0..bytes.len())
                .map(|i| parser.parse(bytes.value(i)))
                .collect();
            converter.convert_rows(rows).map_err(execution)?
        }
        None => (0..key_types.len())
            .map(|i| {
                b.column_by_name(&key_column(i))
                    .cloned()
                    .ok_or_else(|| execution("key"))
            })
            .collect::<Result<_>>()?,
    };
    (0..b.num_rows())
        .map(|row| {
            arrays
                .iter()
                .map(|k| ScalarValue::try_from_array(k, row).map_err(execution))
                .collect()
        })
        .collect()
}

pub(crate) fn read_exact(
    batches: &[RecordBatch],
    key_types: &[DataType],
    columns: &[String],
) -> Result<Vec<(Vec<ScalarValue>, ExactGroup)>> {
    let mut out = Vec::new();
    for b in batches {
        let units = b
            .column_by_name(UNITS)
            .ok_or_else(|| execution("units"))?
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| execution("units type"))?;
        let keys = group_keys(b, key_types)?;
        let sums: Vec<_> = columns
            .iter()
            .map(|c| {
                b.column_by_name(c)
                    .cloned()
                    .ok_or_else(|| execution("column"))
            })
            .collect::<Result<_>>()?;
        for (row, key) in keys.into_iter().enumerate() {
            let values = sums
                .iter()
                .map(|s| {
                    if s.is_null(row) {
                        return 0;
                    }
                    if let Some(d) = s.as_primitive_opt::<Decimal128Type>() {
                        d.value(row)
                    } else if let Some(i) = s.as_primitive_opt::<Int64Type>() {
                        i128::from(i.value(row))
                    } else {
                        0
                    }
                })
                .collect();
            out.push((
                key,
                ExactGroup {
                    units: units.value(row).max(0) as u64,
                    sums: values,
                },
            ));
        }
    }
    Ok(out)
}

/// Groups in the order of their keys (Arrow's row format: a total order).
pub(crate) fn sorted_by_keys<T>(
    groups: Vec<(Vec<ScalarValue>, T)>,
    key_types: &[DataType],
) -> Result<Vec<(Vec<ScalarValue>, T)>> {
    if key_types.is_empty() || groups.len() < 2 {
        return Ok(groups);
    }
    let converter = key_converter(key_types)?;
    let columns: Vec<ArrayRef> = (0..key_types.len())
        .map(|i| ScalarValue::iter_to_array(groups.iter().map(|(k, _)| k[i].clone())))
        .collect::<datafusion::error::Result<_>>()
        .map_err(execution)?;
    let rows = converter.convert_columns(&columns).map_err(execution)?;
    let mut keyed: Vec<_> = groups
        .into_iter()
        .enumerate()
        .map(|(i, g)| (rows.row(i).owned(), g))
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(keyed.into_iter().map(|(_, g)| g).collect())
}

/// Leaf histograms of one percentile aggregate, per group key.
pub(crate) type LeafCounts = HashMap<Vec<ScalarValue>, Vec<(u64, u64)>>;

/// Reads a percentile plan's result (keys, leaf, weight) into histograms.
pub(crate) fn read_leaves(batches: &[RecordBatch], key_types: &[DataType]) -> Result<LeafCounts> {
    let mut out: LeafCounts = HashMap::new();
    for b in batches {
        let keys = group_keys(b, key_types)?;
        let leaf = b
            .column_by_name(LEAF)
            .and_then(|a| a.as_primitive_opt::<Int64Type>().cloned())
            .ok_or_else(|| execution("leaf"))?;
        let weight = b
            .column_by_name(WEIGHT)
            .and_then(|a| a.as_primitive_opt::<Decimal128Type>().cloned())
            .ok_or_else(|| execution("weight"))?;
        for (row, key) in keys.into_iter().enumerate() {
            if leaf.is_null(row) || weight.is_null(row) {
                continue;
            }
            let w = u64::try_from(weight.value(row).max(0)).unwrap_or(u64::MAX);
            out.entry(key)
                .or_default()
                .push((leaf.value(row).max(0) as u64, w));
        }
    }
    for counts in out.values_mut() {
        counts.sort_unstable();
    }
    Ok(out)
}
