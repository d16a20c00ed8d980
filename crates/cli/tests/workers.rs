//! `codemode serve` with snippets in worker processes, under load and faults, driven by the
//! official TypeScript SDK over Streamable HTTP on loopback.

mod common;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{
    dep, node, node_modules, path_str, repo_root, signal, wait_with_timeout, HttpGateway,
};
use serde_json::{json, Value};

/// Runs `workers/execute_many.mjs` against `url` and returns its report.
fn execute_many(url: &str, clients: usize, snippets: &[String]) -> Value {
    let script = repo_root().join("crates/cli/tests/workers/execute_many.mjs");
    let spec = json!({
        "nodeModules": path_str(&node_modules()),
        "url": url,
        "clients": clients,
        "snippets": snippets,
    });
    let output = Command::new(node())
        .arg(script)
        .arg(spec.to_string())
        .stdin(Stdio::null())
        .output()
        .expect("node starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "execute_many failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {stdout}"))
}

fn results(report: &Value) -> &Vec<Value> {
    report["results"].as_array().expect("results")
}

/// Samples a process's resident memory until stopped; the peak, in KiB.
struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let (stop2, peak2) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    peak2.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        RssSampler {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    fn peak_kib(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A snippet making several demo tool calls whose answer the test can check.
fn several_calls(i: usize) -> String {
    format!(
        r#"const orders = await tools.orders.list({{ since: "2026-06-01" }});
        const ids = [...new Set(orders.slice(0, 5).map((o: any) => o.customerId))];
        const [customers, first, found] = await Promise.all([
            tools.customers.batchGet(ids),
            tools.orders.get({{ id: orders[0].id }}),
            tools.customers.search({{ text: "a", limit: 3 }}),
        ]);
        return {{ i: {i}, orders: orders.length, customers: Object.keys(customers).length, first: first.id === orders[0].id, found: found.length }};"#
    )
}

#[test]
fn two_hundred_concurrent_executions_all_complete_with_bounded_memory() {
    let gateway = HttpGateway::start(
        &[
            "--workers",
            "4",
            "--max-executions",
            "16",
            "--max-queued",
            "256",
        ],
        &[],
    );
    let pid = gateway.child.id();
    let baseline = rss_kib(pid).unwrap_or_default();
    let snippets: Vec<String> = (0..200).map(several_calls).collect();
    let sampler = RssSampler::start(pid);
    let report = execute_many(&gateway.url, 8, &snippets);
    let peak = sampler.peak_kib();
    let results = results(&report);
    assert_eq!(results.len(), 200);
    let expected = &results[0]["structured"]["result"];
    assert!(
        expected["orders"].as_u64().unwrap_or(0) > 0,
        "{:?}",
        results[0]
    );
    for (i, result) in results.iter().enumerate() {
        assert_eq!(
            result["isError"],
            json!(false),
            "execution {i}: {result}\n{}",
            gateway.stderr()
        );
        let value = &result["structured"]["result"];
        assert_eq!(
            value["i"],
            json!(i),
            "execution {i} got another's answer: {value}"
        );
        for key in ["orders", "customers", "first", "found"] {
            assert_eq!(value[key], expected[key], "execution {i}: {value}");
        }
        assert_eq!(result["structured"]["callCount"], json!(4), "{result}");
    }
    eprintln!(
        "200 executions in {} ms; gateway RSS {} KiB at start, peak {} KiB",
        report["elapsedMs"], baseline, peak
    );
    assert!(
        peak < 256 * 1024,
        "the gateway's memory grew to {peak} KiB under load"
    );
}

#[test]
fn a_flood_beyond_capacity_is_refused_as_busy_not_piled_up() {
    let gateway = HttpGateway::start(
        &[
            "--workers",
            "1",
            "--max-executions",
            "2",
            "--max-queued",
            "3",
        ],
        &[],
    );
    let snippets: Vec<String> = (0..40)
        .map(|i| format!("await new Promise((r) => setTimeout(r, 500)); return {i};"))
        .collect();
    let report = execute_many(&gateway.url, 4, &snippets);
    let (mut done, mut busy) = (0, 0);
    for result in results(&report) {
        if result["isError"] == json!(false) {
            done += 1;
            continue;
        }
        let error = &result["structured"]["error"];
        assert_eq!(error["kind"], json!("limit"), "{result}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("at capacity") && message.contains("retry"),
            "{message}"
        );
        busy += 1;
    }
    // At most 2 run and 3 wait at any moment; the rest are told at once.
    assert!(done >= 5, "only {done} ran");
    assert!(
        busy >= 20,
        "only {busy} of 40 were refused; the rest piled up"
    );
    assert_eq!(done + busy, 40);
}

#[test]
fn sigterm_drains_executions_in_flight() {
    let mut gateway = HttpGateway::start(&[], &[]);
    let url = gateway.url.clone();
    let client = std::thread::spawn(move || {
        execute_many(
            &url,
            1,
            &["await new Promise((r) => setTimeout(r, 1500)); return 'finished';".to_string()],
        )
    });
    // Let the execution start, then ask the gateway to stop.
    std::thread::sleep(Duration::from_millis(800));
    signal(gateway.child.id(), libc::SIGTERM);
    let report = client.join().expect("the client thread");
    let result = &results(&report)[0];
    assert_eq!(
        result["structured"]["result"],
        json!("finished"),
        "{result}\n{}",
        gateway.stderr()
    );
    let status = wait_with_timeout(&mut gateway.child, Duration::from_secs(10));
    assert!(status.success(), "{status}: {}", gateway.stderr());
}

#[test]
fn an_upstream_that_crashes_or_hangs_fails_that_call_only() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let fixture = repo_root().join("crates/upstream/tests/fixtures/fixture-server.mjs");
    let sdk = path_str(&dep("node/node_modules/@modelcontextprotocol/sdk"));
    let server = |timeout: Option<u64>| {
        let mut entry = json!({
            "command": path_str(&node()),
            "args": [path_str(&fixture), "stdio"],
            "env": { "MCP_SDK_DIR": sdk },
        });
        if let Some(ms) = timeout {
            entry["callTimeoutMs"] = json!(ms);
        }
        entry
    };
    let config = json!({ "mcpServers": {
        "crashy": server(None),
        "sleepy": server(Some(1000)),
        "steady": server(None),
    }});
    let path = dir.path().join("servers.json");
    std::fs::write(&path, config.to_string()).expect("writes the config");
    let gateway = HttpGateway::start(&["--config", &path_str(&path)], &[]);
    let snippets = vec![
        r#"let crash = ""; try { await tools.crashy.crash({}); } catch (e) { crash = String(e); }
           const still = await tools.steady.echo({ message: "after the crash" });
           return { crash, still };"#.to_string(),
        r#"let hang = ""; try { await tools.sleepy.sleep({ ms: 3600000 }); } catch (e) { hang = String(e); }
           const still = await tools.steady.echo({ message: "after the hang" });
           return { hang, still };"#.to_string(),
        r#"return await tools.steady.echo({ message: "meanwhile" });"#.to_string(),
    ];
    let report = execute_many(&gateway.url, 2, &snippets);
    let results = results(&report);
    let crashed = &results[0]["structured"]["result"];
    assert!(
        crashed["crash"]
            .as_str()
            .unwrap_or_default()
            .contains("tools.crashy.crash"),
        "{}\n{}",
        results[0],
        gateway.stderr()
    );
    assert!(
        crashed["still"].to_string().contains("after the crash"),
        "{crashed}"
    );
    let hung = &results[1]["structured"]["result"];
    assert!(
        hung["hang"]
            .as_str()
            .unwrap_or_default()
            .contains("1000 ms"),
        "{}",
        results[1]
    );
    assert!(
        hung["still"].to_string().contains("after the hang"),
        "{hung}"
    );
    assert!(
        results[2]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("meanwhile"),
        "{}",
        results[2]
    );
    eprintln!("crash: {}\nhang: {}", crashed["crash"], hung["hang"]);
}
