//! `[engine]`: where a catalog's bounded plans run.

use serde::Deserialize;

/// `[engine]`: where bounded plans run. The analysis, the charge and the
/// noise are always local.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// `local` (this process's DataFusion) or `ballista` (a cluster).
    #[serde(default)]
    pub kind: EngineKind,
    /// The Ballista scheduler, `df://host:port` (with `kind = "ballista"`).
    pub scheduler: Option<String>,
    /// Longest a bounded plan may run on the cluster, in seconds (the query
    /// then fails after its charge); none by default.
    pub timeout_seconds: Option<u64>,
    /// The local engine's memory pool, in MiB: beyond it the fused bounding
    /// operator (and DataFusion's sorts and aggregations) spill to the
    /// system's temporary directory; unlimited by default.
    pub memory_limit_mb: Option<u64>,
}

/// The kinds of engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// In process (the default).
    #[default]
    Local,
    /// On an Apache Ballista cluster.
    Ballista,
}
