//! Registers catalog tables in privagg's internal DataFusion session. A
//! private table is registered as a view that keeps only consenting rows with
//! a non-NULL privacy unit: every plan over it starts with that filter, and
//! nothing else can reach the raw file (the session is never handed out).
//! Private CSV and JSON files are read with the catalog's column types, never
//! with types inferred from private rows; Parquet carries its own schema.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::TableReference;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{
    CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionContext, col, try_cast,
};

use crate::catalog::{Catalog, TableConfig};
use crate::error::{Result, SqlError};
use crate::table_files::check_table_files;

/// Where a table's rows come from.
pub enum TableSource {
    /// A `.parquet`, `.csv` or `.json` (newline-delimited) file or directory.
    Path(std::path::PathBuf),
    /// Arrow batches held in memory.
    Batches(Vec<RecordBatch>),
}

/// The first file of a table path (itself, or the first in name order of a directory).
fn first_file(path: &Path) -> Option<std::path::PathBuf> {
    if !path.is_dir() {
        return Some(path.to_path_buf());
    }
    let mut files: Vec<_> = std::fs::read_dir(path)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files.into_iter().next()
}

pub(crate) fn format_of(path: &Path) -> Option<&'static str> {
    let probe = first_file(path)?;
    match probe.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "parquet" => Some("parquet"),
        "csv" => Some("csv"),
        "json" | "jsonl" | "ndjson" => Some("json"),
        _ => None,
    }
}

/// DataFusion's default number of rows looked at to infer a schema.
const DEFAULT_INFER_RECORDS: usize = 1000;

/// The JSON file extension DataFusion should list (`.json`, `.jsonl`, ...).
fn json_extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| format!(".{e}"))
        .unwrap_or_else(|| ".json".into())
}

/// Reads a file or directory with the types DataFusion infers from its first
/// `infer_records` rows (public tables; the owner's `catalog add`).
pub(crate) async fn read_inferred(
    ctx: &SessionContext,
    path: &Path,
    infer_records: usize,
    describe: &dyn Fn(String) -> SqlError,
) -> Result<DataFrame> {
    if let Some(scheme) = path.to_str().and_then(|p| p.split_once("://")).map(|s| s.0) {
        return Err(describe(format!(
            "{}: {scheme}:// object stores are not supported yet; use a local path or a \
             file:// URL (mount the bucket, or copy the files to every host that reads them)",
            path.display()
        )));
    }
    if !path.exists() {
        return Err(describe(format!("{} does not exist", path.display())));
    }
    if let Some(format) = format_of(path) {
        check_table_files(path, format, describe)?;
    }
    let p = path.to_string_lossy().to_string();
    let df = match format_of(path) {
        Some("parquet") => ctx.read_parquet(p, ParquetReadOptions::default()).await,
        Some("csv") => {
            let options = CsvReadOptions::new()
                .has_header(true)
                .schema_infer_max_records(infer_records);
            ctx.read_csv(p, options).await
        }
        Some("json") => {
            let ext = json_extension(path);
            let options = JsonReadOptions::default()
                .file_extension(&ext)
                .schema_infer_max_records(infer_records);
            ctx.read_json(p, options).await
        }
        _ => {
            return Err(describe(format!(
                "{}: use a .parquet, .csv or .json file (or a directory of them)",
                path.display()
            )));
        }
    };
    df.map_err(|e| describe(format!("cannot read {}: {e}", path.display())))
}

/// Reads a source as a DataFrame with DataFusion's own readers.
async fn read(
    ctx: &SessionContext,
    source: TableSource,
    describe: &dyn Fn(String) -> SqlError,
) -> Result<DataFrame> {
    match source {
        TableSource::Batches(batches) => {
            let schema = batches
                .first()
                .map(|b| b.schema())
                .ok_or_else(|| describe("no record batches given".into()))?;
            let table =
                MemTable::try_new(schema, vec![batches]).map_err(|e| describe(e.to_string()))?;
            ctx.read_table(Arc::new(table))
                .map_err(|e| describe(e.to_string()))
        }
        TableSource::Path(path) => read_inferred(ctx, &path, DEFAULT_INFER_RECORDS, describe).await,
    }
}

fn check_column(
    schema: &SchemaRef,
    name: &str,
    describe: &dyn Fn(String) -> SqlError,
) -> Result<DataType> {
    schema
        .field_with_name(name)
        .map(|f| f.data_type().clone())
        .map_err(|_| {
            let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            describe(format!(
                "column '{name}' not found (columns: {})",
                columns.join(", ")
            ))
        })
}

/// The plans of the registered views. DataFusion inlines a view into a query
/// as `SubqueryAlias(name, <view plan>)`; analysis recognises tables by
/// comparing with these plans, so nothing else can pass for a table.
#[derive(Clone, Debug, Default)]
pub(crate) struct Views {
    /// Private tables: catalog name and view plan.
    pub private: Vec<(String, LogicalPlan)>,
    /// Public tables likewise.
    pub public: Vec<(String, LogicalPlan)>,
}

impl Views {
    /// The private table that `SubqueryAlias(alias, plan)` inlines: the one
    /// named `alias` whose view plan is `plan`, else any whose view plan is
    /// `plan`. (Two catalog tables over the same file with the same unit and
    /// consent column have equal view plans: the name tells them apart, so
    /// the right table's policy applies and its cap is charged.)
    pub fn private_table(&self, alias: &TableReference, plan: &LogicalPlan) -> Option<&str> {
        let same_plan = |(_, p): &&(String, LogicalPlan)| p == plan;
        self.private
            .iter()
            .filter(same_plan)
            .find(|(n, _)| n.eq_ignore_ascii_case(alias.table()))
            .or_else(|| self.private.iter().find(same_plan))
            .map(|(n, _)| n.as_str())
    }

    /// Whether `plan` is a public table's view plan.
    pub fn is_public(&self, plan: &LogicalPlan) -> bool {
        self.public.iter().any(|(_, p)| p == plan)
    }
}

/// The type a private column is read as (declared in the catalog; the
/// consent column is boolean; anything undeclared is text).
fn read_type(table: &TableConfig, name: &str) -> std::result::Result<DataType, String> {
    if table.consent_column.as_deref() == Some(name) && !table.columns.contains_key(name) {
        return Ok(DataType::Boolean);
    }
    Ok(match table.columns.get(name) {
        Some(c) => c.read_type()?.unwrap_or(DataType::Utf8),
        None => DataType::Utf8,
    })
}

/// Reads a private CSV or JSON table with the catalog's types, never with
/// types inferred from its rows (one odd value in a private row must not
/// change a column's type or make loading fail). CSV: the header gives the
/// column names, every cell is read as text and converted with `TRY_CAST`
/// (a cell that does not convert is NULL). JSON: the declared columns (and
/// the unit and consent columns) are read with their types.
async fn read_declared(
    ctx: &SessionContext,
    table: &TableConfig,
    path: &Path,
    format: &str,
    describe: &dyn Fn(String) -> SqlError,
) -> Result<DataFrame> {
    let p = path.to_string_lossy().to_string();
    if format == "json" {
        let mut names: Vec<String> = table.columns.keys().cloned().collect();
        names.extend(table.consent_column.iter().cloned());
        names.push(table.privacy_unit.clone());
        names.sort();
        names.dedup();
        let fields = names
            .iter()
            .map(|n| Ok(Field::new(n, read_type(table, n).map_err(describe)?, true)))
            .collect::<Result<Vec<_>>>()?;
        let schema = Schema::new(fields);
        let ext = json_extension(path);
        return ctx
            .read_json(
                p,
                JsonReadOptions::default()
                    .file_extension(&ext)
                    .schema(&schema),
            )
            .await
            .map_err(|e| describe(format!("cannot read {}: {e}", path.display())));
    }
    let first =
        first_file(path).ok_or_else(|| describe(format!("{} holds no file", path.display())))?;
    let file = std::fs::File::open(&first)
        .map_err(|e| describe(format!("cannot read {}: {e}", first.display())))?;
    // The header only: `Some(0)` records.
    let (header, _) = datafusion::arrow::csv::reader::Format::default()
        .with_header(true)
        .infer_schema(file, Some(0))
        .map_err(|e| {
            describe(format!(
                "cannot read the header of {}: {e}",
                first.display()
            ))
        })?;
    let text = Schema::new(
        header
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), DataType::Utf8, true))
            .collect::<Vec<_>>(),
    );
    let raw = ctx
        .read_csv(
            p,
            // A row with too few cells gets NULLs instead of failing the load.
            CsvReadOptions::new()
                .has_header(true)
                .schema(&text)
                .truncated_rows(true),
        )
        .await
        .map_err(|e| describe(format!("cannot read {}: {e}", path.display())))?;
    let typed = text
        .fields()
        .iter()
        .map(|f| {
            let ty = read_type(table, f.name()).map_err(describe)?;
            let c = col(quoted(f.name()));
            Ok(if ty == DataType::Utf8 {
                c
            } else {
                try_cast(c, ty).alias(f.name())
            })
        })
        .collect::<Result<Vec<_>>>()?;
    raw.select(typed).map_err(|e| describe(e.to_string()))
}

/// Registers one private table: checks its policy against the data's schema
/// and installs the consent / NULL-unit filtering view under its name.
pub(crate) async fn register_private(
    ctx: &SessionContext,
    catalog: &Catalog,
    table: &TableConfig,
    source: TableSource,
) -> Result<LogicalPlan> {
    let err = |key: &str| {
        let key = key.to_string();
        move |message: String| catalog.error(Some(&table.name), Some(&key), message)
    };
    let declared = match &source {
        TableSource::Path(path) if path.exists() => match format_of(path) {
            Some(f @ ("csv" | "json")) => {
                check_table_files(path, f, &err("path"))?;
                Some((path.clone(), f))
            }
            _ => None,
        },
        _ => None,
    };
    let df = match declared {
        Some((path, format)) => read_declared(ctx, table, &path, format, &err("path")).await?,
        None => read(ctx, source, &err("path")).await?,
    };
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    check_column(&schema, &table.privacy_unit, &err("privacy_unit"))?;
    let mut filtered = df;
    if let Some(consent) = &table.consent_column {
        let ty = check_column(&schema, consent, &err("consent_column"))?;
        if ty != DataType::Boolean {
            return Err(err("consent_column")(format!(
                "column '{consent}' has type {ty}; the consent column must be boolean (true/false)"
            )));
        }
        filtered = filtered
            .filter(col(quoted(consent)).is_true())
            .map_err(|e| err("consent_column")(e.to_string()))?;
    }
    filtered = filtered
        .filter(col(quoted(&table.privacy_unit)).is_not_null())
        .map_err(|e| err("privacy_unit")(e.to_string()))?;
    for (name, c) in &table.columns {
        let key = format!("columns.{name}");
        let ty = check_column(&schema, name, &err(&key))?;
        if c.lower.is_some() && !ty.is_numeric() {
            return Err(err(&key)(format!(
                "column '{name}' has type {ty}; bounds need a numeric column"
            )));
        }
    }
    let plan = filtered.logical_plan().clone();
    ctx.deregister_table(table.name.as_str())
        .map_err(|e| err("name")(e.to_string()))?;
    ctx.register_table(table.name.as_str(), filtered.into_view())
        .map_err(|e| err("name")(e.to_string()))?;
    Ok(plan)
}

/// Registers a public table as-is.
pub(crate) async fn register_public(
    ctx: &SessionContext,
    catalog: &Catalog,
    name: &str,
    source: TableSource,
) -> Result<LogicalPlan> {
    let err = |message: String| catalog.error(Some(name), Some("path"), message);
    let df = read(ctx, source, &err).await?;
    let plan = df.logical_plan().clone();
    ctx.register_table(name, df.into_view())
        .map_err(|e| err(e.to_string()))?;
    Ok(plan)
}

/// Registers every table of a catalog.
pub(crate) async fn register_catalog(ctx: &SessionContext, catalog: &Catalog) -> Result<Views> {
    let mut views = Views::default();
    for t in &catalog.tables {
        let plan =
            register_private(ctx, catalog, t, TableSource::Path(catalog.resolve(&t.path))).await?;
        views.private.push((t.name.clone(), plan));
    }
    for p in &catalog.public_tables {
        let plan = register_public(
            ctx,
            catalog,
            &p.name,
            TableSource::Path(catalog.resolve(&p.path)),
        )
        .await?;
        views.public.push((p.name.clone(), plan));
    }
    Ok(views)
}

/// A column name quoted for `col()`, so mixed case and spaces survive.
pub(crate) fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
