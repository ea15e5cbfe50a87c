//! Helpers shared by the CLI tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The privagg binary under test.
pub fn privagg() -> Command {
    Command::new(env!("CARGO_BIN_EXE_privagg"))
}

/// A catalog over ../shared/data/PUMS_dup.csv with a ledger in `dir`.
pub fn pums_catalog(dir: &std::path::Path, analyst_epsilon: f64) -> std::path::PathBuf {
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

pub fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = privagg().args(args).output().expect("run privagg");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `privagg query --catalog <catalog> --epsilon <epsilon> "SELECT COUNT(*) FROM pums"`.
pub fn count_pums(catalog: &str, epsilon: &str) -> (Option<i32>, String, String) {
    run(&[
        "query",
        "--catalog",
        catalog,
        "--epsilon",
        epsilon,
        "SELECT COUNT(*) FROM pums",
    ])
}

/// Runs privagg and insists on success; returns stdout.
pub fn ok(args: &[&str]) -> String {
    let (code, out, err) = run(args);
    assert_eq!(code, Some(0), "{args:?}\nstdout: {out}\nstderr: {err}");
    out
}

/// `privagg generate` into `dir`; returns the catalog path.
pub fn generated(dir: &Path, customers: u32) -> PathBuf {
    ok(&[
        "generate",
        "--customers",
        &customers.to_string(),
        "--out",
        dir.to_str().expect("utf-8 path"),
    ]);
    dir.join("privagg.toml")
}

/// ε spent by `analyst` according to `privagg budget --json`.
pub fn spent_epsilon(catalog: &Path, analyst: &str) -> String {
    let out = ok(&[
        "budget",
        "--catalog",
        catalog.to_str().expect("utf-8 path"),
        "--analyst",
        analyst,
        "--json",
    ]);
    let rows: serde_json::Value = serde_json::from_str(&out).expect("budget json");
    let scope = format!("analyst:{analyst}");
    rows.as_array()
        .expect("array")
        .iter()
        .find(|r| r["scope"] == scope.as_str())
        .map(|r| {
            r["spent"]["epsilon"]
                .as_str()
                .expect("decimal text")
                .to_string()
        })
        .expect("the analyst's scope")
}

/// A catalog in `dir` with one private table `t` (unit `id`) over
/// `table_path`, analyst alice with ε 1; returns its path.
pub fn one_table_catalog(dir: &Path, table_path: &Path) -> String {
    let catalog = dir.join("privagg.toml");
    std::fs::write(
        &catalog,
        format!(
            "[ledger]\npath = \"ledger.db\"\n[[analysts]]\nname = \"alice\"\nepsilon = 1.0\ndelta = 1e-6\n\
             [[tables]]\nname = \"t\"\npath = \"{}\"\nprivacy_unit = \"id\"\n",
            table_path.display()
        ),
    )
    .expect("catalog");
    catalog.to_str().expect("utf-8").to_string()
}
