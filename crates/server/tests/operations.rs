//! Operations: refused logins slow down and are audited, `--readonly`,
//! the idle timeout, TLS (with the real `psql` and `openssl` when present).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests may panic

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{code, connect, server, spent};
use privagg_budget::Ledger as _;
use privagg_server::ServeConfig;

/// The audit entries of refused logins.
fn login_refusals(dir: &Path) -> usize {
    let catalog = privagg_sql::Catalog::load(dir.join("privagg.toml")).expect("catalog");
    let ledger = privagg_sql::ledger::open_ledger(&catalog, privagg_sql::ledger::Access::Read)
        .expect("ledger")
        .expect("exists");
    ledger
        .audit_log()
        .expect("audit")
        .iter()
        .filter(|e| format!("{e:?}").contains("login refused"))
        .count()
}

async fn start(dir: &Path, change: impl FnOnce(&mut ServeConfig)) -> privagg_server::Server {
    let mut config = ServeConfig::new(common::catalog(dir));
    config.listen = "127.0.0.1:0".parse().expect("addr");
    change(&mut config);
    privagg_server::start(config).await.expect("server starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_logins_are_audited_and_slow_down() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server(dir.path(), 8).await;
    let free = privagg_server::FREE_FAILURES;
    for _ in 0..free {
        let e = connect(&server, "alice", "guess")
            .await
            .err()
            .expect("refused");
        assert_eq!(code(&e), "28P01");
    }
    // Past the free refusals, the next attempt waits before its exchange,
    // whoever it is for (same address) — even with the right password.
    let started = Instant::now();
    let e = connect(&server, "mallory", "guess")
        .await
        .err()
        .expect("refused");
    assert_eq!(code(&e), "28P01");
    assert!(started.elapsed() >= privagg_server::delay_after(free));
    let started = Instant::now();
    connect(&server, "bob", "bob-pw")
        .await
        .expect("the right password still works");
    assert!(started.elapsed() >= privagg_server::delay_after(free + 1));
    // Each refusal is in the ledger's audit chain, which still verifies.
    let mut audited = 0;
    for _ in 0..50 {
        audited = login_refusals(dir.path());
        if audited == free as usize + 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(audited, free as usize + 1);
    server.shutdown().await;
    let catalog = privagg_sql::Catalog::load(dir.path().join("privagg.toml")).expect("catalog");
    let ledger = privagg_sql::ledger::open_ledger(&catalog, privagg_sql::ledger::Access::Read)
        .expect("ledger")
        .expect("exists");
    assert!(ledger.verify_ledger(None).expect("verify").is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_readonly_server_refuses_dp_queries_and_still_explains() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server(dir.path(), 8).await;
    let conn = connect(&server, "bob", "bob-pw").await.expect("login");
    conn.client
        .simple_query("SELECT COUNT(*) AS n FROM pums")
        .await
        .expect("a first charge creates the ledger");
    drop(conn);
    server.shutdown().await;
    let before = spent(dir.path(), "bob");
    let server = start(dir.path(), |c| c.readonly = true).await;
    let conn = connect(&server, "bob", "bob-pw").await.expect("login");
    let e = conn
        .client
        .simple_query("SELECT COUNT(*) AS n FROM pums")
        .await
        .expect_err("read-only");
    assert_eq!(code(&e), "25006");
    conn.client
        .simple_query("EXPLAIN SELECT COUNT(*) AS n FROM pums")
        .await
        .expect("explain works");
    assert_eq!(spent(dir.path(), "bob"), before);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed_and_frees_its_slot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), |c| {
        c.idle_timeout = Some(Duration::from_millis(700));
        c.max_connections = 1;
    })
    .await;
    let conn = connect(&server, "bob", "bob-pw").await.expect("login");
    conn.client
        .simple_query("SHOW server_version")
        .await
        .expect("active");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let e = conn
        .client
        .simple_query("SHOW server_version")
        .await
        .expect_err("closed for idling");
    assert!(conn.client.is_closed(), "{e:?}");
    // Its slot is free again (the limit is one connection).
    let other = connect(&server, "alice", "alice-pw")
        .await
        .expect("slot freed");
    other
        .client
        .simple_query("SHOW server_version")
        .await
        .expect("served");
    server.shutdown().await;
}

/// A self-signed certificate for 127.0.0.1, made with the `openssl` tool.
fn certificate(dir: &Path) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
        ])
        .arg("/CN=127.0.0.1")
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .ok()?;
    made.status.success().then_some((cert, key))
}

fn psql(port: u16, sslmode: &str, sql: &str) -> Option<std::process::Output> {
    Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={port} user=bob dbname=privagg sslmode={sslmode}"
        ))
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGPASSWORD", "bob-pw")
        .output()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_required_when_configured() {
    let required = std::env::var_os("PRIVAGG_REQUIRE_PSQL").is_some();
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((cert, key)) = certificate(dir.path()) else {
        assert!(!required, "openssl is needed for the TLS test");
        eprintln!("skipped: no openssl");
        return;
    };
    let server = start(dir.path(), |c| {
        c.tls = Some((cert, key));
        c.require_tls = true;
    })
    .await;
    // Without TLS: refused (28000) before any password is asked for.
    let e = connect(&server, "bob", "bob-pw")
        .await
        .err()
        .expect("refused");
    assert_eq!(code(&e), "28000", "{e:?}");
    let port = server.local_addr().port();
    let port_task = tokio::task::spawn_blocking(move || {
        (
            psql(port, "require", "SELECT COUNT(*) AS n FROM pums"),
            psql(port, "disable", "SELECT 1"),
        )
    });
    let (with_tls, without) = port_task.await.expect("psql");
    match (with_tls, without) {
        (Some(ok), Some(refused)) => {
            let out = String::from_utf8_lossy(&ok.stdout);
            let err = String::from_utf8_lossy(&ok.stderr);
            assert!(ok.status.success(), "{out}\n{err}");
            assert!(out.contains("n_ci_low"), "{out}");
            assert!(!refused.status.success());
            assert!(
                String::from_utf8_lossy(&refused.stderr).contains("requires TLS"),
                "{refused:?}"
            );
        }
        _ => {
            assert!(!required, "psql is needed for the TLS test");
            eprintln!("skipped: no psql");
        }
    }
    server.shutdown().await;
}
