//! The one error type of `privagg-budget`.

use thiserror::Error;

/// Everything that can go wrong while accounting. No variant carries private
/// data: only public parameters, amounts of budget, and storage conditions.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BudgetError {
    /// The charge does not fit a scope's remaining budget. Nothing was charged.
    #[error("budget exhausted for {scope}: requested {requested}, remaining {remaining}")]
    BudgetExhausted {
        /// The scope that would overflow (`analyst 'alice'`, `table 'customers'`).
        scope: String,
        /// What the request costs.
        requested: String,
        /// What the scope has left.
        remaining: String,
    },
    /// A privacy amount is negative, non-finite, out of range or malformed.
    #[error("invalid privacy amount {value}: {reason}")]
    InvalidAmount {
        /// The offending value.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// A charge to a zCDP-limited scope has no ρ.
    #[error(
        "{scope} has a zCDP (rho) budget, but this release has no rho-zCDP guarantee (selecting group keys found in private data costs a delta that zCDP cannot state): declare public_values for the GROUP BY columns, or use an (epsilon, delta) budget"
    )]
    NeedsZcdp {
        /// The scope.
        scope: String,
    },
    /// A refund names a charge that does not exist or was already refunded.
    #[error("cannot refund request '{request_id}': {reason}")]
    Refund {
        /// The request id of the charge.
        request_id: String,
        /// Why.
        reason: &'static str,
    },
    /// The ledger stayed locked by other processes longer than the busy timeout.
    #[error(
        "ledger {path} stayed locked by another process for more than {seconds} s; nothing was charged, retry later"
    )]
    Busy {
        /// Ledger file.
        path: String,
        /// The timeout.
        seconds: u64,
    },
    /// The disk (or the ledger's size cap) is full.
    #[error("ledger {path}: disk full; nothing was charged and no result was released")]
    DiskFull {
        /// Ledger file.
        path: String,
    },
    /// The ledger cannot be written.
    #[error("ledger {path} is read-only; nothing was charged and no result was released")]
    ReadOnly {
        /// Ledger file.
        path: String,
    },
    /// The file is not a privagg ledger, or is damaged.
    #[error(
        "ledger {path} is corrupt or not a SQLite database ({detail}); restore it from a backup"
    )]
    Corrupt {
        /// Ledger file.
        path: String,
        /// SQLite's description.
        detail: String,
    },
    /// The ledger was written by a newer privagg.
    #[error(
        "ledger {path} has schema version {found}, this privagg understands up to {supported}; upgrade privagg"
    )]
    SchemaVersion {
        /// Ledger file.
        path: String,
        /// Version in the file.
        found: i64,
        /// Newest known version.
        supported: i64,
    },
    /// The ledger's records do not agree (an edit outside privagg); nothing
    /// is charged on top of them.
    #[error(
        "the ledger's records do not agree ({detail}); nothing was charged and no result was released. Run `privagg audit verify` and restore the ledger from a backup"
    )]
    Unverified {
        /// What disagrees.
        detail: String,
    },
    /// Any other storage failure.
    #[error("ledger {path}: {detail}; nothing was charged and no result was released")]
    Storage {
        /// Ledger file.
        path: String,
        /// What failed.
        detail: String,
    },
}
