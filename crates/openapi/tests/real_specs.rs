//! The real specs the loader must carry: Stripe's (OpenAPI 3.0, 417 operations, form bodies)
//! and GitHub's REST spec (OpenAPI 3.0.3, ~1,200 operations, 13 MB), each loaded and
//! converted whole, with the time it took printed (`--nocapture`; measure with `--release`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use codemode_catalog::{NamespaceStatus, ToolSource, ToolSpec};
use codemode_openapi::{OpenApiConfig, OpenApiConfigs, OpenApiSource, SpecLocation, REQUEST_TOOL};
use serde_json::Value;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Loads one spec file as namespace `api` and returns its tools and the time taken.
async fn load(path: PathBuf) -> (Vec<ToolSpec>, std::time::Duration) {
    let configs = OpenApiConfigs {
        entries: vec![OpenApiConfig::new("api", SpecLocation::Path(path))],
        broken: Vec::new(),
    };
    let started = Instant::now();
    let source = OpenApiSource::load(&configs).await;
    let elapsed = started.elapsed();
    let namespace = source.namespaces().remove(0);
    assert_eq!(namespace.status, NamespaceStatus::Ready, "{namespace:?}");
    (namespace.tools, elapsed)
}

fn check_tools(tools: &[ToolSpec]) {
    for tool in tools {
        assert_eq!(
            tool.input_schema.get("type").and_then(Value::as_str),
            Some("object"),
            "{}: {}",
            tool.name,
            tool.input_schema
        );
        assert!(tool.input_schema["properties"].is_object(), "{}", tool.name);
        for sensitive in ["Bearer ", "password"] {
            assert!(
                !tool
                    .description
                    .as_deref()
                    .unwrap_or_default()
                    .contains(sensitive)
                    || sensitive == "password",
                "{}",
                tool.name
            );
        }
    }
    assert_eq!(tools.last().map(|t| t.name.as_str()), Some(REQUEST_TOOL));
}

fn report(name: &str, tools: &[ToolSpec], elapsed: std::time::Duration) {
    let bytes: usize = tools
        .iter()
        .map(|t| {
            t.input_schema.to_string().len()
                + t.output_schema.as_ref().map_or(0, |s| s.to_string().len())
        })
        .sum();
    let largest = tools
        .iter()
        .map(|t| {
            t.input_schema
                .to_string()
                .len()
                .max(t.output_schema.as_ref().map_or(0, |s| s.to_string().len()))
        })
        .max()
        .unwrap_or(0);
    println!(
        "{name}: {} operations loaded and converted in {:.0} ms; schemas {:.1} MB in all, largest {} KB",
        tools.len() - 1,
        elapsed.as_secs_f64() * 1000.0,
        bytes as f64 / 1e6,
        largest / 1024
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_spec_loads_whole() {
    let path = manifest_dir().join("../../../shared/specs/stripe-openapi-2022.json");
    assert!(
        path.exists(),
        "the shared Stripe spec is missing at {}",
        path.display()
    );
    let (tools, elapsed) = load(path).await;
    report("stripe", &tools, elapsed);
    let operations = tools.len() - 1;
    assert!((400..=430).contains(&operations), "{operations} operations");
    check_tools(&tools);
    let create = tools
        .iter()
        .find(|t| t.name == "PostCustomers")
        .expect("PostCustomers");
    assert!(create.input_schema["properties"]["body"].is_object());
    let get = tools
        .iter()
        .find(|t| t.name == "GetCustomersCustomer")
        .expect("GetCustomersCustomer");
    assert_eq!(get.annotations.as_ref().unwrap()["readOnlyHint"], true);
    assert!(get.output_schema.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_spec_loads_whole() {
    let path = manifest_dir()
        .join("../../.deps/node/node_modules/@octokit/openapi/generated/api.github.com.json");
    assert!(
        path.exists(),
        "the GitHub REST spec is missing at {}: run scripts/install-test-deps.sh (it installs tests/deps, which pins @octokit/openapi)",
        path.display()
    );
    let (tools, elapsed) = load(path).await;
    report("github", &tools, elapsed);
    let operations = tools.len() - 1;
    assert!(operations >= 1100, "{operations} operations");
    check_tools(&tools);
    let get = tools
        .iter()
        .find(|t| t.name == "repos/get")
        .expect("repos/get");
    let properties = get.input_schema["properties"]
        .as_object()
        .expect("properties");
    assert!(properties.contains_key("owner") && properties.contains_key("repo"));
    let output = get.output_schema.as_ref().expect("an output schema");
    assert!(
        output.get("$ref").is_some() && output["$defs"].is_object(),
        "{output}"
    );
}

/// A component every operation carries in its own `$defs` is one type in the namespace, even
/// when components refer to each other in a cycle (Stripe's `refund` ⇄ `transfer_reversal`),
/// and shared request bodies are named after an operation, not numbered. What stays numbered
/// is a component that one operation's 8 KiB of `$defs` shows whole and another summarises
/// (`Refund2`'s `email_sent` is a summary): a different type, honestly named apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_components_keep_their_names_across_operations() {
    let path = manifest_dir().join("../../../shared/specs/stripe-openapi-2022.json");
    let configs = OpenApiConfigs {
        entries: vec![OpenApiConfig::new("stripe", SpecLocation::Path(path))],
        broken: Vec::new(),
    };
    let source = OpenApiSource::load(&configs).await;
    let catalog = codemode_catalog::Catalog::new(vec![std::sync::Arc::new(source)]);
    let declarations = catalog.namespace_declarations("stripe").expect("declared");
    let declared = |name: &str| declarations.contains(&format!("interface {name} {{"));
    for name in ["Refund", "TransferReversal", "FileLink", "Payout"] {
        assert!(declared(name), "{name} is declared");
    }
    for numbered in ["FileLink2", "Payout2", "Body", "Body2"] {
        assert!(!declared(numbered), "{numbered} is declared");
    }
    assert!(
        declarations.contains("body?: PostAccountBankAccountsBody"),
        "a shared body is named after its first operation"
    );
    let names: Vec<&str> = declarations
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("interface "))
        .filter_map(|rest| rest.split([' ', '<']).next())
        .collect();
    let numbered = names
        .iter()
        .filter(|name| name.ends_with(|c: char| c.is_ascii_digit()))
        .count();
    // Before types were shared by content and bodies named after operations, 175 of the
    // 1,141 declared types were numbered; now 96.
    assert!(
        numbered * 10 <= names.len(),
        "{numbered} of {} interfaces numbered",
        names.len()
    );
}
