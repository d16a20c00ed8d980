//! [`Gateway`]: the MCP server handler. It answers `tools/list` with the two tools,
//! `tools/call` by searching the catalogue or running a snippet in the sandbox, the
//! `resources/*` requests with the declarations, and `logging/setLevel`.

#![allow(deprecated)] // MCP logging is deprecated by SEP-2577, but 2025-11-25 clients use it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use codemode_audit::{AuditLog, ExecuteOutcome};
use codemode_catalog::{CallObserver, Catalog};
use codemode_sandbox::{ErrorKind, Execution, ExecutionError, Limits, LogLevel};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    ContentBlock, GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, LoggingLevel,
    LoggingMessageNotificationParam, PaginatedRequestParams, ProtocolVersion,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, ServerCapabilities,
    ServerConfig, SetLevelRequestParams, SubscribeRequestParams, SubscriptionFilter, Tool,
    UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::approval::resume::{random_id, Resumer, DEFAULT_APPROVAL_TTL};
use crate::approval::seal::KeyRing;
use crate::approval::{Asker, CallSink, Gate, Governor};
use crate::audit::{Caller, ExecutionAudit};
use crate::describe::{execute_tool, search_tool};
use crate::direct::{Direct, DirectCall};
use crate::isolation::{shutting_down, Executor, InFlight, Isolation};
use crate::notify;
use crate::progress::{self, ProgressReporter};
use crate::reply::{execution_result, level_name};
use crate::resources;
use crate::search::{search_result, SearchArgs};
use crate::session::SessionState;
use crate::trace;

/// The tool that finds functions.
pub const SEARCH_TOOL: &str = "search";
/// The tool that runs a snippet.
pub const EXECUTE_TOOL: &str = "execute";

const INSTRUCTIONS: &str = "\
Every tool behind this server is a typed async function `tools.<namespace>.<name>(args)`. \
Find functions with `search`, then do the whole task in one `execute` call: the code calls \
the tools, keeps intermediate data to itself, and returns only the answer.";

/// How long `search` waits for upstream servers that are still starting.
const SEARCH_STARTUP_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// How the gateway runs snippets.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// Limits for each `execute`.
    pub limits: Limits,
    /// In-process snippets running at once across all sessions; more wait their turn. Each
    /// holds a thread and up to `limits.memory_bytes` of heap. (With workers, the pool's
    /// `max_workers` and `max_queued` bound this instead.)
    pub max_concurrent_executions: usize,
    /// Where snippets run. The default is [`Isolation::InProcess`] only because a library
    /// cannot know which executable can serve as a worker; `codemode serve` runs every
    /// snippet in a worker process unless told `--in-process`.
    pub isolation: Isolation,
    /// The keys that seal 2026-07-28 approval state; `None` makes one per process (a
    /// restart then forgets pending approvals, and replicas cannot resume each other's).
    pub approval_keys: Option<Arc<KeyRing>>,
    /// How long a 2026-07-28 client has to answer an approval.
    pub approval_ttl: Duration,
    /// Where each execution and each of its calls is recorded, when set.
    pub audit: Option<AuditLog>,
    /// The upstream servers, when some entries pass things through to the client directly.
    pub passthrough: Option<codemode_upstream::Upstreams>,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            limits: Limits::default(),
            max_concurrent_executions: 16,
            isolation: Isolation::InProcess,
            approval_keys: None,
            approval_ttl: DEFAULT_APPROVAL_TTL,
            audit: None,
            passthrough: None,
        }
    }
}

/// The MCP server. Cheap to clone; [`Gateway::new_session`] gives each client session its
/// own small state over the shared catalogue.
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
    session: Arc<SessionState>,
}

struct Shared {
    catalog: Catalog,
    options: GatewayOptions,
    executor: Executor,
    in_flight: Arc<InFlight>,
    resumer: Resumer,
    /// Passthrough entries, when the config has any.
    direct: Option<Arc<Direct>>,
}

impl Gateway {
    pub fn new(catalog: Catalog, options: GatewayOptions) -> Gateway {
        let executor = Executor::new(
            &options.isolation,
            &options.limits,
            options.max_concurrent_executions,
        );
        let ring = options
            .approval_keys
            .clone()
            .unwrap_or_else(|| Arc::new(KeyRing::ephemeral()));
        let resumer = Resumer::new(ring, options.approval_ttl);
        let direct = options
            .passthrough
            .clone()
            .filter(|upstreams| upstreams.passes_anything())
            .map(|upstreams| Arc::new(Direct::new(upstreams)));
        Gateway {
            shared: Arc::new(Shared {
                catalog,
                options,
                executor,
                in_flight: Arc::default(),
                resumer,
                direct,
            }),
            session: Arc::new(SessionState::default()),
        }
    }

    /// A handler for a new session: same catalogue and limits, fresh session state.
    pub fn new_session(&self) -> Gateway {
        Gateway {
            shared: self.shared.clone(),
            session: Arc::new(SessionState::default()),
        }
    }

    pub fn options(&self) -> &GatewayOptions {
        &self.shared.options
    }

    pub fn catalog(&self) -> &Catalog {
        &self.shared.catalog
    }

    /// `search` and `execute`, then the passthrough tools as the servers list them to the
    /// gateway itself (`tools/list` answers each client with the tools its calls would
    /// reach: `Direct::names_for`).
    pub fn tools(&self) -> Vec<Tool> {
        let mut tools = self.own_tools();
        if let Some(direct) = &self.shared.direct {
            tools.extend(direct.names().tools.into_iter().map(|named| named.item));
        }
        tools
    }

    fn own_tools(&self) -> Vec<Tool> {
        vec![
            search_tool(),
            execute_tool(&self.shared.catalog, &self.shared.options.limits),
        ]
    }

    /// Runs a snippet as the `execute` tool does, without MCP around it (nobody can be
    /// asked: a call that needs approval is denied).
    pub async fn execute(&self, code: &str) -> Execution {
        let caller = Caller {
            session: None,
            client: Some("codemode run".into()),
        };
        let audit = self.begin_audit(code, caller);
        let sink = audit.clone().map(|a| a as Arc<dyn CallSink>);
        let governor = Governor::new(self.session.clone(), Asker::Nobody, None, sink);
        let execution = self.execute_governed(code, &governor, None).await;
        end_audit(audit.as_deref(), &execution);
        execution
    }

    /// The audit of one execution, its start written, when the gateway keeps an audit trail.
    fn begin_audit(&self, code: &str, caller: Caller) -> Option<Arc<ExecutionAudit>> {
        let log = self.shared.options.audit.as_ref()?;
        Some(Arc::new(ExecutionAudit::begin(
            log,
            &random_id(),
            code,
            caller,
        )))
    }

    /// Runs a snippet whose calls `governor` decides, and `observer` follows.
    async fn execute_governed(
        &self,
        code: &str,
        governor: &Arc<Governor>,
        observer: Option<Arc<dyn CallObserver>>,
    ) -> Execution {
        let Some(_in_flight) = self.shared.in_flight.enter() else {
            return shutting_down();
        };
        let mut host = self
            .shared
            .catalog
            .host()
            .gated_by(Arc::new(Gate(governor.clone())));
        if let Some(observer) = observer {
            host = host.observed_by(observer);
        }
        let limits = self.shared.options.limits.clone();
        let mut execution = self.shared.executor.run(code, Arc::new(host), limits).await;
        if let Some(why) = governor.divergence() {
            execution.result = Err(ExecutionError::new(ErrorKind::Tool, why, None));
        }
        execution
    }

    /// True once [`Gateway::drain`] has begun: new executions are refused.
    pub fn is_draining(&self) -> bool {
        self.shared.in_flight.is_closing()
    }

    /// The worker pool, when snippets run in workers.
    pub fn worker_pool(&self) -> Option<&codemode_worker::WorkerPool> {
        self.shared.executor.pool()
    }

    /// Stops accepting executions (new ones get an "unavailable" error) and waits up to
    /// `patience` for those in flight to finish; true when they all did. Then the worker
    /// pool's waiting workers are stopped.
    pub async fn drain(&self, patience: std::time::Duration) -> bool {
        let drained = self.shared.in_flight.drain(patience).await;
        if let Some(pool) = self.shared.executor.pool() {
            pool.close();
        }
        drained
    }

    async fn call_execute(
        &self,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let code = match request.arguments.as_ref().and_then(|a| a.get("code")) {
            Some(Value::String(code)) => code,
            Some(other) => {
                return Err(ErrorData::invalid_params(
                    format!("`code` must be a string of TypeScript, not {other}"),
                    None,
                ))
            }
            None => {
                return Err(ErrorData::invalid_params(
                    "execute needs `code`: a string of TypeScript",
                    None,
                ))
            }
        };
        let started = Instant::now();
        let principal = principal(context);
        // A 2026-07-28 retry brings back the sealed journal and the user's answers.
        let replay = match &request.request_state {
            Some(token) => match self.shared.resumer.resume(
                token,
                request.input_responses.as_ref(),
                &principal,
                code,
            ) {
                Ok(replay) => Some(replay),
                Err(why) => {
                    return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                        "cannot resume this execute after approval: {why}"
                    ))])
                    .into())
                }
            },
            None => None,
        };
        let audit = self.begin_audit(code, caller(context));
        let sink = audit.clone().map(|a| a as Arc<dyn CallSink>);
        let governor = Governor::new(self.session.clone(), asker(context), replay, sink);
        // With a progress token, calls and upstream progress become notifications/progress
        // while the snippet runs.
        let progress_done = CancellationToken::new();
        let observer = context.meta.get_progress_token().map(|token| {
            let reporter = Arc::new(ProgressReporter::default());
            tokio::spawn(progress::pump(
                reporter.clone(),
                context.peer.clone(),
                token,
                progress_done.clone(),
            ));
            reporter as Arc<dyn CallObserver>
        });
        let _stop_progress = progress_done.drop_guard();
        // A `notifications/cancelled` from the client drops the execution, which stops the
        // snippet and its pending tool calls.
        let mut run = Box::pin(self.execute_governed(code, &governor, observer));
        let execution = tokio::select! {
            execution = &mut run => Some(execution),
            () = governor.wait_suspended() => None,
            () = context.ct.cancelled() => {
                trace::record_cancelled();
                tracing::info!("execute cancelled by the client");
                if let Some(audit) = &audit {
                    audit.end(ExecuteOutcome::Cancelled, None, 0);
                }
                return Err(ErrorData::internal_error("cancelled by the client", None));
            }
        };
        let Some(execution) = execution else {
            // Stopped to ask (2026-07-28): calls already running finish into the journal
            // (new ones are held), then the execution is dropped and the client is asked.
            tokio::select! {
                _ = &mut run => {}
                () = governor.wait_idle() => {}
                () = context.ct.cancelled() => {
                    return Err(ErrorData::internal_error("cancelled by the client", None));
                }
            }
            drop(run);
            let (journal, pending) = governor.suspension();
            if let Some(audit) = &audit {
                audit.end(ExecuteOutcome::InputRequired, None, journal.len() as u64);
            }
            trace::record_input_required();
            tracing::info!(
                calls = journal.len(),
                asks = pending.len(),
                ms = started.elapsed().as_millis() as u64,
                "execute needs approval"
            );
            let result = self
                .shared
                .resumer
                .suspend(&principal, code, journal, pending);
            return Ok(CallToolResponse::InputRequired(result));
        };
        trace::record_execution(&execution);
        tracing::info!(
            ok = execution.is_ok(),
            calls = execution.calls.len(),
            ms = started.elapsed().as_millis() as u64,
            "execute"
        );
        end_audit(audit.as_deref(), &execution);
        self.forward_logs(&execution, &context.peer).await;
        Ok(execution_result(&execution).into())
    }

    /// Sends the snippet's console output as `notifications/message` to a client that
    /// asked for logs with `logging/setLevel`.
    async fn forward_logs(&self, execution: &Execution, peer: &Peer<RoleServer>) {
        for log in &execution.logs {
            let level = mcp_level(log.level);
            if !self.session.wants_log(level) {
                continue;
            }
            let mut message = LoggingMessageNotificationParam::new(
                level,
                Value::String(format!("[{}] {}", level_name(log.level), log.message)),
            );
            message.logger = Some("execute".into());
            if peer.notify_logging_message(message).await.is_err() {
                return;
            }
        }
    }
}

impl Gateway {
    /// The passthrough side for a method the gateway declares only when some entry passes
    /// everything through (prompts, completions, subscriptions); else "method not found", as
    /// from any server without the capability.
    fn direct_or_not_found(&self, method: &str) -> Result<&Arc<Direct>, ErrorData> {
        self.everything().ok_or_else(|| {
            ErrorData::new(
                rmcp::model::ErrorCode::METHOD_NOT_FOUND,
                format!(
                    "{method}: no entry of this gateway passes a server's resources and \
                         prompts through (\"passthrough\": true)"
                ),
                None,
            )
        })
    }

    /// The passthrough side when some entry passes everything through (resources,
    /// templates, prompts, completions), which the gateway then declares.
    fn everything(&self) -> Option<&Arc<Direct>> {
        self.shared
            .direct
            .as_ref()
            .filter(|direct| direct.serves_everything())
    }

    fn resource_owner(&self, direct: &Direct, uri: &str) -> Result<String, ErrorData> {
        direct.owner_of(uri).ok_or_else(|| {
            ErrorData::resource_not_found(
                format!("no passthrough server offers the resource {uri:?}"),
                None,
            )
        })
    }
}

/// Who is calling, as far as an approval is bound to it: the bearer credential's digest over
/// HTTP, the one client of a stdio gateway.
fn principal(context: &RequestContext<RoleServer>) -> String {
    match context.extensions.get::<axum::http::request::Parts>() {
        Some(parts) => match parts.headers.get(axum::http::header::AUTHORIZATION) {
            Some(credential) => format!(
                "http:{}",
                &codemode_audit::digest(credential.as_bytes())[..32]
            ),
            None => "http:anonymous".to_string(),
        },
        None => "stdio".to_string(),
    }
}

/// Whether this request speaks 2026-07-28 (no session: nothing can be asked mid-call).
pub(crate) fn is_stateless(context: &RequestContext<RoleServer>) -> bool {
    context
        .protocol_version()
        .is_some_and(|version| version.as_str() >= ProtocolVersion::V_2026_07_28.as_str())
}

/// The client's `Mcp-Session-Id`, as audit records name it.
pub(crate) fn session_id(context: &RequestContext<RoleServer>) -> Option<String> {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.headers.get("mcp-session-id"))
        .and_then(|id| id.to_str().ok())
        .map(|id| id.chars().take(128).collect())
}

/// The session and client an execution's audit records name.
fn caller(context: &RequestContext<RoleServer>) -> Caller {
    let session = session_id(context);
    let client = context.client_info().map(|info| {
        let name: String = info.name.chars().take(128).collect();
        let version: String = info.version.chars().take(64).collect();
        format!("{name} {version}")
    });
    Caller { session, client }
}

/// Writes how an execution ended.
fn end_audit(audit: Option<&ExecutionAudit>, execution: &Execution) {
    let Some(audit) = audit else { return };
    let (outcome, kind) = match &execution.result {
        Ok(_) => (ExecuteOutcome::Ok, None),
        Err(error) => (ExecuteOutcome::Error, Some(error.kind.to_string())),
    };
    audit.end(outcome, kind, execution.calls.len() as u64);
}

/// How this request's client can be asked to approve a call.
fn asker(context: &RequestContext<RoleServer>) -> Asker {
    let elicits = context
        .client_capabilities()
        .is_some_and(|capabilities| capabilities.elicitation.is_some());
    match (elicits, is_stateless(context)) {
        (false, _) => Asker::Nobody,
        (true, true) => Asker::Suspend,
        (true, false) => Asker::Elicit(context.peer.clone()),
    }
}

fn mcp_level(level: LogLevel) -> LoggingLevel {
    match level {
        LogLevel::Debug => LoggingLevel::Debug,
        LogLevel::Log | LogLevel::Info => LoggingLevel::Info,
        LogLevel::Warn => LoggingLevel::Warning,
        LogLevel::Error => LoggingLevel::Error,
    }
}

impl ServerHandler for Gateway {
    fn get_info(&self) -> ServerConfig {
        let everything = self.everything().is_some();
        let mut capabilities = ServerCapabilities::builder()
            .enable_logging()
            .enable_resources()
            .enable_resources_list_changed()
            .enable_tools()
            .enable_tool_list_changed()
            .build();
        if everything {
            // Passed through from the servers that have them; a server without one answers
            // with its own error.
            if let Some(resources) = capabilities.resources.as_mut() {
                resources.subscribe = Some(true);
            }
            let mut prompts = rmcp::model::PromptsCapability::default();
            prompts.list_changed = Some(true);
            capabilities.prompts = Some(prompts);
            capabilities.completions = Some(Default::default());
        }
        ServerConfig::new(capabilities)
            .with_server_info(
                Implementation::new("codemode", env!("CARGO_PKG_VERSION"))
                    .with_title("codemode gateway")
                    .with_description("A whole tool catalogue as one TypeScript API."),
            )
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let Some(direct) = &self.shared.direct else {
            return Ok(ListToolsResult::with_all_items(self.tools()));
        };
        let mut tools = self.own_tools();
        let names = direct.settled().await.names_for(&context).await;
        tools.extend(names.tools.into_iter().map(|named| named.item));
        Ok(ListToolsResult::with_all_items(tools))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        match name {
            SEARCH_TOOL => Some(search_tool()),
            EXECUTE_TOOL => Some(execute_tool(
                &self.shared.catalog,
                &self.shared.options.limits,
            )),
            other => self
                .shared
                .direct
                .as_ref()
                .and_then(|direct| direct.names().tool(other).map(|named| named.item.clone())),
        }
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = request.arguments.as_ref();
        let result = match request.name.as_ref() {
            SEARCH_TOOL => match SearchArgs::parse(arguments) {
                Ok(args) => {
                    let span = tracing::info_span!("tools/call", tool = %request.name);
                    // Just after start-up, servers that are still coming up get a moment,
                    // so the first search sees their tools.
                    self.shared
                        .catalog
                        .settle_starting(SEARCH_STARTUP_WAIT)
                        .await;
                    // Ranking is CPU work: off the async runtime, on the bounded pool.
                    let catalog = self.shared.catalog.clone();
                    let failed = CallToolResult::error(vec![ContentBlock::text(
                        "search failed inside the gateway",
                    )]);
                    codemode_catalog::blocking::run(
                        move || span.in_scope(|| search_result(&catalog, &args)),
                        failed,
                    )
                    .await
                }
                Err(message) => CallToolResult::error(vec![ContentBlock::text(message)]),
            },
            EXECUTE_TOOL => {
                // Parented to the client's span when its `_meta` names one.
                let span = trace::execute_span(arguments, &context.meta);
                let reply = self
                    .call_execute(&request, &context)
                    .instrument(span.clone())
                    .await;
                trace::record_refusal(&span, &reply);
                return reply;
            }
            other => {
                if let Some(direct) = &self.shared.direct {
                    let names = direct.settled().await.names_for(&context).await;
                    if let Some(named) = names.tool(other) {
                        let call = DirectCall {
                            direct,
                            catalog: &self.shared.catalog,
                            audit: self.shared.options.audit.as_ref(),
                            session: &self.session,
                            server: &named.server,
                            original: &named.original,
                            tool: &named.item,
                        };
                        return call.run(request, &context).await;
                    }
                }
                return Err(ErrorData::invalid_params(
                    format!("unknown tool {other:?}: this server has `search` and `execute`"),
                    None,
                ));
            }
        };
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let mut listed = resources::list(&self.shared.catalog);
        if let Some(direct) = &self.shared.direct {
            listed.extend(direct.settled().await.resources());
        }
        Ok(ListResourcesResult::with_all_items(listed))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let mut templates = resources::templates();
        if let Some(direct) = &self.shared.direct {
            templates.extend(direct.settled().await.templates());
        }
        Ok(ListResourceTemplatesResult::with_all_items(templates))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if let Some(contents) = resources::read(&self.shared.catalog, &request.uri) {
            return Ok(ReadResourceResult::new(vec![contents]).into());
        }
        let direct = (!request.uri.starts_with(resources::SCHEME))
            .then(|| self.shared.direct.as_ref())
            .flatten();
        if let Some(direct) = direct {
            if let Some(server) = direct.settled().await.owner_of(&request.uri) {
                return direct.upstreams().forward_read(&server, request).await;
            }
        }
        Err(ErrorData::resource_not_found(
            format!(
                "no resource {:?}; resources/list names them (codemode://types/<namespace>.d.ts)",
                request.uri
            ),
            None,
        ))
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let prompts = self
            .direct_or_not_found("prompts/list")?
            .settled()
            .await
            .names()
            .prompts
            .into_iter()
            .map(|named| named.item)
            .collect();
        Ok(ListPromptsResult::with_all_items(prompts))
    }

    async fn get_prompt(
        &self,
        mut request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let direct = self.direct_or_not_found("prompts/get")?;
        let names = direct.settled().await.names();
        let Some(named) = names.prompt(&request.name) else {
            return Err(ErrorData::invalid_params(
                format!("no prompt {:?}; prompts/list names them", request.name),
                None,
            ));
        };
        request.name = named.original.clone();
        direct
            .upstreams()
            .forward_prompt(&named.server, request)
            .await
    }

    async fn complete(
        &self,
        mut request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let direct = self.direct_or_not_found("completion/complete")?;
        let Some((server, reference)) = direct.settled().await.completion_target(&request.r#ref)
        else {
            // Nothing to complete for something no passthrough server offers.
            return Ok(CompleteResult::default());
        };
        request.r#ref = reference;
        direct.upstreams().forward_complete(&server, request).await
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let direct = self.direct_or_not_found("resources/subscribe")?;
        let server = self.resource_owner(direct.settled().await, &request.uri)?;
        if self.session.subscribe(&request.uri) {
            if let Err(err) = direct.subscribe(&server, &request.uri).await {
                self.session.unsubscribe(&request.uri);
                return Err(err);
            }
        }
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let direct = self.direct_or_not_found("resources/unsubscribe")?;
        let server = self.resource_owner(direct, &request.uri)?;
        if self.session.unsubscribe(&request.uri) {
            direct.unsubscribe(&server, &request.uri).await?;
        }
        Ok(())
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.session.set_log_level(request.level);
        Ok(())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let catalog = self.shared.catalog.clone();
        let peer = context.peer;
        let everything = self.everything();
        let prompts = everything.is_some();
        if let Some(direct) = everything {
            let events = direct.upstreams().direct_events();
            let session = Arc::downgrade(&self.session);
            let updates_peer = peer.clone();
            self.session.start_updates(move || {
                notify::spawn_resource_updates(events, session, updates_peer)
            });
        }
        self.session
            .start_watcher(move || notify::spawn_session_notifier(&catalog, peer, prompts));
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.supported_by(&self.get_info().capabilities))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        notify::listen(&self.shared.catalog, context).await;
        Ok(())
    }
}
