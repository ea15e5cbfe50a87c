//! # privagg
//!
//! A differential-privacy analytics aggregator: segment statistics with
//! user-level DP, exact integer noise, durable privacy budgets, and accuracy
//! statements on every released value.
//!
//! This facade re-exports the member crates:
//! - [`noise`] — validated privacy parameters, exact samplers, mechanisms,
//!   partition selection, quantiles and confidence intervals;
//! - [`budget`] — the privacy-budget accountant and ledger;
//! - [`sql`] — the SQL layer;
//!
//! and holds batch export ([`export`]: jobs, output formats, reports) and the
//! synthetic data generator ([`generate`]). The command line lives in the
//! binary; see `docs/architecture.md`.

pub use privagg_budget as budget;
pub use privagg_noise as noise;
pub use privagg_sql as sql;

pub mod cluster;
pub mod export;
pub mod generate;
pub mod html;

/// The embedded API: an [`Engine`] shared by every caller, a [`Session`]
/// per caller, and what a query returns.
pub use privagg_sql::{
    BatchQuery, Catalog, Engine, Explanation, QueryConfig, Release, ReleaseMetadata, Session,
    SqlError,
};
