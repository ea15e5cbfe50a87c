//! Logins: a refused login (wrong password, unknown user, no TLS where TLS
//! is required) is a log line and an entry in the ledger's audit chain, and
//! repeated refusals slow the next attempts down — per user name and per
//! client address, so guessing one analyst's password from many addresses,
//! or many analysts' from one, both slow down.
//!
//! The delay is served before the SCRAM exchange of the next attempt (as
//! PostgreSQL's `auth_delay` delays the answer of a failed one): the first
//! [`FREE_FAILURES`] refusals in [`WINDOW`] cost nothing, then each doubles
//! the wait from [`FIRST_DELAY`] up to [`MAX_DELAY`]. A refusal never locks
//! an analyst out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pgwire::api::ClientInfo;
use pgwire::api::ErrorHandler;
use pgwire::error::PgWireError;
use privagg_budget::{Ledger, Rejection};
use rand::RngCore;

/// Refusals forgotten after this long.
pub const WINDOW: Duration = Duration::from_secs(600);
/// Refusals in the window that cost no delay.
pub const FREE_FAILURES: u32 = 3;
/// The delay after the first refusal past the free ones.
pub const FIRST_DELAY: Duration = Duration::from_millis(200);
/// The longest delay.
pub const MAX_DELAY: Duration = Duration::from_secs(5);

/// The longest user name kept in a log line or the audit.
const MAX_NAME: usize = 64;

/// Recent refusals, by user name and by client address.
pub(crate) struct Logins {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
    ledger: Arc<dyn Ledger>,
}

impl std::fmt::Debug for Logins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Logins")
    }
}

/// The delay after `n` refusals.
pub fn delay_after(n: u32) -> Duration {
    if n < FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (n - FREE_FAILURES).min(16);
    FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY)
}

/// A user name as logged: printable, at most [`MAX_NAME`] characters.
fn shown(user: &str) -> String {
    user.chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME)
        .collect()
}

impl Logins {
    pub(crate) fn new(ledger: Arc<dyn Ledger>) -> Self {
        Self {
            failures: Mutex::new(HashMap::new()),
            ledger,
        }
    }

    fn recent(&self, key: &str, now: Instant) -> u32 {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match failures.get(key) {
            Some((n, last)) if now.duration_since(*last) < WINDOW => *n,
            _ => 0,
        }
    }

    /// How long the next attempt of `user` from `host` waits.
    pub(crate) fn delay(&self, user: &str, host: &str) -> Duration {
        let now = Instant::now();
        let n = self
            .recent(&format!("user:{user}"), now)
            .max(self.recent(&format!("host:{host}"), now));
        delay_after(n)
    }

    /// Counts, logs and audits a refused login.
    pub(crate) fn refused(&self, user: &str, host: IpAddr, reason: &str) {
        let now = Instant::now();
        {
            let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            failures.retain(|_, (_, last)| now.duration_since(*last) < WINDOW);
            for key in [format!("user:{user}"), format!("host:{host}")] {
                let entry = failures.entry(key).or_insert((0, now));
                *entry = (entry.0.saturating_add(1), now);
            }
        }
        let user = shown(user);
        eprintln!(
            "privagg-server: {{\"analyst\": {user:?}, \"statement\": \"login\", \"outcome\": \"refused\", \"host\": \"{host}\", \"reason\": {reason:?}}}"
        );
        let rejection = Rejection {
            request_id: format!("login-{:016x}", rand::rng().next_u64()),
            analyst: user,
            request_text: format!("login from {host}"),
            reason: format!("login refused: {reason}"),
        };
        let ledger = Arc::clone(&self.ledger);
        // The audit write is a ledger transaction: off the async workers.
        tokio::task::spawn_blocking(move || {
            if let Err(e) = ledger.record_rejection(&rejection) {
                eprintln!("privagg-server: could not audit a refused login: {e}");
            }
        });
    }
}

/// Sees every error a connection ends with; refused logins are counted.
#[derive(Debug)]
pub(crate) struct LoginErrors(pub Arc<Logins>);

impl ErrorHandler for LoginErrors {
    fn on_error<C>(&self, client: &C, error: &mut PgWireError)
    where
        C: ClientInfo,
    {
        if let PgWireError::InvalidPassword(user) = error {
            self.0.refused(
                user,
                client.socket_addr().ip(),
                "wrong password or unknown user",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_after_the_free_refusals_and_are_capped() {
        assert_eq!(delay_after(0), Duration::ZERO);
        assert_eq!(delay_after(FREE_FAILURES - 1), Duration::ZERO);
        assert_eq!(delay_after(FREE_FAILURES), FIRST_DELAY);
        assert_eq!(delay_after(FREE_FAILURES + 1), FIRST_DELAY * 2);
        assert_eq!(delay_after(1_000), MAX_DELAY);
        assert_eq!(delay_after(u32::MAX), MAX_DELAY);
    }

    #[test]
    fn names_are_logged_printable_and_short() {
        assert_eq!(shown("al\nice"), "alice");
        assert_eq!(shown(&"x".repeat(1_000)).len(), MAX_NAME);
    }
}
