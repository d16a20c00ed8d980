//! The MCP client side of codemode: which upstream servers there are (the `mcpServers` config
//! file), keeping connections to them alive, their tools, and calls to those tools.
//!
//! - [`Config`] reads the config format users already have (Claude Desktop / Cursor
//!   `mcpServers`, VS Code `servers`), with `${VAR}` secrets filled from the environment.
//! - [`Upstreams`] starts every server in parallel in the background (stdio child processes
//!   with a minimal environment, Streamable HTTP, legacy HTTP+SSE), retries those that do not
//!   come up and restarts crashed ones with backoff, follows `tools/list_changed`, and calls
//!   tools with a deadline after checking arguments against the tool's `inputSchema`,
//!   forwarding the progress a server reports for a call. Each call carries the current
//!   span's W3C trace context (`_meta.traceparent`, and the `traceparent` header over HTTP).
//! - Both live MCP eras are spoken: 2025-11-25 (`initialize`, sessions) and 2026-07-28
//!   (`server/discover`, self-contained requests, `subscriptions/listen`), chosen per server by
//!   the entry's [`Protocol`] (by default whichever the server speaks).
//! - [`ToolOutput`] turns a `CallToolResult` into the one JSON value the agent's code receives.
//! - [`UpstreamSource`] offers all of it to the catalogue as one `ToolSource`: a namespace per
//!   server, tools in the catalogue's one shape (`ToolSpec`), failures as `ToolError`s of the
//!   right kind.
//!
//! - Passthrough entries (`"passthrough"`) are also served directly: [`Surface`] is what
//!   each offers (tools, resources, templates, prompts, unchanged), and
//!   [`Upstreams::forward_call`] and its siblings pass the client's requests on and the
//!   server's answers back, relaying progress, logs and what the server asks the client
//!   ([`ClientRelay`]).
//!
//! This crate knows MCP and config. Of the catalogue and the sandbox it knows only the
//! source-side contract (`ToolSource`, `ToolSpec`, `ToolError`), and nothing of TypeScript.
//! It must never write to stdout (the gateway may speak MCP there: children's stderr goes to
//! `tracing`), never let a child process outlive [`Upstreams::shutdown`], never send a
//! config value with an unfilled `${...}` to a server, and never pass a stdio child the
//! gateway's environment beyond the SDK defaults and what its entry names.

mod config;
mod connect;
mod direct;
mod error;
mod handler;
mod http;
mod interpolate;
mod line_transport;
mod listen;
mod output;
mod source;
mod sse;
mod stdio;
mod supervisor;
mod tools;
mod trace_context;
mod units;
mod upstreams;
mod validate;

pub use config::{
    ApprovalSettings, AuditSettings, BrokenEntry, Config, ConfigError, HttpServer, LimitSettings,
    Passthrough, Protocol, ServerConfig, StdioServer, ToolFilter, ToolGlobs, Transport,
    DEFAULT_STARTUP_TIMEOUT,
};
pub use direct::{ClientRelay, DirectEvent, Surface};
pub use error::CallError;
pub use interpolate::{expand, ExpandError};
pub use output::{OutputKind, OutputLimits, ToolOutput, DEFAULT_MAX_INLINE_BYTES};
pub use source::UpstreamSource;
pub use stdio::DEFAULT_INHERITED_ENV;
pub use units::{parse_duration, parse_size};
pub use upstreams::{
    CallProgress, Options, ProgressCallback, RestartPolicy, ServerState, ServerStatus,
    TransportKind, Upstreams,
};
