//! `codemode types`: the TypeScript declarations the agent codes against.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::host;

#[derive(Debug, clap::Args)]
pub struct TypesArgs {
    /// The upstream servers; without it, the built-in demo tools.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Only this namespace (as it appears under `tools`).
    #[arg(long)]
    pub namespace: Option<String>,
}

pub async fn types(args: TypesArgs) -> ExitCode {
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
    let declarations = match &args.namespace {
        None => Some(catalog.declarations()),
        Some(namespace) => catalog.namespace_declarations(namespace),
    };
    let code = match declarations {
        Some(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        None => {
            let known: Vec<String> = catalog
                .namespaces()
                .into_iter()
                .map(|ns| ns.ident)
                .collect();
            eprintln!(
                "codemode: no namespace {:?}; there are: {}",
                args.namespace.unwrap_or_default(),
                known.join(", ")
            );
            ExitCode::from(2)
        }
    };
    loaded.shutdown().await;
    code
}
