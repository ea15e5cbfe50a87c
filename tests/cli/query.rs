//! `privagg query` and `privagg explain` on ../shared/data/PUMS_dup.csv.

use crate::common::{count_pums, privagg, pums_catalog, run};

#[test]
fn unknown_command_is_a_usage_error() {
    let out = privagg().arg("frobnicate").output().expect("run privagg");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand"));
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
    let q = |eps: &str| count_pums(c, eps);
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
    assert_eq!(count_pums(c, "1").0, Some(0));
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

/// The quickstart's steps, with the catalog taken from docs/quickstart.md
/// itself, over ../shared/data/restaurant_week.csv.
#[test]
fn the_quickstart_works_as_written() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/quickstart.md")).expect("quickstart");
    let catalog_text = doc
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a toml block in the quickstart");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        root.join("../shared/data/restaurant_week.csv"),
        dir.path().join("visits.csv"),
    )
    .expect("copy data");
    let catalog = dir.path().join("privagg.toml");
    std::fs::write(&catalog, catalog_text).expect("write catalog");
    let c = catalog.to_str().expect("utf-8");
    let sql = r#"SELECT Day, COUNT(DISTINCT VisitorId) AS visitors, AVG("Money spent (euros)") AS avg_spend FROM visits GROUP BY Day ORDER BY Day"#;
    let (code, out, err) = run(&["explain", "--catalog", c, "--epsilon", "0.5", sql]);
    assert_eq!(code, Some(0), "{err}");
    // The figures docs/quickstart.md quotes.
    assert!(
        out.contains("cost: epsilon 0.5")
            && out.contains("±36.0")
            && out.contains("about ±4316.9 / n for a group of n values"),
        "{out}"
    );
    let (code, out, err) = run(&[
        "query",
        "--catalog",
        c,
        "--epsilon",
        "0.5",
        "--confidence",
        "0.95",
        sql,
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("visitors_ci_low") && out.contains("7 group(s) released"),
        "{out}"
    );
    assert!(
        out.contains("remaining: analyst 'me': epsilon 4.5, delta 0.00001"),
        "{out}"
    );
    let (code, out, _) = run(&["audit", "--catalog", c, "verify"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("ledger verified: 1 audit entries"), "{out}");
}

#[test]
fn query_writes_parquet_to_a_file_or_a_pipe() {
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = pums_catalog(dir.path(), 10.0);
    let c = catalog.to_str().expect("utf-8 path");
    let sql = "SELECT sex, COUNT(*) AS n FROM pums GROUP BY sex";
    let file = dir.path().join("out.parquet");
    let (code, out, err) = run(&[
        "query",
        "--catalog",
        c,
        "--format",
        "parquet",
        "--confidence",
        "0.9",
        "--out",
        file.to_str().expect("utf-8"),
        sql,
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("wrote 2 row(s)"), "{out}");
    let reader =
        SerializedFileReader::new(std::fs::File::open(&file).expect("open")).expect("parquet");
    assert_eq!(reader.metadata().file_metadata().num_rows(), 2);
    let columns: Vec<String> = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    assert_eq!(columns, ["sex", "n", "n_ci_low", "n_ci_high"]);
    // To a pipe (stdout is not a terminal here): the bytes themselves.
    let out = privagg()
        .args(["query", "--catalog", c, "--format", "parquet", sql])
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(out.stdout.starts_with(b"PAR1") && out.stdout.ends_with(b"PAR1"));
}

/// Long expressions: planning recurses over the expression tree. 120
/// comparisons joined by OR (239 operators) run; 200 (399 operators) are
/// refused with one clear line, nothing charged.
#[test]
fn long_expressions_run_or_are_refused_never_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = pums_catalog(dir.path(), 10.0);
    let c = catalog.to_str().expect("utf-8 path");
    let chain = |n: usize| {
        let terms: Vec<String> = (0..n).map(|i| format!("age = {i}")).collect();
        format!("SELECT COUNT(*) FROM pums WHERE {}", terms.join(" OR "))
    };
    let (code, out, err) = run(&["query", "--catalog", c, &chain(120)]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, _, err) = run(&["query", "--catalog", c, &chain(200)]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("operators; at most 250"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(crate::common::spent_epsilon(&catalog, "alice"), "1");
}

/// `--out` into a missing folder or onto a folder is refused before the
/// charge (exit 2), and nothing is spent.
#[test]
fn a_bad_out_path_is_refused_before_the_charge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = pums_catalog(dir.path(), 10.0);
    let c = catalog.to_str().expect("utf-8 path");
    let missing = dir.path().join("no-such-folder/out.csv");
    let folder = dir.path().to_str().expect("utf-8 path");
    for out in [missing.to_str().expect("utf-8 path"), folder] {
        let (code, _, err) = run(&[
            "query",
            "--catalog",
            c,
            "--format",
            "csv",
            "--out",
            out,
            "SELECT COUNT(*) FROM pums",
        ]);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("nothing was charged"), "{err}");
    }
    assert_eq!(crate::common::spent_epsilon(&catalog, "alice"), "0");
}

/// Explain warns when the query would not fit the analyst's remaining budget.
#[test]
fn explain_warns_when_the_query_would_not_fit_the_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = pums_catalog(dir.path(), 1.0);
    let c = catalog.to_str().expect("utf-8 path");
    let explain = |epsilon: &str| {
        let (code, out, err) = run(&[
            "explain",
            "--catalog",
            c,
            "--epsilon",
            epsilon,
            "SELECT COUNT(*) FROM pums",
        ]);
        assert_eq!(code, Some(0), "{err}");
        out
    };
    assert!(!explain("0.75").contains("would not fit"));
    assert_eq!(count_pums(c, "0.75").0, Some(0));
    let out = explain("0.5");
    assert!(
        out.contains("warning: this query would not fit alice's remaining budget"),
        "{out}"
    );
    assert!(!explain("0.25").contains("would not fit"));
}
