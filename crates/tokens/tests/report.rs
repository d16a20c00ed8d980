//! The token comparison over catalogues of 10 and 10,000 tools.

use std::sync::Arc;

use codemode_catalog::{Catalog, NamespaceStatus, SourceNamespace, ToolSource, ToolSpec};
use codemode_gateway::{Gateway, GatewayOptions};
use codemode_sandbox::ToolFuture;
use codemode_tokens::token_report;
use serde_json::{json, Value};

fn namespace(name: &str, tools: usize) -> SourceNamespace {
    SourceNamespace {
        name: name.to_string(),
        status: NamespaceStatus::Ready,
        description: Some(format!(
            "The {name} service, with a description of some length."
        )),
        tools: (0..tools)
            .map(|i| ToolSpec {
                name: format!("operation_number_{i}"),
                title: None,
                description: Some(format!(
                    "Performs operation {i} on the {name} service and returns what it did."
                )),
                input_schema: json!({
                    "type": "object",
                    "properties": {
                        "id": { "type": "string", "description": "Which record." },
                        "limit": { "type": "integer", "minimum": 1 }
                    },
                    "required": ["id"]
                }),
                output_schema: None,
                annotations: None,
                keywords: None,
            })
            .collect(),
    }
}

struct StaticSource(Vec<SourceNamespace>);

impl ToolSource for StaticSource {
    fn namespaces(&self) -> Vec<SourceNamespace> {
        self.0.clone()
    }
    fn call(&self, _namespace: &str, _tool: &str, args: Value) -> ToolFuture {
        Box::pin(std::future::ready(Ok(args)))
    }
}

#[tokio::test]
async fn the_tool_descriptions_do_not_grow_with_the_catalogue() {
    let small = Gateway::new(
        Catalog::new(vec![Arc::new(StaticSource(vec![namespace("only", 10)]))]),
        GatewayOptions::default(),
    );
    let large = Gateway::new(
        Catalog::new(vec![Arc::new(StaticSource(
            (0..500)
                .map(|i| namespace(&format!("service{i}"), 20))
                .collect(),
        ))]),
        GatewayOptions::default(),
    );
    assert_eq!(large.catalog().tool_count(), 10_000);
    let small = token_report(&small).expect("tokenizer");
    let large = token_report(&large).expect("tokenizer");
    assert!(
        large.classic > 500 * small.classic,
        "{large:?} vs {small:?}"
    );
    assert!(
        large.codemode < small.codemode * 3 / 2,
        "10,000 tools cost {} tokens in tools/list, 10 tools {}",
        large.codemode,
        small.codemode
    );
    // The bound: tools/list stays at 700 tokens or fewer, whatever the catalogue.
    assert!(large.codemode <= 700, "{}", large.codemode);
    assert!(small.codemode <= 700, "{}", small.codemode);
    eprintln!(
        "tools/list: {} tokens for 10 tools, {} for 10,000",
        small.codemode, large.codemode
    );
}
