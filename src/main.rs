//! The `privagg` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
mod cli;
mod demo;

use cli::CliError;
use cli::catalog::{TableEntry, run_catalog_add};
use cli::export::{run_export, run_generate};
use cli::ledger::{run_audit, run_budget, run_budget_html};
use cli::query::{Format, QueryArgs, output_format, run_explain, run_query};
use cli::server::{ServeArgs, run_passwd, run_serve};

/// privagg — differentially private segment statistics.
///
/// Exit codes: 0 ok, 2 usage or catalog error, 3 query rejected,
/// 4 budget exhausted, 1 anything else.
#[derive(Parser)]
#[command(
    name = "privagg",
    version,
    about,
    long_about = None,
    arg_required_else_help = true,
    after_help = EXAMPLES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Shown under every `--help` (and by a bare `privagg`).
const EXAMPLES: &str = "Examples:
  privagg demo                                   the main job on built-in data
  privagg generate --out shop                    synthetic data and a catalog
  privagg query --catalog shop/privagg.toml --confidence 0.95 \\
      \"SELECT segment, COUNT(*) AS n, AVG(spend) AS avg_basket FROM purchases GROUP BY segment\"
  privagg explain --catalog shop/privagg.toml \"SELECT COUNT(*) FROM purchases\"
  privagg query --catalog shop/privagg.toml --out counts.parquet \"SELECT region, COUNT(*) FROM purchases GROUP BY region\"
  privagg export job.toml --out exports/2026-11-30
  privagg budget --catalog shop/privagg.toml
  privagg audit --catalog shop/privagg.toml verify
  echo \"$PW\" | privagg passwd --catalog shop/privagg.toml alice && privagg serve --catalog shop/privagg.toml

Exit codes: 0 ok, 2 usage or catalog error, 3 query rejected, 4 budget exhausted, 1 anything else.
Docs: docs/cli.md, docs/sql.md, docs/catalog.md, docs/export.md";

#[derive(Subcommand)]
enum Command {
    /// Run the main job on built-in synthetic customer data: noisy segment
    /// statistics with confidence intervals and the privacy budget they cost.
    Demo {
        /// Number of synthetic customers to generate.
        #[arg(long, default_value_t = 50_000)]
        customers: u32,
        /// Working folder for the data, catalog and ledger (default: a new temporary folder).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Write a synthetic customer base (Parquet) and its catalog (privagg.toml).
    Generate {
        /// Number of customers.
        #[arg(long, default_value_t = 50_000)]
        customers: u32,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Run a private SQL query: charges the analyst's budget, prints the release.
    Query {
        #[command(flatten)]
        common: Common,
        /// Show <col>_ci_low / <col>_ci_high intervals at this confidence (e.g. 0.95).
        #[arg(long)]
        confidence: Option<f64>,
        /// Output format [default: from the extension of --out, else table].
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Write the output to this file (atomically) instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Where the bounded plan runs: `local`, or a Ballista scheduler
        /// `df://HOST:PORT` [default: the catalog's [engine], else local].
        #[arg(long)]
        engine: Option<String>,
    },
    /// Show the plan, the privacy cost and the expected accuracy of a query; charges nothing.
    Explain {
        #[command(flatten)]
        common: Common,
        /// Output format: text or JSON.
        #[arg(long, value_enum, default_value_t = ExplainFormat::Table)]
        format: ExplainFormat,
    },
    /// Run an export job: named queries charged up front (all or nothing),
    /// results as Parquet/CSV/JSON plus manifest.json and REPORT.md.
    Export {
        /// The job file (TOML).
        job: PathBuf,
        /// Output folder.
        #[arg(long, default_value = "export")]
        out: PathBuf,
        /// Replace the results of an earlier export in the folder (refused
        /// otherwise, before anything is charged: they were paid for).
        #[arg(long)]
        force: bool,
        /// Where the bounded plans run: `local`, or a Ballista scheduler
        /// `df://HOST:PORT` [default: the catalog's [engine], else local].
        #[arg(long)]
        engine: Option<String>,
    },
    /// Show the budget spent and remaining per scope.
    Budget {
        /// The catalog file.
        #[arg(long, default_value = "privagg.toml")]
        catalog: PathBuf,
        /// Only this analyst (and the table caps).
        #[arg(long)]
        analyst: Option<String>,
        /// Print JSON.
        #[arg(long, conflicts_with = "html")]
        json: bool,
        /// Write an HTML page (spent and remaining per scope, spend over
        /// time from the audit log) instead of the table.
        #[arg(long)]
        html: bool,
        /// With --html: the file to write (else standard output).
        #[arg(long, requires = "html")]
        out: Option<PathBuf>,
    },
    /// Serve DP SQL over the Postgres wire protocol (psql, BI tools, drivers);
    /// analysts log in with SCRAM-SHA-256 as themselves (docs/server.md).
    Serve(ServeArgs),
    /// Run a Ballista scheduler for privagg's bounded plans (docs/distributed.md).
    #[cfg(feature = "ballista")]
    Scheduler(cli::cluster::SchedulerArgs),
    /// Run a Ballista executor with privagg's functions (docs/distributed.md).
    #[cfg(feature = "ballista")]
    Executor(cli::cluster::ExecutorArgs),
    /// Set an analyst's password for `privagg serve` (read from standard
    /// input; only a SCRAM-SHA-256 verifier is stored).
    Passwd {
        /// The catalog file (the analyst must be in it).
        #[arg(long, default_value = "privagg.toml")]
        catalog: PathBuf,
        /// The credentials file [default: privagg-credentials.toml beside the catalog].
        #[arg(long)]
        credentials: Option<PathBuf>,
        /// The analyst.
        analyst: String,
    },
    /// Edit the catalog (the data owner's commands).
    Catalog {
        #[command(subcommand)]
        action: CatalogAction,
    },
    /// Show the audit log; `audit verify` checks its hash chain and the money.
    Audit {
        /// The catalog file.
        #[arg(long, default_value = "privagg.toml")]
        catalog: PathBuf,
        /// `verify`: check the hash chain, recompute every charge and every
        /// scope's spend from it, and print the chain head to record.
        #[arg(value_parser = ["verify"])]
        action: Option<String>,
        /// With `verify`: a head recorded earlier (`SEQ:HASH`, as `verify`
        /// printed it); the log must still contain it unchanged.
        #[arg(long, value_name = "SEQ:HASH", requires = "action")]
        expect_head: Option<String>,
    },
}

/// What `explain` can print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ExplainFormat {
    /// Text.
    Table,
    /// JSON.
    Json,
}

#[derive(Subcommand)]
enum CatalogAction {
    /// Add a private table to the catalog with explicit column types read
    /// from its file. This reads the data: it is the data owner's action.
    /// Queries then read CSV/JSON with these types, never inferring them.
    Add {
        /// The catalog file (must exist: ledger and analysts first).
        #[arg(long, default_value = "privagg.toml")]
        catalog: PathBuf,
        /// SQL name of the new table.
        #[arg(long)]
        name: String,
        /// The data file or directory (relative to the catalog's folder).
        #[arg(long)]
        path: PathBuf,
        /// The privacy-unit column (whom the table protects).
        #[arg(long)]
        privacy_unit: String,
        /// A boolean column: only rows where it is TRUE are ever read.
        #[arg(long)]
        consent_column: Option<String>,
    },
}

#[derive(clap::Args)]
struct Common {
    /// The catalog file.
    #[arg(long, default_value = "privagg.toml")]
    catalog: PathBuf,
    /// Who is asking (defaults to the catalog's only analyst).
    #[arg(long)]
    analyst: Option<String>,
    /// Total epsilon of the query (SQL OPTIONS take precedence).
    #[arg(long, allow_negative_numbers = true)]
    epsilon: Option<f64>,
    /// Delta of the query.
    #[arg(long, allow_negative_numbers = true)]
    delta: Option<f64>,
    /// The SQL request.
    sql: String,
}

fn args(
    common: Common,
    confidence: Option<f64>,
    format: Format,
    out: Option<PathBuf>,
) -> QueryArgs {
    QueryArgs {
        catalog: common.catalog,
        analyst: common.analyst,
        epsilon: common.epsilon,
        delta: common.delta,
        confidence,
        format,
        out,
        sql: common.sql,
        engine: None,
    }
}

/// Stack of the thread that plans a query (analysis and DataFusion's planner
/// recurse over the expression tree): reserved address space, not memory.
const MAIN_STACK: usize = 256 << 20;
/// Stack of the runtime's worker threads (expression evaluation recurses too).
const WORKER_STACK: usize = 64 << 20;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A panic's message can quote a data value and its backtrace helps no
    // analyst: print neither (even with RUST_BACKTRACE set). The engine turns
    // a panic below a request into that request's error; anything else ends
    // the command thread and is reported below.
    std::panic::set_hook(Box::new(|_| {}));
    match std::thread::Builder::new()
        .name("privagg".into())
        .stack_size(MAIN_STACK)
        .spawn(move || run(cli))
        .map(std::thread::JoinHandle::join)
    {
        Ok(Ok(code)) => code,
        _ => {
            eprintln!(
                "privagg: internal error (a bug: please report it with the command); if a query was charged, the charge is kept"
            );
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> ExitCode {
    let mut stdout = std::io::stdout();
    let result: Result<(), CliError> = match cli.command {
        Command::Demo { customers, dir } => {
            let dir = dir.unwrap_or_else(demo::default_dir);
            block_on(async {
                demo::run(customers, &dir, &mut stdout)
                    .await
                    .map_err(|e| match e {
                        demo::DemoError::Io(io) => CliError::Io(io),
                        demo::DemoError::Sql(sql) => CliError::Sql(sql),
                        other => CliError::Other(other.to_string()),
                    })
            })
        }
        Command::Generate { customers, out } => run_generate(customers, &out, &mut stdout),
        Command::Query {
            common,
            confidence,
            format,
            out,
            engine,
        } => match output_format(format, out.as_deref()) {
            Ok(format) => block_on(run_query(
                &QueryArgs {
                    engine,
                    ..args(common, confidence, format, out)
                },
                &mut stdout,
            )),
            Err(e) => Err(e),
        },
        Command::Explain { common, format } => {
            let format = match format {
                ExplainFormat::Table => Format::Table,
                ExplainFormat::Json => Format::Json,
            };
            block_on(run_explain(&args(common, None, format, None), &mut stdout))
        }
        Command::Export {
            job,
            out,
            force,
            engine,
        } => block_on(run_export(&job, &out, force, engine, &mut stdout)),
        Command::Budget {
            catalog,
            analyst,
            json,
            html,
            out,
        } => match (html, out) {
            (true, out) => {
                run_budget_html(&catalog, analyst.as_deref(), out.as_deref(), &mut stdout)
            }
            (false, _) => run_budget(&catalog, analyst.as_deref(), json, &mut stdout),
        },
        Command::Audit {
            catalog,
            action,
            expect_head,
        } => run_audit(
            &catalog,
            action.is_some(),
            expect_head.as_deref(),
            &mut stdout,
        ),
        Command::Serve(args) => block_on(run_serve(args, &mut stdout)),
        #[cfg(feature = "ballista")]
        Command::Scheduler(args) => block_on(cli::cluster::run_scheduler(args, &mut stdout)),
        #[cfg(feature = "ballista")]
        Command::Executor(args) => block_on(cli::cluster::run_executor(args, &mut stdout)),
        Command::Passwd {
            catalog,
            credentials,
            analyst,
        } => run_passwd(&catalog, credentials.as_deref(), &analyst, &mut stdout),
        Command::Catalog {
            action:
                CatalogAction::Add {
                    catalog,
                    name,
                    path,
                    privacy_unit,
                    consent_column,
                },
        } => {
            let entry = TableEntry {
                name: &name,
                path: &path,
                privacy_unit: &privacy_unit,
                consent_column: consent_column.as_deref(),
            };
            block_on(run_catalog_add(&catalog, &entry, &mut stdout))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (e.g. `privagg demo | head`): not an error.
        Err(CliError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("privagg: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

fn block_on<F: std::future::Future<Output = Result<(), CliError>>>(f: F) -> Result<(), CliError> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(WORKER_STACK)
        .build()
    {
        Ok(rt) => rt.block_on(f),
        Err(e) => Err(CliError::Other(format!("cannot start the runtime: {e}"))),
    }
}
