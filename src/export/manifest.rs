//! `manifest.json`: what an export released, at what cost, with which noise.

use std::path::PathBuf;

use privagg_budget::Amount;
use privagg_sql::Release;
use privagg_sql::ReleaseMetadata;
use serde::Serialize;

use super::job::Job;

/// The machine-readable record of an export.
#[derive(Clone, Debug, Serialize)]
pub struct Manifest {
    /// privagg version that wrote it.
    pub privagg_version: &'static str,
    /// The job file.
    pub job: String,
    /// The analyst charged.
    pub analyst: String,
    /// When (UTC).
    pub created: String,
    /// The catalog file and the SHA-256 of its bytes.
    pub catalog: CatalogFingerprint,
    /// The ledger request id of the job's single charge.
    pub request_id: String,
    /// Confidence level of every interval and reliability flag.
    pub confidence: f64,
    /// Total ε charged for the job (exact sum of the queries).
    pub epsilon: String,
    /// Total δ charged for the job (exact sum).
    pub delta: String,
    /// Remaining budget per scope after the charge.
    pub remaining: Vec<String>,
    /// One entry per query.
    pub queries: Vec<QueryEntry>,
}

/// The catalog an export used.
#[derive(Clone, Debug, Serialize)]
pub struct CatalogFingerprint {
    /// Its path.
    pub path: String,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
}

/// One released query: its file and the release's own metadata (cost,
/// split, noise per column, contribution bounds, released rows, accuracy).
#[derive(Clone, Debug, Serialize)]
pub struct QueryEntry {
    /// Name (file stem).
    pub name: String,
    /// Output file name.
    pub file: String,
    /// Output format.
    pub format: super::format::Format,
    /// What the release says about itself.
    #[serde(flatten)]
    pub release: ReleaseMetadata,
}

impl Manifest {
    /// Builds the manifest of a finished job.
    pub fn new(job: &Job, fingerprint: &str, releases: &[Release], files: &[PathBuf]) -> Self {
        let queries: Vec<QueryEntry> = job
            .queries
            .iter()
            .zip(releases)
            .zip(files)
            .map(|((q, r), f)| QueryEntry {
                name: q.name.clone(),
                file: f
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                format: q.format,
                release: r.metadata.clone(),
            })
            .collect();
        Self {
            privagg_version: env!("CARGO_PKG_VERSION"),
            job: job.file.display().to_string(),
            analyst: job.analyst.clone(),
            created: privagg_budget::format_time_ms(privagg_budget::now_ms()),
            catalog: CatalogFingerprint {
                path: job.catalog.display().to_string(),
                sha256: fingerprint.to_string(),
            },
            request_id: releases
                .first()
                .map(|r| r.metadata.request_id.clone())
                .unwrap_or_default(),
            confidence: job.confidence,
            epsilon: exact_sum(queries.iter().map(|q| q.release.epsilon)),
            delta: exact_sum(queries.iter().map(|q| q.release.delta)),
            remaining: releases
                .first()
                .map(|r| r.metadata.remaining.clone())
                .unwrap_or_default(),
            queries,
        }
    }
}

/// The exact sum of decimal amounts (as the ledger charged them).
fn exact_sum(values: impl Iterator<Item = Amount>) -> String {
    let mut total = Amount::ZERO;
    for v in values {
        match total.checked_add(v) {
            Some(t) => total = t,
            None => return "unknown".into(),
        }
    }
    total.to_string()
}
