//! How long `search` takes over 10,000 tools: ranking plus the rendered answer, the work one
//! `search` call does in the gateway. Prints median and p90 per query kind; the target is a
//! median under 2 ms. `cargo bench -p codemode-catalog --bench search_speed`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use codemode_catalog::{
    Catalog, NamespaceStatus, SearchQuery, SourceNamespace, ToolSource, ToolSpec,
};
use codemode_sandbox::ToolFuture;
use serde_json::{json, Value};

const VERBS: &[&str] = &[
    "get", "list", "create", "update", "delete", "search", "send", "archive", "export", "sync",
];
const NOUNS: &[&str] = &[
    "issue",
    "message",
    "file",
    "commit",
    "user",
    "channel",
    "invoice",
    "order",
    "customer",
    "page",
    "event",
    "table",
    "record",
    "branch",
    "deployment",
    "alert",
    "ticket",
    "contact",
    "report",
    "folder",
    "comment",
    "label",
    "project",
    "workflow",
    "secret",
    "bucket",
    "queue",
    "dashboard",
    "metric",
    "incident",
];

struct Synthetic(Vec<SourceNamespace>);

impl ToolSource for Synthetic {
    fn namespaces(&self) -> Vec<SourceNamespace> {
        self.0.clone()
    }
    fn call(&self, _: &str, _: &str, args: Value) -> ToolFuture {
        Box::pin(std::future::ready(Ok(args)))
    }
}

/// 100 namespaces × 100 tools, named and described from the word lists, with parameters.
fn catalogue() -> Catalog {
    let namespaces = (0..100)
        .map(|n| SourceNamespace {
            name: format!("service_{n}"),
            status: NamespaceStatus::Ready,
            description: Some(format!("Service {n}: {} and {} management.", NOUNS[n % NOUNS.len()], NOUNS[(n * 7) % NOUNS.len()])),
            tools: (0..100)
                .map(|t| {
                    let verb = VERBS[t % VERBS.len()];
                    let noun = NOUNS[(t / VERBS.len() + n) % NOUNS.len()];
                    let other = NOUNS[(t * 3 + n * 11) % NOUNS.len()];
                    let mut spec = ToolSpec::new(
                        format!("{verb}_{noun}_{t}"),
                        json!({
                            "type": "object",
                            "properties": {
                                "id": { "type": "string", "description": format!("The {noun}'s id.") },
                                "filter": { "type": "string", "description": format!("Only {other}s matching this.") },
                                "limit": { "type": "integer", "minimum": 1, "default": 20 }
                            },
                            "required": ["id"]
                        }),
                    );
                    spec.description = Some(format!(
                        "{verb} a {noun} of the {other} in service {n}. Returns the {noun} with its {other} details and history."
                    ));
                    spec
                })
                .collect(),
        })
        .collect();
    Catalog::new(vec![Arc::new(Synthetic(namespaces))])
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let built = Instant::now();
    let catalog = catalogue();
    println!(
        "{} tools, catalogue built in {:.0} ms\n",
        catalog.tool_count(),
        built.elapsed().as_secs_f64() * 1e3
    );
    let kinds: &[(&str, &[&str])] = &[
        (
            "task words",
            &[
                "send a message to the channel",
                "who changed the invoice recently",
                "export the dashboard metrics",
                "find open tickets assigned to me",
            ],
        ),
        ("one noun", &["commit", "invoice", "incident"]),
        (
            "namespace",
            &["list issues in service_42", "service_7 deployment"],
        ),
        ("identifier", &["get_issue_3", "createCommit"]),
        ("no match", &["book a flight to lisbon"]),
    ];
    println!(
        "{:<12} {:>10} {:>10} {:>12}",
        "query", "median", "p90", "rank only"
    );
    let mut all = Vec::new();
    for (kind, queries) in kinds {
        let mut times = Vec::new();
        let mut ranking = Vec::new();
        for _ in 0..40 {
            for query in *queries {
                let started = Instant::now();
                let results = catalog.find(&SearchQuery::new(*query, 10));
                ranking.push(started.elapsed());
                let text = catalog.render_search(&results);
                std::hint::black_box(text);
                times.push(started.elapsed());
            }
        }
        times.sort();
        ranking.sort();
        println!(
            "{kind:<12} {:>8.3}ms {:>8.3}ms {:>10.3}ms",
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.9).as_secs_f64() * 1e3,
            percentile(&ranking, 0.5).as_secs_f64() * 1e3
        );
        all.extend(times);
    }
    all.sort();
    println!(
        "{:<12} {:>8.3}ms {:>8.3}ms   (target: median under 2 ms)",
        "all",
        percentile(&all, 0.5).as_secs_f64() * 1e3,
        percentile(&all, 0.9).as_secs_f64() * 1e3
    );
}
