//! The official conformance suite (`@modelcontextprotocol/conformance`, run with Node 22)
//! against `codemode serve --http`.
//!
//! Two checks: the suite's own verdict against the baseline in
//! `tests/conformance/expected-failures.yaml` (a new failure or a stale entry fails), and our
//! list of scenarios that apply to a gateway, each of which must have no failed check.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{node, node_modules, path_str, repo_root, HttpGateway};
use serde_json::Value;

/// Scenarios that apply to a gateway: none of their checks may fail.
const MUST_PASS: [&str; 8] = [
    "server-initialize",
    "ping",
    "tools-list",
    "logging-set-level",
    "server-sse-multiple-streams",
    "server-sse-polling",
    "dns-rebinding-protection",
    "resources-list",
];

/// Non-success checks allowed in a must-pass scenario, with why.
const ALLOWED_WARNINGS: [(&str, &str); 1] = [(
    "server-sse-disconnect-resume",
    "needs the suite's fixture tool test_reconnection, which a gateway does not have",
)];

#[test]
fn the_conformance_suite_passes_what_applies_to_a_gateway() {
    let gateway = HttpGateway::start(&[], &[]);
    let output_dir = tempfile::tempdir().expect("a temp dir");
    let suite = node_modules().join("@modelcontextprotocol/conformance/dist/index.js");
    let baseline = repo_root().join("tests/conformance/expected-failures.yaml");
    let run = Command::new(node())
        .arg(&suite)
        .args(["server", "--url", &gateway.url, "--suite", "all"])
        .arg("--expected-failures")
        .arg(&baseline)
        .arg("-o")
        .arg(output_dir.path())
        .output()
        .expect("the conformance suite starts");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let summary = stdout
        .rsplit_once("=== SUMMARY ===")
        .map_or(stdout.as_ref(), |(_, s)| s);

    let results = read_results(output_dir.path());
    let mut problems = Vec::new();
    for scenario in MUST_PASS {
        let Some(checks) = results.get(scenario) else {
            problems.push(format!("{scenario}: did not run"));
            continue;
        };
        for check in checks {
            let status = check["status"].as_str().unwrap_or("?");
            let id = check["id"].as_str().unwrap_or("?");
            let allowed = status == "WARNING" && ALLOWED_WARNINGS.iter().any(|(a, _)| *a == id);
            if matches!(status, "FAILURE" | "WARNING") && !allowed {
                problems.push(format!(
                    "{scenario}: {id} {status}: {}",
                    check["errorMessage"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "scenarios that apply to a gateway failed:\n{}\n\nsummary:{summary}\ngateway stderr:\n{}",
        problems.join("\n"),
        gateway.stderr()
    );
    assert!(
        run.status.success(),
        "the suite disagrees with tests/conformance/expected-failures.yaml:{summary}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// `<dir>/server-<scenario>-<timestamp>/checks.json`, by scenario name.
fn read_results(dir: &std::path::Path) -> BTreeMap<String, Vec<Value>> {
    let mut results = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("the suite wrote results") {
        let path = entry.expect("a dir entry").path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        // The suffix is `-YYYY-MM-DDTHH-MM-SS-mmmZ`, 25 characters.
        let Some(scenario) = name
            .strip_prefix("server-")
            .and_then(|rest| rest.get(..rest.len().checked_sub(25)?))
            .map(str::to_string)
        else {
            continue;
        };
        let checks = std::fs::read_to_string(path.join("checks.json"))
            .unwrap_or_else(|e| panic!("{}: {e}", path_str(&path)));
        let checks: Vec<Value> = serde_json::from_str(&checks).expect("checks.json is JSON");
        results.insert(scenario, checks);
    }
    results
}
