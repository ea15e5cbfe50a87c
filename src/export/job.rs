//! The export job file (`privagg export JOB.toml`).
//!
//! ```toml
//! analyst = "alice"
//! catalog = "privagg.toml"     # optional; relative to the job file
//! epsilon = 1.0                # optional job total, split by `share`
//! confidence = 0.95            # optional; intervals in every output
//! [[queries]]
//! name = "segment_spend"       # output file stem
//! sql = "SELECT segment, COUNT(*) AS n FROM customers GROUP BY segment"
//! share = 0.5                  # or `epsilon = 0.5`
//! format = "parquet"           # parquet | csv | json
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::format::Format;

/// A parsed, validated job.
#[derive(Clone, Debug)]
pub struct Job {
    /// The job file.
    pub file: PathBuf,
    /// Its text (audited with the charge).
    pub text: String,
    /// Who is charged.
    pub analyst: String,
    /// The catalog, resolved against the job file's folder.
    pub catalog: PathBuf,
    /// Confidence level of intervals and reliability flags.
    pub confidence: f64,
    /// The queries, in order.
    pub queries: Vec<JobQuery>,
}

/// One query of a job with its resolved ε.
#[derive(Clone, Debug)]
pub struct JobQuery {
    /// Output file stem.
    pub name: String,
    /// The SQL.
    pub sql: String,
    /// ε (from `epsilon`, or `share` × the job's ε); `None`: SQL OPTIONS or catalog defaults.
    pub epsilon: Option<f64>,
    /// δ, if the job sets one.
    pub delta: Option<f64>,
    /// Output format.
    pub format: Format,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    analyst: String,
    catalog: Option<PathBuf>,
    epsilon: Option<f64>,
    delta: Option<f64>,
    confidence: Option<f64>,
    queries: Vec<RawQuery>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuery {
    name: String,
    sql: String,
    epsilon: Option<f64>,
    share: Option<f64>,
    delta: Option<f64>,
    format: Option<Format>,
}

/// A job file that cannot be read or is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("job file {file}: {message}")]
pub struct JobError {
    /// The job file.
    pub file: String,
    /// What is wrong, naming the key at fault.
    pub message: String,
}

impl Job {
    /// Reads and validates a job file.
    ///
    /// # Errors
    /// [`JobError`] naming the file and the key at fault.
    pub fn load(file: &Path) -> Result<Job, JobError> {
        let text = std::fs::read_to_string(file).map_err(|e| JobError {
            file: file.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(file, text)
    }

    /// Validates job text read from `file`.
    ///
    /// # Errors
    /// [`JobError`] naming the file and the key at fault.
    pub fn parse(file: &Path, text: String) -> Result<Job, JobError> {
        let at = |message: String| JobError {
            file: file.display().to_string(),
            message,
        };
        let raw: RawJob = toml::from_str(&text).map_err(|e| at(one_line(&e.to_string())))?;
        let positive = |key: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(at(format!("{key} = {v} must be a finite number > 0")))
            }
        };
        if let Some(e) = raw.epsilon {
            positive("epsilon", e)?;
        }
        let confidence = raw.confidence.unwrap_or(0.95);
        if !(confidence > 0.0 && confidence < 1.0) {
            return Err(at(format!(
                "confidence = {confidence} must be strictly between 0 and 1"
            )));
        }
        if raw.queries.is_empty() {
            return Err(at("no [[queries]]: nothing to export".into()));
        }
        let mut queries = Vec::new();
        let mut shares = 0.0;
        for (i, q) in raw.queries.into_iter().enumerate() {
            let key = |k: &str| format!("queries[{i}].{k}");
            if q.name.is_empty()
                || !q
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(at(format!(
                    "{} = {:?}: use letters, digits, '_' or '-' (it names the output file)",
                    key("name"),
                    q.name
                )));
            }
            if queries.iter().any(|p: &JobQuery| p.name == q.name) {
                return Err(at(format!("{} = {:?} is used twice", key("name"), q.name)));
            }
            let epsilon = match (q.epsilon, q.share, raw.epsilon) {
                (Some(_), Some(_), _) => {
                    return Err(at(format!(
                        "{}: give epsilon or share, not both",
                        key("epsilon")
                    )));
                }
                (Some(e), None, _) => Some(positive(&key("epsilon"), e)?),
                (None, Some(s), Some(total)) => {
                    let s = positive(&key("share"), s)?;
                    shares += s;
                    Some(s * total)
                }
                (None, Some(_), None) => {
                    return Err(at(format!(
                        "{} needs a top-level epsilon to share",
                        key("share")
                    )));
                }
                (None, None, _) => None,
            };
            if q.format == Some(Format::Html) {
                return Err(at(format!(
                    "{} = \"html\": an export writes report.html for the whole job; give each query parquet, csv or json",
                    key("format")
                )));
            }
            queries.push(JobQuery {
                name: q.name,
                sql: q.sql,
                epsilon,
                delta: q.delta.or(raw.delta),
                format: q.format.unwrap_or(Format::Parquet),
            });
        }
        if shares > 1.0 + 1e-12 {
            return Err(at(format!(
                "the shares add up to {shares}, more than the job's epsilon"
            )));
        }
        let base = file.parent().unwrap_or(Path::new("."));
        let catalog = base.join(raw.catalog.unwrap_or_else(|| PathBuf::from("privagg.toml")));
        Ok(Job {
            file: file.to_path_buf(),
            text,
            analyst: raw.analyst,
            catalog,
            confidence,
            queries,
        })
    }
}

/// TOML errors span several lines (position, source excerpt, caret, message):
/// keep the position and the message.
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message.lines().filter(|l| !l.trim().is_empty()).collect();
    match (lines.first(), lines.last()) {
        (Some(first), Some(last)) if lines.len() > 1 => format!("{first}: {last}"),
        (Some(first), _) => first.to_string(),
        _ => message.to_string(),
    }
}
