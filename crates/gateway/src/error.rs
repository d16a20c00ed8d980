//! What can stop the gateway from serving.

use std::net::SocketAddr;

/// Why serving failed. Tool and snippet failures are not here: they are answers
/// (`isError: true`) to the agent, not failures of the gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the HTTP server on {addr} failed: {source}")]
    Http {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the MCP session over stdio could not start: {0}")]
    StdioStart(String),
    #[error("the MCP session over stdio ended abnormally: {0}")]
    StdioRun(String),
    #[error("the bearer token is empty; give a non-empty token or none")]
    EmptyToken,
    #[error("invalid HTTP option: {0}")]
    HttpOption(&'static str),
}
