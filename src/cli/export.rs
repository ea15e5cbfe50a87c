//! `privagg export` and `privagg generate`.

use std::io::{IsTerminal, Write};
use std::path::Path;

use privagg::export::{ExportError, ExportOptions, run};
use privagg::generate::generate;

use super::CliError;

/// Runs an export job and prints where everything went.
///
/// # Errors
/// [`CliError`] with the exit code of the failure.
pub async fn run_export(
    job: &Path,
    out_dir: &Path,
    force: bool,
    engine: Option<String>,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let options = ExportOptions {
        show_progress: std::io::stderr().is_terminal(),
        force,
        engine,
    };
    let summary = run(job, out_dir, options).await.map_err(|e| match e {
        ExportError::Job(m) => CliError::Usage(m),
        ExportError::Sql(e) => CliError::Sql(e),
        other => CliError::Other(other.to_string()),
    })?;
    let m = &summary.manifest;
    writeln!(
        out,
        "charged epsilon {}, delta {} to {} (one charge for {} queries)",
        m.epsilon,
        m.delta,
        m.analyst,
        m.queries.len()
    )?;
    for (q, f) in m.queries.iter().zip(&summary.files) {
        writeln!(
            out,
            "  {:<24} {} row(s) → {}",
            q.name,
            q.release.groups_released,
            f.display()
        )?;
    }
    writeln!(
        out,
        "  manifest → {}",
        summary.out.join("manifest.json").display()
    )?;
    writeln!(
        out,
        "  report   → {}",
        summary.out.join("REPORT.md").display()
    )?;
    for r in &m.remaining {
        writeln!(out, "remaining: {r}")?;
    }
    Ok(())
}

/// Generates synthetic data and its catalog.
///
/// # Errors
/// [`CliError::Other`] when a file cannot be written.
pub fn run_generate(customers: u32, dir: &Path, out: &mut impl Write) -> Result<(), CliError> {
    let g = generate(customers, dir).map_err(|e| CliError::Other(e.to_string()))?;
    writeln!(
        out,
        "wrote {} purchases of {} customers to {}\ncatalog: {}\ntry: privagg query --catalog {} \"SELECT segment, COUNT(*) AS purchases, AVG(spend) AS avg_basket FROM purchases GROUP BY segment\"",
        g.rows,
        g.customers,
        g.data.display(),
        g.catalog.display(),
        g.catalog.display()
    )?;
    Ok(())
}
