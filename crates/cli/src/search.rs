//! `codemode search QUERY`: what the `search` tool would answer, for a person or a script.

use std::path::PathBuf;
use std::process::ExitCode;

use codemode_catalog::SearchQuery;
use codemode_gateway::{DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT};

use crate::host;

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// Words describing what the code needs to do; "" lists the namespaces (or, with
    /// `--namespace`, that namespace's tools).
    #[arg(default_value = "")]
    pub query: String,
    /// The upstream servers; without it, the built-in demo tools.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Most functions to return.
    #[arg(long, default_value_t = DEFAULT_SEARCH_LIMIT)]
    pub limit: usize,
    /// Keep to one namespace; with no query, list its tools page by page.
    #[arg(long)]
    pub namespace: Option<String>,
    /// The page of a namespace listing (1-based).
    #[arg(long, default_value_t = 1)]
    pub page: usize,
    /// Print one tool's full declaration (`ns.tool`) instead.
    #[arg(long)]
    pub describe: Option<String>,
    /// Print the ranked results as JSON instead of the TypeScript the agent reads.
    #[arg(long)]
    pub json: bool,
}

pub async fn search(args: SearchArgs) -> ExitCode {
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
    let catalog = loaded.catalog.clone();
    let printed = match &args.describe {
        Some(path) => match catalog.describe(path) {
            Ok(description) if args.json => {
                serde_json::to_string_pretty(&description).map(|text| println!("{text}"))
            }
            Ok(description) => {
                print!("{}", description.declaration);
                Ok(())
            }
            Err(message) => {
                loaded.shutdown().await;
                eprintln!("codemode: {message}");
                return ExitCode::FAILURE;
            }
        },
        None => {
            let results = catalog.find(&SearchQuery {
                query: args.query.clone(),
                limit: args.limit.clamp(1, MAX_SEARCH_LIMIT),
                namespace: args.namespace.clone(),
                page: args.page,
            });
            if args.json {
                serde_json::to_string_pretty(&results).map(|text| println!("{text}"))
            } else {
                print!("{}", catalog.render_search(&results));
                Ok(())
            }
        }
    };
    loaded.shutdown().await;
    match printed {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("codemode: could not print the results: {error}");
            ExitCode::FAILURE
        }
    }
}
