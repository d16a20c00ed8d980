//! A server's tool list as the gateway sees it: filtered by the config, with a compiled argument
//! validator per tool.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use codemode_catalog::ToolSpec;
use serde_json::Value;

use crate::config::ToolFilter;
use crate::validate::ArgumentValidator;

pub(crate) struct ToolEntry {
    /// The tool as the server described it (schemas and annotations passed on as JSON).
    pub tool: ToolSpec,
    /// `None` when the server's schema could not be compiled: the server validates then.
    pub validator: Option<Arc<ArgumentValidator>>,
}

/// The exposed tools of one server, in the server's order.
#[derive(Default)]
pub(crate) struct ToolSet {
    entries: Vec<ToolEntry>,
    index: HashMap<String, usize>,
    /// Tools the server has but the config's filter hides.
    hidden: BTreeSet<String>,
}

impl ToolSet {
    pub(crate) fn build(
        server: &str,
        filter: &ToolFilter,
        tools: Vec<rmcp::model::Tool>,
    ) -> ToolSet {
        let mut set = ToolSet::default();
        for tool in tools {
            let name = tool.name.to_string();
            if !filter.permits(&name) {
                set.hidden.insert(name);
                continue;
            }
            if set.index.contains_key(&name) {
                tracing::warn!(server, tool = %name, "server lists a tool twice; keeping the first");
                continue;
            }
            let entry = entry(server, tool);
            set.index.insert(name, set.entries.len());
            set.entries.push(entry);
        }
        if let ToolFilter::Allow(allowed) = filter {
            for missing in allowed
                .iter()
                .filter(|n| !set.index.contains_key(n.as_str()))
            {
                tracing::warn!(server, tool = %missing, "`tools.allow` names a tool this server does not have");
            }
        }
        set
    }

    pub(crate) fn get(&self, name: &str) -> Option<&ToolEntry> {
        self.index.get(name).map(|&i| &self.entries[i])
    }

    pub(crate) fn is_hidden(&self, name: &str) -> bool {
        self.hidden.contains(name)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn tools(&self) -> impl Iterator<Item = &ToolSpec> {
        self.entries.iter().map(|e| &e.tool)
    }
}

fn entry(server: &str, tool: rmcp::model::Tool) -> ToolEntry {
    let input_schema = Value::Object((*tool.input_schema).clone());
    let validator = match ArgumentValidator::compile(&input_schema) {
        Ok(validator) => Some(Arc::new(validator)),
        Err(reason) => {
            tracing::warn!(server, tool = %tool.name, %reason,
                "cannot compile the tool's inputSchema; its arguments go unchecked");
            None
        }
    };
    let annotations = tool
        .annotations
        .as_ref()
        .and_then(|a| serde_json::to_value(a).ok());
    let title = tool
        .title
        .clone()
        .or_else(|| tool.annotations.as_ref().and_then(|a| a.title.clone()));
    ToolEntry {
        tool: ToolSpec {
            name: tool.name.to_string(),
            title,
            description: tool.description.as_ref().map(|d| d.to_string()),
            input_schema,
            output_schema: tool
                .output_schema
                .as_ref()
                .map(|s| Value::Object((**s).clone())),
            annotations,
            keywords: None,
        },
        validator,
    }
}
