//! What pgwire calls for one connection: the startup (SCRAM-SHA-256 against
//! the analysts' verifiers, TLS required when configured, the delay after
//! repeated refusals), the simple and extended query handlers (the
//! connection itself), and the error handler that counts refused logins.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::{ScramAuth, ScramSecret};
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::{ClientInfo, ErrorHandler, PgWireServerHandlers};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::PasswordMessageFamily;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use crate::credentials::Credentials;
use crate::handler::Connection;
use crate::login::{LoginErrors, Logins};

/// The analysts' verifiers, for pgwire's SCRAM exchange. An unknown user and
/// a wrong password fail alike (28P01): the server does not say which
/// analysts exist.
pub(crate) struct Verifiers {
    pub credentials: Credentials,
    pub logins: Arc<Logins>,
}

impl Debug for Verifiers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifiers")
    }
}

#[async_trait]
impl AuthSource for Verifiers {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        Err(PgWireError::InvalidPassword(
            login.user().unwrap_or_default().to_string(),
        ))
    }

    async fn get_scram_secret(&self, login: &LoginInfo) -> PgWireResult<(ScramSecret, Option<()>)> {
        let user = login.user().unwrap_or_default();
        // Repeated refusals slow the next attempt (by name and by address).
        let wait = self.logins.delay(user, login.host());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        match self.credentials.get(user) {
            Some(v) => Ok((v.secret(), None)),
            None => Err(PgWireError::InvalidPassword(user.to_string())),
        }
    }
}

/// SCRAM-SHA-256 (shared by every connection; its per-connection state is pgwire's).
pub(crate) struct Auth {
    sasl: SASLAuthStartupHandler<DefaultServerParameterProvider>,
    require_tls: bool,
    logins: Arc<Logins>,
}

impl Auth {
    pub(crate) fn new(verifiers: &Arc<Verifiers>, require_tls: bool) -> Self {
        let scram = ScramAuth::new(Arc::clone(verifiers) as Arc<dyn AuthSource>);
        Self {
            sasl: SASLAuthStartupHandler::new(Arc::new(DefaultServerParameterProvider::default()))
                .with_scram(scram),
            require_tls,
            logins: Arc::clone(&verifiers.logins),
        }
    }
}

/// One connection's startup: refuses a connection without TLS when TLS is
/// required, and a malformed first SASL message (whose length field pgwire
/// 0.42 would trust and panic on) before SCRAM reads it.
pub(crate) struct Startup {
    auth: Arc<Auth>,
    first_response: AtomicBool,
}

impl Startup {
    pub(crate) fn new(auth: &Arc<Auth>) -> Self {
        Self {
            auth: Arc::clone(auth),
            first_response: AtomicBool::new(true),
        }
    }
}

/// Whether `body` is a well-formed SASLInitialResponse: a mechanism name, a
/// length, and that many bytes (or -1 for none).
fn well_formed_initial_response(body: &[u8]) -> bool {
    let Some(nul) = body.iter().position(|b| *b == 0) else {
        return false;
    };
    let rest = &body[nul + 1..];
    let Some((length, data)) = rest.split_first_chunk::<4>() else {
        return false;
    };
    let length = i32::from_be_bytes(*length);
    length == -1 || usize::try_from(length).is_ok_and(|n| n <= data.len())
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let auth = &self.auth;
        if let PgWireFrontendMessage::PasswordMessageFamily(PasswordMessageFamily::Raw(body)) =
            &message
            && self.first_response.swap(false, Ordering::SeqCst)
            && !well_formed_initial_response(body)
        {
            return Err(PgWireError::InvalidScramMessage(
                "malformed SASLInitialResponse".to_string(),
            ));
        }
        if let PgWireFrontendMessage::Startup(startup) = &message
            && auth.require_tls
            && !client.is_secure()
        {
            let user = startup.parameters.get("user").cloned().unwrap_or_default();
            auth.logins
                .refused(&user, client.socket_addr().ip(), "TLS is required");
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".to_string(),
                "28000".to_string(),
                "this server requires TLS: connect with sslmode=require".to_string(),
            ))));
        }
        auth.sasl.on_startup(client, message).await
    }
}

/// The handlers of one connection.
pub(crate) struct Handlers {
    pub connection: Arc<Connection>,
    pub startup: Arc<Startup>,
    pub errors: Arc<LoginErrors>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.connection)
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::clone(&self.connection)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::clone(&self.startup)
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::clone(&self.errors)
    }
}

#[cfg(test)]
mod tests {
    use super::well_formed_initial_response;

    #[test]
    fn only_well_formed_initial_responses_reach_scram() {
        let mut ok = b"SCRAM-SHA-256\0".to_vec();
        ok.extend_from_slice(&3i32.to_be_bytes());
        ok.extend_from_slice(b"abc");
        assert!(well_formed_initial_response(&ok));
        let mut none = b"SCRAM-SHA-256\0".to_vec();
        none.extend_from_slice(&(-1i32).to_be_bytes());
        assert!(well_formed_initial_response(&none));
        let mut lying = b"SCRAM-SHA-256\0".to_vec();
        lying.extend_from_slice(&1_786_080_875i32.to_be_bytes());
        assert!(!well_formed_initial_response(&lying));
        assert!(!well_formed_initial_response(b"c=biws,r=abc"));
        assert!(!well_formed_initial_response(b"SCRAM\0\0\0"));
    }
}
