//! `codemode`: the command line. A thin shell over the library crates: it parses
//! arguments, wires a tool host to the sandbox or the gateway, and prints.
//!
//! It must never hold logic that a library crate should own, and must never print anything
//! but protocol or results on stdout (logs go to stderr).

mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "codemode", version, about)]
struct Cli {
    /// Log level for the gateway's own logs (always on stderr): error, warn, info, debug, trace.
    #[arg(long, global = true, default_value = "warn")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a TypeScript snippet and print its value as JSON on stdout; logs and the tool
    /// calls it made go to stderr. Exits non-zero when the snippet fails.
    Run {
        /// The snippet (`-` reads standard input).
        file: PathBuf,
        /// Print the whole execution (value, logs, calls, notes, stats) as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("codemode: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Run { file, json } => run::run(&file, json).await,
        }
    })
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
