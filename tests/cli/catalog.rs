//! `privagg catalog add`: the data owner writes a table entry with explicit
//! column types read from the file; queries then use those types.

use crate::common::{ok, run};

/// `privagg catalog add` of visits.csv under `name` with `unit`.
fn add(catalog: &str, name: &str, unit: &str) -> (Option<i32>, String, String) {
    run(&[
        "catalog",
        "add",
        "--catalog",
        catalog,
        "--name",
        name,
        "--path",
        "visits.csv",
        "--privacy-unit",
        unit,
    ])
}

#[test]
fn catalog_add_writes_declared_types_that_queries_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/restaurant_week.csv");
    std::fs::copy(&data, dir.path().join("visits.csv")).expect("copy");
    let catalog = dir.path().join("privagg.toml");
    std::fs::write(
        &catalog,
        "[ledger]\npath = \"ledger.db\"\n[[analysts]]\nname = \"me\"\nepsilon = 5.0\ndelta = 1e-5\n",
    )
    .expect("write");
    let c = catalog.to_str().expect("utf-8");
    let (code, out, err) = add(c, "visits", "VisitorId");
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("added table 'visits' (5 columns"), "{out}");
    let text = std::fs::read_to_string(&catalog).expect("read");
    for expected in [
        "[tables.columns.\"VisitorId\"]\ntype = \"int64\"",
        "[tables.columns.\"Time entered\"]\ntype = \"string\"",
        "[tables.columns.\"Day\"]\ntype = \"int64\"",
    ] {
        assert!(text.contains(expected), "{expected} missing in\n{text}");
    }
    let json = ok(&[
        "query",
        "--catalog",
        c,
        "--epsilon",
        "1",
        "--format",
        "json",
        "SELECT Day, COUNT(*) AS visits FROM visits GROUP BY Day",
    ]);
    assert!(
        json.contains("\"Day\":1") || json.contains("\"Day\": 1"),
        "{json}"
    );
    // Adding it twice, or naming a column the file lacks, is a usage error.
    let (code, _, err) = add(c, "visits", "VisitorId");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("already in"), "{err}");
    let (code, _, err) = add(c, "v2", "Nobody");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("privacy unit 'Nobody' is not a column"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&catalog).expect("read"),
        text,
        "unchanged"
    );
}

/// An empty CSV says so; a header-only CSV says it has no rows to read
/// types from (not "type Null" or "columns: ").
#[test]
fn empty_and_header_only_csv_files_are_named_as_such() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = crate::common::pums_catalog(dir.path(), 1.0);
    let c = catalog.to_str().expect("utf-8");
    std::fs::write(dir.path().join("empty.csv"), "").expect("write");
    std::fs::write(dir.path().join("header.csv"), "id,x\n").expect("write");
    for (file, needle) in [
        (
            "empty.csv",
            "the file is empty: a CSV file needs a header row",
        ),
        ("header.csv", "has a header but no rows"),
    ] {
        let path = dir.path().join(file);
        let (code, _, err) = crate::common::run(&[
            "catalog",
            "add",
            "--catalog",
            c,
            "--name",
            "t",
            "--path",
            path.to_str().expect("utf-8"),
            "--privacy-unit",
            "id",
        ]);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains(needle) && !err.contains("Null"), "{err}");
    }
}

#[test]
fn table_paths_may_be_file_urls_and_object_store_urls_are_refused_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("my data");
    std::fs::create_dir(&folder).expect("mkdir");
    let data =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/PUMS_dup.csv");
    std::fs::copy(&data, folder.join("pums.csv")).expect("copy");
    let url = format!("file://{}/my%20data/pums.csv", dir.path().display());
    let catalog = crate::common::pums_catalog(dir.path(), 2.0);
    let text = std::fs::read_to_string(&catalog).expect("read");
    std::fs::write(&catalog, text.replace(&data.display().to_string(), &url)).expect("write");
    let c = catalog.to_str().expect("utf-8");
    let out = ok(&[
        "query",
        "--catalog",
        c,
        "--epsilon",
        "0.5",
        "SELECT COUNT(*) FROM pums",
    ]);
    assert!(out.contains("count"), "{out}");

    let text = std::fs::read_to_string(&catalog).expect("read");
    std::fs::write(&catalog, text.replace(&url, "s3://bucket/pums.parquet")).expect("write");
    let (code, out, err) = run(&[
        "query",
        "--catalog",
        c,
        "--epsilon",
        "0.5",
        "SELECT COUNT(*) FROM pums",
    ]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(
        err.contains("s3:// object stores are not supported yet") && err.contains("file:// URL"),
        "{err}"
    );
    assert_eq!(crate::common::spent_epsilon(&catalog, "alice"), "0.5");
}
