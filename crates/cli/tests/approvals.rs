//! Asking the user, end to end: the gateway (`codemode serve`, workers on) in front of a real
//! Python SDK upstream, and the official Python SDK as the client that is asked, in both
//! eras: 2025-11-25 answers `elicitation/create` mid-call, 2026-07-28 answers the
//! `input_required` result and the SDK retries with the sealed state.

mod common;

use std::path::{Path, PathBuf};

use common::{codemode, path_str, python, run_python_script, HttpGateway};
use serde_json::{json, Value};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A config with the `files` server, a policy that asks before `remove`, and the log the
/// server appends each call it really received to.
fn config(dir: &Path) -> (PathBuf, PathBuf) {
    let calls = dir.join("calls.log");
    let config = dir.join("mcp.json");
    let text = json!({
        "mcpServers": { "files": {
            "command": path_str(&python()),
            "args": [path_str(&fixture("files_server.py"))],
            "env": { "FILES_LOG": path_str(&calls) }
        } },
        "policy": { "rules": [ { "tools": "files.remove", "action": "ask" } ] }
    });
    std::fs::write(&config, text.to_string()).expect("config written");
    (config, calls)
}

fn calls(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

const SNIPPET: &str = r#"
    const file = await tools.files.read({ path: "/tmp/a" });
    try {
      const gone = await tools.files.remove({ path: file.path });
      return { removed: gone.removed };
    } catch (e) {
      return { refused: e.kind, message: e.message };
    }
"#;

fn ask(mode: &str, answers: &[&str]) -> (Value, Vec<String>) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (config, log) = config(dir.path());
    let report = run_python_script(
        "py_approver.py",
        &json!({
            "server": { "command": codemode(), "args": ["serve", "--config", path_str(&config)] },
            "mode": mode,
            "snippet": SNIPPET,
            "answers": answers,
        }),
    );
    (report, calls(&log))
}

fn result(report: &Value) -> &Value {
    &report["results"][0]["structuredContent"]["result"]
}

#[test]
fn the_python_sdk_approves_a_call_in_both_eras() {
    for (mode, version) in [("legacy", "2025-11-25"), ("auto", "2026-07-28")] {
        let (report, calls) = ask(mode, &["allow_once"]);
        assert_eq!(report["protocolVersion"], version, "{report}");
        assert_eq!(result(&report)["removed"], "/tmp/a", "{mode}: {report}");
        let shown = report["shown"].as_array().expect("asked");
        assert_eq!(shown.len(), 1, "{mode}: asked once: {report}");
        let message = shown[0].as_str().unwrap_or_default();
        assert!(message.contains("tools.files.remove"), "{message}");
        assert!(message.contains("path: \"/tmp/a\""), "{message}");
        assert!(message.contains("tools.files.read ok"), "{message}");
        // In 2026-07-28 the snippet ran twice; the read reached the server once.
        assert_eq!(calls, ["read /tmp/a", "remove /tmp/a"], "{mode}");
    }
}

#[test]
fn decline_and_cancel_throw_in_the_snippet_in_both_eras() {
    for mode in ["legacy", "auto"] {
        for (answer, word) in [
            ("decline", "declined"),
            ("cancel", "cancelled"),
            ("deny", "denied"),
        ] {
            let (report, calls) = ask(mode, &[answer]);
            assert_eq!(
                result(&report)["refused"],
                "denied",
                "{mode} {answer}: {report}"
            );
            let message = result(&report)["message"].as_str().unwrap_or_default();
            assert!(message.contains(word), "{mode} {answer}: {message}");
            assert_eq!(calls, ["read /tmp/a"], "{mode} {answer}: nothing removed");
        }
    }
}

#[test]
fn approvals_work_over_streamable_http_in_both_eras() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (config, log) = config(dir.path());
    let gateway = HttpGateway::start(&["--config", &path_str(&config)], &[]);
    for (mode, version) in [("legacy", "2025-11-25"), ("auto", "2026-07-28")] {
        let report = run_python_script(
            "py_approver.py",
            &json!({
                "server": { "url": gateway.url },
                "mode": mode,
                "snippet": SNIPPET,
                "answers": ["allow_once"],
            }),
        );
        assert_eq!(report["protocolVersion"], version, "{report}");
        assert_eq!(result(&report)["removed"], "/tmp/a", "{mode}: {report}");
    }
    assert_eq!(
        calls(&log),
        [
            "read /tmp/a",
            "remove /tmp/a",
            "read /tmp/a",
            "remove /tmp/a"
        ],
        "each era read once and removed once"
    );
}
