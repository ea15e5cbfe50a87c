//! Every edit of the ledger file that the issue tracker's reliability battery
//! made by hand: `audit verify` must fail and name what is wrong, and no new
//! charge may be made on top of it.

use rusqlite::Connection;

use super::*;
use crate::scope::Limit;

fn limit() -> Limit {
    Limit::epsilon_delta(10.0, 1e-6).expect("limit")
}

fn request(id: &str, epsilon: &str) -> ChargeRequest {
    ChargeRequest {
        request_id: id.to_string(),
        analyst: "alice".into(),
        request_text: format!("SELECT COUNT(*) FROM customers -- {id}"),
        cost: PrivacyCost::parse(epsilon, "0").expect("valid cost"),
        scopes: vec![
            (Scope::Analyst("alice".into()), limit()),
            (Scope::Table("customers".into()), limit()),
        ],
    }
}

/// A ledger with five charges of 0.1 (the third refunded) and a rejection
/// last, and its path.
fn ledger_with_history() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.db");
    let ledger = SqliteLedger::open(&path).expect("open");
    for i in 1..=5 {
        ledger
            .charge(&request(&format!("q{i}"), "0.1"))
            .expect("charge");
    }
    ledger
        .refund("q3", "failed before reading")
        .expect("refund");
    ledger
        .record_rejection(&Rejection {
            request_id: "bad".into(),
            analyst: "alice".into(),
            request_text: "SELECT *".into(),
            reason: "not allowed".into(),
        })
        .expect("reject");
    let v = ledger.verify_audit().expect("verify");
    assert!(v.is_intact(), "{v:?}");
    assert_eq!((v.entries, v.charges, v.scopes), (7, 5, 2));
    (dir, path)
}

fn tamper(path: &std::path::Path, sql: &str) {
    Connection::open(path)
        .expect("raw open")
        .execute_batch(sql)
        .expect("tamper");
}

/// Verifies, expecting a problem that contains `needle`; then checks a new
/// charge is refused without changing anything.
fn assert_found(path: &std::path::Path, needle: &str) {
    let ledger = SqliteLedger::open(path).expect("open");
    let v = ledger.verify_audit().expect("verify");
    assert!(!v.is_intact(), "tampering not found");
    let all = format!("{:?} {:?}", v.problem, v.problems);
    assert!(all.contains(needle), "{needle:?} not in {all}");
}

fn assert_charge_refused(path: &std::path::Path) {
    let ledger = SqliteLedger::open(path).expect("open");
    let before = ledger.audit_log().expect("log").len();
    let err = ledger
        .charge(&request("after", "0.1"))
        .expect_err("charging on a ledger that does not verify");
    assert!(matches!(err, BudgetError::Unverified { .. }), "{err}");
    assert!(err.to_string().contains("audit verify"), "{err}");
    assert_eq!(ledger.audit_log().expect("log").len(), before);
}

#[test]
fn resetting_a_scopes_spend_is_found_and_blocks_charges() {
    let (_dir, path) = ledger_with_history();
    tamper(
        &path,
        "UPDATE scopes SET spent_epsilon = '0' WHERE scope = 'analyst:alice'",
    );
    assert_found(
        &path,
        "analyst 'alice': the ledger records spent epsilon 0, delta 0, the audit log adds up to epsilon 0.4",
    );
    assert_charge_refused(&path);
}

#[test]
fn editing_a_charges_cost_is_found() {
    let (_dir, path) = ledger_with_history();
    tamper(&path, "UPDATE charges SET epsilon = '0.01' WHERE id = 2");
    assert_found(&path, "charge 2: cost epsilon 0.01, delta 0");
}

#[test]
fn deleting_a_charge_is_found_and_blocks_charges() {
    let (_dir, path) = ledger_with_history();
    tamper(
        &path,
        "DELETE FROM charges WHERE id = 5;
         UPDATE scopes SET spent_epsilon = '0.3';",
    );
    assert_found(
        &path,
        "request q5 (epsilon 0.1, delta 0), but its charge is missing",
    );
    let v = SqliteLedger::open(&path)
        .expect("open")
        .verify_audit()
        .expect("verify");
    assert!(
        v.problems
            .iter()
            .any(|p| p.contains("charges were deleted")),
        "{v:?}"
    );
}

#[test]
fn a_refund_the_log_does_not_have_is_found() {
    let (_dir, path) = ledger_with_history();
    tamper(
        &path,
        "UPDATE charges SET refunded = 1 WHERE id = 4;
         UPDATE scopes SET spent_epsilon = '0.3';",
    );
    assert_found(
        &path,
        "charge 4: marked refunded, but the audit log has no refund for request q4",
    );
}

#[test]
fn removing_the_last_entries_and_moving_the_head_back_is_found() {
    let (_dir, path) = ledger_with_history();
    // Entries 6 (refund of q3) and 7 (rejection) go; then the accepted q5 (5).
    tamper(
        &path,
        "DELETE FROM audit WHERE seq >= 5;
         UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit WHERE seq = 4);",
    );
    assert_found(
        &path,
        "(request q5, epsilon 0.1, delta 0) has no accepted entry in the audit log",
    );
    assert_charge_refused(&path);
}

#[test]
fn a_head_that_is_not_the_last_entry_is_found() {
    let (_dir, path) = ledger_with_history();
    tamper(
        &path,
        "UPDATE audit_head SET seq = 6, hash = (SELECT hash FROM audit WHERE seq = 6)",
    );
    assert_found(&path, "is not the log's last entry");
    assert_charge_refused(&path);
}

#[test]
fn truncating_only_rejections_needs_the_auditors_recorded_head() {
    let (_dir, path) = ledger_with_history();
    let head = SqliteLedger::open(&path)
        .expect("open")
        .verify_audit()
        .expect("verify")
        .head
        .expect("head");
    assert_eq!(head.0, 7);
    // The rejection (entry 7) carries no money: the books still balance
    // after it is cut off, so only the recorded head reveals it.
    tamper(
        &path,
        "DELETE FROM audit WHERE seq = 7;
         UPDATE audit_head SET seq = 6, hash = (SELECT hash FROM audit WHERE seq = 6);",
    );
    let ledger = SqliteLedger::open(&path).expect("open");
    assert!(ledger.verify_audit().expect("verify").is_intact());
    let v = ledger.verify_ledger(Some(&head)).expect("verify");
    assert!(
        v.problems
            .iter()
            .any(|p| p.contains("the recorded head (entry 7) is not in the log")),
        "{v:?}"
    );
    // An older recorded head still checks out after the log grows.
    ledger.charge(&request("later", "0.1")).expect("charge");
    let (seq, hash) = head;
    let earlier = (seq - 2, ledger.audit_log().expect("log")[4].hash.clone());
    assert!(
        ledger
            .verify_ledger(Some(&earlier))
            .expect("verify")
            .is_intact()
    );
    assert!(
        !ledger
            .verify_ledger(Some(&(5, hash)))
            .expect("verify")
            .is_intact()
    );
}

#[test]
fn a_version_1_ledger_is_upgraded_and_keeps_verifying() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.db");
    {
        let ledger = SqliteLedger::open(&path).expect("open");
        ledger.charge(&request("old", "0.2")).expect("charge");
    }
    // Make it a version-1 file whose entry carries no scopes (as v1 wrote it).
    tamper(
        &path,
        "UPDATE audit SET scopes = NULL;
         DROP INDEX audit_request;
         ALTER TABLE audit DROP COLUMN scopes;
         PRAGMA user_version = 1;",
    );
    {
        let conn = Connection::open(&path).expect("raw");
        let e: AuditEntry = SqliteLedger::open_with(
            &path,
            LedgerOptions {
                read_only: true,
                ..LedgerOptions::default()
            },
        )
        .expect("read v1 without upgrading")
        .audit_log()
        .expect("log")
        .remove(0);
        assert!(e.scopes.is_empty());
        // Re-hash as v1 did (no scopes field), as a v1 ledger would hold it.
        conn.execute("UPDATE audit SET hash = ?1", [e.compute_hash()])
            .expect("rehash");
        conn.execute("UPDATE audit_head SET hash = ?1", [e.compute_hash()])
            .expect("rehash head");
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, 1, "opening read-only does not upgrade");
    }
    let ledger = SqliteLedger::open(&path).expect("upgrade");
    ledger.charge(&request("new", "0.3")).expect("charge");
    let v = ledger.verify_audit().expect("verify");
    assert!(v.is_intact(), "{v:?}");
    let log = ledger.audit_log().expect("log");
    assert!(log[0].scopes.is_empty() && log[1].scopes.len() == 2);
}
