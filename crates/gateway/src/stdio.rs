//! MCP over the process's stdin and stdout: how desktop clients (Claude Desktop, Claude
//! Code, Cursor) start a server. One client, one session, until stdin closes.
//!
//! Lines are framed by [`crate::stdio_lines`]: one over [`MAX_LINE_BYTES`] (8 MiB) is
//! answered with a JSON-RPC error carrying its id, and so is a request reusing the id of
//! one still in flight; the session goes on either way.

use rmcp::service::{QuitReason, ServerInitializeError};
use rmcp::ServiceExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use crate::stdio_lines::LineTransport;
pub use crate::stdio_lines::MAX_LINE_BYTES;
use crate::{Gateway, GatewayError};

/// Serves one client on stdin/stdout until it closes stdin or `shutdown` is cancelled.
///
/// Nothing else may write to stdout meanwhile: logs go to stderr.
pub async fn serve_stdio(
    gateway: &Gateway,
    shutdown: CancellationToken,
) -> Result<(), GatewayError> {
    // Neither reads sockets (Node's clients) nor pipes with a blocking thread: a request
    // crosses no extra thread, and a shutdown is not held up by a read on stdin that never
    // returns (`stdio_pipes` falls back to plain stdio on a terminal).
    if let Some((stdin, stdout)) = crate::stdio_socket::socket_stdio() {
        return serve_stdio_on(gateway, stdin, stdout, shutdown).await;
    }
    let (stdin, stdout) = rmcp::transport::io::stdio_pipes();
    serve_stdio_on(gateway, stdin, stdout, shutdown).await
}

/// [`serve_stdio`] on any pair of byte streams (a pipe to a child, a socket, a test's
/// in-memory duplex): newline-delimited JSON-RPC read from `read`, written to `write`.
pub async fn serve_stdio_on<R, W>(
    gateway: &Gateway,
    read: R,
    write: W,
    shutdown: CancellationToken,
) -> Result<(), GatewayError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let transport = LineTransport::new(read, write, MAX_LINE_BYTES);
    let running = match gateway
        .new_session()
        .serve_with_ct(transport, shutdown.clone())
        .await
    {
        Ok(running) => running,
        // Cancelled, or stdin closed, before the client said anything: a clean stop (a
        // client probing the command, or one that gave up), not an error.
        Err(_) if shutdown.is_cancelled() => return Ok(()),
        Err(ServerInitializeError::ConnectionClosed(_) | ServerInitializeError::Cancelled) => {
            tracing::info!("stdin closed before the client initialized");
            return Ok(());
        }
        Err(error) => return Err(GatewayError::StdioStart(error.to_string())),
    };
    match running.waiting().await {
        Ok(QuitReason::Closed) => {
            tracing::info!("the client closed stdin");
            Ok(())
        }
        Ok(QuitReason::Cancelled) => Ok(()),
        Ok(QuitReason::JoinError(error)) => Err(GatewayError::StdioRun(error.to_string())),
        Ok(other) => Err(GatewayError::StdioRun(format!("{other:?}"))),
        Err(error) => Err(GatewayError::StdioRun(error.to_string())),
    }
}
