//! The listener: SCRAM-SHA-256 authentication against the credentials file,
//! one [`Connection`] per client, a connection limit, and a graceful
//! shutdown that lets DP statements in flight finish.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use pgwire::api::PgWireServerHandlers;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::{ScramAuth, ScramSecret};
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::query::SimpleQueryHandler;
use pgwire::error::{PgWireError, PgWireResult};
use privagg_sql::Engine;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};

use crate::credentials::Credentials;
use crate::handler::{Connection, Shared};

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The catalog file.
    pub catalog: PathBuf,
    /// Address to listen on (`127.0.0.1:5433`; port 0 picks one).
    pub listen: SocketAddr,
    /// The analysts' SCRAM verifiers (`privagg passwd`).
    pub credentials: PathBuf,
    /// Connections served at once; more are refused with SQLSTATE 53300.
    pub max_connections: usize,
    /// Longest a statement may run (57014 after).
    pub statement_timeout: Duration,
    /// Most rows sent per result.
    pub max_rows: usize,
    /// Longest a graceful shutdown waits for statements in flight.
    pub shutdown_grace: Duration,
}

impl ServeConfig {
    /// Defaults for a catalog: 127.0.0.1:5433, credentials beside the catalog,
    /// 64 connections, 300 s per statement, 100,000 rows, 30 s of grace.
    pub fn new(catalog: PathBuf) -> Self {
        Self {
            credentials: crate::credentials::default_path(&catalog),
            catalog,
            listen: SocketAddr::from(([127, 0, 0, 1], 5433)),
            max_connections: 64,
            statement_timeout: Duration::from_secs(300),
            max_rows: 100_000,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The catalog or ledger could not be opened.
    #[error(transparent)]
    Sql(#[from] privagg_sql::SqlError),
    /// The credentials could not be read.
    #[error(transparent)]
    Credentials(#[from] crate::credentials::CredentialsError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {detail}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        detail: String,
    },
}

/// The analysts' verifiers, for pgwire's SCRAM exchange. An unknown user and
/// a wrong password fail alike (28P01): the server does not say which
/// analysts exist.
#[derive(Debug)]
struct Verifiers(Credentials);

#[async_trait]
impl AuthSource for Verifiers {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        Err(PgWireError::InvalidPassword(
            login.user().unwrap_or_default().to_string(),
        ))
    }

    async fn get_scram_secret(&self, login: &LoginInfo) -> PgWireResult<(ScramSecret, Option<()>)> {
        let user = login.user().unwrap_or_default();
        match self.0.get(user) {
            Some(v) => Ok((v.secret(), None)),
            None => {
                eprintln!(
                    "privagg-server: {{\"analyst\": {user:?}, \"statement\": \"login\", \"outcome\": \"refused\"}}"
                );
                Err(PgWireError::InvalidPassword(user.to_string()))
            }
        }
    }
}

/// The handlers of one connection.
struct Handlers {
    connection: Arc<Connection>,
    verifiers: Arc<Verifiers>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.connection)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        let scram = ScramAuth::new(Arc::clone(&self.verifiers) as Arc<dyn AuthSource>);
        Arc::new(
            SASLAuthStartupHandler::new(Arc::new(DefaultServerParameterProvider::default()))
                .with_scram(scram),
        )
    }
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets statements in flight finish (up to the grace
    /// period), and returns.
    pub async fn shutdown(self) {
        self.stop.notify_one();
        let _ = self.task.await;
    }

    /// Runs until SIGTERM or Ctrl-C, then shuts down gracefully.
    pub async fn run_until_signal(self) {
        wait_for_signal().await;
        eprintln!("privagg-server: shutting down (statements in flight finish first)");
        self.shutdown().await;
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// "Sorry, too many clients already" (53300), written before the startup
/// exchange, as PostgreSQL does.
async fn refuse_busy(mut socket: tokio::net::TcpStream) {
    let mut body = Vec::new();
    for (field, value) in [
        (b'S', "FATAL"),
        (b'C', "53300"),
        (b'M', "sorry, too many clients already"),
    ] {
        body.push(field);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut message = vec![b'E'];
    message.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    message.extend_from_slice(&body);
    let _ = socket.write_all(&message).await;
    let _ = socket.shutdown().await;
}

/// Opens the catalog and ledger, reads the credentials, binds, and serves in
/// the background.
///
/// # Errors
/// [`ServeError`] before anything is served.
pub async fn start(config: ServeConfig) -> Result<Server, ServeError> {
    let engine = Arc::new(Engine::open(&config.catalog).await?);
    let verifiers = Arc::new(Verifiers(Credentials::load(&config.credentials)?));
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| ServeError::Bind {
            addr: config.listen,
            detail: e.to_string(),
        })?;
    let addr = listener.local_addr().map_err(|e| ServeError::Bind {
        addr: config.listen,
        detail: e.to_string(),
    })?;
    let shared = Arc::new(Shared {
        engine,
        statement_timeout: config.statement_timeout,
        max_rows: config.max_rows,
        in_flight: AtomicUsize::new(0),
    });
    let stop = Arc::new(Notify::new());
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let task = tokio::spawn(accept_loop(
        listener,
        shared,
        verifiers,
        slots,
        Arc::clone(&stop),
        config.shutdown_grace,
    ));
    Ok(Server { addr, stop, task })
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    verifiers: Arc<Verifiers>,
    slots: Arc<Semaphore>,
    stop: Arc<Notify>,
    grace: Duration,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.notified() => break,
        };
        let Ok((socket, _)) = accepted else {
            continue;
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            tokio::spawn(refuse_busy(socket));
            continue;
        };
        let handlers = Handlers {
            connection: Arc::new(Connection::new(Arc::clone(&shared))),
            verifiers: Arc::clone(&verifiers),
        };
        tokio::spawn(async move {
            let _ = pgwire::tokio::process_socket(socket, None, handlers).await;
            drop(permit);
        });
    }
    // Let statements in flight finish (their charge and release stay whole).
    let deadline = tokio::time::Instant::now() + grace;
    while shared.in_flight.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
