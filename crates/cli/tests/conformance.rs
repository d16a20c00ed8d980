//! The official conformance suite (`@modelcontextprotocol/conformance`, run with Node 22)
//! against `codemode serve --http`.
//!
//! Against the gateway alone, two checks: the suite's own verdict against the baseline in
//! `tests/conformance/expected-failures.yaml` (a new failure or a stale entry fails), and our
//! list of scenarios that apply to a gateway, each of which must have no failed check.
//!
//! Through passthrough: with the suite's reference server as an upstream entry
//! (`"passthrough": true`), every server scenario must pass against the gateway as it does
//! against the reference server itself.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{node, node_modules, path_str, repo_root, HttpGateway, ReferenceServer};
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

/// Every server scenario of the pinned suite (0.1.16, `conformance list`): through a
/// passthrough entry for the reference server, each must pass.
const EVERY_SERVER_SCENARIO: [&str; 32] = [
    "server-initialize",
    "logging-set-level",
    "ping",
    "completion-complete",
    "tools-list",
    "tools-call-simple-text",
    "tools-call-image",
    "tools-call-audio",
    "tools-call-embedded-resource",
    "tools-call-mixed-content",
    "tools-call-with-logging",
    "tools-call-error",
    "tools-call-with-progress",
    "tools-call-sampling",
    "tools-call-elicitation",
    "json-schema-2020-12",
    "elicitation-sep1034-defaults",
    "server-sse-polling",
    "server-sse-multiple-streams",
    "elicitation-sep1330-enums",
    "resources-list",
    "resources-read-text",
    "resources-read-binary",
    "resources-templates-read",
    "resources-subscribe",
    "resources-unsubscribe",
    "prompts-list",
    "prompts-get-simple",
    "prompts-get-with-args",
    "prompts-get-embedded-resource",
    "prompts-get-with-image",
    "dns-rebinding-protection",
];

/// Non-success checks allowed in a must-pass scenario, with why.
const ALLOWED_WARNINGS: [(&str, &str); 1] = [(
    "server-sse-disconnect-resume",
    "the reference server itself ends this check with a WARNING (its FIXTURE.md), and the \
     gateway alone has no fixture tool test_reconnection",
)];

#[test]
fn the_conformance_suite_passes_what_applies_to_a_gateway() {
    let gateway = HttpGateway::start(&[], &[]);
    let baseline = repo_root().join("tests/conformance/expected-failures.yaml");
    let SuiteRun {
        run,
        summary,
        results,
    } = run_suite(&gateway.url, Some(&baseline));
    let problems = problems_in(&results, &MUST_PASS);
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

#[test]
fn every_server_scenario_passes_through_a_passthrough_entry() {
    let reference = ReferenceServer::start();
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = dir.path().join("codemode.json");
    let entry = serde_json::json!({
        "mcpServers": { "ref": { "type": "http", "url": reference.url, "passthrough": true } }
    });
    std::fs::write(&config, entry.to_string()).expect("the config is written");
    let gateway = HttpGateway::start(&["--config", &path_str(&config)], &[]);
    let SuiteRun {
        summary, results, ..
    } = run_suite(&gateway.url, None);
    let mut problems = problems_in(&results, &EVERY_SERVER_SCENARIO);
    // A scenario the suite gained and this list lacks is a change to look at, not to skip.
    for scenario in results.keys() {
        if !EVERY_SERVER_SCENARIO.contains(&scenario.as_str()) {
            problems.push(format!(
                "{scenario}: ran, but is not in EVERY_SERVER_SCENARIO"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "scenarios failed through passthrough:\n{}\n\nsummary:{summary}\ngateway stderr:\n{}\n\
         reference server:\n{}",
        problems.join("\n"),
        gateway.stderr(),
        reference.log()
    );
}

/// One run of the suite's server scenarios: its exit, its summary, and each scenario's checks.
struct SuiteRun {
    run: std::process::Output,
    summary: String,
    results: BTreeMap<String, Vec<Value>>,
}

/// `conformance server --suite all` against `url`, against `baseline` when given.
fn run_suite(url: &str, baseline: Option<&std::path::Path>) -> SuiteRun {
    let output_dir = tempfile::tempdir().expect("a temp dir");
    let suite = node_modules().join("@modelcontextprotocol/conformance/dist/index.js");
    let mut command = Command::new(node());
    command
        .arg(&suite)
        .args(["server", "--url", url, "--suite", "all"]);
    if let Some(baseline) = baseline {
        command.arg("--expected-failures").arg(baseline);
    }
    let run = command
        .arg("-o")
        .arg(output_dir.path())
        .output()
        .expect("the conformance suite starts");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let summary = stdout
        .rsplit_once("=== SUMMARY ===")
        .map_or(stdout.as_ref(), |(_, s)| s)
        .to_string();
    let results = read_results(output_dir.path());
    SuiteRun {
        run,
        summary,
        results,
    }
}

/// Every failed or warned check of `scenarios` (and every one that did not run), except the
/// allowed warnings.
fn problems_in(results: &BTreeMap<String, Vec<Value>>, scenarios: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    for scenario in scenarios {
        let Some(checks) = results.get(*scenario) else {
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
    problems
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
