//! The config's `openapi` section through the binary: a spec's operations are searchable and
//! callable functions beside (or without) MCP servers, and a broken spec says which file and
//! where, while the gateway serves on.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

fn spec(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../openapi/tests/specs")
        .join(name)
}

fn config(dir: &Path, openapi: Value) -> PathBuf {
    let path = dir.join("apis.json");
    std::fs::write(&path, json!({ "openapi": openapi }).to_string()).expect("written");
    path
}

fn codemode(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_codemode"))
        .args(args)
        .env_remove("CODEMODE_CONFIG")
        .output()
        .expect("codemode runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_spec_alone_is_a_catalogue_of_typed_functions() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = config(
        dir.path(),
        json!({ "pets": { "spec": spec("petstore-3.0.yaml"), "baseUrl": "http://127.0.0.1:9" } }),
    );
    let (code, out, err) = codemode(&["search", "--config", config.to_str().unwrap(), "list pets"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("tools.pets."), "{out}");
    // A call is made by the gateway; nothing listens on port 9, so the connection fails.
    let snippet = dir.path().join("call.ts");
    std::fs::write(
        &snippet,
        "try { await tools.pets.$request({ method: 'GET', path: '/pets' }); return 'reached'; } \
         catch (e) { return [e.kind, e.message]; }",
    )
    .expect("written");
    let (code, out, err) = codemode(&[
        "run",
        "--in-process",
        "--config",
        config.to_str().unwrap(),
        snippet.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("transport"), "{out}");
    assert!(
        out.contains("tools.pets.$request failed: could not connect"),
        "{out}"
    );
}

#[test]
fn a_broken_spec_names_its_file_and_pointer_and_costs_only_itself() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = config(
        dir.path(),
        json!({
            "broken": { "spec": spec("broken-pointer.yaml"), "baseUrl": "http://127.0.0.1:9" },
            "pets": { "spec": spec("petstore-3.0.yaml"), "baseUrl": "http://127.0.0.1:9" }
        }),
    );
    let (code, out, err) = codemode(&["search", "--config", config.to_str().unwrap(), "pets"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("tools.pets."), "{out}");
    let all = format!("{out}{err}");
    assert!(all.contains("broken-pointer.yaml"), "{all}");
    assert!(all.contains("/paths/~1x/get/parameters/0"), "{all}");
}
