//! Requests passed through to a server as the client made them, and its answers passed back
//! as the server gave them.

// Sampling, roots and resource subscriptions are deprecated by SEP-2577, but 2025-11-25
// servers use them, and passing them on is the point.
#![allow(deprecated)]

use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, ClientCapabilities, ClientRequest,
    ClientResult, CompleteRequestParams, CompleteResult, GetPromptRequestParams, GetPromptResponse,
    InputRequest, InputResponses, ProgressNotification, ProgressNotificationParam, ProgressToken,
    ReadResourceRequestParams, ReadResourceResponse, ResultType, ServerNotification, ServerRequest,
    ServerResult, SubscribeRequestParams, UnsubscribeRequestParams,
};
use rmcp::service::PeerRequestOptions;
use rmcp::{ErrorData, ServiceError};
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::direct::links::{Era, Route};
use crate::direct::relay::relayable;
use crate::direct::surface::direct_tools;
use crate::direct::{ClientRelay, DirectEvent, Surface};
use crate::error::describe_service_error;
use crate::line_transport;
use crate::trace_context;
use crate::upstreams::{ready_session, CancelOnDrop, ServerState, Session, Slot, Upstreams};

/// Beyond a server's startup timeout, how long a passed-through request waits for it.
const STARTUP_GRACE: Duration = Duration::from_secs(2);
/// A request other than `tools/call` (reads, prompts, completions) gets this long unless the
/// entry's `callTimeoutMs` says otherwise.
const REQUEST_LIMIT: Duration = Duration::from_secs(60);
/// Rounds one call may take when a 2026-07-28 server asks a client that can be asked.
const MAX_INPUT_ROUNDS: usize = 8;
/// Times a finished call yields to notification tasks still delivering what came before it.
const NOTIFICATION_SETTLE_YIELDS: usize = 4;
/// `_meta` keys that describe the gateway's client to the gateway, not to the server.
const CLIENT_META_KEYS: [&str; 4] = [
    "progressToken",
    "io.modelcontextprotocol/protocolVersion",
    "io.modelcontextprotocol/clientInfo",
    "io.modelcontextprotocol/clientCapabilities",
];

impl Upstreams {
    /// Each passthrough server's direct offer now, in config order (servers that are not
    /// connected offer nothing).
    pub fn direct_surfaces(&self) -> Vec<(String, Arc<Surface>)> {
        self.inner
            .slots
            .iter()
            .filter(|slot| slot.config.passthrough.is_on())
            .map(|slot| {
                let surface = slot.snapshot.borrow().surface.clone();
                (slot.config.name.clone(), surface)
            })
            .collect()
    }

    /// Whether any entry passes tools through.
    pub fn passes_anything(&self) -> bool {
        self.inner
            .slots
            .iter()
            .any(|s| s.config.passthrough.is_on())
    }

    /// Whether any entry passes everything (its resources, templates and prompts), which
    /// the gateway then declares it serves.
    pub fn passes_everything(&self) -> bool {
        self.inner
            .slots
            .iter()
            .any(|s| s.config.passthrough.serves_everything())
    }

    /// Resolves once no passthrough server is still starting, or after `limit`: what a
    /// client's first listing waits for, so an aggregator's first `tools/list` is whole.
    pub async fn passthrough_settled(&self, limit: Duration) {
        let waits = self
            .inner
            .slots
            .iter()
            .filter(|slot| slot.config.passthrough.is_on())
            .map(|slot| {
                let mut snapshots = slot.snapshot.subscribe();
                async move {
                    let _ = snapshots
                        .wait_for(|s| s.state != ServerState::Starting)
                        .await;
                }
            });
        let _ = tokio::time::timeout(limit, futures::future::join_all(waits)).await;
    }

    /// Resource updates and the like from passthrough servers.
    pub fn direct_events(&self) -> broadcast::Receiver<DirectEvent> {
        self.inner.events.subscribe()
    }

    /// Calls a passed-through tool as the client asked (`params.name` is the server's own
    /// name), and returns the server's answer unchanged. Progress the server reports goes to
    /// `relay` under `client_progress`, the client's token; its logs and what it asks go to
    /// `relay` while the call runs. Dropping the future cancels the call on the server.
    pub async fn forward_call(
        &self,
        server: &str,
        mut params: CallToolRequestParams,
        relay: Arc<dyn ClientRelay>,
        client_progress: Option<ProgressToken>,
    ) -> Result<CallToolResponse, ErrorData> {
        let slot = self.direct_slot(server)?;
        if !slot.config.passthrough.serves_tool(&params.name)
            || !slot.config.tools.permits(&params.name)
        {
            return Err(ErrorData::invalid_params(
                format!(
                    "`{server}` does not pass the tool {:?} through",
                    params.name
                ),
                None,
            ));
        }
        let route = self.route(slot, relay.as_ref()).await?;
        strip_client_meta(&mut params.meta);
        let params = trace_context::with_current(params);
        let call = forward_rounds(&route, params, &relay, client_progress.as_ref());
        let reply = match slot.config.call_timeout {
            Some(limit) => tokio::time::timeout(limit, call).await.map_err(|_| {
                ErrorData::internal_error(
                    format!("upstream `{server}` did not answer within {limit:?} (callTimeoutMs)"),
                    None,
                )
            })?,
            None => call.await,
        };
        reply.map_err(|err| upstream_error(server, err))
    }

    /// `resources/read` on the server that owns the resource.
    pub async fn forward_read(
        &self,
        server: &str,
        params: ReadResourceRequestParams,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let (peer, limit) = self.plain_request(server).await?;
        let mut response = within(server, limit, peer.read_resource_once(params)).await?;
        if let ReadResourceResponse::Complete(result) = &mut response {
            mark_complete(&mut result.result_type);
        }
        Ok(response)
    }

    /// `prompts/get` (`params.name` is the server's own name).
    pub async fn forward_prompt(
        &self,
        server: &str,
        params: GetPromptRequestParams,
    ) -> Result<GetPromptResponse, ErrorData> {
        let (peer, limit) = self.plain_request(server).await?;
        let mut response = within(server, limit, peer.get_prompt_once(params)).await?;
        if let GetPromptResponse::Complete(result) = &mut response {
            mark_complete(&mut result.result_type);
        }
        Ok(response)
    }

    /// `completion/complete` for one of the server's prompts or resource templates.
    pub async fn forward_complete(
        &self,
        server: &str,
        params: CompleteRequestParams,
    ) -> Result<CompleteResult, ErrorData> {
        let (peer, limit) = self.plain_request(server).await?;
        let mut result = within(server, limit, peer.complete(params)).await?;
        mark_complete(&mut result.result_type);
        Ok(result)
    }

    /// `resources/subscribe` (`on`) or `resources/unsubscribe` for `uri`; the server's
    /// updates arrive as [`DirectEvent::ResourceUpdated`].
    #[allow(deprecated)] // 2025-11-25 subscriptions, which is what such servers speak
    pub async fn forward_subscription(
        &self,
        server: &str,
        uri: String,
        on: bool,
    ) -> Result<(), ErrorData> {
        let slot = self.direct_slot(server)?;
        // Subscriptions are session-era requests (2026-07-28 has none).
        let peer = self
            .route_in(slot, Era::Session, ClientCapabilities::default())
            .await?
            .peer;
        let limit = request_limit(slot);
        if on {
            within(
                server,
                limit,
                peer.subscribe(SubscribeRequestParams::new(uri)),
            )
            .await
        } else {
            within(
                server,
                limit,
                peer.unsubscribe(UnsubscribeRequestParams::new(uri)),
            )
            .await
        }
    }

    /// The supervisor's own connection to `server` and the time a request other than a
    /// call gets: reads, prompts and completions need nothing of the client's.
    async fn plain_request(
        &self,
        server: &str,
    ) -> Result<(rmcp::Peer<rmcp::RoleClient>, Duration), ErrorData> {
        let slot = self.direct_slot(server)?;
        let session = main_session(slot).await?;
        Ok((session.peer, request_limit(slot)))
    }

    fn direct_slot(&self, server: &str) -> Result<&Arc<Slot>, ErrorData> {
        self.inner
            .slots
            .iter()
            .find(|s| s.config.name == server && s.config.passthrough.is_on())
            .ok_or_else(|| {
                ErrorData::invalid_params(format!("no passthrough server `{server}`"), None)
            })
    }

    /// The connection a call from `relay`'s client takes: the supervisor's own when the
    /// client can be asked nothing and speaks its era (or the server has no other), else one
    /// in the client's era declaring what it can be asked.
    async fn route(&self, slot: &Slot, relay: &dyn ClientRelay) -> Result<Route, ErrorData> {
        let era = Era::of(relay.is_stateless());
        self.route_in(slot, era, relayable(&relay.capabilities()))
            .await
    }

    async fn route_in(
        &self,
        slot: &Slot,
        era: Era,
        capabilities: ClientCapabilities,
    ) -> Result<Route, ErrorData> {
        let session = main_session(slot).await?;
        if main_fits(slot, &session.peer, era, &capabilities) {
            return Ok(Route {
                peer: session.peer,
                progress: session.progress,
                relays: session.relays,
            });
        }
        slot.links
            .route(slot, era, capabilities, self.inner.events.clone())
            .await
            .map_err(|reason| {
                ErrorData::internal_error(
                    format!("upstream `{}`: {reason}", slot.config.name),
                    None,
                )
            })
    }

    /// Each passthrough server's direct offer to a client that declares `capabilities` and
    /// speaks the stateless era or not: the tools are those of the connection its calls take,
    /// since a server may list different tools to a client it can ask (or of another era).
    pub async fn direct_surfaces_for(
        &self,
        capabilities: &ClientCapabilities,
        stateless: bool,
    ) -> Vec<(String, Arc<Surface>)> {
        let era = Era::of(stateless);
        let capabilities = relayable(capabilities);
        let mut surfaces = Vec::new();
        for slot in self.inner.slots.iter() {
            if !slot.config.passthrough.is_on() {
                continue;
            }
            let name = slot.config.name.clone();
            let (surface, main) = {
                let snapshot = slot.snapshot.borrow();
                (snapshot.surface.clone(), snapshot.session.clone())
            };
            let fits = main
                .as_ref()
                .is_none_or(|session| main_fits(slot, &session.peer, era, &capabilities));
            if fits {
                surfaces.push((name, surface));
                continue;
            }
            match slot
                .links
                .tools(slot, era, capabilities.clone(), self.inner.events.clone())
                .await
            {
                Ok(tools) => {
                    let mut own = (*surface).clone();
                    own.tools = direct_tools(&slot.config, &tools);
                    surfaces.push((name, Arc::new(own)));
                }
                Err(reason) => {
                    tracing::warn!(server = %name, %reason,
                        "passthrough: cannot list the tools of this client's connection; offering the gateway's listing");
                    surfaces.push((name, surface));
                }
            }
        }
        surfaces
    }
}

/// Whether a client's calls can take the supervisor's own connection: the client can be
/// asked nothing and speaks that connection's era, or the server has no other era.
fn main_fits(
    slot: &Slot,
    main: &rmcp::Peer<rmcp::RoleClient>,
    era: Era,
    capabilities: &ClientCapabilities,
) -> bool {
    let main_is_stateless = main
        .peer_info()
        .is_some_and(|info| !info.protocol_version.has_initialize());
    let era_fits = match era {
        Era::Stateless => true,
        Era::Session => !main_is_stateless || !slot.links.sessions_possible(slot),
    };
    *capabilities == ClientCapabilities::default() && era_fits
}

/// The supervisor's connection, once the server is ready (waiting for one still starting).
async fn main_session(slot: &Slot) -> Result<Session, ErrorData> {
    let deadline = Instant::now() + slot.config.startup_timeout + STARTUP_GRACE;
    ready_session(slot, deadline)
        .await
        .map(|(session, _)| session)
        .map_err(|err| ErrorData::internal_error(err.to_string(), None))
}

fn request_limit(slot: &Slot) -> Duration {
    slot.config.call_timeout.unwrap_or(REQUEST_LIMIT)
}

async fn within<T>(
    server: &str,
    limit: Duration,
    request: impl std::future::Future<Output = Result<T, ServiceError>>,
) -> Result<T, ErrorData> {
    match tokio::time::timeout(limit, request).await {
        Ok(reply) => reply.map_err(|err| upstream_error(server, err)),
        Err(_) => Err(ErrorData::internal_error(
            format!("upstream `{server}` did not answer within {limit:?}"),
            None,
        )),
    }
}

/// The server's own JSON-RPC error as it sent it; anything else in words.
fn upstream_error(server: &str, err: ServiceError) -> ErrorData {
    match err {
        ServiceError::McpError(error) => error,
        other => ErrorData::internal_error(
            format!("upstream `{server}`: {}", describe_service_error(&other)),
            None,
        ),
    }
}

/// A 2025-11-25 server's result has no `resultType`, which a 2026-07-28 client requires;
/// absent means "complete" in both eras, and the gateway's handler strips it again for an
/// older client, so each client sees its own era's shape.
fn mark_complete(result_type: &mut Option<ResultType>) {
    result_type.get_or_insert(ResultType::COMPLETE);
}

fn strip_client_meta(meta: &mut Option<rmcp::model::RequestMetaObject>) {
    if let Some(object) = meta.as_mut() {
        for key in CLIENT_META_KEYS {
            object.0.remove(key);
        }
        if object.0.is_empty() {
            *meta = None;
        }
    }
}

/// One call, and, when a 2026-07-28 server answers "input required" to a client that can be
/// asked mid-call, the rounds that ask the client and call again. A client that cannot be
/// asked mid-call (2026-07-28 itself) gets the server's "input required" as it is.
async fn forward_rounds(
    route: &Route,
    mut params: CallToolRequestParams,
    relay: &Arc<dyn ClientRelay>,
    client_progress: Option<&ProgressToken>,
) -> Result<CallToolResponse, ServiceError> {
    let mut reply = forward_once(route, params.clone(), relay, client_progress).await?;
    for _ in 1..MAX_INPUT_ROUNDS {
        let CallToolResponse::InputRequired(asked) = &reply else {
            break;
        };
        if relay.is_stateless() {
            break;
        }
        let mut responses = InputResponses::new();
        for (key, request) in asked.input_requests.clone().unwrap_or_default() {
            let request = match request {
                InputRequest::CreateMessage(r) => ServerRequest::CreateMessageRequest(r),
                InputRequest::Elicitation(r) => ServerRequest::ElicitRequest(r),
                InputRequest::ListRoots(r) => ServerRequest::ListRootsRequest(r),
                other => {
                    return Err(ServiceError::McpError(ErrorData::internal_error(
                        format!("codemode cannot relay this input request: {other:?}"),
                        None,
                    )))
                }
            };
            let answer = relay
                .request(request)
                .await
                .map_err(ServiceError::McpError)?;
            let value = match answer {
                ClientResult::CreateMessageResult(r) => serde_json::to_value(r),
                ClientResult::ElicitResult(r) => serde_json::to_value(r),
                ClientResult::ListRootsResult(r) => serde_json::to_value(r),
                other => serde_json::to_value(other),
            }
            .unwrap_or_default();
            responses.insert(key, value);
        }
        params.input_responses = Some(responses);
        params.request_state = asked.request_state.clone();
        reply = forward_once(route, params.clone(), relay, client_progress).await?;
    }
    Ok(reply)
}

async fn forward_once(
    route: &Route,
    params: CallToolRequestParams,
    relay: &Arc<dyn ClientRelay>,
    client_progress: Option<&ProgressToken>,
) -> Result<CallToolResponse, ServiceError> {
    // Entered before the request leaves, so that a question the server asks at once
    // finds its client.
    let _entered = route.relays.enter(relay);
    let handle = route
        .peer
        .send_request_with_option(
            ClientRequest::CallToolRequest(CallToolRequest::new(params)),
            PeerRequestOptions::no_options(),
        )
        .await?;
    let mut updates = route
        .progress
        .subscribe(handle.progress_token.clone())
        .await;
    let mut abandoned = CancelOnDrop::new(route.peer.clone(), handle.id.clone());
    let response = handle.await_response();
    tokio::pin!(response);
    let progress_to_client = |update: ProgressNotificationParam| {
        // Progress nobody asked for is dropped.
        let token = client_progress.cloned();
        async move {
            if let Some(token) = token {
                let mut param = ProgressNotificationParam::new(token, update.progress);
                param.total = update.total;
                param.message = update.message;
                relay
                    .notify(ServerNotification::ProgressNotification(
                        ProgressNotification::new(param),
                    ))
                    .await;
            }
        }
    };
    let result = loop {
        tokio::select! {
            // Progress first: what the server sent before its answer goes out before it.
            biased;
            Some(update) = updates.next() => progress_to_client(update).await,
            result = &mut response => break result,
        }
    };
    // rmcp handles each notification in a task of its own, so progress or a log the server
    // sent just before its answer may still be on its way: let those tasks run, then pass on
    // what they delivered, so the client sees them before the result as the server sent them.
    for _ in 0..NOTIFICATION_SETTLE_YIELDS {
        tokio::task::yield_now().await;
        while let Some(Some(update)) = updates.next().now_or_never() {
            progress_to_client(update).await;
        }
    }
    abandoned.disarm();
    match result? {
        ServerResult::CallToolResult(mut result) => {
            // The line transport keeps structured content as text for the sandbox; a
            // client gets it back as the value it was.
            if let Some(raw) = line_transport::raw_structured(&mut result) {
                result.structured_content = serde_json::from_str(raw.get()).ok();
            }
            mark_complete(&mut result.result_type);
            Ok(CallToolResponse::Complete(result))
        }
        ServerResult::InputRequiredResult(result) => Ok(CallToolResponse::InputRequired(result)),
        ServerResult::CreateTaskResult(result) => Ok(CallToolResponse::Task(result)),
        ServerResult::EmptyResult(_) => Ok(CallToolResponse::Complete(Default::default())),
        _ => Err(ServiceError::UnexpectedResponse),
    }
}
