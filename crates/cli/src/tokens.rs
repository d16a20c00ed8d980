//! `codemode tokens`: what knowing the tools costs a model, classic `tools/list` against
//! this gateway's two tools.

use std::path::PathBuf;
use std::process::ExitCode;

use codemode_gateway::{Gateway, GatewayOptions};
use codemode_tokens::{token_report, TokenReport};

use crate::host;

#[derive(Debug, clap::Args)]
pub struct TokensArgs {
    /// The upstream servers; without it, the built-in demo tools.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print `{"classic": N, "codemode": M, "reduction": R, "upstreams": {...}}`.
    #[arg(long)]
    pub json: bool,
}

pub async fn tokens(args: TokensArgs) -> ExitCode {
    let loaded = match host::load_or_exit(
        args.config.as_deref(),
        &host::LimitArgs::default(),
        host::Startup::Wait,
    )
    .await
    {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let gateway = Gateway::new(loaded.catalog.clone(), GatewayOptions::default());
    let report = token_report(&gateway);
    loaded.shutdown().await;
    let report = match report {
        Ok(report) => report,
        Err(error) => {
            eprintln!("codemode: {error}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        match serde_json::to_string(&report) {
            Ok(text) => println!("{text}"),
            Err(error) => {
                eprintln!("codemode: could not print the report: {error}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print_table(&report);
    }
    ExitCode::SUCCESS
}

fn print_table(report: &TokenReport) {
    let width = report
        .upstreams
        .keys()
        .map(String::len)
        .chain(["total (classic)".len()])
        .max()
        .unwrap_or(0);
    println!(
        "{:<width$}  {:>6}  {:>8}  {:>12}",
        "upstream", "tools", "tokens", "as .d.ts"
    );
    for (name, upstream) in &report.upstreams {
        println!(
            "{name:<width$}  {:>6}  {:>8}  {:>12}",
            upstream.tools, upstream.classic, upstream.declarations
        );
    }
    let tools: usize = report.upstreams.values().map(|u| u.tools).sum();
    let declarations: usize = report.upstreams.values().map(|u| u.declarations).sum();
    println!(
        "{:<width$}  {tools:>6}  {:>8}  {declarations:>12}",
        "total (classic)", report.classic
    );
    println!("{:<width$}  {:>6}  {:>8}", "codemode", 2, report.codemode);
    let factor = if report.codemode > 0 {
        report.classic as f64 / report.codemode as f64
    } else {
        0.0
    };
    println!(
        "reduction: {:.1}% ({factor:.1}x fewer tokens; o200k_base)",
        report.reduction * 100.0
    );
}
