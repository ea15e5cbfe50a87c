//! Encoding released batches as CSV, JSON or Parquet bytes.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;
use datafusion::parquet::arrow::ArrowWriter;

/// A file format for released rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// Apache Parquet (uncompressed).
    Parquet,
    /// CSV with a header row.
    Csv,
    /// A JSON array of row objects.
    Json,
}

impl FileFormat {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Csv => "csv",
            FileFormat::Json => "json",
        }
    }
}

/// Encodes `batches` (all with `schema`) in `format`.
///
/// # Errors
/// The encoder's message.
pub fn encode(
    batches: &[RecordBatch],
    schema: &Schema,
    format: FileFormat,
) -> Result<Vec<u8>, String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    match format {
        FileFormat::Parquet => {
            let mut out = Vec::new();
            let mut w = ArrowWriter::try_new(&mut out, std::sync::Arc::new(schema.clone()), None)
                .map_err(|x| e(&x))?;
            for b in batches {
                w.write(b).map_err(|x| e(&x))?;
            }
            w.close().map_err(|x| e(&x))?;
            Ok(out)
        }
        FileFormat::Csv => {
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
        FileFormat::Json => {
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
