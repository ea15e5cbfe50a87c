//! Applies the analyst's HAVING / ORDER BY / LIMIT / select-list expressions
//! to the released values: the aggregation node of their plan is replaced by
//! a scan of the released table with the same schema, and DataFusion runs the
//! rest. Confidence-interval columns ride along as hidden columns and come
//! out as `<column>_ci_low` / `<column>_ci_high` for every output column that
//! is an aggregate (possibly renamed).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Float64Array, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::Float64Type;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::default_table_source::provider_as_source;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchemaRef, ScalarValue};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, Projection};

use crate::error::{Result, SqlError};
use crate::hidden::{AGGREGATE, HIDDEN, HIGH, LOW, RANGE, hidden, is_hidden};
use crate::release::ReleasedRow;

fn plan_error(e: impl std::fmt::Display) -> SqlError {
    SqlError::Execution(format!(
        "applying HAVING / ORDER BY / LIMIT failed: {}",
        crate::syntax::clean(&e.to_string())
    ))
}

/// An internal column name and the qualifier of the field it stands for.
type Qualified = (String, Option<String>);

/// The released rows as a batch shaped like the aggregation's output, plus
/// hidden interval and range columns for each aggregate (`ranges[i]`: the
/// width of aggregate i's declared value range).
fn released_batch(
    rows: &[ReleasedRow],
    schema: &DFSchemaRef,
    n_keys: usize,
    ranges: &[Option<f64>],
) -> Result<(RecordBatch, Vec<Qualified>)> {
    let mut columns: Vec<ArrayRef> = Vec::new();
    let mut fields = Vec::new();
    let mut names = Vec::new(); // (internal name, qualifier) per aggregation output field
    for (i, (qualifier, field)) in schema.iter().enumerate() {
        let internal = format!("c{i}");
        let array: ArrayRef = if i < n_keys {
            ScalarValue::iter_to_array(rows.iter().map(|r| r.keys[i].clone()))
                .or_else(|_| {
                    Ok::<_, datafusion::error::DataFusionError>(
                        datafusion::arrow::array::new_empty_array(field.data_type()),
                    )
                })
                .map_err(plan_error)?
        } else {
            let values = Float64Array::from(
                rows.iter()
                    .map(|r| r.values[i - n_keys])
                    .collect::<Vec<_>>(),
            );
            let target = field.data_type();
            let v: ArrayRef = Arc::new(values);
            if target == &DataType::Float64 {
                v
            } else {
                cast(&v, target).map_err(plan_error)?
            }
        };
        let array = if rows.is_empty() {
            datafusion::arrow::array::new_empty_array(field.data_type())
        } else {
            array
        };
        fields.push(Field::new(&internal, field.data_type().clone(), true));
        columns.push(array);
        names.push((internal, qualifier.map(|q| q.to_string())));
    }
    for i in 0..schema.fields().len().saturating_sub(n_keys) {
        for (which, pick) in [(LOW, true), (HIGH, false)] {
            let v = Float64Array::from(
                rows.iter()
                    .map(|r| r.intervals[i].map(|ci| if pick { ci.low } else { ci.high }))
                    .collect::<Vec<_>>(),
            );
            fields.push(Field::new(
                hidden(&format!("c{}", i + n_keys), which),
                DataType::Float64,
                true,
            ));
            columns.push(Arc::new(v));
        }
        let range = ranges.get(i).copied().flatten();
        fields.push(Field::new(
            hidden(&format!("c{}", i + n_keys), RANGE),
            DataType::Float64,
            true,
        ));
        columns.push(Arc::new(Float64Array::from(vec![range; rows.len()])));
        fields.push(Field::new(
            hidden(&format!("c{}", i + n_keys), AGGREGATE),
            DataType::Float64,
            true,
        ));
        columns.push(Arc::new(Float64Array::from(vec![i as f64; rows.len()])));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(plan_error)?;
    Ok((batch, names))
}

/// Replaces the aggregation in `plan` with the released values and threads
/// the interval (and range) columns up through every projection.
pub(crate) fn upper_plan(
    plan: &LogicalPlan,
    rows: &[ReleasedRow],
    n_keys: usize,
    ranges: &[Option<f64>],
) -> Result<LogicalPlan> {
    let mut replaced = false;
    let out = plan
        .clone()
        .transform_up(|node| {
            if let LogicalPlan::Aggregate(agg) = &node {
                let (batch, names) = released_batch(rows, &agg.schema, n_keys, ranges)
                    .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
                let table = MemTable::try_new(batch.schema(), vec![vec![batch.clone()]])?;
                let scan = LogicalPlanBuilder::scan(
                    "__privagg_release",
                    provider_as_source(Arc::new(table)),
                    None,
                )?
                .build()?;
                let mut exprs: Vec<Expr> = Vec::new();
                for ((internal, _), (qualifier, field)) in names.iter().zip(agg.schema.iter()) {
                    exprs.push(
                        Expr::Column(Column::new(Some("__privagg_release"), internal))
                            .alias_qualified(qualifier.cloned(), field.name()),
                    );
                }
                for (i, (_, field)) in agg.schema.iter().enumerate().skip(n_keys) {
                    for which in HIDDEN {
                        exprs.push(
                            Expr::Column(Column::new(
                                Some("__privagg_release"),
                                hidden(&format!("c{i}"), which),
                            ))
                            .alias(hidden(field.name(), which)),
                        );
                    }
                }
                replaced = true;
                return Ok(Transformed::yes(LogicalPlan::Projection(
                    Projection::try_new(exprs, Arc::new(scan))?,
                )));
            }
            if !replaced {
                return Ok(Transformed::no(node));
            }
            match node {
                LogicalPlan::Projection(p) => {
                    let mut exprs = p.expr.clone();
                    let input_names: Vec<String> = p
                        .input
                        .schema()
                        .fields()
                        .iter()
                        .map(|f| f.name().clone())
                        .collect();
                    for (idx, e) in p.expr.iter().enumerate() {
                        let out_name = p.schema.field(idx).name().clone();
                        let mut inner = e;
                        while let Expr::Alias(a) = inner {
                            inner = &a.expr;
                        }
                        let source = match inner {
                            Expr::Column(c) => Some(c.name.clone()),
                            _ => None,
                        };
                        let Some(source) = source else { continue };
                        for which in HIDDEN {
                            let h = hidden(&source, which);
                            if input_names.contains(&h) {
                                exprs.push(
                                    Expr::Column(Column::from_name(h))
                                        .alias(hidden(&out_name, which)),
                                );
                            }
                        }
                    }
                    Ok(Transformed::yes(LogicalPlan::Projection(
                        Projection::try_new(exprs, p.input)?,
                    )))
                }
                other => Ok(Transformed::yes(other.recompute_schema()?)),
            }
        })
        .map_err(plan_error)?
        .data;
    Ok(out)
}

/// An interval end in its value's number type: an integer value (a count)
/// gets integer ends, rounded outward (the low end down, the high end up), so
/// the interval still holds every integer it held; other values keep `Float64`.
fn interval_column(end: &ArrayRef, value: &DataType, which: &str) -> Result<(DataType, ArrayRef)> {
    if !value.is_integer() {
        return Ok((DataType::Float64, Arc::clone(end)));
    }
    let floats = cast(end, &DataType::Float64).map_err(plan_error)?;
    let floats = floats.as_primitive::<Float64Type>();
    let rounded: Float64Array = floats.unary(|x| if which == LOW { x.floor() } else { x.ceil() });
    let column = cast(&rounded, value).map_err(plan_error)?;
    Ok((value.clone(), column))
}

/// Splits executed batches into the analyst's columns and, when asked,
/// `<col>_ci_low` / `<col>_ci_high` columns after each aggregate column.
pub(crate) fn finish(batches: Vec<RecordBatch>, with_intervals: bool) -> Result<Vec<RecordBatch>> {
    batches
        .into_iter()
        .map(|b| {
            let schema = b.schema();
            let mut fields = Vec::new();
            let mut columns = Vec::new();
            for (i, f) in schema.fields().iter().enumerate() {
                if is_hidden(f.name()) {
                    continue;
                }
                fields.push(f.as_ref().clone());
                columns.push(b.column(i).clone());
                if !with_intervals {
                    continue;
                }
                for (which, suffix) in [(LOW, "_ci_low"), (HIGH, "_ci_high")] {
                    if let Ok(j) = schema.index_of(&hidden(f.name(), which)) {
                        let (ty, column) = interval_column(b.column(j), f.data_type(), which)?;
                        fields.push(Field::new(format!("{}{suffix}", f.name()), ty, true));
                        columns.push(column);
                    }
                }
            }
            RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(plan_error)
        })
        .collect()
}
