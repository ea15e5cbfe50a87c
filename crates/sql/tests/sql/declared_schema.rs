//! Private CSV and JSON tables are read with the catalog's types, never with
//! types inferred from private rows: one odd value neither changes a
//! column's type nor makes the query fail (issue: "one 12.5 turns income
//! into Float64, one n/a breaks loading").

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use privagg_budget::MemoryLedger;
use privagg_sql::{Catalog, Engine};

fn catalog(dir: &std::path::Path, file: &str, columns: &str) -> Catalog {
    let text = format!(
        "[ledger]\npath = \"l.db\"\n[[analysts]]\nname = \"a\"\nepsilon = 1000.0\ndelta = 0.1\n\
         [[tables]]\nname = \"t\"\npath = \"{file}\"\nprivacy_unit = \"uid\"\nconsent_column = \"ok\"\n{columns}"
    );
    Catalog::parse(&text, "declared.toml", dir.to_path_buf()).expect("catalog")
}

/// A context over `contents` written to `dir/file`, with [`COLUMNS`] declared.
async fn context_over(dir: &std::path::Path, file: &str, contents: &str) -> Engine {
    std::fs::write(dir.join(file), contents).expect("write");
    Engine::with_ledger(catalog(dir, file, COLUMNS), Arc::new(MemoryLedger::new()))
        .await
        .expect("context")
}

const COLUMNS: &str = "[tables.columns.income]\ntype = \"int64\"\nlower = 0.0\nupper = 100.0\n\
                       [tables.columns.day]\ntype = \"int64\"\n";

const QUERY: &str = "SELECT day, COUNT(*) AS n, SUM(income) AS s FROM t GROUP BY day";

/// Runs QUERY over a CSV with the given extra rows; returns the released
/// key type and the outcome text.
async fn run_csv(extra: &str) -> (Option<DataType>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut csv = String::from("uid,day,income,note,ok\n");
    for i in 0..400 {
        csv.push_str(&format!("u{i},{},{},x,true\n", i % 3, i % 90));
    }
    csv.push_str(extra);
    let ctx = context_over(dir.path(), "t.csv", &csv).await;
    match ctx.query("a", QUERY).await {
        Ok(r) => (
            r.batches
                .first()
                .map(|b| b.schema().field(0).data_type().clone()),
            "ok".into(),
        ),
        Err(e) => (None, e.to_string()),
    }
}

#[tokio::test]
async fn an_odd_private_value_changes_neither_types_nor_success() {
    let clean = run_csv("").await;
    assert_eq!(clean, (Some(DataType::Int64), "ok".to_string()));
    // A float where integers are declared, text, an empty cell, an overflow,
    // a non-boolean consent, a truncated row: each row becomes NULLs where it
    // does not fit.
    for odd in [
        "odd,12.5,12.5,x,true\n",
        "odd,n/a,n/a,x,true\n",
        "odd,,,x,true\n",
        "odd,1,99999999999999999999999,x,true\n",
        "odd,1,5,x,maybe\n",
        "odd,1\n",
    ] {
        assert_eq!(run_csv(odd).await, clean, "with the row {odd:?}");
    }
}

#[tokio::test]
async fn undeclared_columns_are_text_whatever_the_rows_hold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut csv = String::from("uid,day,income,note,ok\n");
    for i in 0..50 {
        csv.push_str(&format!("u{i},1,{i},{},true\n", i % 2));
    }
    let ctx = context_over(dir.path(), "t.csv", &csv).await;
    // `note` holds only numbers, but the catalog does not say it is numeric.
    let r = ctx
        .query("a", "SELECT note, COUNT(*) AS n FROM t GROUP BY note")
        .await
        .expect("grouped by text");
    assert_eq!(r.batches[0].schema().field(0).data_type(), &DataType::Utf8);
    let e = ctx
        .query("a", "SELECT VAR_POP(note) FROM t")
        .await
        .expect_err("text");
    assert_eq!(
        e.to_string(),
        "invalid SQL: no function matches 'var_pop(Utf8)': the argument types do not fit (see the column types in the catalog, or add a CAST)"
    );
}

#[tokio::test]
async fn json_tables_read_declared_columns_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut json = String::new();
    for i in 0..200 {
        json.push_str(&format!(
            "{{\"uid\": \"u{i}\", \"day\": {}, \"income\": {}, \"ok\": true, \"secret\": 1}}\n",
            i % 3,
            i % 90
        ));
    }
    let ctx = context_over(dir.path(), "t.json", &json).await;
    let r = ctx.query("a", QUERY).await.expect("declared JSON");
    assert_eq!(r.batches[0].schema().field(0).data_type(), &DataType::Int64);
    let e = ctx
        .query("a", "SELECT COUNT(secret) FROM t")
        .await
        .expect_err("undeclared JSON keys are not read");
    assert!(e.to_string().contains("secret"), "{e}");
}

#[test]
fn an_unknown_type_is_a_catalog_error() {
    let e = Catalog::parse(
        "[ledger]\npath = \"l.db\"\n[[tables]]\nname = \"t\"\npath = \"t.csv\"\nprivacy_unit = \"uid\"\n[tables.columns.x]\ntype = \"number\"\n",
        "bad.toml",
        Default::default(),
    )
    .expect_err("unknown type");
    assert!(
        e.to_string().contains("unknown type 'number'") && e.to_string().contains("columns.x.type"),
        "{e}"
    );
}
