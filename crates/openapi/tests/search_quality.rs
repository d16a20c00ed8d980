//! Search at the scale of real APIs: the GitHub REST spec (~1,200 operations) and Stripe's
//! (~420) loaded side by side as namespaces `github` and `stripe`, and the agent tasks of
//! `bench/search/openapi_phrasings.json` searched against them. Prints top-1, top-3 and the
//! misses (`--nocapture`), and fails below the floors, so ranking never silently regresses.

use std::path::{Path, PathBuf};

use codemode_catalog::{Catalog, SearchQuery};
use codemode_openapi::{OpenApiConfig, OpenApiConfigs, OpenApiSource, SpecLocation};
use serde_json::Value;

/// A task or two below what ranking reaches (75% and 88%): top-1 and top-3 must not fall below.
const TOP1_FLOOR: f64 = 0.72;
const TOP3_FLOOR: f64 = 0.88;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn github_spec() -> PathBuf {
    let spec =
        repo().join(".deps/node/node_modules/@octokit/openapi/generated/api.github.com.json");
    assert!(
        spec.exists(),
        "the GitHub spec is missing: run scripts/install-test-deps.sh"
    );
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_tasks_find_their_operations_in_github_and_stripe() {
    let configs = OpenApiConfigs {
        entries: vec![
            OpenApiConfig::new("github", SpecLocation::Path(github_spec())),
            OpenApiConfig::new(
                "stripe",
                SpecLocation::Path(repo().join("../shared/specs/stripe-openapi-2022.json")),
            ),
        ],
        broken: Vec::new(),
    };
    let source = OpenApiSource::load(&configs).await;
    let catalog = Catalog::new(vec![std::sync::Arc::new(source)]);
    let phrasings: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(repo().join("bench/search/openapi_phrasings.json"))
            .expect("the phrasings"),
    )
    .expect("JSON");
    let (mut top1, mut top3) = (0usize, 0usize);
    let mut misses = Vec::new();
    for case in &phrasings {
        let query = case["query"].as_str().unwrap_or_default();
        let expected: Vec<&str> = case["expect"]
            .as_array()
            .map(|e| e.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let results = catalog.find(&SearchQuery {
            query: query.into(),
            limit: 10,
            namespace: None,
            page: 1,
        });
        let hits: Vec<String> = results
            .by_score()
            .into_iter()
            .map(|(namespace, hit)| format!("{namespace}.{}", hit.source_name()))
            .collect();
        let rank = hits
            .iter()
            .position(|name| expected.contains(&name.as_str()));
        match rank {
            Some(0) => {
                top1 += 1;
                top3 += 1;
            }
            Some(1 | 2) => top3 += 1,
            _ => misses.push(format!(
                "{query:?}: expected {expected:?}, got {:?}",
                &hits[..hits.len().min(3)]
            )),
        }
    }
    let n = phrasings.len() as f64;
    let (r1, r3) = (top1 as f64 / n, top3 as f64 / n);
    println!(
        "openapi search: {} tasks over {} tools: top-1 {:.1}%, top-3 {:.1}%",
        phrasings.len(),
        catalog.tool_count(),
        r1 * 100.0,
        r3 * 100.0
    );
    for miss in &misses {
        println!("  miss: {miss}");
    }
    assert!(phrasings.len() >= 40, "keep at least 40 tasks");
    assert!(r1 >= TOP1_FLOOR, "top-1 {r1:.3} fell below {TOP1_FLOOR}");
    assert!(r3 >= TOP3_FLOOR, "top-3 {r3:.3} fell below {TOP3_FLOOR}");
}
