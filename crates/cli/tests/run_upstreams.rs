//! `codemode run --config` end to end against real upstream servers from npm and PyPI: one
//! snippet that works across two of them, and the failures a user meets first.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

fn deps() -> PathBuf {
    let deps = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.deps");
    assert!(
        deps.join("node/node_modules/.bin/mcp-server-memory")
            .exists()
            && deps.join("venv/bin/mcp-server-time").exists(),
        "the real MCP servers are missing: run scripts/install-test-deps.sh"
    );
    deps.canonicalize().expect("the .deps directory")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("a temp file");
    path
}

fn codemode(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_codemode"))
        .args(args)
        .output()
        .expect("codemode runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn one_snippet_drives_memory_and_time_together() {
    let deps = deps();
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = write(
        dir.path(),
        "mcp.json",
        &json!({
            "mcpServers": {
                "memory": {
                    "command": deps.join("node/node_modules/.bin/mcp-server-memory"),
                    "env": { "MEMORY_FILE_PATH": dir.path().join("memory.jsonl") }
                },
                "time": { "command": deps.join("venv/bin/mcp-server-time") }
            }
        })
        .to_string(),
    );
    let snippet = write(
        dir.path(),
        "snippet.ts",
        r#"
const now = await tools.time.get_current_time({ timezone: "Europe/Paris" });
await tools.memory.create_entities({ entities: [
  { name: "Ada", entityType: "person", observations: ["wrote the first program", `noted at ${now.datetime}`] },
  { name: "Grace", entityType: "person", observations: ["built the first compiler"] },
  { name: "Analytical Engine", entityType: "machine", observations: ["never finished"] },
]});
await tools.memory.create_relations({ relations: [{ from: "Ada", to: "Analytical Engine", relationType: "programmed" }] });
const graph = await tools.memory.read_graph();
console.log(`graph has ${graph.entities.length} entities`);
return graph.entities
  .filter((e) => e.entityType === "person")
  .map((e) => ({ name: e.name, facts: e.observations.length, timezone: now.timezone }));
"#,
    );
    let (code, stdout, stderr) = codemode(&[
        "run",
        snippet.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "stderr: {stderr}");
    let value: Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    assert_eq!(
        value,
        json!([
            { "name": "Ada", "facts": 2, "timezone": "Europe/Paris" },
            { "name": "Grace", "facts": 1, "timezone": "Europe/Paris" }
        ])
    );
    assert!(stderr.contains("[log] graph has 3 entities"), "{stderr}");
    assert!(stderr.contains("call time.get_current_time"), "{stderr}");
    assert!(stderr.contains("call memory.read_graph"), "{stderr}");
}

/// A config with just the Python time server.
fn time_server_config(dir: &Path) -> PathBuf {
    let server = deps().join("venv/bin/mcp-server-time");
    write(
        dir,
        "mcp.json",
        &json!({ "mcpServers": { "time": { "command": server } } }).to_string(),
    )
}

#[test]
fn a_failing_snippet_exits_non_zero_with_the_line() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = time_server_config(dir.path());
    let snippet = write(
        dir.path(),
        "bad.ts",
        "const t = await tools.time.convert_time({ source_timezone: 42 });\nreturn t;",
    );
    let (code, stdout, stderr) = codemode(&[
        "run",
        snippet.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "stderr: {stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("tool error: tools.time.convert_time failed: invalid arguments"),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 | const t = await tools.time.convert_time"),
        "{stderr}"
    );
}

/// The kind of a failed call survives the worker pipe: a snippet can tell bad arguments
/// (nothing reached the server) from a tool that failed.
#[test]
fn a_caught_call_error_says_its_kind() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = time_server_config(dir.path());
    let snippet = write(
        dir.path(),
        "kinds.ts",
        "const kinds = [];\n\
         try { await tools.time.convert_time({ source_timezone: 42 }); } catch (e) { kinds.push(e.kind); }\n\
         try { await tools.time.get_current_time({ timezone: 'Not/AZone' }); } catch (e) { kinds.push(e.kind); }\n\
         return kinds;",
    );
    let (code, stdout, stderr) = codemode(&[
        "run",
        "--json",
        snippet.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "stderr: {stderr}");
    let reply: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        reply["result"],
        json!(["invalid_arguments", "tool_error"]),
        "{stdout}"
    );
}

#[test]
fn a_caught_call_error_carries_the_tool_and_a_typed_argument_says_what_was_expected() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let snippet = write(
        dir.path(),
        "typed.ts",
        "try { await tools.orders.list({ since: 123 }); } catch (e) {\n\
           return { tool: e.tool, kind: e.kind, message: e.message };\n\
         }",
    );
    // The built-in demo tools: no config.
    let (code, stdout, stderr) = codemode(&["run", "--json", snippet.to_str().unwrap()]);
    assert_eq!(code, 0, "stderr: {stderr}");
    let reply: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(reply["result"]["tool"], json!("orders.list"), "{stdout}");
    assert_eq!(
        reply["result"]["kind"],
        json!("invalid_arguments"),
        "{stdout}"
    );
    let message = reply["result"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("/since: expected a string, got the number 123"),
        "{message}"
    );
}

/// A real Python SDK server whose tools answer numbers and booleans as text.
fn text_numbers_config(dir: &Path) -> PathBuf {
    let server =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/text_numbers_server.py");
    write(
        dir,
        "mcp.json",
        &json!({ "mcpServers": { "shop": {
            "command": deps().join("venv/bin/python"),
            "args": [server]
        } } })
        .to_string(),
    )
}

#[test]
fn a_text_that_is_wholly_json_arrives_as_its_value_and_prose_as_text() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = text_numbers_config(dir.path());
    let snippet = write(
        dir.path(),
        "values.ts",
        "const tariff = await tools.shop.tariff({ country: 'FR' });\n\
         const price = await tools.shop.price({ sku: 'a' });\n\
         const stock = await tools.shop.in_stock({ sku: 'a' });\n\
         const note = await tools.shop.note({ sku: 'a' });\n\
         return { total: price + price * tariff / 100, sum: price + tariff, stock, note };",
    );
    let (code, stdout, stderr) = codemode(&[
        "run",
        "--json",
        snippet.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "stderr: {stderr}");
    let reply: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        reply["result"],
        json!({ "total": 111.25, "sum": 111.25, "stock": true, "note": "11.25 is the tariff, not the price" }),
        "{stdout}"
    );
}

#[test]
fn a_broken_entry_names_the_file_and_field_and_costs_only_itself() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = write(
        dir.path(),
        "mcp.json",
        r#"{ "mcpServers": { "memory": { "command": "x", "args": [1] } } }"#,
    );
    let snippet = write(
        dir.path(),
        "call.ts",
        "try { await tools.memory.read_graph(); } catch (e) { return e.message; }",
    );
    let (code, stdout, stderr) = codemode(&[
        "run",
        snippet.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("mcp.json"), "{stderr}");
    assert!(stderr.contains("mcpServers.memory.args[0]"), "{stderr}");
    assert!(
        stdout.contains("tools.memory is configured but unavailable: invalid config entry: mcpServers.memory.args[0]"),
        "{stdout}"
    );
}

#[test]
fn a_config_that_is_not_json_names_the_file_line_and_column() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = write(
        dir.path(),
        "mcp.json",
        "{ \"mcpServers\": {\n  \"memory\": { \"command\" \"x\" } } }",
    );
    let snippet = write(dir.path(), "ok.ts", "return 1");
    let (code, _, stderr) = codemode(&[
        "run",
        snippet.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("mcp.json:2:"), "{stderr}");
}

#[test]
fn an_unreachable_upstream_is_reported_and_the_rest_serve() {
    let deps = deps();
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = write(
        dir.path(),
        "mcp.json",
        &json!({ "mcpServers": {
            "time": { "command": deps.join("venv/bin/mcp-server-time") },
            "ghost": { "command": "/nonexistent/mcp-server" },
        } })
        .to_string(),
    );
    let snippet = write(
        dir.path(),
        "ns.ts",
        "await tools.time.get_current_time({ timezone: 'UTC' });\n\
         let ghost; try { await tools.ghost.anything(); } catch (e) { ghost = e.message; }\n\
         return { namespaces: Object.keys(tools).filter((k) => !k.startsWith('$')), ghost };",
    );
    let (code, stdout, stderr) = codemode(&[
        "run",
        snippet.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let value: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value["namespaces"], json!(["ghost", "time"]), "{value}");
    let ghost = value["ghost"].as_str().unwrap_or_default();
    assert!(
        ghost.starts_with("tools.ghost is configured but unavailable: cannot start"),
        "{ghost}"
    );
    assert!(ghost.contains("command not found"), "{ghost}");
    assert_eq!(
        stderr.matches("upstream `ghost` is unavailable").count(),
        1,
        "said once: {stderr}"
    );
}
