//! A newcomer's run over ../shared/data/restaurant_week.csv (the quickstart's
//! catalog): the accuracy fixes, the SQL people write, and messages that name
//! the mistake — each through the real binary, with its exit code and, where
//! it says so, nothing charged.

use std::path::{Path, PathBuf};

use crate::common::{ok, run, spent_epsilon};

/// The quickstart's catalog over the restaurant visits, with a ledger in `dir`.
fn visits_catalog(dir: &Path) -> PathBuf {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/restaurant_week.csv");
    let text = format!(
        "[ledger]\npath = \"ledger.db\"\n[[analysts]]\nname = \"me\"\nepsilon = 50.0\ndelta = 1e-5\n\
         [[tables]]\nname = \"visits\"\npath = \"{}\"\nprivacy_unit = \"VisitorId\"\n\
         max_groups_contributed = 3\nmax_rows_per_group = 1\n\
         [tables.columns.\"Money spent (euros)\"]\nlower = 0.0\nupper = 60.0\n\
         [tables.columns.Day]\npublic_values = [1, 2, 3, 4, 5, 6, 7]\n\
         [[tables]]\nname = \"again\"\npath = \"{}\"\nprivacy_unit = \"VisitorId\"\n",
        data.display(),
        data.display()
    );
    let path = dir.join("privagg.toml");
    std::fs::write(&path, text).expect("write catalog");
    path
}

/// Runs `query` and insists on exit code 3 (rejected) with `expected` in the
/// one-line message, nothing charged.
fn refused(catalog: &Path, sql: &str, expected: &[&str]) {
    let c = catalog.to_str().expect("utf-8 path");
    let before = spent_epsilon(catalog, "me");
    let (code, _, err) = run(&["query", "--catalog", c, "--epsilon", "1", sql]);
    assert_eq!(code, Some(3), "{sql}: {err}");
    for e in expected {
        assert!(err.contains(e), "{sql}: expected {e:?} in {err}");
    }
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    for internal in [
        "enable_ident_normalization",
        "bug report",
        "Arrow error",
        "Valid fields",
    ] {
        assert!(!err.contains(internal), "{sql}: {internal:?} leaked: {err}");
    }
    assert_eq!(
        spent_epsilon(catalog, "me"),
        before,
        "{sql}: nothing charged"
    );
}

#[test]
fn engine_errors_read_as_one_line_with_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = visits_catalog(dir.path());
    refused(
        &catalog,
        "SELECT day, COUNT(*) FROM visits GROUP BY day",
        &[
            "unknown column day",
            "did you mean \"Day\"",
            "double quotes",
        ],
    );
    refused(
        &catalog,
        "SELECT Day, AVG('Money spent (euros)') FROM visits GROUP BY Day",
        &[
            "'Money spent (euros)' in single quotes is a string",
            "write \"Money spent (euros)\"",
        ],
    );
    refused(
        &catalog,
        "SELECT 'Day', COUNT(*) FROM visits GROUP BY 'Day'",
        &["GROUP BY 'Day'", "write \"Day\""],
    );
    refused(
        &catalog,
        "SELECT Day, COUNT(*) AS n FROM visits GROUP BY Day HAVING nope > 1",
        &["unknown column nope", "\"Money spent (euros)\""],
    );
    refused(
        &catalog,
        "SELECT Day, COUNT(*) FROM visits GROUP BY Day ORDER BY 5",
        &["ORDER BY 5", "has 2 column(s)"],
    );
    refused(
        &catalog,
        "SELECT Day, COUNT(*) FROM visits WHERE Day = 'monday' GROUP BY Day",
        &["'monday' cannot be read as Int64"],
    );
}

/// The exponential mechanism gives per-day medians narrower than the range,
/// explain names it, and a one-row AVG that spans the range is flagged with
/// the reason (in the table output and the JSON metadata).
#[test]
fn medians_are_narrow_and_range_wide_intervals_are_flagged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = visits_catalog(dir.path());
    let c = catalog.to_str().expect("utf-8 path");
    let median =
        "SELECT Day, MEDIAN(\"Money spent (euros)\") AS m FROM visits GROUP BY Day ORDER BY Day";
    let explain = ok(&["explain", "--catalog", c, "--epsilon", "2", median]);
    assert!(explain.contains("exponential mechanism"), "{explain}");
    let out = ok(&[
        "query",
        "--catalog",
        c,
        "--epsilon",
        "2",
        "--confidence",
        "0.95",
        "--format",
        "csv",
        median,
    ]);
    let widths: Vec<f64> = out
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<f64> = l.split(',').map(|x| x.parse().expect("number")).collect();
            f[3] - f[2]
        })
        .collect();
    assert_eq!(widths.len(), 7, "{out}");
    let mean = widths.iter().sum::<f64>() / 7.0;
    assert!(
        mean < 30.0,
        "median intervals span {mean} of 60 on average: {out}"
    );

    // An AVG of a few rows at ε 0.02: its interval usually spans most of
    // [0, 60] and is flagged. Not always — when the noise on both the count
    // and the sum is large and positive the ratio interval can be narrow (seen
    // about one run in fifteen) — so the text check allows a few draws (each
    // is charged; all failing has probability ~1e-6), and the JSON check
    // holds the flag to the documented rule on the cell's own numbers.
    let sql =
        "SELECT AVG(\"Money spent (euros)\") AS a FROM visits WHERE \"Time spent (minutes)\" > 118";
    let args = [
        "query",
        "--catalog",
        c,
        "--epsilon",
        "0.02",
        "--confidence",
        "0.95",
        sql,
    ];
    let flagged = (0..5).any(|_| {
        let (code, out, err) = run(&args);
        assert_eq!(code, Some(0), "{err}");
        out.contains("too noisy to act on")
    });
    assert!(flagged, "five draws of a range-wide AVG, none flagged");
    let mut json_args = args.to_vec();
    json_args.splice(7..7, ["--format", "json"]);
    let json = ok(&json_args);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    let cell = &v["metadata"]["accuracy"][0];
    assert_eq!(cell["declared_range"], 60.0, "{json}");
    let number = |k: &str| cell[k].as_f64().expect("a number");
    let (value, low, high) = (number("value"), number("ci_low"), number("ci_high"));
    let rule = value == 0.0 || (high - low) / 2.0 > 0.5 * value.abs() || high - low > 0.5 * 60.0;
    assert_eq!(cell["too_noisy"], rule, "{json}");
    assert_eq!(
        cell["reason"].as_str().is_some_and(|r| !r.is_empty()),
        rule,
        "{json}"
    );
}

/// A CTE, a comma join on the unit, per-row SUM bounds and a global
/// aggregate's L0 = 1, as explain shows them.
#[test]
fn the_sql_people_write_is_planned_as_meant() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = visits_catalog(dir.path());
    let c = catalog.to_str().expect("utf-8 path");
    let cte = "WITH long AS (SELECT * FROM visits WHERE \"Time spent (minutes)\" > 60) \
               SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 0.5) Day, COUNT(*) AS n \
               FROM long GROUP BY Day";
    let out = ok(&["query", "--catalog", c, cte]);
    assert_eq!(
        out.lines()
            .filter(|l| l.trim_start().starts_with(char::is_numeric))
            .count(),
        7,
        "{out}"
    );
    let comma = "SELECT a.Day, COUNT(*) AS n FROM visits a, visits b \
                 WHERE a.VisitorId = b.VisitorId GROUP BY a.Day";
    let (code, _, err) = run(&["explain", "--catalog", c, comma]);
    assert_eq!(code, Some(0), "{err}");
    // A join of two private tables off their units names both of them.
    refused(
        &catalog,
        "SELECT visits.Day, COUNT(*) AS n FROM visits JOIN again ON visits.Day = again.Day GROUP BY visits.Day",
        &["'visits' and 'again'"],
    );
    let per_row = "SELECT Day, SUM(\"Money spent (euros)\", contribution_bounds_per_row => (0, 40)) AS s \
                   FROM visits GROUP BY Day";
    let explain = ok(&["explain", "--catalog", c, per_row]);
    assert!(
        explain.contains("per row): each row clamped to [0, 40]"),
        "{explain}"
    );
    // Global: one group, so the count's noise is for 1 group, not 3.
    let global = ok(&[
        "explain",
        "--catalog",
        c,
        "--epsilon",
        "1",
        "SELECT COUNT(*) AS n FROM visits",
    ]);
    let grouped = ok(&[
        "explain",
        "--catalog",
        c,
        "--epsilon",
        "1",
        "SELECT Day, COUNT(*) AS n FROM visits GROUP BY Day",
    ]);
    let width = |text: &str| -> f64 {
        let line = text.lines().find(|l| l.contains("±")).expect("a width");
        let after = line.split('±').nth(1).expect("±");
        after
            .split_whitespace()
            .next()
            .expect("number")
            .parse()
            .expect("f64")
    };
    assert!(
        (width(&grouped) / width(&global) - 3.0).abs() < 0.2,
        "{global}\n{grouped}"
    );
}

/// One number format per output: integer intervals for counts in CSV, exact
/// ε strings per component in JSON metadata, `budget --json`'s remaining as
/// amounts; CJK column names line up in the table.
#[test]
fn numbers_have_one_format_per_output_and_wide_characters_align() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = visits_catalog(dir.path());
    let c = catalog.to_str().expect("utf-8 path");
    let sql =
        "SELECT Day, COUNT(*) AS n, AVG(\"Money spent (euros)\") AS a FROM visits GROUP BY Day";
    let csv = ok(&[
        "query",
        "--catalog",
        c,
        "--epsilon",
        "0.6",
        "--confidence",
        "0.9",
        "--format",
        "csv",
        sql,
    ]);
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        for count in &f[1..4] {
            assert!(
                count.parse::<i64>().is_ok(),
                "count and its interval are integers: {line}"
            );
        }
    }
    let json = ok(&[
        "query",
        "--catalog",
        c,
        "--epsilon",
        "0.6",
        "--format",
        "json",
        sql,
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    for column in v["metadata"]["columns"].as_array().expect("columns") {
        let e = column["epsilon"].as_str().expect("ε as a string");
        assert!(e == "0.3" || e == "0.15", "exact shares of 0.6: {e}");
    }
    let budget = ok(&["budget", "--catalog", c, "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&budget).expect("json");
    let remaining = &rows[0]["remaining"];
    assert_eq!(remaining["epsilon"], "48.8", "{budget}");
    assert_eq!(remaining["delta"], "0.00001", "{budget}");

    let data = dir.path().join("cjk.csv");
    std::fs::write(&data, "uid,地区\n1,北京\n2,上海\n3,广州市\n").expect("write");
    let cjk = dir.path().join("cjk.toml");
    std::fs::write(
        &cjk,
        format!(
            "[ledger]\npath = \"cjk.db\"\n[[analysts]]\nname = \"me\"\nepsilon = 10.0\n\
             [[tables]]\nname = \"t\"\npath = {:?}\nprivacy_unit = \"uid\"\n\
             [tables.columns.\"地区\"]\npublic_values = [\"北京\", \"上海\", \"广州市\"]\n",
            data.display().to_string()
        ),
    )
    .expect("write");
    let out = ok(&[
        "query",
        "--catalog",
        cjk.to_str().expect("utf-8"),
        "--epsilon",
        "1",
        "SELECT \"地区\", COUNT(*) AS \"人数\" FROM t GROUP BY \"地区\"",
    ]);
    // Every table row puts its second column at the same display column
    // (CJK characters are two columns wide).
    let second_column = |line: &str| -> usize {
        let indent = line.len() - line.trim_start().len();
        let body = &line[indent..];
        let gap = body.find("  ").expect("two columns");
        let rest = &body[gap..];
        let prefix = &line[..indent + gap + rest.len() - rest.trim_start().len()];
        prefix
            .chars()
            .map(|c| if c.is_ascii() { 1 } else { 2 })
            .sum()
    };
    let starts: Vec<usize> = out
        .lines()
        .take_while(|l| !l.starts_with("charged"))
        .filter(|l| !l.trim_start().starts_with('-'))
        .map(second_column)
        .collect();
    assert!(
        starts.len() == 4 && starts.windows(2).all(|w| w[0] == w[1]),
        "{out}"
    );
}
