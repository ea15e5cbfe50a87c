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
    Ok(df
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect())
}
