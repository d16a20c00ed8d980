//! `codemode search QUERY`: what the `search` tool would answer, for a person or a script.

use std::path::PathBuf;
use std::process::ExitCode;

use codemode_gateway::{DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT};

use crate::host;

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// Words describing what the code needs to do; "" lists the namespaces.
    pub query: String,
    /// The upstream servers; without it, the built-in demo tools.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Most functions to return.
    #[arg(long, default_value_t = DEFAULT_SEARCH_LIMIT)]
    pub limit: usize,
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
    let results = catalog.search(&args.query, args.limit.clamp(1, MAX_SEARCH_LIMIT));
    let printed = if args.json {
        serde_json::to_string_pretty(&results).map(|text| println!("{text}"))
    } else {
        print!("{}", catalog.render_search(&results));
        Ok(())
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
