//! MCP over the process's stdin and stdout: how desktop clients (Claude Desktop, Claude
//! Code, Cursor) start a server. One client, one session, until stdin closes.

use rmcp::service::{QuitReason, ServerInitializeError};
use rmcp::ServiceExt;
use tokio_util::sync::CancellationToken;

use crate::{Gateway, GatewayError};

/// Serves one client on stdin/stdout until it closes stdin or `shutdown` is cancelled.
///
/// Nothing else may write to stdout meanwhile: logs go to stderr.
pub async fn serve_stdio(
    gateway: &Gateway,
    shutdown: CancellationToken,
) -> Result<(), GatewayError> {
    // `stdio_pipes` reads pipes without tying up a blocking thread, so a shutdown is not
    // held up by a read on stdin that never returns (it falls back to plain stdio on a
    // terminal).
    let transport = rmcp::transport::io::stdio_pipes();
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
