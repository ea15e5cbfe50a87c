//! The `privagg` binary, tested as a process.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests may panic

use std::process::Command;

fn privagg() -> Command {
    Command::new(env!("CARGO_BIN_EXE_privagg"))
}

#[test]
fn demo_prints_private_statistics_with_intervals_and_budget() {
    let out = privagg()
        .args(["demo", "--customers", "3000"])
        .output()
        .expect("run privagg");
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "by loyalty tier",
        "bronze",
        "platinum",
        "95% interval",
        "Median basket",
        "epsilon = 1.000",
        "delta = 1e-6",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn unknown_command_is_a_usage_error() {
    let out = privagg().arg("frobnicate").output().expect("run privagg");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand"));
}

/// A catalog over ../shared/data/PUMS_dup.csv with a ledger in `dir`.
fn pums_catalog(dir: &std::path::Path, analyst_epsilon: f64) -> std::path::PathBuf {
    let data =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/PUMS_dup.csv");
    let text = format!(
        "[ledger]\npath = \"ledger.db\"\n[[analysts]]\nname = \"alice\"\nepsilon = {analyst_epsilon}\ndelta = 1e-5\n\
         [[tables]]\nname = \"pums\"\npath = \"{}\"\nprivacy_unit = \"pid\"\nmax_rows_per_group = 2\n\
         [tables.columns.age]\nlower = 0.0\nupper = 100.0\n[tables.columns.sex]\npublic_values = [0, 1]\n",
        data.display()
    );
    let path = dir.join("privagg.toml");
    std::fs::write(&path, text).expect("write catalog");
    path
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = privagg().args(args).output().expect("run privagg");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn query_prints_a_release_in_every_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = pums_catalog(dir.path(), 10.0);
    let c = catalog.to_str().expect("utf-8 path");
    let sql = "SELECT sex, COUNT(*) AS n, AVG(age) AS avg_age FROM pums GROUP BY sex";
    let (code, out, err) = run(&[
        "query",
        "--catalog",
        c,
        "--confidence",
        "0.9",
        "--epsilon",
        "0.5",
        sql,
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("avg_age_ci_low") && out.contains("charged epsilon 0.5"),
        "{out}"
    );
    let (code, out, _) = run(&[
        "query",
        "--catalog",
        c,
        "--format",
        "csv",
        "--epsilon",
        "0.5",
        sql,
    ]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("sex,n,avg_age\n"), "{out}");
    let (code, out, _) = run(&[
        "query",
        "--catalog",
        c,
        "--format",
        "json",
        "--epsilon",
        "0.5",
        sql,
    ]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("\"rows\"")
            && out.contains("\"metadata\"")
            && out.contains("\"epsilon\": \"0.5\""),
        "{out}"
    );
}

#[test]
fn budget_exhaustion_across_invocations_charges_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = pums_catalog(dir.path(), 1.0);
    let c = catalog.to_str().expect("utf-8 path");
    let q = |eps: &str| {
        run(&[
            "query",
            "--catalog",
            c,
            "--epsilon",
            eps,
            "SELECT COUNT(*) FROM pums",
        ])
    };
    assert_eq!(q("0.6").0, Some(0));
    let (code, _, err) = q("0.6");
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("budget exhausted for analyst 'alice': requested epsilon 0.6, delta 0, remaining epsilon 0.4"), "{err}");
    // The refused request charged nothing: exactly 0.4 is still there.
    assert_eq!(q("0.4").0, Some(0));
    assert_eq!(q("0.000001").0, Some(4));
}

#[test]
fn explain_charges_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = pums_catalog(dir.path(), 1.0);
    let c = catalog.to_str().expect("utf-8 path");
    for _ in 0..3 {
        let (code, out, err) = run(&[
            "explain",
            "--catalog",
            c,
            "--epsilon",
            "1",
            "SELECT sex, COUNT(*) FROM pums GROUP BY sex",
        ]);
        assert_eq!(code, Some(0), "{err}");
        assert!(
            out.contains("nothing charged") && out.contains("bounded plan"),
            "{out}"
        );
    }
    assert_eq!(
        run(&[
            "query",
            "--catalog",
            c,
            "--epsilon",
            "1",
            "SELECT COUNT(*) FROM pums"
        ])
        .0,
        Some(0)
    );
}

#[test]
fn bad_input_gets_the_right_exit_code_and_one_clear_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = pums_catalog(dir.path(), 1.0);
    let c = catalog.to_str().expect("utf-8 path");
    let cases: [(&[&str], i32, &str); 5] = [
        (
            &["query", "--catalog", c, "SELECT * FROM pums"],
            3,
            "query rejected: SELECT * is not supported",
        ),
        (&["query", "--catalog", c, "SELEC 1"], 3, "invalid SQL"),
        (
            &["query", "--catalog", c, "SELECT COUNT(*) FROM nope"],
            3,
            "table 'nope' is not in the catalog",
        ),
        (
            &[
                "query",
                "--catalog",
                "/no/such/privagg.toml",
                "SELECT COUNT(*) FROM pums",
            ],
            2,
            "cannot read the catalog",
        ),
        (
            &[
                "query",
                "--catalog",
                c,
                "--analyst",
                "bob",
                "SELECT COUNT(*) FROM pums",
            ],
            2,
            "unknown analyst 'bob'",
        ),
    ];
    for (args, want_code, want) in cases {
        let (code, _, err) = run(args);
        assert_eq!(code, Some(want_code), "{args:?}: {err}");
        assert!(
            err.starts_with("privagg: ") && err.contains(want) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[ledger\npath = 1").expect("write");
    let (code, _, err) = run(&[
        "query",
        "--catalog",
        bad.to_str().expect("utf-8"),
        "SELECT 1",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("not a valid catalog") && err.lines().count() == 1,
        "{err}"
    );
}
