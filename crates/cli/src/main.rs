//! `codemode`: the command line. A thin shell over the library crates: it parses
//! arguments, wires a tool host to the sandbox or the gateway, and prints.
//!
//! It must never hold logic that a library crate should own, and must never print anything
//! but protocol or results on stdout (logs go to stderr).

mod audit;
mod doctor;
mod host;
mod memory;
mod run;
mod search;
mod serve;
mod summary;
mod tokens;
mod types;

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
        /// Print the whole execution as one JSON object: exactly the `structuredContent` of
        /// the `execute` tool's reply (`result` or `error`, `logs`, `calls`, `callCount`,
        /// `notes`, `stats`).
        #[arg(long)]
        json: bool,
        /// Run the snippet inside this process instead of a locked-down worker process, as
        /// `serve --in-process` does. Only for trusted code: nothing watches it from outside,
        /// so a long native operation can run past the CPU limit.
        #[arg(long)]
        in_process: bool,
        /// An `mcpServers` config (Claude Desktop, Cursor, VS Code format; default
        /// `$CODEMODE_CONFIG`); without one the snippet sees the built-in demo tools.
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        limits: host::LimitArgs,
        #[command(flatten)]
        policy: host::PolicyArgs,
        #[command(flatten)]
        audit: host::AuditArgs,
    },
    /// Serve the gateway (the `search` and `execute` tools) over MCP: stdio by default, or
    /// Streamable HTTP with `--http 127.0.0.1:8080`. Stops on SIGINT/SIGTERM or when the
    /// stdio client leaves, and stops the upstream servers with it.
    Serve(serve::ServeArgs),
    /// Print what the `search` tool would return for QUERY.
    Search(search::SearchArgs),
    /// Print the TypeScript declarations of every tool (`tools.<namespace>.<name>`).
    Types(types::TypesArgs),
    /// Compare the tokens a model spends on tool definitions: every upstream tool (classic)
    /// against this gateway's two tools.
    Tokens(tokens::TokensArgs),
    /// Print which isolation layers this machine gives the sandbox's worker processes
    /// (seccomp, Landlock, namespaces, rlimits, ...) and, with a config, start each upstream
    /// and report its health, tool count and start time. Exits non-zero if a layer would
    /// fail or an upstream is unavailable.
    Doctor(doctor::DoctorArgs),
    /// Print the audit trail `serve --audit FILE` writes: one line per execution and tool
    /// call, or the JSON lines with `--json`; filter by tool, time or execution, or follow.
    Audit(audit::AuditArgs),
    /// Internal: serve one execution as a locked-down worker process, speaking the pool's
    /// pipe protocol on stdin and stdout (started by `serve`, never by hand).
    #[command(name = "__worker", hide = true)]
    Worker {
        #[arg(long, hide = true)]
        test_hooks: bool,
        /// Be the pool's fork server: a template that forks one worker per request.
        #[arg(long, hide = true)]
        zygote: bool,
        /// RLIMIT_CPU in seconds (the pool derives it from the execution limits).
        #[arg(long, hide = true)]
        cpu_seconds: Option<u64>,
        /// RLIMIT_AS in bytes (the pool derives it from the execution limits).
        #[arg(long, hide = true)]
        address_space_bytes: Option<u64>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Worker {
        test_hooks,
        zygote,
        cpu_seconds,
        address_space_bytes,
    } = cli.command
    {
        // Before logging and the async runtime: the lock-down needs a single-threaded process.
        return codemode_worker::worker_main(codemode_worker::WorkerOptions {
            test_hooks,
            zygote,
            cpu_seconds,
            address_space_bytes,
        });
    }
    // Logs, and traces when OTEL_EXPORTER_OTLP_ENDPOINT asks for them.
    let telemetry = codemode_telemetry::init(&cli.log_level);
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
    let code = runtime.block_on(async move {
        match cli.command {
            Command::Run {
                file,
                json,
                in_process,
                config,
                limits,
                policy,
                audit,
            } => {
                let options = run::RunOptions {
                    json,
                    in_process,
                    config: config.as_deref(),
                    limits: &limits,
                    policy: &policy,
                    audit: &audit,
                };
                run::run(&file, options).await
            }
            Command::Serve(args) => serve::serve(args).await,
            Command::Search(args) => search::search(args).await,
            Command::Types(args) => types::types(args).await,
            Command::Tokens(args) => tokens::tokens(args).await,
            Command::Doctor(args) => doctor::doctor(args).await,
            Command::Audit(args) => audit::audit(args),
            Command::Worker { .. } => ExitCode::FAILURE,
        }
    });
    // A read on a terminal's stdin cannot be cancelled; do not let it hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    // The last spans leave now (bounded wait), outside the runtime as the exporter needs.
    telemetry.shutdown();
    code
}
