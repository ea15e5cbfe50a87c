//! # privagg-sql
//!
//! Differentially private SQL on DataFusion: the catalog, the dialect
//! (`SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (...)`, `SET privagg.x`), the
//! analysis and rewrite of a query into a bounded exact aggregation made of
//! DataFusion operators and privagg functions, and the release: partition
//! selection, exact integer noise, post-processing, confidence intervals.
//!
//! The embedded API is [`PrivateContext`].

mod aggregate;
mod analyze;
mod batch;
mod bounded;
mod calibrate;
pub mod catalog;
mod context;
pub mod dialect;
mod error;
mod exact;
pub mod infer;
mod metadata;
pub mod options;
mod post_process;
mod prepare;
#[cfg(test)]
mod privacy_tests;
mod register;
mod release;
mod syntax;
mod total;
pub mod udf;

pub use aggregate::{ComponentKind, OutputAccuracy};
pub use batch::BatchQuery;
pub use catalog::{Catalog, ColumnConfig, TableConfig};
pub use context::{Explanation, PrivateContext, QueryConfig};
pub use error::{Result, SqlError};
pub use metadata::{
    BudgetShare, CellAccuracy, ColumnNoise, Release, ReleaseMetadata, TOO_NOISY_RELATIVE_HALF_WIDTH,
};
pub use options::{GroupSelection, OptionValues};
pub use register::TableSource;
