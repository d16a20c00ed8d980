//! MCP over Streamable HTTP at `/mcp` (rmcp's service in an axum router): sessions and
//! resumable SSE streams for 2025-11-25 clients, stateless requests for 2026-07-28 ones.
//!
//! Security: `Host` must name this machine's loopback (or a host the operator allowed) and a
//! browser's `Origin` must be a loopback origin (or allowed), which stops DNS rebinding; a
//! bearer token, when configured, guards `/mcp`. `/healthz` (and `/health`) answers without
//! either, for load balancers and readiness checks: names, states and tool counts only.
//!
//! Bounds, so that no client can make the gateway hold more than it chose to:
//!
//! * Sessions ([`HttpOptions::max_sessions`], [`HttpOptions::session_idle_timeout`]): see
//!   [`crate::http_sessions`]. Past the cap the least recently used idle session is closed;
//!   when every session is busy, a new `initialize` gets 503 with a JSON-RPC error (and
//!   `Retry-After`). Stateless 2026-07-28 requests open no session and are not limited.
//! * Reads ([`HttpOptions::request_read_timeout`]): a request's headers must arrive within
//!   the timeout (this also closes a connection idle that long between requests), and then
//!   its whole body within the timeout again; otherwise the connection is closed (after a
//!   408 when the headers were complete).
//! * Bodies: at most 4 MiB (rmcp's limit), answered 413 beyond.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::http_sessions::{watch_refusal, BoundedSessions};
use crate::{Gateway, GatewayError};

/// Where the MCP endpoint lives.
pub const MCP_PATH: &str = "/mcp";
/// Readiness per upstream, without authentication (see [`health`]).
pub const HEALTH_PATH: &str = "/healthz";
const HEALTH_ALIAS: &str = "/health";

/// Loopback names always accepted in `Host` (any port).
const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];
/// Browser origins always accepted: pages served from this machine.
const LOOPBACK_ORIGINS: [&str; 6] = [
    "http://localhost:*",
    "http://127.0.0.1:*",
    "http://[::1]:*",
    "https://localhost:*",
    "https://127.0.0.1:*",
    "https://[::1]:*",
];

/// How to serve over HTTP.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub addr: SocketAddr,
    /// When set, requests to `/mcp` need `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// `Host` values accepted besides loopback (`example.com` or `example.com:8080`), for a
    /// gateway reached by name. The address it listens on is added when it is not a
    /// wildcard.
    pub allowed_hosts: Vec<String>,
    /// Browser origins accepted besides loopback ones (`https://app.example.com`). Requests
    /// without `Origin` (every non-browser client) are not affected.
    pub allowed_origins: Vec<String>,
    /// Most 2025-11-25 sessions held at once (default
    /// [`DEFAULT_MAX_SESSIONS`](Self::DEFAULT_MAX_SESSIONS)). Opening one more closes the
    /// least recently used idle session; when none is idle, `initialize` gets 503. An idle
    /// session holds about 64 KiB (measured over 500).
    pub max_sessions: usize,
    /// A session with no request in flight and no open stream for this long is closed
    /// (default [`DEFAULT_SESSION_IDLE_TIMEOUT`](Self::DEFAULT_SESSION_IDLE_TIMEOUT)); its
    /// client gets 404 and initializes again. A client holding the GET stream open is never
    /// idle.
    pub session_idle_timeout: Duration,
    /// How long a client may take to send a request's headers, and then again its body
    /// (default [`DEFAULT_REQUEST_READ_TIMEOUT`](Self::DEFAULT_REQUEST_READ_TIMEOUT)); also
    /// how long a kept-alive connection may sit idle between requests. Responses (SSE
    /// streams, long `execute` calls) are not limited by it.
    pub request_read_timeout: Duration,
}

impl HttpOptions {
    /// 1,000 idle sessions hold about 64 MiB.
    pub const DEFAULT_MAX_SESSIONS: usize = 1_000;
    /// Ten minutes: longer than an agent's usual pause between tool calls, short enough
    /// that abandoned sessions do not pile up (the cap bounds them regardless).
    pub const DEFAULT_SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(600);
    /// Thirty seconds, for the headers and again for the body (at most 4 MiB).
    pub const DEFAULT_REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(30);

    pub fn new(addr: SocketAddr) -> HttpOptions {
        HttpOptions {
            addr,
            token: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            max_sessions: HttpOptions::DEFAULT_MAX_SESSIONS,
            session_idle_timeout: HttpOptions::DEFAULT_SESSION_IDLE_TIMEOUT,
            request_read_timeout: HttpOptions::DEFAULT_REQUEST_READ_TIMEOUT,
        }
    }
}

/// rmcp's cap on a request body (`StreamableHttpServerConfig::max_request_body_bytes`).
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// A listening HTTP gateway, not yet serving: its address is known (useful with port 0).
pub struct BoundHttp {
    listener: TcpListener,
    addr: SocketAddr,
    gateway: Gateway,
    options: HttpOptions,
}

impl BoundHttp {
    /// Binds `options.addr`.
    pub async fn bind(gateway: &Gateway, options: HttpOptions) -> Result<BoundHttp, GatewayError> {
        if options.token.as_deref().is_some_and(str::is_empty) {
            return Err(GatewayError::EmptyToken);
        }
        if options.max_sessions == 0 {
            return Err(GatewayError::HttpOption("max_sessions must be at least 1"));
        }
        if options.session_idle_timeout.is_zero() {
            return Err(GatewayError::HttpOption(
                "session_idle_timeout must not be zero",
            ));
        }
        if options.request_read_timeout.is_zero() {
            return Err(GatewayError::HttpOption(
                "request_read_timeout must not be zero",
            ));
        }
        let listener =
            TcpListener::bind(options.addr)
                .await
                .map_err(|source| GatewayError::Bind {
                    addr: options.addr,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| GatewayError::Bind {
            addr: options.addr,
            source,
        })?;
        Ok(BoundHttp {
            listener,
            addr,
            gateway: gateway.clone(),
            options,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` is cancelled, then closes open streams and returns.
    ///
    /// HTTP/1.1 connections are served by hyper directly (axum's `serve` sets no timer, so
    /// a client could take forever over its headers).
    pub async fn serve(self, shutdown: CancellationToken) -> Result<(), GatewayError> {
        let BoundHttp {
            listener,
            addr,
            gateway,
            options,
        } = self;
        warn_about_exposure(addr, &options);
        let router = router(&gateway, &options, addr, shutdown.child_token());
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(options.request_read_timeout);
        let connections = GracefulShutdown::new();
        tracing::info!("serving MCP on http://{addr}{MCP_PATH}");
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = shutdown.cancelled() => break,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors and the like: wait a little rather than spin.
                    tracing::warn!("accepting a connection on {addr}: {error}");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                        () = shutdown.cancelled() => break,
                    }
                }
            };
            let _ = stream.set_nodelay(true);
            let service = TowerToHyperService::new(router.clone());
            let connection =
                connections.watch(http.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%peer, "HTTP connection ended: {error}");
                }
            });
        }
        drop(listener);
        connections.shutdown().await;
        Ok(())
    }
}

/// Binds and serves until `shutdown` is cancelled.
pub async fn serve_http(
    gateway: &Gateway,
    options: HttpOptions,
    shutdown: CancellationToken,
) -> Result<(), GatewayError> {
    BoundHttp::bind(gateway, options)
        .await?
        .serve(shutdown)
        .await
}

/// Listening beyond loopback is a deliberate choice; say what it implies.
fn warn_about_exposure(addr: SocketAddr, options: &HttpOptions) {
    if addr.ip().is_loopback() {
        return;
    }
    if options.token.is_none() {
        tracing::warn!(
            "listening on {addr} without a bearer token: anyone who can reach it can run code \
             against the upstream tools (set --token or CODEMODE_TOKEN)"
        );
    }
    if addr.ip().is_unspecified() && options.allowed_hosts.is_empty() {
        tracing::warn!(
            "listening on {addr}, but only requests with a loopback Host header are accepted; \
             add --allowed-host NAME for each name clients use"
        );
    }
}

fn router(
    gateway: &Gateway,
    options: &HttpOptions,
    addr: SocketAddr,
    streams: CancellationToken,
) -> Router {
    let mut hosts: Vec<String> = LOOPBACK_HOSTS.iter().map(|h| h.to_string()).collect();
    if !addr.ip().is_unspecified() && !addr.ip().is_loopback() {
        hosts.push(addr.ip().to_string());
    }
    hosts.extend(options.allowed_hosts.iter().cloned());
    let origins = LOOPBACK_ORIGINS
        .iter()
        .map(|o| o.to_string())
        .chain(options.allowed_origins.iter().cloned());
    // Cancelling the token ends every session and SSE stream, which graceful shutdown
    // would otherwise wait on forever.
    let sessions = Arc::new(BoundedSessions::new(
        options.max_sessions,
        options.session_idle_timeout,
    ));
    sessions.spawn_expiry(streams.clone());
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .enforce_origin_validation()
        .with_max_request_body_bytes(MAX_BODY_BYTES)
        .with_cancellation_token(streams);
    let session_gateway = gateway.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(session_gateway.new_session()),
        sessions.clone(),
        config,
    );
    let mcp_router = Router::new()
        .nest_service(MCP_PATH, mcp)
        .layer(middleware::from_fn_with_state(sessions, limit_sessions));
    let mcp_router = match &options.token {
        Some(token) => mcp_router.layer(middleware::from_fn_with_state(
            Arc::<str>::from(token.as_str()),
            require_bearer,
        )),
        None => mcp_router,
    };
    let health_gateway = gateway.clone();
    let health = get(move || {
        let gateway = health_gateway.clone();
        async move { health(&gateway) }
    });
    Router::new()
        .route(HEALTH_PATH, health.clone())
        .route(HEALTH_ALIAS, health)
        .merge(mcp_router)
        .layer(middleware::from_fn_with_state(
            options.request_read_timeout,
            limit_body_read,
        ))
}

/// Gives the request's body `limit` to arrive, from when its headers did; a client that
/// stops halfway gets 408 and its connection is closed.
async fn limit_body_read(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let expired = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| {
        Body::new(DeadlineBody {
            inner: body,
            deadline: Box::pin(tokio::time::sleep(limit)),
            expired: expired.clone(),
        })
    });
    let response = next.run(request).await;
    if !expired.load(Ordering::Relaxed) {
        return response;
    }
    tracing::debug!("a request body did not arrive within {limit:?}");
    (
        StatusCode::REQUEST_TIMEOUT,
        [(header::CONNECTION, "close")],
        format!("the request body did not arrive within {limit:?}\n"),
    )
        .into_response()
}

/// A request body that fails once its deadline passes.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.expired.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the request body did not arrive in time",
            )))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Answers a session-opening `initialize` with 503 when every session is busy.
///
/// The common case is caught before rmcp sees the request (the body is read here only when
/// the gateway is full, to tell `initialize` from a stateless request and to echo its id);
/// a race past that check is caught by the session manager, and answered here without the
/// id.
async fn limit_sessions(
    State(sessions): State<Arc<BoundedSessions>>,
    request: Request,
    next: Next,
) -> Response {
    let opens_session =
        request.method() == Method::POST && !request.headers().contains_key("mcp-session-id");
    if !opens_session {
        return next.run(request).await;
    }
    let request = if sessions.is_full() {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is over {MAX_BODY_BYTES} bytes, or incomplete\n"),
            )
                .into_response();
        };
        if let Some(id) = initialize_id(&bytes) {
            return sessions_full(id, sessions.max_sessions());
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        request
    };
    match watch_refusal(next.run(request)).await {
        (_, true) => sessions_full(serde_json::Value::Null, sessions.max_sessions()),
        (response, false) => response,
    }
}

/// The id of a JSON-RPC `initialize` request, or `None` for anything else.
fn initialize_id(body: &[u8]) -> Option<serde_json::Value> {
    let message: serde_json::Value = serde_json::from_slice(body).ok()?;
    (message.get("method")?.as_str()? == "initialize")
        .then(|| message.get("id").cloned().unwrap_or_default())
}

fn sessions_full(id: serde_json::Value, max_sessions: usize) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {
            "code": -32000,
            "message": format!(
                "the gateway holds its maximum of {max_sessions} sessions and none is idle; \
                 retry later"
            ),
        },
    });
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "10")],
        axum::Json(body),
    )
        .into_response()
}

/// `{"status": "ready" | "starting" | "draining", "namespaces": [{name, state, tools}]}`:
/// readiness per upstream for load balancers and operators. Names, states and counts only:
/// no reasons (they may quote a server's stderr), commands, URLs or headers. 503 while the
/// gateway drains, so a balancer stops sending it work.
fn health(gateway: &Gateway) -> Response {
    let namespaces = gateway.catalog().namespaces();
    let draining = gateway.is_draining();
    let starting = namespaces
        .iter()
        .any(|ns| ns.status == codemode_catalog::NamespaceStatus::Starting);
    let status = if draining {
        "draining"
    } else if starting {
        "starting"
    } else {
        "ready"
    };
    let listed: Vec<serde_json::Value> = namespaces
        .iter()
        .map(|ns| {
            let state = match &ns.status {
                codemode_catalog::NamespaceStatus::Ready => "ready",
                codemode_catalog::NamespaceStatus::Starting => "starting",
                codemode_catalog::NamespaceStatus::Unavailable { retrying: true, .. } => {
                    "unavailable (retrying)"
                }
                codemode_catalog::NamespaceStatus::Unavailable { .. } => "unavailable",
            };
            serde_json::json!({ "name": ns.ident, "state": state, "tools": ns.tool_count })
        })
        .collect();
    let body = serde_json::json!({
        "status": status,
        "tools": gateway.catalog().tool_count(),
        "namespaces": listed,
    });
    let code = if draining {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, axum::Json(body)).into_response()
}

async fn require_bearer(State(token): State<Arc<str>>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, credentials) = value.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| credentials.trim())
        });
    let authorized =
        presented.is_some_and(|presented| bool::from(presented.as_bytes().ct_eq(token.as_bytes())));
    if authorized {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "a bearer token is required: send Authorization: Bearer <token>\n",
    )
        .into_response()
}
