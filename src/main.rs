//! The `privagg` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo { customers } => privagg::demo::run(customers, &mut std::io::stdout()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (e.g. `privagg demo | head`): not an error.
        Err(privagg::demo::DemoError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("privagg: {err}");
            ExitCode::from(1)
        }
    }
}
