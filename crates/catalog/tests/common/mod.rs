//! Shared by the integration tests: the captured `tools/list` fixtures and the test peers.

use std::path::{Path, PathBuf};

use codemode_catalog::naming::{identifier, NameMap};
use codemode_catalog::typescript::{NamespaceDecl, ToolDecl};
use codemode_catalog::ToolSpec;
use serde_json::Value;

/// The servers whose real `tools/list` answers are captured in `tests/fixtures`
/// (by `scripts/dump-tools-list.mjs`).
pub const SERVERS: &[&str] = &["everything", "filesystem", "git", "memory", "time"];

pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The test peers installed by `scripts/install-test-deps.sh`; fails the test if absent.
pub fn deps_dir() -> PathBuf {
    let deps = crate_dir().join("../../.deps");
    assert!(
        deps.is_dir(),
        "{} is missing: run scripts/install-test-deps.sh",
        deps.display()
    );
    deps
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Hand-written schemas for constructs the real servers do not use (`tests/schemas`).
pub const EDGE_CASES: &str = "edge-cases";

/// Everything rendered to a golden file: the captured servers, then the edge cases.
pub fn all_sources() -> Vec<&'static str> {
    SERVERS.iter().copied().chain([EDGE_CASES]).collect()
}

/// A fixture as a namespace, tool identifiers assigned by `NameMap` like the gateway does.
pub fn namespace(server: &str) -> NamespaceDecl {
    let path = if server == EDGE_CASES {
        crate_dir().join(format!("tests/schemas/{server}.tools.json"))
    } else {
        crate_dir().join(format!("tests/fixtures/{server}.tools.json"))
    };
    let fixture: Value = serde_json::from_str(&read(&path))
        .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    let tools = fixture["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: no `tools` array", path.display()));
    let names = NameMap::new(tools.iter().filter_map(|t| t["name"].as_str()));
    let tools = tools
        .iter()
        .map(|tool| {
            let name = tool["name"].as_str().unwrap_or_default();
            ToolDecl {
                ident: names.ident(name).unwrap_or(name).to_owned(),
                spec: ToolSpec {
                    description: tool["description"].as_str().map(str::to_owned),
                    output_schema: tool.get("outputSchema").cloned(),
                    ..ToolSpec::new(name, tool["inputSchema"].clone())
                },
            }
        })
        .collect();
    NamespaceDecl {
        ident: identifier(server),
        original_name: server.to_owned(),
        // What a gateway might show: the server's own title, when it gives one.
        description: fixture["serverInfo"]["title"].as_str().map(str::to_owned),
        tools,
    }
}
