//! # privagg-sql
//!
//! Differentially private SQL on DataFusion: the catalog, the dialect
//! (`SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (...)`, `SET privagg.x`), the
//! analysis and rewrite of a query into a bounded exact aggregation made of
//! DataFusion operators and privagg functions, and the release: partition
//! selection, exact integer noise, post-processing, confidence intervals.
//!
//! The embedded API is [`PrivateContext`].

mod analyze;
mod batch;
mod bounded;
pub mod budget_split;
pub mod catalog;
mod context;
pub mod dialect;
mod error;
pub mod infer;
mod noise_release;
pub mod options;
mod prepare;
#[cfg(test)]
mod privacy_tests;
mod register;
pub mod release;
mod syntax;
mod total;
pub mod udf;
mod upper;

pub use batch::BatchQuery;
pub use catalog::{Catalog, ColumnConfig, TableConfig};
pub use context::{Explanation, OutputAccuracy, PrivateContext, QueryConfig};
pub use error::{Result, SqlError};
pub use options::{GroupSelection, OptionValues};
pub use register::TableSource;
pub use release::{CellAccuracy, Release, ReleaseMetadata};
