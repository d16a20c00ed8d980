//! A namespace's tools as the source keeps them between catalogue rebuilds.
//!
//! The catalogue takes its own copy of every tool on each rebuild, so the source's copy is
//! read only then. Kept as parsed JSON, the GitHub spec's 1,200 tool schemas (each with its
//! `$defs`) cost tens of megabytes twice over; kept as their JSON text they cost ~5 MB, and
//! are parsed again (tens of milliseconds) on the rare rebuild.

use codemode_catalog::ToolSpec;
use serde_json::Value;

#[derive(Debug)]
pub(crate) struct StoredTools(Vec<StoredTool>);

#[derive(Debug)]
struct StoredTool {
    /// Everything but the schemas, which are `Value::Null` here.
    spec: ToolSpec,
    input_schema: Box<str>,
    output_schema: Option<Box<str>>,
}

impl StoredTools {
    pub fn new(tools: Vec<ToolSpec>) -> Self {
        StoredTools(
            tools
                .into_iter()
                .map(|mut spec| {
                    let input_schema = spec.input_schema.take().to_string().into_boxed_str();
                    let output_schema = spec
                        .output_schema
                        .take()
                        .map(|schema| schema.to_string().into_boxed_str());
                    StoredTool {
                        spec,
                        input_schema,
                        output_schema,
                    }
                })
                .collect(),
        )
    }

    /// The tools, schemas parsed again.
    pub fn specs(&self) -> Vec<ToolSpec> {
        // The text was written from a `Value` just above: it always parses.
        let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or_default();
        self.0
            .iter()
            .map(|stored| ToolSpec {
                input_schema: parse(&stored.input_schema),
                output_schema: stored.output_schema.as_deref().map(parse),
                ..stored.spec.clone()
            })
            .collect()
    }
}
