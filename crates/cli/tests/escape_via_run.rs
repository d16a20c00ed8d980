//! The escape suite through `codemode run`: the same cases the sandbox runs in process and
//! the worker crate runs in a pool, here through the binary's own front end, which executes
//! in a worker as `serve` does. Cases that need the sandbox's test tools are left to those
//! suites (the binary serves the demo tools).

mod common;
#[path = "../../sandbox/tests/escape_cases/mod.rs"]
mod escape_cases;

use std::io::Write;
use std::process::{Command, Stdio};

use codemode_sandbox::{ExecutionError, ExecutionStats};
use common::codemode;
use escape_cases::{cases, check};
use serde_json::Value;

/// `run --json` output (the `execute` reply's `structuredContent`) as the execution the
/// suite's checks read.
fn execution_of(reply: &Value) -> codemode_sandbox::Execution {
    let result = match reply.get("error") {
        Some(error) => Err(ExecutionError {
            kind: serde_json::from_value(error["kind"].clone()).expect("a known kind"),
            message: error["message"].as_str().unwrap_or_default().to_string(),
            location: None,
            stack: error["stack"].as_str().map(str::to_string),
        }),
        None => Ok(reply
            .get("result")
            .map(codemode_sandbox::JsonText::from_value)),
    };
    codemode_sandbox::Execution {
        result,
        logs: Vec::new(),
        calls: Vec::new(),
        notes: Vec::new(),
        stats: ExecutionStats::default(),
    }
}

#[test]
fn every_escape_attempt_fails_cleanly_through_run() {
    let limits = escape_cases::limits();
    let flags = [
        "--cpu-time".to_string(),
        format!("{}ms", limits.cpu_time.as_millis()),
        "--wall-time".to_string(),
        format!("{}ms", limits.wall_time.as_millis()),
        "--memory".to_string(),
        format!("{}B", limits.memory_bytes),
    ];
    let cases = cases();
    let mut ran = 0;
    for (name, code, expect) in cases
        .iter()
        .filter(|(_, code, _)| !code.contains("tools.test."))
    {
        let mut child = Command::new(codemode())
            .args(["run", "--json"])
            .args(&flags)
            .arg("-")
            .env_remove("CODEMODE_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("codemode starts");
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(code.as_bytes())
            .expect("writes the snippet");
        let output = child.wait_with_output().expect("runs");
        assert!(
            output.status.code().is_some(),
            "{name}: `codemode run` died by a signal ({})",
            output.status
        );
        let reply: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "{name}: not JSON ({e}): {}",
                String::from_utf8_lossy(&output.stdout)
            )
        });
        check(name, expect, &execution_of(&reply));
        ran += 1;
    }
    assert!(ran >= 40, "only {ran} cases ran through `run`");
}
