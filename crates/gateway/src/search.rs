//! The `search` tool: the catalogue's ranking, rendered as TypeScript signatures for the
//! model (text) and as data for programs (`structuredContent`).

use codemode_catalog::{Catalog, SearchQuery, MAX_QUERY_BYTES};
use rmcp::model::{CallToolResult, ContentBlock, JsonObject};
use serde_json::Value;

use crate::describe::{DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT};

/// The arguments of one `search` call, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SearchArgs {
    pub query: String,
    pub limit: usize,
    pub namespace: Option<String>,
    pub page: usize,
    /// `ns.tool`: answer with that tool's full declaration instead.
    pub describe: Option<String>,
}

impl SearchArgs {
    /// Reads `{ query, limit?, namespace?, page?, describe? }`. A missing query is an error
    /// the agent can fix (unless `namespace` or `describe` says what to show); a limit out
    /// of range is clamped rather than refused.
    pub fn parse(arguments: Option<&JsonObject>) -> Result<SearchArgs, String> {
        let arguments =
            arguments.ok_or("search needs arguments: { query: string, limit?: number }")?;
        let text = |name: &str| match arguments.get(name) {
            Some(Value::String(text)) => Ok(Some(text.trim().to_string())),
            Some(Value::Null) | None => Ok(None),
            Some(other) => Err(format!("`{name}` must be a string, not {other}")),
        };
        let namespace = text("namespace")?.filter(|ns| !ns.is_empty());
        let describe = text("describe")?.filter(|path| !path.is_empty());
        let query = match text("query")? {
            Some(query) => query,
            None if namespace.is_some() || describe.is_some() => String::new(),
            None => {
                return Err("search needs `query` (a string; empty lists the namespaces)".into())
            }
        };
        if query.len() > MAX_QUERY_BYTES {
            return Err(format!(
                "`query` is {} bytes; at most {MAX_QUERY_BYTES} are searched (use a few words from the task)",
                query.len()
            ));
        }
        let limit = match arguments.get("limit") {
            None | Some(Value::Null) => DEFAULT_SEARCH_LIMIT,
            Some(Value::Number(n)) => n
                .as_u64()
                .map(|n| n.clamp(1, MAX_SEARCH_LIMIT as u64) as usize)
                .or_else(|| {
                    n.as_f64()
                        .map(|f| f.clamp(1.0, MAX_SEARCH_LIMIT as f64) as usize)
                })
                .unwrap_or(DEFAULT_SEARCH_LIMIT),
            Some(other) => return Err(format!("`limit` must be a number, not {other}")),
        };
        let page = match arguments.get("page") {
            None | Some(Value::Null) => 1,
            Some(Value::Number(n)) => n.as_f64().map_or(1, |f| f.clamp(1.0, 1e9) as usize),
            Some(other) => return Err(format!("`page` must be a number, not {other}")),
        };
        Ok(SearchArgs {
            query,
            limit,
            namespace,
            page,
            describe,
        })
    }
}

pub(crate) fn search_result(catalog: &Catalog, args: &SearchArgs) -> CallToolResult {
    if let Some(path) = &args.describe {
        return match catalog.describe(path) {
            Ok(description) => {
                let mut result =
                    CallToolResult::success(vec![ContentBlock::text(&description.declaration)]);
                result.structured_content = serde_json::to_value(&description).ok();
                result
            }
            Err(message) => CallToolResult::error(vec![ContentBlock::text(message)]),
        };
    }
    let results = catalog.find(&SearchQuery {
        query: args.query.clone(),
        limit: args.limit,
        namespace: args.namespace.clone(),
        page: args.page,
    });
    let text = catalog.render_search(&results);
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    // `SearchResults` is plain data (strings and numbers); serializing it cannot fail.
    result.structured_content = serde_json::to_value(&results).ok();
    result
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn args(value: Value) -> Result<SearchArgs, String> {
        match value {
            Value::Object(map) => SearchArgs::parse(Some(&map)),
            _ => SearchArgs::parse(None),
        }
    }

    #[test]
    fn a_namespace_or_a_tool_to_describe_needs_no_query() {
        let listing = args(serde_json::json!({ "namespace": "orders", "page": 2 })).unwrap();
        assert_eq!((listing.query.as_str(), listing.page), ("", 2));
        assert_eq!(listing.namespace.as_deref(), Some("orders"));
        let describe = args(serde_json::json!({ "describe": "orders.get" })).unwrap();
        assert_eq!(describe.describe.as_deref(), Some("orders.get"));
        assert!(args(serde_json::json!({})).is_err());
        assert!(args(serde_json::json!({ "query": "x", "page": "two" })).is_err());
    }

    #[test]
    fn describe_answers_the_whole_declaration_or_what_is_close() {
        let catalog = Catalog::new(vec![Arc::new(codemode_demo::DemoSource::new())]);
        let found = search_result(
            &catalog,
            &args(serde_json::json!({ "describe": "orders.get" })).unwrap(),
        );
        assert_ne!(found.is_error, Some(true));
        let structured = found.structured_content.expect("structured");
        assert_eq!(structured["path"], "tools.orders.get");
        assert!(structured["declaration"]
            .as_str()
            .unwrap_or_default()
            .contains("tools.orders.get(args: { id: string })"));
        let missing = search_result(
            &catalog,
            &args(serde_json::json!({ "describe": "orders.gt" })).unwrap(),
        );
        assert_eq!(missing.is_error, Some(true));
    }
}
