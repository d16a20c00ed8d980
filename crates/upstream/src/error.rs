//! Errors of connections and calls. Each says which server (and tool) and why.

use std::path::PathBuf;
use std::time::Duration;

/// Why a tool call did not produce a result.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CallError {
    #[error("unknown server `{server}` (configured: {})", list(known))]
    UnknownServer { server: String, known: Vec<String> },
    /// The tool does not exist on that server, or the config hides it.
    #[error("server `{server}` has no tool `{tool}`{}", if *hidden { " exposed (hidden by the config's `tools` filter)" } else { "" })]
    UnknownTool {
        server: String,
        tool: String,
        hidden: bool,
    },
    /// The server is disabled, failed, shut down, or still (re)starting at the deadline.
    #[error("server `{server}` is unavailable: {reason}")]
    Unavailable { server: String, reason: String },
    /// The arguments do not match the tool's `inputSchema`; nothing was sent.
    #[error("invalid arguments for `{server}.{tool}`: {message}")]
    InvalidArguments {
        server: String,
        tool: String,
        message: String,
    },
    /// The call passed its deadline; the server was sent `notifications/cancelled`.
    #[error("`{server}.{tool}` did not answer within {} ms and was cancelled", timeout.as_millis())]
    Timeout {
        server: String,
        tool: String,
        timeout: Duration,
    },
    /// The tool ran and reported failure (`isError: true`); `message` is the server's text.
    #[error("`{server}.{tool}` failed: {message}")]
    Tool {
        server: String,
        tool: String,
        message: String,
    },
    /// The tool wants input from the user (a 2026-07-28 "input required" result, e.g. an
    /// elicitation form); there is no user to ask, so the call ends here. `message` says what
    /// it asked for.
    #[error("`{server}.{tool}` needs input that codemode cannot provide: {message}")]
    InputRequired {
        server: String,
        tool: String,
        message: String,
    },
    /// The server answered with a JSON-RPC error or a reply we cannot use.
    #[error("`{server}.{tool}`: protocol error: {message}")]
    Protocol {
        server: String,
        tool: String,
        message: String,
    },
    /// The connection broke while the call was in flight (e.g. the server crashed).
    #[error("`{server}.{tool}`: connection lost: {message}")]
    Connection {
        server: String,
        tool: String,
        message: String,
    },
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// Why a connection to an upstream server could not be made. Its text becomes the server's
/// status reason.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("cannot start `{command}`: {}", spawn_reason(source))]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("working directory `{}` does not exist", cwd.display())]
    MissingCwd { cwd: PathBuf },
    /// The child ended or misbehaved during the handshake (`initialize` or `server/discover`);
    /// `detail` has its exit and stderr.
    #[error("handshake failed: {detail}")]
    StdioHandshake { detail: String },
    /// A stdio server refused `initialize`, and its restart for 2026-07-28 failed too.
    #[error("{retry} (restarted to speak 2026-07-28 after: {refusal})")]
    AfterRefusedInitialize {
        refusal: String,
        retry: Box<ConnectError>,
    },
    #[error("cannot connect to {url}: {detail}")]
    Http { url: String, detail: String },
    #[error("tools/list failed: {detail}")]
    ListTools { detail: String },
    #[error("no answer within the startup timeout of {} ms{}", timeout.as_millis(), stderr.as_deref().map(|s| format!("; stderr: {s}")).unwrap_or_default())]
    StartupTimeout {
        timeout: Duration,
        stderr: Option<String>,
    },
}

fn spawn_reason(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::NotFound => {
            "command not found (is it installed and on PATH?)".to_owned()
        }
        std::io::ErrorKind::PermissionDenied => "permission denied (is it executable?)".to_owned(),
        _ => err.to_string(),
    }
}

/// An error and its `source()` chain on one line, skipping links already quoted by the previous.
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(next) = source {
        let part = next.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = next.source();
    }
    text
}

/// Why establishing the protocol failed, without rmcp's internal type names and with the
/// transport's underlying cause (e.g. "Connection refused"), which rmcp's own message leaves
/// out. `request` is the first request the lifecycle sent (`initialize` or `server/discover`).
pub(crate) fn describe_initialize_error(
    err: &rmcp::service::ClientInitializeError,
    request: &str,
) -> String {
    use rmcp::service::ClientInitializeError as E;
    match err {
        E::TransportError { error, context } => {
            format!(
                "{context}: {}",
                describe_transport_error(error.error.as_ref())
            )
        }
        E::JsonRpcError(error) => format!(
            "the server rejected {request}: {} (JSON-RPC error {})",
            error.message, error.code.0
        ),
        E::ConnectionClosed(waiting_for) => {
            format!("the connection closed while waiting for the {waiting_for}")
        }
        E::NoCompatibleProtocolVersion {
            client_supported,
            server_supported,
        } => format!(
            "no protocol version in common: the server speaks {}, codemode {}",
            versions(server_supported),
            versions(client_supported)
        ),
        // Auto mode: the server does not know server/discover, and then initialize failed too.
        E::LegacyFallbackFailed { discover, fallback } => format!(
            "{}; after the server did not take 2026-07-28 ({})",
            describe_initialize_error(fallback, "initialize"),
            describe_initialize_error(discover, "server/discover")
        ),
        other => chain(other),
    }
}

fn versions(versions: &[rmcp::model::ProtocolVersion]) -> String {
    if versions.is_empty() {
        return "none".to_owned();
    }
    versions
        .iter()
        .map(|v| v.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A transport error with its cause chain, reaching inside rmcp's HTTP error wrapper.
pub(crate) fn describe_transport_error(
    err: &(dyn std::error::Error + Send + Sync + 'static),
) -> String {
    use rmcp::transport::streamable_http_client::StreamableHttpError;
    match err.downcast_ref::<StreamableHttpError<reqwest::Error>>() {
        Some(StreamableHttpError::Client(inner)) => chain(inner),
        _ => chain(err),
    }
}

/// A request error (after initialize), likewise.
pub(crate) fn describe_service_error(err: &rmcp::ServiceError) -> String {
    match err {
        rmcp::ServiceError::TransportSend(error) => describe_transport_error(error.error.as_ref()),
        other => chain(other),
    }
}
