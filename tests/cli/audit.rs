//! `privagg audit verify` checks the money and the auditor's recorded head,
//! `query` refuses to charge on books that do not balance, and an archived
//! read-only ledger can be audited.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::common::{count_pums, ok, privagg, pums_catalog, run};

fn tamper(dir: &Path, sql: &str) {
    rusqlite::Connection::open(dir.join("ledger.db"))
        .expect("open ledger")
        .execute_batch(sql)
        .expect("tamper");
}

#[test]
fn a_reset_spend_is_found_by_verify_and_blocks_queries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = pums_catalog(dir.path(), 2.0);
    let c = catalog.to_str().expect("utf-8");
    for _ in 0..3 {
        assert_eq!(count_pums(c, "0.5").0, Some(0));
    }
    tamper(dir.path(), "UPDATE scopes SET spent_epsilon = '0'");
    let (code, out, err) = run(&["audit", "--catalog", c, "verify"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains("does not verify")
            && err.contains("analyst 'alice': the ledger records spent epsilon 0, delta 0,")
            && err.contains("the audit log adds up to epsilon 1.5, delta 0"),
        "{err}"
    );
    // The budget looks unspent, but no query is charged on top of it.
    let (code, out, err) = count_pums(c, "0.5");
    assert_eq!(code, Some(1), "{err}");
    assert!(out.is_empty(), "nothing released: {out}");
    assert!(
        err.contains("records do not agree") && err.contains("audit verify"),
        "{err}"
    );
    let audit = ok(&["audit", "--catalog", c]);
    assert_eq!(audit.lines().count(), 3, "nothing appended: {audit}");
}

#[test]
fn the_printed_head_proves_a_later_copy_was_not_cut_short() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = pums_catalog(dir.path(), 2.0);
    let c = catalog.to_str().expect("utf-8");
    assert_eq!(count_pums(c, "0.5").0, Some(0));
    assert_eq!(
        run(&["query", "--catalog", c, "SELECT * FROM pums"]).0,
        Some(3)
    );
    let verify = ok(&["audit", "--catalog", c, "verify"]);
    let head = verify
        .lines()
        .find_map(|l| l.strip_prefix("head: "))
        .expect("head line")
        .to_string();
    assert!(head.starts_with("2:") && head.len() == 66, "{verify}");
    let anchored = ok(&["audit", "--catalog", c, "verify", "--expect-head", &head]);
    assert!(
        anchored.contains("recorded head 2 found unchanged"),
        "{anchored}"
    );
    // Cut off the rejection and move the head back: the books still balance.
    tamper(
        dir.path(),
        "DELETE FROM audit WHERE seq = 2;
         UPDATE audit_head SET seq = 1, hash = (SELECT hash FROM audit WHERE seq = 1);",
    );
    ok(&["audit", "--catalog", c, "verify"]);
    let (code, _, err) = run(&["audit", "--catalog", c, "verify", "--expect-head", &head]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("the recorded head (entry 2) is not in the log"),
        "{err}"
    );
    let (code, _, err) = run(&["audit", "--catalog", c, "verify", "--expect-head", "2:xyz"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("expected SEQ:HASH"), "{err}");
}

/// Runs privagg as an unprivileged user when the tests run as root (root
/// ignores file modes), so a read-only ledger really is read-only.
fn as_unprivileged(args: &[&str]) -> std::process::Output {
    let mut cmd = if file_modes_are_ignored() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_privagg"));
        c
    } else {
        privagg()
    };
    cmd.args(args).output().expect("run privagg")
}

/// Whether this process can write a file it made read-only (it is root).
fn file_modes_are_ignored() -> bool {
    let dir = tempfile::tempdir().expect("tempdir");
    let probe = dir.path().join("probe");
    std::fs::write(&probe, "x").expect("write");
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&probe)
        .is_ok()
}

#[test]
fn an_archived_read_only_ledger_can_be_audited_and_is_not_touched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = pums_catalog(dir.path(), 2.0);
    let c = catalog.to_str().expect("utf-8");
    assert_eq!(count_pums(c, "0.5").0, Some(0));
    let ledger = dir.path().join("ledger.db");
    let bytes = std::fs::read(&ledger).expect("ledger");
    let files = |d: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(d)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = files(dir.path());
    assert_eq!(
        before,
        ["ledger.db", "ledger.db.lock", "privagg.toml"],
        "WAL checkpointed"
    );
    std::fs::set_permissions(&ledger, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).expect("chmod");
    for args in [
        &["budget", "--catalog", c][..],
        &["audit", "--catalog", c],
        &["audit", "--catalog", c, "verify"],
    ] {
        let out = as_unprivileged(args);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stdout}{stderr}");
        assert!(!stderr.contains("nothing was charged"), "{stderr}");
        if args.contains(&"verify") {
            assert!(
                stdout.contains("ledger verified: 1 audit entries"),
                "{stdout}"
            );
        }
    }
    // A query as that user is refused cleanly, and charges nothing.
    let out = as_unprivileged(&[
        "query",
        "--catalog",
        c,
        "--epsilon",
        "0.5",
        "SELECT COUNT(*) FROM pums",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    assert_eq!(files(dir.path()), before, "no -wal or -shm left behind");
    assert_eq!(
        std::fs::read(&ledger).expect("ledger"),
        bytes,
        "not a byte changed"
    );
}
