//! One task per server: connect, publish its tools, follow `list_changed`, notice when it
//! stops, restart it with backoff, and end it on shutdown.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, oneshot, watch, Notify};
use tokio::time::Instant;

use crate::connect::{connect, Connection, ToolChanges};
use crate::direct::relay::Relays;
use crate::direct::surface::{direct_tools, list_the_rest};
use crate::direct::{DirectEvent, Surface};
use crate::handler::Handler;
use crate::listen;
use crate::tools::ToolSet;
use crate::upstreams::{RestartPolicy, ServerState, Session, Slot};

/// How long an orderly close of a session may take before the process is ended regardless.
const CLOSE_LIMIT: Duration = Duration::from_secs(3);

static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

pub(crate) struct Supervisor {
    slot: Arc<Slot>,
    generation: Arc<watch::Sender<u64>>,
    shutdown: watch::Receiver<bool>,
    policy: RestartPolicy,
    events: broadcast::Sender<DirectEvent>,
    /// When the servers were launched, for [`crate::ServerStatus::ready_after`].
    launched: Instant,
}

/// What tells a session's loop that a list changed.
struct Changes {
    tools: Arc<Notify>,
    /// Resources or prompts (passthrough entries re-list them).
    surface: Arc<Notify>,
}

/// How a session ended.
enum Ended {
    Shutdown,
    Stopped { reason: String },
}

impl Supervisor {
    pub(crate) fn new(
        slot: Arc<Slot>,
        generation: Arc<watch::Sender<u64>>,
        shutdown: watch::Receiver<bool>,
        policy: RestartPolicy,
        events: broadcast::Sender<DirectEvent>,
    ) -> Self {
        Supervisor {
            slot,
            generation,
            shutdown,
            policy,
            events,
            launched: Instant::now(),
        }
    }

    fn name(&self) -> &str {
        &self.slot.config.name
    }

    /// Runs until shutdown or until the server is given up on. `started` is signalled after the
    /// first attempt, whatever its outcome.
    pub(crate) async fn run(mut self, started: oneshot::Sender<()>) {
        let mut started = Some(started);
        // Consecutive failures (crashes and failed restarts) since the server was last stable.
        let mut failures = 0u32;
        // Failed attempts of a server that has never come up.
        let mut never_up = 0u32;
        let mut ever_ready = false;
        loop {
            let tools_changed = Arc::new(Notify::new());
            let surface_changed = Arc::new(Notify::new());
            let handler = Handler::new(self.name(), tools_changed.clone())
                .reporting(surface_changed.clone(), self.events.clone());
            let relays = handler.relays();
            let attempt = tokio::select! {
                attempt = connect(&self.slot.config, handler) => attempt,
                _ = shutdown_requested(&mut self.shutdown) => {
                    self.set_state(ServerState::Stopped);
                    return;
                }
            };
            let reason = match attempt {
                Ok(connection) => {
                    ever_ready = true;
                    let up_since = Instant::now();
                    let changes = Changes {
                        tools: tools_changed.clone(),
                        surface: surface_changed.clone(),
                    };
                    let ended = self.serve(connection, relays, &changes, &mut started).await;
                    // The connections opened for clients end with the one they mirror.
                    self.slot.links.close_all().await;
                    match ended {
                        Ended::Shutdown => {
                            self.set_state(ServerState::Stopped);
                            return;
                        }
                        Ended::Stopped { reason } => {
                            if up_since.elapsed() >= self.policy.stable_after {
                                failures = 0;
                            }
                            tracing::warn!("upstream `{}` stopped: {reason}", self.name());
                            reason
                        }
                    }
                }
                Err(err) if !ever_ready => {
                    // Never came up: unavailable with its reason, and tried again with
                    // backoff for as long as the gateway runs (a server that starts late,
                    // a network that comes back). Said once; retries are quiet.
                    never_up += 1;
                    let reason = err.to_string();
                    if never_up == 1 {
                        tracing::error!("upstream `{}` is unavailable: {reason}", self.name());
                    } else {
                        tracing::debug!(
                            "upstream `{}` is still unavailable: {reason}",
                            self.name()
                        );
                    }
                    self.mark_unavailable(reason, never_up == 1);
                    if let Some(started) = started.take() {
                        let _ = started.send(());
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(self.policy.delay(never_up)) => {}
                        _ = shutdown_requested(&mut self.shutdown) => {
                            self.set_state(ServerState::Stopped);
                            return;
                        }
                    }
                    self.slot.snapshot.send_modify(|s| s.restarts += 1);
                    continue;
                }
                Err(err) => {
                    let reason = err.to_string();
                    tracing::warn!("upstream `{}`: restart failed: {reason}", self.name());
                    reason
                }
            };
            failures += 1;
            if failures > self.policy.max_restarts {
                let reason = format!(
                    "crash loop: gave up after {} restarts in a row; last: {reason}",
                    self.policy.max_restarts
                );
                tracing::error!("upstream `{}` is unavailable: {reason}", self.name());
                self.give_up(reason);
                return;
            }
            self.slot.snapshot.send_modify(|s| {
                s.state = ServerState::Restarting {
                    reason,
                    attempt: failures,
                };
                s.session = None;
                s.pid = None;
            });
            tokio::select! {
                _ = tokio::time::sleep(self.policy.delay(failures)) => {}
                _ = shutdown_requested(&mut self.shutdown) => {
                    self.set_state(ServerState::Stopped);
                    return;
                }
            }
            self.slot.snapshot.send_modify(|s| s.restarts += 1);
        }
    }

    /// Publishes a live connection (then signals `started`, if still pending) and follows it
    /// until it ends.
    async fn serve(
        &mut self,
        connection: Connection,
        relays: Arc<Relays>,
        changes: &Changes,
        started: &mut Option<oneshot::Sender<()>>,
    ) -> Ended {
        let tools_changed = &changes.tools;
        let Connection {
            service,
            mut child,
            transport,
            protocol,
            tools,
            tool_changes,
        } = connection;
        let peer = service.peer().clone();
        let description = peer.peer_info().and_then(|info| describe_server(&info));
        let session = Session {
            peer: peer.clone(),
            id: NEXT_SESSION.fetch_add(1, Ordering::Relaxed),
            progress: service.service().progress(),
            relays,
        };
        let mut surface = Surface {
            tools: direct_tools(&self.slot.config, &tools),
            ..Surface::default()
        };
        list_the_rest(self.name(), &self.slot.config, &peer, &mut surface).await;
        let tools = Arc::new(ToolSet::build(self.name(), &self.slot.config.tools, tools));
        tracing::info!(
            "upstream `{}` ready: {} tools over {transport}, MCP {protocol}",
            self.name(),
            tools.len()
        );
        let since_launch = self.launched.elapsed();
        self.slot.snapshot.send_modify(|s| {
            s.state = ServerState::Ready;
            s.retrying = false;
            s.ready_after.get_or_insert(since_launch);
            s.transport = transport;
            s.session = Some(session);
            s.tools = tools;
            s.surface = Arc::new(surface);
            s.pid = child.as_ref().and_then(|c| c.pid());
            s.protocol = Some(protocol);
            s.description = description;
        });
        self.tools_changed();
        if let Some(started) = started.take() {
            let _ = started.send(());
        }

        // On a 2026-07-28 connection, list changes arrive on a subscription that has to be
        // read (and renewed); dropping this future at the end of the session cancels it.
        let mut following: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
            match tool_changes {
                ToolChanges::Subscribed(subscription) => Box::pin(listen::follow(
                    self.name().into(),
                    peer.clone(),
                    subscription,
                    tools_changed.clone(),
                )),
                ToolChanges::Notified => Box::pin(std::future::pending()),
            };

        let cancel = service.cancellation_token();
        let closed = service.waiting();
        tokio::pin!(closed);
        loop {
            tokio::select! {
                () = &mut following => {}
                quit = &mut closed => {
                    let reason = match child.as_mut() {
                        Some(child) => {
                            let reason = child.describe_exit().await;
                            child.stop().await;
                            reason
                        }
                        None => match quit {
                            Ok(quit) => format!("the connection closed ({})", describe_quit(&quit)),
                            Err(err) => format!("the session task failed: {err}"),
                        },
                    };
                    return Ended::Stopped { reason };
                }
                _ = shutdown_requested(&mut self.shutdown) => {
                    // Closing the session closes the child's stdin (or ends the HTTP session).
                    cancel.cancel();
                    let _ = tokio::time::timeout(CLOSE_LIMIT, &mut closed).await;
                    if let Some(child) = child.as_mut() {
                        child.stop().await;
                    }
                    return Ended::Shutdown;
                }
                _ = changes.surface.notified(), if self.slot.config.passthrough.serves_everything() => {
                    let mut surface = (*self.slot.snapshot.borrow().surface).clone();
                    list_the_rest(self.name(), &self.slot.config, &peer, &mut surface).await;
                    tracing::info!("upstream `{}`: resources or prompts changed", self.name());
                    self.slot.snapshot.send_modify(|s| s.surface = Arc::new(surface));
                    self.tools_changed();
                }
                _ = tools_changed.notified() => {
                    let listing = tokio::time::timeout(self.slot.config.startup_timeout, peer.list_all_tools()).await;
                    match listing {
                        Ok(Ok(tools)) => {
                            let direct = direct_tools(&self.slot.config, &tools);
                            let tools = Arc::new(ToolSet::build(self.name(), &self.slot.config.tools, tools));
                            tracing::info!("upstream `{}`: tool list changed ({} tools)", self.name(), tools.len());
                            self.slot.snapshot.send_modify(|s| {
                                s.tools = tools;
                                let mut surface = (*s.surface).clone();
                                surface.tools = direct;
                                s.surface = Arc::new(surface);
                            });
                            self.tools_changed();
                        }
                        Ok(Err(err)) => tracing::warn!("upstream `{}`: cannot refresh the tool list after list_changed: {}",
                            self.name(), crate::error::describe_service_error(&err)),
                        Err(_) => tracing::warn!("upstream `{}`: tools/list did not answer after list_changed",
                            self.name()),
                    }
                }
            }
        }
    }

    fn give_up(&self, reason: String) {
        self.slot.snapshot.send_modify(|s| {
            s.state = ServerState::Failed { reason };
            s.retrying = false;
            s.session = None;
            s.pid = None;
            s.tools = Arc::default();
            s.surface = Arc::default();
        });
        self.tools_changed();
    }

    /// A server that never came up failed again; it will be retried. Only the first failure
    /// changes what the catalogue shows (later ones would make every client re-list tools
    /// each time a retry fails); the reason itself is kept current.
    fn mark_unavailable(&self, reason: String, first: bool) {
        self.slot.snapshot.send_modify(|s| {
            s.state = ServerState::Failed { reason };
            s.retrying = true;
            s.session = None;
            s.pid = None;
            s.tools = Arc::default();
            s.surface = Arc::default();
        });
        if first {
            self.tools_changed();
        }
    }

    fn set_state(&self, state: ServerState) {
        self.slot.snapshot.send_modify(|s| {
            s.state = state;
            s.session = None;
            s.pid = None;
        });
    }

    fn tools_changed(&self) {
        self.generation.send_modify(|g| *g += 1);
    }
}

/// Why rmcp's session loop ended, in words.
fn describe_quit(quit: &rmcp::service::QuitReason) -> String {
    use rmcp::service::QuitReason;
    match quit {
        QuitReason::Cancelled => "cancelled".to_owned(),
        QuitReason::Closed => "the server closed it".to_owned(),
        QuitReason::JoinError(err) => format!("the session task failed: {err}"),
        _ => "it ended".to_owned(),
    }
}

/// Resolves once shutdown is requested, or the [`crate::Upstreams`] is gone.
async fn shutdown_requested(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// One line saying what a server is for, from what it said at connection time: the agent
/// sees it beside the server's namespace.
fn describe_server(info: &rmcp::model::ServerPeerInfo) -> Option<String> {
    const MAX_CHARS: usize = 200;
    let server = info.server_info.as_ref();
    let text = server
        .and_then(|s| s.description.as_deref().or(s.title.as_deref()))
        .or_else(|| {
            info.instructions
                .as_deref()
                .and_then(|text| text.lines().map(str::trim).find(|line| !line.is_empty()))
        })?
        .trim();
    if text.is_empty() {
        return None;
    }
    Some(text.chars().take(MAX_CHARS).collect())
}
