//! One connection: the analyst it authenticated as, its session (its own
//! `SET privagg.*` settings over the shared engine), and how each statement
//! is answered. Every DP statement goes through the engine — private tables
//! are never readable raw — and runs on a blocking thread (the engine plans
//! and executes on a request thread of its own).

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::portal::Format;
use pgwire::api::query::SimpleQueryHandler;
use pgwire::api::results::{FieldInfo, Response, Tag};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use privagg_sql::{Engine, Explanation, QueryConfig, Release, Session, SqlError};

use crate::answer::{
    Answer, analyst_of, catalog_error, explanation_lines, log, rows_or_error, timeout_error,
    version,
};
use crate::pg_catalog::is_catalog_query;
use crate::rows::{fields, response, text_fields, text_rows};
use crate::sqlstate::{error_info, server_error};
use crate::statement::{Statement, classify, too_long};

/// What every connection shares.
pub(crate) struct Shared {
    /// The engine (catalog, ledger, DataFusion).
    pub engine: Arc<Engine>,
    /// A statement running longer is answered with an error (57014); a query
    /// already charged keeps its charge, as in the CLI.
    pub statement_timeout: Duration,
    /// Rows sent at most per result.
    pub max_rows: usize,
    /// DP statements running now (graceful shutdown waits for them).
    pub in_flight: AtomicUsize,
    /// The ledger is read-only: DP queries are refused (25006).
    pub readonly: bool,
    /// Metadata only, for `pg_catalog`/`information_schema` queries (`crate::pg_catalog`).
    pub catalog: datafusion::prelude::SessionContext,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

/// One client connection.
#[derive(Debug)]
pub(crate) struct Connection {
    shared: Arc<Shared>,
    session: tokio::sync::Mutex<Session>,
    /// When the last statement started or ended, and how many run now.
    activity: std::sync::Mutex<(Instant, usize)>,
}

/// Marks a connection busy while a statement runs.
struct Busy<'a>(&'a Connection);

impl<'a> Busy<'a> {
    fn new(c: &'a Connection) -> Self {
        c.touch(1);
        Self(c)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.touch(-1);
    }
}

/// Counts a DP statement as in flight while it lives.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn new(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::SeqCst);
        Self(n)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Connection {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let session = Session::new(Arc::clone(&shared.engine));
        Self {
            shared,
            session: tokio::sync::Mutex::new(session),
            activity: std::sync::Mutex::new((Instant::now(), 0)),
        }
    }

    fn touch(&self, running: isize) {
        let mut a = self.activity.lock().unwrap_or_else(|p| p.into_inner());
        a.0 = Instant::now();
        a.1 = a.1.saturating_add_signed(running);
    }

    /// How long no statement has run; None while one runs.
    pub(crate) fn idle_for(&self) -> Option<Duration> {
        let a = self.activity.lock().unwrap_or_else(|p| p.into_inner());
        (a.1 == 0).then(|| a.0.elapsed())
    }

    /// Answers one statement, its rows in the client's formats.
    pub(crate) async fn answer(&self, analyst: &str, text: &str, format: &Format) -> Answer {
        let _busy = Busy::new(self);
        if let Some(e) = too_long(text) {
            return Answer::of(Response::Error(e));
        }
        match classify(text) {
            Statement::Empty => Answer::of(Response::EmptyQuery),
            Statement::SetPrivagg { name, value } => {
                let mut session = self.session.lock().await;
                match session.set_option(&name, &value) {
                    Ok(()) => Answer::of(Response::Execution(Tag::new("SET"))),
                    Err(e) => Answer::error(error_info(&e)),
                }
            }
            Statement::SetOther => Answer::of(Response::Execution(Tag::new("SET"))),
            Statement::Show(name) => self.show(&name, format).await,
            Statement::Transaction(tag) => Answer::of(match tag {
                "BEGIN" => Response::TransactionStart(Tag::new(tag)),
                _ => Response::TransactionEnd(Tag::new(tag)),
            }),
            Statement::Version => {
                rows_or_error(text_rows(&["version"], vec![vec![version()]], format))
            }
            Statement::Explain(sql) => self.explain(analyst, &sql, format).await,
            Statement::Query(sql) if is_catalog_query(&sql) => {
                self.catalog_query(analyst, &sql, format).await
            }
            Statement::Query(_) if self.shared.readonly => {
                log(analyst, "query", "refused", ", \"sqlstate\": \"25006\"");
                Answer::error(server_error(
                    "25006",
                    "this server is read-only (--readonly): its ledger cannot be charged, so no query is released; EXPLAIN works".into(),
                ))
            }
            Statement::Query(sql) => self.query(analyst, &sql, format).await,
        }
    }

    /// The columns `text` would answer with, without running it (a DP query
    /// is explained: nothing is charged, no data is read).
    pub(crate) async fn describe(
        &self,
        analyst: &str,
        text: &str,
        format: &Format,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let _busy = Busy::new(self);
        let user = |e: ErrorInfo| PgWireError::UserError(Box::new(e));
        let columns = match classify(text) {
            Statement::Query(sql) if is_catalog_query(&sql) => {
                let schema = crate::pg_catalog::describe(&self.shared.catalog, &sql, analyst)
                    .await
                    .map_err(|e| PgWireError::UserError(catalog_error(&e)))?;
                return Ok(fields(&schema, format)?.to_vec());
            }
            Statement::Query(sql) => {
                let e = self.explanation(&sql).await.map_err(user)?;
                return Ok(fields(&e.result_schema, format)?.to_vec());
            }
            Statement::Explain(_) => vec!["QUERY PLAN".to_string()],
            Statement::Version => vec!["version".to_string()],
            Statement::Show(name) => vec![name],
            _ => return Ok(Vec::new()),
        };
        let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
        Ok(text_fields(&columns, format)?.to_vec())
    }

    /// A question about the database (psql's `\d`, drivers' introspection),
    /// answered from metadata only.
    async fn catalog_query(&self, analyst: &str, sql: &str, format: &Format) -> Answer {
        let run = crate::pg_catalog::run(&self.shared.catalog, sql, analyst);
        match tokio::time::timeout(self.shared.statement_timeout, run).await {
            Ok(Ok(batches)) => {
                log(analyst, "catalog", "ok", "");
                match response(&batches, self.shared.max_rows, format) {
                    Ok(r) => Answer::of(r),
                    Err(e) => Answer::error(server_error("XX000", e.to_string())),
                }
            }
            Ok(Err(e)) => {
                log(analyst, "catalog", "refused", ", \"sqlstate\": \"0A000\"");
                Answer::of(Response::Error(catalog_error(&e)))
            }
            Err(_) => Answer::error(timeout_error(self.shared.statement_timeout)),
        }
    }

    async fn show(&self, name: &str, format: &Format) -> Answer {
        let value = match name {
            "server_version" => "15.0".to_string(),
            "server_encoding" | "client_encoding" => "UTF8".to_string(),
            "standard_conforming_strings" => "on".to_string(),
            "transaction_isolation" | "default_transaction_isolation" => {
                "read committed".to_string()
            }
            "datestyle" => "ISO, MDY".to_string(),
            "timezone" => "UTC".to_string(),
            other => match other.strip_prefix("privagg.") {
                Some(option) => self
                    .session
                    .lock()
                    .await
                    .settings()
                    .get(option)
                    .unwrap_or_else(|| "(default)".to_string()),
                None => String::new(),
            },
        };
        rows_or_error(text_rows(&[name], vec![vec![value]], format))
    }

    /// The engine's explanation of `sql` under this connection's settings
    /// (charges nothing), on a blocking thread, within the statement timeout.
    pub(crate) async fn explanation(&self, sql: &str) -> Result<Explanation, ErrorInfo> {
        let session = self.session.lock().await.clone();
        let sql = sql.to_string();
        let run = tokio::task::spawn_blocking(move || {
            futures::executor::block_on(async move { session.explain(&sql).await })
        });
        match tokio::time::timeout(self.shared.statement_timeout, run).await {
            Ok(Ok(Ok(e))) => Ok(e),
            Ok(Ok(Err(e))) => Err(error_info(&e)),
            Ok(Err(_)) => Err(server_error(
                "XX000",
                "internal error while explaining".into(),
            )),
            Err(_) => Err(timeout_error(self.shared.statement_timeout)),
        }
    }

    async fn explain(&self, analyst: &str, sql: &str, format: &Format) -> Answer {
        match self.explanation(sql).await {
            Ok(e) => {
                log(analyst, "explain", "ok", "");
                rows_or_error(text_rows(&["QUERY PLAN"], explanation_lines(&e), format))
            }
            Err(e) => {
                log(
                    analyst,
                    "explain",
                    "refused",
                    &format!(", \"sqlstate\": {:?}", e.code),
                );
                Answer::error(e)
            }
        }
    }

    async fn query(&self, analyst: &str, sql: &str, format: &Format) -> Answer {
        let _counted = InFlight::new(&self.shared.in_flight);
        let mut guard = self.session.lock().await;
        let mut session = guard.clone();
        let (who, sql) = (analyst.to_string(), sql.to_string());
        let config = QueryConfig {
            confidence: 0.95,
            intervals: true,
        };
        let run = tokio::task::spawn_blocking(move || {
            futures::executor::block_on(async move {
                let r = session.query_with(&who, &sql, config).await;
                (session, r)
            })
        });
        let outcome: Result<Release, SqlError> =
            match tokio::time::timeout(self.shared.statement_timeout, run).await {
                Ok(Ok((session, r))) => {
                    // The request's SET statements became the session's on success.
                    *guard = session;
                    r
                }
                Ok(Err(_)) => {
                    return Answer::error(server_error(
                        "XX000",
                        "internal error while running the query".into(),
                    ));
                }
                Err(_) => {
                    log(analyst, "query", "timeout", "");
                    return Answer::error(timeout_error(self.shared.statement_timeout));
                }
            };
        match outcome {
            Ok(release) => {
                let m = &release.metadata;
                log(
                    analyst,
                    "query",
                    "released",
                    &format!(
                        ", \"request\": {:?}, \"epsilon\": \"{}\", \"delta\": \"{}\", \"groups\": {}",
                        m.request_id, m.epsilon, m.delta, m.groups_released
                    ),
                );
                let mut notices = vec![format!(
                    "privagg: charged epsilon {}, delta {} to {}; {} group(s) released; request {}",
                    m.epsilon, m.delta, m.analyst, m.groups_released, m.request_id
                )];
                notices.extend(
                    m.remaining
                        .iter()
                        .map(|r| format!("privagg: remaining: {r}")),
                );
                let noisy: Vec<String> = m
                    .accuracy
                    .iter()
                    .filter(|c| c.too_noisy)
                    .map(|c| format!("{} {}", c.segment, c.column).trim().to_string())
                    .collect();
                if !noisy.is_empty() {
                    notices.push(format!(
                        "privagg: too noisy to act on: {}",
                        noisy.join(", ")
                    ));
                }
                match response(&release.batches, self.shared.max_rows, format) {
                    Ok(response) => Answer { response, notices },
                    Err(e) => {
                        Answer::error(server_error("XX000", format!("encoding the release: {e}")))
                    }
                }
            }
            Err(e) => {
                log(
                    analyst,
                    "query",
                    "refused",
                    &format!(", \"sqlstate\": {:?}", crate::sqlstate::code(&e)),
                );
                Answer::error(error_info(&e))
            }
        }
    }
}

#[async_trait]
impl SimpleQueryHandler for Connection {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let analyst = analyst_of(client);
        let answer = self.answer(&analyst, query, &Format::UnifiedText).await;
        Ok(vec![answer.send(client).await?])
    }
}
