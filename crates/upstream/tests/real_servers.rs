//! Against the real MCP servers from npm and PyPI, over stdio: listing, result shapes, errors,
//! argument validation, tool filters, and failures that stay contained.

mod common;

use std::path::Path;
use std::time::Duration;

use codemode_upstream::{CallError, OutputKind, ServerState, ToolFilter, TransportKind, Upstreams};
use common::*;
use serde_json::json;

const CALL: Duration = Duration::from_secs(20);

fn memory(name: &str, file: &Path) -> codemode_upstream::ServerConfig {
    let entry = npm_package("@modelcontextprotocol/server-memory").join("dist/index.js");
    stdio(
        name,
        &node(),
        &[&path_string(&entry)],
        &[("MEMORY_FILE_PATH", &path_string(file))],
    )
}

fn filesystem(name: &str, root: &Path) -> codemode_upstream::ServerConfig {
    let entry = npm_package("@modelcontextprotocol/server-filesystem").join("dist/index.js");
    stdio(
        name,
        &node(),
        &[&path_string(&entry), &path_string(root)],
        &[],
    )
}

fn git_repo(dir: &Path) -> std::path::PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir(&repo).unwrap();
    let status = std::process::Command::new("git")
        .args(["init", "-q"])
        .arg(&repo)
        .status()
        .expect("git is needed for the mcp-server-git test");
    assert!(status.success());
    std::fs::write(repo.join("README.md"), "hello\n").unwrap();
    repo
}

/// All five real servers start together next to three broken entries and a disabled one; the
/// broken ones are reported with their reasons and the rest work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_servers_start_in_parallel_and_failures_stay_contained() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    let repo = git_repo(dir.path());
    let dead_port = free_port();
    let mut disabled = everything_stdio("off");
    disabled.disabled = true;

    let config = config(vec![
        everything_stdio("everything"),
        memory("memory", &dir.path().join("memory.jsonl")),
        filesystem("filesystem", &files),
        stdio(
            "time",
            &venv_bin("mcp-server-time"),
            &["--local-timezone", "UTC"],
            &[],
        ),
        stdio(
            "git",
            &venv_bin("mcp-server-git"),
            &["--repository", &path_string(&repo)],
            &[],
        ),
        stdio("missing", "/nonexistent/bin/mcp-server-nothing", &[], &[]),
        http("unreachable", &format!("http://127.0.0.1:{dead_port}/mcp")),
        fixture("dies", "exit-at-start"),
        disabled,
    ]);
    let upstreams = Upstreams::start(&config).await;

    // Tool counts of the pinned versions (tests/deps/package.json, requirements.txt).
    for (name, tools) in [
        ("everything", 13),
        ("memory", 9),
        ("filesystem", 14),
        ("time", 2),
        ("git", 12),
    ] {
        let status = status(&upstreams, name);
        assert_eq!(status.state, ServerState::Ready, "{status:?}");
        assert_eq!(status.tools, tools, "{name}: {status:?}");
        assert_eq!(status.transport, TransportKind::Stdio);
        let pid = status.pid.expect("a running stdio server has a pid");
        assert!(process_alive(pid));
        let listed = upstreams.tools().get(name).map_or(0, Vec::len);
        assert_eq!(listed, tools, "{name}");
    }

    let failed = |name: &str| match status(&upstreams, name).state {
        ServerState::Failed { reason } => reason,
        other => panic!("{name} should have failed, is {other:?}"),
    };
    let reason = failed("missing");
    assert!(
        reason.contains("/nonexistent/bin/mcp-server-nothing")
            && reason.contains("command not found"),
        "{reason}"
    );
    let reason = failed("unreachable");
    assert!(
        reason.contains(&format!("127.0.0.1:{dead_port}")),
        "{reason}"
    );
    assert!(reason.contains("Connection refused"), "{reason}");
    let reason = failed("dies");
    assert!(reason.contains("exit status: 2"), "{reason}");
    assert!(
        reason.contains("cannot open the database"),
        "stderr tail missing: {reason}"
    );
    assert_eq!(status(&upstreams, "off").state, ServerState::Disabled);
    assert!(upstreams
        .tools()
        .keys()
        .all(|server| !["missing", "unreachable", "dies", "off"].contains(&server.as_str())));

    // The rest work.
    let out = upstreams
        .call("time", "get_current_time", json!({"timezone": "UTC"}), CALL)
        .await
        .unwrap();
    assert_eq!(out.kind, OutputKind::Structured);
    assert_eq!(out.value()["timezone"], "UTC");
    let out = upstreams
        .call(
            "git",
            "git_status",
            json!({"repo_path": path_string(&repo)}),
            CALL,
        )
        .await
        .unwrap();
    assert_eq!(out.kind, OutputKind::Text);
    assert!(
        out.value().as_str().unwrap().contains("README.md"),
        "{out:?}"
    );

    // Calls to broken, disabled or unknown servers say which and why.
    let err = upstreams
        .call("dies", "anything", json!({}), CALL)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CallError::Unavailable { reason, .. } if reason.contains("exit status: 2")),
        "{err}"
    );
    let err = upstreams
        .call("off", "echo", json!({}), CALL)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CallError::Unavailable { reason, .. } if reason.contains("disabled")),
        "{err}"
    );
    let err = upstreams
        .call("nope", "echo", json!({}), CALL)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CallError::UnknownServer { known, .. } if known.len() == 9),
        "{err}"
    );
    assert!(err.to_string().contains("unknown server `nope`"), "{err}");

    let pids: Vec<u32> = upstreams.servers().iter().filter_map(|s| s.pid).collect();
    assert_eq!(pids.len(), 5);
    upstreams.shutdown().await;
    for pid in pids {
        assert!(!process_alive(pid), "child {pid} survived shutdown");
    }
}

/// server-everything: text, structured content, an image, resource links and embedded
/// resources, each in its documented shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_server_result_shapes() {
    init_tracing();
    let upstreams = Upstreams::start(&config(vec![everything_stdio("everything")])).await;
    assert_eq!(status(&upstreams, "everything").state, ServerState::Ready);

    let out = upstreams
        .call("everything", "echo", json!({"message": "hi"}), CALL)
        .await
        .unwrap();
    assert_eq!(
        (out.kind, out.value()),
        (OutputKind::Text, json!("Echo: hi"))
    );

    let out = upstreams
        .call(
            "everything",
            "get-structured-content",
            json!({"location": "Chicago"}),
            CALL,
        )
        .await
        .unwrap();
    assert_eq!(out.kind, OutputKind::Structured);
    assert_eq!(out.value()["conditions"], "Light rain / drizzle");

    let out = upstreams
        .call("everything", "get-tiny-image", json!({}), CALL)
        .await
        .unwrap();
    assert_eq!(out.kind, OutputKind::Content);
    let value = out.value();
    let blocks = value.as_array().unwrap();
    assert_eq!(blocks.len(), 3);
    assert_eq!(blocks[0]["type"], "text");
    assert_eq!(blocks[1]["type"], "image");
    assert_eq!(blocks[1]["mimeType"], "image/png");
    assert!(
        blocks[1]["data"]
            .as_str()
            .unwrap()
            .starts_with("iVBORw0KGgo"),
        "PNG base64 expected"
    );

    let out = upstreams
        .call(
            "everything",
            "get-resource-links",
            json!({"count": 2}),
            CALL,
        )
        .await
        .unwrap();
    let value = out.value();
    let links: Vec<_> = value
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "resource_link")
        .collect();
    assert_eq!(links.len(), 2);
    assert!(links[0]["uri"]
        .as_str()
        .unwrap()
        .starts_with("demo://resource/"));
    assert!(links[0]["name"].is_string());

    let out = upstreams
        .call(
            "everything",
            "get-resource-reference",
            json!({"resourceType": "Text", "resourceId": 1}),
            CALL,
        )
        .await
        .unwrap();
    let resource = out
        .value()
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "resource")
        .cloned()
        .unwrap();
    assert_eq!(resource["uri"], "demo://resource/dynamic/text/1");
    assert_eq!(resource["mimeType"], "text/plain");
    assert!(resource["text"].as_str().unwrap().contains("Resource 1"));

    // Arguments are checked against the zod-generated inputSchema before sending.
    let err = upstreams
        .call("everything", "get-sum", json!({"a": "one", "b": 2}), CALL)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        CallError::InvalidArguments {
            server: "everything".into(),
            tool: "get-sum".into(),
            message: r#"/a: "one" is not of type "number""#.into(),
        }
    );
    let err = upstreams
        .call("everything", "no-such-tool", json!({}), CALL)
        .await
        .unwrap_err();
    assert!(
        matches!(err, CallError::UnknownTool { hidden: false, .. }),
        "{err}"
    );
    upstreams.shutdown().await;
}

/// server-memory keeps its graph in MEMORY_FILE_PATH (env applied); validation names nested
/// fields; results are its structured content.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_server_calls_and_validation() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("memory.jsonl");
    let upstreams = Upstreams::start(&config(vec![memory("memory", &file)])).await;

    let err = upstreams
        .call(
            "memory",
            "create_entities",
            json!({"entities": [{"name": 42, "entityType": "x", "observations": []}]}),
            CALL,
        )
        .await
        .unwrap_err();
    match &err {
        CallError::InvalidArguments { message, .. } => {
            assert_eq!(message, r#"/entities/0/name: 42 is not of type "string""#)
        }
        other => panic!("expected InvalidArguments, got {other:?}"),
    }
    let err = upstreams
        .call("memory", "create_entities", json!([1, 2]), CALL)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("arguments must be an object, found an array"),
        "{err}"
    );

    let entity =
        json!({"name": "Ada", "entityType": "person", "observations": ["wrote the first program"]});
    let out = upstreams
        .call(
            "memory",
            "create_entities",
            json!({"entities": [entity]}),
            CALL,
        )
        .await
        .unwrap();
    assert_eq!(out.kind, OutputKind::Structured);
    assert_eq!(out.value()["entities"][0]["name"], "Ada");
    let out = upstreams
        .call("memory", "read_graph", serde_json::Value::Null, CALL)
        .await
        .unwrap();
    assert_eq!(
        out.value()["entities"][0]["observations"][0],
        "wrote the first program"
    );
    upstreams.shutdown().await;
    let saved = std::fs::read_to_string(&file).expect("the server wrote MEMORY_FILE_PATH");
    assert!(saved.contains("Ada"));
}

/// server-filesystem: the tool's own refusal (`isError`) is a `CallError::Tool` with its text;
/// a `hide` filter removes tools from the list and from calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_server_errors_and_tool_filter() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let mut server = filesystem("fs", dir.path());
    server.tools = ToolFilter::Hide(["write_file".to_owned(), "move_file".to_owned()].into());
    let upstreams = Upstreams::start(&config(vec![server])).await;
    assert_eq!(status(&upstreams, "fs").tools, 12);
    assert!(upstreams.tools()["fs"]
        .iter()
        .all(|t| t.name != "write_file"));

    std::fs::write(dir.path().join("note.txt"), "remember the milk").unwrap();
    let path = path_string(&dir.path().join("note.txt"));
    let out = upstreams
        .call("fs", "read_text_file", json!({ "path": path }), CALL)
        .await
        .unwrap();
    assert_eq!(out.kind, OutputKind::Structured);
    assert_eq!(out.value()["content"], "remember the milk");

    let err = upstreams
        .call(
            "fs",
            "read_text_file",
            json!({"path": "/etc/hostname"}),
            CALL,
        )
        .await
        .unwrap_err();
    match &err {
        CallError::Tool {
            server,
            tool,
            message,
        } => {
            assert_eq!((server.as_str(), tool.as_str()), ("fs", "read_text_file"));
            assert!(message.contains("outside allowed directories"), "{message}");
        }
        other => panic!("expected CallError::Tool, got {other:?}"),
    }
    let err = upstreams
        .call(
            "fs",
            "write_file",
            json!({"path": path, "content": "x"}),
            CALL,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, CallError::UnknownTool { hidden: true, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("hidden by the config"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("note.txt")).unwrap(),
        "remember the milk"
    );
    upstreams.shutdown().await;
}

/// An allow-list keeps only the named tools; the Python servers' error results come through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_server_allow_list_and_tool_error() {
    init_tracing();
    let mut server = stdio(
        "time",
        &venv_bin("mcp-server-time"),
        &["--local-timezone", "UTC"],
        &[],
    );
    server.tools = ToolFilter::Allow(["get_current_time".to_owned()].into());
    let upstreams = Upstreams::start(&config(vec![server])).await;
    let tools = upstreams.tools().remove("time").unwrap_or_default();
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0].name, "get_current_time");
    assert!(tools[0].output_schema.is_some());
    assert_eq!(tools[0].input_schema["required"], json!(["timezone"]));

    let err = upstreams
        .call(
            "time",
            "get_current_time",
            json!({"timezone": "Mars/Olympus"}),
            CALL,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CallError::Tool { message, .. } if message.contains("Invalid timezone")),
        "{err}"
    );
    upstreams.shutdown().await;
}
