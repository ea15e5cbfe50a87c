//! `privagg serve` (the Postgres-wire server) and `privagg passwd` (an
//! analyst's SCRAM verifier, written by the data owner).

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use privagg_server::{Credentials, ServeConfig};

use super::CliError;

/// What `privagg serve` takes.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// The catalog file.
    #[arg(long, default_value = "privagg.toml")]
    pub catalog: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5433")]
    pub listen: SocketAddr,
    /// The analysts' SCRAM verifiers [default: privagg-credentials.toml beside the catalog].
    #[arg(long)]
    pub credentials: Option<PathBuf>,
    /// Connections served at once (more are refused with SQLSTATE 53300).
    #[arg(long, default_value_t = 64)]
    pub max_connections: usize,
    /// Seconds a statement may run (57014 after; a charged query keeps its charge).
    #[arg(long, default_value_t = 300)]
    pub statement_timeout: u64,
    /// Most rows sent per result.
    #[arg(long, default_value_t = 100_000)]
    pub max_rows: usize,
    /// Seconds a connection may stay without a statement before it is closed (57P05); 0: never.
    #[arg(long, default_value_t = 3600)]
    pub idle_timeout: u64,
    /// TLS certificate chain (PEM); with --tls-key, connections without TLS are refused.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// With TLS, also accept connections without it.
    #[arg(long, requires = "tls_cert")]
    pub allow_plaintext: bool,
    /// Open the ledger read-only: DP queries are refused (SQLSTATE 25006); EXPLAIN works.
    #[arg(long)]
    pub readonly: bool,
    /// Where bounded plans run: `local`, or a Ballista scheduler
    /// `df://HOST:PORT` [default: the catalog's [engine], else local].
    #[arg(long)]
    pub engine: Option<String>,
}

/// Serves until SIGTERM or Ctrl-C.
///
/// # Errors
/// The catalog, ledger or credentials cannot be opened, or the address bound.
pub async fn run_serve(args: ServeArgs, out: &mut impl Write) -> Result<(), CliError> {
    let catalog = privagg_sql::Catalog::load(&args.catalog)?;
    let cluster = privagg::cluster::cluster(&catalog, args.engine.as_deref());
    let executor = privagg::cluster::executor(cluster.as_ref()).await?;
    let mut config = ServeConfig::new(args.catalog);
    config.executor = executor;
    if let Some(c) = args.credentials {
        config.credentials = c;
    }
    config.listen = args.listen;
    config.max_connections = args.max_connections.max(1);
    config.statement_timeout = Duration::from_secs(args.statement_timeout.max(1));
    config.max_rows = args.max_rows.max(1);
    config.idle_timeout = (args.idle_timeout > 0).then(|| Duration::from_secs(args.idle_timeout));
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        config.tls = Some((cert, key));
        config.require_tls = !args.allow_plaintext;
    }
    config.readonly = args.readonly;
    let credentials = config.credentials.clone();
    let server = privagg_server::start(config).await.map_err(|e| match e {
        privagg_server::ServeError::Sql(sql) => CliError::Sql(sql),
        other => CliError::Usage(other.to_string()),
    })?;
    writeln!(
        out,
        "privagg serve: listening on {} (SCRAM-SHA-256, credentials {}); Ctrl-C or SIGTERM stops",
        server.local_addr(),
        credentials.display()
    )?;
    out.flush()?;
    server.run_until_signal().await;
    Ok(())
}

/// Reads the new password: one line from standard input (echo off when it
/// is a terminal).
fn read_password(analyst: &str) -> Result<String, CliError> {
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    if terminal {
        eprint!("new password for {analyst}: ");
        let _ = std::process::Command::new("stty").arg("-echo").status();
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if terminal {
        let _ = std::process::Command::new("stty").arg("echo").status();
        eprintln!();
    }
    read.map_err(|e| CliError::Other(format!("reading the password: {e}")))?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        return Err(CliError::Usage(
            "the password is empty: give it on standard input (e.g. `echo \"$PW\" | privagg passwd alice`)".into(),
        ));
    }
    Ok(password)
}

/// Sets an analyst's password: the SCRAM verifier goes into the credentials
/// file; the password itself is stored nowhere.
///
/// # Errors
/// An analyst the catalog does not know, an empty password, an unwritable file.
pub fn run_passwd(
    catalog: &Path,
    credentials: Option<&Path>,
    analyst: &str,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let loaded = privagg_sql::Catalog::load(catalog)?;
    if loaded.analyst(analyst).is_none() {
        return Err(CliError::Usage(format!(
            "analyst '{analyst}' is not in {}: add it under [[analysts]] first",
            catalog.display()
        )));
    }
    let path = credentials.map_or_else(|| privagg_server::default_path(catalog), Path::to_path_buf);
    let password = read_password(analyst)?;
    Credentials::set_password(&path, analyst, &password)
        .map_err(|e| CliError::Other(e.to_string()))?;
    writeln!(
        out,
        "set the password of {analyst} (a SCRAM-SHA-256 verifier in {})",
        path.display()
    )?;
    Ok(())
}
