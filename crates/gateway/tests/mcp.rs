//! The gateway's MCP behaviour, driven by the official Rust SDK's client over an in-process
//! pipe, in both lifecycles: 2025-11-25 (`initialize`, notifications on the session) and
//! 2026-07-28 (`server/discover`, notifications on `subscriptions/listen`).
//!
//! The tools come from the built-in demo catalogue, and from a small changing source where
//! a test needs the catalogue to change under a connected client.

#![allow(deprecated)] // MCP logging is deprecated by SEP-2577, but 2025-11-25 clients use it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use codemode_catalog::{Catalog, NamespaceStatus, SourceNamespace, ToolSource, ToolSpec};
use codemode_demo::DemoSource;
use codemode_gateway::{Gateway, GatewayOptions, ALL_TYPES_URI};
use codemode_sandbox::ToolFuture;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, LoggingLevel, LoggingMessageNotificationParam,
    ProtocolVersion, ReadResourceRequestParams, ResourceContents, ServerNotification,
    SetLevelRequestParams, SubscriptionFilter,
};
use rmcp::service::{
    ClientLifecycleMode, ClientServiceExt, NotificationContext, RunningService, ServiceExt,
};
use rmcp::{ClientHandler, RoleClient};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

/// Records the notifications a 2025-11-25 client receives.
#[derive(Clone)]
struct Recorder {
    events: mpsc::UnboundedSender<String>,
}

impl ClientHandler for Recorder {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.events.send("tools/list_changed".into());
    }
    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.events.send("resources/list_changed".into());
    }
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self
            .events
            .send(format!("log {:?} {}", params.level, params.data));
    }
}

struct Connected {
    client: RunningService<RoleClient, Recorder>,
    events: mpsc::UnboundedReceiver<String>,
}

async fn connect(gateway: &Gateway, lifecycle: ClientLifecycleMode) -> Connected {
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    let session = gateway.new_session();
    tokio::spawn(async move {
        if let Ok(running) = session.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    let (tx, events) = mpsc::unbounded_channel();
    let client = Recorder { events: tx }
        .serve_with_lifecycle(client_io, lifecycle)
        .await
        .expect("the client connects");
    Connected { client, events }
}

fn legacy() -> ClientLifecycleMode {
    ClientLifecycleMode::Initialize
}

fn modern() -> ClientLifecycleMode {
    ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    }
}

fn demo_gateway() -> Gateway {
    Gateway::new(
        Catalog::new(vec![Arc::new(DemoSource::new())]),
        GatewayOptions::default(),
    )
}

async fn call(
    client: &RunningService<RoleClient, Recorder>,
    tool: &str,
    arguments: Value,
) -> CallToolResult {
    let Value::Object(arguments) = arguments else {
        panic!("arguments must be an object");
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(arguments))
        .await
        .expect("tools/call answers")
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn both_lifecycles_list_exactly_search_and_execute() {
    let gateway = demo_gateway();
    for lifecycle in [legacy(), modern()] {
        let connected = connect(&gateway, lifecycle.clone()).await;
        let tools = connected.client.list_all_tools().await.expect("tools/list");
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, ["search", "execute"], "{lifecycle:?}");
        let execute = tools[1].description.as_deref().unwrap_or_default();
        assert!(
            execute.contains("tools.<namespace>.<name>(args)"),
            "{execute}"
        );
        assert!(execute.contains("- orders (2)"), "{execute}");
        assert!(execute.contains("- customers (2)"), "{execute}");
        connected.client.cancel().await.expect("closes");
    }
}

#[tokio::test]
async fn execute_returns_the_value_as_text_and_structured_content() {
    let gateway = demo_gateway();
    let connected = connect(&gateway, modern()).await;
    let code = r#"
        const orders = await tools.orders.list({ since: "2026-06-01", status: "paid" });
        const ids = [...new Set(orders.map((o) => o.customerId))].slice(0, 3);
        const customers = await tools.customers.batchGet(ids);
        console.log("orders", orders.length);
        return ids.map((id) => customers[id].country).length;
    "#;
    let result = call(&connected.client, "execute", json!({ "code": code })).await;
    assert_eq!(result.is_error, Some(false), "{}", text(&result));
    let structured = result
        .structured_content
        .clone()
        .expect("structuredContent");
    assert_eq!(structured["result"], json!(3));
    assert_eq!(
        result.content[0].as_text().map(|t| t.text.as_str()),
        Some("3")
    );
    assert_eq!(structured["callCount"], json!(2));
    assert_eq!(structured["calls"][0]["tool"], json!("orders.list"));
    assert_eq!(structured["calls"][0]["ok"], json!(true));
    assert_eq!(structured["logs"][0]["level"], json!("log"));
    assert!(text(&result).contains("[log] orders "), "{}", text(&result));
}

#[tokio::test]
async fn a_failing_snippet_is_an_error_result_with_kind_message_and_line() {
    let gateway = demo_gateway();
    let connected = connect(&gateway, legacy()).await;
    let code = "const orders = await tools.orders.list({ since: \"2026-06-01\" });\nreturn orders[0].customer.name;";
    let result = call(&connected.client, "execute", json!({ "code": code })).await;
    assert_eq!(result.is_error, Some(true));
    let message = text(&result);
    assert!(message.starts_with("runtime error: TypeError"), "{message}");
    assert!(
        message.contains("2 | return orders[0].customer.name;"),
        "{message}"
    );
    let error = &result.structured_content.expect("structuredContent")["error"];
    assert_eq!(error["kind"], json!("runtime"));
    assert_eq!(error["line"], json!(2));

    let result = call(&connected.client, "execute", json!({ "code": "return (" })).await;
    assert_eq!(result.is_error, Some(true));
    assert!(
        text(&result).starts_with("syntax error"),
        "{}",
        text(&result)
    );

    let code = "return await tools.orders.get({ id: 'nope' });";
    let result = call(&connected.client, "execute", json!({ "code": code })).await;
    assert_eq!(result.is_error, Some(true));
    let structured = result.structured_content.expect("structuredContent");
    assert_eq!(structured["error"]["kind"], json!("tool"));
    assert!(structured["calls"][0]["error"].is_string(), "{structured}");
}

#[tokio::test]
async fn execute_without_code_is_a_protocol_error_and_unknown_tools_are_refused() {
    let gateway = demo_gateway();
    let connected = connect(&gateway, legacy()).await;
    let params = CallToolRequestParams::new("execute");
    let error = connected
        .client
        .call_tool(params)
        .await
        .expect_err("no code");
    assert!(error.to_string().contains("code"), "{error}");
    let error = connected
        .client
        .call_tool(CallToolRequestParams::new("orders.list"))
        .await
        .expect_err("not a gateway tool");
    assert!(error.to_string().contains("search"), "{error}");
}

#[tokio::test]
async fn search_returns_signatures_and_an_empty_query_lists_namespaces() {
    let gateway = demo_gateway();
    let connected = connect(&gateway, legacy()).await;
    let result = call(
        &connected.client,
        "search",
        json!({ "query": "orders placed since a date", "limit": 3 }),
    )
    .await;
    let found = text(&result);
    assert!(found.contains("tools.orders.list(args: {"), "{found}");
    let structured = result.structured_content.expect("structuredContent");
    assert_eq!(structured["namespaces"][0]["namespace"], json!("orders"));

    let listed = text(&call(&connected.client, "search", json!({ "query": "" })).await);
    assert!(listed.contains("tools.orders"), "{listed}");
    assert!(listed.contains("tools.customers"), "{listed}");

    let missing = call(&connected.client, "search", json!({ "limit": 3 })).await;
    assert_eq!(missing.is_error, Some(true));
}

#[tokio::test]
async fn code_can_search_the_catalogue_itself() {
    let gateway = demo_gateway();
    let connected = connect(&gateway, modern()).await;
    let code = r#"
        const [hit] = await tools.$search("find customers by name or email");
        return hit.path;
    "#;
    let result = call(&connected.client, "execute", json!({ "code": code })).await;
    assert_eq!(
        result.structured_content.expect("structuredContent")["result"],
        json!("tools.customers.search")
    );
}

#[tokio::test]
async fn declarations_are_resources_one_per_namespace() {
    let gateway = demo_gateway();
    let connected = connect(&gateway, legacy()).await;
    let listed = connected
        .client
        .list_all_resources()
        .await
        .expect("resources/list");
    let uris: Vec<&str> = listed.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            ALL_TYPES_URI,
            "codemode://types/orders.d.ts",
            "codemode://types/customers.d.ts"
        ]
    );
    let read = connected
        .client
        .read_resource(ReadResourceRequestParams::new(
            "codemode://types/orders.d.ts",
        ))
        .await
        .expect("resources/read");
    let ResourceContents::TextResourceContents { text, .. } = &read.contents[0] else {
        panic!("text contents");
    };
    assert!(text.contains("declare namespace orders"), "{text}");
    assert!(!text.contains("declare namespace customers"), "{text}");
    let missing = connected
        .client
        .read_resource(ReadResourceRequestParams::new("codemode://types/nope.d.ts"))
        .await;
    assert!(missing.is_err());
}

#[tokio::test]
async fn console_output_is_forwarded_as_log_messages_once_a_level_is_set() {
    let gateway = demo_gateway();
    let mut connected = connect(&gateway, legacy()).await;
    let code = "console.warn('careful'); console.debug('noise'); return 1;";
    call(&connected.client, "execute", json!({ "code": code })).await;
    connected
        .client
        .set_level(SetLevelRequestParams::new(LoggingLevel::Info))
        .await
        .expect("logging/setLevel");
    call(&connected.client, "execute", json!({ "code": code })).await;
    let event = tokio::time::timeout(Duration::from_secs(5), connected.events.recv())
        .await
        .expect("a log message arrives")
        .expect("channel open");
    assert!(event.starts_with("log Warning"), "{event}");
    assert!(event.contains("careful"), "{event}");
    // Only the warning: `debug` is below the level, and nothing was sent before setLevel.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(connected.events.try_recv().is_err());
}

/// A source whose tools the test changes while clients are connected.
struct ChangingSource {
    namespaces: Mutex<Vec<SourceNamespace>>,
    generation: watch::Sender<u64>,
}

impl ChangingSource {
    fn new() -> Arc<ChangingSource> {
        let (generation, _) = watch::channel(0);
        Arc::new(ChangingSource {
            namespaces: Mutex::new(vec![namespace("first", 1)]),
            generation,
        })
    }

    fn add(&self, name: &str) {
        self.namespaces
            .lock()
            .expect("not poisoned")
            .push(namespace(name, 1));
        self.generation.send_modify(|g| *g += 1);
    }
}

impl ToolSource for ChangingSource {
    fn namespaces(&self) -> Vec<SourceNamespace> {
        self.namespaces.lock().expect("not poisoned").clone()
    }
    fn call(&self, _namespace: &str, _tool: &str, args: Value) -> ToolFuture {
        Box::pin(std::future::ready(Ok(args)))
    }
    fn changes(&self) -> Option<watch::Receiver<u64>> {
        Some(self.generation.subscribe())
    }
}

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

#[tokio::test]
async fn a_catalogue_change_reaches_legacy_sessions_and_listeners() {
    let source = ChangingSource::new();
    let catalog = Catalog::new(vec![source.clone()]);
    catalog.watch_sources();
    let gateway = Gateway::new(catalog, GatewayOptions::default());
    let mut old = connect(&gateway, legacy()).await;
    let new = connect(&gateway, modern()).await;
    let mut subscription = new
        .client
        .peer()
        .listen(
            SubscriptionFilter::builder()
                .tools_list_changed()
                .resources_list_changed()
                .build(),
        )
        .await
        .expect("subscriptions/listen");
    // Let the legacy session's watcher start (it begins on `notifications/initialized`).
    tokio::time::sleep(Duration::from_millis(100)).await;

    source.add("second");

    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = tokio::time::timeout(Duration::from_secs(5), old.events.recv())
            .await
            .expect("legacy notification")
            .expect("channel open");
        seen.push(event);
    }
    seen.sort();
    assert_eq!(seen, ["resources/list_changed", "tools/list_changed"]);

    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        let notification = tokio::time::timeout(Duration::from_secs(5), subscription.next())
            .await
            .expect("listen notification")
            .expect("stream open")
            .expect("not ended");
        kinds.push(match notification {
            ServerNotification::ToolListChangedNotification(_) => "tools",
            ServerNotification::ResourceListChangedNotification(_) => "resources",
            other => panic!("unexpected {other:?}"),
        });
    }
    kinds.sort();
    assert_eq!(kinds, ["resources", "tools"]);

    let tools = new.client.list_all_tools().await.expect("tools/list");
    let execute = tools[1].description.as_deref().unwrap_or_default();
    assert!(execute.contains("- second (1)"), "{execute}");
    let found = text(&call(&new.client, "search", json!({ "query": "second service" })).await);
    assert!(found.contains("tools.second."), "{found}");
}

/// However large the thrown value, the reply stays small: the message goes out twice (text
/// and `structuredContent`), so each copy is cut.
#[tokio::test]
async fn huge_errors_are_cut_to_the_reply_budget() {
    let gateway = demo_gateway();
    let connected = connect(&gateway, legacy()).await;
    for code in [
        "throw new Error('x'.repeat(20e6))",
        "throw 'y'.repeat(20e6)",
        "throw { message: 'z'.repeat(20e6) }",
    ] {
        let result = call(&connected.client, "execute", json!({ "code": code })).await;
        assert_eq!(result.is_error, Some(true), "{code}");
        let reply = serde_json::to_string(&result).expect("serializes");
        assert!(
            reply.len() < 64 * 1024,
            "{code}: a {} byte reply",
            reply.len()
        );
        let text = text(&result);
        assert!(
            text.contains("more bytes cut") || text.contains("more characters"),
            "{code}: {}",
            text.chars().take(300).collect::<String>()
        );
    }
    // The gateway still serves.
    let result = call(&connected.client, "execute", json!({ "code": "return 1" })).await;
    assert_eq!(result.is_error, Some(false));
}

#[tokio::test]
async fn search_queries_are_capped() {
    let gateway = demo_gateway();
    let connected = connect(&gateway, legacy()).await;
    let long = "orders ".repeat(2_000);
    let result = call(&connected.client, "search", json!({ "query": long })).await;
    assert_eq!(result.is_error, Some(true));
    assert!(text(&result).contains("at most 4096"), "{}", text(&result));
    let code = format!("return await tools.$search({:?});", long);
    let result = call(&connected.client, "execute", json!({ "code": code })).await;
    assert_eq!(result.is_error, Some(true));
    assert!(text(&result).contains("at most 4096"), "{}", text(&result));
}
