//! The catalog file: which tables exist, which are private, their privacy
//! unit, consent column, contribution bounds, column bounds and public group
//! values; the analysts and their budgets; where the ledger lives.
//!
//! Format (contract, see `docs/catalog.md`):
//! ```toml
//! [ledger]
//! path = "privagg-ledger.db"
//! [defaults]                 # optional
//! epsilon = 1.0
//! delta = 1e-6
//! [[analysts]]
//! name = "alice"
//! epsilon = 10.0
//! delta = 1e-5
//! [[tables]]
//! name = "customers"
//! path = "data/customers.parquet"
//! privacy_unit = "customer_id"
//! consent_column = "consent"
//! max_groups_contributed = 1
//! max_rows_per_group = 1
//! [tables.columns.spend]
//! type = "float64"           # CSV/JSON: declared types, never inferred from rows
//! lower = 0.0
//! upper = 500.0
//! [tables.columns.segment]
//! public_values = ["bronze", "silver", "gold"]
//! [[public_tables]]
//! name = "segments"
//! path = "data/segments.csv"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use privagg_budget::{Limit, Scope};
use serde::Deserialize;

use crate::error::{Result, SqlError};

mod engine;
mod validate;

pub use engine::{EngineConfig, EngineKind};

/// The largest bound magnitude accepted (catalog and SQL alike).
pub(crate) const MAX_BOUND: f64 = 1e15;

/// The whole catalog.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Where the budget ledger lives.
    pub ledger: LedgerConfig,
    /// Query defaults (lowest precedence).
    #[serde(default)]
    pub defaults: Defaults,
    /// Analysts and their total budgets.
    #[serde(default)]
    pub analysts: Vec<AnalystConfig>,
    /// Private tables.
    #[serde(default)]
    pub tables: Vec<TableConfig>,
    /// Non-private reference tables.
    #[serde(default)]
    pub public_tables: Vec<PublicTableConfig>,
    /// Where bounded plans run (`[engine]`; local by default).
    #[serde(default)]
    pub engine: EngineConfig,
    /// The directory relative paths are resolved against.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The file it was read from (for messages).
    #[serde(skip)]
    pub file: String,
}

/// `[ledger]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    /// SQLite file, created if missing.
    pub path: PathBuf,
}

/// `[defaults]`: lowest-precedence query options.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Default ε per query.
    pub epsilon: Option<f64>,
    /// Default δ per query.
    pub delta: Option<f64>,
}

/// `[[analysts]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalystConfig {
    /// Login name.
    pub name: String,
    /// Total ε budget (basic composition); or give `rho`.
    pub epsilon: Option<f64>,
    /// Total ρ budget (zCDP composition); or give `epsilon`.
    pub rho: Option<f64>,
    /// Total δ budget; with `rho`, the δ at which the total is stated as (ε, δ).
    #[serde(default)]
    pub delta: f64,
}

/// `[[tables]]`: a private table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// SQL name.
    pub name: String,
    /// File or directory (`.parquet`, `.csv`, `.json`).
    pub path: PathBuf,
    /// The privacy-unit column (a customer id).
    pub privacy_unit: String,
    /// Only rows where this column is TRUE are ever read.
    pub consent_column: Option<String>,
    /// L0 default: groups one unit may contribute to.
    #[serde(default = "one")]
    pub max_groups_contributed: u32,
    /// L∞ default: rows of one unit counted in one group.
    #[serde(default = "one")]
    pub max_rows_per_group: u32,
    /// Optional ε cap across all analysts.
    pub epsilon: Option<f64>,
    /// Optional ρ (zCDP) cap across all analysts, instead of `epsilon`.
    pub rho: Option<f64>,
    /// Optional δ cap across all analysts (with `epsilon`; with `rho`, where
    /// the total is stated as (ε, δ)).
    pub delta: Option<f64>,
    /// Per-column bounds and public values.
    #[serde(default)]
    pub columns: BTreeMap<String, ColumnConfig>,
}

fn one() -> u32 {
    1
}

/// `[tables.columns.<name>]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnConfig {
    /// Lower clamping bound.
    pub lower: Option<f64>,
    /// Upper clamping bound.
    pub upper: Option<f64>,
    /// Public group keys: grouping by this column needs no partition selection.
    pub public_values: Option<Vec<toml::Value>>,
    /// The column's type (`int64`, `int32`, `float64`, `string`, `boolean`,
    /// `date`, `timestamp`, `decimal(p, s)`, or an Arrow type name). Private
    /// CSV and JSON tables are read with the declared types, never with types
    /// inferred from their rows (see [`ColumnConfig::read_type`]).
    #[serde(rename = "type", default)]
    pub data_type: Option<String>,
}

impl ColumnConfig {
    /// The type a private CSV/JSON column is read as: the declared `type`;
    /// else `float64` for a column with bounds; else the kind of its public
    /// values (integers → `int64`, numbers → `float64`, booleans → `boolean`);
    /// else `None` (text). Depends on the catalog only.
    ///
    /// # Errors
    /// A message when the declared type is not one privagg knows.
    pub fn read_type(&self) -> std::result::Result<Option<DataType>, String> {
        if let Some(t) = &self.data_type {
            return parse_type(t).map(Some);
        }
        if self.lower.is_some() || self.upper.is_some() {
            return Ok(Some(DataType::Float64));
        }
        let kind = self.public_values.as_ref().and_then(|v| v.first());
        Ok(match kind {
            Some(toml::Value::Integer(_)) => Some(DataType::Int64),
            Some(toml::Value::Float(_)) => Some(DataType::Float64),
            Some(toml::Value::Boolean(_)) => Some(DataType::Boolean),
            _ => None,
        })
    }
}

/// Parses a column type of the catalog.
///
/// # Errors
/// A message naming the accepted types.
pub fn parse_type(text: &str) -> std::result::Result<DataType, String> {
    let t = text.trim().to_ascii_lowercase();
    let simple = match t.as_str() {
        "bigint" | "int64" | "long" => Some(DataType::Int64),
        "int" | "integer" | "int32" => Some(DataType::Int32),
        "smallint" | "int16" => Some(DataType::Int16),
        "double" | "float64" | "float8" => Some(DataType::Float64),
        "float" | "real" | "float32" => Some(DataType::Float32),
        "string" | "text" | "varchar" | "utf8" => Some(DataType::Utf8),
        "bool" | "boolean" => Some(DataType::Boolean),
        "date" | "date32" => Some(DataType::Date32),
        "timestamp" => Some(DataType::Timestamp(TimeUnit::Nanosecond, None)),
        _ => None,
    };
    if let Some(ty) = simple {
        return Ok(ty);
    }
    if let Some(args) = t.strip_prefix("decimal(").and_then(|r| r.strip_suffix(')')) {
        let parts: Vec<&str> = args.split(',').map(str::trim).collect();
        if let [p, s] = parts.as_slice()
            && let (Ok(p), Ok(s)) = (p.parse::<u8>(), s.parse::<i8>())
            && (1..=38).contains(&p)
            && s >= 0
            && s as u8 <= p
        {
            return Ok(DataType::Decimal128(p, s));
        }
    }
    text.trim().parse::<DataType>().map_err(|_| {
        format!(
            "unknown type '{text}': use int64, int32, float64, string, boolean, date, timestamp or decimal(p, s)"
        )
    })
}

/// The catalog name of a type ([`parse_type`] reads it back).
pub fn type_name(ty: &DataType) -> String {
    match ty {
        DataType::Int64 => "int64".into(),
        DataType::Int32 => "int32".into(),
        DataType::Int16 | DataType::Int8 | DataType::UInt8 => "int16".into(),
        DataType::UInt16 | DataType::UInt32 => "int64".into(),
        DataType::Float64 => "float64".into(),
        DataType::Float32 | DataType::Float16 => "float32".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, None) => "timestamp".into(),
        DataType::Decimal128(p, s) => format!("decimal({p}, {s})"),
        other => other.to_string(),
    }
}

/// `[[public_tables]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicTableConfig {
    /// SQL name.
    pub name: String,
    /// File or directory.
    pub path: PathBuf,
}

impl Catalog {
    /// Reads and validates a catalog file (paths are relative to its directory).
    ///
    /// # Errors
    /// [`SqlError::Catalog`] naming the file, table and key at fault.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SqlError::Catalog {
            file: file.clone(),
            table: None,
            key: None,
            message: format!("cannot read the catalog ({e}); see docs/catalog.md for the format"),
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, &file, base)
    }

    /// Parses and validates catalog text.
    ///
    /// # Errors
    /// [`SqlError::Catalog`] for malformed TOML or inconsistent settings.
    pub fn parse(text: &str, file: &str, base_dir: PathBuf) -> Result<Self> {
        let mut catalog: Catalog = toml::from_str(text).map_err(|e| SqlError::Catalog {
            file: file.to_string(),
            table: None,
            key: None,
            message: format!("not a valid catalog: {}", one_line(text, &e)),
        })?;
        catalog.base_dir = base_dir;
        catalog.file = file.to_string();
        catalog.validate()?;
        Ok(catalog)
    }

    /// An error about this catalog.
    pub(crate) fn error(
        &self,
        table: Option<&str>,
        key: Option<&str>,
        message: impl Into<String>,
    ) -> SqlError {
        SqlError::Catalog {
            file: self.file.clone(),
            table: table.map(str::to_string),
            key: key.map(str::to_string),
            message: message.into(),
        }
    }

    /// A path from the catalog, resolved against the catalog's directory. A
    /// `file://` URL is its local path; another URL (`s3://…`) is returned
    /// as written, and refused when the table is read.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if let Some(text) = path.to_str()
            && text.contains("://")
        {
            return match url::Url::parse(text) {
                Ok(url) if url.scheme() == "file" => {
                    url.to_file_path().unwrap_or_else(|()| path.to_path_buf())
                }
                _ => path.to_path_buf(),
            };
        }
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    /// The ledger file.
    pub fn ledger_path(&self) -> PathBuf {
        self.resolve(&self.ledger.path)
    }

    /// A private table by name (case-insensitive).
    pub fn table(&self, name: &str) -> Option<&TableConfig> {
        self.tables
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// An analyst by name.
    pub fn analyst(&self, name: &str) -> Option<&AnalystConfig> {
        self.analysts.iter().find(|a| a.name == name)
    }
}

impl AnalystConfig {
    /// The analyst's budget scope and its limit.
    ///
    /// # Errors
    /// [`privagg_budget::BudgetError`] for an invalid budget.
    pub fn scope(&self) -> std::result::Result<(Scope, Limit), privagg_budget::BudgetError> {
        let limit = match self.rho {
            Some(rho) => Limit::zcdp(rho, self.delta)?,
            None => Limit::epsilon_delta(self.epsilon.unwrap_or(0.0), self.delta)?,
        };
        Ok((Scope::Analyst(self.name.clone()), limit))
    }
}

impl TableConfig {
    /// The table's budget scope and its cap, when the catalog sets one.
    ///
    /// # Errors
    /// [`privagg_budget::BudgetError`] for an invalid cap.
    pub fn scope(
        &self,
    ) -> std::result::Result<Option<(Scope, Limit)>, privagg_budget::BudgetError> {
        let delta = self.delta.unwrap_or(0.0);
        let limit = match (self.epsilon, self.rho) {
            (_, Some(rho)) => Limit::zcdp(rho, delta)?,
            (Some(eps), None) => Limit::epsilon_delta(eps, delta)?,
            (None, None) => return Ok(None),
        };
        Ok(Some((Scope::Table(self.name.clone()), limit)))
    }
}

/// A TOML error as one line: the message and where it is.
fn one_line(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("{message} (line {line}, column {column})")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests;
