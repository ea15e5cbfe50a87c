//! Bad input over the wire: malformed and truncated startup packets and
//! messages (a small fuzz loop), a 10 MB query, 1,000 connections opened and
//! dropped. The server never panics, never answers with data, and keeps
//! serving a real client afterwards.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests may panic

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{code, connect, rows, server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        previous(info);
    }));
}

/// A deterministic byte stream (xorshift; the fuzz inputs, not noise).
struct Bytes(u64);

impl Bytes {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn fill(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn startup(user: &str) -> Vec<u8> {
    let mut body = 196_608u32.to_be_bytes().to_vec();
    for (k, v) in [("user", user), ("database", "privagg")] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut out = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    out.extend(body);
    out
}

/// Sends `bytes`, reads whatever comes back for a moment, and returns it.
async fn poke(addr: std::net::SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return Vec::new();
    };
    let _ = s.write_all(bytes).await;
    let mut back = Vec::new();
    let _ = tokio::time::timeout(Duration::from_millis(200), s.read_to_end(&mut back)).await;
    back
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_packets_big_queries_and_connection_storms_do_not_hurt() {
    count_panics();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server(dir.path(), 64).await;
    let addr = server.local_addr();

    // Hand-made bad packets: lengths too short, too long, lying; a valid
    // startup followed by garbage messages; an oversized message header.
    let mut cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![0, 0, 0, 0],
        vec![0, 0, 0, 3, 0, 3, 0, 0],
        vec![0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0],
        vec![0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f], // SSLRequest alone
        vec![0, 0, 0, 16, 4, 0xd2, 0x16, 0x2e, 0, 0, 0, 1, 0, 0, 0, 2], // CancelRequest for nothing
        startup("alice")[..7].to_vec(),
    ];
    for tail in [
        b"Q\x00\x00\x00\x02".to_vec(),
        b"Q\xff\xff\xff\xffSELECT".to_vec(),
        b"p\x00\x00\x00\x09junk!".to_vec(),
        b"Z\x00\x00\x00\x04".to_vec(),
        b"\x00\x00\x00\x00\x00".to_vec(),
    ] {
        let mut c = startup("alice");
        c.extend(tail);
        cases.push(c);
    }
    let mut random = Bytes(0x9e37_79b9_7f4a_7c15);
    for i in 0..300 {
        let n = (random.next() % 64) as usize;
        let mut c = if i % 2 == 0 {
            startup("bob")
        } else {
            Vec::new()
        };
        if i % 3 == 0 {
            // A plausible length prefix with a random body.
            c.extend_from_slice(&((n + 4) as u32).to_be_bytes());
        }
        c.extend(random.fill(n));
        cases.push(c);
    }
    for case in &cases {
        let back = poke(addr, case).await;
        // Whatever came back is protocol framing, never a data row ('D').
        assert!(!back.starts_with(b"D"), "{case:?} -> {back:?}");
    }

    // 1,000 connections opened and dropped, 100 at a time, some mid-startup.
    for round in 0..10 {
        let mut batch = Vec::new();
        for i in 0..100 {
            batch.push(tokio::spawn(async move {
                if let Ok(mut s) = TcpStream::connect(addr).await
                    && (round + i) % 2 == 0
                {
                    let _ = s.write_all(&startup("alice")[..9]).await;
                }
            }));
        }
        for t in batch {
            t.await.expect("connect task");
        }
    }

    // A 10 MB query text: refused with a clear error, nothing charged.
    let conn = connect(&server, "alice", "alice-pw").await.expect("login");
    let huge = format!(
        "SELECT COUNT(*) FROM pums WHERE sex IN ({})",
        vec!["0"; 5_000_000].join(",")
    );
    assert!(huge.len() >= 10_000_000);
    let e = conn.client.simple_query(&huge).await.expect_err("too long");
    assert_eq!(code(&e), "54000", "{e:?}");
    let e = conn.client.prepare(&huge).await.expect_err("too long");
    assert_eq!(code(&e), "54000", "{e:?}");
    assert_eq!(common::spent(dir.path(), "alice"), 0.0);

    // The server still serves a real client.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let conn = connect(&server, "bob", "bob-pw")
        .await
        .expect("login after the storm");
    let released = rows(
        &conn
            .client
            .simple_query("SELECT sex, COUNT(*) AS n FROM pums GROUP BY sex")
            .await
            .expect("query after the storm"),
    );
    assert_eq!(released.len(), 2);
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a server task panicked");
    server.shutdown().await;
}
