//! Offline ranking check: loads tool lists dumped as JSON (`<dir>/<namespace>.json`, an array
//! of MCP tools) and a phrasings file, and prints top-1/top-3/MRR and the misses. For tuning
//! search without starting servers: `cargo run --release -p codemode-catalog --example rank
//! -- DIR bench/search/phrasings.json [namespaces...]`.

use std::sync::Arc;

use codemode_catalog::{
    Catalog, NamespaceStatus, SearchQuery, SourceNamespace, ToolSource, ToolSpec,
};
use codemode_sandbox::ToolFuture;
use serde_json::Value;

struct Dumped(Vec<SourceNamespace>);

impl ToolSource for Dumped {
    fn namespaces(&self) -> Vec<SourceNamespace> {
        self.0.clone()
    }
    fn call(&self, _: &str, _: &str, args: Value) -> ToolFuture {
        Box::pin(std::future::ready(Ok(args)))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, phrasings) = (&args[0], &args[1]);
    let only: Vec<String> = args[2..].to_vec();
    let mut namespaces = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("dir").flatten().collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if !only.is_empty() && !only.contains(&name) {
            continue;
        }
        let tools: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        // DESC_DIR: `<namespace>.txt` holds the line the gateway shows beside it.
        let description = std::env::var("DESC_DIR")
            .ok()
            .and_then(|dir| std::fs::read_to_string(format!("{dir}/{name}.txt")).ok())
            .filter(|text| !text.trim().is_empty());
        namespaces.push(SourceNamespace {
            name,
            status: NamespaceStatus::Ready,
            description,
            tools: tools
                .iter()
                .map(|t| {
                    let mut spec =
                        ToolSpec::new(t["name"].as_str().unwrap(), t["inputSchema"].clone());
                    spec.description = t["description"].as_str().map(str::to_string);
                    spec.title = t["title"].as_str().map(str::to_string);
                    spec.output_schema = t.get("outputSchema").cloned();
                    spec
                })
                .collect(),
        });
    }
    let catalog = Catalog::new(vec![Arc::new(Dumped(namespaces))]);
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(phrasings).unwrap()).unwrap();
    let (mut n, mut top1, mut top3, mut mrr) = (0, 0, 0, 0.0);
    let verbose = std::env::var("VERBOSE").is_ok();
    // QUERY="...": the top ten for one query, with scores.
    if let Ok(query) = std::env::var("QUERY") {
        for (namespace, hit) in catalog.find(&SearchQuery::new(&query, 10)).by_score() {
            println!("{:.3} {namespace}.{}", hit.score, hit.source_name());
        }
        return;
    }
    for case in &cases {
        let query = case["query"].as_str().unwrap();
        let expect: Vec<&str> = case["expect"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let results = catalog.find(&SearchQuery::new(query, 10));
        let hits: Vec<(f32, String)> = results
            .by_score()
            .into_iter()
            .map(|(namespace, hit)| (hit.score, format!("{namespace}.{}", hit.source_name())))
            .collect();
        let rank = hits
            .iter()
            .position(|(_, name)| expect.contains(&name.as_str()));
        n += 1;
        if let Some(r) = rank {
            top1 += (r == 0) as usize;
            top3 += (r < 3) as usize;
            mrr += 1.0 / (r as f64 + 1.0);
        }
        if rank.is_none_or(|r| r >= if verbose { 1 } else { 3 }) {
            let got: Vec<String> = hits
                .iter()
                .take(3)
                .map(|(s, n)| format!("{n} {s:.2}"))
                .collect();
            println!("{query:?}: want {expect:?} rank {rank:?} got {got:?}");
        }
    }
    println!(
        "\n{n} cases: top-1 {:.1}%  top-3 {:.1}%  MRR {:.3}",
        100.0 * top1 as f64 / n as f64,
        100.0 * top3 as f64 / n as f64,
        mrr / n as f64
    );
}
