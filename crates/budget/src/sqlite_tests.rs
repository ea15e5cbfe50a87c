use super::*;
use crate::scope::Limit;

fn request(id: &str, epsilon: &str, limit: Limit) -> ChargeRequest {
    ChargeRequest {
        request_id: id.to_string(),
        analyst: "alice".into(),
        request_text: format!("SELECT COUNT(*) FROM customers -- {id}"),
        cost: PrivacyCost::parse(epsilon, "0").expect("valid cost"),
        scopes: vec![
            (Scope::Analyst("alice".into()), limit),
            (
                Scope::Table("customers".into()),
                Limit::epsilon_delta(5.0, 1e-4).expect("limit"),
            ),
        ],
    }
}

fn one() -> Limit {
    Limit::epsilon_delta(1.0, 1e-6).expect("limit")
}

fn open(dir: &tempfile::TempDir) -> SqliteLedger {
    SqliteLedger::open(dir.path().join("ledger.db")).expect("open ledger")
}

#[test]
fn ten_tenths_exhaust_one_and_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let ledger = open(&dir);
        for i in 0..10 {
            ledger
                .charge(&request(&format!("q{i}"), "0.1", one()))
                .expect("fits");
        }
    }
    let ledger = open(&dir);
    assert_eq!(
        ledger
            .spent(&Scope::Analyst("alice".into()))
            .expect("spent")
            .epsilon
            .to_string(),
        "1"
    );
    let err = ledger
        .charge(&request("q10", "1e-12", one()))
        .expect_err("exhausted");
    assert!(
        err.to_string()
            .starts_with("budget exhausted for analyst 'alice': requested epsilon 0.000000000001"),
        "{err}"
    );
    assert_eq!(ledger.charges().expect("charges").len(), 10);
    let log = ledger.audit_log().expect("audit");
    assert_eq!(log.len(), 11);
    assert_eq!(log[10].decision, Decision::Rejected);
    assert!(ledger.verify_audit().expect("verify").is_intact());
    assert_eq!(ledger.integrity_check().expect("check"), "ok");
}

#[test]
fn a_charge_must_fit_every_scope_or_nothing_is_charged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = open(&dir);
    let mut req = request("big", "2", Limit::epsilon_delta(10.0, 0.0).expect("limit"));
    req.scopes[1].1 = Limit::epsilon_delta(1.5, 0.0).expect("limit"); // the table cap is smaller
    let err = ledger.charge(&req).expect_err("table cap");
    assert!(err.to_string().contains("table 'customers'"), "{err}");
    assert_eq!(
        ledger
            .spent(&Scope::Analyst("alice".into()))
            .expect("spent"),
        Spent::default()
    );
}

#[test]
fn same_request_id_is_charged_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = open(&dir);
    let first = ledger
        .charge(&request("same", "0.3", one()))
        .expect("charge");
    let again = ledger
        .charge(&request("same", "0.3", one()))
        .expect("replay");
    assert!(!first.replayed && again.replayed);
    assert_eq!(
        ledger
            .spent(&Scope::Analyst("alice".into()))
            .expect("spent")
            .epsilon
            .to_string(),
        "0.3"
    );
    assert_eq!(ledger.charges().expect("charges").len(), 1);
}

#[test]
fn refunds_are_recorded_and_happen_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = open(&dir);
    ledger.charge(&request("r", "0.4", one())).expect("charge");
    ledger
        .refund("r", "catalog file vanished before the scan")
        .expect("refund");
    assert_eq!(
        ledger
            .spent(&Scope::Analyst("alice".into()))
            .expect("spent")
            .epsilon,
        Amount::ZERO
    );
    assert!(matches!(
        ledger.refund("r", "again"),
        Err(BudgetError::Refund { .. })
    ));
    assert!(matches!(
        ledger.refund("nope", "x"),
        Err(BudgetError::Refund { .. })
    ));
    let log = ledger.audit_log().expect("audit");
    assert_eq!(log.last().map(|e| e.decision), Some(Decision::Refunded));
    assert!(ledger.charges().expect("charges")[0].refunded);
}

#[test]
fn rejections_are_audited_without_charge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = open(&dir);
    ledger
        .record_rejection(&Rejection {
            request_id: "bad".into(),
            analyst: "alice".into(),
            request_text: "SELECT * FROM customers".into(),
            reason: "SELECT * is not allowed".into(),
        })
        .expect("audit");
    let log = ledger.audit_log().expect("audit");
    assert_eq!(
        (log.len(), log[0].decision, log[0].epsilon),
        (1, Decision::Rejected, Amount::ZERO)
    );
    assert!(ledger.charges().expect("charges").is_empty());
}

#[test]
fn editing_an_audit_row_is_detected_at_that_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.db");
    {
        let ledger = SqliteLedger::open(&path).expect("open");
        for i in 0..5 {
            ledger
                .charge(&request(&format!("t{i}"), "0.1", one()))
                .expect("charge");
        }
        assert!(ledger.verify_audit().expect("verify").is_intact());
    }
    let conn = Connection::open(&path).expect("raw open");
    conn.execute("UPDATE audit SET epsilon = '0.01' WHERE seq = 3", [])
        .expect("tamper");
    drop(conn);
    let v = SqliteLedger::open(&path)
        .expect("open")
        .verify_audit()
        .expect("verify");
    assert_eq!(v.first_broken, Some(3), "{v:?}");

    let conn = Connection::open(&path).expect("raw open");
    conn.execute("DELETE FROM audit WHERE seq = 5", [])
        .expect("truncate");
    drop(conn);
    let v = SqliteLedger::open(&path)
        .expect("open")
        .verify_audit()
        .expect("verify");
    assert_eq!(
        v.first_broken,
        Some(3),
        "the earliest break is still reported first"
    );
}

#[test]
fn corrupt_newer_and_missing_ledgers_give_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.db");
    std::fs::write(
        &junk,
        b"this is not a database, just some text that is long enough to have a header",
    )
    .expect("write");
    let err = SqliteLedger::open(&junk).expect_err("corrupt");
    assert!(matches!(err, BudgetError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("junk.db"));

    let newer = dir.path().join("newer.db");
    Connection::open(&newer)
        .and_then(|c| c.execute_batch("PRAGMA user_version = 99;"))
        .expect("raw");
    assert!(matches!(
        SqliteLedger::open(&newer),
        Err(BudgetError::SchemaVersion { found: 99, .. })
    ));

    let nowhere = dir.path().join("no/such/dir/ledger.db");
    let err = SqliteLedger::open(&nowhere).expect_err("missing dir");
    assert!(
        err.to_string().contains("cannot open the ledger file"),
        "{err}"
    );
}

#[test]
fn read_only_ledger_refuses_to_charge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.db");
    SqliteLedger::open(&path)
        .expect("create")
        .charge(&request("a", "0.1", one()))
        .expect("charge");
    let ro = SqliteLedger::open_with(
        &path,
        LedgerOptions {
            read_only: true,
            ..LedgerOptions::default()
        },
    )
    .expect("open ro");
    assert_eq!(ro.charges().expect("read").len(), 1);
    let err = ro
        .charge(&request("b", "0.1", one()))
        .expect_err("read-only");
    assert!(matches!(err, BudgetError::ReadOnly { .. }), "{err}");
    assert_eq!(
        ro.spent(&Scope::Analyst("alice".into()))
            .expect("spent")
            .epsilon
            .to_string(),
        "0.1"
    );
}

#[test]
fn disk_full_during_a_charge_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.db");
    let ledger = SqliteLedger::open(&path).expect("create");
    ledger
        .charge(&request("before", "0.1", one()))
        .expect("charge");
    drop(ledger);
    let pages: i64 = Connection::open(&path)
        .and_then(|c| c.query_row("PRAGMA page_count", [], |r| r.get(0)))
        .expect("pages");
    let full = SqliteLedger::open_with(
        &path,
        LedgerOptions {
            max_pages: Some(pages as u64),
            ..LedgerOptions::default()
        },
    )
    .expect("open capped");
    // Fill the remaining space with long request texts until the cap is hit.
    let mut last = Ok(());
    for i in 0..200 {
        let mut req = request(&format!("fill{i}"), "0.001", one());
        req.request_text = "x".repeat(4000);
        last = full.charge(&req).map(|_| ());
        if last.is_err() {
            break;
        }
    }
    let err = last.expect_err("the cap must be reached");
    assert!(matches!(err, BudgetError::DiskFull { .. }), "{err}");
    assert!(err.to_string().contains("disk full; nothing was charged"));
    // Everything committed before is intact, the failed charge left no trace.
    let charged = full.charges().expect("charges");
    let spent = full.spent(&Scope::Analyst("alice".into())).expect("spent");
    let sum: u128 = charged.iter().map(|c| c.cost.epsilon.units()).sum();
    assert_eq!(spent.epsilon.units(), sum);
    assert!(full.verify_audit().expect("verify").is_intact());
    assert_eq!(full.integrity_check().expect("check"), "ok");
}

#[test]
fn memory_ledger_has_the_same_semantics() {
    let ledger = crate::MemoryLedger::new();
    for i in 0..10 {
        ledger
            .charge(&request(&format!("m{i}"), "0.1", one()))
            .expect("fits");
    }
    assert!(ledger.charge(&request("m10", "1e-12", one())).is_err());
    assert!(
        ledger
            .charge(&request("m0", "0.1", one()))
            .expect("replay")
            .replayed
    );
    assert_eq!(ledger.audit_log().expect("audit").len(), 11);
    assert!(ledger.verify_audit().expect("verify").is_intact());
}
