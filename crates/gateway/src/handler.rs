//! [`Gateway`]: the MCP server handler. It answers `tools/list` with the two tools,
//! `tools/call` by searching the catalogue or running a snippet in the sandbox, the
//! `resources/*` requests with the declarations, and `logging/setLevel`.

#![allow(deprecated)] // MCP logging is deprecated by SEP-2577, but 2025-11-25 clients use it.

use std::sync::Arc;
use std::time::Instant;

use codemode_catalog::{CallObserver, Catalog};
use codemode_sandbox::{Execution, Limits, LogLevel, ToolHost};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, LoggingLevel,
    LoggingMessageNotificationParam, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, ServerCapabilities, ServerConfig,
    SetLevelRequestParams, SubscriptionFilter, Tool,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::describe::{execute_tool, search_tool};
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
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            limits: Limits::default(),
            max_concurrent_executions: 16,
            isolation: Isolation::InProcess,
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
}

impl Gateway {
    pub fn new(catalog: Catalog, options: GatewayOptions) -> Gateway {
        let executor = Executor::new(
            &options.isolation,
            &options.limits,
            options.max_concurrent_executions,
        );
        Gateway {
            shared: Arc::new(Shared {
                catalog,
                options,
                executor,
                in_flight: Arc::default(),
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

    /// What `tools/list` answers now: `search` and `execute`.
    pub fn tools(&self) -> Vec<Tool> {
        vec![
            search_tool(),
            execute_tool(&self.shared.catalog, &self.shared.options.limits),
        ]
    }

    /// Runs a snippet as the `execute` tool does, without MCP around it.
    pub async fn execute(&self, code: &str) -> Execution {
        self.execute_observed(code, None).await
    }

    /// [`Gateway::execute`], telling `observer` about each call as it finishes and the
    /// progress its server reports.
    pub async fn execute_observed(
        &self,
        code: &str,
        observer: Option<Arc<dyn CallObserver>>,
    ) -> Execution {
        let Some(_in_flight) = self.shared.in_flight.enter() else {
            return shutting_down();
        };
        let host: Arc<dyn ToolHost> = match observer {
            Some(observer) => Arc::new(self.shared.catalog.observed(observer)),
            None => Arc::new(self.shared.catalog.clone()),
        };
        let limits = self.shared.options.limits.clone();
        self.shared.executor.run(code, host, limits).await
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
        arguments: Option<&rmcp::model::JsonObject>,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let code = match arguments.and_then(|a| a.get("code")) {
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
        let execution = tokio::select! {
            execution = self.execute_observed(code, observer) => execution,
            () = context.ct.cancelled() => {
                trace::record_cancelled();
                tracing::info!("execute cancelled by the client");
                return Err(ErrorData::internal_error("cancelled by the client", None));
            }
        };
        trace::record_execution(&execution);
        tracing::info!(
            ok = execution.is_ok(),
            calls = execution.calls.len(),
            ms = started.elapsed().as_millis() as u64,
            "execute"
        );
        self.forward_logs(&execution, &context.peer).await;
        Ok(execution_result(&execution))
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
        let capabilities = ServerCapabilities::builder()
            .enable_logging()
            .enable_resources()
            .enable_resources_list_changed()
            .enable_tools()
            .enable_tool_list_changed()
            .build();
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
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        match name {
            SEARCH_TOOL => Some(search_tool()),
            EXECUTE_TOOL => Some(execute_tool(
                &self.shared.catalog,
                &self.shared.options.limits,
            )),
            _ => None,
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
                    .call_execute(arguments, &context)
                    .instrument(span.clone())
                    .await;
                trace::record_refusal(&span, &reply);
                reply?
            }
            other => {
                return Err(ErrorData::invalid_params(
                    format!("unknown tool {other:?}: this server has `search` and `execute`"),
                    None,
                ))
            }
        };
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(resources::list(
            &self.shared.catalog,
        )))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(
            resources::templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        match resources::read(&self.shared.catalog, &request.uri) {
            Some(contents) => Ok(ReadResourceResult::new(vec![contents]).into()),
            None => Err(ErrorData::resource_not_found(
                format!(
                    "no resource {:?}; resources/list names them (codemode://types/<namespace>.d.ts)",
                    request.uri
                ),
                None,
            )),
        }
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
        self.session
            .start_watcher(move || notify::spawn_session_notifier(&catalog, peer));
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
