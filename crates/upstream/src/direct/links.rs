//! Connections for clients that can be asked things. The connection a server's supervisor
//! keeps declares no client capabilities, since `execute`'s snippets cannot answer a server's
//! questions. A passed-through call from a client that declares sampling, elicitation or
//! roots takes a connection of its own that declares exactly those, opened on first use and
//! shared by every client that declares the same; so a server is never told of a capability
//! the calling client lacks.
//!
//! A link also speaks the calling client's era when the server speaks both: a 2025-11-25
//! client's calls go over an `initialize` session, where the server may ask mid-call and
//! takes resource subscriptions, even when the supervisor's own connection is 2026-07-28.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::FutureExt;
use rmcp::handler::client::progress::ProgressDispatcher;
use rmcp::model::{ClientCapabilities, Tool};
use rmcp::service::RunningService;
use rmcp::{Peer, RoleClient};
use tokio::sync::{broadcast, Notify};

use crate::config::Protocol;
use crate::connect::connect;
use crate::direct::relay::{capability_key, Relays};
use crate::direct::DirectEvent;
use crate::handler::Handler;
use crate::stdio::ChildProcess;
use crate::upstreams::Slot;

/// One connection a passed-through call can use.
#[derive(Clone)]
pub(crate) struct Route {
    pub peer: Peer<RoleClient>,
    pub progress: ProgressDispatcher,
    pub relays: Arc<Relays>,
}

/// Which era the calling client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Era {
    /// 2025-11-25 and before: a session, requests mid-call.
    Session,
    /// 2026-07-28: no session; questions come back as input-required results.
    Stateless,
}

impl Era {
    pub(crate) fn of(stateless: bool) -> Era {
        if stateless {
            Era::Stateless
        } else {
            Era::Session
        }
    }
}

/// The extra connections of one server, by era and declared capabilities.
#[derive(Default)]
pub(crate) struct Links {
    open: tokio::sync::Mutex<HashMap<String, Arc<Link>>>,
    /// The server refused an `initialize` session once; links then take whatever it speaks.
    no_sessions: AtomicBool,
}

struct Link {
    route: Route,
    /// The tools this connection lists: a server may offer a client that can be asked, or
    /// one of another era, tools it offers no other (tools registered on capabilities).
    tools: std::sync::Mutex<Vec<Tool>>,
    /// Signalled by the link's handler when the server says its tool list changed.
    tools_changed: Arc<Notify>,
    // Held for their lifetime: dropping the service closes the connection, dropping the
    // child ends the process.
    _service: RunningService<RoleClient, Handler>,
    _child: Option<ChildProcess>,
}

impl Links {
    /// Whether a session-era link can still be had: the entry lets the era be chosen and the
    /// server has not refused an `initialize` session.
    pub(crate) fn sessions_possible(&self, slot: &Slot) -> bool {
        slot.config.protocol == Protocol::Auto && !self.no_sessions.load(Ordering::Relaxed)
    }

    /// The connection in `era` declaring `capabilities` (already reduced to what can be
    /// relayed), opened now if there is none or it closed.
    pub(crate) async fn route(
        &self,
        slot: &Slot,
        era: Era,
        capabilities: ClientCapabilities,
        events: broadcast::Sender<DirectEvent>,
    ) -> Result<Route, String> {
        let link = self.link(slot, era, capabilities, events).await?;
        Ok(link.route.clone())
    }

    /// The tools the connection in `era` declaring `capabilities` lists now (re-listed when
    /// the server said its list changed).
    pub(crate) async fn tools(
        &self,
        slot: &Slot,
        era: Era,
        capabilities: ClientCapabilities,
        events: broadcast::Sender<DirectEvent>,
    ) -> Result<Vec<Tool>, String> {
        let link = self.link(slot, era, capabilities, events).await?;
        if link.tools_changed.notified().now_or_never().is_some() {
            match link.route.peer.list_all_tools().await {
                Ok(tools) => *lock(&link.tools) = tools,
                Err(err) => tracing::warn!(server = %slot.config.name, error = %err,
                    "passthrough: cannot re-list a client connection's tools; keeping the last list"),
            }
        }
        let tools = lock(&link.tools).clone();
        Ok(tools)
    }

    async fn link(
        &self,
        slot: &Slot,
        era: Era,
        capabilities: ClientCapabilities,
        events: broadcast::Sender<DirectEvent>,
    ) -> Result<Arc<Link>, String> {
        let era = if era == Era::Session && !self.sessions_possible(slot) {
            Era::Stateless
        } else {
            era
        };
        let key = format!("{era:?}:{}", capability_key(&capabilities));
        let mut open = self.open.lock().await;
        if let Some(link) = open.get(&key) {
            if !link.route.peer.is_transport_closed() {
                return Ok(link.clone());
            }
            open.remove(&key);
        }
        let server = &slot.config.name;
        let tools_changed = Arc::new(Notify::new());
        let handler = || {
            Handler::new(server, tools_changed.clone())
                .declaring(capabilities.clone())
                .reporting(Arc::new(Notify::new()), events.clone())
        };
        let (connection, handler) = match era {
            // "auto" prefers 2026-07-28; a session-era client needs the session if the
            // server has one.
            Era::Session => {
                let mut config = slot.config.clone();
                config.protocol = Protocol::Initialize;
                let handler = handler();
                match connect(&config, handler.clone()).await {
                    Ok(connection) => (Ok(connection), handler),
                    Err(err) => {
                        tracing::info!(server = %server, reason = %err,
                            "passthrough: no initialize session; using what the server speaks");
                        self.no_sessions.store(true, Ordering::Relaxed);
                        (connect(&slot.config, handler.clone()).await, handler)
                    }
                }
            }
            Era::Stateless => {
                let handler = handler();
                (connect(&slot.config, handler.clone()).await, handler)
            }
        };
        let connection =
            connection.map_err(|err| format!("cannot open a connection for this client: {err}"))?;
        let relays = handler.relays();
        let progress = handler.progress();
        tracing::info!(server = %server, key = %key, protocol = %connection.protocol,
            "passthrough: opened a connection for the calling client's era and capabilities");
        let route = Route {
            peer: connection.service.peer().clone(),
            progress,
            relays,
        };
        let link = Arc::new(Link {
            route,
            tools: std::sync::Mutex::new(connection.tools),
            tools_changed,
            _service: connection.service,
            _child: connection.child,
        });
        open.insert(key, link.clone());
        Ok(link)
    }

    /// Closes every extra connection (on shutdown, or when the server restarts).
    pub(crate) async fn close_all(&self) {
        self.open.lock().await.clear();
    }
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
