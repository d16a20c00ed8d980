//! The two tools as `tools/list` shows them: the text that teaches a model the
//! `tools.<namespace>.<name>(args)` convention.
//!
//! Their size must not grow with the catalogue: the namespace list is capped (count and
//! line length), and everything else is fixed text. 10 tools or 10,000, the model pays the
//! same few hundred tokens; the rest it finds with `search`.

use std::sync::Arc;

use codemode_catalog::{Catalog, NamespaceStatus, NamespaceSummary};
use codemode_sandbox::Limits;
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::json;

/// Namespaces named in the `execute` description; beyond, a count and a pointer to `search`.
pub(crate) const LISTED_NAMESPACES: usize = 6;
/// Characters of a namespace's description kept in that list.
pub(crate) const NAMESPACE_LINE_CHARS: usize = 50;

pub const DEFAULT_SEARCH_LIMIT: usize = 10;
pub const MAX_SEARCH_LIMIT: usize = 50;

const SEARCH_DESCRIPTION: &str = "\
Find functions for `execute`: TypeScript signatures, best first, with the types they use. \
Query with words from the task; \"\" lists the namespaces. `namespace` keeps to one (no \
query: all its tools, by `page`); `describe: \"ns.tool\"` gives one tool in full.";

const EXECUTE_INTRO: &str = "\
Run TypeScript in a fresh sandbox; nothing persists between runs. Tools are async functions \
`await tools.<namespace>.<name>(args)`. Do the whole task in one script and \
`return` only what is needed. A tool resolves to its structured content, else its text: parsed \
if the whole text is JSON (any value), else a string; an HTTP operation to its JSON body, else \
{contentType, text} (non-2xx throws). A failed call throws an Error with .tool, \
.kind (invalid_arguments, tool_error, timeout, unavailable, transport, limit, denied) and .message. \
Types are not checked before running. You get the value as JSON, console output and the calls; \
an uncaught error gives its line. Find functions with search, or in code with \
`tools.$search(\"words\")` and `tools.$describe(\"ns.tool\")`. No fetch, files, imports or env.";

const EXECUTE_EXAMPLE: &str = "\
Example (illustrative names):
```ts
const orders = await tools.shop.listOrders({ since: \"2026-01-01\" });
return orders.filter((o) => o.total > 100).map((o) => o.id);
```";

pub(crate) fn search_tool() -> Tool {
    let schema = json!({
        "type": "object",
        "properties": {
            "query": { "type": "string" },
            "limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_SEARCH_LIMIT,
                "description": format!("default {DEFAULT_SEARCH_LIMIT}")
            },
            "namespace": { "type": "string" },
            "page": { "type": "integer", "minimum": 1 },
            "describe": { "type": "string" }
        },
        "required": []
    });
    Tool::new(
        crate::SEARCH_TOOL,
        SEARCH_DESCRIPTION,
        Arc::new(as_object(schema)),
    )
    .with_raw_output_schema(Arc::new(as_object(search_output_schema())))
    .with_annotations(ToolAnnotations::new().read_only(true))
}

pub(crate) fn execute_tool(catalog: &Catalog, limits: &Limits) -> Tool {
    let schema = json!({
        "type": "object",
        "properties": {
            "code": {
                "type": "string",
                "description": "TypeScript: statements using await and ending in return, or an async () => { ... } function."
            }
        },
        "required": ["code"]
    });
    let description = format!(
        "{EXECUTE_INTRO} {}\n\n{EXECUTE_EXAMPLE}\n\n{}",
        limits_sentence(limits),
        namespace_list(&catalog.namespaces(), catalog.tool_count())
    );
    // What a snippet does depends on the tools it calls, which may write: no read-only or
    // idempotent promise here.
    Tool::new(
        crate::EXECUTE_TOOL,
        description,
        Arc::new(as_object(schema)),
    )
    .with_raw_output_schema(Arc::new(as_object(execute_output_schema())))
    .with_annotations(ToolAnnotations::new().open_world(true))
}

/// The limits in force, as the agent should plan for them.
pub(crate) fn limits_sentence(limits: &Limits) -> String {
    format!(
        "Limits per execute: {} CPU, {} wall, {} heap, {} result, {} logs, {} tool calls.",
        duration_text(limits.cpu_time),
        duration_text(limits.wall_time),
        size_text(limits.memory_bytes as u64),
        size_text(limits.max_result_bytes as u64),
        size_text(limits.max_log_bytes as u64),
        limits.max_tool_calls,
    )
}

/// `search`'s `structuredContent`: ranked results, or one tool's description. Loose on
/// purpose: clients validate against it, and both answers must pass.
fn search_output_schema() -> serde_json::Value {
    json!({
        "type": "object",
        "properties": {
            "namespaces": { "type": "array" },
            "declaration": { "type": "string" }
        }
    })
}

/// `execute`'s `structuredContent`, on success and on failure alike.
fn execute_output_schema() -> serde_json::Value {
    json!({
        "type": "object",
        "properties": {
            "result": {},
            "error": { "type": "object" },
            "logs": { "type": "array" },
            "calls": { "type": "array" }
        }
    })
}

/// `50 s`, `500 ms`, `1.5 s`.
pub(crate) fn duration_text(duration: std::time::Duration) -> String {
    let ms = duration.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

/// `128 MiB`, `64 KiB`, `1000 bytes`.
pub(crate) fn size_text(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    const GIB: u64 = 1024 * 1024 * 1024;
    let unit = |size: u64, name: &str| {
        if bytes.is_multiple_of(size) {
            format!("{} {name}", bytes / size)
        } else {
            format!("{:.1} {name}", bytes as f64 / size as f64)
        }
    };
    match bytes {
        b if b >= GIB => unit(GIB, "GiB"),
        b if b >= MIB => unit(MIB, "MiB"),
        b if b >= KIB => unit(KIB, "KiB"),
        b => format!("{b} bytes"),
    }
}

/// `Namespaces under tools (2 with 10 tools): - a (3): ...`, capped in count and line length.
/// Namespaces that are starting or down follow, each with its one-line reason.
pub(crate) fn namespace_list(all: &[NamespaceSummary], tool_count: usize) -> String {
    let (namespaces, not_ready): (Vec<&NamespaceSummary>, Vec<&NamespaceSummary>) = all
        .iter()
        .partition(|ns| ns.status == NamespaceStatus::Ready);
    let mut out = if namespaces.is_empty() {
        "No tools are available right now.".to_string()
    } else {
        format!("Namespaces ({} with {tool_count} tools):", namespaces.len())
    };
    out.push_str(&ready_lines(&namespaces));
    if !not_ready.is_empty() {
        out.push_str("\nNot available now (calling them throws with the reason):");
        for ns in not_ready.iter().take(LISTED_NAMESPACES) {
            out.push_str(&format!(
                "\n- {}: {}",
                ns.ident,
                ns.status.one_line(NAMESPACE_LINE_CHARS)
            ));
        }
        if not_ready.len() > LISTED_NAMESPACES {
            out.push_str(&format!(
                "\n- ...and {} more: search with an empty query lists them all.",
                not_ready.len() - LISTED_NAMESPACES
            ));
        }
    }
    out
}

fn ready_lines(namespaces: &[&NamespaceSummary]) -> String {
    let mut out = String::new();
    for ns in namespaces.iter().take(LISTED_NAMESPACES) {
        out.push_str(&format!("\n- {} ({})", ns.ident, ns.tool_count));
        if let Some(line) = ns.description.as_deref().and_then(first_line) {
            out.push_str(": ");
            // Bytes bound tokens better than characters do (CJK text is a token per
            // character or so): the list must cost the same whatever the script.
            let line = clip(line, NAMESPACE_LINE_CHARS);
            out.push_str(&codemode_sandbox::clip_bytes(
                &line,
                NAMESPACE_LINE_CHARS + 10,
            ));
        }
    }
    if namespaces.len() > LISTED_NAMESPACES {
        out.push_str(&format!(
            "\n- ...and {} more: search with an empty query lists them all.",
            namespaces.len() - LISTED_NAMESPACES
        ));
    }
    out
}

fn first_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).find(|line| !line.is_empty())
}

pub(crate) fn clip(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut clipped: String = text.chars().take(max_chars - 1).collect();
    clipped.push('…');
    clipped
}

fn as_object(value: serde_json::Value) -> JsonObject {
    match value {
        serde_json::Value::Object(map) => map,
        // The schemas above are object literals; this arm is unreachable by construction.
        _ => JsonObject::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summaries(count: usize, description: &str) -> Vec<NamespaceSummary> {
        (0..count)
            .map(|i| NamespaceSummary {
                ident: format!("namespace{i}"),
                description: Some(description.to_string()),
                tool_count: 10,
                status: NamespaceStatus::Ready,
            })
            .collect()
    }

    #[test]
    fn the_execute_description_teaches_the_first_try() {
        let catalog = Catalog::new(vec![std::sync::Arc::new(codemode_demo::DemoSource::new())]);
        let tool = execute_tool(&catalog, &Limits::default());
        let text = tool.description.as_deref().unwrap_or_default();
        for needed in [
            "nothing persists between runs",
            "parsed if the whole text is JSON (any value)",
            ".tool, .kind (invalid_arguments, tool_error, timeout, unavailable, transport, limit, denied) and .message",
            "Types are not checked before running",
            "CPU,",
            "wall,",
            "heap,",
            "result,",
            "logs,",
            "tool calls.",
        ] {
            assert!(text.contains(needed), "{needed:?} missing from: {text}");
        }
        assert!(tool.output_schema.is_some());
        assert!(search_tool().output_schema.is_some());
    }

    #[test]
    fn limits_read_in_units() {
        assert_eq!(size_text(128 * 1024 * 1024), "128 MiB");
        assert_eq!(size_text(1536 * 1024 * 1024), "1.5 GiB");
        assert_eq!(size_text(64 * 1024), "64 KiB");
        assert_eq!(size_text(1000), "1000 bytes");
        assert_eq!(
            duration_text(std::time::Duration::from_millis(500)),
            "500 ms"
        );
        assert_eq!(duration_text(std::time::Duration::from_secs(50)), "50 s");
    }

    #[test]
    fn the_namespace_list_is_capped_in_count_and_width() {
        let long = "x".repeat(500);
        let few = namespace_list(&summaries(2, &long), 20);
        let many = namespace_list(&summaries(5_000, &long), 50_000);
        assert!(few
            .lines()
            .all(|l| l.chars().count() < NAMESPACE_LINE_CHARS + 40));
        assert_eq!(many.lines().count(), LISTED_NAMESPACES + 2);
        let more = format!("and {} more", 5_000 - LISTED_NAMESPACES);
        assert!(many.contains(&more), "{many}");
    }
}
