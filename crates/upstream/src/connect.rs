//! Making one connection: start or reach the server, establish the protocol (the `initialize`
//! handshake of 2025-11-25, or `server/discover` of 2026-07-28, as the entry's [`Protocol`]
//! says), subscribe to tool-list changes where that takes a subscription, and list its tools,
//! all within the entry's startup timeout.

use std::time::Duration;

use rmcp::model::{ErrorCode, ProtocolVersion, Tool};
use rmcp::service::{
    ClientInitializeError, ClientLifecycleMode, ClientServiceExt, RunningService, Subscription,
};
use rmcp::{RoleClient, ServiceError, ServiceExt};
use tokio::time::Instant;

use crate::config::{HttpServer, Protocol, ServerConfig, StdioServer, Transport};
use crate::error::{describe_initialize_error, describe_service_error, ConnectError};
use crate::handler::Handler;
use crate::line_transport::LineTransport;
use crate::listen;
use crate::sse::LegacySseTransport;
use crate::stdio::{self, with_stderr, ChildProcess};
use crate::upstreams::TransportKind;

/// How long a failed child gets to show its exit status before we describe it.
const EXIT_SETTLE: Duration = Duration::from_millis(500);
/// The legacy-SSE probe after a failed Streamable HTTP `initialize` is a guess: it must not eat
/// the whole startup budget when the URL answers the GET with a stream that never says `endpoint`.
const SSE_PROBE_LIMIT: Duration = Duration::from_secs(5);

/// A live session (or, in 2026-07-28, a stateless connection) with its first tool list.
pub(crate) struct Connection {
    pub service: RunningService<RoleClient, Handler>,
    /// The process, for stdio servers.
    pub child: Option<ChildProcess>,
    /// The transport actually in use (Streamable HTTP may have fallen back to SSE).
    pub transport: TransportKind,
    /// The protocol version in use, e.g. `2025-11-25` or `2026-07-28`.
    pub protocol: String,
    pub tools: Vec<Tool>,
    /// How tool-list changes reach us.
    pub tool_changes: ToolChanges,
}

/// How a connection learns that the server's tool list changed.
pub(crate) enum ToolChanges {
    /// As notifications to the [`Handler`] (2025-11-25), or not at all (the server says its
    /// list never changes).
    Notified,
    /// On a `subscriptions/listen` stream (2026-07-28). It was opened before the first
    /// `tools/list`, so no change can fall between; `None` if that failed (it is retried).
    Subscribed(Option<Box<Subscription>>),
}

/// How to establish the protocol on one transport connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lifecycle {
    /// `initialize` only.
    Initialize,
    /// `server/discover` only.
    Discover,
    /// `server/discover`, falling back to `initialize` on the same connection when the server
    /// answers that it does not know it.
    DiscoverThenInitialize,
}

impl Lifecycle {
    fn mode(self) -> ClientLifecycleMode {
        match self {
            Lifecycle::Initialize => ClientLifecycleMode::Initialize,
            Lifecycle::Discover => ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
            Lifecycle::DiscoverThenInitialize => ClientLifecycleMode::Auto {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                legacy_version: None,
            },
        }
    }

    /// The request the failure of this lifecycle is about, for messages.
    fn first_request(self) -> &'static str {
        match self {
            Lifecycle::Initialize => "initialize",
            Lifecycle::Discover | Lifecycle::DiscoverThenInitialize => "server/discover",
        }
    }
}

pub(crate) async fn connect(
    config: &ServerConfig,
    handler: Handler,
) -> Result<Connection, ConnectError> {
    let timeout = config.startup_timeout;
    match &config.transport {
        Transport::Stdio(spec) => {
            connect_stdio(&config.name, spec, handler, config.protocol, timeout).await
        }
        Transport::StreamableHttp(server) => {
            let lifecycle = match config.protocol {
                // Over HTTP the discover probe costs one round trip that an older server
                // answers at once with an error.
                Protocol::Auto => Lifecycle::DiscoverThenInitialize,
                Protocol::Initialize => Lifecycle::Initialize,
                Protocol::Discover => Lifecycle::Discover,
            };
            within(
                timeout,
                connect_http(&config.name, server, handler, lifecycle),
            )
            .await
        }
        Transport::Sse(server) => within(timeout, connect_sse(&config.name, server, handler)).await,
    }
}

async fn within<F>(timeout: Duration, attempt: F) -> Result<Connection, ConnectError>
where
    F: std::future::Future<Output = Result<Connection, ConnectError>>,
{
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or(Err(ConnectError::StartupTimeout {
            timeout,
            stderr: None,
        }))
}

/// A connection whose protocol is established, before its tools are listed.
struct Established {
    service: RunningService<RoleClient, Handler>,
    protocol: String,
}

/// What the server said after the protocol was established.
struct Listing {
    tools: Vec<Tool>,
    tool_changes: ToolChanges,
}

impl Established {
    fn new(service: RunningService<RoleClient, Handler>) -> Self {
        let protocol = service
            .peer()
            .peer_info()
            .map(|info| info.protocol_version.to_string())
            .unwrap_or_default();
        Established { service, protocol }
    }

    /// Subscribes to tool-list changes if this connection needs a subscription for them, then
    /// lists the tools.
    async fn list(&self, server: &str) -> Result<Listing, ServiceError> {
        let peer = self.service.peer();
        let tool_changes = if listen::needed(peer) {
            ToolChanges::Subscribed(listen::open(server, peer).await.map(Box::new))
        } else {
            ToolChanges::Notified
        };
        let tools = peer.list_all_tools().await?;
        Ok(Listing {
            tools,
            tool_changes,
        })
    }

    fn into_connection(
        self,
        listing: Listing,
        child: Option<ChildProcess>,
        transport: TransportKind,
    ) -> Connection {
        Connection {
            service: self.service,
            child,
            transport,
            protocol: self.protocol,
            tools: listing.tools,
            tool_changes: listing.tool_changes,
        }
    }
}

/// Whether a server's answer to `initialize` says it speaks only the handshake-free era: it
/// rejects the version (2026-07-28's UNSUPPORTED_PROTOCOL_VERSION, listing what it supports)
/// or does not know the method at all.
fn refuses_initialize(err: &ClientInitializeError) -> bool {
    let ClientInitializeError::JsonRpcError(error) = err else {
        return false;
    };
    let lists_a_version_without_initialize = error
        .data
        .as_ref()
        .and_then(|data| data.get("supported"))
        .and_then(|supported| supported.as_array())
        .is_some_and(|versions| {
            // Versions are dates: any from NO_INITIALIZE on has no handshake.
            versions.iter().any(|v| {
                v.as_str()
                    .is_some_and(|v| v >= ProtocolVersion::NO_INITIALIZE.as_str())
            })
        });
    error.code == ErrorCode::UNSUPPORTED_PROTOCOL_VERSION
        || error.code == ErrorCode::METHOD_NOT_FOUND
        || lists_a_version_without_initialize
}

async fn connect_stdio(
    name: &str,
    spec: &StdioServer,
    handler: Handler,
    protocol: Protocol,
    timeout: Duration,
) -> Result<Connection, ConnectError> {
    let deadline = Instant::now() + timeout;
    let lifecycle = match protocol {
        Protocol::Auto | Protocol::Initialize => Lifecycle::Initialize,
        Protocol::Discover => Lifecycle::Discover,
    };
    match connect_stdio_once(name, spec, handler.clone(), lifecycle, deadline, timeout).await {
        Ok(connection) => Ok(connection),
        Err(failure) if protocol == Protocol::Auto && failure.refused_initialize => {
            // The child cannot switch eras mid-stream with every SDK, so start it afresh.
            tracing::info!(server = name, reason = %failure.error,
                "the server refused initialize; restarting it to speak 2026-07-28");
            connect_stdio_once(name, spec, handler, Lifecycle::Discover, deadline, timeout)
                .await
                .map_err(|retry| ConnectError::AfterRefusedInitialize {
                    refusal: failure.error.to_string(),
                    retry: Box::new(retry.error),
                })
        }
        Err(failure) => Err(failure.error),
    }
}

struct StdioFailure {
    error: ConnectError,
    /// The server answered `initialize` with a refusal that says it wants 2026-07-28.
    refused_initialize: bool,
}

/// Why the handshake of a stdio server failed, before the child's side of the story is added.
enum Handshake {
    Establish {
        detail: String,
        refused_initialize: bool,
    },
    ListTools(String),
}

async fn connect_stdio_once(
    name: &str,
    spec: &StdioServer,
    handler: Handler,
    lifecycle: Lifecycle,
    deadline: Instant,
    timeout: Duration,
) -> Result<Connection, StdioFailure> {
    let plain = |error: ConnectError| StdioFailure {
        error,
        refused_initialize: false,
    };
    let stdio::Spawned {
        mut child,
        stdout,
        stdin,
    } = stdio::spawn(name, spec).map_err(plain)?;
    let handshake = async {
        let service = handler
            .serve_with_lifecycle(LineTransport::new(stdout, stdin, name), lifecycle.mode())
            .await
            .map_err(|err| Handshake::Establish {
                detail: describe_initialize_error(&err, lifecycle.first_request()),
                refused_initialize: refuses_initialize(&err),
            })?;
        let established = Established::new(service);
        let listing = established
            .list(name)
            .await
            .map_err(|err| Handshake::ListTools(describe_service_error(&err)))?;
        Ok((established, listing))
    };
    let failure = match tokio::time::timeout_at(deadline, handshake).await {
        Ok(Ok((established, listing))) => {
            return Ok(established.into_connection(listing, Some(child), TransportKind::Stdio))
        }
        Ok(Err(failure)) => failure,
        Err(_) => {
            child.stop().await;
            let tail = child.stderr_tail().await;
            return Err(plain(ConnectError::StartupTimeout {
                timeout,
                stderr: (!tail.is_empty()).then_some(tail),
            }));
        }
    };
    if let Handshake::Establish {
        detail,
        refused_initialize: true,
    } = failure
    {
        // Its answer is the story; whether it then exited does not matter.
        child.stop().await;
        return Err(StdioFailure {
            error: ConnectError::StdioHandshake { detail },
            refused_initialize: true,
        });
    }
    // A child that died explains the failure better than the protocol error does.
    let exited = child.exit_status(EXIT_SETTLE).await;
    child.stop().await;
    let tail = child.stderr_tail().await;
    Err(plain(match (failure, exited) {
        (_, Some(status)) => ConnectError::StdioHandshake {
            detail: with_stderr(format!("process exited ({status})"), &tail),
        },
        (Handshake::Establish { detail, .. }, None) => ConnectError::StdioHandshake {
            detail: with_stderr(detail, &tail),
        },
        (Handshake::ListTools(err), None) => ConnectError::ListTools {
            detail: with_stderr(err, &tail),
        },
    }))
}

async fn connect_http(
    name: &str,
    server: &HttpServer,
    handler: Handler,
    lifecycle: Lifecycle,
) -> Result<Connection, ConnectError> {
    let client = crate::http::client(&server.url)?;
    let transport = crate::http::streamable_transport(client.clone(), server)?;
    let service = match handler
        .clone()
        .serve_with_lifecycle(transport, lifecycle.mode())
        .await
    {
        Ok(service) => service,
        Err(err) => {
            let streamable = describe_initialize_error(&err, lifecycle.first_request());
            if lifecycle == Lifecycle::Discover {
                // A 2026-07-28 server is never an HTTP+SSE one: nothing to fall back to.
                return Err(http_error(server, streamable));
            }
            // Per the spec's backwards-compatibility rule: a server that rejects the
            // initialize POST may be an old HTTP+SSE server; a GET tells.
            let probe =
                tokio::time::timeout(SSE_PROBE_LIMIT, LegacySseTransport::connect(client, server));
            match probe.await {
                Ok(Ok(sse)) => {
                    tracing::info!(url = %server.url, reason = %streamable,
                        "no Streamable HTTP here; using the legacy HTTP+SSE transport");
                    return serve_sse(name, server, handler, sse).await;
                }
                Ok(Err(probe)) => {
                    tracing::debug!(url = %server.url, %probe, "legacy HTTP+SSE probe failed too");
                    return Err(http_error(server, streamable));
                }
                Err(_) => return Err(http_error(server, streamable)),
            }
        }
    };
    let established = Established::new(service);
    let listing = established.list(name).await.map_err(list_tools_error)?;
    Ok(established.into_connection(listing, None, TransportKind::StreamableHttp))
}

/// The legacy HTTP+SSE transport (2024-11-05) has only the `initialize` handshake.
async fn connect_sse(
    name: &str,
    server: &HttpServer,
    handler: Handler,
) -> Result<Connection, ConnectError> {
    let client = crate::http::client(&server.url)?;
    let sse = LegacySseTransport::connect(client, server)
        .await
        .map_err(|err| http_error(server, format!("legacy HTTP+SSE: {err}")))?;
    serve_sse(name, server, handler, sse).await
}

async fn serve_sse(
    name: &str,
    server: &HttpServer,
    handler: Handler,
    sse: LegacySseTransport,
) -> Result<Connection, ConnectError> {
    let service = handler.serve(sse).await.map_err(|err| {
        http_error(
            server,
            format!(
                "legacy HTTP+SSE: {}",
                describe_initialize_error(&err, "initialize")
            ),
        )
    })?;
    let established = Established::new(service);
    let listing = established.list(name).await.map_err(list_tools_error)?;
    Ok(established.into_connection(listing, None, TransportKind::Sse))
}

fn http_error(server: &HttpServer, detail: String) -> ConnectError {
    ConnectError::Http {
        url: server.url.clone(),
        detail,
    }
}

fn list_tools_error(err: ServiceError) -> ConnectError {
    ConnectError::ListTools {
        detail: describe_service_error(&err),
    }
}
