//! Which engine runs a catalog's bounded plans: the local DataFusion
//! session (the default), or a Ballista cluster named by the catalog's
//! `[engine]` section or by `--engine df://HOST:PORT` (which wins). The
//! analysis, the charge and the noise always stay in this process; a
//! cluster that cannot be reached is reported before anything is charged.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use privagg_sql::{Catalog, EngineKind, Executor, SqlError};

/// A cluster to run bounded plans on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    /// The scheduler, `df://HOST:PORT`.
    pub scheduler: String,
    /// The catalog's `[engine] timeout_seconds`.
    pub timeout: Option<Duration>,
}

/// The cluster to use, if any: `--engine` (`local` or `df://HOST:PORT`)
/// over the catalog's `[engine]`.
pub fn cluster(catalog: &Catalog, engine: Option<&str>) -> Option<Cluster> {
    let scheduler = match (engine, catalog.engine.kind) {
        (Some("local"), _) | (None, EngineKind::Local) => None,
        (Some(url), _) => Some(url.to_string()),
        (None, EngineKind::Ballista) => catalog.engine.scheduler.clone(),
    };
    let timeout = catalog.engine.timeout_seconds.map(Duration::from_secs);
    scheduler.map(|scheduler| Cluster { scheduler, timeout })
}

/// The executor for `cluster` (None: the engine's own, in process).
///
/// # Errors
/// [`SqlError::Unavailable`] when the scheduler does not answer, the URL is
/// malformed, or this binary was built without Ballista.
pub async fn executor(cluster: Option<&Cluster>) -> Result<Option<Arc<dyn Executor>>, SqlError> {
    let Some(cluster) = cluster else {
        return Ok(None);
    };
    connect(cluster).await
}

#[cfg(feature = "ballista")]
async fn connect(cluster: &Cluster) -> Result<Option<Arc<dyn Executor>>, SqlError> {
    let executor = privagg_ballista::BallistaExecutor::connect(&cluster.scheduler)
        .await
        .map_err(|e| SqlError::Unavailable(one_line(&e.to_string())))?
        .with_timeout(cluster.timeout);
    Ok(Some(Arc::new(executor)))
}

#[cfg(not(feature = "ballista"))]
async fn connect(cluster: &Cluster) -> Result<Option<Arc<dyn Executor>>, SqlError> {
    let url = &cluster.scheduler;
    Err(SqlError::Unavailable(format!(
        "engine {url}: this privagg was built without the `ballista` feature"
    )))
}

/// DataFusion's configuration errors, without their "Invalid or Unsupported
/// Configuration:" prefix.
#[cfg(feature = "ballista")]
fn one_line(message: &str) -> String {
    let message = message
        .strip_prefix("Invalid or Unsupported Configuration: ")
        .unwrap_or(message);
    message.lines().next().unwrap_or(message).to_string()
}

/// Opens the catalog's engine with the executor `--engine` or the catalog
/// selects.
///
/// # Errors
/// As [`privagg_sql::Engine::open`], and [`SqlError::Unavailable`].
pub async fn open(catalog: &Path, engine: Option<&str>) -> Result<privagg_sql::Engine, SqlError> {
    let catalog = Catalog::load(catalog)?;
    let executor = executor(cluster(&catalog, engine).as_ref()).await?;
    let opened = privagg_sql::Engine::from_catalog(catalog).await?;
    Ok(match executor {
        Some(e) => opened.with_executor(e),
        None => opened,
    })
}
