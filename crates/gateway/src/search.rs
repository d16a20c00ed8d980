//! The `search` tool: the catalogue's ranking, rendered as TypeScript signatures for the
//! model (text) and as data for programs (`structuredContent`).

use codemode_catalog::{Catalog, MAX_QUERY_BYTES};
use rmcp::model::{CallToolResult, ContentBlock, JsonObject};
use serde_json::Value;

use crate::describe::{DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT};

/// The arguments of one `search` call, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SearchArgs {
    pub query: String,
    pub limit: usize,
}

impl SearchArgs {
    /// Reads `{ query, limit? }`. A missing query is an error the agent can fix; a limit out
    /// of range is clamped rather than refused.
    pub fn parse(arguments: Option<&JsonObject>) -> Result<SearchArgs, String> {
        let arguments =
            arguments.ok_or("search needs arguments: { query: string, limit?: number }")?;
        let query = match arguments.get("query") {
            Some(Value::String(query)) => query.clone(),
            Some(Value::Null) | None => {
                return Err("search needs `query` (a string; empty lists the namespaces)".into())
            }
            Some(other) => return Err(format!("`query` must be a string, not {other}")),
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
        Ok(SearchArgs { query, limit })
    }
}

pub(crate) fn search_result(catalog: &Catalog, args: &SearchArgs) -> CallToolResult {
    let results = catalog.search(&args.query, args.limit);
    let text = catalog.render_search(&results);
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    // `SearchResults` is plain data (strings and numbers); serializing it cannot fail.
    result.structured_content = serde_json::to_value(&results).ok();
    result
}
