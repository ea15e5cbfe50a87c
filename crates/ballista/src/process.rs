//! `privagg scheduler` and `privagg executor`: Ballista's scheduler and
//! executor processes with privagg's functions registered and its codecs
//! configured, so they can run the bounded plans a privagg client sends.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;

use crate::codec::{LogicalCodec, PhysicalCodec};
use crate::state::{config, function_registry, state};

/// A process's failure, as one line for the terminal.
pub type ProcessResult = Result<(), String>;

/// How often an executor reports to the scheduler.
pub const HEARTBEAT_SECONDS: u64 = 5;

/// Runs a scheduler listening on `bind` until the process is stopped. An
/// executor silent for `executor_timeout` seconds is declared lost and its
/// tasks are scheduled again elsewhere (Ballista's default, 180 s, keeps a
/// query waiting three minutes for a dead executor).
///
/// # Errors
/// When the address cannot be bound or the scheduler cannot start.
pub async fn run_scheduler(bind: SocketAddr, executor_timeout: u64) -> ProcessResult {
    crate::logging::init();
    let mut scheduler = SchedulerConfig::default()
        .with_hostname(bind.ip().to_string())
        .with_port(bind.port())
        .with_override_config_producer(Arc::new(config))
        .with_override_session_builder(Arc::new(state));
    scheduler.bind_host = bind.ip().to_string();
    scheduler.executor_timeout_seconds = executor_timeout.max(HEARTBEAT_SECONDS * 2);
    scheduler.no_executors_grace_period_seconds = scheduler.executor_timeout_seconds;
    scheduler.expire_dead_executor_interval_seconds = HEARTBEAT_SECONDS;
    scheduler.override_logical_codec = Some(Arc::new(LogicalCodec::default()));
    scheduler.override_physical_codec = Some(Arc::new(PhysicalCodec::default()));
    let cluster = BallistaCluster::new_from_config(&scheduler)
        .await
        .map_err(|e| format!("the scheduler cannot start: {e}"))?;
    start_server(cluster, bind, Arc::new(scheduler))
        .await
        .map_err(|e| format!("the scheduler stopped: {e}"))
}

/// Where an executor listens and works.
#[derive(Clone, Debug)]
pub struct ExecutorOptions {
    /// The scheduler, `host:port`.
    pub scheduler: (String, u16),
    /// The Arrow Flight address shuffle data is served on; its gRPC port is
    /// `grpc_port`.
    pub bind: SocketAddr,
    /// The executor's gRPC port.
    pub grpc_port: u16,
    /// Shuffle files (a fresh temporary folder when None).
    pub work_dir: Option<PathBuf>,
    /// Tasks run at once (the cores by default).
    pub concurrency: Option<usize>,
}

/// Runs an executor registered with the scheduler until the process is
/// stopped.
///
/// # Errors
/// When it cannot bind, reach the scheduler, or use its work folder.
pub async fn run_executor(options: ExecutorOptions) -> ProcessResult {
    crate::logging::init();
    let mut process = ExecutorProcessConfig {
        bind_host: options.bind.ip().to_string(),
        external_host: Some(options.bind.ip().to_string()),
        port: options.bind.port(),
        grpc_port: options.grpc_port,
        scheduler_host: options.scheduler.0.clone(),
        scheduler_port: options.scheduler.1,
        scheduler_connect_timeout_seconds: 10,
        work_dir: options
            .work_dir
            .as_ref()
            .map(|d| d.to_string_lossy().to_string()),
        print_thread_info: false,
        executor_heartbeat_interval_seconds: HEARTBEAT_SECONDS,
        override_function_registry: Some(Arc::new(function_registry())),
        override_config_producer: Some(Arc::new(config)),
        override_logical_codec: Some(Arc::new(LogicalCodec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        ..ExecutorProcessConfig::default()
    };
    if let Some(n) = options.concurrency {
        process.vcores = n.max(1);
    }
    if let Some(dir) = &options.work_dir {
        std::fs::create_dir_all(dir).map_err(|e| format!("work dir {}: {e}", dir.display()))?;
    }
    start_executor_process(Arc::new(process))
        .await
        .map_err(|e| format!("the executor stopped: {e}"))
}
