//! The one shape of a tool, whatever its source: an MCP server's tool, an OpenAPI operation,
//! a demo function. Sources fill it in their own names; the catalogue adds the TypeScript
//! identifier beside it ([`crate::typescript::ToolDecl`]) and never copies its fields out.

use serde::Serialize;
use serde_json::Value;

/// One tool as its source describes it, in the source's own names. Schemas and annotations
/// are passed on as JSON, as the source gave them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    /// The tool's name at its source.
    pub name: String,
    /// Display title: for MCP, the tool's `title`, else its `annotations.title`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    #[serde(rename = "inputSchema")]
    pub input_schema: Value,
    /// JSON Schema of the structured result, if the source declares one.
    #[serde(rename = "outputSchema", skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// Behaviour hints (`readOnlyHint`, `destructiveHint`, …), for policy to weigh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
    /// Words the tool is also found by that it does not show: for an HTTP operation, what
    /// its method does to its route ("list", "create") and the route's words. The first
    /// word, when it is a verb, is taken as what the tool does. Search only.
    #[serde(skip)]
    pub keywords: Option<String>,
}

impl ToolSpec {
    /// A tool with only a name and an argument schema; the rest is set by field.
    pub fn new(name: impl Into<String>, input_schema: Value) -> Self {
        ToolSpec {
            name: name.into(),
            title: None,
            description: None,
            input_schema,
            output_schema: None,
            annotations: None,
            keywords: None,
        }
    }
}
