//! The listener: TLS when configured, one [`Connection`] per client (its
//! handlers in `crate::handlers`), a connection limit, an idle timeout, and a
//! graceful shutdown that lets DP statements in flight finish.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pgwire::tokio::TlsAcceptor;
use privagg_sql::{Catalog, Engine};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};

use crate::credentials::Credentials;
use crate::handler::{Connection, Shared};
use crate::handlers::{Auth, Handlers, Startup, Verifiers};
use crate::login::{LoginErrors, Logins};

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
    /// A connection that runs no statement this long is closed (57P05); None: never.
    pub idle_timeout: Option<Duration>,
    /// TLS certificate chain and private key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Refuse connections without TLS (28000, audited).
    pub require_tls: bool,
    /// Open the ledger read-only: DP queries are refused (25006), EXPLAIN works.
    pub readonly: bool,
    /// Where bounded plans run (a Ballista cluster); None: in this process.
    pub executor: Option<Arc<dyn privagg_sql::Executor>>,
}

impl ServeConfig {
    /// Defaults for a catalog: 127.0.0.1:5433, credentials beside the catalog,
    /// 64 connections, 300 s per statement, 100,000 rows, 30 s of grace, an
    /// idle connection closed after an hour, no TLS, the ledger writable.
    pub fn new(catalog: PathBuf) -> Self {
        Self {
            credentials: crate::credentials::default_path(&catalog),
            catalog,
            listen: SocketAddr::from(([127, 0, 0, 1], 5433)),
            max_connections: 64,
            statement_timeout: Duration::from_secs(300),
            max_rows: 100_000,
            shutdown_grace: Duration::from_secs(30),
            idle_timeout: Some(Duration::from_secs(3600)),
            tls: None,
            require_tls: false,
            readonly: false,
            executor: None,
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
    /// `--readonly` with no ledger to read.
    #[error("--readonly: there is no ledger at {} yet (nothing was ever charged)", .0.display())]
    NoLedger(PathBuf),
    /// The TLS certificate or key could not be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {detail}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        detail: String,
    },
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
async fn refuse_busy(mut socket: TcpStream) {
    let message = crate::sqlstate::fatal_message("53300", "sorry, too many clients already");
    let _ = socket.write_all(&message).await;
    let _ = socket.shutdown().await;
}

/// Opens the catalog and ledger, reads the credentials, binds, and serves in
/// the background.
///
/// # Errors
/// [`ServeError`] before anything is served.
pub async fn start(config: ServeConfig) -> Result<Server, ServeError> {
    let engine = if config.readonly {
        let catalog = Catalog::load(&config.catalog)?;
        let access = privagg_sql::ledger::Access::Read;
        let Some(ledger) = privagg_sql::ledger::open_ledger(&catalog, access)? else {
            return Err(ServeError::NoLedger(catalog.ledger_path()));
        };
        Engine::with_ledger(catalog, Arc::new(ledger)).await?
    } else {
        Engine::open(&config.catalog).await?
    };
    let engine = match &config.executor {
        Some(executor) => engine.with_executor(Arc::clone(executor)),
        None => engine,
    };
    let engine = Arc::new(engine);
    let engine_tables = engine.table_schemas();
    let tls = match &config.tls {
        Some((cert, key)) => Some(crate::tls::acceptor(cert, key)?),
        None => None,
    };
    let logins = Arc::new(Logins::new(Arc::clone(engine.ledger())));
    let verifiers = Arc::new(Verifiers {
        credentials: Credentials::load(&config.credentials)?,
        logins: Arc::clone(&logins),
    });
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
        readonly: config.readonly,
        catalog: crate::pg_catalog::session(&engine_tables)
            .await
            .map_err(|e| ServeError::Sql(privagg_sql::SqlError::Execution(e.to_string())))?,
    });
    let stop = Arc::new(Notify::new());
    let listen = Listen {
        shared,
        auth: Arc::new(Auth::new(&verifiers, config.require_tls)),
        errors: Arc::new(LoginErrors(logins)),
        slots: Arc::new(Semaphore::new(config.max_connections)),
        tls,
        idle_timeout: config.idle_timeout,
    };
    let task = tokio::spawn(accept_loop(
        listener,
        listen,
        Arc::clone(&stop),
        config.shutdown_grace,
    ));
    Ok(Server { addr, stop, task })
}

/// What the accept loop hands each connection.
struct Listen {
    shared: Arc<Shared>,
    auth: Arc<Auth>,
    errors: Arc<LoginErrors>,
    slots: Arc<Semaphore>,
    tls: Option<TlsAcceptor>,
    idle_timeout: Option<Duration>,
}

async fn accept_loop(listener: TcpListener, listen: Listen, stop: Arc<Notify>, grace: Duration) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.notified() => break,
        };
        let Ok((socket, _)) = accepted else {
            continue;
        };
        let Ok(permit) = Arc::clone(&listen.slots).try_acquire_owned() else {
            tokio::spawn(refuse_busy(socket));
            continue;
        };
        let connection = Arc::new(Connection::new(Arc::clone(&listen.shared)));
        let handlers = Handlers {
            connection: Arc::clone(&connection),
            startup: Arc::new(Startup::new(&listen.auth)),
            errors: Arc::clone(&listen.errors),
        };
        let tls = listen.tls.clone();
        let idle = listen.idle_timeout;
        tokio::spawn(async move {
            let (socket, watchdog) = match idle {
                Some(limit) => crate::idle::watch(socket, connection, limit, tls.is_none()),
                None => (Ok(socket), None),
            };
            if let Ok(socket) = socket {
                let _ = pgwire::tokio::process_socket(socket, tls, handlers).await;
            }
            if let Some(w) = watchdog {
                w.abort();
            }
            drop(permit);
        });
    }
    // Let statements in flight finish (their charge and release stay whole).
    let deadline = tokio::time::Instant::now() + grace;
    while listen.shared.in_flight.load(Ordering::SeqCst) > 0
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
