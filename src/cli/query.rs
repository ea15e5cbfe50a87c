//! `privagg query` and `privagg explain`.

use std::io::Write;
use std::path::PathBuf;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use privagg_sql::{PrivateContext, QueryConfig};

use super::CliError;

/// Output formats of `privagg query`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned table, then a summary.
    Table,
    /// CSV rows with a header.
    Csv,
    /// JSON: `{"rows": [...], "metadata": {...}}`.
    Json,
}

/// Options shared by `query` and `explain`.
#[derive(Clone, Debug)]
pub struct QueryArgs {
    /// Catalog file.
    pub catalog: PathBuf,
    /// Analyst (defaults to the only analyst of the catalog).
    pub analyst: Option<String>,
    /// Total ε of the query (API level: SQL OPTIONS override it).
    pub epsilon: Option<f64>,
    /// δ of the query.
    pub delta: Option<f64>,
    /// Confidence level; intervals are shown when given.
    pub confidence: Option<f64>,
    /// Output format.
    pub format: Format,
    /// The request.
    pub sql: String,
}

async fn context(args: &QueryArgs) -> Result<PrivateContext, CliError> {
    let ctx = PrivateContext::open(&args.catalog).await?;
    if let Some(e) = args.epsilon {
        ctx.set_option("epsilon", &e.to_string())?;
    }
    if let Some(d) = args.delta {
        ctx.set_option("delta", &d.to_string())?;
    }
    Ok(ctx)
}

fn analyst(args: &QueryArgs, ctx: &PrivateContext) -> Result<String, CliError> {
    if let Some(a) = &args.analyst {
        return Ok(a.clone());
    }
    match ctx.catalog().analysts.as_slice() {
        [only] => Ok(only.name.clone()),
        _ => Err(CliError::Usage(
            "name the analyst with --analyst (the catalog has several, or none)".into(),
        )),
    }
}

/// Runs a private query and writes the release.
///
/// # Errors
/// [`CliError`] with the exit code of the failure.
pub async fn run_query(args: &QueryArgs, out: &mut impl Write) -> Result<(), CliError> {
    let ctx = context(args).await?;
    let analyst = analyst(args, &ctx)?;
    let config = QueryConfig {
        confidence: args.confidence.unwrap_or(0.95),
        intervals: args.confidence.is_some(),
    };
    let release = ctx.query_with(&analyst, &args.sql, config).await?;
    match args.format {
        Format::Table => {
            let table = pretty_format_batches(&release.batches)
                .map_err(|e| CliError::Other(e.to_string()))?;
            writeln!(out, "{table}")?;
            let m = &release.metadata;
            writeln!(
                out,
                "charged epsilon {}, delta {} to {}; {} group(s) released",
                m.epsilon, m.delta, m.analyst, m.groups_released
            )?;
            for r in &m.remaining {
                writeln!(out, "remaining: {r}")?;
            }
            let noisy: Vec<String> = m
                .accuracy
                .iter()
                .filter(|c| c.too_noisy)
                .map(|c| format!("{} {}", c.segment, c.column))
                .collect();
            if !noisy.is_empty() {
                writeln!(
                    out,
                    "too noisy to act on (interval wider than ±50%): {}",
                    noisy.join(", ")
                )?;
            }
        }
        Format::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(Vec::new());
            for b in &release.batches {
                writer
                    .write(b)
                    .map_err(|e| CliError::Other(e.to_string()))?;
            }
            out.write_all(&writer.into_inner())?;
        }
        Format::Json => {
            let rows = json_rows(&release.batches)?;
            let doc = serde_json::json!({ "rows": rows, "metadata": release.metadata });
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&doc).map_err(|e| CliError::Other(e.to_string()))?
            )?;
        }
    }
    Ok(())
}

fn json_rows(batches: &[RecordBatch]) -> Result<serde_json::Value, CliError> {
    let mut writer = datafusion::arrow::json::ArrayWriter::new(Vec::new());
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    writer
        .write_batches(&refs)
        .map_err(|e| CliError::Other(e.to_string()))?;
    writer
        .finish()
        .map_err(|e| CliError::Other(e.to_string()))?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(serde_json::Value::Array(Vec::new()));
    }
    serde_json::from_slice(&bytes).map_err(|e| CliError::Other(e.to_string()))
}

/// Explains a query: plan, cost split, expected interval widths. Charges nothing.
///
/// # Errors
/// [`CliError`] with the exit code of the failure.
pub async fn run_explain(args: &QueryArgs, out: &mut impl Write) -> Result<(), CliError> {
    let ctx = context(args).await?;
    let e = ctx.explain(&args.sql).await?;
    if args.format == Format::Json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&e).map_err(|err| CliError::Other(err.to_string()))?
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "cost: epsilon {}, delta {} (nothing charged by explain)",
        e.epsilon, e.delta
    )?;
    for s in &e.split {
        writeln!(out, "  {:<40} epsilon {}", s.part, s.epsilon)?;
    }
    writeln!(out, "expected 95% half-widths:")?;
    for (what, w) in &e.half_widths {
        writeln!(out, "  {what:<40} ±{w:.4}")?;
    }
    if let Some(n) = e.units_for_even_odds {
        writeln!(
            out,
            "groups need about {n} customers to be released with even odds"
        )?;
    }
    writeln!(out, "bounded plan:\n{}", e.plan)?;
    Ok(())
}
