//! The server through a real Postgres client library (tokio-postgres, simple
//! query protocol): SCRAM logins, DP releases with their charge as a NOTICE,
//! SQLSTATEs, budgets shared by an analyst's connections, per-connection
//! settings, EXPLAIN, the connection limit.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests may panic

mod common;

use common::{code, connect, last_charge, rows, server};
use tokio_postgres::SimpleQueryMessage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_logs_in_and_gets_a_dp_release_with_its_charge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server(dir.path(), 8).await;
    let conn = connect(&server, "alice", "alice-pw").await.expect("login");
    let out = conn
        .client
        .simple_query(
            "SELECT sex, COUNT(*) AS n, AVG(age) AS avg_age FROM pums GROUP BY sex ORDER BY sex",
        )
        .await
        .expect("query");
    let released = rows(&out);
    assert_eq!(released.len(), 2, "{released:?}");
    assert_eq!(released[0][0], "0");
    // The intervals come along, as in the CLI.
    let SimpleQueryMessage::RowDescription(columns) = &out[0] else {
        panic!("a row description first: {out:?}");
    };
    let names: Vec<&str> = columns.iter().map(|c| c.name()).collect();
    assert!(
        names.contains(&"n_ci_low") && names.contains(&"avg_age_ci_high"),
        "{names:?}"
    );
    assert_eq!(
        last_charge(&conn).await,
        "0.5",
        "the catalog's default ε, as a NOTICE"
    );
    let version = rows(
        &conn
            .client
            .simple_query("SELECT version()")
            .await
            .expect("version"),
    );
    assert!(version[0][0].contains("privagg"), "{version:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_and_unknown_users_are_refused_alike() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server(dir.path(), 8).await;
    for (user, password) in [("alice", "bob-pw"), ("mallory", "x"), ("bob", "")] {
        let e = connect(&server, user, password)
            .await
            .err()
            .expect("refused");
        assert_eq!(code(&e), "28P01", "{user}: {e}");
    }
    assert!(connect(&server, "bob", "bob-pw").await.is_ok());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_sqlstates_and_one_analysts_connections_share_a_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server(dir.path(), 8).await;
    let a = connect(&server, "alice", "alice-pw").await.expect("login");
    for (sql, expected) in [
        ("SELECT * FROM pums", "0A000"),
        ("SELECT sex, COUNT(* FROM pums GROUP BY sex", "42601"),
        ("SELECT COUNT(*) FROM nowhere", "42P01"),
        ("SELECT nope, COUNT(*) FROM pums GROUP BY nope", "42703"),
        ("DELETE FROM pums", "0A000"),
    ] {
        let e = a.client.simple_query(sql).await.expect_err(sql);
        assert_eq!(code(&e), expected, "{sql}: {e}");
    }
    // alice has ε 1: two connections, 0.6 each; the second is refused.
    let b = connect(&server, "alice", "alice-pw")
        .await
        .expect("second login");
    let spend = "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 0.6) COUNT(*) FROM pums";
    a.client.simple_query(spend).await.expect("first charge");
    let e = b.client.simple_query(spend).await.expect_err("over budget");
    assert_eq!(code(&e), "53400", "{e}");
    let message = e
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default();
    assert!(
        message.contains("budget exhausted for analyst 'alice'"),
        "{message}"
    );
    // bob's budget is his own.
    let bob = connect(&server, "bob", "bob-pw").await.expect("bob");
    bob.client.simple_query(spend).await.expect("bob can spend");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_belong_to_a_connection_and_explain_charges_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server(dir.path(), 8).await;
    let a = connect(&server, "bob", "bob-pw").await.expect("login");
    let b = connect(&server, "bob", "bob-pw").await.expect("login");
    a.client
        .simple_query("SET privagg.epsilon = 0.25")
        .await
        .expect("set");
    let e = a
        .client
        .simple_query("SET privagg.epsilon = -1")
        .await
        .expect_err("bad value");
    assert_eq!(code(&e), "0A000", "{e}");
    let count = "SELECT COUNT(*) FROM pums";
    a.client.simple_query(count).await.expect("a");
    assert_eq!(last_charge(&a).await, "0.25");
    b.client.simple_query(count).await.expect("b");
    assert_eq!(last_charge(&b).await, "0.5", "b did not see a's SET");
    let plan = rows(
        &a.client
            .simple_query("EXPLAIN SELECT sex, COUNT(*) FROM pums GROUP BY sex")
            .await
            .expect("explain"),
    );
    assert!(plan[0][0].contains("nothing charged"), "{plan:?}");
    // Client chatter answers sensibly.
    a.client
        .simple_query("SET extra_float_digits = 3")
        .await
        .expect("client SET");
    a.client.simple_query("BEGIN").await.expect("begin");
    a.client.simple_query("COMMIT").await.expect("commit");
    let v = rows(
        &a.client
            .simple_query("SHOW server_version")
            .await
            .expect("show"),
    );
    assert_eq!(v[0][0], "15.0");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_are_refused_with_53300() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server(dir.path(), 2).await;
    let _a = connect(&server, "bob", "bob-pw").await.expect("1");
    let _b = connect(&server, "bob", "bob-pw").await.expect("2");
    let e = connect(&server, "bob", "bob-pw")
        .await
        .err()
        .expect("3rd refused");
    assert_eq!(code(&e), "53300", "{e}");
    server.shutdown().await;
}
