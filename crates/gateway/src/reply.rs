//! An [`Execution`] as the agent receives it: the value as JSON text (what the model reads)
//! and as `structuredContent` (what programs read), or `isError: true` with the error's
//! kind, message and the TypeScript line it happened on.
//!
//! `structuredContent` is `{ result, logs, calls, callCount, notes, stats }` on success and
//! `{ error: { kind, message, line, column, sourceLine, stack }, logs, calls, ... }` on
//! failure; `result` is absent when the snippet returned nothing.

use codemode_sandbox::{clip_bytes, CallRecord, Execution, ExecutionError, LogEntry, LogLevel};
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{json, Map, Value};

use crate::describe::clip;

/// Calls listed in `structuredContent`; `callCount` always has the total.
pub(crate) const LISTED_CALLS: usize = 50;
/// Characters of one failed call's error kept in the summary.
const CALL_ERROR_CHARS: usize = 300;

/// The `execute` tool's reply to `execution`: the one place every front end (the MCP tool,
/// `codemode run`, `run --json`) gets its answer from.
pub fn execution_result(execution: &Execution) -> CallToolResult {
    let mut structured = Map::new();
    let mut content = Vec::new();
    let is_error = match &execution.result {
        Ok(value) => {
            match value {
                Some(text) => {
                    // The text the sandbox wrote is what the model reads; it is parsed once,
                    // here, for programs.
                    structured.insert("result".into(), text.to_value());
                    content.push(ContentBlock::text(text.as_str()));
                }
                None => content.push(ContentBlock::text(
                    "(no value: the code returned nothing; end it with `return <value>` to get data back)",
                )),
            }
            false
        }
        Err(error) => {
            // However the snippet built its error, what leaves is bounded (the message is
            // said twice: as text and in structuredContent).
            let error = error.clone().bounded();
            structured.insert("error".into(), error_json(&error));
            content.push(ContentBlock::text(format!("{} error: {error}", error.kind)));
            true
        }
    };
    structured.insert(
        "logs".into(),
        Value::Array(execution.logs.iter().map(log_json).collect()),
    );
    structured.insert(
        "calls".into(),
        Value::Array(
            execution
                .calls
                .iter()
                .take(LISTED_CALLS)
                .map(call_json)
                .collect(),
        ),
    );
    structured.insert("callCount".into(), json!(execution.calls.len()));
    let notes: Vec<String> = execution
        .notes
        .iter()
        .take(MAX_NOTES)
        .map(|note| clip_bytes(note, MAX_NOTE_BYTES))
        .collect();
    structured.insert("notes".into(), json!(notes));
    structured.insert(
        "stats".into(),
        json!({
            "wallMs": round_ms(execution.stats.wall_time.as_secs_f64() * 1e3),
            "cpuMs": round_ms(execution.stats.cpu_time.as_secs_f64() * 1e3),
            "peakMemoryBytes": execution.stats.peak_memory_bytes,
        }),
    );
    if let Some(extra) = side_channel_text(execution) {
        content.push(ContentBlock::text(extra));
    }
    let mut result = if is_error {
        CallToolResult::error(content)
    } else {
        CallToolResult::success(content)
    };
    result.structured_content = Some(Value::Object(structured));
    result
}

/// Console output, notes and failed calls in one readable block, since many clients show the
/// model only the text content. Successful calls are left out: the value says enough.
fn side_channel_text(execution: &Execution) -> Option<String> {
    let mut lines: Vec<String> = execution
        .logs
        .iter()
        .map(|log| format!("[{}] {}", level_name(log.level), log.message))
        .collect();
    let failed: Vec<&CallRecord> = execution
        .calls
        .iter()
        .filter(|call| call.error.is_some())
        .collect();
    if !failed.is_empty() {
        lines.push(format!(
            "{} of {} tool calls failed:",
            failed.len(),
            execution.calls.len()
        ));
        for call in failed.iter().take(5) {
            let error = call.error.as_deref().unwrap_or_default();
            lines.push(format!(
                "  {}: {}",
                call_name(call),
                clip(error, CALL_ERROR_CHARS)
            ));
        }
    }
    lines.extend(
        execution
            .notes
            .iter()
            .take(MAX_NOTES)
            .map(|note| format!("note: {}", clip_bytes(note, MAX_NOTE_BYTES))),
    );
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// Notes kept in a reply, and bytes of each.
const MAX_NOTES: usize = 20;
const MAX_NOTE_BYTES: usize = 1024;

fn error_json(error: &ExecutionError) -> Value {
    let mut out = json!({ "kind": error.kind, "message": error.message });
    if let Some(location) = &error.location {
        out["line"] = json!(location.line);
        out["column"] = json!(location.column);
        out["sourceLine"] = json!(location.source_line);
    }
    if let Some(stack) = &error.stack {
        out["stack"] = json!(stack);
    }
    out
}

fn log_json(log: &LogEntry) -> Value {
    json!({ "level": level_name(log.level), "message": log.message })
}

fn call_json(call: &CallRecord) -> Value {
    let mut out = json!({ "tool": call_name(call) });
    match call.duration {
        Some(duration) => out["ms"] = json!(round_ms(duration.as_secs_f64() * 1e3)),
        None => out["unanswered"] = json!(true),
    }
    match &call.error {
        Some(error) => out["error"] = json!(clip(error, CALL_ERROR_CHARS)),
        None => out["ok"] = json!(call.duration.is_some()),
    }
    out
}

fn call_name(call: &CallRecord) -> String {
    if call.namespace.is_empty() {
        call.name.clone()
    } else {
        format!("{}.{}", call.namespace, call.name)
    }
}

pub(crate) fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Log => "log",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
        LogLevel::Debug => "debug",
    }
}

fn round_ms(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}
