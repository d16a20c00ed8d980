//! `cargo bench -p codemode-sandbox`: medians of whole executions through the public API,
//! printed as a table. Machines here are shared and noisy: read medians and ratios.

use std::sync::Arc;
use std::time::{Duration, Instant};

use codemode_demo::DemoHost;
use codemode_sandbox::{Limits, Sandbox, ToolCall, ToolFuture, ToolHost, ToolNames};
use serde_json::json;

/// An in-process host that answers at once: measures the bridge, not a tool.
struct AddHost(Arc<ToolNames>);

impl ToolHost for AddHost {
    fn names(&self) -> Arc<ToolNames> {
        self.0.clone()
    }

    fn call(&self, call: ToolCall) -> ToolFuture {
        let args = call.args_value();
        let a = args["a"].as_f64().unwrap_or(0.0);
        let b = args["b"].as_f64().unwrap_or(0.0);
        Box::pin(std::future::ready(Ok(json!({ "sum": a + b }))))
    }
}

/// The seed example, as the README and `codemode run examples/seed.ts` show it.
const SEED: &str = include_str!("../../../examples/seed.ts");

struct Row {
    name: &'static str,
    median: Duration,
    p90: Duration,
    min: Duration,
    peak_memory: usize,
    per: Option<(usize, &'static str)>,
}

async fn measure(
    name: &'static str,
    code: &str,
    host: Arc<dyn ToolHost>,
    iterations: usize,
    per: Option<(usize, &'static str)>,
) -> Row {
    let limits = Limits::default();
    for _ in 0..iterations / 10 + 3 {
        let execution = Sandbox::execute(code, host.clone(), limits.clone()).await;
        assert!(execution.is_ok(), "{name}: {:?}", execution.returned());
    }
    let mut times = Vec::with_capacity(iterations);
    let mut peak_memory = 0;
    for _ in 0..iterations {
        let started = Instant::now();
        let execution = Sandbox::execute(code, host.clone(), limits.clone()).await;
        times.push(started.elapsed());
        peak_memory = peak_memory.max(execution.stats.peak_memory_bytes);
    }
    times.sort();
    Row {
        name,
        median: times[times.len() / 2],
        p90: times[(times.len() * 9 / 10).min(times.len() - 1)],
        min: times[0],
        peak_memory,
        per,
    }
}

fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 10 } else { 1 };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut catalog = ToolNames::new();
    catalog.add_tool("math", "add");
    let add: Arc<dyn ToolHost> = Arc::new(AddHost(Arc::new(catalog)));
    let demo: Arc<dyn ToolHost> = Arc::new(DemoHost::new());
    let rows = runtime.block_on(async {
        vec![
            measure("trivial `return 1`", "return 1", add.clone(), 1000 / scale, None).await,
            measure(
                "one tool call",
                "const r = await tools.math.add({ a: 1, b: 2 });\nreturn r.sum;",
                add.clone(),
                1000 / scale,
                None,
            )
            .await,
            measure(
                "1,000 sequential calls",
                "let s = 0;\nfor (let i = 0; i < 1000; i++) s = (await tools.math.add({ a: s, b: i })).sum;\nreturn s;",
                add.clone(),
                100 / scale,
                Some((1000, "call")),
            )
            .await,
            measure(
                "100 concurrent calls",
                "const r = await Promise.all(Array.from({ length: 100 }, (_, i) => tools.math.add({ a: i, b: 1 })));\nreturn r.length;",
                add.clone(),
                300 / scale,
                Some((100, "call")),
            )
            .await,
            measure("seed example (10,000 orders)", SEED, demo.clone(), 100 / scale, None).await,
        ]
    });
    let trivial = rows[0].median;
    println!("\n| workload | median | p90 | min | per call (median − trivial) | peak JS heap |");
    println!("|---|---|---|---|---|---|");
    for row in &rows {
        let per = match row.per {
            Some((n, _)) => fmt(row.median.saturating_sub(trivial) / n as u32),
            None if row.name == "one tool call" => fmt(row.median.saturating_sub(trivial)),
            None => "—".to_string(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {:.2} MiB |",
            row.name,
            fmt(row.median),
            fmt(row.p90),
            fmt(row.min),
            per,
            row.peak_memory as f64 / (1024.0 * 1024.0)
        );
    }
}
