//! Wiring: from an optional config file to a live [`Catalog`] (and the upstream servers
//! behind it), shared by `run`, `serve`, `types`, `search` and `tokens`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use codemode_catalog::{Catalog, SourceNamespace, ToolSource, ToolSpec};
use codemode_demo::DemoSource;
use codemode_sandbox::{ToolError, ToolFuture};
use codemode_upstream::{CallError, Config, ServerState, Upstreams};
use serde_json::Value;
use tokio::sync::watch;

/// How long one upstream call may take unless the server's `callTimeoutMs` says less; the
/// sandbox's wall clock bounds the whole execution anyway.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// A catalogue and what keeps it alive.
pub struct Loaded {
    pub catalog: Catalog,
    upstreams: Option<Upstreams>,
}

impl Loaded {
    /// Stops every upstream child process and connection.
    pub async fn shutdown(self) {
        if let Some(upstreams) = self.upstreams {
            upstreams.shutdown().await;
        }
    }
}

/// [`load`] for a command: a config that cannot be used is printed on stderr and becomes
/// exit code 2.
pub async fn load_or_exit(config: Option<&Path>) -> Result<Loaded, ExitCode> {
    load(config).await.map_err(|message| {
        eprintln!("codemode: {message}");
        ExitCode::from(2)
    })
}

/// With no config, the built-in demo tools; with one, every server it lists (started in
/// parallel; a server that fails is reported on stderr and left out, the rest serve).
pub async fn load(config: Option<&Path>) -> Result<Loaded, String> {
    let Some(path) = config else {
        return Ok(Loaded {
            catalog: Catalog::new(vec![Arc::new(DemoSource::new())]),
            upstreams: None,
        });
    };
    let config = Config::load(path).map_err(|e| e.to_string())?;
    let upstreams = Upstreams::start(&config).await;
    for server in upstreams.servers() {
        match &server.state {
            ServerState::Failed { reason } => {
                tracing::error!("upstream {} is unavailable: {reason}", server.name);
            }
            ServerState::Ready => {
                tracing::info!(server = %server.name, tools = server.tools, "upstream ready");
            }
            _ => {}
        }
    }
    let catalog = Catalog::new(vec![Arc::new(UpstreamSource {
        upstreams: upstreams.clone(),
    })]);
    catalog.watch_sources();
    Ok(Loaded {
        catalog,
        upstreams: Some(upstreams),
    })
}

/// The upstream MCP servers as one catalogue source: a namespace per server.
struct UpstreamSource {
    upstreams: Upstreams,
}

impl ToolSource for UpstreamSource {
    fn namespaces(&self) -> Vec<SourceNamespace> {
        let mut by_server: BTreeMap<String, Vec<ToolSpec>> = BTreeMap::new();
        for tool in self.upstreams.tools() {
            by_server.entry(tool.server).or_default().push(ToolSpec {
                name: tool.name,
                title: tool.title,
                description: tool.description,
                input_schema: tool.input_schema,
                output_schema: tool.output_schema,
            });
        }
        let descriptions: BTreeMap<String, String> = self
            .upstreams
            .servers()
            .into_iter()
            .filter_map(|server| Some((server.name, server.description?)))
            .collect();
        by_server
            .into_iter()
            .map(|(name, tools)| SourceNamespace {
                description: descriptions.get(&name).cloned(),
                name,
                tools,
            })
            .collect()
    }

    fn call(&self, namespace: &str, tool: &str, args: Value) -> ToolFuture {
        let upstreams = self.upstreams.clone();
        let (server, tool) = (namespace.to_string(), tool.to_string());
        Box::pin(async move {
            match upstreams.call(&server, &tool, args, CALL_TIMEOUT).await {
                Ok(output) => Ok(output.value),
                Err(error) => Err(ToolError::new(describe(error))),
            }
        })
    }

    fn changes(&self) -> Option<watch::Receiver<u64>> {
        Some(self.upstreams.changes())
    }
}

/// The snippet's error already names the tool (`tools.x.y failed: …`); say only what
/// went wrong.
fn describe(error: CallError) -> String {
    match error {
        CallError::Tool { message, .. } => message,
        CallError::InvalidArguments { message, .. } => format!("invalid arguments: {message}"),
        CallError::Timeout { timeout, .. } => format!(
            "no answer within {} ms; the call was cancelled",
            timeout.as_millis()
        ),
        CallError::Connection { message, .. } => format!("connection lost: {message}"),
        CallError::Protocol { message, .. } => format!("protocol error: {message}"),
        other => other.to_string(),
    }
}
