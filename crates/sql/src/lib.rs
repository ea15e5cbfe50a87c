//! # privagg-sql
//!
//! Differentially private SQL on DataFusion: the catalog, the dialect
//! (`SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (...)`, `SET privagg.x`), the
//! analysis and rewrite of a query into a bounded exact aggregation made of
//! DataFusion operators and privagg functions, and the release: partition
//! selection, exact integer noise, post-processing, confidence intervals.
//!
//! The embedded API is [`Engine`] (shared: catalog, tables, ledger,
//! executor) and [`Session`] (one caller's settings).

mod aggregate;
mod analyze;
mod batch;
mod bounded;
mod calibrate;
pub mod catalog;
pub mod dialect;
mod dry_run;
mod engine;
mod error;
mod exact;
mod executor;
pub mod fused;
mod hidden;
pub mod infer;
pub mod ledger;
mod messages;
mod metadata;
mod named_args;
pub mod options;
mod post_process;
mod prepare;
#[cfg(test)]
mod privacy_tests;
pub mod proto;
mod register;
mod release;
mod request;
mod request_thread;
mod session;
mod syntax;
mod table_files;
mod total;
pub mod udf;
mod unwind;

pub use aggregate::{ComponentKind, OutputAccuracy};
pub use batch::BatchQuery;
pub use catalog::{Catalog, ColumnConfig, EngineConfig, EngineKind, TableConfig};
pub use engine::Engine;
pub use error::{Result, SqlError};
pub use executor::{Executor, ExecutorFailure, LocalExecutor};
pub use metadata::{
    BudgetShare, CellAccuracy, ColumnNoise, Release, ReleaseMetadata, TOO_NOISY_RANGE_FRACTION,
    TOO_NOISY_RELATIVE_HALF_WIDTH, too_noisy_reason,
};
pub use options::{GroupSelection, Mechanism, OptionValues};
pub use register::TableSource;
pub use request::{Alternative, Explanation, QueryConfig};
pub use session::Session;
