//! Our side of each MCP session: who we say we are, and what we do with server notifications.

// Sampling, roots and logging are deprecated by SEP-2577, but 2025-11-25 servers use them.
#![allow(deprecated)]

use std::sync::Arc;

use rmcp::handler::client::progress::ProgressDispatcher;
use rmcp::model::{
    ClientCapabilities, ClientConfig, Implementation, LoggingLevel, LoggingMessageNotificationParam,
};
use rmcp::model::{
    ClientResult, CreateMessageRequest, CreateMessageRequestParams, CreateMessageResult,
    CustomNotification, CustomRequest, CustomResult, ElicitRequest, ElicitRequestParams,
    ElicitResult, ListRootsRequest, ListRootsResult, LoggingMessageNotification,
    ProgressNotificationParam, ResourceUpdatedNotification, ResourceUpdatedNotificationParam,
    ServerNotification, ServerRequest,
};
use rmcp::service::{NotificationContext, RequestContext, RoleClient};
use rmcp::{ClientHandler, ErrorData};
use tokio::sync::{broadcast, Notify};

use crate::direct::relay::Relays;
use crate::direct::DirectEvent;

/// Per-connection client handler. Forwards the server's log messages to `tracing`, routes
/// `notifications/progress` to the call that asked for it, and signals list changes to the
/// supervisor.
///
/// The connection the supervisor keeps declares no client capabilities (no sampling, roots
/// or elicitation: the agent's code cannot answer such requests). A passthrough connection
/// opened for clients that have some declares exactly those, and relays what the server asks
/// and logs to the client whose call is in flight ([`Relays`]).
#[derive(Clone)]
pub(crate) struct Handler {
    server: Arc<str>,
    tools_changed: Arc<Notify>,
    progress: ProgressDispatcher,
    relays: Arc<Relays>,
    declared: ClientCapabilities,
    /// Resources or prompts changed (passthrough entries re-list them).
    surface_changed: Arc<Notify>,
    events: Option<broadcast::Sender<DirectEvent>>,
}

impl Handler {
    pub(crate) fn new(server: &str, tools_changed: Arc<Notify>) -> Self {
        Handler {
            server: server.into(),
            tools_changed,
            progress: ProgressDispatcher::new(),
            relays: Arc::default(),
            declared: ClientCapabilities::default(),
            surface_changed: Arc::new(Notify::new()),
            events: None,
        }
    }

    /// Declares `capabilities` to the server (a passthrough connection for clients that
    /// have them).
    pub(crate) fn declaring(mut self, capabilities: ClientCapabilities) -> Self {
        self.declared = capabilities;
        self
    }

    /// Reports resource updates and resource or prompt list changes.
    pub(crate) fn reporting(
        mut self,
        surface_changed: Arc<Notify>,
        events: broadcast::Sender<DirectEvent>,
    ) -> Self {
        self.surface_changed = surface_changed;
        self.events = Some(events);
        self
    }

    /// Where calls subscribe to the progress the server reports for them.
    pub(crate) fn progress(&self) -> ProgressDispatcher {
        self.progress.clone()
    }

    /// The passed-through calls in flight on this connection.
    pub(crate) fn relays(&self) -> Arc<Relays> {
        self.relays.clone()
    }

    /// Relays a server's request to the client of the call in flight.
    async fn ask_client(&self, request: ServerRequest) -> Result<ClientResult, ErrorData> {
        match self.relays.current() {
            Some(relay) => relay.request(request).await,
            None => Err(ErrorData::internal_error(
                format!(
                    "codemode: no client call is in flight on this connection to `{}`, so \
                     nobody can answer this request",
                    self.server
                ),
                None,
            )),
        }
    }
}

fn unexpected_answer() -> ErrorData {
    ErrorData::internal_error(
        "codemode: the client answered with another kind of result",
        None,
    )
}

impl ClientHandler for Handler {
    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let request = ServerRequest::CreateMessageRequest(CreateMessageRequest::new(params));
        match self.ask_client(request).await? {
            ClientResult::CreateMessageResult(result) => Ok(*result),
            _ => Err(unexpected_answer()),
        }
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let request = ServerRequest::ElicitRequest(ElicitRequest::new(params));
        match self.ask_client(request).await? {
            ClientResult::ElicitResult(result) => Ok(result),
            _ => Err(unexpected_answer()),
        }
    }

    async fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        if self.declared.roots.is_none() {
            return Err(ErrorData::method_not_found::<
                rmcp::model::ListRootsRequestMethod,
            >());
        }
        let request = ServerRequest::ListRootsRequest(ListRootsRequest::default());
        match self.ask_client(request).await? {
            ClientResult::ListRootsResult(result) => Ok(result),
            _ => Err(unexpected_answer()),
        }
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        _context: RequestContext<RoleClient>,
    ) -> Result<CustomResult, ErrorData> {
        match self
            .ask_client(ServerRequest::CustomRequest(request))
            .await?
        {
            ClientResult::CustomResult(result) => Ok(result),
            _ => Err(unexpected_answer()),
        }
    }

    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        _context: NotificationContext<RoleClient>,
    ) {
        // Such as `notifications/elicitation/complete` after a URL-mode elicitation.
        if let Some(relay) = self.relays.current() {
            relay
                .notify(ServerNotification::CustomNotification(notification))
                .await;
        }
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Some(events) = &self.events {
            let _ = events.send(DirectEvent::ResourceUpdated(
                ResourceUpdatedNotification::new(params),
            ));
        }
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.surface_changed.notify_one();
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.surface_changed.notify_one();
    }

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
        if let Some(relay) = self.relays.in_flight() {
            relay
                .notify(ServerNotification::LoggingMessageNotification(
                    LoggingMessageNotification::new(params.clone()),
                ))
                .await;
        }
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
            self.declared.clone(),
            Implementation::new("codemode", env!("CARGO_PKG_VERSION")),
        )
    }
}
