//! Our side of each MCP session: who we say we are, and what we do with server notifications.

use std::sync::Arc;

use rmcp::handler::client::progress::ProgressDispatcher;
use rmcp::model::ProgressNotificationParam;
#[allow(deprecated)] // see `on_logging_message`
use rmcp::model::{
    ClientCapabilities, ClientConfig, Implementation, LoggingLevel, LoggingMessageNotificationParam,
};
use rmcp::service::{NotificationContext, RoleClient};
use rmcp::ClientHandler;
use tokio::sync::Notify;

/// Per-connection client handler. Declares no client capabilities (no sampling, roots or
/// elicitation: the agent's code cannot answer such requests), forwards the server's log
/// messages to `tracing`, routes `notifications/progress` to the call that asked for it, and
/// signals `notifications/tools/list_changed` to the supervisor.
#[derive(Clone)]
pub(crate) struct Handler {
    server: Arc<str>,
    tools_changed: Arc<Notify>,
    progress: ProgressDispatcher,
}

impl Handler {
    pub(crate) fn new(server: &str, tools_changed: Arc<Notify>) -> Self {
        Handler {
            server: server.into(),
            tools_changed,
            progress: ProgressDispatcher::new(),
        }
    }

    /// Where calls subscribe to the progress the server reports for them.
    pub(crate) fn progress(&self) -> ProgressDispatcher {
        self.progress.clone()
    }
}

impl ClientHandler for Handler {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        // Tokens nobody subscribed to (a call that already ended) are dropped.
        self.progress.handle_notification(params).await;
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        tracing::debug!(server = %self.server, "tools/list_changed");
        // `notify_one` keeps a permit when nobody waits yet, and several notifications
        // before the refresh coalesce into one re-listing.
        self.tools_changed.notify_one();
    }

    // Logging is deprecated in MCP 2026-07-28 (SEP-2577), but 2025-11-25 servers, which are
    // nearly all of them today, still send it, and their logs are worth keeping.
    #[allow(deprecated)]
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let logger = params.logger.as_deref().unwrap_or("");
        let server = &*self.server;
        let data = &params.data;
        match params.level {
            LoggingLevel::Debug => tracing::debug!(server, logger, %data, "upstream log"),
            LoggingLevel::Info | LoggingLevel::Notice => {
                tracing::info!(server, logger, %data, "upstream log")
            }
            LoggingLevel::Warning => tracing::warn!(server, logger, %data, "upstream log"),
            _ => tracing::error!(server, logger, %data, "upstream log"),
        }
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("codemode", env!("CARGO_PKG_VERSION")),
        )
    }
}
