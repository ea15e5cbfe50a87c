//! # privagg on Apache Ballista
//!
//! Distributed execution of privagg's bounded plans: the client analyses
//! the query, charges the budget and adds the noise; a Ballista cluster
//! runs only the bounded plan (clamping, per-unit bounding, per-group exact
//! sums) and sends back one row per group. Executors never see ε, the noise
//! or the ledger. The argument is in `docs/privacy/distributed.md`, the
//! operations guide in `docs/distributed.md`.
//!
//! - [`BallistaExecutor`]: the engine's executor seam over a scheduler
//!   (`df://host:port`) or an in-process standalone cluster;
//! - [`process`]: the scheduler and executor processes `privagg scheduler`
//!   and `privagg executor` run, with privagg's functions and codecs;
//! - [`codec`], [`state`]: what every process of the cluster shares.

pub mod codec;
mod executor;
pub mod logging;
pub mod process;
pub mod state;

pub use executor::{BallistaExecutor, CONNECT_TIMEOUT, host_port};
