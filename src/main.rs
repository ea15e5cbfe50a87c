//! The `privagg` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use privagg::cli::CliError;
use privagg::cli::query::{Format, QueryArgs, run_explain, run_query};

/// privagg — differentially private segment statistics.
#[derive(Parser)]
#[command(name = "privagg", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the main job on built-in synthetic customer data: noisy segment
    /// statistics with confidence intervals and the privacy budget they cost.
    Demo {
        /// Number of synthetic customers to generate.
        #[arg(long, default_value_t = 50_000)]
        customers: u32,
    },
    /// Run a private SQL query: charges the analyst's budget, prints the release.
    ///
    /// Exit codes: 0 ok, 2 usage or catalog error, 3 query rejected,
    /// 4 budget exhausted, 1 anything else.
    Query {
        #[command(flatten)]
        common: Common,
        /// Show <col>_ci_low / <col>_ci_high intervals at this confidence (e.g. 0.95).
        #[arg(long)]
        confidence: Option<f64>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Show the plan, the privacy cost and the expected accuracy of a query; charges nothing.
    Explain {
        #[command(flatten)]
        common: Common,
        /// Output format (table prints text).
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
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
    #[arg(long)]
    epsilon: Option<f64>,
    /// Delta of the query.
    #[arg(long)]
    delta: Option<f64>,
    /// The SQL request.
    sql: String,
}

fn args(common: Common, confidence: Option<f64>, format: Format) -> QueryArgs {
    QueryArgs {
        catalog: common.catalog,
        analyst: common.analyst,
        epsilon: common.epsilon,
        delta: common.delta,
        confidence,
        format,
        sql: common.sql,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut stdout = std::io::stdout();
    let result: Result<(), CliError> = match cli.command {
        Command::Demo { customers } => match privagg::demo::run(customers, &mut stdout) {
            // The reader went away (e.g. `privagg demo | head`): not an error.
            Err(privagg::demo::DemoError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                Ok(())
            }
            other => other.map_err(|e| CliError::Other(e.to_string())),
        },
        Command::Query {
            common,
            confidence,
            format,
        } => block_on(run_query(&args(common, confidence, format), &mut stdout)),
        Command::Explain { common, format } => {
            block_on(run_explain(&args(common, None, format), &mut stdout))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
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
        .build()
    {
        Ok(rt) => rt.block_on(f),
        Err(e) => Err(CliError::Other(format!("cannot start the runtime: {e}"))),
    }
}
