//! The `execute` span: what one execution was, as trace attributes, never what it said.
//!
//! Its fields: `code_bytes` (the snippet's length), `outcome` (`ok`, `error`,
//! `input_required`, `cancelled`), `error.kind` (the sandbox's [`ErrorKind`] name, or
//! `invalid_params` for a request without usable `code`), `calls` (the tool calls it made)
//! and `otel.status_code = "ERROR"` when it failed (`error`; a cancelled execution or one
//! waiting on the client did not fail). Each `tool_call` span of the
//! catalogue is its child. When the request's `_meta` carries a W3C `traceparent`, the
//! span is a child of the client's.
//!
//! [`ErrorKind`]: codemode_sandbox::ErrorKind

use codemode_sandbox::Execution;
use rmcp::model::{ErrorCode, JsonObject};
use rmcp::ErrorData;
use serde_json::{Map, Value};
use tracing::field::Empty;
use tracing::Span;

/// How an `execute` ended, as the span's `outcome` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Error,
    /// Waiting on the client (an approval asked of it).
    InputRequired,
    Cancelled,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::InputRequired => "input_required",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// The span for an `execute` request with these arguments and `_meta`; its outcome is
/// recorded as it becomes known.
pub(crate) fn execute_span(arguments: Option<&JsonObject>, meta: &Map<String, Value>) -> Span {
    let span = tracing::info_span!(
        "execute",
        code_bytes = Empty,
        outcome = Empty,
        error.kind = Empty,
        calls = Empty,
        otel.status_code = Empty,
    );
    if let Some(code) = arguments
        .and_then(|arguments| arguments.get("code"))
        .and_then(Value::as_str)
    {
        span.record("code_bytes", as_attribute(code.len()));
    }
    codemode_telemetry::set_parent(&span, meta);
    span
}

/// Records how the execution the current span is for ended.
pub(crate) fn record_execution(execution: &Execution) {
    let span = Span::current();
    span.record("calls", as_attribute(execution.calls.len()));
    match &execution.result {
        Ok(_) => record_outcome(&span, Outcome::Ok, None),
        Err(error) => record_outcome(&span, Outcome::Error, Some(&error.kind.to_string())),
    }
}

/// Records that the client cancelled the execution the current span is for.
pub(crate) fn record_cancelled() {
    record_outcome(&Span::current(), Outcome::Cancelled, None);
}

/// Records that the execution the current span is for waits on the client's input.
#[allow(dead_code)] // for when `execute` can ask (policy `ask`)
pub(crate) fn record_input_required() {
    record_outcome(&Span::current(), Outcome::InputRequired, None);
}

/// Records an `execute` refused before it ran (no usable `code`). Other failures record
/// themselves where they happen.
pub(crate) fn record_refusal(
    span: &Span,
    reply: &Result<rmcp::model::CallToolResponse, ErrorData>,
) {
    if let Err(error) = reply {
        if error.code == ErrorCode::INVALID_PARAMS {
            record_outcome(span, Outcome::Error, Some("invalid_params"));
        }
    }
}

/// A count as an integer attribute: the OpenTelemetry layer records `i64`s as integers but
/// unsigned values as their text.
fn as_attribute(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn record_outcome(span: &Span, outcome: Outcome, error_kind: Option<&str>) {
    span.record("outcome", outcome.as_str());
    if let Some(kind) = error_kind {
        span.record("error.kind", kind);
    }
    if outcome == Outcome::Error {
        span.record("otel.status_code", "ERROR");
    }
}
