//! `Session`: one caller's settings over a shared [`Engine`]. A request's
//! `SET` statements become the session's settings only when the request
//! succeeds; `explain` never changes them. A server keeps one session per
//! connection over one engine.
//!
//! The engine's own `query`/`explain` methods, also here, run each request
//! in a fresh session: its `SET` statements apply to that request only.

use std::sync::Arc;

use crate::batch::{BatchQuery, run_batch};
use crate::engine::Engine;
use crate::error::Result;
use crate::metadata::Release;
use crate::options::OptionValues;
use crate::request::{Explanation, QueryConfig, explain};
use crate::request_thread::{Workers, on_request_thread};
use crate::unwind::{Charged, guarded};

/// One caller's view of an engine: its settings (`SET privagg.x = v`).
#[derive(Debug, Clone)]
pub struct Session {
    engine: Arc<Engine>,
    settings: OptionValues,
}

impl Session {
    /// A session with no settings of its own (the engine's defaults apply).
    pub fn new(engine: Arc<Engine>) -> Self {
        Self {
            engine,
            settings: OptionValues::default(),
        }
    }

    /// A session with the given settings (a session carried over to a new engine).
    pub fn with_settings(engine: Arc<Engine>, settings: OptionValues) -> Self {
        Self { engine, settings }
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The session's own settings.
    pub fn settings(&self) -> &OptionValues {
        &self.settings
    }

    /// Sets a session setting, as `SET privagg.<name> = <value>` would.
    ///
    /// # Errors
    /// [`SqlError::Rejected`] for unknown options or bad values.
    pub fn set_option(&mut self, name: &str, value: &str) -> Result<()> {
        self.settings.set(name, value)
    }

    /// Runs a request (`SET privagg.x = v;` statements and one SELECT).
    ///
    /// # Errors
    /// See [`SqlError`]; every request, accepted or not, is audited.
    pub async fn query(&mut self, analyst: &str, sql: &str) -> Result<Release> {
        self.query_with(analyst, sql, QueryConfig::default()).await
    }

    /// [`Self::query`] with presentation settings.
    ///
    /// # Errors
    /// As [`Self::query`].
    pub async fn query_with(
        &mut self,
        analyst: &str,
        sql: &str,
        config: QueryConfig,
    ) -> Result<Release> {
        let query = BatchQuery::single(sql);
        let releases = self
            .query_batch_inner(analyst, None, &[query], config, &mut |_| {})
            .await?;
        BatchQuery::only(releases)
    }

    /// Runs several queries as one request: every query is planned first, the
    /// sum of their costs is charged once, all-or-nothing, and only then is
    /// any private data read. `job` is the request text audited for the whole
    /// batch. Releases come back in the order of `queries`; `progress` is
    /// called with the number of queries released so far.
    ///
    /// # Errors
    /// As [`Self::query`]; a rejection names the query (`name`) at fault, and
    /// nothing is charged unless every query plans and the total is affordable.
    pub async fn query_batch(
        &mut self,
        analyst: &str,
        job: &str,
        queries: &[BatchQuery],
        config: QueryConfig,
        progress: &mut (dyn FnMut(usize) + Send),
    ) -> Result<Vec<Release>> {
        self.query_batch_inner(analyst, Some(job), queries, config, progress)
            .await
    }

    async fn query_batch_inner(
        &mut self,
        analyst: &str,
        job: Option<&str>,
        queries: &[BatchQuery],
        config: QueryConfig,
        progress: &mut (dyn FnMut(usize) + Send),
    ) -> Result<Vec<Release>> {
        let (releases, pending) = run_batch(
            &self.engine,
            &self.settings,
            analyst,
            job,
            queries,
            config,
            progress,
        )
        .await?;
        // The request succeeded: its SET statements become the session's.
        self.settings = pending.or(&self.settings);
        Ok(releases)
    }

    /// What a query would cost and how accurate it would be; charges
    /// nothing and changes no setting.
    ///
    /// # Errors
    /// As the preparation of [`Self::query`].
    pub async fn explain(&self, sql: &str) -> Result<Explanation> {
        let work = explain(&self.engine, &self.settings, sql);
        on_request_thread(
            Workers::None,
            guarded("explaining the query", Charged::No, work),
        )
    }
}

impl Engine {
    /// Runs a request in a fresh session (its `SET` statements apply to it
    /// only). See [`Session::query`].
    ///
    /// # Errors
    /// As [`Session::query`].
    pub async fn query(&self, analyst: &str, sql: &str) -> Result<Release> {
        self.query_with(analyst, sql, QueryConfig::default()).await
    }

    /// [`Self::query`] with presentation settings.
    ///
    /// # Errors
    /// As [`Session::query`].
    pub async fn query_with(
        &self,
        analyst: &str,
        sql: &str,
        config: QueryConfig,
    ) -> Result<Release> {
        let query = BatchQuery::single(sql);
        let none = OptionValues::default();
        let (releases, _) =
            run_batch(self, &none, analyst, None, &[query], config, &mut |_| {}).await?;
        BatchQuery::only(releases)
    }

    /// Several queries as one request, in a fresh session. See [`Session::query_batch`].
    ///
    /// # Errors
    /// As [`Session::query_batch`].
    pub async fn query_batch(
        &self,
        analyst: &str,
        job: &str,
        queries: &[BatchQuery],
        config: QueryConfig,
        progress: &mut (dyn FnMut(usize) + Send),
    ) -> Result<Vec<Release>> {
        let none = OptionValues::default();
        let (releases, _) =
            run_batch(self, &none, analyst, Some(job), queries, config, progress).await?;
        Ok(releases)
    }

    /// What a query would cost and how accurate it would be under the
    /// engine's defaults; charges nothing.
    ///
    /// # Errors
    /// As the preparation of [`Session::query`].
    pub async fn explain(&self, sql: &str) -> Result<Explanation> {
        let none = OptionValues::default();
        on_request_thread(
            Workers::None,
            guarded(
                "explaining the query",
                Charged::No,
                explain(self, &none, sql),
            ),
        )
    }
}
