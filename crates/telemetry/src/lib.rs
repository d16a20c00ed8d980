//! codemode's logs and traces.
//!
//! - [`init`] sets up the process's `tracing` subscriber: the gateway's logs on stderr
//!   (`--log-level`, or `RUST_LOG`), and OpenTelemetry trace export over OTLP/HTTP
//!   (protobuf, batched) when the standard variables ask for it:
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` set, and neither
//!   `OTEL_SDK_DISABLED=true` nor `OTEL_TRACES_EXPORTER=none`. Unset, nothing is exported.
//!   The rest is the SDK's usual `OTEL_*` configuration (headers, timeout, `OTEL_BSP_*`,
//!   sampler, resource); the service is `codemode` unless `OTEL_SERVICE_NAME` or
//!   `OTEL_RESOURCE_ATTRIBUTES` names it. The returned [`TelemetryGuard`] sends what is
//!   still queued when shut down.
//! - What is exported: the spans of codemode's own crates at `info` and above (the
//!   `execute` span, each `tool_call` in it), with the fields they declare; no events, and
//!   nothing of other crates (the MCP SDK's internals).
//! - W3C Trace Context ([`propagation`]): a client's `traceparent` in a request's `_meta`
//!   becomes the parent of the span handling it ([`set_parent`]); the current span's
//!   context goes to upstreams ([`current_trace_headers`]).
//!
//! A receiver that is down or slow, or an endpoint that is wrong, costs a warning, never the
//! gateway's time: spans are sent from a thread of their own, from a bounded queue.
//!
//! This crate must never put tool arguments, results, headers or environment values in a
//! span, and never export anything when no endpoint is configured.

mod export;
pub mod propagation;
mod settings;
mod subscriber;

use std::sync::atomic::{AtomicBool, Ordering};

pub use export::TelemetryGuard;
pub use propagation::{current_trace_headers, parent_from_meta, set_parent, TraceHeaders};
pub use subscriber::init;

/// Set while spans are exported: the propagation helpers do nothing otherwise.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether spans are being exported (so trace context is worth reading and sending).
pub fn is_exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}
