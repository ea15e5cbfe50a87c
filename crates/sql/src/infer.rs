//! Column types read from a data file, for the data owner writing a catalog
//! (`privagg catalog add`). This reads the data, so it is the owner's action
//! on their own files, never part of answering a query: queries read private
//! CSV and JSON files with the catalog's declared types only.

use std::path::Path;

use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionContext};

use crate::error::{Result, SqlError};

fn error(path: &Path, message: impl std::fmt::Display) -> SqlError {
    SqlError::Catalog {
        file: path.display().to_string(),
        table: None,
        key: None,
        message: message.to_string(),
    }
}

/// The columns of a `.parquet`, `.csv` or `.json` file (or directory of them)
/// with the types of all their values (every row is looked at, so one
/// `12.5` among integers gives a floating-point column).
///
/// # Errors
/// [`SqlError::Catalog`] when the file cannot be read.
pub async fn infer_columns(path: &Path) -> Result<Vec<(String, DataType)>> {
    if !path.exists() {
        return Err(error(path, "does not exist"));
    }
    let ctx = SessionContext::new();
    let p = path.to_string_lossy().to_string();
    let ext = crate::register::format_of(path);
    let df = match ext {
        Some("parquet") => ctx.read_parquet(p, ParquetReadOptions::default()).await,
        Some("csv") => {
            ctx.read_csv(
                p,
                CsvReadOptions::new()
                    .has_header(true)
                    .schema_infer_max_records(usize::MAX),
            )
            .await
        }
        Some("json") => {
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .map(|e| format!(".{e}"))
                .unwrap_or_else(|| ".json".into());
            ctx.read_json(
                p,
                JsonReadOptions::default()
                    .file_extension(&ext)
                    .schema_infer_max_records(usize::MAX),
            )
            .await
        }
        _ => {
            return Err(error(
                path,
                "use a .parquet, .csv or .json file (or a directory of them)",
            ));
        }
    }
    .map_err(|e| error(path, format!("cannot read: {e}")))?;
    Ok(df
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect())
}
