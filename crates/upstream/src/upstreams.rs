//! [`Upstreams`]: every configured server, its status, its tools, and calls to them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use rmcp::handler::client::progress::ProgressDispatcher;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, CancelledNotification,
    CancelledNotificationParam, ClientRequest, ContentBlock, InputRequiredResult, RequestId,
    ServerResult,
};
use rmcp::service::PeerRequestOptions;
use rmcp::{Peer, RoleClient, ServiceError};
use serde_json::{Map, Value};
use tokio::sync::{broadcast, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::json_kind;
use crate::config::{Config, ServerConfig, Transport};
use crate::direct::links::Links;
use crate::direct::relay::Relays;
use crate::direct::{DirectEvent, Surface};
use crate::error::{describe_service_error, CallError};
use crate::line_transport;
use crate::output::{self, OutputKind, OutputLimits, ToolOutput};
use crate::supervisor::Supervisor;
use crate::tools::ToolSet;
use crate::trace_context;
use codemode_catalog::ToolSpec;
use codemode_sandbox::ToolAnswer;

/// Beyond a server's startup timeout, how long [`Upstreams::wait_ready`] waits for its
/// supervisor to say how the attempt ended.
const STARTUP_WAIT_GRACE: Duration = Duration::from_secs(2);
/// A result with more text than this is converted on a blocking thread.
const LARGE_RESULT_BYTES: usize = 64 * 1024;
/// How long a call that lost its connection waits to learn why (the crash report).
const CRASH_REPORT_WAIT: Duration = Duration::from_secs(1);
/// Bound on `shutdown()` for one server, in case a supervisor is stuck.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(10);
/// Round trips one tool call may take when the server only asks to be called again with its
/// `requestState` (2026-07-28 multi-round-trip requests).
const MAX_STATE_ONLY_ROUNDS: usize = 8;

/// Tuning that is not part of the user's config file.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub restart: RestartPolicy,
    pub output: OutputLimits,
}

/// When a server that was running stops (a crashed stdio child, a closed connection), it is
/// restarted after `initial_backoff`, doubling per consecutive failure up to `max_backoff`.
/// After `max_restarts` consecutive failed restarts it is marked failed and left alone. A server
/// that stayed up for `stable_after` starts counting afresh. A server that fails its very first
/// start is not retried: that is a configuration problem to report, not a crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartPolicy {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub max_restarts: u32,
    pub stable_after: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_restarts: 5,
            stable_after: Duration::from_secs(60),
        }
    }
}

impl RestartPolicy {
    /// The wait before restart number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// The transport a server is reached by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    Stdio,
    StreamableHttp,
    /// Legacy HTTP+SSE, configured or fallen back to.
    Sse,
    /// None: the entry is invalid, so it was never started.
    Unconfigured,
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TransportKind::Stdio => "stdio",
            TransportKind::StreamableHttp => "Streamable HTTP",
            TransportKind::Sse => "HTTP+SSE",
            TransportKind::Unconfigured => "no transport",
        })
    }
}

/// Where a server is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerState {
    /// `"disabled": true` in the config.
    Disabled,
    Starting,
    Ready,
    /// It stopped and a restart is pending or under way; its last tool list is kept.
    Restarting {
        reason: String,
        attempt: u32,
    },
    /// It could not be started, kept crashing, or its config entry is invalid; `reason` says
    /// why. [`ServerStatus::retrying`] says whether it is still being tried.
    Failed {
        reason: String,
    },
    /// Shut down by [`Upstreams::shutdown`].
    Stopped,
}

/// One server's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStatus {
    pub name: String,
    pub transport: TransportKind,
    pub state: ServerState,
    /// Number of exposed tools (after the config's filter).
    pub tools: usize,
    /// The child process id, for a running stdio server.
    pub pid: Option<u32>,
    /// The MCP protocol version of the last connection, e.g. `2025-11-25` or `2026-07-28`;
    /// `None` until it first connects.
    pub protocol: Option<String>,
    /// What the server says it is for: its `serverInfo.description`, else its title, else
    /// the first line of its `instructions`. `None` until it first connects.
    pub description: Option<String>,
    /// How many times it has been restarted (or, never having come up, retried) so far.
    pub restarts: u32,
    /// For a `Failed` server that never came up: it is tried again with backoff, and joins
    /// when it answers. False once a crash loop was given up on, or for an invalid entry.
    pub retrying: bool,
    /// How long after [`Upstreams::launch`] it first became ready.
    pub ready_after: Option<Duration>,
    /// Tools served to the client directly (`"passthrough"`), of those it lists now.
    pub direct_tools: usize,
    /// Whether its resources, templates and prompts are served directly too
    /// (`"passthrough": true`).
    pub passes_everything: bool,
    /// Whether its tools are functions in `execute` (`"codeMode"`).
    pub code_mode: bool,
}

/// All upstream servers. Cheap to clone; clones share the servers. When the last clone is
/// dropped the servers are shut down in the background; [`Upstreams::shutdown`] does it and
/// waits.
#[derive(Clone)]
pub struct Upstreams {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) slots: Vec<Arc<Slot>>,
    /// Invalid config entries: listed, never started.
    broken: Vec<ServerStatus>,
    first_attempts: futures::future::Shared<futures::future::BoxFuture<'static, ()>>,
    generation: Arc<watch::Sender<u64>>,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    output: OutputLimits,
    /// What passthrough servers say outside calls (resource updates).
    pub(crate) events: broadcast::Sender<DirectEvent>,
}

/// One server: its config and its current snapshot (watched by waiting calls).
pub(crate) struct Slot {
    pub config: ServerConfig,
    pub snapshot: watch::Sender<Snapshot>,
    /// Passthrough connections for clients that can be asked things.
    pub links: Links,
}

#[derive(Clone)]
pub(crate) struct Snapshot {
    pub state: ServerState,
    pub transport: TransportKind,
    /// The live session, when `Ready`.
    pub session: Option<Session>,
    /// The last known exposed tools (kept while restarting, cleared when failed).
    pub tools: Arc<ToolSet>,
    /// What a passthrough entry serves directly (kept and cleared like `tools`).
    pub surface: Arc<Surface>,
    pub pid: Option<u32>,
    pub protocol: Option<String>,
    pub description: Option<String>,
    pub restarts: u32,
    pub retrying: bool,
    pub ready_after: Option<Duration>,
}

#[derive(Clone)]
pub(crate) struct Session {
    pub peer: Peer<RoleClient>,
    /// Distinguishes sessions across restarts.
    pub id: u64,
    /// Routes the server's `notifications/progress` to the call that asked for them.
    pub progress: ProgressDispatcher,
    /// Passed-through calls in flight on this connection.
    pub relays: Arc<Relays>,
}

/// Progress an upstream server reported for one call in flight.
#[derive(Debug, Clone, PartialEq)]
pub struct CallProgress {
    pub progress: f64,
    pub total: Option<f64>,
    pub message: Option<String>,
}

/// Where [`Upstreams::call_with_progress`] delivers a call's progress.
pub type ProgressCallback = Arc<dyn Fn(CallProgress) + Send + Sync>;

impl Upstreams {
    /// Starts every enabled server of `config` in parallel and returns once each is ready or
    /// has failed (each within its startup timeout). Failures are in [`Upstreams::servers`].
    pub async fn start(config: &Config) -> Upstreams {
        Upstreams::start_with(config, Options::default()).await
    }

    /// [`Upstreams::start`] with non-default [`Options`].
    pub async fn start_with(config: &Config, options: Options) -> Upstreams {
        let upstreams = Upstreams::launch(config, options);
        upstreams.first_attempts().await;
        upstreams
    }

    /// Starts every enabled server of `config` in the background and returns at once: each
    /// server's tools appear when it is ready (watch [`Upstreams::changes`]), and a call to a
    /// server that is still starting waits for it. Entries that are invalid are listed as
    /// failed with their reason. Needs a tokio runtime.
    pub fn launch(config: &Config, options: Options) -> Upstreams {
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (events, _) = broadcast::channel(256);
        let generation = Arc::new(watch::channel(0u64).0);
        let mut slots: Vec<Arc<Slot>> = Vec::new();
        let mut tasks = Vec::new();
        let mut first_attempts = Vec::new();
        for server in &config.servers {
            if slots.iter().any(|s| s.config.name == server.name) {
                tracing::warn!(server = %server.name, "duplicate server name; keeping the first entry");
                continue;
            }
            let state = if server.disabled {
                ServerState::Disabled
            } else {
                ServerState::Starting
            };
            let slot = Arc::new(Slot {
                config: server.clone(),
                snapshot: watch::channel(Snapshot {
                    state,
                    transport: configured_transport(&server.transport),
                    session: None,
                    tools: Arc::default(),
                    surface: Arc::default(),
                    pid: None,
                    protocol: None,
                    description: None,
                    restarts: 0,
                    retrying: false,
                    ready_after: None,
                })
                .0,
                links: Links::default(),
            });
            slots.push(slot.clone());
            if server.disabled {
                continue;
            }
            let (started, first_attempt) = oneshot::channel();
            first_attempts.push(first_attempt);
            let supervisor = Supervisor::new(
                slot,
                generation.clone(),
                shutdown_rx.clone(),
                options.restart.clone(),
                events.clone(),
            );
            tasks.push(tokio::spawn(supervisor.run(started)));
        }
        let broken = config
            .broken
            .iter()
            .filter(|entry| !slots.iter().any(|s| s.config.name == entry.name))
            .map(|entry| ServerStatus {
                name: entry.name.clone(),
                transport: TransportKind::Unconfigured,
                state: ServerState::Failed {
                    reason: format!("invalid config entry: {}", entry.reason),
                },
                tools: 0,
                pid: None,
                protocol: None,
                description: None,
                restarts: 0,
                retrying: false,
                ready_after: None,
                direct_tools: 0,
                passes_everything: false,
                code_mode: true,
            })
            .collect();
        // A dropped sender (a panicked supervisor) counts as done too.
        let first_attempts = futures::future::join_all(first_attempts)
            .map(|_| ())
            .boxed()
            .shared();
        Upstreams {
            inner: Arc::new(Inner {
                slots,
                broken,
                generation,
                shutdown,
                tasks: Mutex::new(tasks),
                output: options.output,
                first_attempts,
                events,
            }),
        }
    }

    /// Resolves once every enabled server has made its first attempt: it is ready, or
    /// failed with its reason (each within its startup timeout).
    pub async fn first_attempts(&self) {
        self.inner.first_attempts.clone().await;
    }

    /// Resolves once `server` is not starting any more (ready, failed, disabled or gone):
    /// what a call to a server that is still starting waits for.
    pub async fn wait_ready(&self, server: &str) {
        let Some(slot) = self.slot(server) else {
            return;
        };
        let mut snapshots = slot.snapshot.subscribe();
        let limit = slot.config.startup_timeout + STARTUP_WAIT_GRACE;
        let _ = tokio::time::timeout(
            limit,
            snapshots.wait_for(|s| s.state != ServerState::Starting),
        )
        .await;
    }

    /// The status of every configured server, in config order.
    pub fn servers(&self) -> Vec<ServerStatus> {
        self.inner
            .slots
            .iter()
            .map(|slot| {
                let snapshot = slot.snapshot.borrow();
                ServerStatus {
                    name: slot.config.name.clone(),
                    transport: snapshot.transport,
                    state: snapshot.state.clone(),
                    tools: snapshot.tools.len(),
                    pid: snapshot.pid,
                    protocol: snapshot.protocol.clone(),
                    description: snapshot.description.clone(),
                    restarts: snapshot.restarts,
                    retrying: snapshot.retrying,
                    ready_after: snapshot.ready_after,
                    direct_tools: snapshot.surface.tools.len(),
                    passes_everything: slot.config.passthrough.serves_everything(),
                    code_mode: slot.config.code_mode,
                }
            })
            .chain(self.inner.broken.iter().cloned())
            .collect()
    }

    /// Every exposed tool of every server that is ready (or restarting, with its last list),
    /// keyed by the server's config name. A server with no tools now is left out, and so is
    /// one taken out of code mode (`"codeMode": false`).
    pub fn tools(&self) -> BTreeMap<String, Vec<ToolSpec>> {
        self.inner
            .slots
            .iter()
            .filter(|slot| slot.config.code_mode)
            .filter_map(|slot| {
                let tools = slot.snapshot.borrow().tools.clone();
                let listed: Vec<ToolSpec> = tools.tools().cloned().collect();
                (!listed.is_empty()).then(|| (slot.config.name.clone(), listed))
            })
            .collect()
    }

    /// A counter that increases whenever the set of tools changes (a server became ready,
    /// refreshed its list after `notifications/tools/list_changed`, or failed).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.generation.subscribe()
    }

    /// Calls `tool` on `server` with `args` (an object, or `null` for none), giving up after
    /// `timeout` (further capped by the server's `callTimeoutMs`). Arguments are checked against
    /// the tool's `inputSchema` first. A server that is restarting is waited for within the
    /// same deadline. A call cut off by its deadline is cancelled on the server.
    pub async fn call(
        &self,
        server: &str,
        tool: &str,
        args: Value,
        timeout: Duration,
    ) -> Result<ToolOutput, CallError> {
        self.call_with_progress(server, tool, args, timeout, None)
            .await
    }

    /// [`Upstreams::call`], asking the server for progress (`_meta.progressToken`) when
    /// `progress` is given: each `notifications/progress` it sends for this call is handed
    /// to `progress` while the call runs.
    pub async fn call_with_progress(
        &self,
        server: &str,
        tool: &str,
        args: Value,
        timeout: Duration,
        progress: Option<ProgressCallback>,
    ) -> Result<ToolOutput, CallError> {
        let slot = self.slot(server).ok_or_else(|| CallError::UnknownServer {
            server: server.to_owned(),
            known: self
                .inner
                .slots
                .iter()
                .map(|s| s.config.name.clone())
                .collect(),
        })?;
        let timeout = slot
            .config
            .call_timeout
            .map_or(timeout, |cap| cap.min(timeout));
        let deadline = Instant::now() + timeout;
        let (session, tools) = ready_session(slot, deadline).await?;
        let Some(entry) = tools.get(tool) else {
            return Err(CallError::UnknownTool {
                server: server.to_owned(),
                tool: tool.to_owned(),
                hidden: tools.is_hidden(tool),
            });
        };
        let invalid = |message: String| CallError::InvalidArguments {
            server: server.to_owned(),
            tool: tool.to_owned(),
            message,
        };
        let args = match args {
            Value::Null => Value::Object(Map::new()),
            args @ Value::Object(_) => args,
            other => {
                return Err(invalid(format!(
                    "arguments must be an object, found {}",
                    json_kind(&other)
                )))
            }
        };
        if let Some(validator) = &entry.validator {
            validator.check(&args).map_err(invalid)?;
        }
        let Value::Object(arguments) = args else {
            return Err(invalid("arguments must be an object".to_owned()));
        };
        // The upstream's work joins the trace of this call (the catalogue's `tool_call` span).
        let request = trace_context::with_current(
            CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments),
        );
        let progress = progress.map(|callback| (session.progress.clone(), callback));
        // Dropping the request future at the deadline sends notifications/cancelled.
        let reply =
            tokio::time::timeout_at(deadline, call_tool(&session.peer, request, progress)).await;
        let protocol = |message: String| CallError::Protocol {
            server: server.to_owned(),
            tool: tool.to_owned(),
            message,
        };
        match reply {
            Err(_) => Err(CallError::Timeout {
                server: server.to_owned(),
                tool: tool.to_owned(),
                timeout,
            }),
            Ok(Ok(CallToolResponse::InputRequired(asked))) => Err(CallError::InputRequired {
                server: server.to_owned(),
                tool: tool.to_owned(),
                message: describe_input_required(&asked),
            }),
            Ok(Ok(CallToolResponse::Task(_))) => Err(protocol(
                "the server answered with a task (SEP-2663), which codemode did not ask for"
                    .to_owned(),
            )),
            Ok(Ok(CallToolResponse::Complete(mut result))) => {
                // Rule 2 of `output`, without copying: structured results are often the
                // large ones (hundreds of KB), and converting the whole result to wire
                // JSON first would copy them, and their text duplicate, twice.
                if result.is_error != Some(true) {
                    if let Some(raw) = line_transport::raw_structured(&mut result) {
                        return Ok(ToolOutput {
                            answer: ToolAnswer::Json(raw),
                            kind: OutputKind::Structured,
                        });
                    }
                    if let Some(value) = result.structured_content.take() {
                        return Ok(ToolOutput {
                            answer: ToolAnswer::Value(value),
                            kind: OutputKind::Structured,
                        });
                    }
                    // Rule 4, the common case, also without a copy: the one text block's
                    // text is handed on as it came (JSON is checked, not parsed).
                    if let [ContentBlock::Text(_)] = result.content.as_slice() {
                        if let Some(ContentBlock::Text(block)) = result.content.pop() {
                            let text = block.text;
                            return Ok(if text.len() > LARGE_RESULT_BYTES {
                                tokio::task::spawn_blocking(move || output::text_output(text))
                                    .await
                                    .map_err(|_| protocol("converting the result failed".into()))?
                            } else {
                                output::text_output(text)
                            });
                        }
                    }
                }
                let limits = self.inner.output;
                let size: usize = result
                    .content
                    .iter()
                    .filter_map(|block| block.as_text())
                    .map(|text| text.text.len())
                    .sum();
                let convert = move || {
                    let wire = serde_json::to_value(&result)
                        .map_err(|err| format!("unreadable result: {err}"))?;
                    Ok::<_, String>(ToolOutput::from_call_result(&wire, &limits))
                };
                // Parsing megabytes of JSON text is CPU work: off the async runtime.
                let converted = if size > LARGE_RESULT_BYTES {
                    tokio::task::spawn_blocking(convert)
                        .await
                        .unwrap_or_else(|_| Err("converting the result failed".to_owned()))
                } else {
                    convert()
                };
                converted
                    .map_err(protocol)?
                    .map_err(|message| CallError::Tool {
                        server: server.to_owned(),
                        tool: tool.to_owned(),
                        message,
                    })
            }
            Ok(Ok(other)) => Err(protocol(format!("unexpected reply: {other:?}"))),
            // The server was reached and refused the call: the tool's failure, or the
            // arguments' when it says so (-32602, invalid params).
            Ok(Err(ServiceError::McpError(error))) => {
                let message = format!("{} (JSON-RPC error {})", error.message, error.code.0);
                let (server, tool) = (server.to_owned(), tool.to_owned());
                Err(if error.code == rmcp::model::ErrorCode::INVALID_PARAMS {
                    CallError::InvalidArguments {
                        server,
                        tool,
                        message,
                    }
                } else {
                    CallError::Tool {
                        server,
                        tool,
                        message,
                    }
                })
            }
            Ok(Err(ServiceError::Timeout { .. })) => Err(CallError::Timeout {
                server: server.to_owned(),
                tool: tool.to_owned(),
                timeout,
            }),
            Ok(Err(err @ (ServiceError::TransportClosed | ServiceError::TransportSend(_)))) => {
                Err(CallError::Connection {
                    server: server.to_owned(),
                    tool: tool.to_owned(),
                    message: crash_report(slot, session.id, describe_service_error(&err)).await,
                })
            }
            Ok(Err(err)) => Err(protocol(describe_service_error(&err))),
        }
    }

    /// Stops every server (stdio children get the MCP shutdown sequence: stdin closed, then
    /// SIGTERM, then SIGKILL) and waits for them.
    pub async fn shutdown(self) {
        let _ = self.inner.shutdown.send(true);
        let tasks = match self.inner.tasks.lock() {
            Ok(mut tasks) => std::mem::take(&mut *tasks),
            Err(_) => Vec::new(),
        };
        for task in tasks {
            let _ = tokio::time::timeout(SHUTDOWN_LIMIT, task).await;
        }
    }

    fn slot(&self, server: &str) -> Option<&Arc<Slot>> {
        self.inner.slots.iter().find(|s| s.config.name == server)
    }
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self
            .inner
            .slots
            .iter()
            .map(|s| s.config.name.as_str())
            .collect();
        f.debug_struct("Upstreams")
            .field("servers", &names)
            .finish()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Supervisors also stop when this sender goes away; saying it is clearer.
        let _ = self.shutdown.send(true);
    }
}

fn configured_transport(transport: &Transport) -> TransportKind {
    match transport {
        Transport::Stdio(_) => TransportKind::Stdio,
        Transport::StreamableHttp(_) => TransportKind::StreamableHttp,
        Transport::Sse(_) => TransportKind::Sse,
    }
}

/// Waits (until `deadline`) for the server to be ready; its session and tools.
pub(crate) async fn ready_session(
    slot: &Slot,
    deadline: Instant,
) -> Result<(Session, Arc<ToolSet>), CallError> {
    let server = &slot.config.name;
    let unavailable = |reason: String| CallError::Unavailable {
        server: server.clone(),
        reason,
    };
    let mut snapshots = slot.snapshot.subscribe();
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        let waiting_for = match snapshot.state {
            ServerState::Ready => {
                if let Some(session) = snapshot.session {
                    return Ok((session, snapshot.tools));
                }
                "its session".to_owned()
            }
            ServerState::Starting => "it to start".to_owned(),
            ServerState::Restarting { reason, .. } => format!("a restart after: {reason}"),
            ServerState::Disabled => return Err(unavailable("disabled in the config".to_owned())),
            ServerState::Failed { reason } => return Err(unavailable(reason)),
            ServerState::Stopped => return Err(unavailable("shut down".to_owned())),
        };
        match tokio::time::timeout_at(deadline, snapshots.changed()).await {
            Ok(Ok(())) => continue,
            Ok(Err(_)) => return Err(unavailable("shut down".to_owned())),
            Err(_) => {
                return Err(unavailable(format!(
                    "still waiting for {waiting_for} when the call's deadline passed"
                )))
            }
        }
    }
}

/// What to tell a caller whose connection broke: the supervisor's account of the crash if it
/// arrives soon, else the transport's own error.
async fn crash_report(slot: &Slot, session: u64, transport_error: String) -> String {
    let mut snapshots = slot.snapshot.subscribe();
    let moved_on = async {
        snapshots
            .wait_for(|s| s.session.as_ref().map(|x| x.id) != Some(session))
            .await
            .map(|snapshot| snapshot.state.clone())
    };
    match tokio::time::timeout(CRASH_REPORT_WAIT, moved_on).await {
        Ok(Ok(ServerState::Restarting { reason, .. } | ServerState::Failed { reason })) => {
            format!("the server stopped: {reason}")
        }
        _ => transport_error,
    }
}

/// One tool call. A 2026-07-28 server may answer "input required" instead of a result; one
/// that asks for nothing but another round trip (only `requestState`) gets it, a few times.
/// With `progress`, each round's progress notifications go to the callback.
async fn call_tool(
    peer: &Peer<RoleClient>,
    mut request: CallToolRequestParams,
    progress: Option<(ProgressDispatcher, ProgressCallback)>,
) -> Result<CallToolResponse, ServiceError> {
    let mut reply = call_tool_once(peer, request.clone(), progress.as_ref()).await?;
    for _ in 1..MAX_STATE_ONLY_ROUNDS {
        let CallToolResponse::InputRequired(asked) = &reply else {
            break;
        };
        let asks_for_input = asked.input_requests.as_ref().is_some_and(|r| !r.is_empty());
        if asks_for_input || asked.request_state.is_none() {
            break;
        }
        request.request_state = asked.request_state.clone();
        reply = call_tool_once(peer, request.clone(), progress.as_ref()).await?;
    }
    Ok(reply)
}

/// One `tools/call` round trip. rmcp gives every request a progress token of its own; to
/// hear the server's progress for this call, subscribe to that token as soon as the request
/// is on its way. Dropping the future cancels the request on the server, as
/// `Peer::call_tool_once` does.
async fn call_tool_once(
    peer: &Peer<RoleClient>,
    request: CallToolRequestParams,
    progress: Option<&(ProgressDispatcher, ProgressCallback)>,
) -> Result<CallToolResponse, ServiceError> {
    let Some((dispatcher, callback)) = progress else {
        return peer.call_tool_once(request).await;
    };
    let handle = peer
        .send_request_with_option(
            ClientRequest::CallToolRequest(CallToolRequest::new(request)),
            PeerRequestOptions::no_options(),
        )
        .await?;
    let mut updates = dispatcher.subscribe(handle.progress_token.clone()).await;
    let mut abandoned = CancelOnDrop::new(peer.clone(), handle.id.clone());
    let response = handle.await_response();
    tokio::pin!(response);
    let result = loop {
        tokio::select! {
            result = &mut response => break result,
            Some(update) = updates.next() => callback(CallProgress {
                progress: update.progress,
                total: update.total,
                message: update.message,
            }),
        }
    };
    abandoned.disarm();
    match result? {
        ServerResult::CallToolResult(result) => Ok(CallToolResponse::Complete(result)),
        ServerResult::InputRequiredResult(result) => Ok(CallToolResponse::InputRequired(result)),
        ServerResult::CreateTaskResult(result) => Ok(CallToolResponse::Task(result)),
        ServerResult::EmptyResult(_) => Ok(CallToolResponse::Complete(Default::default())),
        _ => Err(ServiceError::UnexpectedResponse),
    }
}

/// Sends `notifications/cancelled` for a request whose caller went away before its answer.
pub(crate) struct CancelOnDrop {
    peer: Peer<RoleClient>,
    id: Option<RequestId>,
}

impl CancelOnDrop {
    pub(crate) fn new(peer: Peer<RoleClient>, id: RequestId) -> Self {
        CancelOnDrop { peer, id: Some(id) }
    }

    /// The answer came: nothing to cancel.
    pub(crate) fn disarm(&mut self) {
        self.id = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let peer = self.peer.clone();
        let notification = CancelledNotification::new(CancelledNotificationParam::new(
            Some(id),
            Some("request abandoned by the caller".into()),
        ));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = peer.send_notification(notification.into()).await;
            });
        }
    }
}

/// What an "input required" result asks for: each request's kind and, for a form, its
/// message (the text a user would have seen).
fn describe_input_required(asked: &InputRequiredResult) -> String {
    let requests = asked
        .input_requests
        .as_ref()
        .and_then(|requests| serde_json::to_value(requests).ok());
    let described: Vec<String> = match requests {
        Some(Value::Object(requests)) => requests
            .values()
            .map(|request| {
                let kind = match request.get("method").and_then(Value::as_str) {
                    Some("elicitation/create") => "a form for the user",
                    Some("sampling/createMessage") => "an LLM completion (sampling)",
                    Some("roots/list") => "the client's roots",
                    Some(other) => other,
                    None => "something unnamed",
                };
                match request.pointer("/params/message").and_then(Value::as_str) {
                    Some(message) => format!("{kind}: \"{message}\""),
                    None => kind.to_owned(),
                }
            })
            .collect(),
        _ => Vec::new(),
    };
    if described.is_empty() {
        format!("the server still asked for another round trip after {MAX_STATE_ONLY_ROUNDS} calls")
    } else {
        format!("the server asked for {}", described.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gateway shares one `Upstreams` across tasks and spawns calls.
    #[test]
    fn upstreams_and_its_futures_can_be_shared_across_tasks() {
        fn shareable<T: Send + Sync + Clone + 'static>() {}
        fn send<T: Send>(_: &T) {}
        shareable::<Upstreams>();
        let _ = |upstreams: Upstreams| {
            let call = async move {
                upstreams
                    .call("s", "t", Value::Null, Duration::from_secs(1))
                    .await
            };
            send(&call);
        };
    }

    #[test]
    fn restart_delay_doubles_up_to_the_cap() {
        let policy = RestartPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(700),
            ..RestartPolicy::default()
        };
        let delays: Vec<u128> = (1..=5).map(|n| policy.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 700, 700]);
        assert_eq!(policy.delay(200), Duration::from_millis(700));
    }
}
