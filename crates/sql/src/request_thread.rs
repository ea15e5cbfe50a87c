//! Every request runs on a thread of its own with a large stack, driving a
//! runtime of its own whose workers have large stacks too. Parsing,
//! rewriting, analysing, planning and evaluating expressions all recurse
//! over the expression tree, and some frames are large (sqlparser's derived
//! visitors over its `Expr` enum take tens of kilobytes per level in debug
//! builds). Measured on a caller's 2 MiB thread (debug build): a 50-term
//! `OR` chain overflowed the stack while planning, and `age + 1 + 1 …` with
//! 100 terms while executing — an abort that no error handling can catch.
//! The statement size limits of `dialect.rs` bound the depth; these stacks
//! hold it with room to spare, whatever thread the application calls from.
//!
//! The caller's thread waits for the request (an application serving many
//! requests from async code should call privagg from `spawn_blocking`).

use std::future::Future;

use crate::error::{Result, rejected};

/// The request thread's stack: reserved address space, touched only as deep
/// as the request goes.
pub const REQUEST_STACK: usize = 256 << 20;
/// The stack of each worker of a request's runtime.
pub const WORKER_STACK: usize = 64 << 20;

/// How many workers a request's runtime has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Workers {
    /// None: the request thread does everything (explain: no data is read).
    None,
    /// One per core (queries: DataFusion runs partitions in parallel).
    PerCore,
}

/// Runs `work` to completion on a request thread and returns its result.
///
/// # Errors
/// `work`'s error, or a rejection when the thread or its runtime cannot be
/// started (nothing charged yet then). A panic inside `work` is caught by
/// `crate::unwind::guarded` below this; one that escapes ends the thread and
/// is reported as an internal error.
pub(crate) fn on_request_thread<T: Send>(
    workers: Workers,
    work: impl Future<Output = Result<T>> + Send,
) -> Result<T> {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("privagg-request".into())
            .stack_size(REQUEST_STACK)
            .spawn_scoped(scope, move || {
                let mut builder = match workers {
                    Workers::None => tokio::runtime::Builder::new_current_thread(),
                    Workers::PerCore => {
                        let mut b = tokio::runtime::Builder::new_multi_thread();
                        b.thread_stack_size(WORKER_STACK)
                            .thread_name("privagg-worker");
                        b
                    }
                };
                builder
                    .enable_all()
                    .build()
                    .map_err(|e| rejected(format!("cannot start the request's runtime: {e}")))?
                    .block_on(work)
            })
            .map_err(|e| rejected(format!("cannot start the request's thread: {e}")))?;
        thread.join().unwrap_or_else(|_| {
            Err(crate::error::SqlError::Execution(
                "internal error (a bug: please report it with the query); if the request was charged, the charge is kept".into(),
            ))
        })
    })
}
