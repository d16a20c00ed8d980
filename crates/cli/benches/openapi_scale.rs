//! OpenAPI at scale: what a whole REST API costs the gateway and the agent, for the GitHub
//! REST spec (npm `@octokit/openapi`, ~1,200 operations), Stripe's (`../shared/specs`, ~420)
//! and a synthetic 10,000-operation spec generated here, to show how the costs grow.
//!
//! Per spec, one row:
//!
//! - **load**: reading the spec and building the catalogue (`OpenApiSource::load` and
//!   `Catalog::new`), in this process, median of [`LOAD_RUNS`];
//! - **ready**: `codemode serve --config …` (stdio) from spawn to its first `search` that finds
//!   the API's operations (it serves while upstreams load), and
//!   its **RSS** [`SETTLE`] later (VmRSS; in brackets the high-water mark VmHWM, the load's
//!   peak), median of [`SERVE_RUNS`];
//! - **search**: one `search` as the gateway does it (ranking and the rendered TypeScript
//!   answer), median and p90 over the tasks (`bench/search/openapi_phrasings.json` for the two
//!   real specs, generated ones for the synthetic spec) × [`SEARCH_ROUNDS`];
//! - **tokens**: o200k_base tokens of every operation as a classic `tools/list` sends it,
//!   against the gateway's own `tools/list` (`search` and `execute`), and the cut.
//!
//! Targets (issue 17, for GitHub): load under 1 s, search median under 2 ms, tools/list at
//! most 700 tokens and a cut of at least 99.5 %, RSS under 200 MiB.
//!
//! `cargo bench -p codemode --bench openapi_scale` (after `scripts/install-test-deps.sh`);
//! `OPENAPI_SCALE_ONLY=github` for one row.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use codemode_catalog::{Catalog, SearchQuery};
use codemode_gateway::{Gateway, GatewayOptions};
use codemode_openapi::{OpenApiConfig, OpenApiConfigs, OpenApiSource, SpecLocation};
use serde_json::{json, Value};

const LOAD_RUNS: usize = 5;
const SERVE_RUNS: usize = 3;
const SEARCH_ROUNDS: usize = 20;
const SYNTHETIC_OPERATIONS: usize = 10_000;
/// How long after ready the gateway's memory is read.
const SETTLE: Duration = Duration::from_millis(500);

const LOAD_TARGET: Duration = Duration::from_secs(1);
const SEARCH_TARGET: Duration = Duration::from_millis(2);
const TOOLS_LIST_TARGET: usize = 700;
const CUT_TARGET: f64 = 0.995;
const RSS_TARGET_KIB: u64 = 200 * 1024;

struct Spec {
    name: &'static str,
    path: PathBuf,
    /// Search tasks and the operations that answer them.
    tasks: Vec<(String, Vec<String>)>,
}

struct Row {
    name: &'static str,
    operations: usize,
    spec_bytes: u64,
    load: Duration,
    ready: Duration,
    rss_kib: u64,
    hwm_kib: u64,
    search_median: Duration,
    search_p90: Duration,
    top3: f64,
    classic_tokens: usize,
    codemode_tokens: usize,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn main() {
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let github =
        repo().join(".deps/node/node_modules/@octokit/openapi/generated/api.github.com.json");
    assert!(
        github.exists(),
        "the GitHub spec is missing: run scripts/install-test-deps.sh"
    );
    let phrasings = phrasings();
    let for_namespace = |ns: &str| -> Vec<(String, Vec<String>)> {
        phrasings
            .iter()
            .filter(|(_, expect)| expect.iter().any(|e| e.starts_with(&format!("{ns}."))))
            .cloned()
            .collect()
    };
    let synthetic = scratch.path().join("synthetic.json");
    let synthetic_tasks = write_synthetic(&synthetic, SYNTHETIC_OPERATIONS);
    let specs = [
        Spec {
            name: "github",
            path: github,
            tasks: for_namespace("github"),
        },
        Spec {
            name: "stripe",
            path: repo().join("../shared/specs/stripe-openapi-2022.json"),
            tasks: for_namespace("stripe"),
        },
        Spec {
            name: "synthetic",
            path: synthetic,
            tasks: synthetic_tasks,
        },
    ];
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let mut rows = Vec::new();
    // `OPENAPI_SCALE_ONLY=synthetic`: one row, for profiling.
    let only = std::env::var("OPENAPI_SCALE_ONLY").ok();
    for spec in specs
        .iter()
        .filter(|s| only.as_deref().is_none_or(|o| o == s.name))
    {
        eprintln!("measuring {} …", spec.name);
        rows.push(runtime.block_on(measure(spec, scratch.path())));
    }
    print_table(&rows);
}

async fn measure(spec: &Spec, scratch: &Path) -> Row {
    let configs = || OpenApiConfigs {
        entries: vec![OpenApiConfig::new(
            spec.name,
            SpecLocation::Path(spec.path.clone()),
        )],
        broken: Vec::new(),
    };
    let mut loads = Vec::new();
    let mut catalog = None;
    for _ in 0..LOAD_RUNS {
        let start = Instant::now();
        let source = OpenApiSource::load(&configs()).await;
        let built = Catalog::new(vec![Arc::new(source)]);
        loads.push(start.elapsed());
        catalog = Some(built);
    }
    let catalog = catalog.expect("at least one load");
    let operations = catalog.tool_count().saturating_sub(1); // `$request` is not an operation

    let mut times = Vec::new();
    let mut found = 0usize;
    for round in 0..SEARCH_ROUNDS {
        for (query, expect) in &spec.tasks {
            let start = Instant::now();
            let results = catalog.find(&SearchQuery::new(query.as_str(), 5));
            let text = catalog.render_search(&results);
            times.push(start.elapsed());
            std::hint::black_box(text);
            if round == 0 {
                let hits: Vec<String> = results
                    .by_score()
                    .into_iter()
                    .take(3)
                    .map(|(namespace, hit)| format!("{namespace}.{}", hit.source_name()))
                    .collect();
                found += hits.iter().any(|h| expect.contains(h)) as usize;
            }
        }
    }
    times.sort();

    let gateway = Gateway::new(catalog.clone(), GatewayOptions::default());
    let report = codemode_tokens::token_report(&gateway).expect("o200k_base");

    let config = scratch.join(format!("{}.config.json", spec.name));
    std::fs::write(
        &config,
        json!({ "openapi": { spec.name: { "spec": spec.path } } }).to_string(),
    )
    .expect("the config");
    let mut serves: Vec<(Duration, u64, u64)> =
        (0..SERVE_RUNS).map(|_| serve(&config, spec.name)).collect();
    serves.sort_by_key(|s| s.0);
    let (ready, rss_kib, hwm_kib) = serves[serves.len() / 2];

    Row {
        name: spec.name,
        operations,
        spec_bytes: std::fs::metadata(&spec.path).map_or(0, |m| m.len()),
        load: median(&mut loads),
        ready,
        rss_kib,
        hwm_kib,
        search_median: times[times.len() / 2],
        search_p90: times[times.len() * 9 / 10],
        top3: found as f64 / spec.tasks.len().max(1) as f64,
        classic_tokens: report.classic,
        codemode_tokens: report.codemode,
    }
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// `codemode serve` over stdio: spawn to `search` finding the API's operations, and its VmRSS
/// and VmHWM then.
fn serve(config: &Path, namespace: &str) -> (Duration, u64, u64) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_codemode"))
        .args(["serve", "--config"])
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("codemode serve");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let messages = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "openapi-scale-bench", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    ];
    for message in &messages {
        writeln!(stdin, "{message}").expect("a request");
    }
    stdin.flush().expect("flush");
    // `serve` answers while its upstreams load: ready is when `search` finds the API.
    let mut line = String::new();
    let mut id = 2;
    loop {
        line.clear();
        if stdout.read_line(&mut line).expect("an answer") == 0 {
            panic!("codemode serve exited before the API was ready");
        }
        let answer: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if answer["id"] != id {
            continue;
        }
        let text = answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or("");
        if id > 2 && text.contains(&format!("tools.{namespace}.")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
        id += 1;
        let search = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "search", "arguments": {"query": "list"}}});
        writeln!(stdin, "{search}").expect("a request");
        stdin.flush().expect("flush");
    }
    let ready = start.elapsed();
    // Resident size once the load's garbage is handed back (memory.rs trims after a rebuild).
    std::thread::sleep(SETTLE);
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let (rss, hwm) = (field("VmRSS:"), field("VmHWM:"));
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    (ready, rss, hwm)
}

fn phrasings() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(repo().join("bench/search/openapi_phrasings.json"))
        .expect("the phrasings");
    let cases: Vec<Value> = serde_json::from_str(&text).expect("JSON");
    cases
        .iter()
        .map(|case| {
            let expect = case["expect"]
                .as_array()
                .map(|e| {
                    e.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            (
                case["query"].as_str().unwrap_or_default().to_string(),
                expect,
            )
        })
        .collect()
}

const AREAS: &[&str] = &[
    "billing",
    "shipping",
    "inventory",
    "payroll",
    "support",
    "marketing",
    "analytics",
    "identity",
    "storage",
    "compute",
    "network",
    "catalog",
    "checkout",
    "loyalty",
    "fleet",
    "warehouse",
    "compliance",
    "messaging",
    "scheduling",
    "procurement",
];
const THINGS: &[&str] = &[
    "account", "label", "invoice", "ticket", "campaign", "report", "user", "bucket", "instance",
    "route", "product", "cart", "reward", "vehicle", "shelf", "audit", "thread", "slot", "vendor",
    "contract", "asset", "policy", "quota", "webhook", "token",
];
/// Per resource: the five REST operations and actions that name themselves.
const ACTIONS: &[&str] = &["archive", "restore", "export", "approve", "sync"];

/// A spec of `operations` operations: resources `/{area}/{thing}s` (and numbered copies once
/// the word lists run out), each with list, create, get, update, delete and five actions;
/// schemas in components with `$ref`s between them, parameters with enums and defaults.
/// Returns the search tasks ("archive a shipping label") with the operation that answers each.
fn write_synthetic(path: &Path, operations: usize) -> Vec<(String, Vec<String>)> {
    let per_resource = 5 + ACTIONS.len();
    let resources = operations.div_ceil(per_resource);
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    schemas.insert(
        "Money".into(),
        json!({"type": "object", "description": "An amount in a currency.",
               "properties": {"amount": {"type": "integer", "description": "In minor units."},
                              "currency": {"type": "string", "enum": ["usd", "eur", "gbp"]}},
               "required": ["amount", "currency"]}),
    );
    schemas.insert(
        "Page".into(),
        json!({"type": "object", "properties": {
            "next_cursor": {"type": "string", "nullable": true},
            "total": {"type": "integer"}}}),
    );
    let mut tasks = Vec::new();
    let mut count = 0usize;
    for r in 0..resources {
        let area = AREAS[r % AREAS.len()];
        let thing = THINGS[(r / AREAS.len()) % THINGS.len()];
        let copy = r / (AREAS.len() * THINGS.len());
        let suffix = if copy == 0 {
            String::new()
        } else {
            format!("{}", copy + 1)
        };
        let resource = format!("{area}_{thing}{suffix}");
        let schema_name = format!("{}{}{suffix}", capitalise(area), capitalise(thing));
        schemas.insert(
            schema_name.clone(),
            json!({"type": "object", "description": format!("A {area} {thing}."),
                   "properties": {
                       "id": {"type": "string"},
                       "name": {"type": "string", "description": format!("The {thing}'s display name.")},
                       "status": {"type": "string", "enum": ["active", "archived", "pending"]},
                       "total": {"$ref": "#/components/schemas/Money"},
                       "created": {"type": "string", "format": "date-time"},
                       "parent": {"$ref": format!("#/components/schemas/{schema_name}")}},
                   "required": ["id", "name"]}),
        );
        let item_ref = json!({"$ref": format!("#/components/schemas/{schema_name}")});
        let ok = |schema: Value| {
            json!({"200": {"description": "OK",
            "content": {"application/json": {"schema": schema}}}})
        };
        let collection = format!("/{area}/{thing}s{suffix}");
        let item = format!("{collection}/{{id}}");
        let id_param = json!({"name": "id", "in": "path", "required": true,
            "schema": {"type": "string"}, "description": format!("The {thing}'s id.")});
        let body = json!({"required": true, "content": {"application/json": {"schema": item_ref}}});
        let mut ops = vec![
            (
                collection.clone(),
                "get",
                format!("list_{resource}s"),
                format!("List {area} {thing}s"),
                json!({"parameters": [
                 {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 20, "maximum": 100}},
                 {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                 {"name": "status", "in": "query", "schema": {"type": "string", "enum": ["active", "archived", "pending"]}}],
                 "responses": ok(json!({"allOf": [{"$ref": "#/components/schemas/Page"},
                     {"type": "object", "properties": {"data": {"type": "array", "items": item_ref}}}]}))}),
            ),
            (
                collection.clone(),
                "post",
                format!("create_{resource}"),
                format!("Create a {area} {thing}"),
                json!({"requestBody": body, "responses": ok(item_ref.clone())}),
            ),
            (
                item.clone(),
                "get",
                format!("get_{resource}"),
                format!("Retrieve a {area} {thing}"),
                json!({"parameters": [id_param], "responses": ok(item_ref.clone())}),
            ),
            (
                item.clone(),
                "patch",
                format!("update_{resource}"),
                format!("Update a {area} {thing}"),
                json!({"parameters": [id_param], "requestBody": body, "responses": ok(item_ref.clone())}),
            ),
            (
                item.clone(),
                "delete",
                format!("delete_{resource}"),
                format!("Delete a {area} {thing}"),
                json!({"parameters": [id_param], "responses": {"204": {"description": "Deleted"}}}),
            ),
        ];
        for action in ACTIONS {
            ops.push((
                format!("{item}/{action}"),
                "post",
                format!("{action}_{resource}"),
                format!("{} a {area} {thing}", capitalise(action)),
                json!({"parameters": [id_param], "responses": ok(item_ref.clone())}),
            ));
        }
        for (route, method, id, summary, mut op) in ops {
            if count == operations {
                break;
            }
            count += 1;
            op["operationId"] = json!(id);
            op["summary"] = json!(summary);
            op["description"] = json!(format!(
                "{summary}. Part of the {area} API; requires the `{area}:{}` scope.",
                if method == "get" { "read" } else { "write" }
            ));
            op["tags"] = json!([area]);
            let entry = paths.entry(route).or_insert_with(|| json!({}));
            entry[method] = op;
            // A task for every 97th operation of the first copy: a spread of verbs and areas.
            if copy == 0 && count.is_multiple_of(97) {
                tasks.push((summary.to_lowercase(), vec![format!("synthetic.{id}")]));
            }
        }
    }
    let spec = json!({
        "openapi": "3.0.3",
        "info": {"title": "Synthetic", "version": "1", "description": "A generated API."},
        "servers": [{"url": "https://api.example.com/v1"}],
        "paths": paths,
        "components": {"schemas": schemas},
    });
    std::fs::write(path, spec.to_string()).expect("the synthetic spec");
    tasks
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

fn print_table(rows: &[Row]) {
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    let us = |d: Duration| format!("{:.0} µs", d.as_secs_f64() * 1e6);
    let mib = |kib: u64| format!("{:.0} MiB", kib as f64 / 1024.0);
    println!(
        "| spec | operations | spec size | load | serve ready | RSS (peak) | search median (p90) | search top-3 | classic tokens | tools/list tokens | cut |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let cut = 1.0 - row.codemode_tokens as f64 / row.classic_tokens.max(1) as f64;
        println!(
            "| {} | {} | {:.1} MB | {} | {} | {} ({}) | {} ({}) | {:.0}% | {} | {} | {:.2}% |",
            row.name,
            row.operations,
            row.spec_bytes as f64 / 1e6,
            ms(row.load),
            ms(row.ready),
            mib(row.rss_kib),
            mib(row.hwm_kib),
            us(row.search_median),
            us(row.search_p90),
            row.top3 * 100.0,
            row.classic_tokens,
            row.codemode_tokens,
            cut * 100.0,
        );
    }
    if let Some(github) = rows.iter().find(|r| r.name == "github") {
        let cut = 1.0 - github.codemode_tokens as f64 / github.classic_tokens.max(1) as f64;
        let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
        println!("\ntargets (github):");
        println!("  load < 1 s: {}", verdict(github.load < LOAD_TARGET));
        println!(
            "  search median < 2 ms: {}",
            verdict(github.search_median < SEARCH_TARGET)
        );
        println!(
            "  tools/list ≤ {TOOLS_LIST_TARGET} tokens: {}",
            verdict(github.codemode_tokens <= TOOLS_LIST_TARGET)
        );
        println!("  cut ≥ 99.5 %: {}", verdict(cut >= CUT_TARGET));
        println!(
            "  RSS < 200 MiB once loaded: {} (peak while loading: {})",
            verdict(github.rss_kib < RSS_TARGET_KIB),
            mib(github.hwm_kib)
        );
    }
}
