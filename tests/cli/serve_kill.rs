//! `privagg serve` killed with SIGKILL in the middle of a load: the ledger
//! and its audit chain still verify, every release a client received has
//! its charge, and a charge without a received release is at most the one
//! request each connection had in flight when the process died.

use std::collections::BTreeSet;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use privagg_budget::Ledger as _;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::common::{privagg, pums_catalog};

/// Kills the server whatever happens to the test.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One connection's loop: the request ids of the releases it received.
async fn client(port: u16, received: Arc<Mutex<BTreeSet<String>>>) {
    let config = format!("host=127.0.0.1 port={port} user=alice password=pw dbname=privagg");
    let Ok((client, mut connection)) = tokio_postgres::connect(&config, NoTls).await else {
        return;
    };
    let notices = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&notices);
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(m)) = messages.next().await {
            if let AsyncMessage::Notice(n) = m {
                sink.lock().expect("notices").push(n.message().to_string());
            }
        }
    });
    loop {
        let sql = "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 0.01) sex, COUNT(*) AS n FROM pums GROUP BY sex";
        match client.simple_query(sql).await {
            Ok(_) => {
                // The charge NOTICE came before the rows on the same socket.
                tokio::time::sleep(Duration::from_millis(5)).await;
                let charged = notices
                    .lock()
                    .expect("notices")
                    .iter()
                    .find(|n| n.contains("charged epsilon"))
                    .and_then(|n| n.rsplit("request ").next())
                    .map(str::to_string);
                if let Some(id) = charged {
                    received.lock().expect("received").insert(id);
                }
                notices.lock().expect("notices").clear();
            }
            Err(_) if client.is_closed() => return,
            Err(_) => {}
        }
    }
}

#[test]
fn a_server_killed_mid_load_leaves_a_ledger_that_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = pums_catalog(dir.path(), 1_000.0);
    let mut passwd = privagg()
        .args(["passwd", "--catalog"])
        .arg(&catalog)
        .arg("alice")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("passwd");
    {
        use std::io::Write;
        let mut stdin = passwd.stdin.take().expect("stdin");
        writeln!(stdin, "pw").expect("password");
    }
    assert!(passwd.wait().expect("passwd").success());
    let port = free_port();
    let server = privagg()
        .args(["serve", "--catalog"])
        .arg(&catalog)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut server = Killed(server);
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let connections = 8;
    let received = Arc::new(Mutex::new(BTreeSet::new()));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let tasks: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(client(port, Arc::clone(&received))))
            .collect();
        // Let releases complete, then kill the server mid-load.
        for _ in 0..400 {
            if received.lock().expect("received").len() >= 20 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        server.0.kill().expect("SIGKILL");
        let _ = server.0.wait();
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    });
    let received = received.lock().expect("received").clone();
    assert!(
        received.len() >= 20,
        "releases before the kill: {}",
        received.len()
    );

    let parsed = privagg_sql::Catalog::load(&catalog).expect("catalog");
    let ledger = privagg_sql::ledger::open_ledger(&parsed, privagg_sql::ledger::Access::Read)
        .expect("ledger")
        .expect("exists");
    let verification = ledger.verify_ledger(None).expect("verify");
    assert!(verification.is_intact(), "{verification:?}");
    let charged: BTreeSet<String> = ledger
        .charges()
        .expect("charges")
        .into_iter()
        .filter(|c| !c.refunded)
        .map(|c| c.request_id)
        .collect();
    for id in &received {
        assert!(
            charged.contains(id),
            "release {id} was received but has no charge"
        );
    }
    let unreceived = charged.difference(&received).count();
    assert!(
        unreceived <= connections,
        "{unreceived} charges without a received release; at most one in flight per connection ({connections})"
    );
    eprintln!(
        "SIGKILL mid-load: {} releases received, {} charges, {unreceived} charged but not received (in flight at the kill)",
        received.len(),
        charged.len()
    );
    // The CLI agrees.
    let out = privagg()
        .args(["audit", "--catalog"])
        .arg(&catalog)
        .arg("verify")
        .output()
        .expect("audit verify");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
