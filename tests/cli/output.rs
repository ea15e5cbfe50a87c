//! How `query` picks its output format, the help text, and numbers in messages.

use crate::common::{pums_catalog, run};

/// `--out x.parquet` without `--format` writes Parquet; an extension that
/// names no format, or one that contradicts `--format`, is refused before
/// the charge; `explain` accepts only the formats it can print.
#[test]
fn the_output_format_follows_the_extension_or_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = pums_catalog(dir.path(), 10.0);
    let c = catalog.to_str().expect("utf-8 path");
    let sql = "SELECT sex, COUNT(*) AS n FROM pums GROUP BY sex";
    let parquet = dir.path().join("out.parquet");
    let p = parquet.to_str().expect("utf-8 path");
    let (code, _, err) = run(&["query", "--catalog", c, "--out", p, sql]);
    assert_eq!(code, Some(0), "{err}");
    let bytes = std::fs::read(&parquet).expect("written");
    assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"));
    let spent = crate::common::spent_epsilon(&catalog, "alice");
    for args in [
        vec!["--out", dir.path().join("out.dat").to_str().expect("utf-8")],
        vec!["--format", "csv", "--out", p],
    ] {
        let mut all = vec!["query", "--catalog", c];
        all.extend(args);
        all.push(sql);
        let (code, _, err) = run(&all);
        assert_eq!(code, Some(2), "{all:?}: {err}");
        assert!(err.contains("nothing was charged"), "{err}");
    }
    assert_eq!(crate::common::spent_epsilon(&catalog, "alice"), spent);
    let (code, _, err) = run(&["explain", "--catalog", c, "--format", "csv", sql]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("possible values: table, json"), "{err}");
}

/// Help shows examples, and a bare `privagg` shows the same help; numbers in
/// messages stay short; a negative ε is a clear rejection, not clap's hint.
#[test]
fn help_has_examples_and_numbers_read_well() {
    let (_, help, _) = run(&["--help"]);
    assert!(
        help.contains("Examples:") && help.contains("privagg demo"),
        "{help}"
    );
    let (code, out, err) = run(&[]);
    assert_eq!(code, Some(2));
    assert_eq!(out + &err, help, "bare privagg prints the help");
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = pums_catalog(dir.path(), 10.0);
    let c = catalog.to_str().expect("utf-8 path");
    for (epsilon, shown) in [
        ("-1", "invalid epsilon: -1 "),
        ("1e-300", "invalid epsilon: 1e-300 "),
    ] {
        let (code, _, err) = run(&[
            "query",
            "--catalog",
            c,
            "--epsilon",
            epsilon,
            "SELECT COUNT(*) FROM pums",
        ]);
        assert_eq!(code, Some(3), "{err}");
        assert!(err.contains(shown) && err.len() < 200, "{err}");
    }
    assert_eq!(crate::common::spent_epsilon(&catalog, "alice"), "0");
}

/// Explain says what bounding does to a count, from public parameters only.
#[test]
fn explain_says_what_bounding_does_to_a_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = pums_catalog(dir.path(), 10.0);
    let c = catalog.to_str().expect("utf-8 path");
    let explain = |sql: &str| {
        let (code, out, err) = run(&["explain", "--catalog", c, sql]);
        assert_eq!(code, Some(0), "{err}");
        out
    };
    let rows = explain("SELECT sex, COUNT(*) AS n FROM pums GROUP BY sex");
    assert!(
        rows.contains("count rows, at most 2 per pid and group")
            && rows.contains("each pid counts in at most"),
        "{rows}"
    );
    let units = explain(
        "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (max_rows_contributed = 1) COUNT(*) AS n FROM pums",
    );
    assert!(
        units.contains("count pids, not rows") && units.contains("no GROUP BY: one group"),
        "{units}"
    );
}
