//! The official SDK clients against `codemode serve`: the TypeScript SDK
//! (`@modelcontextprotocol/sdk`) and the Python SDK (PyPI `mcp`), over stdio and over
//! Streamable HTTP; Python in both protocol lifecycles (2025-11-25 `initialize` and
//! 2026-07-28 `server/discover`). Each lists the tools, calls `search`, runs a snippet that
//! uses two namespaces through `execute` (compared with `codemode run` on the same snippet),
//! runs a failing one, and reads a declarations resource.
//!
//! The client scripts (`tests/clients/`) take the server and the snippets as arguments, so
//! the same checks run against real upstream servers by passing `--config`.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{codemode, run_client, Client, HttpGateway};
use serde_json::{json, Value};

const SNIPPET: &str = r#"
const orders = await tools.orders.list({ since: "2026-05-01", status: "paid" });
const ids = [...new Set(orders.map((o) => o.customerId))];
const customers = await tools.customers.batchGet(ids);
const byCountry: Record<string, number> = {};
for (const o of orders) {
  const country = customers[o.customerId].country;
  byCountry[country] = (byCountry[country] ?? 0) + o.total;
}
const top = Object.entries(byCountry).sort((a, b) => b[1] - a[1])[0];
return { orders: orders.length, customers: ids.length, topCountry: top[0] };
"#;

const FAILING: &str = "const orders = await tools.orders.list({ since: \"2026-06-01\" });\nreturn orders[0].customer.name;";

/// The snippet's value as `codemode run` computes it, without MCP in between.
fn expected_value() -> Value {
    let mut child = Command::new(codemode())
        .args(["run", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("codemode run starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(SNIPPET.as_bytes())
        .expect("writes the snippet");
    let output = child.wait_with_output().expect("codemode run finishes");
    assert!(
        output.status.success(),
        "codemode run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("codemode run prints JSON")
}

fn spec(server: Value) -> Value {
    json!({
        "server": server,
        "query": "orders placed since a date",
        "snippet": SNIPPET,
        "failingSnippet": FAILING,
    })
}

fn stdio_server() -> Value {
    json!({ "command": codemode(), "args": ["serve"] })
}

fn check(report: &Value, protocol: Option<&str>) {
    let context = || serde_json::to_string_pretty(report).unwrap_or_default();
    assert_eq!(
        report["tools"],
        json!(["search", "execute"]),
        "{}",
        context()
    );
    if let Some(protocol) = protocol {
        assert_eq!(report["protocolVersion"], json!(protocol), "{}", context());
    }
    assert_eq!(report["serverName"], json!("codemode"));

    let search = report["search"]["text"].as_str().unwrap_or_default();
    assert_eq!(report["search"]["isError"], json!(false));
    assert!(search.contains("tools.orders.list(args: {"), "{search}");

    let execute = &report["execute"];
    assert_eq!(execute["isError"], json!(false), "{}", context());
    let structured = &execute["structuredContent"];
    assert_eq!(structured["result"], expected_value(), "{}", context());
    assert_eq!(structured["callCount"], json!(2));
    let called: Vec<&str> = structured["calls"]
        .as_array()
        .map(|calls| calls.iter().filter_map(|c| c["tool"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(called, ["orders.list", "customers.batchGet"]);
    let text: Value = serde_json::from_str(
        execute["text"]
            .as_str()
            .unwrap_or_default()
            .lines()
            .next()
            .unwrap_or_default(),
    )
    .expect("the first text block is the value as JSON");
    assert_eq!(text, structured["result"]);

    let failing = &report["failing"];
    assert_eq!(failing["isError"], json!(true), "{}", context());
    let message = failing["text"].as_str().unwrap_or_default();
    assert!(message.starts_with("runtime error: TypeError"), "{message}");
    assert!(
        message.contains("2 | return orders[0].customer.name;"),
        "{message}"
    );
    assert_eq!(failing["structuredContent"]["error"]["line"], json!(2));

    let resources: Vec<&str> = report["resources"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        resources.contains(&"codemode://types/orders.d.ts"),
        "{resources:?}"
    );
    let types = report["firstNamespaceTypes"].as_str().unwrap_or_default();
    assert!(types.contains("declare namespace"), "{types}");
}

#[test]
fn typescript_sdk_over_stdio() {
    let report = run_client(Client::TypeScript, &spec(stdio_server()));
    check(&report, None);
}

#[test]
fn typescript_sdk_over_http() {
    let gateway = HttpGateway::start(&[], &[]);
    let report = run_client(Client::TypeScript, &spec(json!({ "url": gateway.url })));
    check(&report, Some("2025-11-25"));
}

#[test]
fn typescript_sdk_over_http_with_a_bearer_token() {
    let gateway = HttpGateway::start(&[], &[("CODEMODE_TOKEN", "a-long-test-token")]);
    let report = run_client(
        Client::TypeScript,
        &spec(json!({ "url": gateway.url, "token": "a-long-test-token" })),
    );
    check(&report, Some("2025-11-25"));
}

#[test]
fn python_sdk_over_stdio_2025_11_25() {
    let mut spec = spec(stdio_server());
    spec["mode"] = json!("legacy");
    check(&run_client(Client::Python, &spec), Some("2025-11-25"));
}

#[test]
fn python_sdk_over_stdio_2026_07_28() {
    let mut spec = spec(stdio_server());
    spec["mode"] = json!("auto");
    check(&run_client(Client::Python, &spec), Some("2026-07-28"));
}

#[test]
fn python_sdk_over_http_2025_11_25() {
    let gateway = HttpGateway::start(&[], &[]);
    let mut spec = spec(json!({ "url": gateway.url }));
    spec["mode"] = json!("legacy");
    check(&run_client(Client::Python, &spec), Some("2025-11-25"));
}

#[test]
fn python_sdk_over_http_2026_07_28() {
    let gateway = HttpGateway::start(&[], &[]);
    let mut spec = spec(json!({ "url": gateway.url }));
    spec["mode"] = json!("auto");
    check(&run_client(Client::Python, &spec), Some("2026-07-28"));
}
