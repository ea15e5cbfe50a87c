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
}

impl Format {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Table => "txt",
            Format::Parquet => "parquet",
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }
}

/// Encodes `batches` (all with `schema`) in `format`.
///
/// # Errors
/// The encoder's message.
pub fn encode(batches: &[RecordBatch], schema: &Schema, format: Format) -> Result<Vec<u8>, String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    match format {
        Format::Table => Ok(super::text::plain_table(batches).into_bytes()),
        Format::Parquet => {
            let mut out = Vec::new();
            let mut w = ArrowWriter::try_new(&mut out, std::sync::Arc::new(schema.clone()), None)
                .map_err(|x| e(&x))?;
            for b in batches {
                w.write(b).map_err(|x| e(&x))?;
            }
            w.close().map_err(|x| e(&x))?;
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
                w.write(b).map_err(|x| e(&x))?;
            }
            Ok(w.into_inner())
        }
        Format::Json => {
            let rows = json_rows(batches)?;
            serde_json::to_vec_pretty(&rows).map_err(|x| e(&x))
        }
    }
}

/// Rows as a JSON array of objects.
///
/// # Errors
/// The encoder's message.
pub fn json_rows(batches: &[RecordBatch]) -> Result<serde_json::Value, String> {
    let mut writer = datafusion::arrow::json::ArrayWriter::new(Vec::new());
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    writer.write_batches(&refs).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(serde_json::Value::Array(Vec::new()));
    }
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}
