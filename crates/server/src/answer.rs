//! What a statement gets back: an [`Answer`] (a response and the NOTICEs
//! before it), the server's own errors (timeouts, catalog queries it cannot
//! answer), `version()`, EXPLAIN's lines, and the one log line per request.

use std::fmt::Debug;
use std::time::Duration;

use futures::{Sink, SinkExt};
use pgwire::api::ClientInfo;
use pgwire::api::results::Response;
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use privagg_sql::Explanation;

use crate::sqlstate::server_error;

/// An answer: the response, and notices sent before it.
pub(crate) struct Answer {
    /// The response.
    pub response: Response,
    /// NOTICE messages sent before it.
    pub notices: Vec<String>,
}

impl Answer {
    /// Sends the notices; the response is the caller's to send.
    pub(crate) async fn send<C>(self, client: &mut C) -> PgWireResult<Response>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        for notice in self.notices {
            let info = ErrorInfo::new("NOTICE".to_string(), "00000".to_string(), notice);
            client
                .send(PgWireBackendMessage::NoticeResponse(info.into()))
                .await?;
        }
        Ok(self.response)
    }

    pub(crate) fn of(response: Response) -> Self {
        Self {
            response,
            notices: Vec::new(),
        }
    }

    pub(crate) fn error(info: ErrorInfo) -> Self {
        Self::of(Response::Error(Box::new(info)))
    }
}

/// One structured log line per request (never a data value).
pub(crate) fn log(analyst: &str, kind: &str, outcome: &str, detail: &str) {
    eprintln!(
        "privagg-server: {{\"analyst\": {analyst:?}, \"statement\": {kind:?}, \"outcome\": {outcome:?}{detail}}}"
    );
}

/// A catalog query privagg cannot answer (its text is about metadata only).
pub(crate) fn catalog_error(e: &datafusion::error::DataFusionError) -> crate::sqlstate::Refusal {
    let message = e.to_string();
    let first = message.lines().next().unwrap_or_default();
    crate::sqlstate::refusal(
        "0A000",
        format!("catalog query not supported by privagg's pg_catalog emulation: {first}"),
    )
}

pub(crate) fn timeout_error(limit: Duration) -> ErrorInfo {
    server_error(
        "57014",
        format!(
            "canceling statement due to statement timeout ({} s); a query already charged keeps its charge (see privagg audit)",
            limit.as_secs_f64()
        ),
    )
}

pub(crate) fn rows_or_error(r: PgWireResult<Response>) -> Answer {
    match r {
        Ok(response) => Answer::of(response),
        Err(e) => Answer::error(server_error("XX000", e.to_string())),
    }
}

/// The analyst a connection authenticated as (the Postgres user).
pub(crate) fn analyst_of<C: ClientInfo>(client: &C) -> String {
    client
        .metadata()
        .get(pgwire::api::METADATA_USER)
        .cloned()
        .unwrap_or_default()
}

/// The server's `version()`.
pub(crate) fn version() -> String {
    format!(
        "PostgreSQL 15.0 (privagg {}: differentially private segment statistics)",
        env!("CARGO_PKG_VERSION")
    )
}

/// An explanation as lines of `QUERY PLAN`.
pub(crate) fn explanation_lines(e: &Explanation) -> Vec<Vec<String>> {
    let mut lines = vec![format!(
        "cost: epsilon {}, delta {} (nothing charged by EXPLAIN); noise: {:?}",
        e.epsilon, e.delta, e.mechanism
    )];
    lines.extend(
        e.outputs
            .iter()
            .map(|o| format!("{}: {}", o.aggregate, o.description)),
    );
    lines.extend(e.bounding.iter().cloned());
    if let Some(n) = e.units_for_even_odds {
        lines.push(format!(
            "a group needs about {n} units to be released with even odds"
        ));
    }
    lines.into_iter().map(|l| vec![l]).collect()
}
