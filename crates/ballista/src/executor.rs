//! [`BallistaExecutor`]: the engine's executor seam over a Ballista
//! cluster. The engine analyses, charges and releases on the client; only
//! the bounded plan travels to the scheduler, and only its result (one row
//! per group of exact bounded sums, or a percentile's leaf histogram)
//! comes back.

use std::time::Duration;

use ballista::prelude::SessionContextExt;
use datafusion::arrow::array::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use privagg_sql::ExecutorFailure;

use crate::state::{config, state};

/// Runs bounded plans on a Ballista cluster.
#[derive(Clone)]
pub struct BallistaExecutor {
    context: SessionContext,
    url: String,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for BallistaExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BallistaExecutor")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// How long [`BallistaExecutor::connect`] waits for the scheduler.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl BallistaExecutor {
    /// Connects to the scheduler at `url` (`df://host:port`). Checks that the
    /// scheduler answers, so a cluster that is down is reported before
    /// anything is charged.
    ///
    /// # Errors
    /// A malformed URL, or no scheduler answering within [`CONNECT_TIMEOUT`].
    pub async fn connect(url: &str) -> datafusion::error::Result<Self> {
        let (host, port) = host_port(url)?;
        let address = format!("{host}:{port}");
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&address)).await
        {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err(DataFusionError::Configuration(format!(
                    "no Ballista scheduler at {url}: {e}"
                )));
            }
            Err(_) => {
                return Err(DataFusionError::Configuration(format!(
                    "no Ballista scheduler at {url}: no answer within {} s",
                    CONNECT_TIMEOUT.as_secs()
                )));
            }
        }
        let context =
            SessionContext::remote_with_state(&format!("df://{address}"), state(config())?).await?;
        Ok(Self {
            context,
            url: url.to_string(),
            timeout: None,
        })
    }

    /// An executor over an in-process standalone cluster (one scheduler and
    /// one executor in this process, speaking gRPC on localhost): what the
    /// tests compare with the local engine.
    ///
    /// # Errors
    /// If the cluster cannot start.
    pub async fn standalone() -> datafusion::error::Result<Self> {
        let context = SessionContext::standalone_with_state(state(config())?).await?;
        Ok(Self {
            context,
            url: "standalone".to_string(),
            timeout: None,
        })
    }

    /// Gives up on a bounded plan the cluster has not finished in `timeout`
    /// (the query then fails after its charge, as any failed execution).
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// The scheduler's URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// `df://host:port` (or `host:port`) as host and port (50050 by default).
///
/// # Errors
/// For anything else.
pub fn host_port(url: &str) -> datafusion::error::Result<(String, u16)> {
    let rest = url.strip_prefix("df://").unwrap_or(url);
    let rest = rest.trim_end_matches('/');
    let bad = || {
        DataFusionError::Configuration(format!(
            "engine {url:?}: expected df://HOST:PORT (a Ballista scheduler)"
        ))
    };
    if rest.is_empty() || rest.contains('/') || rest.contains("://") {
        return Err(bad());
    }
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => {
            Ok((host.to_string(), port.parse().map_err(|_| bad())?))
        }
        Some(_) => Err(bad()),
        None => Ok((rest.to_string(), 50050)),
    }
}

#[async_trait::async_trait]
impl privagg_sql::Executor for BallistaExecutor {
    async fn execute(&self, plan: LogicalPlan) -> datafusion::error::Result<Vec<RecordBatch>> {
        let run = async {
            self.context
                .execute_logical_plan(plan)
                .await?
                .collect()
                .await
        };
        match self.timeout {
            None => run.await,
            Some(limit) => tokio::time::timeout(limit, run).await.unwrap_or_else(|_| {
                Err(DataFusionError::External(Box::new(ExecutorFailure(
                    format!(
                        "the cluster at {} did not finish within {limit:?} ([engine] timeout_seconds)",
                        self.url
                    ),
                ))))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn scheduler_urls_are_read_or_refused() {
        assert_eq!(
            host_port("df://10.0.0.5:50050").ok(),
            Some(("10.0.0.5".to_string(), 50050))
        );
        assert_eq!(host_port("sched").ok(), Some(("sched".to_string(), 50050)));
        for bad in [
            "",
            "df://",
            "df://:1",
            "df://h:port",
            "http://h:1",
            "df://h:1/x",
        ] {
            assert!(host_port(bad).is_err(), "{bad}");
        }
    }
}
