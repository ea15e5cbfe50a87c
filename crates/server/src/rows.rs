//! Released Arrow batches as Postgres rows (text format): integers as
//! `int8`, floats as `float8`, booleans as `bool`, everything else as `text`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, Schema};
use datafusion::arrow::util::display::array_value_to_string;
use futures::stream;
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{DataRowEncoder, FieldInfo, QueryResponse, Response};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;

use crate::params::format_of;

/// The Postgres type a column is sent as.
pub(crate) fn pg_type(t: &DataType) -> Type {
    if t.is_integer() {
        Type::INT8
    } else if t.is_floating() || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) {
        Type::FLOAT8
    } else if *t == DataType::Boolean {
        Type::BOOL
    } else {
        Type::TEXT
    }
}

/// One cell, encoded as its column's type says.
fn encode(enc: &mut DataRowEncoder, array: &dyn Array, ty: &Type, row: usize) -> PgWireResult<()> {
    if array.is_null(row) {
        return enc.encode_field(&None::<String>);
    }
    let failed = |e: datafusion::arrow::error::ArrowError| PgWireError::ApiError(Box::new(e));
    match *ty {
        Type::INT8 => {
            let a = cast(array, &DataType::Int64).map_err(failed)?;
            enc.encode_field(&Some(a.as_primitive::<Int64Type>().value(row)))
        }
        Type::FLOAT8 => {
            let a = cast(array, &DataType::Float64).map_err(failed)?;
            enc.encode_field(&Some(a.as_primitive::<Float64Type>().value(row)))
        }
        Type::BOOL => enc.encode_field(&Some(array.as_boolean().value(row))),
        _ => enc.encode_field(&Some(array_value_to_string(array, row).map_err(failed)?)),
    }
}

/// The row description of a schema, in the formats the client asked for.
pub(crate) fn fields(schema: &Schema, format: &Format) -> PgWireResult<Arc<Vec<FieldInfo>>> {
    let mut out = Vec::with_capacity(schema.fields().len());
    for (i, f) in schema.fields().iter().enumerate() {
        out.push(FieldInfo::new(
            f.name().clone(),
            None,
            None,
            pg_type(f.data_type()),
            format_of(format, i).map_err(PgWireError::UserError)?,
        ));
    }
    Ok(Arc::new(out))
}

/// Text columns (SHOW, EXPLAIN, version()) in the formats the client asked for.
pub(crate) fn text_fields(columns: &[&str], format: &Format) -> PgWireResult<Arc<Vec<FieldInfo>>> {
    let mut out = Vec::with_capacity(columns.len());
    for (i, c) in columns.iter().enumerate() {
        out.push(FieldInfo::new(
            (*c).to_string(),
            None,
            None,
            Type::TEXT,
            format_of(format, i).map_err(PgWireError::UserError)?,
        ));
    }
    Ok(Arc::new(out))
}

/// Batches as a query response (all rows encoded before it is sent: a
/// release is small, and an encoding error then fails the whole statement).
pub(crate) fn response(
    batches: &[RecordBatch],
    max_rows: usize,
    format: &Format,
) -> PgWireResult<Response> {
    let schema = batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| Arc::new(Schema::empty()));
    let fields = fields(&schema, format)?;
    let mut rows: Vec<PgWireResult<DataRow>> = Vec::new();
    'batches: for b in batches {
        for row in 0..b.num_rows() {
            if rows.len() >= max_rows {
                break 'batches;
            }
            let mut enc = DataRowEncoder::new(fields.clone());
            for (i, column) in b.columns().iter().enumerate() {
                encode(&mut enc, column.as_ref(), fields[i].datatype(), row)?;
            }
            rows.push(Ok(enc.take_row()));
        }
    }
    Ok(Response::Query(QueryResponse::new(
        fields,
        stream::iter(rows),
    )))
}

/// A response of text rows under text columns (SHOW, EXPLAIN, version()).
pub(crate) fn text_rows(
    columns: &[&str],
    rows: Vec<Vec<String>>,
    format: &Format,
) -> PgWireResult<Response> {
    let fields = text_fields(columns, format)?;
    let mut out = Vec::new();
    for row in rows {
        let mut enc = DataRowEncoder::new(fields.clone());
        for cell in row {
            enc.encode_field(&Some(cell))?;
        }
        out.push(Ok(enc.take_row()));
    }
    Ok(Response::Query(QueryResponse::new(
        fields,
        stream::iter(out),
    )))
}
