//! The tokio runtime the engine runs on, and waiting for it without the
//! GIL: a query runs on the runtime while Python waits in 100 ms slices with
//! the GIL released, checking for Ctrl-C between slices. Ctrl-C returns at
//! once with `KeyboardInterrupt`; a query already charged keeps its charge
//! (as in the CLI) and its release is dropped.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use pyo3::prelude::*;
use tokio::runtime::Runtime;

use crate::errors::PrivaggError;

fn runtime() -> PyResult<&'static Runtime> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("privagg")
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| PrivaggError::new_err(format!("cannot start privagg's runtime: {e}")))
}

/// Runs the future `work()` makes to completion, on a blocking thread of
/// the runtime (the engine's futures are not all `Send`), with the GIL
/// released; Ctrl-C abandons it.
pub(crate) fn wait<T, F>(py: Python<'_>, work: impl FnOnce() -> F + Send + 'static) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = T>,
{
    let rt = runtime()?;
    let handle_rt = rt.handle().clone();
    let mut handle = rt.spawn_blocking(move || handle_rt.block_on(work()));
    loop {
        let slice = py.detach(|| {
            rt.block_on(async {
                tokio::time::timeout(Duration::from_millis(100), &mut handle).await
            })
        });
        match slice {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(_)) => {
                return Err(PrivaggError::new_err(
                    "internal error: the query's task failed; nothing was released",
                ));
            }
            Err(_) => {
                if let Err(interrupt) = py.check_signals() {
                    handle.abort();
                    return Err(interrupt);
                }
            }
        }
    }
}

/// Runs `work()` to completion with the GIL released and Ctrl-C deferred:
/// for work that must not be abandoned halfway (registering a table holds
/// the session's engine). A Ctrl-C pressed meanwhile is raised by Python
/// as soon as this returns, with the session whole.
pub(crate) fn finish<T, F>(py: Python<'_>, work: impl FnOnce() -> F + Send + 'static) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = T>,
{
    let rt = runtime()?;
    let handle_rt = rt.handle().clone();
    let handle = rt.spawn_blocking(move || handle_rt.block_on(work()));
    py.detach(|| rt.block_on(handle)).map_err(|_| {
        PrivaggError::new_err(
            "internal error: the registration's task failed; nothing was registered",
        )
    })
}
