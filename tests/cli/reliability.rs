//! Failures planning can foresee cost nothing: the dry run on empty tables,
//! and the checks on a table's files when the catalog is loaded.

use std::path::Path;

use crate::common::{generated, one_table_catalog, pums_catalog, run, spent_epsilon};

/// Every query here fails for any data: refused (exit 3), audited, free.
#[test]
fn failures_that_do_not_depend_on_data_are_refused_before_the_charge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = generated(dir.path(), 300);
    let c = catalog.to_str().expect("utf-8");
    for (sql, needle) in [
        (
            "SELECT segment, COUNT(*) AS n FROM purchases GROUP BY segment HAVING COUNT(*) > '-inf'",
            "'-inf' cannot be read as Int64",
        ),
        (
            "SELECT segment, COUNT(*) AS n FROM purchases GROUP BY segment LIMIT 1e-30",
            "LIMIT",
        ),
        (
            "SELECT segment, COUNT(*) AS n FROM purchases GROUP BY segment ORDER BY n / 0",
            "Divide by zero",
        ),
    ] {
        let (code, out, err) = run(&["query", "--catalog", c, "--epsilon", "0.5", sql]);
        assert_eq!(code, Some(3), "{sql}: {out}{err}");
        assert!(
            err.contains("fails for any data, so nothing was charged") && err.contains(needle),
            "{sql}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert_eq!(spent_epsilon(&catalog, "alice"), "0");
    let audit = crate::common::ok(&["audit", "--catalog", c]);
    assert_eq!(
        audit
            .lines()
            .filter(|l| l.contains("rejected  epsilon 0"))
            .count(),
        3,
        "{audit}"
    );
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo");
    assert!(status.success());
}

/// Broken table files are catalog errors (exit 2) at load time, never a
/// hang, a panic or a charge.
#[test]
fn broken_table_files_are_catalog_errors_not_hangs_or_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("dup.csv"), "id,x,X\n1,2,3\n").expect("write");
    std::fs::create_dir(d.join("folder")).expect("mkdir");
    std::fs::write(d.join("folder/a.csv"), "id,x\n1,2\n").expect("write");
    std::fs::write(d.join("folder/b.csv"), "id,y,x\n1,2,3\n").expect("write");
    mkfifo(&d.join("fifo.csv"));
    // A Parquet file whose footer claims a length beyond the file.
    let mut parquet = b"PAR1".to_vec();
    parquet.extend_from_slice(&[0u8; 32]);
    parquet.extend_from_slice(&1_000_000_000u32.to_le_bytes());
    parquet.extend_from_slice(b"PAR1");
    std::fs::write(d.join("footer.parquet"), parquet).expect("write");
    for (file, needle) in [
        ("dup.csv", "appears more than once"),
        ("folder", "every file of a table must have the same columns"),
        ("fifo.csv", "is not a regular file"),
        ("footer.parquet", "not a readable Parquet file"),
    ] {
        let c = one_table_catalog(d, &d.join(file));
        let started = std::time::Instant::now();
        let (code, out, err) = run(&["query", "--catalog", &c, "SELECT COUNT(*) FROM t"]);
        assert_eq!(code, Some(2), "{file}: {out}{err}");
        assert!(
            err.contains(needle) && err.lines().count() == 1,
            "{file}: {err}"
        );
        assert!(started.elapsed().as_secs() < 60, "{file}: took too long");
        assert_eq!(
            spent_epsilon(Path::new(&c), "alice"),
            "0",
            "{file}: nothing charged"
        );
    }
}

#[test]
fn a_fifo_as_the_ledger_is_refused_not_waited_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = pums_catalog(dir.path(), 1.0);
    mkfifo(&dir.path().join("ledger.db"));
    let c = catalog.to_str().expect("utf-8");
    for args in [
        &["budget", "--catalog", c][..],
        &["query", "--catalog", c, "SELECT COUNT(*) FROM pums"],
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert!(err.contains("not a regular file"), "{err}");
    }
}
