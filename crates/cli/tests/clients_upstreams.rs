//! The official SDK clients against `codemode serve --config` with two real upstream servers
//! (server-memory from npm, mcp-server-time from PyPI): one `execute` drives both.

mod common;

use std::path::Path;

use common::{codemode, dep, path_str, run_client, Client, HttpGateway};
use serde_json::{json, Value};

const SNIPPET: &str = r#"
const now = await tools.time.get_current_time({ timezone: "Asia/Tokyo" });
await tools.memory.create_entities({ entities: [
  { name: "Tokyo office", entityType: "site", observations: [`opened ${now.datetime.slice(0, 4)}`] },
  { name: "Kyoto lab", entityType: "site", observations: ["research"] },
  { name: "Mika", entityType: "person", observations: ["runs the lab"] },
]});
const graph = await tools.memory.read_graph();
return graph.entities
  .filter((e) => e.entityType === "site")
  .map((e) => ({ name: e.name, tz: now.timezone }));
"#;

const FAILING: &str = "const t = await tools.time.get_current_time({ timezone: \"Asia/Tokyo\" });\nreturn t.missing.field;";

fn write_config(dir: &Path) -> String {
    let config = json!({
        "mcpServers": {
            "memory": {
                "command": dep("node/node_modules/.bin/mcp-server-memory"),
                "env": { "MEMORY_FILE_PATH": dir.join("memory.jsonl") }
            },
            "time": { "command": dep("venv/bin/mcp-server-time") }
        }
    });
    let path = dir.join("mcp.json");
    std::fs::write(&path, config.to_string()).expect("writes the config");
    path_str(&path)
}

fn spec(server: Value) -> Value {
    json!({
        "server": server,
        "query": "store entities in the knowledge graph",
        "snippet": SNIPPET,
        "failingSnippet": FAILING,
    })
}

fn check(report: &Value) {
    let context = || serde_json::to_string_pretty(report).unwrap_or_default();
    assert_eq!(
        report["tools"],
        json!(["search", "execute"]),
        "{}",
        context()
    );
    let search = report["search"]["text"].as_str().unwrap_or_default();
    assert!(search.contains("tools.memory.create_entities("), "{search}");
    let execute = &report["execute"];
    assert_eq!(execute["isError"], json!(false), "{}", context());
    assert_eq!(
        execute["structuredContent"]["result"],
        json!([
            { "name": "Tokyo office", "tz": "Asia/Tokyo" },
            { "name": "Kyoto lab", "tz": "Asia/Tokyo" }
        ]),
        "{}",
        context()
    );
    let called: Vec<&str> = execute["structuredContent"]["calls"]
        .as_array()
        .map(|calls| calls.iter().filter_map(|c| c["tool"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        called,
        [
            "time.get_current_time",
            "memory.create_entities",
            "memory.read_graph"
        ]
    );
    let failing = &report["failing"];
    assert_eq!(failing["isError"], json!(true), "{}", context());
    assert_eq!(failing["structuredContent"]["error"]["line"], json!(2));
    let resources: Vec<&str> = report["resources"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        resources.contains(&"codemode://types/memory.d.ts"),
        "{resources:?}"
    );
}

fn stdio(config: &str) -> Value {
    json!({ "command": codemode(), "args": ["serve", "--config", config] })
}

#[test]
fn typescript_sdk_over_stdio_with_two_upstreams() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = write_config(dir.path());
    check(&run_client(Client::TypeScript, &spec(stdio(&config))));
}

#[test]
fn typescript_sdk_over_http_with_two_upstreams() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = write_config(dir.path());
    let gateway = HttpGateway::start(&["--config", &config], &[]);
    check(&run_client(
        Client::TypeScript,
        &spec(json!({ "url": gateway.url })),
    ));
}

#[test]
fn python_sdk_over_stdio_with_two_upstreams() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = write_config(dir.path());
    let mut spec = spec(stdio(&config));
    spec["mode"] = json!("legacy");
    check(&run_client(Client::Python, &spec));
}

#[test]
fn python_sdk_over_http_with_two_upstreams() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = write_config(dir.path());
    let gateway = HttpGateway::start(&["--config", &config], &[]);
    let mut spec = spec(json!({ "url": gateway.url }));
    spec["mode"] = json!("auto");
    check(&run_client(Client::Python, &spec));
}
