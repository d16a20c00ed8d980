//! `codemode serve` with real upstream servers: a clean shutdown on SIGTERM (HTTP) and on
//! stdin closing (stdio) takes the upstream child processes with it; `codemode tokens` and
//! `codemode search` over the five pinned servers (everything, memory, filesystem, time, git).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    alive, children_of, codemode, dep, node, path_str, run_client, wait_with_timeout, Client,
    HttpGateway,
};
use serde_json::{json, Value};

/// An `mcpServers` file with the five real servers, in `dir`.
fn five_servers(dir: &Path) -> std::path::PathBuf {
    let files = dir.join("files");
    std::fs::create_dir_all(&files).expect("creates a dir");
    std::fs::write(
        files.join("hello.txt"),
        "hello from the filesystem server\n",
    )
    .expect("writes");
    let repo = dir.join("repo");
    let status = Command::new("git")
        .args(["init", "-q"])
        .arg(&repo)
        .status()
        .expect("git is needed for mcp-server-git");
    assert!(status.success());
    let node = path_str(&node());
    let package = |name: &str| {
        path_str(&dep(&format!(
            "node/node_modules/@modelcontextprotocol/{name}/dist/index.js"
        )))
    };
    let config = json!({
        "mcpServers": {
            "everything": { "command": node, "args": [package("server-everything"), "stdio"] },
            "memory": {
                "command": node,
                "args": [package("server-memory")],
                "env": { "MEMORY_FILE_PATH": path_str(&dir.join("memory.jsonl")) }
            },
            "filesystem": { "command": node, "args": [package("server-filesystem"), path_str(&files)] },
            "time": {
                "command": path_str(&dep("venv/bin/mcp-server-time")),
                "args": ["--local-timezone", "UTC"]
            },
            "git": {
                "command": path_str(&dep("venv/bin/mcp-server-git")),
                "args": ["--repository", path_str(&repo)]
            }
        }
    });
    let path = dir.join("servers.json");
    std::fs::write(&path, config.to_string()).expect("writes the config");
    path
}

/// A sandbox worker, or any child not yet past its `exec` (its command line is still the
/// gateway's own): neither is an upstream server.
fn is_sandbox_worker(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|cmdline| {
            let mut args = cmdline.split(|b| *b == 0);
            let program = args.next().unwrap_or_default();
            program == codemode().as_bytes() || args.any(|arg| arg == b"__worker")
        })
        .unwrap_or(true)
}

/// Waits until `pid` has at least `count` children that are upstream servers (its warm
/// sandbox workers, `codemode __worker`, are left out).
fn wait_for_children(pid: u32, count: usize) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let children: Vec<u32> = children_of(pid)
            .into_iter()
            .filter(|child| !is_sandbox_worker(*child))
            .collect();
        if children.len() >= count || Instant::now() > deadline {
            return children;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_all_gone(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|pid| alive(*pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<u32> = pids.iter().copied().filter(|pid| alive(*pid)).collect();
    assert!(
        left.is_empty(),
        "upstream processes outlived the gateway: {left:?}"
    );
}

#[test]
fn sigterm_stops_the_http_gateway_and_its_upstream_servers() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = five_servers(dir.path());
    let mut gateway = HttpGateway::start(&["--config", &path_str(&config)], &[]);
    let children = wait_for_children(gateway.child.id(), 5);
    assert_eq!(children.len(), 5, "{}", gateway.stderr());

    // A real client uses two upstream servers in one snippet while they run.
    let snippet = r#"
        const now = await tools.time.get_current_time({ timezone: "UTC" });
        const files = await tools.filesystem.list_directory({ path: "."
        });
        return { hasTime: JSON.stringify(now).includes("UTC"), files: JSON.stringify(files) };
    "#;
    let snippet = snippet.replace(
        "path: \".\"",
        &format!("path: {:?}", path_str(&dir.path().join("files"))),
    );
    let report = run_client(
        Client::TypeScript,
        &json!({ "server": { "url": gateway.url }, "query": "current time", "snippet": snippet }),
    );
    assert_eq!(report["tools"], json!(["search", "execute"]));
    assert!(
        report["search"]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("tools.time."),
        "{report}"
    );
    let result = &report["execute"]["structuredContent"]["result"];
    assert_eq!(result["hasTime"], json!(true), "{report}");
    assert!(
        result["files"]
            .as_str()
            .unwrap_or_default()
            .contains("hello.txt"),
        "{report}"
    );

    let status = gateway.terminate(Duration::from_secs(15));
    assert!(
        status.success(),
        "exit status {status}; stderr:\n{}",
        gateway.stderr()
    );
    assert_all_gone(&children);
}

#[test]
fn closing_stdin_stops_the_stdio_gateway_and_its_upstream_servers() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = five_servers(dir.path());
    let mut child = Command::new(codemode())
        .args(["serve", "--config", &path_str(&config)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("codemode starts");
    let mut stdin = child.stdin.take().expect("piped");
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": { "name": "raw", "version": "1" }
        }
    });
    writeln!(stdin, "{initialize}").expect("writes initialize");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("reads the answer");
    let answer: Value = serde_json::from_str(&line).expect("a JSON-RPC answer on stdout");
    assert_eq!(
        answer["result"]["serverInfo"]["name"],
        json!("codemode"),
        "{answer}"
    );
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .expect("writes initialized");
    let children = wait_for_children(child.id(), 5);
    assert_eq!(children.len(), 5);

    drop(stdin);
    let status = wait_with_timeout(&mut child, Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");
    assert_all_gone(&children);
}

#[test]
fn tokens_and_search_over_the_five_real_servers() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = path_str(&five_servers(dir.path()));
    let output = Command::new(codemode())
        .args(["tokens", "--config", &config, "--json"])
        .output()
        .expect("codemode tokens runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    let upstreams = report["upstreams"].as_object().expect("upstreams");
    let names: Vec<&str> = upstreams.keys().map(String::as_str).collect();
    assert_eq!(names, ["everything", "filesystem", "git", "memory", "time"]);
    let classic = report["classic"].as_u64().expect("classic");
    let codemode_tokens = report["codemode"].as_u64().expect("codemode");
    let sum: u64 = upstreams
        .values()
        .filter_map(|u| u["classic"].as_u64())
        .sum();
    assert_eq!(sum, classic);
    assert!(codemode_tokens * 5 < classic, "{report}");
    let reduction = report["reduction"].as_f64().expect("reduction");
    assert!((reduction - (1.0 - codemode_tokens as f64 / classic as f64)).abs() < 1e-3);
    eprintln!("codemode tokens, five servers: {report}");

    let output = Command::new(codemode())
        .args(["search", "read a file", "--config", &config])
        .output()
        .expect("codemode search runs");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("tools.filesystem.read"), "{text}");
}
