//! The `privagg` command line: commands, exit codes, output formats.

pub mod catalog;
#[cfg(feature = "ballista")]
pub mod cluster;
pub mod export;
pub mod ledger;
pub mod query;
pub mod server;

use privagg_budget::BudgetError;
use privagg_sql::SqlError;

/// Exit code: anything else.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code: usage or catalog error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the query was rejected (nothing charged).
pub const EXIT_REJECTED: u8 = 3;
/// Exit code: the budget is exhausted (nothing charged).
pub const EXIT_BUDGET: u8 = 4;

/// An error of a command, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// From the SQL layer.
    #[error(transparent)]
    Sql(#[from] SqlError),
    /// Bad command-line usage.
    #[error("{0}")]
    Usage(String),
    /// Writing output failed.
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Sql(SqlError::Catalog { .. } | SqlError::UnknownAnalyst(_)) => EXIT_USAGE,
            CliError::Sql(SqlError::Rejected(_) | SqlError::InvalidSql(_)) => EXIT_REJECTED,
            CliError::Sql(SqlError::Budget(BudgetError::BudgetExhausted { .. })) => EXIT_BUDGET,
            _ => EXIT_FAILURE,
        }
    }
}
