//! The idle timeout: a connection that runs no statement for the limit is
//! told so (FATAL 57P05, as PostgreSQL's `idle_session_timeout`) and closed,
//! freeing its slot. A statement running is never idle. The watchdog holds
//! a duplicate of the socket's descriptor, so it can close the connection
//! pgwire is serving.

use std::io::Write;
use std::net::Shutdown;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::handler::Connection;

/// The socket to serve and its watchdog (abort it when the connection ends).
/// `announce`: write the FATAL message first (not over TLS: the watchdog
/// cannot write into the encrypted stream).
pub(crate) fn watch(
    socket: TcpStream,
    connection: Arc<Connection>,
    limit: Duration,
    announce: bool,
) -> (std::io::Result<TcpStream>, Option<JoinHandle<()>>) {
    let std_socket = match socket.into_std() {
        Ok(s) => s,
        Err(e) => return (Err(e), None),
    };
    let duplicate = std_socket.try_clone();
    let socket = TcpStream::from_std(std_socket);
    let Ok(duplicate) = duplicate else {
        return (socket, None);
    };
    let watchdog = tokio::spawn(async move {
        loop {
            let wait = match connection.idle_for() {
                Some(idle) if idle >= limit => break,
                Some(idle) => limit - idle,
                None => limit,
            };
            tokio::time::sleep(wait).await;
        }
        if announce {
            let message = crate::sqlstate::fatal_message(
                "57P05",
                &format!(
                    "terminating connection due to idle-session timeout ({} s without a statement)",
                    limit.as_secs()
                ),
            );
            let _ = (&duplicate).write_all(&message);
        }
        let _ = duplicate.shutdown(Shutdown::Both);
    });
    (socket, Some(watchdog))
}
