//! The DataFusion configuration every process of a privagg cluster shares:
//! privagg's session settings, its functions registered, its codecs.

use std::sync::Arc;

use ballista_core::extension::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use datafusion::execution::session_state::SessionState;
use datafusion::execution::{FunctionRegistry, SessionStateBuilder};
use datafusion::prelude::SessionConfig;

use crate::codec::{LogicalCodec, PhysicalCodec};

/// The session configuration: Ballista's, privagg's settings (as the local
/// engine's: identifiers case-sensitive, partial aggregation by unit kept),
/// privagg's codecs.
pub fn config() -> SessionConfig {
    SessionConfig::new_with_ballista()
        .set_bool("datafusion.sql_parser.enable_ident_normalization", false)
        .set_str(
            "datafusion.execution.skip_partial_aggregation_probe_ratio_threshold",
            "1.0",
        )
        .with_ballista_logical_extension_codec(Arc::new(LogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(PhysicalCodec::default()))
}

/// A session state over `config` with DataFusion's and privagg's functions.
///
/// # Errors
/// If a function cannot be registered.
pub fn state(config: SessionConfig) -> datafusion::error::Result<SessionState> {
    // The scheduler plans privagg's fused bounding operator (a client's
    // Ballista planner replaces this planner with its own, which ships the
    // logical plan).
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_query_planner(Arc::new(privagg_sql::fused::FusedQueryPlanner::shuffled()))
        .build();
    for f in privagg_sql::udf::all() {
        state.register_udf(f)?;
    }
    for f in privagg_sql::udf::all_aggregates() {
        state.register_udaf(f)?;
    }
    Ok(state)
}

/// The functions an executor decodes plans with: DataFusion's and privagg's.
pub fn function_registry() -> BallistaFunctionRegistry {
    let mut registry = BallistaFunctionRegistry::default();
    for f in privagg_sql::udf::all() {
        registry.scalar_functions.insert(f.name().to_string(), f);
    }
    for f in privagg_sql::udf::all_aggregates() {
        registry.aggregate_functions.insert(f.name().to_string(), f);
    }
    registry
}
