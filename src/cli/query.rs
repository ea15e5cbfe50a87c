//! `privagg query` and `privagg explain`.

use std::io::Write;
use std::path::PathBuf;

use std::io::IsTerminal;

use datafusion::arrow::datatypes::Schema;
use privagg_sql::{Engine, QueryConfig, Release};

pub use privagg::export::Format;
use privagg::export::format::{encode, json_rows};
use privagg::export::write_atomically;

use super::CliError;

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
    /// Write the output to this file (atomically) instead of stdout.
    pub out: Option<PathBuf>,
    /// The request.
    pub sql: String,
    /// `--engine`: `local` or a Ballista scheduler (query only).
    pub engine: Option<String>,
}

/// The engine of `args.catalog`; `engine` names where bounded plans run
/// (`local`, a scheduler, or None for the catalog's choice).
async fn context(args: &QueryArgs, engine: Option<&str>) -> Result<Engine, CliError> {
    let mut ctx = privagg::cluster::open(&args.catalog, engine).await?;
    // `{:?}` is the shortest text that reads back as the same f64, with an
    // exponent where that is shorter (`1e-300`, not 300 digits).
    if let Some(e) = args.epsilon {
        ctx.set_option("epsilon", &format!("{e:?}"))?;
    }
    if let Some(d) = args.delta {
        ctx.set_option("delta", &format!("{d:?}"))?;
    }
    Ok(ctx)
}

fn analyst(args: &QueryArgs, ctx: &Engine) -> Result<String, CliError> {
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

/// The format of `query`'s output: `--format`, else the extension of
/// `--out`, else a text table. A `--format` that contradicts the extension,
/// or an extension that names no format, is refused (a `.parquet` file of
/// text helps nobody).
///
/// # Errors
/// [`CliError::Usage`].
pub fn output_format(
    format: Option<Format>,
    out: Option<&std::path::Path>,
) -> Result<Format, CliError> {
    let from_extension = out.map(|p| {
        let ext = p
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("parquet") => Ok(Format::Parquet),
            Some("csv") => Ok(Format::Csv),
            Some("json") => Ok(Format::Json),
            Some("txt") => Ok(Format::Table),
            Some("html" | "htm") => Ok(Format::Html),
            _ => Err(p.display().to_string()),
        }
    });
    match (format, from_extension) {
        (Some(f), None | Some(Err(_))) => Ok(f),
        (Some(f), Some(Ok(e))) if f == e => Ok(f),
        (Some(f), Some(Ok(e))) => {
            let name = |f: Format| match f {
                Format::Table => "table",
                other => other.extension(),
            };
            Err(CliError::Usage(format!(
                "--format {} but --out names a .{} file: make them agree (nothing was charged)",
                name(f),
                e.extension()
            )))
        }
        (None, None) => Ok(Format::Table),
        (None, Some(Ok(e))) => Ok(e),
        (None, Some(Err(path))) => Err(CliError::Usage(format!(
            "--out {path}: cannot tell the format from the extension; use .parquet, .csv, .json, .html or .txt, or give --format (nothing was charged)"
        ))),
    }
}

/// Runs a private query and writes the release.
///
/// # Errors
/// [`CliError`] with the exit code of the failure.
pub async fn run_query(args: &QueryArgs, out: &mut impl Write) -> Result<(), CliError> {
    let ctx = context(args, args.engine.as_deref()).await?;
    let analyst = analyst(args, &ctx)?;
    let config = QueryConfig {
        confidence: args.confidence.unwrap_or(0.95),
        intervals: args.confidence.is_some(),
    };
    if args.format == Format::Parquet && args.out.is_none() && std::io::stdout().is_terminal() {
        return Err(CliError::Usage(
            "Parquet is binary: give --out FILE (or pipe the output)".into(),
        ));
    }
    if let Some(path) = &args.out {
        check_destination(path)?;
    }
    let release = ctx.query_with(&analyst, &args.sql, config).await?;
    let mut buf = Vec::new();
    let other = |e: &dyn std::fmt::Display| CliError::Other(e.to_string());
    match args.format {
        Format::Table => write_table(&release, &mut buf)?,
        Format::Csv | Format::Parquet => {
            let schema = release
                .batches
                .first()
                .map(|b| b.schema().as_ref().clone())
                .unwrap_or_else(Schema::empty);
            let format = args.format;
            buf = encode(&release.batches, &schema, format).map_err(|e| other(&e))?;
        }
        Format::Html => {
            let m = &release.metadata;
            let intro = privagg::html::Intro {
                title: "Privacy and accuracy report: one query".into(),
                what: "page".into(),
                facts: vec![
                    ("Analyst".into(), format!("`{}`", m.analyst)),
                    (
                        "Run".into(),
                        privagg_budget::format_time_ms(privagg_budget::now_ms()),
                    ),
                    ("Ledger request".into(), format!("`{}`", m.request_id)),
                ],
                epsilon: m.epsilon.to_string(),
                delta: m.delta.to_string(),
                confidence: config.confidence,
                remaining: m.remaining.clone(),
            };
            let section = privagg::html::ReleaseSection {
                name: "query",
                release: m,
            };
            buf = privagg::html::release_page(&intro, &[section])
                .map_err(|e| other(&e))?
                .into_bytes();
        }
        Format::Json => {
            let rows = json_rows(&release.batches).map_err(|e| other(&e))?;
            let doc = serde_json::json!({ "rows": rows, "metadata": release.metadata });
            buf = serde_json::to_vec_pretty(&doc).map_err(|e| other(&e))?;
            buf.push(b'\n');
        }
    }
    match &args.out {
        Some(path) => {
            write_atomically(path, &buf).map_err(|e| {
                CliError::Other(format!(
                    "writing {}: {e} (the query was charged: see `privagg audit`)",
                    path.display()
                ))
            })?;
            writeln!(
                out,
                "wrote {} row(s) to {}; charged epsilon {}, delta {}",
                release.metadata.groups_released,
                path.display(),
                release.metadata.epsilon,
                release.metadata.delta
            )?;
        }
        None => out.write_all(&buf)?,
    }
    Ok(())
}

/// A warning when the explained query would not fit the analyst's remaining
/// budget (the analyst named with `--analyst`, or the catalog's only one).
fn budget_warning(args: &QueryArgs, ctx: &Engine, e: &privagg_sql::Explanation) -> Option<String> {
    let analyst = analyst(args, ctx).ok()?;
    let (scope, limit) = ctx.catalog().analyst(&analyst)?.scope().ok()?;
    let budget = privagg_budget::ScopeBudget {
        spent: ctx.ledger().spent(&scope).ok()?,
        scope,
        limit,
    };
    let cost = privagg_budget::PrivacyCost {
        epsilon: e.epsilon,
        delta: e.delta,
        rho: e.rho,
    };
    privagg_budget::admit(&budget, &cost).err().map(|_| {
        format!(
            "warning: this query would not fit {analyst}'s remaining budget ({}); running it would be refused",
            budget.remaining()
        )
    })
}

/// `--out` must name a file in an existing folder: checked before anything
/// is charged (a release that cannot be written would be paid for nothing).
fn check_destination(path: &std::path::Path) -> Result<(), CliError> {
    let refuse = |why: &str| {
        Err(CliError::Usage(format!(
            "--out {}: {why} (nothing was charged)",
            path.display()
        )))
    };
    if path.is_dir() {
        return refuse("is a folder; name a file");
    }
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    if !folder.is_dir() {
        return refuse("its folder does not exist");
    }
    Ok(())
}

fn write_table(release: &Release, out: &mut impl Write) -> Result<(), CliError> {
    write!(
        out,
        "{}",
        privagg::export::text::plain_table(&release.batches)
    )?;
    let m = &release.metadata;
    writeln!(
        out,
        "charged epsilon {}, delta {} to {}; {} group(s) released",
        m.epsilon, m.delta, m.analyst, m.groups_released
    )?;
    for r in &m.remaining {
        writeln!(out, "remaining: {r}")?;
    }
    let noisy = privagg::export::text::noisy_cells(m);
    if !noisy.is_empty() {
        writeln!(
            out,
            "too noisy to act on (docs/accuracy.md): {}",
            noisy.join(", ")
        )?;
    }
    Ok(())
}

/// Explains a query: plan, cost split, expected interval widths. Charges nothing.
///
/// # Errors
/// [`CliError`] with the exit code of the failure.
pub async fn run_explain(args: &QueryArgs, out: &mut impl Write) -> Result<(), CliError> {
    // Explaining runs nothing on the data: no cluster needed.
    let ctx = context(args, Some("local")).await?;
    let e = ctx.explain(&args.sql).await?;
    if args.format == Format::Json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&e).map_err(|err| CliError::Other(err.to_string()))?
        )?;
        return Ok(());
    }
    let rho = e
        .rho
        .as_ref()
        .map(|r| format!(", rho {r}"))
        .unwrap_or_default();
    writeln!(
        out,
        "cost: epsilon {}, delta {}{rho} (nothing charged by explain); noise: {:?}",
        e.epsilon, e.delta, e.mechanism
    )?;
    for s in &e.split {
        let rho = s
            .rho
            .as_ref()
            .map(|r| format!(" (rho {r})"))
            .unwrap_or_default();
        writeln!(out, "  {:<40} epsilon {}{rho}", s.part, s.epsilon)?;
    }
    writeln!(out, "expected 95% half-width of each output:")?;
    for o in &e.outputs {
        writeln!(out, "  {:<40} {}", o.aggregate, o.description)?;
    }
    if let Some(a) = &e.alternative {
        writeln!(
            out,
            "with mechanism = '{}' instead (same epsilon and delta):",
            format!("{:?}", a.mechanism).to_lowercase()
        )?;
        for o in &a.outputs {
            writeln!(out, "  {:<40} {}", o.aggregate, o.description)?;
        }
    }
    writeln!(out, "what bounding does:")?;
    for line in &e.bounding {
        writeln!(out, "  {line}")?;
    }
    writeln!(out, "noise per component (95% half-width, value units):")?;
    for (what, w) in &e.half_widths {
        writeln!(out, "  {what:<40} ±{w:.4}")?;
    }
    if let Some(warning) = budget_warning(args, &ctx, &e) {
        writeln!(out, "{warning}")?;
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
