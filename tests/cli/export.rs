//! `privagg export`: one up-front charge, atomic files, manifest and report.

use std::path::Path;

use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
use sha2::{Digest, Sha256};

use crate::common::{generated, ok, privagg, pums_catalog, run, spent_epsilon};

const JOB: &str = r#"
analyst = "alice"
epsilon = 1.0
confidence = 0.9
[[queries]]
name = "segment_spend"
sql = "SELECT segment, COUNT(*) AS n, AVG(spend) AS avg_spend FROM purchases GROUP BY segment"
share = 0.5
format = "parquet"
[[queries]]
name = "city_customers"
sql = "SELECT city, COUNT(DISTINCT customer_id) AS customers FROM purchases GROUP BY city"
share = 0.25
format = "csv"
[[queries]]
name = "region_revenue"
sql = "SELECT region, SUM(spend) AS revenue FROM purchases GROUP BY region"
epsilon = 0.25
format = "json"
"#;

fn write_job(dir: &Path, text: &str) -> String {
    let path = dir.join("job.toml");
    std::fs::write(&path, text).expect("write job");
    path.to_str().expect("utf-8").to_string()
}

fn parquet_rows(path: &Path) -> i64 {
    let file = std::fs::File::open(path).expect("open parquet");
    SerializedFileReader::new(file)
        .expect("a complete Parquet file")
        .metadata()
        .file_metadata()
        .num_rows()
}

#[test]
fn export_writes_every_result_a_manifest_and_a_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = generated(dir.path(), 3000);
    let job = write_job(dir.path(), JOB);
    let out = dir.path().join("out");
    let text = ok(&["export", &job, "--out", out.to_str().expect("utf-8")]);
    assert!(text.contains("one charge for 3 queries"), "{text}");
    // One charge for the whole job: 0.5 + 0.25 + 0.25.
    assert_eq!(spent_epsilon(&catalog, "alice"), "1");
    let audit = ok(&["audit", "--catalog", catalog.to_str().expect("utf-8")]);
    assert_eq!(
        audit.lines().filter(|l| l.contains("accepted")).count(),
        1,
        "{audit}"
    );

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).expect("manifest"))
            .expect("manifest json");
    assert_eq!(manifest["epsilon"], "1");
    assert_eq!(manifest["confidence"], 0.9);
    let digest = Sha256::digest(std::fs::read(&catalog).expect("catalog"));
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(manifest["catalog"]["sha256"], hex.as_str());
    let queries = manifest["queries"].as_array().expect("queries");
    assert_eq!(queries.len(), 3);
    let eps: Vec<&str> = queries
        .iter()
        .map(|q| q["epsilon"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(eps, ["0.5", "0.25", "0.25"]);
    for q in queries {
        assert!(!q["columns"].as_array().expect("columns").is_empty());
        assert!(q["columns"][0]["scale"].as_f64().expect("scale") > 0.0);
    }

    // Public tiers: 4 rows, with 90% intervals as columns.
    assert_eq!(parquet_rows(&out.join("segment_spend.parquet")), 4);
    assert_eq!(queries[0]["groups_released"], 4);
    let csv = std::fs::read_to_string(out.join("city_customers.csv")).expect("csv");
    assert!(
        csv.starts_with("city,customers,customers_ci_low,customers_ci_high\n"),
        "{csv}"
    );
    assert_eq!(
        csv.lines().count() as u64 - 1,
        queries[1]["groups_released"].as_u64().expect("rows")
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("region_revenue.json")).expect("json"))
            .expect("rows json");
    assert_eq!(
        json.as_array().expect("rows").len(),
        5,
        "five public regions"
    );

    let report = std::fs::read_to_string(out.join("REPORT.md")).expect("report");
    for needle in [
        "differentially private at the level of one customer",
        "ε = 1",
        "`segment_spend.parquet`",
        "### `city_customers`",
        "how many were withheld is not reported",
        "90% confidence interval",
        "What this does not protect",
    ] {
        assert!(report.contains(needle), "missing {needle:?} in REPORT.md");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .expect("out dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn a_job_is_all_or_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = generated(dir.path(), 500);
    let out = dir.path().join("out");
    let o = out.to_str().expect("utf-8");
    // The second query is rejected: nothing charged, nothing written.
    let bad = JOB.replace(
        "SELECT city, COUNT(DISTINCT customer_id) AS customers FROM purchases GROUP BY city",
        "SELECT * FROM purchases",
    );
    let (code, _, err) = run(&["export", &write_job(dir.path(), &bad), "--out", o]);
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("query `city_customers`") && err.contains("SELECT *"),
        "{err}"
    );
    assert!(!out.exists());
    assert_eq!(spent_epsilon(&catalog, "alice"), "0");
    // More than the analyst's 10: refused as a whole.
    let greedy = JOB.replace("epsilon = 1.0", "epsilon = 40.0");
    let (code, _, err) = run(&["export", &write_job(dir.path(), &greedy), "--out", o]);
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("budget exhausted"), "{err}");
    assert!(!out.exists());
    assert_eq!(spent_epsilon(&catalog, "alice"), "0");
}

#[test]
fn bad_job_files_are_usage_errors_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = generated(dir.path(), 200);
    let cases = [
        ("analyst = \"alice\"\n[[queries]\n", "job file"),
        (
            "analyst = \"alice\"\n[[queries]]\nname = \"a\"\nsql = \"SELECT COUNT(*) FROM purchases\"\nshare = 0.5\n",
            "queries[0].share needs a top-level epsilon",
        ),
        (
            "analyst = \"alice\"\n[[queries]]\nname = \"../a\"\nsql = \"SELECT COUNT(*) FROM purchases\"\n",
            "queries[0].name",
        ),
        (
            "analyst = \"alice\"\nepsilon = 1.0\n[[queries]]\nname = \"a\"\nsql = \"x\"\nshare = 0.7\n[[queries]]\nname = \"b\"\nsql = \"x\"\nshare = 0.7\n",
            "shares add up to",
        ),
        (
            "analyst = \"alice\"\n[[queries]]\nname = \"a\"\nsql = \"x\"\nepsilon = -1\n",
            "queries[0].epsilon = -1 must be",
        ),
        (
            "analyst = \"alice\"\n[[queries]]\nname = \"a\"\nsql = \"x\"\nformat = \"xlsx\"\n",
            "job file",
        ),
        ("analyst = \"alice\"\nqueries = []\n", "nothing to export"),
    ];
    for (text, want) in cases {
        let job = write_job(dir.path(), text);
        let (code, _, err) = run(&[
            "export",
            &job,
            "--out",
            dir.path().join("o").to_str().expect("utf-8"),
        ]);
        assert_eq!(code, Some(2), "{text}: {err}");
        assert!(
            err.contains(want) && err.lines().count() == 1,
            "{text}: {err}"
        );
    }
    let (code, _, err) = run(&["export", "/no/such/job.toml"]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(spent_epsilon(&catalog, "alice"), "0");
}

#[test]
fn export_over_a_shared_csv() {
    let dir = tempfile::tempdir().expect("tempdir");
    pums_catalog(dir.path(), 5.0);
    let job = write_job(
        dir.path(),
        "analyst = \"alice\"\n[[queries]]\nname = \"age_by_sex\"\nsql = \"SELECT sex, AVG(age) AS avg_age FROM pums GROUP BY sex\"\nepsilon = 1.0\nformat = \"csv\"\n",
    );
    let out = dir.path().join("out");
    ok(&["export", &job, "--out", out.to_str().expect("utf-8")]);
    let csv = std::fs::read_to_string(out.join("age_by_sex.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 3, "header + sex 0 and 1:\n{csv}");
}

/// Kills exports at many moments while they overwrite the files of an
/// earlier, complete export: whatever exists under a final name is complete.
#[test]
fn a_killed_export_never_leaves_a_partial_file_under_a_final_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    generated(dir.path(), 1000);
    let job = write_job(dir.path(), &JOB.replace("epsilon = 1.0", "epsilon = 0.1"));
    let out = dir.path().join("out");
    // A first export completes, so every later one replaces existing files.
    ok(&["export", &job, "--out", out.to_str().expect("utf-8")]);
    let mut completed = 0;
    for i in 0..12u64 {
        let mut child = privagg()
            .args([
                "export",
                &job,
                "--out",
                out.to_str().expect("utf-8"),
                "--force",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(40 * i));
        let _ = child.kill();
        if child.wait().expect("wait").success() {
            completed += 1;
        }
        for entry in std::fs::read_dir(&out).expect("out").filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            match name.rsplit('.').next() {
                Some("parquet") => assert!(parquet_rows(&path) > 0),
                Some("json") => {
                    serde_json::from_slice::<serde_json::Value>(
                        &std::fs::read(&path).expect("read"),
                    )
                    .expect("complete JSON");
                }
                Some("csv") => assert!(
                    std::fs::read_to_string(&path)
                        .expect("read")
                        .ends_with('\n')
                ),
                Some("md") => assert!(
                    std::fs::read_to_string(&path)
                        .expect("read")
                        .ends_with("the content of the files is.\n"),
                    "REPORT.md complete"
                ),
                Some("html") => assert!(
                    std::fs::read_to_string(&path)
                        .expect("read")
                        .ends_with("</html>\n"),
                    "report.html complete"
                ),
                Some("partial") => {} // a temporary name, never a final one
                other => panic!("unexpected file {name} ({other:?})"),
            }
        }
    }
    assert!(
        completed < 12,
        "no export was interrupted: the test proves nothing"
    );
}

#[test]
fn an_unwritable_output_folder_is_refused_before_any_charge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = generated(dir.path(), 200);
    let job = write_job(dir.path(), JOB);
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").expect("write");
    let (code, _, err) = run(&[
        "export",
        &job,
        "--out",
        file.join("out").to_str().expect("utf-8"),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("cannot create the output folder") && err.contains("nothing was charged"),
        "{err}"
    );
    assert_eq!(spent_epsilon(&catalog, "alice"), "0");
}

#[test]
fn a_second_export_into_the_same_folder_needs_force_and_charges_nothing_without() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = generated(dir.path(), 200);
    let job = write_job(dir.path(), JOB);
    let out = dir.path().join("out");
    let o = out.to_str().expect("utf-8");
    ok(&["export", &job, "--out", o]);
    let spent = spent_epsilon(&catalog, "alice");
    let manifest = std::fs::read(out.join("manifest.json")).expect("manifest");
    let (code, _, err) = run(&["export", &job, "--out", o]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("already holds the results of an earlier export")
            && err.contains("manifest.json")
            && err.contains("--force")
            && err.contains("nothing was charged"),
        "{err}"
    );
    assert_eq!(spent_epsilon(&catalog, "alice"), spent, "nothing charged");
    assert_eq!(
        std::fs::read(out.join("manifest.json")).expect("manifest"),
        manifest,
        "the paid results are untouched"
    );
    ok(&["export", &job, "--out", o, "--force"]);
    assert_ne!(
        std::fs::read(out.join("manifest.json")).expect("manifest"),
        manifest,
        "--force replaces them"
    );
}

/// A query without GROUP BY has no segments: the report says so instead of
/// speaking of thresholds and withheld segments.
#[test]
fn the_report_of_a_global_query_speaks_of_no_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    generated(dir.path(), 300);
    let job = write_job(
        dir.path(),
        "analyst = \"alice\"\n[[queries]]\nname = \"overall\"\nsql = \"SELECT COUNT(DISTINCT customer_id) AS customers, AVG(spend) AS avg_spend FROM purchases\"\nepsilon = 1.0\nformat = \"csv\"\n",
    );
    let out = dir.path().join("out");
    ok(&["export", &job, "--out", out.to_str().expect("utf-8")]);
    let report = std::fs::read_to_string(out.join("REPORT.md")).expect("report");
    assert!(report.contains("The query has no GROUP BY"), "{report}");
    // The unit is named, the AVG's coverage is stated as what it is (two
    // noisy sums: at least 90% at 95%), and the flag rule includes the range.
    assert!(
        report.contains("privacy unit `customer_id`") && report.contains("(`customer_id`)"),
        "{report}"
    );
    assert!(report.contains("at least 90%"), "{report}");
    assert!(report.contains("declared"), "{report}");
    assert!(
        !report.contains("customers,    "),
        "no run of spaces inside a sentence: {report}"
    );
    assert!(
        !report.contains("threshold") && !report.contains("withheld to protect"),
        "{report}"
    );
    let manifest = std::fs::read_to_string(out.join("manifest.json")).expect("manifest");
    assert!(manifest.contains("\"grouped\": false"), "{manifest}");
}
