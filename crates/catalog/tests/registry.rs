//! The live catalogue over real sources: the demo tools, and a source whose tools change.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use codemode_catalog::{Catalog, NamespaceStatus, SourceNamespace, ToolSource, ToolSpec};
use codemode_demo::DemoSource;
use codemode_sandbox::{Limits, Sandbox, ToolError, ToolFuture, ToolHost};
use serde_json::{json, Value};
use tokio::sync::watch;

fn demo() -> Catalog {
    Catalog::new(vec![Arc::new(DemoSource::new())])
}

#[test]
fn the_demo_catalogue_lists_its_namespaces() {
    let catalog = demo();
    assert_eq!(catalog.tool_count(), 4);
    let names: Vec<String> = catalog.namespaces().into_iter().map(|n| n.ident).collect();
    assert_eq!(names, ["orders", "customers"]);
    let declarations = catalog.declarations();
    assert!(
        declarations.contains("declare namespace orders"),
        "{declarations}"
    );
    assert!(
        declarations.contains("declare const tools"),
        "{declarations}"
    );
    assert!(catalog
        .namespace_declarations("customers")
        .unwrap()
        .contains("batchGet"));
    assert!(catalog.namespace_declarations("nope").is_none());
}

#[test]
fn search_ranks_names_and_descriptions() {
    let catalog = demo();
    let first = |query: &str| {
        let results = catalog.search(query, 5);
        results.namespaces[0].tools[0].path.clone()
    };
    assert_eq!(first("batchGet"), "tools.customers.batchGet");
    assert_eq!(first("customers.search"), "tools.customers.search");
    assert_eq!(first("find a customer by email"), "tools.customers.search");
    assert_eq!(first("orders placed since a date"), "tools.orders.list");
    assert_eq!(first("get order by id"), "tools.orders.get");
    assert_eq!(first("ordr lst"), "tools.orders.list");
    let rendered = catalog.render_search(&catalog.search("customer", 10));
    assert!(rendered.contains("tools.customers.batchGet("), "{rendered}");
    assert!(rendered.contains("/** Get customers by id"), "{rendered}");
    let rendered = catalog.render_search(&catalog.search("", 10));
    assert!(
        rendered.contains("// tools.orders: Demo shop orders"),
        "{rendered}"
    );
    assert!(rendered.contains("(2 tools)"), "{rendered}");
    let rendered = catalog.render_search(&catalog.search("zebra xylophone", 10));
    assert!(rendered.contains("No tool matched"), "{rendered}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_catalogue_is_the_sandboxs_host() {
    let host: Arc<dyn ToolHost> = Arc::new(demo());
    let code = r#"
const found = await tools.$search("customers by id");
const orders = await tools.orders.list({ since: "2026-06-01" });
const customers = await tools.customers.batchGet(orders.slice(0, 5).map(o => o.customerId));
return { first: found[0].path, rows: Object.keys(customers).length > 0 };
"#;
    let execution = Sandbox::execute(code, host, Limits::default()).await;
    assert_eq!(
        execution.returned().unwrap(),
        Some(json!({ "first": "tools.customers.batchGet", "rows": true }))
    );
}

/// A source whose tool list the test changes, as an upstream's `list_changed` would.
struct Changing {
    tools: Mutex<Vec<&'static str>>,
    changes: watch::Sender<u64>,
}

impl ToolSource for Changing {
    fn namespaces(&self) -> Vec<SourceNamespace> {
        vec![SourceNamespace {
            name: "live".into(),
            status: NamespaceStatus::Ready,
            description: None,
            tools: self
                .tools
                .lock()
                .unwrap()
                .iter()
                .map(|name| ToolSpec {
                    name: name.to_string(),
                    title: None,
                    description: Some(format!("The {name} tool.")),
                    input_schema: json!({ "type": "object" }),
                    output_schema: None,
                    annotations: None,
                    keywords: None,
                })
                .collect(),
        }]
    }

    fn call(&self, _namespace: &str, tool: &str, args: Value) -> ToolFuture {
        let tool = tool.to_string();
        Box::pin(async move {
            if args != json!({}) {
                return Err(ToolError::new("expected {} for a call without arguments"));
            }
            Ok(json!({ "called": tool }))
        })
    }

    fn changes(&self) -> Option<watch::Receiver<u64>> {
        Some(self.changes.subscribe())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_change_reaches_search_and_execute() {
    let source = Arc::new(Changing {
        tools: Mutex::new(vec!["first-tool"]),
        changes: watch::channel(0).0,
    });
    let catalog = Catalog::new(vec![source.clone(), Arc::new(DemoSource::new())]);
    catalog.watch_sources();
    let mut changes = catalog.changes();
    assert_eq!(catalog.tool_count(), 5);

    source.tools.lock().unwrap().push("second-tool");
    source.changes.send_modify(|g| *g += 1);
    tokio::time::timeout(Duration::from_secs(2), changes.changed())
        .await
        .expect("the catalogue noticed")
        .unwrap();
    assert_eq!(catalog.tool_count(), 6);
    assert_eq!(
        catalog.search("second tool", 1).namespaces[0].tools[0].path,
        "tools.live.second_tool"
    );
    let host: Arc<dyn ToolHost> = Arc::new(catalog);
    let execution = Sandbox::execute(
        "return await tools.live.second_tool()",
        host,
        Limits::default(),
    )
    .await;
    assert_eq!(
        execution.returned().unwrap(),
        Some(json!({ "called": "second-tool" }))
    );
}
