//! The gateway: an MCP server that gives an agent a whole tool catalogue as two tools,
//! `search` (find functions, as TypeScript signatures) and `execute` (run a TypeScript
//! snippet that calls them in the sandbox), over stdio or Streamable HTTP.
//!
//! * [`Gateway`]: the MCP server handler, built from a [`codemode_catalog::Catalog`]; one per
//!   session, whose only state is the client's log level and its `list_changed` watcher.
//! * [`serve_stdio`] and [`serve_http`] (with [`HttpOptions`]): the two transports, both
//!   stopping on a [`CancellationToken`]. HTTP checks `Host` and `Origin` against DNS
//!   rebinding and, when configured, a bearer token.
//! * [`Isolation`]: snippets run in locked-down worker processes from a warm
//!   [`WorkerPool`], or in process as an explicit opt-in for trusted embedding.
//! * `approval`: the per-execution gate over every call a snippet makes: the policy's
//!   `maxCalls`, asking the user (elicitation in 2025-11-25, `input_required` with a sealed
//!   journal and replay in 2026-07-28), session grants, and each call's record.
//! * passthrough (`direct/`): the tools, resources, templates and prompts of passthrough
//!   entries served beside the two, unchanged, each call through the same policy and audit.
//! * [`execution_result`]: the one place an execution becomes the `execute` reply, for
//!   every front end (`codemode run` prints its `structuredContent`).
//!
//! The gateway must never print to stdout outside the MCP stream (stdio carries the
//! protocol), must never hold tool state of its own (the catalogue does), and its tool
//! descriptions must never grow with the number of tools behind it.

mod approval;
mod audit;
mod describe;
mod direct;
mod error;
mod handler;
mod http;
mod http_sessions;
mod isolation;
mod notify;
mod progress;
mod reply;
mod resources;
mod search;
mod session;
mod stdio;
mod stdio_lines;
mod stdio_socket;
mod trace;

pub use approval::resume::DEFAULT_APPROVAL_TTL;
pub use approval::seal::{KeyRing, SealError, MIN_SECRET_BYTES};
pub use codemode_audit::{AuditLog, AuditOptions, CodeMode};
pub use codemode_worker::{PoolOptions, WorkerPool};
pub use describe::{DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT};
pub use direct::names::PREFIX_SEPARATOR;
pub use error::GatewayError;
pub use handler::{Gateway, GatewayOptions, EXECUTE_TOOL, SEARCH_TOOL};
pub use http::{serve_http, BoundHttp, HttpOptions, MCP_PATH};
pub use isolation::Isolation;
pub use reply::execution_result;
pub use resources::{namespace_uri, ALL_TYPES_URI};
pub use stdio::{serve_stdio, serve_stdio_on, MAX_LINE_BYTES};
pub use tokio_util::sync::CancellationToken;
