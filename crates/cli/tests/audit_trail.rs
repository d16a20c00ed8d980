//! The audit trail as `codemode serve --audit FILE` writes it, in front of a real Python SDK
//! upstream: after a normal execution, a denied call, a worker killed mid-call, and the
//! gateway itself killed with SIGKILL mid-execution. What was written stays readable by
//! `codemode audit`, and no secret from the config (an `env` value, a header) is in it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{children_of, codemode, path_str, python, signal, StdioSession};
use serde_json::{json, Value};

const ENV_SECRET: &str = "sk-env-7f3a9c1d2e4b";
const HEADER_SECRET: &str = "sk-header-5b8e0a6f1c2d";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The `files` server (with a secret in its environment), an HTTP server that is not there
/// (with a secret header), and a policy denying `remove`.
fn config(dir: &Path) -> PathBuf {
    let config = dir.join("mcp.json");
    let text = json!({
        "mcpServers": {
            "files": {
                "command": path_str(&python()),
                "args": [path_str(&fixture("files_server.py"))],
                "env": { "FILES_TOKEN": ENV_SECRET }
            },
            "remote": {
                "url": "http://127.0.0.1:9/mcp",
                "headers": { "Authorization": format!("Bearer {HEADER_SECRET}") }
            }
        },
        "policy": { "rules": [ { "tools": "files.remove", "action": "deny" } ] }
    });
    std::fs::write(&config, text.to_string()).expect("config written");
    config
}

struct Audited {
    gateway: StdioSession,
    audit: PathBuf,
    _dir: tempfile::TempDir,
}

fn start() -> Audited {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = config(dir.path());
    let audit = dir.path().join("audit.jsonl");
    let mut gateway = StdioSession::start(
        &["--config", &path_str(&config), "--audit", &path_str(&audit)],
        &[],
    );
    gateway.initialize();
    Audited {
        gateway,
        audit,
        _dir: dir,
    }
}

/// Every complete record in the file, in order.
fn records(audit: &Path) -> Vec<Value> {
    std::fs::read_to_string(audit)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

fn of_type<'a>(records: &'a [Value], kind: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["type"] == kind).collect()
}

fn wait_for(audit: &Path, what: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = records(audit);
        if what(&found) || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `codemode audit FILE [args]`: (exit code, stdout, stderr).
fn read_back(audit: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(codemode())
        .arg("audit")
        .arg(audit)
        .args(args)
        .output()
        .expect("codemode audit runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_no_secrets(audit: &Path) {
    let text = std::fs::read_to_string(audit).unwrap_or_default();
    assert!(!text.is_empty(), "the audit file is empty");
    assert!(!text.contains(ENV_SECRET), "an env secret leaked: {text}");
    assert!(
        !text.contains(HEADER_SECRET),
        "a header secret leaked: {text}"
    );
}

#[test]
fn a_normal_execution_and_a_denied_call_are_recorded() {
    let mut audited = start();
    let (failed, text) = audited.gateway.execute(
        r#"
        const a = await tools.files.read({ path: "/etc/hosts" });
        let removed;
        try { await tools.files.remove({ path: a.path }); } catch (e) { removed = e.kind; }
        let remote;
        try { await tools.remote.anything({}); } catch (e) { remote = e.kind; }
        return { size: a.size, removed, remote };
        "#,
        Duration::from_secs(60),
    );
    assert!(!failed, "{text}");
    assert!(text.contains(r#""removed":"denied""#), "{text}");
    let records = wait_for(&audited.audit, |r| !of_type(r, "execute").is_empty());
    let starts = of_type(&records, "execute.start");
    let ends = of_type(&records, "execute");
    let calls = of_type(&records, "call");
    assert_eq!(starts.len(), 1, "{records:?}");
    assert_eq!(ends.len(), 1, "{records:?}");
    let execution = &starts[0]["execution"];
    assert!(starts[0]["code"]
        .as_str()
        .unwrap_or_default()
        .contains("tools.files.read"));
    assert_eq!(starts[0]["client"], "codemode-test 1");
    assert_eq!(ends[0]["outcome"], "ok");
    assert_eq!(ends[0]["calls"], 3);

    let read = calls
        .iter()
        .find(|c| c["tool"] == "files.read")
        .expect("the read");
    assert_eq!(&read["execution"], execution);
    assert_eq!(read["outcome"], "ok");
    assert_eq!(read["decision"]["action"], "allow");
    assert_eq!(read["decision"]["reason"], "the tool's readOnlyHint");
    assert_eq!(read["approvedBy"], "policy");
    assert_eq!(read["argsBytes"], r#"{"path":"/etc/hosts"}"#.len());
    assert_eq!(read["argsSha256"].as_str().unwrap_or_default().len(), 64);
    assert!(read["resultBytes"].as_u64().unwrap_or(0) > 0, "{read}");
    assert!(read.get("args").is_none(), "no argument values: {read}");

    let removed = calls
        .iter()
        .find(|c| c["tool"] == "files.remove")
        .expect("the remove");
    assert_eq!(removed["outcome"], "denied");
    assert_eq!(removed["decision"]["action"], "deny");
    assert_eq!(
        removed["decision"]["reason"],
        "policy rule 1 (files.remove)"
    );

    let remote = calls.iter().find(|c| c["tool"] == "remote.anything");
    if let Some(remote) = remote {
        assert_eq!(remote["outcome"], "error", "{remote}");
    }
    assert_no_secrets(&audited.audit);

    let (code, out, err) = read_back(&audited.audit, &["--tool", "files.*"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("files.read") && out.contains("files.remove"),
        "{out}"
    );
    assert!(
        !out.contains("execute.start"),
        "--tool keeps call records: {out}"
    );
}

/// The workers under the gateway: the fork server's children, or workers started directly.
fn workers(gateway: u32) -> Vec<u32> {
    let cmdline =
        |pid: u32| std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let mut found = Vec::new();
    for child in children_of(gateway) {
        let line = cmdline(child);
        if !line.contains("__worker") {
            continue;
        }
        if line.contains("--zygote") {
            found.extend(children_of(child));
        } else {
            found.push(child);
        }
    }
    found
}

#[test]
fn a_worker_killed_mid_call_leaves_an_abandoned_call_and_an_error() {
    let mut audited = start();
    let gateway_pid = audited.gateway.child.id();
    let id = audited.gateway.send(
        "tools/call",
        json!({"name": "execute", "arguments": {"code":
            "await tools.files.read({ path: 'a' }); return await tools.files.slow({ seconds: 20 });"}}),
    );
    // The read is recorded once it ended; the slow call is then in flight.
    let records = wait_for(&audited.audit, |r| {
        of_type(r, "call").iter().any(|c| c["tool"] == "files.read")
    });
    assert!(!of_type(&records, "call").is_empty(), "{records:?}");
    std::thread::sleep(Duration::from_millis(500));
    for worker in workers(gateway_pid) {
        signal(worker, libc::SIGKILL);
    }
    // The gateway serves on.
    audited
        .gateway
        .request("ping", json!({}), Duration::from_secs(30));
    let _ = id;
    let records = wait_for(&audited.audit, |r| !of_type(r, "execute").is_empty());
    let end = of_type(&records, "execute");
    assert_eq!(end.len(), 1, "{records:?}");
    assert_eq!(end[0]["outcome"], "error", "{records:?}");
    let slow = of_type(&records, "call")
        .into_iter()
        .find(|c| c["tool"] == "files.slow")
        .cloned()
        .unwrap_or_default();
    assert_eq!(slow["outcome"], "abandoned", "{records:?}");
    assert_no_secrets(&audited.audit);
}

#[test]
fn a_gateway_killed_mid_execution_leaves_a_readable_trail() {
    let mut audited = start();
    audited.gateway.send(
        "tools/call",
        json!({"name": "execute", "arguments": {"code":
            "await tools.files.read({ path: 'b' }); return await tools.files.slow({ seconds: 20 });"}}),
    );
    let before = wait_for(&audited.audit, |r| {
        of_type(r, "call").iter().any(|c| c["tool"] == "files.read")
    });
    signal(audited.gateway.child.id(), libc::SIGKILL);
    let _ = audited.gateway.child.wait();
    // Whatever the kill cut short, what was written reads back.
    let after = records(&audited.audit);
    assert!(after.len() >= before.len(), "{after:?}");
    assert_eq!(of_type(&after, "execute.start").len(), 1);
    assert!(
        of_type(&after, "execute").is_empty(),
        "it never ended: {after:?}"
    );
    // A torn last line (as a kill mid-write leaves) does not stop the reader.
    let mut text = std::fs::read_to_string(&audited.audit).unwrap_or_default();
    text.push_str(r#"{"type":"call","time":"2026-12-02T1"#);
    std::fs::write(&audited.audit, text).expect("rewritten");
    let (code, out, err) = read_back(&audited.audit, &["--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), after.len(), "{out}");
    assert!(err.contains("incomplete"), "{err}");
    assert_no_secrets(&audited.audit);
}
