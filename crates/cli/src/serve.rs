//! `codemode serve`: the gateway over stdio (default) or Streamable HTTP (`--http ADDR`),
//! until the client leaves or SIGINT/SIGTERM, then the upstream servers are stopped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use codemode_gateway::{
    serve_stdio, BoundHttp, CancellationToken, Gateway, GatewayOptions, HttpOptions, Isolation,
    PoolOptions, DEFAULT_APPROVAL_TTL, MCP_PATH,
};

use crate::host::{self, AuditArgs, LimitArgs, Loaded, PolicyArgs, Startup};
use crate::summary;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The upstream servers (`mcpServers` JSON, as Claude Desktop and Cursor use; default
    /// `$CODEMODE_CONFIG`). Without it, the built-in demo tools are served.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Serve Streamable HTTP at http://ADDR/mcp instead of stdio (e.g. 127.0.0.1:8080 or
    /// localhost:8080).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// Require `Authorization: Bearer <TOKEN>` on /mcp (HTTP only; ignored on stdio, where
    /// the client owns the process).
    #[arg(long, env = "CODEMODE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Also accept this `Host` (name or name:port) besides loopback, e.g. when reached
    /// through a proxy by name (HTTP only; repeatable).
    #[arg(long = "allowed-host", value_name = "HOST", requires = "http")]
    pub allowed_hosts: Vec<String>,
    /// Also accept this browser `Origin` (e.g. https://app.example.com) besides loopback
    /// ones (HTTP only; repeatable).
    #[arg(long = "allowed-origin", value_name = "ORIGIN", requires = "http")]
    pub allowed_origins: Vec<String>,
    /// Run snippets inside the gateway's own process instead of locked-down worker
    /// processes. Only for trusted code: a sandbox escape would then reach the gateway's
    /// memory, environment and credentials, and a long native operation can run past the
    /// CPU limit (only workers are watched from outside).
    #[arg(long)]
    pub in_process: bool,
    /// Worker processes kept warm, so an execution does not wait for one to start.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 2,
        conflicts_with = "in_process"
    )]
    pub workers: usize,
    /// Executions running at once (one worker each); more wait, up to --max-queued.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub max_executions: usize,
    /// Executions waiting for a worker; beyond, `execute` answers "busy" at once.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 64,
        conflicts_with = "in_process"
    )]
    pub max_queued: usize,
    /// HTTP sessions kept at once; past it the least recently used idle one is closed, or a
    /// new client gets 503 when all are busy (HTTP only).
    #[arg(long, value_name = "N", default_value_t = HttpOptions::DEFAULT_MAX_SESSIONS, requires = "http")]
    pub max_sessions: usize,
    /// How long an idle HTTP session lives, e.g. `10m` (HTTP only).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "http")]
    pub session_idle_timeout: Option<Duration>,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub audit: AuditArgs,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    codemode_upstream::parse_duration(text)
}

/// Time beyond the wall-clock limit that a shutdown waits for executions in flight.
const DRAIN_GRACE: Duration = Duration::from_secs(3);
/// How long `serve` waits for its upstreams' first attempts before it answers clients.
const SETTLE_BEFORE_SERVING: Duration = Duration::from_millis(500);

pub async fn serve(args: ServeArgs) -> ExitCode {
    // A bad address is a usage error: say so before starting any upstream.
    let http_addr = match &args.http {
        None => None,
        Some(text) => match resolve_addr(text).await {
            Ok(addr) => Some(addr),
            Err(message) => {
                eprintln!("codemode: --http {text}: {message}");
                return ExitCode::from(2);
            }
        },
    };
    let loaded =
        match host::load_or_exit(args.config.as_deref(), &args.limits, Startup::Background).await {
            Ok(loaded) => loaded,
            Err(code) => return code,
        };
    loaded.apply(&args.policy);
    let options = match gateway_options(&args, &loaded) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("codemode: {message}");
            loaded.shutdown().await;
            return ExitCode::FAILURE;
        }
    };
    let gateway = Gateway::new(loaded.catalog.clone(), options);
    let isolation = match gateway.worker_pool() {
        None => "isolation: in process (no worker walls; trusted code only)".to_string(),
        Some(pool) => match pool.probe().await {
            Ok(confinement) => {
                // Start the warm workers now, so the first execute does not pay for a
                // process start.
                pool.warm_up();
                format!(
                    "isolation: worker processes, {}",
                    confinement["summary"]
                        .as_str()
                        .unwrap_or("confinement unknown")
                )
            }
            Err(error) => {
                eprintln!("codemode: the sandbox worker does not start: {error}");
                loaded.shutdown().await;
                return ExitCode::FAILURE;
            }
        },
    };
    // The first `search` should see the whole catalogue, and the first executions should
    // not share the CPU with servers still booting: serve once the upstreams are up (the
    // warm workers start meanwhile), or after a bound, past which a slow one joins later.
    if !loaded.settle_within(SETTLE_BEFORE_SERVING).await {
        tracing::info!(
            "serving before every upstream is up (after {} ms); the rest join as they come up",
            SETTLE_BEFORE_SERVING.as_millis()
        );
    }
    let shutdown = CancellationToken::new();
    let signalled = CancellationToken::new();
    tokio::spawn(cancel_on_signal(signalled.clone()));
    // On a signal, executions in flight finish (new ones are refused) before the
    // transports close.
    let drain_wait = gateway.options().limits.wall_time + DRAIN_GRACE;
    tokio::spawn(drain_then_stop(
        gateway.clone(),
        drain_wait,
        signalled,
        shutdown.clone(),
    ));

    let outcome = match http_addr {
        None => {
            announce(&loaded, "stdio", &isolation, &shutdown);
            serve_stdio(&gateway, shutdown.clone()).await
        }
        Some(addr) => {
            let mut options = HttpOptions::new(addr);
            options.token = args.token;
            options.allowed_hosts = args.allowed_hosts;
            options.allowed_origins = args.allowed_origins;
            options.max_sessions = args.max_sessions.max(1);
            if let Some(idle) = args.session_idle_timeout {
                options.session_idle_timeout = idle;
            }
            if let Some(host) = args.http.as_deref().and_then(named_host) {
                // Reached by the name it was started with (`localhost:8080` is already
                // loopback; `myhost:8080` is not).
                options.allowed_hosts.push(host);
            }
            match BoundHttp::bind(&gateway, options).await {
                Ok(bound) => {
                    let place = format!("http://{}{MCP_PATH}", bound.local_addr());
                    announce(&loaded, &place, &isolation, &shutdown);
                    bound.serve(shutdown.clone()).await
                }
                Err(error) => Err(error),
            }
        }
    };
    shutdown.cancel();
    if let Some(pool) = gateway.worker_pool() {
        pool.close();
    }
    loaded.shutdown().await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("codemode: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The lines a person starting the gateway needs, whatever the log level: where it serves
/// and how snippets are isolated at once, then, when every upstream has made its first
/// attempt, which are ready and which are not (with why).
fn announce(loaded: &host::Loaded, place: &str, isolation: &str, shutdown: &CancellationToken) {
    let catalog = loaded.catalog.clone();
    match loaded.upstreams() {
        None => eprintln!(
            "codemode: serving MCP on {place} ({} demo tools in {} namespaces; {isolation})",
            catalog.tool_count(),
            catalog.namespaces().len()
        ),
        Some(upstreams) => {
            let count = upstreams.servers().len();
            eprintln!("codemode: serving MCP on {place} ({isolation}; starting {count} upstreams)");
            let upstreams = upstreams.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = upstreams.first_attempts() => {
                        eprintln!("codemode: {}", summary::upstreams_line(&upstreams.servers()));
                    }
                    () = shutdown.cancelled() => {}
                }
            });
        }
    }
}

/// `127.0.0.1:8080` as it is; `localhost:8080` or `[::1]:8080` looked up, preferring IPv4
/// (what most clients try first for `localhost`).
async fn resolve_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if !text.contains(':') {
        return Err("expected HOST:PORT, e.g. 127.0.0.1:8080 or localhost:8080".to_string());
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(text)
        .await
        .map_err(|e| format!("cannot resolve it: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| "it resolves to no address".to_string())
}

/// The host name of `--http NAME:PORT` when it is a name, not an address.
fn named_host(text: &str) -> Option<String> {
    if text.parse::<SocketAddr>().is_ok() {
        return None;
    }
    let (host, _port) = text.rsplit_once(':')?;
    (!host.is_empty()).then(|| host.to_string())
}

fn gateway_options(args: &ServeArgs, loaded: &Loaded) -> Result<GatewayOptions, String> {
    let audit = loaded.audit_log(&args.audit)?;
    let mut options = GatewayOptions {
        audit,
        max_concurrent_executions: args.max_executions.max(1),
        limits: loaded.limits.clone(),
        approval_keys: loaded.approval_keys.clone(),
        approval_ttl: loaded.approval_ttl.unwrap_or(DEFAULT_APPROVAL_TTL),
        passthrough: loaded.upstreams().cloned(),
        ..GatewayOptions::default()
    };
    if !args.in_process {
        let mut pool = PoolOptions::current_exe()
            .map_err(|e| format!("cannot find this executable to start workers from: {e}"))?;
        pool.size = args.workers;
        pool.max_workers = args.max_executions.max(1);
        pool.max_queued = args.max_queued;
        options.isolation = Isolation::Workers(pool);
    }
    Ok(options)
}

async fn drain_then_stop(
    gateway: Gateway,
    patience: Duration,
    signalled: CancellationToken,
    shutdown: CancellationToken,
) {
    tokio::select! {
        () = signalled.cancelled() => {}
        // Serving ended on its own (the stdio client left).
        () = shutdown.cancelled() => return,
    }
    if !gateway.drain(patience).await {
        tracing::warn!("executions still running after {patience:?}; stopping anyway");
    }
    // A moment for the last answers to leave on their streams before those close.
    tokio::time::sleep(Duration::from_millis(100)).await;
    shutdown.cancel();
}

/// SIGINT (Ctrl-C) or SIGTERM (service managers, `docker stop`) end serving cleanly.
async fn cancel_on_signal(shutdown: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only SIGINT stops the gateway");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("signal received; shutting down");
    shutdown.cancel();
}
