//! What psql's `\d`, drivers and BI tools ask about the database, answered
//! from metadata only: table and column names and types, never a row.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests may panic

mod common;

use std::process::Command;

use common::{code, connect, rows, server, spent};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_answers_from_metadata_and_never_reads_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server(dir.path(), 8).await;
    let conn = connect(&server, "bob", "bob-pw").await.expect("login");
    let tables = rows(
        &conn
            .client
            .simple_query(
                "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema = 'public'",
            )
            .await
            .expect("information_schema.tables"),
    );
    assert_eq!(tables, vec![vec!["public".to_string(), "pums".to_string()]]);
    let columns = conn
        .client
        .query(
            "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) \
             FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
             WHERE c.relname = $1 ORDER BY a.attnum",
            &[&"pums"],
        )
        .await
        .expect("pg_attribute over the extended protocol");
    let names: Vec<String> = columns.iter().map(|r| r.get::<_, String>(0)).collect();
    assert_eq!(
        names,
        ["age", "sex", "educ", "race", "income", "married", "pid"]
    );
    assert_eq!(columns[0].get::<_, String>(1), "double precision"); // a bounded column
    let types: Vec<String> = columns.iter().map(|r| r.get::<_, String>(1)).collect();
    // As queries see the columns: the bounded one as float8, the one with
    // public values as int8 (the rest as the engine reads them).
    assert_eq!(types[1], "bigint", "{types:?}");
    let schema = rows(
        &conn
            .client
            .simple_query("SELECT current_schema(), current_database()")
            .await
            .expect("current_schema"),
    );
    assert_eq!(schema[0], ["public", "privagg"]);
    // What DBeaver and JDBC ask on connect.
    let who = rows(
        &conn
            .client
            .simple_query("SELECT current_schema(), session_user, current_user")
            .await
            .expect("session_user"),
    );
    assert_eq!(who[0], ["public", "bob", "bob"]);
    let setting = conn
        .client
        .query_one(
            "SELECT setting FROM pg_catalog.pg_settings WHERE name = $1",
            &[&"standard_conforming_strings"],
        )
        .await
        .expect("pg_settings");
    assert_eq!(setting.get::<_, String>(0), "on");
    // A catalog table's copy here is empty: reading it is refused rather
    // than answered "0 rows"; creating a table (which could read any file
    // the server can) is refused.
    for sql in [
        "SELECT COUNT(*) FROM public.pums -- pg_catalog.",
        "SELECT * FROM pums -- information_schema.",
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd' -- pg_catalog.",
    ] {
        let e = conn.client.simple_query(sql).await.expect_err(sql);
        assert_eq!(code(&e), "0A000", "{sql}: {e:?}");
    }
    assert_eq!(
        spent(dir.path(), "bob"),
        0.0,
        "introspection charges nothing"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_describes_the_catalog() {
    let required = std::env::var_os("PRIVAGG_REQUIRE_PSQL").is_some();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server(dir.path(), 8).await;
    let port = server.local_addr().port();
    let run = tokio::task::spawn_blocking(move || {
        ["\\d", "\\dt", "\\d pums", "\\dn", "\\l"].map(|meta| {
            Command::new("psql")
                .arg(format!(
                    "host=127.0.0.1 port={port} user=alice dbname=privagg"
                ))
                .args(["-X", "-v", "ON_ERROR_STOP=1", "-c", meta])
                .env("PGPASSWORD", "alice-pw")
                .output()
                .ok()
        })
    })
    .await
    .expect("psql");
    let outputs: Vec<_> = run.into_iter().flatten().collect();
    if outputs.len() < 5 {
        assert!(!required, "psql is needed for this test");
        eprintln!("skipped: no psql");
        return;
    }
    for o in &outputs {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let text = |i: usize| String::from_utf8_lossy(&outputs[i].stdout).to_string();
    assert!(
        text(0).contains("pums") && text(0).contains("table"),
        "{}",
        text(0)
    );
    assert!(text(1).contains("pums"), "{}", text(1));
    assert!(text(2).contains("Table \"public.pums\""), "{}", text(2));
    assert!(
        text(2).contains("pid") && text(2).contains("bigint"),
        "{}",
        text(2)
    );
    assert!(text(3).contains("public"), "{}", text(3));
    assert!(text(4).contains("privagg"), "{}", text(4));
    server.shutdown().await;
}
