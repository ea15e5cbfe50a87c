//! The codecs a privagg cluster speaks: Ballista's own (its shuffle
//! operators, file formats) with privagg's scalar functions and its fused
//! bounding operator (`privagg_sql::fused`, logical and physical) on top. The
//! total wrappers privagg makes per query (`privagg_sql::proto`) carry the
//! name of the function or operator they wrap; every other function travels
//! by name and is looked up among DataFusion's and privagg's.

use std::collections::HashMap;
use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::{Result, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

/// DataFusion's scalar functions and privagg's, by name.
pub fn functions() -> HashMap<String, Arc<ScalarUDF>> {
    datafusion::functions::all_default_functions()
        .into_iter()
        .chain(privagg_sql::udf::all())
        .map(|f| (f.name().to_string(), f))
        .collect()
}

/// Ballista's logical codec with privagg's functions.
#[derive(Debug)]
pub struct LogicalCodec {
    inner: BallistaLogicalExtensionCodec,
    functions: HashMap<String, Arc<ScalarUDF>>,
}

impl Default for LogicalCodec {
    fn default() -> Self {
        Self {
            inner: BallistaLogicalExtensionCodec::default(),
            functions: functions(),
        }
    }
}

impl LogicalExtensionCodec for LogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        if let [input] = inputs
            && let Some(node) = privagg_sql::fused::decode_node(buf, input)
        {
            return Ok(Extension {
                node: Arc::new(node?),
            });
        }
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        if let Some(bytes) = privagg_sql::fused::encode_node(node.node.as_ref()) {
            buf.extend(bytes);
            return Ok(());
        }
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        self.inner
            .try_decode_table_provider(buf, table_ref, schema, ctx)
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        self.inner.try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        privagg_sql::proto::decode_udf(&self.functions, name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        privagg_sql::proto::encode_udf(node, buf);
        Ok(())
    }
}

/// Ballista's physical codec with privagg's functions.
#[derive(Debug)]
pub struct PhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
    functions: HashMap<String, Arc<ScalarUDF>>,
}

impl Default for PhysicalCodec {
    fn default() -> Self {
        Self {
            inner: BallistaPhysicalExtensionCodec::default(),
            functions: functions(),
        }
    }
}

impl PhysicalExtensionCodec for PhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if let [input] = inputs
            && let Some(plan) = privagg_sql::fused::decode_exec(buf, input)
        {
            return plan;
        }
        self.inner.try_decode(buf, inputs, ctx, proto_converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if let Some(bytes) = privagg_sql::fused::encode_exec(node.as_ref()) {
            buf.extend(bytes);
            return Ok(());
        }
        self.inner.try_encode(node, buf, proto_converter)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        privagg_sql::proto::decode_udf(&self.functions, name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        privagg_sql::proto::encode_udf(node, buf);
        Ok(())
    }
}
