//! The search-quality suite: task phrasings over real third-party MCP servers, asked of a
//! running `codemode serve` through its `search` tool, scored as top-1, top-3 and MRR.
//!
//! `cargo bench -p codemode --bench search_quality` prints the table (per server and in
//! all); `tests/search_quality.rs` runs the same suite with floors below the targets.
//! The servers come from `scripts/install-search-servers.sh`; the phrasings and what answers
//! each are in `bench/search/phrasings.json`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// One phrasing and the tools (`server.original_name`) that answer it.
pub struct Phrasing {
    pub query: String,
    pub expect: Vec<String>,
}

/// Where one phrasing's first right answer ranked (`None`: not in the results).
pub struct Outcome {
    pub query: String,
    pub expect: Vec<String>,
    pub rank: Option<usize>,
    pub top: Vec<String>,
}

pub struct Scores {
    pub cases: usize,
    pub top1: f64,
    pub top3: f64,
    pub mrr: f64,
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn servers_dir() -> PathBuf {
    repo_root().join(".deps/search-servers")
}

pub fn phrasings() -> Vec<Phrasing> {
    let path = repo_root().join("bench/search/phrasings.json");
    let text = std::fs::read_to_string(&path).expect("bench/search/phrasings.json is readable");
    let cases: Vec<Value> = serde_json::from_str(&text).expect("phrasings.json is a JSON array");
    cases
        .iter()
        .map(|case| Phrasing {
            query: case["query"].as_str().expect("a query").to_string(),
            expect: case["expect"]
                .as_array()
                .expect("an expect list")
                .iter()
                .map(|t| t.as_str().expect("tool names").to_string())
                .collect(),
        })
        .collect()
}

/// A `codemode serve` over stdio with the suite's servers, spoken to line by line.
pub struct Gateway {
    child: Child,
    /// `None` once closed.
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
    next_id: u64,
}

impl Gateway {
    pub fn start() -> Gateway {
        let dir = servers_dir();
        assert!(
            dir.join(".stamps/npm").exists(),
            "{} is not installed: run scripts/install-search-servers.sh",
            dir.display()
        );
        let config = repo_root().join("scripts/search-servers/servers.json");
        // `CODEMODE_BIN` runs the suite against another build, for before/after tables.
        let binary = std::env::var("CODEMODE_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_codemode").to_string());
        let mut child = Command::new(binary)
            .args(["serve", "--config"])
            .arg(&config)
            .env("SEARCH_SERVERS_DIR", &dir)
            .env_remove("CODEMODE_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("codemode starts");
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(message) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if tx.send(message).is_err() {
                    break;
                }
            }
        });
        let mut gateway = Gateway {
            child,
            stdin: Some(stdin),
            lines,
            next_id: 1,
        };
        gateway.request(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "search-quality", "version": "1"}}),
        );
        gateway.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        gateway
    }

    fn send(&mut self, message: Value) {
        let stdin = self.stdin.as_mut().expect("stdin is open until drop");
        writeln!(stdin, "{message}").expect("codemode reads stdin");
        stdin.flush().expect("flushed");
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(message) if message["id"] == json!(id) => return message["result"].clone(),
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => panic!("no answer to {method} in 120 s"),
                Err(RecvTimeoutError::Disconnected) => panic!("codemode exited"),
            }
        }
    }

    /// `search`'s structured answer.
    pub fn search(&mut self, arguments: Value) -> Value {
        let result = self.request(
            "tools/call",
            json!({"name": "search", "arguments": arguments}),
        );
        result["structuredContent"].clone()
    }

    /// Waits until every configured namespace is up (or `limit` passes); returns how many
    /// tools the catalogue holds and the namespaces that did not come up.
    pub fn wait_ready(&mut self, namespaces: &[String], limit: Duration) -> (usize, Vec<String>) {
        let started = Instant::now();
        loop {
            let mut missing = Vec::new();
            let mut total = 0;
            for namespace in namespaces {
                let page = self.search(json!({"namespace": namespace, "limit": 1}));
                total = page["total_tools"].as_u64().unwrap_or(0) as usize;
                if page["namespaces"]
                    .as_array()
                    .is_none_or(|groups| groups.is_empty())
                {
                    missing.push(namespace.clone());
                }
            }
            if missing.is_empty() || started.elapsed() > limit {
                return (total, missing);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Gateway {
    /// Closes stdin, as a client that leaves does, so that the gateway stops its upstream
    /// servers; killing it outright would orphan them.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The ranked hits of one search as `server.original_name`, best first.
pub fn ranked(answer: &Value) -> Vec<String> {
    let mut hits: Vec<(f64, String)> = Vec::new();
    for group in answer["namespaces"].as_array().into_iter().flatten() {
        let namespace = group["namespace"].as_str().unwrap_or_default();
        for hit in group["tools"].as_array().into_iter().flatten() {
            let name = hit["original_name"]
                .as_str()
                .or_else(|| hit["ident"].as_str())
                .unwrap_or_default();
            hits.push((
                hit["score"].as_f64().unwrap_or(0.0),
                format!("{namespace}.{name}"),
            ));
        }
    }
    // Stable: equal scores keep the gateway's order.
    hits.sort_by(|a, b| b.0.total_cmp(&a.0));
    hits.into_iter().map(|(_, name)| name).collect()
}

pub fn run(gateway: &mut Gateway, cases: &[Phrasing]) -> Vec<Outcome> {
    cases
        .iter()
        .map(|case| {
            let top = ranked(&gateway.search(json!({"query": case.query, "limit": 10})));
            let rank = top.iter().position(|name| case.expect.contains(name));
            Outcome {
                query: case.query.clone(),
                expect: case.expect.clone(),
                rank,
                top,
            }
        })
        .collect()
}

pub fn scores<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> Scores {
    let mut cases = 0;
    let (mut top1, mut top3, mut mrr) = (0.0, 0.0, 0.0);
    for outcome in outcomes {
        cases += 1;
        if let Some(rank) = outcome.rank {
            top1 += f64::from(u8::from(rank == 0));
            top3 += f64::from(u8::from(rank < 3));
            mrr += 1.0 / (rank as f64 + 1.0);
        }
    }
    let n = cases.max(1) as f64;
    Scores {
        cases,
        top1: top1 / n,
        top3: top3 / n,
        mrr: mrr / n,
    }
}

/// The table: one row per server (by the first expected tool's server), then all.
pub fn table(outcomes: &[Outcome]) -> String {
    let mut by_server: BTreeMap<String, Vec<&Outcome>> = BTreeMap::new();
    for outcome in outcomes {
        let server = outcome.expect[0]
            .split('.')
            .next()
            .unwrap_or("?")
            .to_string();
        by_server.entry(server).or_default().push(outcome);
    }
    let mut out = format!(
        "{:<12} {:>6} {:>7} {:>7} {:>6}\n",
        "server", "cases", "top-1", "top-3", "MRR"
    );
    let row = |name: &str, s: &Scores| {
        format!(
            "{name:<12} {:>6} {:>6.1}% {:>6.1}% {:>6.3}\n",
            s.cases,
            s.top1 * 100.0,
            s.top3 * 100.0,
            s.mrr
        )
    };
    for (server, outcomes) in &by_server {
        out.push_str(&row(server, &scores(outcomes.iter().copied())));
    }
    out.push_str(&row("all", &scores(outcomes)));
    out
}

/// The phrasings whose first right answer ranked below `within`, with what came first.
pub fn misses(outcomes: &[Outcome], within: usize) -> String {
    let mut out = String::new();
    for outcome in outcomes
        .iter()
        .filter(|o| o.rank.is_none_or(|r| r >= within))
    {
        out.push_str(&format!(
            "  {:?}: want {:?}, rank {}, got {:?}\n",
            outcome.query,
            outcome.expect,
            outcome
                .rank
                .map_or("-".to_string(), |r| (r + 1).to_string()),
            outcome.top.iter().take(3).collect::<Vec<_>>()
        ));
    }
    out
}

pub fn configured_namespaces() -> Vec<String> {
    let config = repo_root().join("scripts/search-servers/servers.json");
    let text = std::fs::read_to_string(config).expect("the suite's config is readable");
    let config: Value = serde_json::from_str(&text).expect("the suite's config is JSON");
    let servers = config
        .get("mcpServers")
        .or_else(|| config.get("servers"))
        .and_then(Value::as_object)
        .expect("a servers table");
    servers.keys().cloned().collect()
}

#[allow(dead_code)]
fn main() {
    let cases = phrasings();
    let mut gateway = Gateway::start();
    let (tools, missing) = gateway.wait_ready(&configured_namespaces(), Duration::from_secs(90));
    if !missing.is_empty() {
        eprintln!("not up: {missing:?}");
    }
    let started = Instant::now();
    let outcomes = run(&mut gateway, &cases);
    let elapsed = started.elapsed();
    println!(
        "search quality: {} phrasings over {} servers, {tools} tools ({:.1} ms per search over MCP)\n",
        cases.len(),
        configured_namespaces().len() - missing.len(),
        elapsed.as_secs_f64() * 1e3 / cases.len().max(1) as f64
    );
    print!("{}", table(&outcomes));
    // SEARCH_QUALITY_TOP1=1 lists every phrasing not answered first, to work on top-1.
    let within = if std::env::var_os("SEARCH_QUALITY_TOP1").is_some() {
        1
    } else {
        3
    };
    let missed = misses(&outcomes, within);
    if !missed.is_empty() {
        println!("\nmissed the top {within}:\n{missed}");
    }
}
