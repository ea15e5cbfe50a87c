//! The extended query protocol through tokio-postgres' `prepare`/`query`
//! (binary results): parameters bound into a DP query, each execution its
//! own charged release, `Describe` without a charge, bad parameters refused
//! before any charge, session statements over Parse/Bind/Execute.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests may panic

mod common;

use common::{code, connect, last_charge, server, spent};
use tokio_postgres::types::Type;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_dp_query_with_parameters_is_charged_per_execution() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server(dir.path(), 8).await;
    let conn = connect(&server, "bob", "bob-pw").await.expect("login");
    let sql = "SELECT sex, COUNT(*) AS n, AVG(age) AS avg_age FROM pums \
               WHERE age >= $1 AND educ <> $2 GROUP BY sex ORDER BY sex";
    // Describe (inside prepare) plans the query: its columns, nothing charged.
    let statement = conn
        .client
        .prepare_typed(sql, &[Type::INT8, Type::INT8])
        .await
        .expect("prepare");
    let names: Vec<&str> = statement.columns().iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        [
            "sex",
            "n",
            "n_ci_low",
            "n_ci_high",
            "avg_age",
            "avg_age_ci_low",
            "avg_age_ci_high"
        ]
    );
    assert_eq!(statement.columns()[1].type_(), &Type::INT8);
    assert_eq!(statement.columns()[4].type_(), &Type::FLOAT8);
    assert_eq!(last_charge(&conn).await, "", "describe charges nothing");
    let budget = spent(dir.path(), "bob");
    assert_eq!(budget, 0.0);
    // Two executions, two releases, two charges.
    for min_age in [18i64, 65] {
        let rows = conn
            .client
            .query(&statement, &[&min_age, &99i64])
            .await
            .expect("execute");
        assert_eq!(rows.len(), 2);
        let sex: i64 = rows[0].get("sex");
        assert_eq!(sex, 0);
        let n: i64 = rows[0].get("n");
        let (low, high): (i64, i64) = (rows[0].get("n_ci_low"), rows[0].get("n_ci_high"));
        assert!(low <= n && n <= high, "{low} <= {n} <= {high}");
        assert_eq!(last_charge(&conn).await, "0.5");
    }
    let budget = spent(dir.path(), "bob");
    assert!(
        (budget - 1.0).abs() < 1e-9,
        "two releases of ε 0.5: {budget}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_are_values_never_sql_and_bad_ones_cost_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server(dir.path(), 8).await;
    let conn = connect(&server, "alice", "alice-pw").await.expect("login");
    // A text parameter is one string literal, whatever it holds: comparing an
    // integer column with it is a type error, not an injected predicate.
    let e = conn
        .client
        .query(
            "SELECT COUNT(*) AS n FROM pums WHERE sex = $1",
            &[&"0 OR 1=1) UNION SELECT pid FROM pums --"],
        )
        .await
        .expect_err("not a number");
    assert_eq!(code(&e), "0A000", "{e:?}");
    assert!(
        format!("{e:?}").contains("cannot be read as Int64"),
        "{e:?}"
    );
    // A typed parameter is declared as the client typed it.
    let statement = conn
        .client
        .prepare_typed(
            "SELECT COUNT(*) AS n FROM pums WHERE age > $1",
            &[Type::INT8],
        )
        .await
        .expect("prepare");
    assert_eq!(statement.params(), &[Type::INT8]);
    // A rejected query is refused at Describe, before Execute.
    let e = conn
        .client
        .prepare("SELECT pid FROM pums WHERE age > $1")
        .await
        .expect_err("raw rows");
    assert_eq!(code(&e), "0A000");
    assert_eq!(last_charge(&conn).await, "");
    assert_eq!(spent(dir.path(), "alice"), 0.0);
    // An untyped parameter is text; DataFusion coerces it where it is compared.
    let rows = conn
        .client
        .query("SELECT COUNT(*) AS n FROM pums WHERE age > $1", &[&"30"])
        .await
        .expect("a text value compared with an integer column");
    assert_eq!(rows.len(), 1);
    assert_eq!(last_charge(&conn).await, "0.5");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_statements_work_over_the_extended_protocol() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server(dir.path(), 8).await;
    let conn = connect(&server, "bob", "bob-pw").await.expect("login");
    conn.client
        .execute("SET privagg.epsilon = 0.25", &[])
        .await
        .expect("set");
    let version = conn
        .client
        .query_one("SELECT version()", &[])
        .await
        .expect("version");
    let v: &str = version.get(0);
    assert!(v.contains("privagg"));
    let show = conn
        .client
        .query_one("SHOW privagg.epsilon", &[])
        .await
        .expect("show");
    assert_eq!(show.get::<_, &str>(0), "0.25");
    let plan = conn
        .client
        .query("EXPLAIN SELECT COUNT(*) AS n FROM pums", &[])
        .await
        .expect("explain");
    let first: &str = plan[0].get(0);
    assert!(first.contains("epsilon 0.25"), "{first}");
    let row = conn
        .client
        .query_one("SELECT COUNT(*) AS n FROM pums", &[])
        .await
        .expect("global count");
    let n: i64 = row.get("n");
    assert!(n > 0);
    assert_eq!(last_charge(&conn).await, "0.25");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_without_groups_still_has_its_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server(dir.path(), 8).await;
    let conn = connect(&server, "bob", "bob-pw").await.expect("login");
    let sql = "SELECT educ, COUNT(*) AS n FROM pums WHERE age > 1000 GROUP BY educ";
    let out = conn.client.simple_query(sql).await.expect("simple");
    let tokio_postgres::SimpleQueryMessage::RowDescription(columns) = &out[0] else {
        panic!("a row description: {out:?}");
    };
    let names: Vec<&str> = columns.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["educ", "n", "n_ci_low", "n_ci_high"]);
    assert_eq!(
        common::rows(&out).len(),
        0,
        "no group has units over 1000 years old"
    );
    let rows = conn.client.query(sql, &[]).await.expect("extended");
    assert!(rows.is_empty());
    server.shutdown().await;
}
