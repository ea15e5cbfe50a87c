//! The one error type of `privagg-sql`.

use privagg_budget::BudgetError;
use privagg_noise::NoiseError;
use thiserror::Error;

/// Everything that can go wrong between SQL text and a release.
///
/// Variants raised before the budget is charged may describe the query and
/// the catalog; [`SqlError::Execution`] (after the charge) never carries data.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SqlError {
    /// The catalog file is missing, malformed or inconsistent with the data.
    #[error("catalog {file}: {}{message}", location(table, key))]
    Catalog {
        /// The catalog file (or `<api>` for programmatic registration).
        file: String,
        /// The table concerned.
        table: Option<String>,
        /// The key concerned.
        key: Option<String>,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The query is not supported or not allowed; nothing was charged.
    #[error("query rejected: {0}")]
    Rejected(String),
    /// Malformed SQL or an unknown table/column; nothing was charged.
    #[error("invalid SQL: {0}")]
    InvalidSql(String),
    /// The analyst is not in the catalog.
    #[error("unknown analyst '{0}': add it under [[analysts]] in the catalog")]
    UnknownAnalyst(String),
    /// The budget could not be charged (exhausted, or the ledger failed).
    #[error(transparent)]
    Budget(#[from] BudgetError),
    /// A mechanism rejected its public parameters.
    #[error(transparent)]
    Noise(#[from] NoiseError),
    /// Reading the data failed after the budget was charged. The charge is
    /// kept (private data may have been read). The message names the stage,
    /// never a value.
    #[error(
        "query failed while reading data, after the budget was charged (the charge is kept): {0}"
    )]
    Execution(String),
    /// The engine that runs bounded plans (a Ballista cluster) cannot be
    /// reached; found before anything is charged.
    #[error("{0} (nothing was charged)")]
    Unavailable(String),
}

fn location(table: &Option<String>, key: &Option<String>) -> String {
    match (table, key) {
        (Some(t), Some(k)) => format!("table '{t}', key '{k}': "),
        (Some(t), None) => format!("table '{t}': "),
        (None, Some(k)) => format!("key '{k}': "),
        (None, None) => String::new(),
    }
}

/// Shorthand.
pub type Result<T> = std::result::Result<T, SqlError>;

/// A rejection with a message.
pub(crate) fn rejected(message: impl Into<String>) -> SqlError {
    SqlError::Rejected(message.into())
}
