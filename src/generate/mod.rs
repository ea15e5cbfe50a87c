//! `privagg generate`: a synthetic customer base written as Parquet, with a
//! catalog that declares its privacy policy, ready for `privagg query`.

pub mod synthetic;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use privagg_noise::SecureRng;

use crate::export::write_atomically;
use synthetic::{Purchase, REGIONS, SEGMENTS};

/// Name of the generated private table.
pub const TABLE: &str = "purchases";
/// The analyst declared in the generated catalog.
pub const ANALYST: &str = "alice";

/// Errors of the generator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// A distribution parameter was rejected (a bug: they are constants).
    #[error("generating data: {0}")]
    Distribution(String),
    /// Building or encoding the Arrow/Parquet data failed.
    #[error("encoding Parquet: {0}")]
    Encode(String),
    /// Writing a file failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// What [`generate`] wrote.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The catalog file.
    pub catalog: PathBuf,
    /// The Parquet file of purchases.
    pub data: PathBuf,
    /// Purchase rows written (all customers, with and without consent).
    pub rows: usize,
    /// Customers generated.
    pub customers: u32,
}

/// Generates `customers` synthetic customers into `dir`: `data/purchases.parquet`
/// and `privagg.toml`. Existing files of those names are replaced atomically;
/// an existing ledger is kept (its budget history stays valid).
///
/// # Errors
/// [`GenerateError`] when a file cannot be written.
pub fn generate(customers: u32, dir: &Path) -> Result<Generated, GenerateError> {
    let mut rng = SecureRng::from_os();
    let rows = synthetic::generate(customers, &mut rng)
        .map_err(|e| GenerateError::Distribution(e.to_string()))?;
    let data_dir = dir.join("data");
    fs::create_dir_all(&data_dir).map_err(|source| GenerateError::Io {
        path: data_dir.clone(),
        source,
    })?;
    let data = data_dir.join(format!("{TABLE}.parquet"));
    let parquet = to_parquet(&rows)?;
    write_atomically(&data, &parquet).map_err(|source| GenerateError::Io {
        path: data.clone(),
        source,
    })?;
    let catalog = dir.join("privagg.toml");
    write_atomically(&catalog, catalog_text().as_bytes()).map_err(|source| GenerateError::Io {
        path: catalog.clone(),
        source,
    })?;
    Ok(Generated {
        catalog,
        data,
        rows: rows.len(),
        customers,
    })
}

fn to_parquet(rows: &[Purchase]) -> Result<Vec<u8>, GenerateError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Int64, false),
        Field::new("segment", DataType::Utf8, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("city", DataType::Utf8, false),
        Field::new("spend", DataType::Float64, false),
        Field::new("consent", DataType::Boolean, false),
    ]));
    let ids: Vec<i64> = rows
        .iter()
        .map(|r| i64::try_from(r.customer_id).unwrap_or(i64::MAX))
        .collect();
    let text = |f: fn(&Purchase) -> &'static str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids)),
        text(|r| r.segment),
        text(|r| r.region),
        text(|r| r.channel),
        text(|r| r.city),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.spend))),
        Arc::new(BooleanArray::from(
            rows.iter().map(|r| r.consent).collect::<Vec<_>>(),
        )),
    ];
    let encode = |e: &dyn std::fmt::Display| GenerateError::Encode(e.to_string());
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| encode(&e))?;
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema, None).map_err(|e| encode(&e))?;
    writer.write(&batch).map_err(|e| encode(&e))?;
    writer.close().map_err(|e| encode(&e))?;
    Ok(out)
}

fn quoted(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The catalog of the generated data.
pub fn catalog_text() -> String {
    format!(
        r#"# Catalog written by `privagg generate`. See docs/catalog.md.
[ledger]
path = "privagg-ledger.db"

[defaults]
epsilon = 1.0          # per query unless --epsilon or OPTIONS say otherwise
delta = 1e-6

[[analysts]]
name = "{ANALYST}"
epsilon = 10.0         # total budget
delta = 1e-5

[[tables]]
name = "{TABLE}"
path = "data/{TABLE}.parquet"
privacy_unit = "customer_id"
consent_column = "consent"     # customers without consent are never read
max_groups_contributed = 1
max_rows_per_group = 3
[tables.columns.spend]
lower = 0.0
upper = 500.0
[tables.columns.segment]
public_values = [{segments}]
[tables.columns.region]
public_values = [{regions}]
"#,
        segments = quoted(&SEGMENTS),
        regions = quoted(&REGIONS),
    )
}
