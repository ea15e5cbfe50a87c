//! `privagg export`: a batch of named queries charged up front as one
//! all-or-nothing request, each result written atomically as Parquet, CSV or
//! JSON, plus `manifest.json` (machine-readable) and `REPORT.md` (a
//! plain-language privacy and accuracy report).

mod atomic;
pub mod format;
pub mod job;
mod manifest;
mod progress;
mod report;
pub mod text;
pub mod wording;

use std::path::{Path, PathBuf};

use privagg_sql::{BatchQuery, QueryConfig, Release, SqlError};
use sha2::{Digest, Sha256};

pub use atomic::write_atomically;
pub use format::Format;
use format::encode;
pub use job::{Job, JobError, JobQuery};
pub use manifest::Manifest;
use progress::Progress;

/// Errors of an export.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The job file is missing or invalid.
    #[error("{0}")]
    Job(String),
    /// Planning, charging or running a query failed.
    #[error(transparent)]
    Sql(#[from] SqlError),
    /// Writing an output failed (the budget was already charged).
    #[error(
        "writing {path}: {detail} (the job's budget was charged; files already written are complete)"
    )]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        detail: String,
    },
}

/// What an export wrote.
#[derive(Clone, Debug)]
pub struct ExportSummary {
    /// The output folder.
    pub out: PathBuf,
    /// Result files, in job order.
    pub files: Vec<PathBuf>,
    /// The manifest.
    pub manifest: Manifest,
}

/// How an export writes its folder.
#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    /// Draw a progress bar on stderr.
    pub show_progress: bool,
    /// Replace the results of an earlier export in the same folder (they were
    /// paid for: without this, the export refuses before charging).
    pub force: bool,
    /// Where the bounded plans run: `local`, a Ballista scheduler
    /// `df://HOST:PORT`, or None for the catalog's `[engine]`.
    pub engine: Option<String>,
}

/// The files of an earlier export in `out` that this job would overwrite.
fn earlier_results(out: &Path, job: &Job) -> Vec<PathBuf> {
    let mut names = vec![
        "manifest.json".to_string(),
        "REPORT.md".to_string(),
        "report.html".to_string(),
    ];
    names.extend(
        job.queries
            .iter()
            .map(|q| format!("{}.{}", q.name, q.format.extension())),
    );
    names
        .into_iter()
        .map(|n| out.join(n))
        .filter(|p| p.exists())
        .collect()
}

/// Runs the job in `job_file`, writing into `out` (created if missing).
///
/// # Errors
/// [`ExportError`]; nothing is charged unless every query plans, the whole
/// job is affordable, and `out` holds no earlier results (or `force`).
pub async fn run(
    job_file: &Path,
    out: &Path,
    options: ExportOptions,
) -> Result<ExportSummary, ExportError> {
    let show_progress = options.show_progress;
    let job = Job::load(job_file).map_err(|e| ExportError::Job(e.to_string()))?;
    let earlier = earlier_results(out, &job);
    if !options.force && !earlier.is_empty() {
        return Err(ExportError::Job(format!(
            "{} already holds the results of an earlier export ({}), which were paid for: write to a new --out folder, or pass --force to replace them (nothing was charged)",
            out.display(),
            earlier
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let ctx = crate::cluster::open(&job.catalog, options.engine.as_deref()).await?;
    let catalog_bytes = std::fs::read(&job.catalog).map_err(|e| {
        ExportError::Sql(SqlError::Catalog {
            file: job.catalog.display().to_string(),
            table: None,
            key: None,
            message: e.to_string(),
        })
    })?;
    let fingerprint = hex(&Sha256::digest(&catalog_bytes));
    let queries: Vec<BatchQuery> = job
        .queries
        .iter()
        .map(|q| {
            let bad =
                |e: privagg_noise::NoiseError| ExportError::Job(format!("query `{}`: {e}", q.name));
            Ok(BatchQuery {
                name: q.name.clone(),
                sql: q.sql.clone(),
                epsilon: q
                    .epsilon
                    .map(privagg_noise::Epsilon::new)
                    .transpose()
                    .map_err(bad)?,
                delta: q
                    .delta
                    .map(privagg_noise::Delta::new)
                    .transpose()
                    .map_err(bad)?,
            })
        })
        .collect::<Result<_, ExportError>>()?;
    let config = QueryConfig {
        confidence: job.confidence,
        intervals: true,
    };
    // The output folder must exist before anything is charged: a charge
    // whose results cannot be written would be budget lost for nothing.
    let created = !out.exists();
    std::fs::create_dir_all(out).map_err(|e| {
        ExportError::Job(format!(
            "cannot create the output folder {}: {e} (nothing was charged)",
            out.display()
        ))
    })?;
    let bar = Progress::new(show_progress, job.queries.len() + 1);
    let audited = format!("export {}\n{}", job.file.display(), job.text);
    let releases = match ctx
        .query_batch(&job.analyst, &audited, &queries, config, &mut |done| {
            bar.set(done, "running queries")
        })
        .await
    {
        Ok(r) => r,
        Err(e) => {
            bar.finish();
            if created {
                // Only removes the folder if still empty.
                let _ = std::fs::remove_dir(out);
            }
            return Err(e.into());
        }
    };
    let mut files = Vec::new();
    for (q, r) in job.queries.iter().zip(&releases) {
        files.push(write_result(out, q, r)?);
    }
    bar.set(job.queries.len() + 1, "writing the manifest and report");
    let manifest = Manifest::new(&job, &fingerprint, &releases, &files);
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| ExportError::Write {
        path: out.join("manifest.json"),
        detail: e.to_string(),
    })?;
    write(&out.join("manifest.json"), &json)?;
    write(&out.join("REPORT.md"), report::render(&manifest).as_bytes())?;
    let html = report::render_html(&manifest).map_err(|e| ExportError::Write {
        path: out.join("report.html"),
        detail: e.to_string(),
    })?;
    write(&out.join("report.html"), html.as_bytes())?;
    bar.finish();
    Ok(ExportSummary {
        out: out.to_path_buf(),
        files,
        manifest,
    })
}

fn write_result(out: &Path, q: &JobQuery, r: &Release) -> Result<PathBuf, ExportError> {
    let path = out.join(format!("{}.{}", q.name, q.format.extension()));
    let schema = r
        .batches
        .first()
        .map(|b| b.schema().as_ref().clone())
        .unwrap_or_else(datafusion::arrow::datatypes::Schema::empty);
    let bytes = encode(&r.batches, &schema, q.format).map_err(|detail| ExportError::Write {
        path: path.clone(),
        detail: detail.to_string(),
    })?;
    write(&path, &bytes)?;
    Ok(path)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    write_atomically(path, bytes).map_err(|e| ExportError::Write {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
