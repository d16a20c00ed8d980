//! The upstream servers as one catalogue [`ToolSource`]: a namespace per configured server,
//! with its tools when it is ready and its reason when it is not, and every call's failure
//! as a [`ToolError`] of the right kind.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use codemode_catalog::{CallContext, NamespaceStatus, Progress, SourceNamespace, ToolSource};
use codemode_sandbox::{AnswerFuture, ToolAnswer, ToolError, ToolErrorKind, ToolFuture};
use serde_json::Value;
use tokio::sync::watch;

use crate::error::CallError;
use crate::upstreams::{CallProgress, ProgressCallback, ServerState, Upstreams};

/// [`Upstreams`] as the catalogue sees them.
#[derive(Clone)]
pub struct UpstreamSource {
    upstreams: Upstreams,
    /// The longest one call may take; each server's `callTimeoutMs` and the execution's
    /// wall clock bound it too.
    call_timeout: Duration,
}

impl UpstreamSource {
    pub fn new(upstreams: Upstreams, call_timeout: Duration) -> Self {
        UpstreamSource {
            upstreams,
            call_timeout,
        }
    }
}

impl ToolSource for UpstreamSource {
    fn namespaces(&self) -> Vec<SourceNamespace> {
        let mut tools_by_server = self.upstreams.tools();
        let mut servers = self.upstreams.servers();
        servers.sort_by(|a, b| a.name.cmp(&b.name));
        servers
            .into_iter()
            .map(|server| SourceNamespace {
                tools: tools_by_server.remove(&server.name).unwrap_or_default(),
                status: namespace_status(server.state, server.retrying),
                name: server.name,
                description: server.description,
            })
            .collect()
    }

    fn call(&self, namespace: &str, tool: &str, args: Value) -> ToolFuture {
        self.call_with(namespace, tool, args, &CallContext::default())
    }

    fn call_with(
        &self,
        namespace: &str,
        tool: &str,
        args: Value,
        context: &CallContext,
    ) -> ToolFuture {
        let answer = self.answer_with(namespace, tool, args, context);
        Box::pin(async move { answer.await.and_then(ToolAnswer::into_value) })
    }

    fn answer_with(
        &self,
        namespace: &str,
        tool: &str,
        args: Value,
        context: &CallContext,
    ) -> AnswerFuture {
        let upstreams = self.upstreams.clone();
        let (server, tool) = (namespace.to_string(), tool.to_string());
        let timeout = self.call_timeout;
        let progress: Option<ProgressCallback> = context.progress.clone().map(|sink| {
            Arc::new(move |update: CallProgress| {
                sink(Progress {
                    progress: update.progress,
                    total: update.total,
                    message: update.message,
                })
            }) as ProgressCallback
        });
        Box::pin(async move {
            upstreams
                .call_with_progress(&server, &tool, args, timeout, progress)
                .await
                .map(|output| output.answer)
                .map_err(tool_error)
        })
    }

    fn wait_ready(&self, namespace: &str) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let upstreams = self.upstreams.clone();
        let server = namespace.to_string();
        Box::pin(async move { upstreams.wait_ready(&server).await })
    }

    fn changes(&self) -> Option<watch::Receiver<u64>> {
        Some(self.upstreams.changes())
    }
}

fn namespace_status(state: ServerState, retrying: bool) -> NamespaceStatus {
    match state {
        ServerState::Ready | ServerState::Restarting { .. } => NamespaceStatus::Ready,
        ServerState::Starting => NamespaceStatus::Starting,
        ServerState::Failed { reason } => NamespaceStatus::Unavailable { reason, retrying },
        ServerState::Disabled => NamespaceStatus::Unavailable {
            reason: "disabled in the config".to_string(),
            retrying: false,
        },
        ServerState::Stopped => NamespaceStatus::Unavailable {
            reason: "shut down".to_string(),
            retrying: false,
        },
    }
}

/// The snippet's error already names the tool (`tools.x.y failed: …`), and the catalogue
/// names an unreachable namespace; say only what went wrong, and of which kind.
fn tool_error(error: CallError) -> ToolError {
    let (kind, message) = match error {
        CallError::Unavailable { reason, .. } => (ToolErrorKind::Unavailable, reason),
        CallError::Tool { message, .. } => (ToolErrorKind::Tool, message),
        CallError::InvalidArguments { message, .. } => (
            ToolErrorKind::InvalidArguments,
            format!("invalid arguments: {message}"),
        ),
        CallError::Timeout { timeout, .. } => (
            ToolErrorKind::Timeout,
            format!(
                "no answer within {} ms; the call was cancelled",
                timeout.as_millis()
            ),
        ),
        CallError::Connection { message, .. } => (
            ToolErrorKind::Transport,
            format!("connection lost: {message}"),
        ),
        CallError::Protocol { message, .. } => (
            ToolErrorKind::Transport,
            format!("protocol error: {message}"),
        ),
        other => (ToolErrorKind::Tool, other.to_string()),
    };
    ToolError::of(kind, message)
}
