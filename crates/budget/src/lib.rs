//! # privagg-budget
//!
//! Exact privacy-budget accounting for privagg: amounts in exact fixed point,
//! basic (ε, δ) and ρ-zCDP filters, per-analyst and per-table scopes, a
//! durable SQLite ledger shared by processes, and a hash-chained audit log.
//!
//! The protocol: validate and plan the query; [`Ledger::charge`] atomically
//! checks every scope and charges all of them in one transaction; only then
//! read private data and draw noise; release only after `charge` returned.
//! Composition rules and references: `docs/privacy/composition.md`.

mod amount;
mod audit;
mod error;
mod filter;
mod ledger;
mod memory;
mod reconcile;
mod schema;
mod scope;
mod sqlite;

pub use amount::{Amount, DECIMALS, Rounding};
pub use audit::{
    AuditEntry, AuditVerification, Decision, GENESIS_HASH, format_time_ms, now_ms, verify_chain,
};
pub use error::BudgetError;
pub use filter::{admit, admit_all};
pub use ledger::{ChargeRecord, ChargeRequest, Ledger, Receipt, Rejection};
pub use memory::MemoryLedger;
pub use schema::SCHEMA_VERSION;
pub use scope::{Limit, PrivacyCost, Remaining, Scope, ScopeBudget, Spent};
pub use sqlite::{BUSY_TIMEOUT, LedgerOptions, SqliteLedger};
