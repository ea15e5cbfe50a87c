//! The extended query protocol (Parse/Bind/Describe/Execute), which JDBC,
//! psycopg 3, tokio-postgres' `query` and most drivers use: a statement's
//! parameters are bound as literals (`crate::params`) and the bound text is
//! answered exactly as the simple protocol answers it, so each `Execute` of a
//! DP query is its own charged release. `Describe` explains the query
//! (nothing charged, no data read) to give its columns.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::ExtendedQueryHandler;
use pgwire::api::results::{
    DescribePortalResponse, DescribeStatementResponse, FieldInfo, Response,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

use crate::answer::analyst_of;
use crate::handler::Connection;
use crate::params::{self, Value};
use crate::sqlstate::Refusal;

fn user(e: Refusal) -> PgWireError {
    PgWireError::UserError(e)
}

/// Keeps a statement's text; its placeholders are checked at `Parse`.
#[derive(Debug)]
pub(crate) struct Parser;

#[async_trait]
impl QueryParser for Parser {
    type Statement = String;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<String>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        if let Some(e) = crate::statement::too_long(sql) {
            return Err(user(e));
        }
        params::count(sql).map_err(user)?;
        Ok(Some(sql.to_string()))
    }

    fn get_parameter_types(&self, _statement: &String) -> PgWireResult<Vec<Type>> {
        Ok(Vec::new())
    }

    fn get_result_schema(
        &self,
        _statement: &String,
        _format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Ok(Vec::new())
    }
}

/// A portal's statement with its parameters bound.
fn bound(portal: &Portal<String>) -> Result<String, Refusal> {
    let types = &portal.statement.parameter_types;
    let mut values = Vec::with_capacity(portal.parameters.len());
    for (i, bytes) in portal.parameters.iter().enumerate() {
        values.push(Value {
            bytes: bytes.as_ref(),
            ty: types.get(i).and_then(Option::as_ref),
            format: params::format_of(&portal.parameter_format, i)?,
        });
    }
    params::bind(&portal.statement.statement, &values)
}

#[async_trait]
impl ExtendedQueryHandler for Connection {
    type Statement = String;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        Arc::new(Parser)
    }

    async fn do_describe_statement<C>(
        &self,
        client: &mut C,
        target: &StoredStatement<String>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = String>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let n = params::count(&target.statement).map_err(user)?;
        // A type the client left open is text: the value is bound as a
        // string literal, which DataFusion coerces where it is compared.
        let types = (0..n)
            .map(|i| {
                target
                    .parameter_types
                    .get(i)
                    .cloned()
                    .flatten()
                    .filter(|t| *t != Type::UNKNOWN)
                    .unwrap_or(Type::TEXT)
            })
            .collect();
        let text = params::with_nulls(&target.statement).map_err(user)?;
        let fields = self
            .describe(&analyst_of(client), &text, &Format::UnifiedText)
            .await?;
        Ok(DescribeStatementResponse::new(types, fields))
    }

    async fn do_describe_portal<C>(
        &self,
        client: &mut C,
        portal: &Portal<String>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = String>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let text = bound(portal).map_err(user)?;
        let fields = self
            .describe(&analyst_of(client), &text, &portal.result_column_format)
            .await?;
        Ok(DescribePortalResponse::new(fields))
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<String>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = String>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let text = match bound(portal) {
            Ok(text) => text,
            Err(e) => return Ok(Response::Error(e)),
        };
        let analyst = analyst_of(client);
        self.answer(&analyst, &text, &portal.result_column_format)
            .await
            .send(client)
            .await
    }
}
