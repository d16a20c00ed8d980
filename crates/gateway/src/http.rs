//! MCP over Streamable HTTP at `/mcp` (rmcp's service in an axum router): sessions and
//! resumable SSE streams for 2025-11-25 clients, stateless requests for 2026-07-28 ones.
//!
//! Security: `Host` must name this machine's loopback (or a host the operator allowed) and a
//! browser's `Origin` must be a loopback origin (or allowed), which stops DNS rebinding; a
//! bearer token, when configured, guards `/mcp`. `/healthz` (and `/health`) answers without
//! either, for load balancers and readiness checks: names, states and tool counts only.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

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
}

impl HttpOptions {
    pub fn new(addr: SocketAddr) -> HttpOptions {
        HttpOptions {
            addr,
            token: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
        }
    }
}

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
    pub async fn serve(self, shutdown: CancellationToken) -> Result<(), GatewayError> {
        let BoundHttp {
            listener,
            addr,
            gateway,
            options,
        } = self;
        warn_about_exposure(addr, &options);
        let router = router(&gateway, &options, addr, shutdown.child_token());
        tracing::info!("serving MCP on http://{addr}{MCP_PATH}");
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .map_err(|source| GatewayError::Http { addr, source })
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
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .enforce_origin_validation()
        .with_cancellation_token(streams);
    let session_gateway = gateway.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(session_gateway.new_session()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let mcp_router = Router::new().nest_service(MCP_PATH, mcp);
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
