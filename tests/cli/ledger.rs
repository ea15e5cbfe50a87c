//! `privagg budget`, `privagg audit [verify]`, and a read-only ledger.

use std::os::unix::fs::PermissionsExt;

use crate::common::{count_pums, ok, one_table_catalog, pums_catalog, run, spent_epsilon};

#[test]
fn budget_and_audit_show_what_was_spent_and_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = pums_catalog(dir.path(), 2.0);
    let c = catalog.to_str().expect("utf-8");
    let budget = ok(&["budget", "--catalog", c]);
    assert!(budget.contains("nothing has been charged"), "{budget}");
    assert_eq!(spent_epsilon(&catalog, "alice"), "0");
    assert_eq!(count_pums(c, "0.75").0, Some(0));
    assert_eq!(
        run(&["query", "--catalog", c, "SELECT * FROM pums"]).0,
        Some(3)
    );
    let budget = ok(&["budget", "--catalog", c]);
    let line = budget
        .lines()
        .find(|l| l.starts_with("analyst:alice"))
        .expect("alice");
    assert!(
        line.contains("epsilon 0.75, delta 0") && line.contains("epsilon 1.25, delta 0.00001"),
        "{budget}"
    );
    let audit = ok(&["audit", "--catalog", c]);
    let lines: Vec<&str> = audit.lines().collect();
    assert_eq!(lines.len(), 2, "{audit}");
    assert!(
        lines[0].contains("accepted") && lines[0].contains("SELECT COUNT(*) FROM pums"),
        "{audit}"
    );
    assert!(
        lines[1].contains("rejected") && lines[1].contains("SELECT * is not supported"),
        "{audit}"
    );
    let verify = ok(&["audit", "--catalog", c, "verify"]);
    assert!(
        verify.contains("ledger verified: 2 audit entries"),
        "{verify}"
    );
    let (code, _, err) = run(&["budget", "--catalog", c, "--analyst", "bob"]);
    assert_eq!(code, Some(2), "{err}");
}

#[test]
fn audit_verify_names_the_first_tampered_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = pums_catalog(dir.path(), 5.0);
    let c = catalog.to_str().expect("utf-8");
    for _ in 0..3 {
        assert_eq!(count_pums(c, "0.5").0, Some(0));
    }
    {
        let db = rusqlite::Connection::open(dir.path().join("ledger.db")).expect("open ledger");
        let changed = db
            .execute("UPDATE audit SET epsilon = '0.1' WHERE seq = 2", [])
            .expect("tamper");
        assert_eq!(changed, 1);
    }
    let (code, _, err) = run(&["audit", "--catalog", c, "verify"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("audit log broken at entry 2"), "{err}");
}

#[test]
fn a_read_only_ledger_refuses_queries_and_charges_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = pums_catalog(dir.path(), 5.0);
    let c = catalog.to_str().expect("utf-8");
    assert_eq!(count_pums(c, "0.5").0, Some(0));
    let ledger = dir.path().join("ledger.db");
    std::fs::set_permissions(&ledger, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    let (code, out, err) = count_pums(c, "0.5");
    assert_eq!(code, Some(1), "{err}");
    assert!(out.is_empty(), "nothing released: {out}");
    assert!(
        err.contains("read-only") && err.lines().count() == 1,
        "{err}"
    );
    // budget and audit still read it.
    assert_eq!(spent_epsilon(&catalog, "alice"), "0.5");
    std::fs::set_permissions(&ledger, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    assert_eq!(spent_epsilon(&catalog, "alice"), "0.5");
}

#[test]
fn an_unreadable_data_file_is_a_catalog_error_and_charges_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("broken.parquet");
    std::fs::write(&data, "this is not parquet").expect("write");
    let catalog = one_table_catalog(dir.path(), &data);
    let c = catalog.as_str();
    let (code, _, err) = run(&["query", "--catalog", c, "SELECT COUNT(*) FROM t"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("broken.parquet") && err.lines().count() == 1,
        "{err}"
    );
    assert_eq!(spent_epsilon(std::path::Path::new(&catalog), "alice"), "0");
}

/// A ρ budget through the command line: Gaussian queries charge ρ, `budget`
/// shows ρ spent with the (ε, δ) it implies beside basic composition, and
/// `explain` shows both mechanisms.
#[test]
fn a_rho_budget_is_charged_and_shown_in_rho() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/PUMS_dup.csv");
    let catalog = dir.path().join("privagg.toml");
    std::fs::write(
        &catalog,
        format!(
            "[ledger]\npath = \"ledger.db\"\n[[analysts]]\nname = \"zoe\"\nrho = 0.5\ndelta = 1e-6\n\
             [[tables]]\nname = \"pums\"\npath = \"{}\"\nprivacy_unit = \"pid\"\n",
            data.display()
        ),
    )
    .expect("catalog");
    let c = catalog.to_str().expect("utf-8");
    let sql = "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 0.1, delta = 1e-6, \
               mechanism = 'gaussian') COUNT(*) FROM pums";
    for _ in 0..3 {
        ok(&["query", "--catalog", c, sql]);
    }
    let budget = ok(&["budget", "--catalog", c]);
    let line = budget
        .lines()
        .find(|l| l.starts_with("analyst:zoe"))
        .expect("zoe");
    assert!(line.contains("rho 0.5 (epsilon"), "{budget}");
    assert!(line.contains("basic composition: epsilon 0.3"), "{budget}");
    let explain = ok(&["explain", "--catalog", c, "SELECT COUNT(*) FROM pums"]);
    assert!(explain.contains("noise: Laplace"), "{explain}");
    assert!(
        explain.contains("with mechanism = 'gaussian' instead"),
        "{explain}"
    );
}
