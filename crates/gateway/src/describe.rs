//! The two tools as `tools/list` shows them: the text that teaches a model the
//! `tools.<namespace>.<name>(args)` convention.
//!
//! Their size must not grow with the catalogue: the namespace list is capped (count and
//! line length), and everything else is fixed text. 10 tools or 10,000, the model pays the
//! same few hundred tokens; the rest it finds with `search`.

use std::sync::Arc;

use codemode_catalog::{Catalog, NamespaceSummary};
use codemode_sandbox::Limits;
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::json;

/// Namespaces named in the `execute` description; beyond, a count and a pointer to `search`.
pub(crate) const LISTED_NAMESPACES: usize = 12;
/// Characters of a namespace's description kept in that list.
pub(crate) const NAMESPACE_LINE_CHARS: usize = 80;

pub const DEFAULT_SEARCH_LIMIT: usize = 10;
pub const MAX_SEARCH_LIMIT: usize = 50;

const SEARCH_DESCRIPTION: &str = "\
Find the functions you can call inside `execute`. Returns TypeScript signatures with one-line \
docs, grouped by namespace, best matches first. Query with words from the task (\"list orders \
since date\", \"create issue\"); an empty query lists the namespaces. Full declarations: \
resources codemode://types/<namespace>.d.ts.";

const EXECUTE_INTRO: &str = "\
Run TypeScript in a sandbox where each tool is an async function \
`await tools.<namespace>.<name>(args)`: one object in, the tool's result as parsed JSON out (a \
failed call throws). Do the whole task in one script: loop, filter, join and aggregate in code \
and `return` only what is needed; intermediate data stays out of the conversation. You get \
back the value as JSON, console output and the calls made. Find functions with the search \
tool, or in code with `await tools.$search(\"words\")` ([{path, signature, description}]). \
No fetch, files or imports: only JavaScript, `tools` and `console`.";

const EXECUTE_EXAMPLE: &str = "\
Example (names are illustrative):
```ts
const orders = await tools.shop.listOrders({ since: \"2026-01-01\" });
const big = orders.filter((o) => o.total > 100);
const people = await Promise.all(big.map((o) => tools.shop.getCustomer({ id: o.customerId })));
return big.map((o, i) => ({ id: o.id, total: o.total, name: people[i].name }));
```";

pub(crate) fn search_tool() -> Tool {
    let schema = json!({
        "type": "object",
        "properties": {
            "query": {
                "type": "string",
                "description": "Words describing what the code needs to do; empty lists the namespaces."
            },
            "limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_SEARCH_LIMIT,
                "description": format!("Most functions to return (default {DEFAULT_SEARCH_LIMIT}).")
            }
        },
        "required": ["query"]
    });
    Tool::new(
        crate::SEARCH_TOOL,
        SEARCH_DESCRIPTION,
        Arc::new(as_object(schema)),
    )
    .with_annotations(
        ToolAnnotations::new()
            .read_only(true)
            .destructive(false)
            .idempotent(true)
            .open_world(false),
    )
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
        "{EXECUTE_INTRO} Limits: {} s of CPU, {} s in all, {} tool calls.\n\n{EXECUTE_EXAMPLE}\n\n{}",
        limits.cpu_time.as_secs(),
        limits.wall_time.as_secs(),
        limits.max_tool_calls,
        namespace_list(&catalog.namespaces(), catalog.tool_count())
    );
    // What a snippet does depends on the tools it calls, which may write: no read-only or
    // idempotent promise here.
    Tool::new(
        crate::EXECUTE_TOOL,
        description,
        Arc::new(as_object(schema)),
    )
    .with_annotations(ToolAnnotations::new().read_only(false).open_world(true))
}

/// `Namespaces under tools (2 with 10 tools): - a (3): ...`, capped in count and line length.
pub(crate) fn namespace_list(namespaces: &[NamespaceSummary], tool_count: usize) -> String {
    if namespaces.is_empty() {
        return "No tools are available right now.".to_string();
    }
    let mut out = format!(
        "Namespaces under `tools` ({} with {tool_count} tools; tool count in brackets):",
        namespaces.len()
    );
    for ns in namespaces.iter().take(LISTED_NAMESPACES) {
        out.push_str(&format!("\n- {} ({})", ns.ident, ns.tool_count));
        if let Some(line) = ns.description.as_deref().and_then(first_line) {
            out.push_str(": ");
            out.push_str(&clip(line, NAMESPACE_LINE_CHARS));
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
            })
            .collect()
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
        assert!(many.contains("and 4988 more"), "{many}");
    }
}
