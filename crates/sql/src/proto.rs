//! Serialising bounded plans with datafusion-proto, so an executor in
//! another process (a Ballista cluster) can run them. privagg's functions
//! have stable names and carry every parameter as a literal argument, so the
//! default encoding needs nothing but the functions registered on the other
//! side (`privagg_sql::udf::register_all`). The two exceptions are the total
//! wrappers made per query (`crate::total`): [`PlanCodec`] encodes which
//! function or operator each one wraps.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::{Result, TableReference, not_impl_err, plan_err};
use datafusion::execution::TaskContext;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{Extension, LogicalPlan, Operator, ScalarUDF};
use datafusion::prelude::SessionContext;
use datafusion_proto::bytes::{
    logical_plan_from_bytes_with_extension_codec, logical_plan_to_bytes_with_extension_codec,
};
use datafusion_proto::logical_plan::LogicalExtensionCodec;

use crate::udf::{TotalBinary, TotalFunction};

const FUNCTION_TAG: &[u8] = b"f:";
const OPERATOR_TAG: &[u8] = b"o:";

/// The extension codec of privagg's plans: knows the total wrappers; the
/// functions they wrap are looked up among the session's.
#[derive(Clone)]
pub struct PlanCodec {
    functions: HashMap<String, Arc<ScalarUDF>>,
    state: SessionState,
}

impl std::fmt::Debug for PlanCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanCodec").finish_non_exhaustive()
    }
}

impl PlanCodec {
    /// A codec for plans built (and to be rebuilt) over `session`'s functions.
    pub fn new(session: &SessionContext) -> Self {
        let state = session.state();
        Self {
            functions: state.scalar_functions().clone(),
            state,
        }
    }

    /// A plan as bytes: optimised first by the session's logical optimiser
    /// (which turns `IN (SELECT ...)` sub-queries into semi-joins, as
    /// datafusion-proto encodes no sub-query expression); the optimised plan
    /// computes the same result.
    ///
    /// # Errors
    /// When the plan holds something datafusion-proto cannot encode (a
    /// table registered from in-memory batches).
    pub fn to_bytes(&self, plan: &LogicalPlan) -> Result<Vec<u8>> {
        let optimized = self.state.optimize(plan)?;
        Ok(logical_plan_to_bytes_with_extension_codec(&optimized, self)?.to_vec())
    }

    /// The plan of [`Self::to_bytes`], over `ctx`'s functions.
    ///
    /// # Errors
    /// For bytes that are not such a plan.
    pub fn from_bytes(&self, bytes: &[u8], ctx: &TaskContext) -> Result<LogicalPlan> {
        logical_plan_from_bytes_with_extension_codec(bytes, ctx, self)
    }
}

impl LogicalExtensionCodec for PlanCodec {
    fn try_decode(
        &self,
        _buf: &[u8],
        _inputs: &[LogicalPlan],
        _ctx: &TaskContext,
    ) -> Result<Extension> {
        not_impl_err!("privagg plans have no extension nodes")
    }

    fn try_encode(&self, _node: &Extension, _buf: &mut Vec<u8>) -> Result<()> {
        not_impl_err!("privagg plans have no extension nodes")
    }

    fn try_decode_table_provider(
        &self,
        _buf: &[u8],
        table_ref: &TableReference,
        _schema: SchemaRef,
        _ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        not_impl_err!("table {table_ref}: only file tables can be sent to another executor")
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        _node: Arc<dyn TableProvider>,
        _buf: &mut Vec<u8>,
    ) -> Result<()> {
        not_impl_err!(
            "table {table_ref}: a table registered from in-memory batches cannot be sent to another executor (register it from a file)"
        )
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        decode_udf(&self.functions, name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        encode_udf(node, buf);
        Ok(())
    }
}

/// Decodes a scalar function encoded by [`encode_udf`]: a total wrapper is
/// rebuilt around the function (or operator) it names; any other function
/// is looked up by name in `functions`. For every codec that carries
/// privagg's plans (this one, and a distributed executor's).
///
/// # Errors
/// When a named function is not in `functions`.
pub fn decode_udf(
    functions: &HashMap<String, Arc<ScalarUDF>>,
    name: &str,
    buf: &[u8],
) -> Result<Arc<ScalarUDF>> {
    if let Some(inner) = buf.strip_prefix(FUNCTION_TAG) {
        let inner = String::from_utf8_lossy(inner);
        let Some(f) = functions.get(inner.as_ref()) else {
            return plan_err!("{name}: function {inner} is not registered here");
        };
        return Ok(Arc::new(ScalarUDF::from(TotalFunction::new(Arc::clone(f)))));
    }
    if let Some(op) = buf.strip_prefix(OPERATOR_TAG) {
        let op = String::from_utf8_lossy(op);
        // The operator's name as datafusion-proto spells it.
        return match Operator::from_proto_name(&op) {
            Some(o) => Ok(Arc::new(ScalarUDF::from(TotalBinary::new(o)))),
            None => plan_err!("{name}: unknown operator {op}"),
        };
    }
    match functions.get(name) {
        Some(f) => Ok(Arc::clone(f)),
        None => plan_err!("function {name} is not registered here"),
    }
}

/// Encodes which function or operator a total wrapper wraps (nothing for
/// any other function: its name is enough).
pub fn encode_udf(node: &ScalarUDF, buf: &mut Vec<u8>) {
    let inner = node.inner().as_ref();
    if let Some(total) = inner.downcast_ref::<TotalFunction>() {
        buf.extend_from_slice(FUNCTION_TAG);
        buf.extend_from_slice(total.inner().name().as_bytes());
    } else if let Some(total) = inner.downcast_ref::<TotalBinary>() {
        buf.extend_from_slice(OPERATOR_TAG);
        buf.extend_from_slice(format!("{:?}", total.op()).as_bytes());
    }
}

#[cfg(test)]
#[path = "proto_tests.rs"]
mod tests;
