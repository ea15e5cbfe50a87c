//! The ledger's SQLite schema, versioned with `PRAGMA user_version`.

use rusqlite::Transaction;

/// The schema version this privagg writes and understands.
///
/// 1: scopes, charges, audit, audit_head. 2: the audit log also records the
/// scopes each entry charged or refunded (so `audit verify` recomputes every
/// scope's spend from the chain alone), and is indexed by request id.
pub const SCHEMA_VERSION: i64 = 2;

/// Brings a version-1 ledger to version 2 inside `tx` (old entries keep
/// their hashes: an entry without scopes hashes as before).
pub(crate) fn upgrade_from_1(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "ALTER TABLE audit ADD COLUMN scopes TEXT;
         CREATE INDEX audit_request ON audit (request_id);
         PRAGMA user_version = 2;",
    )
}

/// Creates the current schema inside `tx`.
pub(crate) fn create_schema(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE scopes (
             scope          TEXT PRIMARY KEY,
             spent_epsilon  TEXT NOT NULL,
             spent_delta    TEXT NOT NULL,
             spent_rho      TEXT NOT NULL
         );
         CREATE TABLE charges (
             id          INTEGER PRIMARY KEY AUTOINCREMENT,
             request_id  TEXT NOT NULL UNIQUE,
             analyst     TEXT NOT NULL,
             scopes      TEXT NOT NULL,
             epsilon     TEXT NOT NULL,
             delta       TEXT NOT NULL,
             rho         TEXT,
             time_ms     INTEGER NOT NULL,
             refunded    INTEGER NOT NULL DEFAULT 0
         );
         CREATE TABLE audit (
             seq           INTEGER PRIMARY KEY,
             time_ms       INTEGER NOT NULL,
             analyst       TEXT NOT NULL,
             request_id    TEXT NOT NULL,
             request_text  TEXT NOT NULL,
             decision      TEXT NOT NULL,
             reason        TEXT NOT NULL,
             epsilon       TEXT NOT NULL,
             delta         TEXT NOT NULL,
             rho           TEXT,
             prev_hash     TEXT NOT NULL,
             hash          TEXT NOT NULL,
             scopes        TEXT
         );
         CREATE INDEX audit_request ON audit (request_id);
         CREATE TABLE audit_head (
             id    INTEGER PRIMARY KEY CHECK (id = 1),
             seq   INTEGER NOT NULL,
             hash  TEXT NOT NULL
         );
         PRAGMA user_version = 2;",
    )
}
