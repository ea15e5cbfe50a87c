//! The durable ledger: one SQLite file (WAL, `synchronous = FULL`), shared by
//! processes. Every charge is one `BEGIN IMMEDIATE` transaction that reads the
//! spend of each scope, checks it, writes the new spend, the charge and its
//! audit entry, and commits; the commit returns only once it is on disk.
//!
//! Over 400 lines on purpose: every statement that touches the ledger's
//! tables is here, so the transaction discipline reads in one place.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{
    Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};

use crate::amount::Amount;
use crate::audit::{AuditEntry, AuditVerification, Decision, scope_keys};
use crate::error::BudgetError;
use crate::ledger::{
    ChargeRecord, ChargeRequest, Ledger, LedgerStore, Receipt, Rejection, charge_in, refund_in,
    reject_in, verify,
};
use crate::reconcile::Tables;
use crate::schema::{SCHEMA_VERSION, create_schema, upgrade_from_1};
use crate::scope::{PrivacyCost, Scope, Spent};

/// How to open a ledger.
#[derive(Clone, Debug, Default)]
pub struct LedgerOptions {
    /// Open for reading only (budget and audit display); charges then fail
    /// with [`BudgetError::ReadOnly`]. A ledger that SQLite cannot open
    /// read-only with locking (an archived copy on read-only storage, where
    /// the WAL index cannot be created) is opened `immutable`.
    pub read_only: bool,
    /// Cap on the database size in pages (a quota; writes beyond it fail with
    /// [`BudgetError::DiskFull`]). `None`: no cap.
    pub max_pages: Option<u64>,
}

/// The SQLite ledger.
///
/// ```
/// use privagg_budget::{ChargeRequest, Ledger, Limit, PrivacyCost, Scope, SqliteLedger};
/// let dir = tempfile::tempdir().unwrap();
/// let ledger = SqliteLedger::open(dir.path().join("ledger.db")).unwrap();
/// let receipt = ledger.charge(&ChargeRequest {
///     request_id: "q-1".into(),
///     analyst: "alice".into(),
///     request_text: "SELECT COUNT(*) FROM customers".into(),
///     cost: PrivacyCost::parse("0.5", "0").unwrap(),
///     scopes: vec![(Scope::Analyst("alice".into()), Limit::epsilon_delta(1.0, 1e-6).unwrap())],
/// }).unwrap();
/// assert_eq!(receipt.budgets[0].remaining(), "epsilon 0.5, delta 0.000001");
/// ```
#[derive(Debug)]
pub struct SqliteLedger {
    path: String,
    conn: Mutex<Connection>,
    options: LedgerOptions,
    /// The schema version of the file (a read-only ledger is not upgraded).
    version: i64,
    /// `<ledger>.lock`, taken (blocking, `flock`) around every write
    /// transaction: writers queue in the kernel instead of polling SQLite's
    /// lock, where a process that backs off loses to the others for as long
    /// as they keep charging (measured: 24 of 1,600 charges of 64 processes
    /// gave up after 30 s without it). `None` when it cannot be created
    /// (read-only storage), where SQLite's own lock still serialises.
    queue: Option<std::fs::File>,
}

impl SqliteLedger {
    /// Opens (creating if missing) a ledger with default options.
    ///
    /// # Errors
    /// [`BudgetError`] storage variants: unreadable, corrupt, newer schema, locked.
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Self, BudgetError> {
        Self::open_with(path, LedgerOptions::default())
    }

    /// Opens a ledger with explicit options.
    ///
    /// # Errors
    /// As [`Self::open`].
    pub fn open_with(
        path: impl AsRef<std::path::Path>,
        options: LedgerOptions,
    ) -> Result<Self, BudgetError> {
        let display = path.as_ref().display().to_string();
        // SQLite would block forever opening a FIFO, or misread a device.
        if let Ok(meta) = std::fs::metadata(path.as_ref())
            && !meta.is_file()
        {
            return Err(BudgetError::Storage {
                path: display,
                detail: "not a regular file (a folder, FIFO, device or socket); point [ledger] path at a ledger file".into(),
            });
        }
        let err = |e: rusqlite::Error| map_error(&display, e);
        let mut conn = if options.read_only {
            open_read_only(path.as_ref()).map_err(err)?
        } else {
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            Connection::open_with_flags(path.as_ref(), flags).map_err(err)?
        };
        conn.busy_handler(Some(wait_for_lock)).map_err(err)?;
        let queue = if options.read_only {
            None
        } else {
            let mut lock_path = path.as_ref().as_os_str().to_owned();
            lock_path.push(".lock");
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(lock_path)
                .ok()
        };
        // Processes opening a new ledger at once queue here too: switching it
        // to WAL needs SQLite's exclusive lock, which fails at once with
        // SQLITE_BUSY (no busy handler) while another connection holds any lock.
        let queued = queue.as_ref().is_some_and(|q| q.lock().is_ok());
        let opened = (|| {
            if !options.read_only {
                enable_wal(&conn, &display)?;
            }
            conn.pragma_update(None, "synchronous", "FULL")
                .map_err(err)?;
            if let Some(pages) = options.max_pages {
                let _: i64 = conn
                    .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
                        r.get(0)
                    })
                    .map_err(err)?;
            }
            let mut ledger = Self {
                path: display.clone(),
                conn: Mutex::new(conn),
                options,
                version: 0,
                queue: None,
            };
            ledger.version = ledger.ensure_schema()?;
            Ok(ledger)
        })();
        if queued && let Some(q) = &queue {
            let _ = q.unlock();
        }
        let mut ledger = opened?;
        ledger.queue = queue;
        Ok(ledger)
    }

    /// The ledger file.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// SQLite's `PRAGMA integrity_check` (`"ok"` when the file is sound).
    ///
    /// # Errors
    /// Storage errors.
    pub fn integrity_check(&self) -> Result<String, BudgetError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| self.error(e))
    }

    fn error(&self, e: rusqlite::Error) -> BudgetError {
        map_error(&self.path, e)
    }

    /// Creates or upgrades the schema; returns the file's version.
    fn ensure_schema(&self) -> Result<i64, BudgetError> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.error(e))?;
        if version == SCHEMA_VERSION {
            return Ok(version);
        }
        if version > SCHEMA_VERSION {
            return Err(BudgetError::SchemaVersion {
                path: self.path.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if self.options.read_only {
            if version > 0 {
                return Ok(version);
            }
            return Err(BudgetError::Storage {
                path: self.path.clone(),
                detail: "the ledger has not been created yet".into(),
            });
        }
        // Several processes may create the ledger at once: decide inside the write lock.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.error(e))?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.error(e))?;
        match version {
            0 => create_schema(&tx).map_err(|e| self.error(e))?,
            1 => upgrade_from_1(&tx).map_err(|e| self.error(e))?,
            _ => {}
        }
        tx.commit().map_err(|e| self.error(e))?;
        Ok(SCHEMA_VERSION)
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction, committed iff `f` returns `Ok`.
    fn transact<T>(
        &self,
        f: impl FnOnce(&mut SqlStore<'_>) -> Result<T, BudgetError>,
    ) -> Result<T, BudgetError> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        // Released when the file is unlocked below or the process dies; a
        // failure to take it only loses the queue's fairness.
        let queued = self.queue.as_ref().is_some_and(|q| q.lock().is_ok());
        let result = (|| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| self.error(e))?;
            let mut store = SqlStore {
                tx: &tx,
                ledger: self,
            };
            let out = f(&mut store)?;
            tx.commit().map_err(|e| self.error(e))?;
            Ok(out)
        })();
        if queued && let Some(q) = &self.queue {
            let _ = q.unlock();
        }
        result
    }

    /// Runs a read-only query outside any write transaction.
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, BudgetError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        f(&conn).map_err(|e| self.error(e))
    }
}

/// Switches the ledger to WAL (a no-op once it is). SQLite answers
/// `SQLITE_BUSY` without calling the busy handler while another connection
/// (a reader without the queue lock) holds the file, so this retries on the
/// busy handler's schedule, up to [`BUSY_TIMEOUT`].
fn enable_wal(conn: &Connection, path: &str) -> Result<(), BudgetError> {
    let mut retries = 0;
    let mode: String = loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)) {
            Ok(mode) => break mode,
            Err(e)
                if matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseBusy))
                    && wait_for_lock(retries) =>
            {
                retries += 1;
            }
            Err(e) => return Err(map_error(path, e)),
        }
    };
    if mode.eq_ignore_ascii_case("wal") {
        Ok(())
    } else {
        Err(BudgetError::Storage {
            path: path.to_string(),
            detail: format!("cannot enable WAL (journal mode is {mode})"),
        })
    }
}

/// Opens `path` read-only: with SQLite's locking when it can (a live ledger
/// that other processes may be writing), else `immutable` (an archived copy
/// on read-only storage, where the WAL's index file cannot be created).
fn open_read_only(path: &std::path::Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let locked = Connection::open_with_flags(path, flags).and_then(|c| {
        c.query_row("PRAGMA user_version", [], |_| Ok(()))
            .map(|()| c)
    });
    match locked {
        Ok(conn) => Ok(conn),
        Err(e)
            if matches!(
                e.sqlite_error_code(),
                Some(ErrorCode::CannotOpen | ErrorCode::ReadOnly | ErrorCode::SystemIoFailure)
            ) =>
        {
            let uri = format!("file:{}?immutable=1", uri_path(path));
            Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI)
        }
        Err(e) => Err(e),
    }
}

/// `path` percent-encoded for a `file:` URI.
fn uri_path(path: &std::path::Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    absolute
        .to_string_lossy()
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// How long a transaction waits for another process's lock before failing
/// with [`BudgetError::Busy`].
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Sleeps of [`wait_for_lock`], in µs, by retry; the last repeats.
const BUSY_SLEEPS_US: [u64; 8] = [250, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 20_000];

/// Busy handler for the write lock. SQLite's default backs off to 100 ms
/// sleeps starting at 1 ms, so a process that loses a few races can wait
/// seconds while others commit (measured: max charge latency 1.3–2 s with 8
/// processes charging back to back). This one starts at 0.25 ms (a charge
/// holds the lock for about that long) and doubles up to 20 ms. Gives up
/// after [`BUSY_TIMEOUT`].
fn wait_for_lock(retries: i32) -> bool {
    let last = BUSY_SLEEPS_US.len() - 1;
    let idx = usize::try_from(retries).unwrap_or(0);
    let slept: u64 = BUSY_SLEEPS_US.iter().take(idx).sum::<u64>()
        + BUSY_SLEEPS_US[last] * (idx.saturating_sub(BUSY_SLEEPS_US.len()) as u64);
    if slept >= BUSY_TIMEOUT.as_micros() as u64 {
        return false;
    }
    let us = BUSY_SLEEPS_US
        .get(idx)
        .copied()
        .unwrap_or(BUSY_SLEEPS_US[last]);
    std::thread::sleep(Duration::from_micros(us));
    true
}

fn map_error(path: &str, e: rusqlite::Error) -> BudgetError {
    let path = path.to_string();
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => BudgetError::Busy {
            path,
            seconds: BUSY_TIMEOUT.as_secs(),
        },
        Some(ErrorCode::DiskFull) => BudgetError::DiskFull { path },
        Some(ErrorCode::ReadOnly) => BudgetError::ReadOnly { path },
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => BudgetError::Corrupt {
            path,
            detail: e.to_string(),
        },
        Some(ErrorCode::CannotOpen) => BudgetError::Storage {
            path,
            detail: format!(
                "cannot open the ledger file ({e}); check the directory exists and is writable"
            ),
        },
        _ => BudgetError::Storage {
            path,
            detail: e.to_string(),
        },
    }
}

/// The store view of one open transaction.
struct SqlStore<'a> {
    tx: &'a Transaction<'a>,
    ledger: &'a SqliteLedger,
}

impl SqlStore<'_> {
    fn err(&self, e: rusqlite::Error) -> BudgetError {
        self.ledger.error(e)
    }
}

fn parse_amount(path: &str, text: &str) -> Result<Amount, BudgetError> {
    text.parse::<Amount>().map_err(|_| BudgetError::Corrupt {
        path: path.to_string(),
        detail: format!("bad amount {text:?}"),
    })
}

fn parse_scope(path: &str, key: &str) -> Result<Scope, BudgetError> {
    match key.split_once(':') {
        Some(("analyst", n)) => Ok(Scope::Analyst(n.to_string())),
        Some(("table", n)) => Ok(Scope::Table(n.to_string())),
        _ => Err(BudgetError::Corrupt {
            path: path.to_string(),
            detail: format!("bad scope {key:?}"),
        }),
    }
}

type ChargeRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    bool,
);

fn charge_from_row(path: &str, row: ChargeRow) -> Result<ChargeRecord, BudgetError> {
    let (request_id, analyst, scopes, eps, delta, rho, time_ms, refunded) = row;
    Ok(ChargeRecord {
        request_id,
        analyst,
        scopes: scopes
            .lines()
            .map(|k| parse_scope(path, k))
            .collect::<Result<_, _>>()?,
        cost: PrivacyCost {
            epsilon: parse_amount(path, &eps)?,
            delta: parse_amount(path, &delta)?,
            rho: rho.map(|r| parse_amount(path, &r)).transpose()?,
        },
        time_ms,
        refunded,
    })
}

const CHARGE_COLUMNS: &str = "request_id, analyst, scopes, epsilon, delta, rho, time_ms, refunded";

fn read_charge_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChargeRow> {
    read_charge_row_at(r, 0)
}

/// The [`CHARGE_COLUMNS`] of a row, starting at column `at`.
fn read_charge_row_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<ChargeRow> {
    Ok((
        r.get(at)?,
        r.get(at + 1)?,
        r.get(at + 2)?,
        r.get(at + 3)?,
        r.get(at + 4)?,
        r.get(at + 5)?,
        r.get(at + 6)?,
        r.get(at + 7)?,
    ))
}

/// Raw spend columns of a scope (in or out of a transaction).
fn spent_row(c: &Connection, scope: &Scope) -> rusqlite::Result<Option<(String, String, String)>> {
    c.query_row(
        "SELECT spent_epsilon, spent_delta, spent_rho FROM scopes WHERE scope = ?1",
        [scope.key()],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .optional()
}

fn spent_from_row(path: &str, row: Option<(String, String, String)>) -> Result<Spent, BudgetError> {
    match row {
        None => Ok(Spent::default()),
        Some((e, d, r)) => Ok(Spent {
            epsilon: parse_amount(path, &e)?,
            delta: parse_amount(path, &d)?,
            rho: parse_amount(path, &r)?,
        }),
    }
}

/// The newest audit entry's (seq, hash), as stored.
fn head_row(c: &Connection) -> rusqlite::Result<Option<(u64, String)>> {
    c.query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
    })
    .optional()
}

/// The audit columns of `version`'s schema, in [`AuditRow`] order.
fn audit_columns(version: i64) -> String {
    let scopes = if version >= 2 { "scopes" } else { "NULL" };
    format!(
        "seq, time_ms, analyst, request_id, request_text, decision, reason, epsilon, delta, rho, prev_hash, hash, {scopes}"
    )
}

/// Every audit row, oldest first.
fn audit_rows(c: &Connection, version: i64) -> rusqlite::Result<Vec<AuditRow>> {
    let mut stmt = c.prepare(&format!(
        "SELECT {} FROM audit ORDER BY seq",
        audit_columns(version)
    ))?;
    stmt.query_map([], read_audit_row)?.collect()
}

fn read_audit_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok((
        (
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ),
        (
            r.get(7)?,
            r.get(8)?,
            r.get(9)?,
            r.get(10)?,
            r.get(11)?,
            r.get(12)?,
        ),
    ))
}

/// Every charge row with its id, in id order.
fn charge_rows(c: &Connection) -> rusqlite::Result<Vec<(i64, ChargeRow)>> {
    let mut stmt = c.prepare(&format!(
        "SELECT id, {CHARGE_COLUMNS} FROM charges ORDER BY id"
    ))?;
    stmt.query_map([], |r| Ok((r.get(0)?, read_charge_row_at(r, 1)?)))?
        .collect()
}

type CostRow = (String, String, Option<String>);

/// The cost columns of the unrefunded charges touching `scope`.
fn live_cost_rows(c: &Connection, scope: &Scope) -> rusqlite::Result<Vec<CostRow>> {
    let mut stmt = c.prepare(
        "SELECT epsilon, delta, rho FROM charges WHERE refunded = 0
         AND instr(char(10) || scopes || char(10), char(10) || ?1 || char(10)) > 0",
    )?;
    stmt.query_map([scope.key()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect()
}

/// Every scopes row.
/// A scopes row: its key and raw spend columns.
type ScopeRow = (String, (String, String, String));

fn scope_rows(c: &Connection) -> rusqlite::Result<Vec<ScopeRow>> {
    let mut stmt = c.prepare("SELECT scope, spent_epsilon, spent_delta, spent_rho FROM scopes")?;
    stmt.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))))?
        .collect()
}

/// The highest charge id ever handed out (AUTOINCREMENT's counter).
fn highest_charge_id(c: &Connection) -> rusqlite::Result<i64> {
    c.query_row(
        "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'charges'), 0)",
        [],
        |r| r.get(0),
    )
}

impl LedgerStore for SqlStore<'_> {
    fn find_charge(&mut self, request_id: &str) -> Result<Option<ChargeRecord>, BudgetError> {
        let row = self
            .tx
            .query_row(
                &format!("SELECT {CHARGE_COLUMNS} FROM charges WHERE request_id = ?1"),
                [request_id],
                read_charge_row,
            )
            .optional()
            .map_err(|e| self.err(e))?;
        row.map(|r| charge_from_row(&self.ledger.path, r))
            .transpose()
    }

    fn spent(&mut self, scope: &Scope) -> Result<Spent, BudgetError> {
        let row = spent_row(self.tx, scope).map_err(|e| self.err(e))?;
        spent_from_row(&self.ledger.path, row)
    }

    fn set_spent(&mut self, scope: &Scope, spent: &Spent) -> Result<(), BudgetError> {
        self.tx
            .execute(
                "INSERT INTO scopes (scope, spent_epsilon, spent_delta, spent_rho) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(scope) DO UPDATE SET spent_epsilon = ?2, spent_delta = ?3, spent_rho = ?4",
                params![scope.key(), spent.epsilon.to_string(), spent.delta.to_string(), spent.rho.to_string()],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn insert_charge(&mut self, c: &ChargeRecord) -> Result<(), BudgetError> {
        let scopes: Vec<String> = c.scopes.iter().map(Scope::key).collect();
        self.tx
            .execute(
                &format!(
                    "INSERT INTO charges ({CHARGE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                ),
                params![
                    c.request_id,
                    c.analyst,
                    scopes.join("\n"),
                    c.cost.epsilon.to_string(),
                    c.cost.delta.to_string(),
                    c.cost.rho.map(|r| r.to_string()),
                    c.time_ms,
                    c.refunded
                ],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn mark_refunded(&mut self, request_id: &str) -> Result<(), BudgetError> {
        self.tx
            .execute(
                "UPDATE charges SET refunded = 1 WHERE request_id = ?1",
                [request_id],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn audit_head(&mut self) -> Result<Option<(u64, String)>, BudgetError> {
        head_row(self.tx).map_err(|e| self.err(e))
    }

    fn append_audit(&mut self, e: &AuditEntry) -> Result<(), BudgetError> {
        self.tx
            .execute(
                "INSERT INTO audit (seq, time_ms, analyst, request_id, request_text, decision, reason, epsilon, delta, rho, prev_hash, hash, scopes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    e.seq as i64,
                    e.time_ms,
                    e.analyst,
                    e.request_id,
                    e.request_text,
                    e.decision.as_str(),
                    e.reason,
                    e.epsilon.to_string(),
                    e.delta.to_string(),
                    e.rho.map(|r| r.to_string()),
                    e.prev_hash,
                    e.hash,
                    (!e.scopes.is_empty()).then(|| scope_keys(&e.scopes))
                ],
            )
            .and_then(|_| {
                self.tx.execute(
                    "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2) ON CONFLICT(id) DO UPDATE SET seq = ?1, hash = ?2",
                    params![e.seq as i64, e.hash],
                )
            })
            .map(|_| ())
            .map_err(|err| self.err(err))
    }

    fn last_audit(&mut self) -> Result<Option<AuditEntry>, BudgetError> {
        let row = self
            .tx
            .query_row(
                &format!(
                    "SELECT {} FROM audit ORDER BY seq DESC LIMIT 1",
                    audit_columns(SCHEMA_VERSION)
                ),
                [],
                read_audit_row,
            )
            .optional()
            .map_err(|e| self.err(e))?;
        row.map(|r| audit_from_row(&self.ledger.path, r))
            .transpose()
    }

    fn live_costs(&mut self, scope: &Scope) -> Result<Vec<PrivacyCost>, BudgetError> {
        let rows = live_cost_rows(self.tx, scope).map_err(|e| self.err(e))?;
        let path = &self.ledger.path;
        rows.into_iter()
            .map(|(e, d, r)| {
                Ok(PrivacyCost {
                    epsilon: parse_amount(path, &e)?,
                    delta: parse_amount(path, &d)?,
                    rho: r.map(|r| parse_amount(path, &r)).transpose()?,
                })
            })
            .collect()
    }

    fn last_charge(&mut self) -> Result<Option<String>, BudgetError> {
        self.tx
            .query_row(
                "SELECT request_id FROM charges ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    fn accepted_in_log(&mut self, request_id: &str) -> Result<bool, BudgetError> {
        self.tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM audit WHERE request_id = ?1 AND decision = 'accepted')",
                [request_id],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }
}

/// An audit row: the entry's fields before its amounts, then the amounts,
/// links and scopes (two tuples: rusqlite reads at most 16 per tuple, and
/// clippy wants them short).
type AuditRow = (
    (i64, i64, String, String, String, String, String),
    (
        String,
        String,
        Option<String>,
        String,
        String,
        Option<String>,
    ),
);

fn audit_from_row(path: &str, r: AuditRow) -> Result<AuditEntry, BudgetError> {
    let (
        (seq, time_ms, analyst, request_id, request_text, decision, reason),
        (eps, delta, rho, prev_hash, hash, scopes),
    ) = r;
    Ok(AuditEntry {
        seq: seq as u64,
        time_ms,
        analyst,
        request_id,
        request_text,
        decision: Decision::parse(&decision).ok_or_else(|| BudgetError::Corrupt {
            path: path.to_string(),
            detail: format!("bad decision {decision:?}"),
        })?,
        reason,
        epsilon: parse_amount(path, &eps)?,
        delta: parse_amount(path, &delta)?,
        rho: rho.map(|x| parse_amount(path, &x)).transpose()?,
        scopes: scopes
            .iter()
            .flat_map(|k| k.lines())
            .map(|k| parse_scope(path, k))
            .collect::<Result<_, _>>()?,
        prev_hash,
        hash,
    })
}

impl Ledger for SqliteLedger {
    fn charge(&self, request: &ChargeRequest) -> Result<Receipt, BudgetError> {
        self.transact(|s| charge_in(s, request))?
    }

    fn refund(&self, request_id: &str, reason: &str) -> Result<(), BudgetError> {
        self.transact(|s| refund_in(s, request_id, reason))
    }

    fn record_rejection(&self, rejection: &Rejection) -> Result<(), BudgetError> {
        self.transact(|s| reject_in(s, rejection))
    }

    fn spent(&self, scope: &Scope) -> Result<Spent, BudgetError> {
        let row = self.read(|c| spent_row(c, scope))?;
        spent_from_row(&self.path, row)
    }

    fn charges(&self) -> Result<Vec<ChargeRecord>, BudgetError> {
        let rows: Vec<ChargeRow> = self.read(|c| {
            let mut stmt =
                c.prepare(&format!("SELECT {CHARGE_COLUMNS} FROM charges ORDER BY id"))?;
            stmt.query_map([], read_charge_row)?.collect()
        })?;
        rows.into_iter()
            .map(|r| charge_from_row(&self.path, r))
            .collect()
    }

    fn audit_log(&self) -> Result<Vec<AuditEntry>, BudgetError> {
        let rows = self.read(|c| audit_rows(c, self.version))?;
        rows.into_iter()
            .map(|r| audit_from_row(&self.path, r))
            .collect()
    }

    fn verify_ledger(
        &self,
        anchor: Option<&(u64, String)>,
    ) -> Result<AuditVerification, BudgetError> {
        // Every table from one read transaction: a consistent snapshot even
        // while other processes charge.
        let (rows, head, charges, highest, scopes) = self.read(|c| {
            let tx = c.unchecked_transaction()?;
            let snapshot = (
                audit_rows(&tx, self.version)?,
                head_row(&tx)?,
                charge_rows(&tx)?,
                highest_charge_id(&tx)?,
                scope_rows(&tx)?,
            );
            tx.finish()?;
            Ok(snapshot)
        })?;
        let path = &self.path;
        let entries = rows
            .into_iter()
            .map(|r| audit_from_row(path, r))
            .collect::<Result<Vec<_>, _>>()?;
        let charges = charges
            .into_iter()
            .map(|(id, r)| Ok((id, charge_from_row(path, r)?)))
            .collect::<Result<Vec<_>, BudgetError>>()?;
        let spent = scopes
            .into_iter()
            .map(|(key, row)| Ok((parse_scope(path, &key)?, spent_from_row(path, Some(row))?)))
            .collect::<Result<Vec<_>, BudgetError>>()?;
        let tables = Tables {
            entries: &entries,
            charges: &charges,
            highest_id: Some(highest),
            spent: &spent,
        };
        Ok(verify(&tables, head, anchor))
    }
}

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "tamper_tests.rs"]
mod tamper_tests;
