//! Column types read from a data file, for the data owner writing a catalog
//! (`privagg catalog add`). This reads the data, so it is the owner's action
//! on their own files, never part of answering a query: queries read private
//! CSV and JSON files with the catalog's declared types only.

use std::path::Path;

use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;

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
    let ctx = SessionContext::new();
    let df = crate::register::read_inferred(&ctx, path, usize::MAX, &|m| error(path, m)).await?;
    let columns: Vec<(String, DataType)> = df
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    if columns.is_empty() {
        return Err(error(
            path,
            "the file is empty: no header row naming its columns",
        ));
    }
    if columns.iter().all(|(_, t)| *t == DataType::Null) {
        return Err(error(
            path,
            "the file has a header but no rows, so no column type can be read from it: add rows, or write the table into the catalog by hand with a `type` for each column (docs/catalog.md)",
        ));
    }
    Ok(columns)
}
