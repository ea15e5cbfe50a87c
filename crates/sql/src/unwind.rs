//! The engine's boundary against panics: a panic anywhere below a request
//! (privagg's code, DataFusion, a reader library) becomes an error of the
//! request instead of a crash, and its message — which could quote a data
//! value — is dropped. Before the charge it is a rejection (nothing
//! charged); after the charge it is an execution failure (the charge is
//! kept, as for any failure after private data may have been read).

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;

use crate::error::{Result, SqlError, rejected};

/// Whether the charge has been made when `stage` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Charged {
    /// Before the charge: a panic is a rejection.
    No,
    /// After: a panic is an execution failure.
    Yes,
}

/// Runs `work`, turning a panic into an error naming `stage` only.
pub(crate) async fn guarded<T>(
    stage: &str,
    charged: Charged,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(result) => result,
        Err(_) => Err(match charged {
            Charged::No => rejected(format!(
                "internal error while {stage} (a bug: please report it with the query); nothing was charged"
            )),
            Charged::Yes => SqlError::Execution(format!(
                "internal error while {stage} (a bug: please report it with the query)"
            )),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_an_error_without_its_message() {
        let quiet = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let before = guarded("planning", Charged::No, async {
            if std::hint::black_box(true) {
                panic!("secret value 42");
            }
            Ok(())
        })
        .await;
        let after = guarded("reading data", Charged::Yes, async {
            if std::hint::black_box(true) {
                panic!("secret value 42");
            }
            Ok(())
        })
        .await;
        std::panic::set_hook(quiet);
        let before = before.expect_err("rejected").to_string();
        assert!(
            before.starts_with("query rejected: internal error while planning")
                && before.ends_with("nothing was charged")
                && !before.contains("42"),
            "{before}"
        );
        let after = after.expect_err("failed").to_string();
        assert!(
            after.contains("after the budget was charged") && !after.contains("42"),
            "{after}"
        );
        let fine = guarded("planning", Charged::No, async { Ok(7) }).await;
        assert_eq!(fine.expect("no panic"), 7);
    }
}
