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
//! - [`sql`] — the SQL layer.

pub use privagg_budget as budget;
pub use privagg_noise as noise;
pub use privagg_sql as sql;

pub mod atomic;
pub mod cli;
pub mod demo;
pub mod export;
pub mod generate;
pub mod output;
pub mod render;
