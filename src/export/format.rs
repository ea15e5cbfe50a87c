//! The output formats of released rows — one enum for `privagg query
//! --format`, export jobs and the embedded API — and their encoders.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;
use datafusion::parquet::arrow::ArrowWriter;

/// A format for released rows.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// An aligned text table (values with their intervals when present).
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array of row objects.
    Json,
    /// Apache Parquet (uncompressed).
    Parquet,
    /// A self-contained HTML page with a chart per statistic (`privagg
    /// query` only; an export always writes `report.html`).
    Html,
}

impl Format {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Table => "txt",
            Format::Parquet => "parquet",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Html => "html",
        }
    }
}

/// Why released rows could not be encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// Arrow's CSV or JSON writer failed.
    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    /// The Parquet writer failed.
    #[error("parquet: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    /// JSON (re)encoding failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// The format needs more than the rows (an HTML page needs the release).
    #[error("{0}")]
    NeedsRelease(&'static str),
}

/// Encodes `batches` (all with `schema`) in `format`.
///
/// # Errors
/// [`EncodeError`] from the writer.
pub fn encode(
    batches: &[RecordBatch],
    schema: &Schema,
    format: Format,
) -> Result<Vec<u8>, EncodeError> {
    match format {
        Format::Table => Ok(super::text::plain_table(batches).into_bytes()),
        Format::Html => Err(EncodeError::NeedsRelease(
            "an HTML page is drawn from the whole release: use html::release_page",
        )),
        Format::Parquet => {
            let mut out = Vec::new();
            let mut w = ArrowWriter::try_new(&mut out, std::sync::Arc::new(schema.clone()), None)?;
            for b in batches {
                w.write(b)?;
            }
            w.close()?;
            Ok(out)
        }
        Format::Csv => {
            let mut w = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(Vec::new());
            if batches.is_empty() {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                return Ok(format!("{}\n", names.join(",")).into_bytes());
            }
            for b in batches {
                w.write(b)?;
            }
            Ok(w.into_inner())
        }
        Format::Json => {
            let rows = json_rows(batches)?;
            Ok(serde_json::to_vec_pretty(&rows)?)
        }
    }
}

/// Rows as a JSON array of objects.
///
/// # Errors
/// [`EncodeError`] from the writer.
pub fn json_rows(batches: &[RecordBatch]) -> Result<serde_json::Value, EncodeError> {
    let mut writer = datafusion::arrow::json::ArrayWriter::new(Vec::new());
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    writer.write_batches(&refs)?;
    writer.finish()?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(serde_json::Value::Array(Vec::new()));
    }
    Ok(serde_json::from_slice(&bytes)?)
}
