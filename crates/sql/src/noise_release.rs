//! Turns the exact per-group sums into released values: partition selection
//! (or every public key), noise on every component, post-processing into the
//! analyst's aggregates, and confidence intervals. Runs on the small bounded
//! result, after the budget was charged.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::datatypes::{Decimal128Type, Int64Type};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::ScalarValue;
use privagg_noise::{ConfidenceInterval, LaplaceMechanism, QuantileTree, RankRadii, SecureRng};

use crate::prepare::Prepared;

use crate::analyze::AggKind;
use crate::bounded::{KEY_BYTES, LEAF, UNITS, WEIGHT, key_column};
use crate::budget_split::{AggregatePlan, ComponentKind, WEIGHT_SCALE};
use crate::error::{Result, SqlError};

/// One released group: its keys and one value (with interval) per aggregate.
#[derive(Clone, Debug)]
pub(crate) struct ReleasedRow {
    pub keys: Vec<ScalarValue>,
    pub values: Vec<Option<f64>>,
    pub intervals: Vec<Option<ConfidenceInterval>>,
}

/// The exact bounded result of one group.
struct ExactGroup {
    units: u64,
    sums: Vec<i128>,
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

fn read_exact(
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
fn sorted_by_keys<T>(
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

/// The components whose exact sums come from the bounded aggregation
/// (quantile trees come from their own plans).
fn exact_components(a: &AggregatePlan) -> impl Iterator<Item = &crate::budget_split::Component> {
    a.components
        .iter()
        .filter(|c| c.kind != ComponentKind::QuantileTree)
}

/// Every combination of public key values, in declaration order.
fn cartesian(values: &[Vec<ScalarValue>]) -> Vec<Vec<ScalarValue>> {
    values.iter().fold(vec![Vec::new()], |acc, vs| {
        acc.iter()
            .flat_map(|prefix| {
                vs.iter().map(move |v| {
                    let mut p = prefix.clone();
                    p.push(v.clone());
                    p
                })
            })
            .collect()
    })
}

/// Selects groups and releases every aggregate of each kept group.
pub(crate) fn release_groups(
    prepared: &Prepared,
    batches: &[RecordBatch],
    leaves: &[Option<LeafCounts>],
    confidence: f64,
    rng: &mut SecureRng,
) -> Result<Vec<ReleasedRow>> {
    let key_types = &prepared.analysis.key_types;
    let aggregates = &prepared.aggregates;
    let public_values = prepared.analysis.public_values.as_ref();
    let selector = prepared.selector.as_ref();
    let min_units = prepared.min_units;
    let columns: Vec<String> = aggregates
        .iter()
        .flat_map(|a| exact_components(a).map(|c| c.column.clone()))
        .collect();
    let exact = read_exact(batches, key_types, &columns)?;
    let groups: Vec<(Vec<ScalarValue>, Vec<i128>)> = match public_values {
        Some(values) => {
            let mut by_key: HashMap<Vec<ScalarValue>, Vec<i128>> =
                exact.into_iter().map(|(k, g)| (k, g.sums)).collect();
            cartesian(values)
                .into_iter()
                .map(|k| {
                    let sums = by_key.remove(&k).unwrap_or_else(|| vec![0; columns.len()]);
                    (k, sums)
                })
                .collect()
        }
        None => {
            let shift = min_units.unwrap_or(1).saturating_sub(1);
            // Selection and release in the order of the keys, not in the
            // hash aggregation's (data- and schedule-dependent) output order.
            sorted_by_keys(exact, key_types)?
                .into_iter()
                .filter(|(_, g)| match selector {
                    // Requiring more units shifts the rule: a group of n units is
                    // treated as n − (min − 1), which keeps every DP constraint.
                    Some(s) => g.units > shift && s.keep(g.units - shift, rng),
                    None => true,
                })
                .map(|(k, g)| (k, g.sums))
                .collect()
        }
    };
    // Percentile interval radii depend only on public parameters: once per aggregate.
    let radii: Vec<Option<(&QuantileTree, &LaplaceMechanism, RankRadii)>> = aggregates
        .iter()
        .map(|a| match (&a.call.kind, a.components.first()) {
            (AggKind::Percentile(_), Some(c)) => c
                .tree
                .as_ref()
                .map(|t| Ok((t, &c.mechanism, t.rank_radii(&c.mechanism, confidence)?)))
                .transpose(),
            _ => Ok(None),
        })
        .collect::<Result<_>>()?;
    let mut rows = Vec::with_capacity(groups.len());
    for (keys, sums) in groups {
        let mut values = Vec::new();
        let mut intervals = Vec::new();
        let mut offset = 0;
        for (i, a) in aggregates.iter().enumerate() {
            let n = exact_components(a).count();
            let tree = radii.get(i).and_then(Option::as_ref);
            let (v, ci) = match (&a.call.kind, leaves.get(i).and_then(Option::as_ref), tree) {
                (AggKind::Percentile(p), Some(trees), Some(tree)) => {
                    release_percentile(tree, *p, trees.get(&keys), rng)?
                }
                _ => release_aggregate(a, &sums[offset..offset + n], confidence, rng)?,
            };
            offset += n;
            values.push(v);
            intervals.push(ci);
        }
        rows.push(ReleasedRow {
            keys,
            values,
            intervals,
        });
    }
    Ok(rows)
}

/// A percentile from the group's noisy quantile tree, with an interval that
/// covers the bounded data's percentile (see docs/privacy/quantile_tree.md).
fn release_percentile(
    (tree, mechanism, radii): &(&QuantileTree, &LaplaceMechanism, RankRadii),
    p: f64,
    leaves: Option<&Vec<(u64, u64)>>,
    rng: &mut SecureRng,
) -> Result<(Option<f64>, Option<ConfidenceInterval>)> {
    let leaves = leaves.map_or(&[][..], Vec::as_slice);
    let q =
        tree.quantiles_with_intervals(leaves, mechanism, &[p], radii, WEIGHT_SCALE as u64, rng)?;
    Ok(q.first()
        .map_or((None, None), |e| (Some(e.value), Some(e.interval))))
}

/// A noisy component value (value units) and its interval at `confidence`.
fn noisy(
    a: &AggregatePlan,
    i: usize,
    exact: i128,
    confidence: f64,
    rng: &mut SecureRng,
) -> Result<(f64, ConfidenceInterval)> {
    let c = &a.components[i];
    let m = c.mechanism.release_integer(exact, rng);
    let r = c.grid.spacing();
    let value = c.grid.from_lattice(m);
    let hw = c.mechanism.half_width(confidence)? * r;
    Ok((value, ConfidenceInterval::around(value, hw, confidence)))
}

fn release_aggregate(
    a: &AggregatePlan,
    sums: &[i128],
    confidence: f64,
    rng: &mut SecureRng,
) -> Result<(Option<f64>, Option<ConfidenceInterval>)> {
    let (lo, hi) = a.call.bounds.unwrap_or((0.0, 0.0));
    let mid = (lo + hi) / 2.0;
    let half = (hi - lo) / 2.0;
    match a.call.kind {
        AggKind::CountRows | AggKind::CountValues | AggKind::CountUnits | AggKind::Sum => {
            let (v, ci) = noisy(a, 0, sums[0], confidence, rng)?;
            if a.components[0].kind == ComponentKind::Count {
                // Counts are never negative (post-processing).
                let v = v.max(0.0);
                return Ok((
                    Some(v),
                    Some(ConfidenceInterval {
                        low: ci.low.max(0.0),
                        high: ci.high.max(0.0),
                        confidence,
                    }),
                ));
            }
            Ok((Some(v), Some(ci)))
        }
        AggKind::Mean => {
            // Each of the two parts at (1 + c)/2, so both hold with probability ≥ c.
            let part = (1.0 + confidence) / 2.0;
            let (count, count_ci) = noisy(a, 0, sums[0], part, rng)?;
            let (nsum, nsum_ci) = noisy(a, 1, sums[1], part, rng)?;
            let n = count.max(1.0);
            let mean = (mid + nsum / n).clamp(lo, hi);
            let (n_lo, n_hi) = (count_ci.low.max(1.0), count_ci.high.max(1.0));
            let candidates = [
                nsum_ci.low / n_lo,
                nsum_ci.low / n_hi,
                nsum_ci.high / n_lo,
                nsum_ci.high / n_hi,
            ];
            let low =
                (mid + candidates.iter().copied().fold(f64::INFINITY, f64::min)).clamp(lo, hi);
            let high =
                (mid + candidates.iter().copied().fold(f64::NEG_INFINITY, f64::max)).clamp(lo, hi);
            Ok((
                Some(mean),
                Some(ConfidenceInterval {
                    low,
                    high,
                    confidence,
                }),
            ))
        }
        AggKind::Variance | AggKind::StdDev => {
            let part = 1.0 - (1.0 - confidence) / 3.0;
            let (count, count_ci) = noisy(a, 0, sums[0], part, rng)?;
            let (nsum, nsum_ci) = noisy(a, 1, sums[1], part, rng)?;
            let (nsq, nsq_ci) = noisy(a, 2, sums[2], part, rng)?;
            let n = count.max(1.0);
            let max_var = half * half;
            let var = (nsq / n - (nsum / n).powi(2)).clamp(0.0, max_var);
            let (n_lo, n_hi) = (count_ci.low.max(1.0), count_ci.high.max(1.0));
            let mean_dev = [
                nsum_ci.low / n_lo,
                nsum_ci.low / n_hi,
                nsum_ci.high / n_lo,
                nsum_ci.high / n_hi,
            ];
            let dev_sq_max = mean_dev.iter().map(|d| d * d).fold(0.0, f64::max);
            let dev_sq_min =
                if mean_dev.iter().any(|d| *d <= 0.0) && mean_dev.iter().any(|d| *d >= 0.0) {
                    0.0
                } else {
                    mean_dev.iter().map(|d| d * d).fold(f64::INFINITY, f64::min)
                };
            let sq = [
                nsq_ci.low / n_lo,
                nsq_ci.low / n_hi,
                nsq_ci.high / n_lo,
                nsq_ci.high / n_hi,
            ];
            let sq_lo = sq.iter().copied().fold(f64::INFINITY, f64::min);
            let sq_hi = sq.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let var_lo = (sq_lo - dev_sq_max).clamp(0.0, max_var);
            let var_hi = (sq_hi - dev_sq_min).clamp(0.0, max_var);
            if a.call.kind == AggKind::StdDev {
                return Ok((
                    Some(var.sqrt()),
                    Some(ConfidenceInterval {
                        low: var_lo.sqrt(),
                        high: var_hi.sqrt(),
                        confidence,
                    }),
                ));
            }
            Ok((
                Some(var),
                Some(ConfidenceInterval {
                    low: var_lo,
                    high: var_hi,
                    confidence,
                }),
            ))
        }
        AggKind::Percentile(_) => Ok((None, None)),
    }
}
