//! Human-readable release tables (comfy-table): each value with its
//! confidence interval and a `~` on values too noisy to act on.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::arrow::util::display::array_value_to_string;
use std::collections::HashSet;

use privagg_sql::CellAccuracy;

/// A number with precision suited to its size.
pub fn number(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let a = x.abs();
    if a >= 1000.0 || x.fract() == 0.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// One batch's columns as `Float64` (cast once), `None` for non-numeric ones.
fn as_floats(batch: &RecordBatch) -> Vec<Option<ArrayRef>> {
    batch
        .columns()
        .iter()
        .map(|c| cast(c, &DataType::Float64).ok())
        .collect()
}

/// One rendered cell: `value [low, high]` (with `~` when `noisy`) when the
/// interval columns are given, else the value alone.
fn value_cell(
    batch: &RecordBatch,
    floats: &[Option<ArrayRef>],
    column: usize,
    row: usize,
    ci: Option<(usize, usize)>,
    noisy: bool,
) -> String {
    let col = batch.column(column);
    if col.is_null(row) {
        return "NULL".into();
    }
    let as_f64 = |i: usize| -> Option<f64> {
        let a = floats.get(i)?.as_ref()?.as_primitive::<Float64Type>();
        (!a.is_null(row)).then(|| a.value(row))
    };
    match (ci, as_f64(column)) {
        (Some((lo, hi)), Some(v)) => match (as_f64(lo), as_f64(hi)) {
            (Some(l), Some(h)) => {
                format!(
                    "{} [{}, {}]{}",
                    number(v),
                    number(l),
                    number(h),
                    if noisy { " ~" } else { "" }
                )
            }
            _ => number(v),
        },
        (None, Some(v)) if col.data_type().is_floating() => number(v),
        _ => array_value_to_string(col, row).unwrap_or_default(),
    }
}

/// Renders batches as an aligned text table, folding `<col>_ci_low` and
/// `<col>_ci_high` into the value column as `value [low, high]`.
pub fn release_table(batches: &[RecordBatch], accuracy: &[CellAccuracy]) -> String {
    let flagged: HashSet<(usize, &str)> = accuracy
        .iter()
        .filter(|c| c.too_noisy)
        .map(|c| (c.row, c.column.as_str()))
        .collect();
    table(batches, Some(&flagged))
}

/// Renders batches as an aligned text table with every column shown
/// (intervals as their own columns), numbers rounded for reading.
pub fn plain_table(batches: &[RecordBatch]) -> String {
    table(batches, None)
}

/// `fold`: intervals folded into their value's cell, `~` on flagged cells.
fn table(batches: &[RecordBatch], fold: Option<&HashSet<(usize, &str)>>) -> String {
    let Some(first) = batches.first() else {
        return "(no rows)\n".into();
    };
    let schema = first.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let shown: Vec<(usize, Option<(usize, usize)>)> = names
        .iter()
        .enumerate()
        .filter(|(_, n)| fold.is_none() || (!n.ends_with("_ci_low") && !n.ends_with("_ci_high")))
        .map(|(i, n)| {
            let lo = names.iter().position(|m| *m == format!("{n}_ci_low"));
            let hi = names.iter().position(|m| *m == format!("{n}_ci_high"));
            (i, if fold.is_some() { lo.zip(hi) } else { None })
        })
        .collect();
    let mut rows: Vec<Vec<String>> =
        vec![shown.iter().map(|(i, _)| names[*i].to_string()).collect()];
    let mut base = 0;
    for b in batches {
        let floats = as_floats(b);
        for r in 0..b.num_rows() {
            rows.push(
                shown
                    .iter()
                    .map(|(i, ci)| {
                        let noisy = fold.is_some_and(|f| f.contains(&(base + r, names[*i])));
                        value_cell(b, &floats, *i, r, *ci, noisy)
                    })
                    .collect(),
            );
        }
        base += b.num_rows();
    }
    if rows.len() == 1 {
        return "(no rows)\n".into();
    }
    let mut out = String::new();
    for line in aligned(&rows, true) {
        out.push_str("  ");
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Rows of cells as left-aligned lines (a rule under the first row when
/// `header`), trailing spaces trimmed.
pub fn aligned(rows: &[Vec<String>], header: bool) -> Vec<String> {
    // Only the header rule ('-' under each column), columns two spaces apart.
    const RULE_ONLY: &str = "     -             ";
    let mut table = comfy_table::Table::new();
    table
        .load_preset(if header {
            RULE_ONLY
        } else {
            comfy_table::presets::NOTHING
        })
        .set_content_arrangement(comfy_table::ContentArrangement::Disabled);
    let mut rows = rows.iter();
    if let Some(first) = rows.next() {
        if header {
            table.set_header(first.clone());
        } else {
            table.add_row(first.clone());
        }
    }
    for row in rows {
        table.add_row(row.clone());
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table
        .lines()
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// `segment column` of every cell flagged too noisy to act on.
pub fn noisy_cells(metadata: &privagg_sql::ReleaseMetadata) -> Vec<String> {
    metadata
        .accuracy
        .iter()
        .filter(|c| c.too_noisy)
        .map(|c| {
            let why = c.reason.as_deref().unwrap_or("too noisy");
            if c.segment.is_empty() {
                format!("{} ({why})", c.column)
            } else {
                format!("{} {} ({why})", c.segment, c.column)
            }
        })
        .collect()
}
