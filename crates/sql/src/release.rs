//! The release: partition selection (or every public key), then each
//! aggregate's module releases each kept group (noise on every component,
//! post-processing, interval). Runs on the small exact bounded result, after
//! the budget was charged.

use std::collections::HashMap;

use datafusion::arrow::array::RecordBatch;
use datafusion::common::ScalarValue;
use privagg_noise::{ConfidenceInterval, SecureRng};

use crate::aggregate::{GroupInput, GroupRelease};
use crate::error::{Result, SqlError};
use crate::exact::{LeafCounts, read_exact, sorted_by_keys};
use crate::prepare::{Prepared, Selection};

/// One released group: its keys and one value (with interval) per aggregate.
#[derive(Clone, Debug)]
pub(crate) struct ReleasedRow {
    pub keys: Vec<ScalarValue>,
    pub values: Vec<Option<f64>>,
    pub intervals: Vec<Option<ConfidenceInterval>>,
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
    let min_units = prepared.min_units;
    let columns: Vec<String> = aggregates
        .iter()
        .flat_map(|a| a.inline_components().iter().map(|c| c.column.clone()))
        .collect();
    let exact = read_exact(batches, key_types, &columns)?;
    // The offset of each aggregate's sums in a group's row.
    let offsets: Vec<usize> = aggregates
        .iter()
        .scan(0, |at, a| {
            let start = *at;
            *at += a.inline_components().len();
            Some(start)
        })
        .collect();
    // (keys, exact sums, the unit count's noisy value if selection drew it)
    let groups: Vec<(Vec<ScalarValue>, Vec<i128>, Option<i128>)> = match public_values {
        Some(values) => {
            let mut by_key: HashMap<Vec<ScalarValue>, Vec<i128>> =
                exact.into_iter().map(|(k, g)| (k, g.sums)).collect();
            cartesian(values)
                .into_iter()
                .map(|k| {
                    let sums = by_key.remove(&k).unwrap_or_else(|| vec![0; columns.len()]);
                    (k, sums, None)
                })
                .collect()
        }
        None => {
            // Requiring more units shifts the rule: a group of n units is
            // treated as n − (min − 1), which keeps every DP constraint.
            let shift = min_units.unwrap_or(1).saturating_sub(1);
            // Selection and release in the order of the keys, not in the
            // hash aggregation's (data- and schedule-dependent) output order.
            let mut kept = Vec::new();
            for (k, g) in sorted_by_keys(exact, key_types)? {
                let drawn = match &prepared.selection {
                    Selection::All => None,
                    Selection::Selector(s) => {
                        if !(g.units > shift && s.keep(g.units - shift, rng)) {
                            continue;
                        }
                        None
                    }
                    Selection::Count {
                        aggregate,
                        threshold,
                    } => {
                        let count = aggregates[*aggregate]
                            .components
                            .first()
                            .zip(offsets.get(*aggregate).and_then(|o| g.sums.get(*o)));
                        let Some((c, exact)) = count else {
                            return Err(SqlError::Execution("the unit count is missing".into()));
                        };
                        // Drawn once: this noisy count decides and is released.
                        let noisy = c.noise.release_integer(*exact, rng)?;
                        if !(g.units > shift && noisy - i128::from(shift) >= *threshold) {
                            continue;
                        }
                        Some(noisy)
                    }
                };
                kept.push((k, g.sums, drawn));
            }
            kept
        }
    };
    let releasers: Vec<Box<dyn GroupRelease + '_>> = aggregates
        .iter()
        .map(|a| a.call.aggregate.releaser(a, confidence))
        .collect::<Result<_>>()?;
    let mut rows = Vec::with_capacity(groups.len());
    for (keys, sums, drawn) in groups {
        let mut values = Vec::new();
        let mut intervals = Vec::new();
        let mut offset = 0;
        for (i, (a, releaser)) in aggregates.iter().zip(&releasers).enumerate() {
            let n = a.inline_components().len();
            let input = GroupInput {
                drawn: match &prepared.selection {
                    Selection::Count { aggregate, .. } if *aggregate == i => drawn,
                    _ => None,
                },
                sums: &sums[offset..offset + n],
                leaves: leaves
                    .get(i)
                    .and_then(Option::as_ref)
                    .and_then(|trees| trees.get(&keys))
                    .map(Vec::as_slice),
            };
            let (v, ci) = releaser.release(&input, rng)?;
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
