//! `codemode serve`: the gateway over stdio (default) or Streamable HTTP (`--http ADDR`),
//! until the client leaves or SIGINT/SIGTERM, then the upstream servers are stopped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use codemode_gateway::{
    serve_stdio, BoundHttp, CancellationToken, Gateway, GatewayOptions, HttpOptions, MCP_PATH,
};

use crate::host;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The upstream servers (`mcpServers` JSON, as Claude Desktop and Cursor use). Without
    /// it, the built-in demo tools are served.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Serve Streamable HTTP at http://ADDR/mcp instead of stdio (e.g. 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// Require `Authorization: Bearer <TOKEN>` on /mcp (HTTP only; ignored on stdio, where
    /// the client owns the process).
    #[arg(long, env = "CODEMODE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Also accept this `Host` (name or name:port) besides loopback, e.g. when reached
    /// through a proxy by name (HTTP only; repeatable).
    #[arg(long = "allowed-host", value_name = "HOST", requires = "http")]
    pub allowed_hosts: Vec<String>,
    /// Also accept this browser `Origin` (e.g. https://app.example.com) besides loopback
    /// ones (HTTP only; repeatable).
    #[arg(long = "allowed-origin", value_name = "ORIGIN", requires = "http")]
    pub allowed_origins: Vec<String>,
}

pub async fn serve(args: ServeArgs) -> ExitCode {
    let loaded = match host::load_or_exit(args.config.as_deref()).await {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let gateway = Gateway::new(loaded.catalog.clone(), GatewayOptions::default());
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));

    let outcome = match args.http {
        None => serve_stdio(&gateway, shutdown.clone()).await,
        Some(addr) => {
            let mut options = HttpOptions::new(addr);
            options.token = args.token;
            options.allowed_hosts = args.allowed_hosts;
            options.allowed_origins = args.allowed_origins;
            match BoundHttp::bind(&gateway, options).await {
                Ok(bound) => {
                    // The one line a person starting the server needs, whatever the log level.
                    eprintln!(
                        "codemode: serving MCP on http://{}{MCP_PATH} ({} tools in {} namespaces)",
                        bound.local_addr(),
                        gateway.catalog().tool_count(),
                        gateway.catalog().namespaces().len()
                    );
                    bound.serve(shutdown.clone()).await
                }
                Err(error) => Err(error),
            }
        }
    };
    shutdown.cancel();
    loaded.shutdown().await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("codemode: {error}");
            ExitCode::FAILURE
        }
    }
}

/// SIGINT (Ctrl-C) or SIGTERM (service managers, `docker stop`) end serving cleanly.
async fn cancel_on_signal(shutdown: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only SIGINT stops the gateway");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("signal received; shutting down");
    shutdown.cancel();
}
