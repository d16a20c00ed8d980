//! A thrown JavaScript value, described in terms of the agent's TypeScript.

use rquickjs::{Object, Value};

use crate::compile::{Compiled, SNIPPET_FILE};
use crate::error::{
    clip_bytes, ErrorKind, ExecutionError, SourceLocation, MAX_ERROR_MESSAGE_BYTES,
};
use crate::limits::Limits;

pub(crate) fn describe<'js>(
    thrown: Value<'js>,
    compiled: &Compiled,
    limits: &Limits,
) -> ExecutionError {
    let Some(object) = thrown
        .as_object()
        .filter(|_| thrown.is_error() || looks_like_error(&thrown))
    else {
        let text = describe_plain(&thrown);
        return ExecutionError::new(
            ErrorKind::Runtime,
            clip_bytes(&format!("Uncaught {text}"), MAX_ERROR_MESSAGE_BYTES),
            None,
        );
    };
    let name = string_field(object, "name").unwrap_or_else(|| "Error".to_string());
    let message = string_field(object, "message").unwrap_or_default();
    let raw_stack = string_field(object, "stack").unwrap_or_default();
    let (stack, location) = remap_stack(&raw_stack, compiled);

    let (kind, message) = match (name.as_str(), message.as_str()) {
        ("ToolError", _) => (ErrorKind::Tool, message),
        ("InternalError" | "RangeError", m)
            if m.contains("stack overflow") || m.contains("call stack size") =>
        {
            (
                ErrorKind::Limit,
                format!(
                    "RangeError: stack depth limit exceeded ({} KiB of stack): runaway recursion?",
                    limits.stack_bytes / 1024
                ),
            )
        }
        ("InternalError", "string too long") | ("RangeError", "invalid string length") => (
            ErrorKind::Memory,
            format!(
                "string length limit exceeded: a string would be longer than the engine's \
                 maximum of {MAX_STRING_CHARS} characters (2^30 - 1; a string doubled in a \
                 loop?)"
            ),
        ),
        ("RangeError", "invalid array length") if builds_fast_array(&raw_stack) => (
            ErrorKind::Memory,
            format!(
                "array length limit exceeded: an array would be longer than the engine's \
                 maximum of {MAX_ARRAY_ITEMS} items (2^31 - 1)"
            ),
        ),
        ("InternalError", m) if m.starts_with("out of memory") => (
            ErrorKind::Memory,
            format!(
                "size limit exceeded: an array, string or regular expression match grew past \
                 what the engine can hold in one piece ({m}; arrays hold at most \
                 {MAX_ARRAY_ITEMS} items)"
            ),
        ),
        ("SyntaxError", m) => (ErrorKind::Syntax, format!("SyntaxError: {m}")),
        (_, m) => (ErrorKind::Runtime, format!("{name}: {m}")),
    };
    ExecutionError {
        kind,
        message,
        location,
        stack: (!stack.is_empty()).then_some(stack),
    }
    .bounded()
}

/// QuickJS's cap on a string's length, in UTF-16 code units.
const MAX_STRING_CHARS: u32 = (1 << 30) - 1;

/// QuickJS's cap on the length of an array it allocates in one piece.
const MAX_ARRAY_ITEMS: u32 = i32::MAX as u32;

/// Whether an "invalid array length" came from the engine's own cap rather than from the
/// snippet asking for a length no array may have (`new Array(-1)`, `length = 2 ** 32`, which
/// stay runtime errors): the copying array methods allocate their result in one piece, and
/// refuse lengths past 2^31 - 1 that are valid in the language. The innermost frame says which
/// method threw.
fn builds_fast_array(stack: &str) -> bool {
    let innermost = stack.lines().next().unwrap_or("").trim();
    ["with", "toReversed", "toSorted", "toSpliced"]
        .iter()
        .any(|method| innermost == format!("at {method} (native)"))
}

/// QuickJS may throw objects that are errors by shape only (for example from `Proxy` traps
/// rethrowing); treat anything with a string `message` and `stack` as an error.
fn looks_like_error(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|o| string_field(o, "message").is_some() && string_field(o, "stack").is_some())
}

fn string_field(object: &Object, key: &str) -> Option<String> {
    object
        .get::<_, Value>(key)
        .ok()
        .and_then(|v| v.as_string().and_then(|s| s.to_string().ok()))
}

/// A thrown value that is not an error, as JSON-like text of bounded size. Never
/// `JSON.stringify`: a sparse array of 2^32 - 2 items keeps that busy in native code for
/// seconds, out of reach of the CPU limit.
fn describe_plain(value: &Value<'_>) -> String {
    let mut out = String::new();
    summarize(value, 0, &mut out);
    out
}

/// Items and keys shown per array or object, and how deep.
const SUMMARY_ITEMS: usize = 10;
const SUMMARY_DEPTH: usize = 3;
/// Characters of one string, and of the whole summary.
const SUMMARY_STRING_CHARS: usize = 2_000;
const SUMMARY_CHARS: usize = 4_000;

fn summarize(value: &Value<'_>, depth: usize, out: &mut String) {
    if out.len() >= SUMMARY_CHARS {
        out.push('…');
        return;
    }
    if let Some(text) = value.as_string().and_then(|s| s.to_string().ok()) {
        let clipped: String = text.chars().take(SUMMARY_STRING_CHARS).collect();
        let cut = text.chars().count().saturating_sub(SUMMARY_STRING_CHARS);
        if depth == 0 {
            out.push_str(&clipped);
        } else {
            out.push_str(&serde_json::to_string(&clipped).unwrap_or_default());
        }
        if cut > 0 {
            out.push_str(&format!("… [{cut} more characters]"));
        }
        return;
    }
    if value.is_undefined() {
        out.push_str("undefined");
        return;
    }
    if value.is_null() {
        out.push_str("null");
        return;
    }
    if let Some(b) = value.as_bool() {
        out.push_str(if b { "true" } else { "false" });
        return;
    }
    if let Some(n) = value.as_number() {
        out.push_str(&n.to_string());
        return;
    }
    if let Some(array) = value.as_array() {
        if depth >= SUMMARY_DEPTH {
            out.push_str("[…]");
            return;
        }
        // Not `Array::len`: rquickjs asserts that a length fits an i32, and a snippet can
        // make one up to 2^32 - 1.
        let length = array
            .as_object()
            .get::<_, f64>("length")
            .map_or(0, |n| n.clamp(0.0, u32::MAX as f64) as usize);
        out.push('[');
        for i in 0..length.min(SUMMARY_ITEMS) {
            if i > 0 {
                out.push(',');
            }
            match array.get::<Value>(i) {
                Ok(item) => summarize(&item, depth + 1, out),
                Err(_) => out.push('?'),
            }
        }
        if length > SUMMARY_ITEMS {
            out.push_str(&format!(",… {} more items", length - SUMMARY_ITEMS));
        }
        out.push(']');
        return;
    }
    if let Some(object) = value.as_object().filter(|_| !value.is_function()) {
        if depth >= SUMMARY_DEPTH {
            out.push_str("{…}");
            return;
        }
        out.push('{');
        for (shown, key) in object.keys::<String>().enumerate() {
            let Ok(key) = key else { break };
            if shown == SUMMARY_ITEMS {
                out.push_str(",…");
                break;
            }
            if shown > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(&key).unwrap_or_default());
            out.push(':');
            match object.get::<_, Value>(key.as_str()) {
                Ok(item) => summarize(&item, depth + 1, out),
                Err(_) => out.push('?'),
            }
        }
        out.push('}');
        return;
    }
    out.push_str(&format!("({} value)", value.type_name()));
}

/// Keeps only the agent's frames and rewrites their positions into the TypeScript source.
/// Returns the new stack and the innermost frame's location.
fn remap_stack(stack: &str, compiled: &Compiled) -> (String, Option<SourceLocation>) {
    let mut frames = Vec::new();
    let mut first = None;
    let marker = format!("{SNIPPET_FILE}:");
    for line in stack.lines() {
        let Some(at) = line.find(&marker) else {
            continue;
        };
        let position = &line[at + marker.len()..];
        let digits: String = position
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ':')
            .collect();
        let mut parts = digits.split(':').filter_map(|p| p.parse::<u32>().ok());
        let (Some(js_line), js_column) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some(location) = compiled.original_location(js_line, js_column.unwrap_or(1)) else {
            continue;
        };
        let function = line
            .trim_start()
            .strip_prefix("at ")
            .and_then(|rest| rest.split(" (").next())
            .filter(|name| !name.contains(&marker) && *name != "<anonymous>" && !name.is_empty());
        // `<eval>` is the wrapper around the whole snippet, not a frame the agent wrote.
        if function == Some("<eval>") {
            continue;
        }
        frames.push(match function {
            Some(name) => format!(
                "    at {name} ({SNIPPET_FILE}:{}:{})",
                location.line, location.column
            ),
            None => format!(
                "    at {SNIPPET_FILE}:{}:{}",
                location.line, location.column
            ),
        });
        first.get_or_insert(location);
    }
    (collapse_repeats(&frames), first)
}

/// Deep recursion gives thousands of identical frames; one line with a count says the same.
fn collapse_repeats(frames: &[String]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < frames.len() {
        let run = frames[i..].iter().take_while(|f| **f == frames[i]).count();
        if run > 1 {
            out.push(format!("{} [{run} times]", frames[i]));
        } else {
            out.push(frames[i].clone());
        }
        i += run;
    }
    out.join("\n")
}
