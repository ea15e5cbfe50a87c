//! `privagg scheduler` and `privagg executor`: a Ballista cluster that runs
//! privagg's bounded plans (docs/distributed.md).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use privagg_ballista::process::{
    ExecutorOptions, run_executor as executor, run_scheduler as scheduler,
};

use super::CliError;

/// `privagg scheduler`.
#[derive(clap::Args, Debug)]
pub struct SchedulerArgs {
    /// Address to listen on (executors and clients connect here).
    #[arg(long, default_value = "127.0.0.1:50050")]
    pub bind: SocketAddr,
    /// Seconds without a heartbeat (every 5 s) after which an executor is
    /// declared lost and its tasks run elsewhere (at least 10).
    #[arg(long, default_value_t = 20)]
    pub executor_timeout: u64,
}

/// `privagg executor`.
#[derive(clap::Args, Debug)]
pub struct ExecutorArgs {
    /// The scheduler, HOST:PORT (or df://HOST:PORT).
    #[arg(long, default_value = "127.0.0.1:50050")]
    pub scheduler: String,
    /// Address the executor serves shuffle data on (Arrow Flight); other
    /// executors and the client fetch results here.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub bind: SocketAddr,
    /// The executor's gRPC port [default: the --bind port + 1].
    #[arg(long)]
    pub grpc_port: Option<u16>,
    /// Folder for shuffle files [default: a new temporary folder].
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Tasks run at once [default: the machine's cores].
    #[arg(long)]
    pub concurrency: Option<usize>,
}

/// Runs the scheduler until the process is stopped.
///
/// # Errors
/// The address cannot be bound.
pub async fn run_scheduler(args: SchedulerArgs, out: &mut impl Write) -> Result<(), CliError> {
    writeln!(out, "privagg scheduler listening on {}", args.bind)?;
    out.flush()?;
    scheduler(args.bind, args.executor_timeout)
        .await
        .map_err(CliError::Other)
}

/// Runs an executor until the process is stopped.
///
/// # Errors
/// A malformed scheduler address, or the executor cannot start.
pub async fn run_executor(args: ExecutorArgs, out: &mut impl Write) -> Result<(), CliError> {
    let (host, port) =
        privagg_ballista::host_port(&args.scheduler).map_err(|e| CliError::Usage(e.to_string()))?;
    let grpc_port = match args.grpc_port {
        Some(p) => p,
        None => args.bind.port().checked_add(1).ok_or_else(|| {
            CliError::Usage("--bind port 65535 leaves no port for gRPC: give --grpc-port".into())
        })?,
    };
    writeln!(
        out,
        "privagg executor on {} (gRPC {grpc_port}), scheduler {host}:{port}",
        args.bind
    )?;
    out.flush()?;
    executor(ExecutorOptions {
        scheduler: (host, port),
        bind: args.bind,
        grpc_port,
        work_dir: args.work_dir,
        concurrency: args.concurrency,
    })
    .await
    .map_err(CliError::Other)
}
