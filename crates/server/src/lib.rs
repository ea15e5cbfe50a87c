//! # privagg-server
//!
//! privagg over the Postgres wire protocol (`privagg serve`): analysts
//! connect with psql, BI tools or any Postgres driver, authenticate with
//! SCRAM-SHA-256 as themselves (the Postgres user *is* the analyst, so one
//! analyst can never spend another's budget), and every statement goes
//! through the same DP engine as the CLI: private tables are never readable
//! raw, each query is charged to the analyst's durable budget before any
//! private data is read, and the charge comes back as a NOTICE.
//!
//! Built on `pgwire`. What works and what does not yet: `docs/server.md`.

mod answer;
mod credentials;
mod extended;
mod handler;
mod handlers;
mod idle;
mod login;
mod params;
mod pg_catalog;
mod rows;
mod serve;
mod sqlstate;
mod statement;
mod tls;

pub use credentials::{Credentials, CredentialsError, ITERATIONS, Verifier, default_path};
pub use login::{FIRST_DELAY, FREE_FAILURES, MAX_DELAY, WINDOW, delay_after};
pub use serve::{ServeConfig, ServeError, Server, start};
