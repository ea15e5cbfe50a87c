//! `privagg demo`: the main job on built-in data. It generates a synthetic
//! customer base as Parquet with its catalog, then asks segment questions
//! through the private SQL engine — each one charged to the analyst's durable
//! budget — and prints every value with its 95% confidence interval, flags
//! values too noisy to act on, and reports the budget spent and remaining.

use std::io::Write;
use std::path::{Path, PathBuf};

use privagg_sql::{Engine, QueryConfig, SqlError};

use privagg::export::text::{noisy_cells, release_table};
use privagg::generate::{ANALYST, GenerateError, generate};

/// Errors of the demo.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// Generating the data failed.
    #[error(transparent)]
    Generate(#[from] GenerateError),
    /// A query failed.
    #[error(transparent)]
    Sql(#[from] SqlError),
    /// Writing the report failed.
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
}

/// Confidence level of every interval shown.
pub const CONFIDENCE: f64 = 0.95;

/// The questions the demo asks: a title and the SQL.
pub const QUESTIONS: [(&str, &str); 4] = [
    (
        "Customers and average basket by loyalty tier (public tiers: every tier is shown)",
        "SELECT segment, COUNT(DISTINCT customer_id) AS customers, AVG(spend) AS avg_basket \
         FROM purchases GROUP BY segment ORDER BY segment",
    ),
    (
        "Median basket by region (a customer counts in at most 2 regions)",
        "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 0.5, max_groups_contributed = 2) \
         region, MEDIAN(spend) AS median_basket FROM purchases GROUP BY region ORDER BY region",
    ),
    (
        "Customers and revenue by home city (cities are not public: small ones are withheld)",
        "SELECT city, COUNT(DISTINCT customer_id) AS customers, SUM(spend) AS revenue \
         FROM purchases GROUP BY city ORDER BY customers DESC",
    ),
    (
        "Purchases by tier and channel (gold and platinum web/app segments are small)",
        "SELECT segment, channel, COUNT(*) AS purchases FROM purchases \
         WHERE spend > 0 GROUP BY segment, channel ORDER BY segment, channel",
    ),
];

/// Where the demo writes when no folder is given: a fresh folder under the
/// system's temporary directory (a fresh ledger, so the budget starts full).
pub fn default_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    std::env::temp_dir().join(format!("privagg-demo-{}-{nanos:08x}", std::process::id()))
}

/// Runs the demo for `customers` synthetic customers in `dir` and writes the report.
///
/// # Errors
/// [`DemoError`] if generation, a query, or the output fails.
pub async fn run(customers: u32, dir: &Path, out: &mut impl Write) -> Result<(), DemoError> {
    let generated = generate(customers, dir)?;
    writeln!(
        out,
        "privagg demo — {} synthetic customers, {} purchases (about 10% of customers without \
         consent: never read)",
        generated.customers, generated.rows
    )?;
    writeln!(
        out,
        "data: {}\ncatalog: {}\n",
        generated.data.display(),
        generated.catalog.display()
    )?;
    writeln!(
        out,
        "Every number is differentially private at the customer level, shown as \
         value [{:.0}% interval]; '~' marks values too noisy to act on.\n",
        CONFIDENCE * 100.0
    )?;
    let ctx = Engine::open(&generated.catalog).await?;
    let config = QueryConfig {
        confidence: CONFIDENCE,
        intervals: true,
    };
    let mut remaining = Vec::new();
    let mut noisy = Vec::new();
    let mut releases = Vec::new();
    for (title, sql) in QUESTIONS {
        let release = ctx.query_with(ANALYST, sql, config).await?;
        writeln!(out, "{title}")?;
        write!(
            out,
            "{}",
            release_table(&release.batches, &release.metadata.accuracy)
        )?;
        let m = &release.metadata;
        let mut line = format!("  epsilon {}", m.epsilon);
        if let Some(n) = m.units_for_even_odds {
            line.push_str(&format!(
                "; a group needs about {n} customers to be shown with even odds"
            ));
        }
        writeln!(out, "{line}\n")?;
        noisy.extend(noisy_cells(m));
        remaining.clone_from(&m.remaining);
        releases.push((title, release.metadata));
    }
    if noisy.is_empty() {
        writeln!(out, "No value above is too noisy to act on.")?;
    } else {
        writeln!(out, "Too noisy to act on: {}", noisy.join(", "))?;
    }
    let spent = ctx
        .ledger()
        .spent(&privagg_budget::Scope::Analyst(ANALYST.into()))
        .map_err(SqlError::from)?;
    writeln!(
        out,
        "Budget of {ANALYST}: spent epsilon {}, delta {}; remaining {}",
        spent.epsilon,
        spent.delta,
        remaining.join("; ")
    )?;
    let pages = write_pages(&ctx, &generated.catalog, &releases, &remaining)?;
    writeln!(
        out,
        "\nThe same as pages with charts: {}",
        pages
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" and ")
    )?;
    writeln!(
        out,
        "\nTry your own question (the ledger remembers what was spent):\n  \
         privagg query --catalog {} --confidence 0.95 \\\n    \"SELECT channel, AVG(spend) AS avg_basket FROM purchases GROUP BY channel\"",
        generated.catalog.display()
    )?;
    Ok(())
}

/// Writes the demo's pages beside its catalog: `report.html` (every release,
/// with charts and the fairness panel) and `budget.html`.
fn write_pages(
    ctx: &Engine,
    catalog: &Path,
    releases: &[(&str, privagg_sql::ReleaseMetadata)],
    remaining: &[String],
) -> Result<Vec<PathBuf>, DemoError> {
    let dir = catalog.parent().unwrap_or(Path::new("."));
    let drawing = |e: privagg::html::HtmlError| DemoError::Io(std::io::Error::other(e.to_string()));
    let scope = privagg_budget::Scope::Analyst(ANALYST.into());
    let spent = ctx.ledger().spent(&scope).map_err(SqlError::from)?;
    let intro = privagg::html::Intro {
        title: "privagg demo: segment statistics of a synthetic shop".into(),
        what: "page".into(),
        facts: vec![
            ("Analyst".into(), format!("`{ANALYST}`")),
            ("Catalog".into(), format!("`{}`", catalog.display())),
            (
                "Run".into(),
                privagg_budget::format_time_ms(privagg_budget::now_ms()),
            ),
        ],
        epsilon: spent.epsilon.to_string(),
        delta: spent.delta.to_string(),
        confidence: CONFIDENCE,
        remaining: remaining.to_vec(),
    };
    let sections: Vec<privagg::html::ReleaseSection<'_>> = releases
        .iter()
        .map(|(name, release)| privagg::html::ReleaseSection { name, release })
        .collect();
    let report = dir.join("report.html");
    let page = privagg::html::release_page(&intro, &sections).map_err(drawing)?;
    privagg::export::write_atomically(&report, page.as_bytes())?;
    let limit = ctx
        .catalog()
        .analyst(ANALYST)
        .map(|a| a.scope())
        .transpose()
        .map_err(SqlError::from)?;
    let budgets: Vec<privagg_budget::ScopeBudget> = limit
        .map(|(scope, limit)| privagg_budget::ScopeBudget {
            scope,
            limit,
            spent,
        })
        .into_iter()
        .collect();
    let audit = ctx.ledger().audit_log().map_err(SqlError::from)?;
    let budget = dir.join("budget.html");
    let page = privagg::html::budget_page(&catalog.display().to_string(), &budgets, &audit)
        .map_err(drawing)?;
    privagg::export::write_atomically(&budget, page.as_bytes())?;
    Ok(vec![report, budget])
}
