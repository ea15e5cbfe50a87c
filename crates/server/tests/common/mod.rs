//! Helpers of the server's tests: a catalog over ../shared/data/PUMS_dup.csv
//! with two analysts and their passwords, a server on a free port, clients
//! that collect NOTICEs.

#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use privagg_budget::Ledger as _;
use privagg_server::{Credentials, ServeConfig, Server};
use tokio_postgres::{AsyncMessage, Client, NoTls, SimpleQueryMessage};

pub fn catalog(dir: &Path) -> PathBuf {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/PUMS_dup.csv");
    let text = format!(
        "[ledger]\npath = \"ledger.db\"\n[defaults]\nepsilon = 0.5\n\
         [[analysts]]\nname = \"alice\"\nepsilon = 1.0\ndelta = 1e-5\n\
         [[analysts]]\nname = \"bob\"\nepsilon = 5.0\ndelta = 1e-5\n\
         [[tables]]\nname = \"pums\"\npath = \"{}\"\nprivacy_unit = \"pid\"\nmax_rows_per_group = 2\n\
         [tables.columns.age]\nlower = 0.0\nupper = 100.0\n[tables.columns.sex]\npublic_values = [0, 1]\n",
        data.display()
    );
    let path = dir.join("privagg.toml");
    std::fs::write(&path, text).expect("catalog");
    Credentials::set_password(&privagg_server::default_path(&path), "alice", "alice-pw")
        .expect("alice");
    Credentials::set_password(&privagg_server::default_path(&path), "bob", "bob-pw").expect("bob");
    path
}

pub async fn server(dir: &Path, max_connections: usize) -> Server {
    let mut config = ServeConfig::new(catalog(dir));
    config.listen = "127.0.0.1:0".parse().expect("addr");
    config.max_connections = max_connections;
    privagg_server::start(config).await.expect("server starts")
}

/// A client and the notices its connection receives.
pub struct Conn {
    pub client: Client,
    pub notices: Arc<Mutex<Vec<String>>>,
}

pub async fn connect(
    server: &Server,
    user: &str,
    password: &str,
) -> Result<Conn, tokio_postgres::Error> {
    let addr = server.local_addr();
    let config = format!(
        "host=127.0.0.1 port={} user={user} password={password} dbname=privagg",
        addr.port()
    );
    let (client, mut connection) = tokio_postgres::connect(&config, NoTls).await?;
    let notices = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&notices);
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(m)) = messages.next().await {
            if let AsyncMessage::Notice(n) = m {
                sink.lock().expect("notices").push(n.message().to_string());
            }
        }
    });
    Ok(Conn { client, notices })
}

pub fn rows(messages: &[SimpleQueryMessage]) -> Vec<Vec<String>> {
    messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("NULL").to_string())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

pub fn code(e: &tokio_postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("no SQLSTATE: {e}"))
}

/// The ε the charge notice of the last query reported.
pub async fn last_charge(conn: &Conn) -> String {
    tokio::time::sleep(Duration::from_millis(50)).await;
    let notices = conn.notices.lock().expect("notices");
    notices
        .iter()
        .rev()
        .find_map(|n| n.strip_prefix("privagg: charged epsilon "))
        .and_then(|r| r.split(',').next())
        .unwrap_or_default()
        .to_string()
}

/// ε the ledger has charged an analyst (read-only, beside a running server).
pub fn spent(dir: &Path, analyst: &str) -> f64 {
    let catalog = privagg_sql::Catalog::load(dir.join("privagg.toml")).expect("catalog");
    let ledger = privagg_sql::ledger::open_ledger(&catalog, privagg_sql::ledger::Access::Read)
        .expect("ledger")
        .expect("a ledger exists");
    ledger
        .spent(&privagg_budget::Scope::Analyst(analyst.into()))
        .expect("spent")
        .epsilon
        .to_f64()
}
