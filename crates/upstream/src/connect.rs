//! Making one connection: start or reach the server, run `initialize`, list its tools, all
//! within the entry's startup timeout.

use std::future::Future;
use std::time::Duration;

use rmcp::model::Tool;
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};

use crate::config::{HttpServer, ServerConfig, StdioServer, Transport};
use crate::error::{describe_initialize_error, describe_service_error, ConnectError};
use crate::handler::Handler;
use crate::sse::LegacySseTransport;
use crate::stdio::{self, with_stderr, ChildProcess};
use crate::upstreams::TransportKind;

/// How long a failed child gets to show its exit status before we describe it.
const EXIT_SETTLE: Duration = Duration::from_millis(500);
/// The legacy-SSE probe after a failed Streamable HTTP `initialize` is a guess: it must not eat
/// the whole startup budget when the URL answers the GET with a stream that never says `endpoint`.
const SSE_PROBE_LIMIT: Duration = Duration::from_secs(5);

/// A live, initialized session with its first tool list.
pub(crate) struct Connection {
    pub service: RunningService<RoleClient, Handler>,
    /// The process, for stdio servers.
    pub child: Option<ChildProcess>,
    /// The transport actually in use (Streamable HTTP may have fallen back to SSE).
    pub transport: TransportKind,
    pub tools: Vec<Tool>,
}

pub(crate) async fn connect(
    config: &ServerConfig,
    handler: Handler,
) -> Result<Connection, ConnectError> {
    let timeout = config.startup_timeout;
    match &config.transport {
        Transport::Stdio(spec) => connect_stdio(&config.name, spec, handler, timeout).await,
        Transport::StreamableHttp(server) => {
            within(timeout, connect_http(server, handler, true)).await
        }
        Transport::Sse(server) => within(timeout, connect_http(server, handler, false)).await,
    }
}

async fn within<F>(timeout: Duration, attempt: F) -> Result<Connection, ConnectError>
where
    F: Future<Output = Result<Connection, ConnectError>>,
{
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or(Err(ConnectError::StartupTimeout {
            timeout,
            stderr: None,
        }))
}

/// Why the handshake of a stdio server failed, before the child's side of the story is added.
enum Handshake {
    Initialize(String),
    ListTools(String),
}

async fn connect_stdio(
    name: &str,
    spec: &StdioServer,
    handler: Handler,
    timeout: Duration,
) -> Result<Connection, ConnectError> {
    let stdio::Spawned {
        mut child,
        stdout,
        stdin,
    } = stdio::spawn(name, spec)?;
    let handshake = async {
        let service = handler
            .serve((stdout, stdin))
            .await
            .map_err(|err| Handshake::Initialize(describe_initialize_error(&err)))?;
        let tools = service
            .peer()
            .list_all_tools()
            .await
            .map_err(|err| Handshake::ListTools(describe_service_error(&err)))?;
        Ok((service, tools))
    };
    let failure = match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok((service, tools))) => {
            return Ok(Connection {
                service,
                child: Some(child),
                transport: TransportKind::Stdio,
                tools,
            })
        }
        Ok(Err(failure)) => failure,
        Err(_) => {
            child.stop().await;
            let tail = child.stderr_tail().await;
            return Err(ConnectError::StartupTimeout {
                timeout,
                stderr: (!tail.is_empty()).then_some(tail),
            });
        }
    };
    // A child that died explains the failure better than the protocol error does.
    let exited = child.exit_status(EXIT_SETTLE).await;
    child.stop().await;
    let tail = child.stderr_tail().await;
    Err(match (failure, exited) {
        (Handshake::Initialize(_) | Handshake::ListTools(_), Some(status)) => {
            ConnectError::StdioHandshake {
                detail: with_stderr(format!("process exited ({status})"), &tail),
            }
        }
        (Handshake::Initialize(err), None) => ConnectError::StdioHandshake {
            detail: with_stderr(err, &tail),
        },
        (Handshake::ListTools(err), None) => ConnectError::ListTools {
            detail: with_stderr(err, &tail),
        },
    })
}

async fn connect_http(
    server: &HttpServer,
    handler: Handler,
    may_fall_back_to_sse: bool,
) -> Result<Connection, ConnectError> {
    let client = crate::http::client(&server.url)?;
    let http_error = |detail: String| ConnectError::Http {
        url: server.url.clone(),
        detail,
    };
    let (service, transport) = if may_fall_back_to_sse {
        let transport = crate::http::streamable_transport(client.clone(), server)?;
        match handler.clone().serve(transport).await {
            Ok(service) => (service, TransportKind::StreamableHttp),
            Err(err) => {
                let streamable = describe_initialize_error(&err);
                // Per the spec's backwards-compatibility rule: a server that rejects the
                // initialize POST may be an old HTTP+SSE server; a GET tells.
                let probe = tokio::time::timeout(
                    SSE_PROBE_LIMIT,
                    LegacySseTransport::connect(client, server),
                );
                match probe.await {
                    Ok(Ok(sse)) => {
                        tracing::info!(url = %server.url, reason = %streamable,
                            "no Streamable HTTP here; using the legacy HTTP+SSE transport");
                        let service = handler.serve(sse).await.map_err(|err| {
                            http_error(format!(
                                "legacy HTTP+SSE: {}",
                                describe_initialize_error(&err)
                            ))
                        })?;
                        (service, TransportKind::Sse)
                    }
                    Ok(Err(probe)) => {
                        tracing::debug!(url = %server.url, %probe, "legacy HTTP+SSE probe failed too");
                        return Err(http_error(streamable));
                    }
                    Err(_) => return Err(http_error(streamable)),
                }
            }
        }
    } else {
        let sse = LegacySseTransport::connect(client, server)
            .await
            .map_err(|err| http_error(format!("legacy HTTP+SSE: {err}")))?;
        let service = handler.serve(sse).await.map_err(|err| {
            http_error(format!(
                "legacy HTTP+SSE: {}",
                describe_initialize_error(&err)
            ))
        })?;
        (service, TransportKind::Sse)
    };
    let tools = service
        .peer()
        .list_all_tools()
        .await
        .map_err(|err| ConnectError::ListTools {
            detail: describe_service_error(&err),
        })?;
    Ok(Connection {
        service,
        child: None,
        transport,
        tools,
    })
}
