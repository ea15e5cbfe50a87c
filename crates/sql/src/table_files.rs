//! Checks on a table's files before they are registered, so that a broken
//! file is a catalog error at load time (nothing charged) rather than a
//! failure, a hang or a panic after the charge:
//! - only regular files and folders: a FIFO would block the reader forever,
//!   a device or socket is not data;
//! - CSV: every file of a folder has the same header, with no column name
//!   twice (the files are read by position against the first file's header,
//!   so a different header would silently shift columns);
//! - Parquet: every footer parses (a footer whose length exceeds the file
//!   made the async reader panic), every file has the same schema, and no
//!   column name appears twice.

use std::fs::File;
use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::Schema;
use datafusion::parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};

use crate::error::{Result, SqlError};

/// Files and folders below `path` (itself included), in name order.
fn entries(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    out.push(path.to_path_buf());
    if std::fs::metadata(path)?.is_dir() {
        let mut children: Vec<PathBuf> = std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()?;
        children.sort();
        for child in children {
            entries(&child, out)?;
        }
    }
    Ok(())
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| extensions.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Checks the files of a table path for `format` (`csv`, `parquet`, `json`).
///
/// # Errors
/// `describe(message)` naming the file at fault.
pub(crate) fn check_table_files(
    path: &Path,
    format: &str,
    describe: &dyn Fn(String) -> SqlError,
) -> Result<()> {
    let mut all = Vec::new();
    entries(path, &mut all)
        .map_err(|e| describe(format!("cannot list {}: {e}", path.display())))?;
    let mut data = Vec::new();
    for p in all {
        let meta = std::fs::metadata(&p)
            .map_err(|e| describe(format!("cannot read {}: {e}", p.display())))?;
        if meta.is_dir() {
            continue;
        }
        if !meta.is_file() {
            return Err(describe(format!(
                "{} is not a regular file (a FIFO, device or socket); privagg reads only regular files",
                p.display()
            )));
        }
        let extensions: &[&str] = match format {
            "csv" => &["csv"],
            "parquet" => &["parquet"],
            _ => &["json", "jsonl", "ndjson"],
        };
        if p == path || has_extension(&p, extensions) {
            data.push(p);
        }
    }
    match format {
        "csv" => same_schema(&data, csv_header, describe),
        "parquet" => same_schema(&data, parquet_schema, describe),
        _ => Ok(()),
    }
}

/// Every file's schema (by `read`) has distinct column names and equals the first's.
fn same_schema(
    files: &[PathBuf],
    read: fn(&Path) -> std::result::Result<Schema, String>,
    describe: &dyn Fn(String) -> SqlError,
) -> Result<()> {
    let mut first: Option<(&PathBuf, Schema)> = None;
    for f in files {
        let schema = read(f).map_err(|e| describe(format!("cannot read {}: {e}", f.display())))?;
        let mut names: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| f.name().to_lowercase())
            .collect();
        names.sort();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(describe(format!(
                "{}: column '{}' appears more than once (names are compared ignoring case); rename one",
                f.display(),
                w[0]
            )));
        }
        match &first {
            None => first = Some((f, schema)),
            Some((file, expected)) if !same_fields(expected, &schema) => {
                return Err(describe(format!(
                    "{} has columns ({}) but {} has ({}): every file of a table must have the same columns",
                    f.display(),
                    field_list(&schema),
                    file.display(),
                    field_list(expected)
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn same_fields(a: &Schema, b: &Schema) -> bool {
    a.fields().len() == b.fields().len()
        && a.fields()
            .iter()
            .zip(b.fields())
            .all(|(x, y)| x.name() == y.name() && x.data_type() == y.data_type())
}

fn field_list(s: &Schema) -> String {
    s.fields()
        .iter()
        .map(|f| match f.data_type() {
            // A CSV header has names only.
            datafusion::arrow::datatypes::DataType::Null => f.name().to_string(),
            ty => format!("{} {ty}", f.name()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A CSV file's header, every column as text.
fn csv_header(path: &Path) -> std::result::Result<Schema, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let (schema, _) = datafusion::arrow::csv::reader::Format::default()
        .with_header(true)
        .infer_schema(file, Some(0))
        .map_err(|e| e.to_string())?;
    if schema.fields().is_empty() {
        return Err("the file is empty: a CSV file needs a header row naming its columns".into());
    }
    Ok(schema)
}

/// A Parquet file's Arrow schema, from a footer read with bounds checks.
fn parquet_schema(path: &Path) -> std::result::Result<Schema, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
        .map_err(|e| format!("not a readable Parquet file ({e})"))?;
    Ok(meta.schema().as_ref().clone())
}
