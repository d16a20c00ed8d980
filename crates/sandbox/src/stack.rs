//! A thrown JavaScript value, described in terms of the agent's TypeScript.

use rquickjs::{Ctx, Object, Value};

use crate::compile::{Compiled, SNIPPET_FILE};
use crate::error::{ErrorKind, ExecutionError, SourceLocation};
use crate::limits::Limits;

pub(crate) fn describe<'js>(
    ctx: &Ctx<'js>,
    thrown: Value<'js>,
    compiled: &Compiled,
    limits: &Limits,
) -> ExecutionError {
    let Some(object) = thrown
        .as_object()
        .filter(|_| thrown.is_error() || looks_like_error(&thrown))
    else {
        let text = describe_plain(ctx, &thrown);
        return ExecutionError::new(ErrorKind::Runtime, format!("Uncaught {text}"), None);
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

fn describe_plain<'js>(ctx: &Ctx<'js>, value: &Value<'js>) -> String {
    if let Some(s) = value.as_string().and_then(|s| s.to_string().ok()) {
        return s;
    }
    if value.is_undefined() {
        return "undefined".to_string();
    }
    match ctx.json_stringify(value.clone()) {
        Ok(Some(text)) => text
            .to_string()
            .unwrap_or_else(|_| "(unprintable value)".into()),
        _ => {
            // Drop whatever the failed stringify threw; the original value is what matters.
            let _ = ctx.catch();
            format!("({} value)", value.type_name())
        }
    }
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
