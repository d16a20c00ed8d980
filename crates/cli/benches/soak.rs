//! Soak bench: one well-behaved client beside 50 hostile ones, all on one HTTP gateway.
//!
//! Starts this profile's `codemode` binary as
//! `codemode serve --http 127.0.0.1:0 --max-executions 16 --max-queued 64` (the built-in demo
//! tools) and, for `SOAK_SECONDS` (default 60), drives it over Streamable HTTP with raw
//! JSON-RPC POSTs (`initialize` → `notifications/initialized` → `tools/call`; each client
//! keeps its own `Mcp-Session-Id` and reads either a JSON body or the SSE `data:` lines):
//!
//! - 50 hostile clients, spread over six snippets (CPU burners, native BigInt burners,
//!   memory bombs, oversized results, huge thrown errors, huge `tools.$search` queries),
//!   each sending its snippet again as soon as the previous answer arrives;
//! - one well-behaved client looping `tools/list`, then an `execute` of a small demo query,
//!   with latencies recorded;
//! - a `tools/list` probe on its own session every 200 ms, because the well-behaved loop
//!   makes few `tools/list` calls while its `execute` waits in the queue.
//!
//! Meanwhile the gateway's `/proc/<pid>/status` is read every 200 ms (VmHWM and VmRSS, and the
//! VmRSS sum over the gateway and its worker processes). At the end the bench prints one
//! table: well-behaved latencies, hostile request counts by outcome
//! (`structuredContent.error.kind`, `busy`, HTTP and transport errors) and peak memory,
//! against the targets (`tools/list` p99 under 50 ms, gateway RSS under 512 MiB).
//!
//! Run with `cargo bench -p codemode --bench soak` (`SOAK_SECONDS=10` for a short run).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{json, Value};
use tokio::task::JoinSet;

/// Soak length unless `SOAK_SECONDS` says otherwise.
const DEFAULT_SECONDS: u64 = 60;
const HOSTILE_CLIENTS: usize = 50;
const GATEWAY_ARGS: [&str; 7] = [
    "serve",
    "--http",
    "127.0.0.1:0",
    "--max-executions",
    "16",
    "--max-queued",
    "64",
];
const WELL_BEHAVED_CODE: &str =
    r#"const o = await tools.orders.list({since:"2026-06-01"}); return o.length;"#;
const PROBE_EVERY: Duration = Duration::from_millis(200);
const RSS_EVERY: Duration = Duration::from_millis(200);
const TOOLS_LIST_P99_TARGET: Duration = Duration::from_millis(50);
const RSS_TARGET_KIB: u64 = 512 * 1024;
/// The protocol version offered in `initialize` (the server's answer is used afterwards).
const PROTOCOL_VERSION: &str = "2025-11-25";
/// A reply larger than this is abandoned (the gateway bounds its replies far below).
const MAX_REPLY_BYTES: usize = 64 << 20;
/// Longer than the gateway's 50 s wall-clock limit, so the gateway's answer comes first.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);
/// Pause before a client opens a new session after a failed request.
const RECONNECT_PAUSE: Duration = Duration::from_millis(50);
/// How long the gateway gets to exit after SIGTERM before it is killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// One kind of hostile client: a name for the table and the snippet it sends over and over.
struct Mix {
    name: &'static str,
    code: &'static str,
}

const MIXES: [Mix; 6] = [
    Mix {
        name: "cpu burner",
        code: "while(true){}",
    },
    Mix {
        name: "native burner",
        code: r#"return Array(12).fill(7n ** 300000n).join(",").length"#,
    },
    Mix {
        name: "memory bomb",
        code: r#"const a=[]; while(true) a.push("x".repeat(1e6))"#,
    },
    Mix {
        name: "oversized result",
        code: r#"return "x".repeat(50e6)"#,
    },
    Mix {
        name: "huge thrown error",
        code: r#"throw new Error("x".repeat(20e6))"#,
    },
    Mix {
        name: "huge $search",
        code: r#"return await tools.$search("q".repeat(21e6))"#,
    },
];

#[tokio::main]
async fn main() {
    let seconds = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|&s| s > 0)
        .unwrap_or(DEFAULT_SECONDS);
    // reqwest is built (through the workspace's upstream crate) without a bundled rustls
    // crypto provider and panics without one, even for plain HTTP. Err: one is set already.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let mut gateway = Gateway::start();
    let sampler = RssSampler::start(gateway.pid());
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);

    let tallies: Arc<Vec<Mutex<Tally>>> =
        Arc::new(MIXES.iter().map(|_| Mutex::default()).collect());
    let mut hostile = JoinSet::new();
    for client in 0..HOSTILE_CLIENTS {
        let mix = client % MIXES.len();
        tallies[mix].lock().expect("not poisoned").clients += 1;
        hostile.spawn(hostile_client(gateway.url.clone(), mix, tallies.clone()));
    }
    let probe = tokio::spawn(probe(gateway.url.clone(), deadline));
    let (list, execute) = well_behaved(&gateway.url, deadline).await;
    let probe = probe.await.expect("the probe does not panic");
    hostile.abort_all();
    while hostile.join_next().await.is_some() {}
    let soaked = started.elapsed();
    let died = gateway.child.try_wait().ok().flatten();
    let peaks = sampler.stop();
    let shutdown = gateway.stop();

    let report = Report {
        seconds: soaked.as_secs_f64(),
        gateway: &gateway,
        list,
        probe,
        execute,
        tallies: tallies
            .iter()
            .map(|t| t.lock().expect("not poisoned").clone())
            .collect(),
        peaks,
        died,
        shutdown,
    };
    report.print();
}

// --- Clients -------------------------------------------------------------------------------

/// A hostile client: opens a session and sends its snippet again as soon as it is answered;
/// a failed request (HTTP or transport error) costs it the session. Runs until aborted.
async fn hostile_client(url: String, mix: usize, tallies: Arc<Vec<Mutex<Tally>>>) {
    let http = http_client();
    let record = |outcome: String| {
        let mut tally = tallies[mix].lock().expect("not poisoned");
        *tally.outcomes.entry(outcome).or_default() += 1;
    };
    loop {
        let session = match Session::open(&http, &url).await {
            Ok(session) => session,
            Err(failure) => {
                record(format!("initialize: {failure}"));
                tokio::time::sleep(RECONNECT_PAUSE).await;
                continue;
            }
        };
        tallies[mix].lock().expect("not poisoned").sessions += 1;
        loop {
            tallies[mix].lock().expect("not poisoned").sent += 1;
            match session.execute(MIXES[mix].code).await {
                Ok(reply) => record(execute_outcome(&reply)),
                Err(failure) => {
                    record(failure.to_string());
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    break;
                }
            }
        }
    }
}

/// The well-behaved client: `tools/list`, then `execute`, until the deadline.
async fn well_behaved(url: &str, deadline: Instant) -> (Series, Series) {
    let http = http_client();
    let mut list = Series::default();
    let mut execute = Series::default();
    let mut session: Option<Session> = None;
    while Instant::now() < deadline {
        let current = match &session {
            Some(current) => current,
            None => match Session::open(&http, url).await {
                Ok(opened) => session.insert(opened),
                Err(failure) => {
                    list.count(format!("initialize: {failure}"));
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            },
        };
        let listed = current.request("tools/list", json!({}));
        let mut healthy = list.measure(deadline, listed, list_outcome).await;
        if healthy {
            let executed = current.execute(WELL_BEHAVED_CODE);
            healthy = execute.measure(deadline, executed, execute_outcome).await;
        }
        if !healthy {
            session = None;
        }
    }
    (list, execute)
}

/// `tools/list` on its own session every [`PROBE_EVERY`], until the deadline.
async fn probe(url: String, deadline: Instant) -> Series {
    let http = http_client();
    let mut series = Series::default();
    let mut session: Option<Session> = None;
    let mut ticks = tokio::time::interval(PROBE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if Instant::now() >= deadline {
            return series;
        }
        let current = match &session {
            Some(current) => current,
            None => match Session::open(&http, &url).await {
                Ok(opened) => session.insert(opened),
                Err(failure) => {
                    series.count(format!("initialize: {failure}"));
                    continue;
                }
            },
        };
        let request = current.request("tools/list", json!({}));
        if !series.measure(deadline, request, list_outcome).await {
            session = None;
        }
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("an HTTP client builds")
}

/// `ok` when the reply lists tools.
fn list_outcome(reply: &Value) -> String {
    match reply["result"]["tools"].as_array() {
        Some(tools) if !tools.is_empty() => "ok".into(),
        Some(_) => "no tools".into(),
        None => rpc_error(reply).unwrap_or_else(|| "unexpected reply".into()),
    }
}

/// `ok`, `busy`, or the execution error's kind (`timeout`, `memory`, `limit`, ...).
fn execute_outcome(reply: &Value) -> String {
    if let Some(error) = rpc_error(reply) {
        return error;
    }
    let result = &reply["result"];
    if result["isError"] != json!(true) {
        return "ok".into();
    }
    let error = &result["structuredContent"]["error"];
    let message = error["message"].as_str().unwrap_or_default();
    if message.starts_with("Busy") {
        return "busy".into();
    }
    match error["kind"].as_str() {
        Some(kind) => kind.to_string(),
        None => "error without kind".into(),
    }
}

/// `jsonrpc <code>` when the reply is a JSON-RPC error.
fn rpc_error(reply: &Value) -> Option<String> {
    let error = reply.get("error")?;
    Some(format!("jsonrpc {}", error["code"]))
}

// --- Streamable HTTP -----------------------------------------------------------------------

/// An initialized MCP session over Streamable HTTP, spoken in raw JSON-RPC.
struct Session {
    http: reqwest::Client,
    url: String,
    id: Option<String>,
    protocol: String,
    next_id: AtomicU64,
}

/// Why a request got no JSON-RPC reply. Displayed coarsely: it is a key in the tables.
#[derive(Debug)]
enum Failure {
    Http(u16),
    ClientTimeout,
    Connect,
    Transport,
    TooLarge,
    BadReply,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Http(status) => write!(f, "http {status}"),
            Failure::ClientTimeout => f.write_str("client timeout"),
            Failure::Connect => f.write_str("connect error"),
            Failure::Transport => f.write_str("transport error"),
            Failure::TooLarge => f.write_str("reply too large"),
            Failure::BadReply => f.write_str("bad reply"),
        }
    }
}

impl From<reqwest::Error> for Failure {
    fn from(error: reqwest::Error) -> Failure {
        if error.is_timeout() {
            Failure::ClientTimeout
        } else if error.is_connect() {
            Failure::Connect
        } else {
            Failure::Transport
        }
    }
}

impl Session {
    /// `initialize`, then `notifications/initialized`.
    async fn open(http: &reqwest::Client, url: &str) -> Result<Session, Failure> {
        let mut session = Session {
            http: http.clone(),
            url: url.to_string(),
            id: None,
            protocol: PROTOCOL_VERSION.to_string(),
            next_id: AtomicU64::new(1),
        };
        let initialize = json!({
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": { "name": "codemode-soak", "version": "0" },
            },
        });
        let response = session.post(&initialize).await?;
        session.id = response
            .headers()
            .get("mcp-session-id")
            .and_then(|id| id.to_str().ok())
            .map(str::to_string);
        let reply = read_reply(response, 0).await?;
        if let Some(version) = reply["result"]["protocolVersion"].as_str() {
            session.protocol = version.to_string();
        }
        let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        session.post(&initialized).await?;
        Ok(session)
    }

    async fn execute(&self, code: &str) -> Result<Value, Failure> {
        let params = json!({ "name": "execute", "arguments": { "code": code } });
        self.request("tools/call", params).await
    }

    /// One JSON-RPC request; the reply message (with `result` or `error`).
    async fn request(&self, method: &str, params: Value) -> Result<Value, Failure> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let message = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let response = self.post(&message).await?;
        read_reply(response, id).await
    }

    /// A POST of `message`; non-2xx answers are failures.
    async fn post(&self, message: &Value) -> Result<reqwest::Response, Failure> {
        let mut request = self
            .http
            .post(&self.url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json, text/event-stream")
            .body(message.to_string());
        if let Some(id) = &self.id {
            request = request
                .header("mcp-session-id", id)
                .header("mcp-protocol-version", &self.protocol);
        }
        let response = request.send().await?;
        let status = response.status();
        if !status.is_success() {
            return Err(Failure::Http(status.as_u16()));
        }
        Ok(response)
    }
}

/// The reply to request `id`: the whole body when it is JSON, or the first SSE event that
/// carries it (notifications before it are skipped, and the stream is not read further).
async fn read_reply(mut response: reqwest::Response, id: u64) -> Result<Value, Failure> {
    let is_sse = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/event-stream"));
    let mut body = Vec::new();
    let mut events = SseEvents::default();
    while let Some(chunk) = response.chunk().await? {
        if is_sse {
            for data in events.feed(&chunk) {
                if let Some(reply) = reply_for(&data, id) {
                    return Ok(reply);
                }
            }
            if events.pending() > MAX_REPLY_BYTES {
                return Err(Failure::TooLarge);
            }
        } else {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_REPLY_BYTES {
                return Err(Failure::TooLarge);
            }
        }
    }
    if is_sse {
        return Err(Failure::BadReply);
    }
    serde_json::from_slice(&body).map_err(|_| Failure::BadReply)
}

/// The message in `data` if it is the reply to request `id`.
fn reply_for(data: &str, id: u64) -> Option<Value> {
    let message: Value = serde_json::from_str(data).ok()?;
    let answers = message.get("result").is_some() || message.get("error").is_some();
    (answers && message["id"] == json!(id)).then_some(message)
}

/// An incremental `text/event-stream` parser that yields each complete event's data.
#[derive(Default)]
struct SseEvents {
    buffer: Vec<u8>,
}

impl SseEvents {
    /// Adds `chunk`; the data of every event it completes (`data:` lines joined by `\n`).
    fn feed(&mut self, chunk: &[u8]) -> Vec<String> {
        self.buffer
            .extend(chunk.iter().copied().filter(|&byte| byte != b'\r'));
        let mut events = Vec::new();
        while let Some(end) = self.buffer.windows(2).position(|pair| pair == b"\n\n") {
            let event: Vec<u8> = self.buffer.drain(..end + 2).collect();
            let data: Vec<String> = String::from_utf8_lossy(&event)
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(|data| data.strip_prefix(' ').unwrap_or(data).to_string())
                .collect();
            if !data.is_empty() {
                events.push(data.join("\n"));
            }
        }
        events
    }

    /// Bytes of an event not yet complete.
    fn pending(&self) -> usize {
        self.buffer.len()
    }
}

// --- Measurements --------------------------------------------------------------------------

/// Latencies of one request type's `ok` answers and the count of every outcome.
#[derive(Default)]
struct Series {
    ok: Vec<Duration>,
    outcomes: BTreeMap<String, u64>,
    /// How long the request still unanswered at the deadline had waited.
    unfinished: Option<Duration>,
}

impl Series {
    fn count(&mut self, outcome: String) {
        *self.outcomes.entry(outcome).or_default() += 1;
    }

    /// Awaits `request` until the deadline and records it; false when the request failed
    /// and the session should be replaced.
    async fn measure(
        &mut self,
        deadline: Instant,
        request: impl Future<Output = Result<Value, Failure>>,
        judge: fn(&Value) -> String,
    ) -> bool {
        let start = Instant::now();
        match tokio::time::timeout_at(deadline.into(), request).await {
            Err(_) => {
                self.unfinished = Some(start.elapsed());
                true
            }
            Ok(Ok(reply)) => {
                let outcome = judge(&reply);
                if outcome == "ok" {
                    self.ok.push(start.elapsed());
                }
                self.count(outcome);
                true
            }
            Ok(Err(failure)) => {
                self.count(failure.to_string());
                false
            }
        }
    }

    /// The nearest-rank `p` quantile (0 < p ≤ 1) of the `ok` latencies.
    fn quantile(&self, p: f64) -> Option<Duration> {
        let mut sorted = self.ok.clone();
        sorted.sort_unstable();
        let rank = (p * sorted.len() as f64).ceil() as usize;
        sorted.get(rank.max(1) - 1).copied()
    }
}

/// What one hostile mix sent and got back.
#[derive(Default, Clone)]
struct Tally {
    clients: usize,
    sessions: u64,
    sent: u64,
    outcomes: BTreeMap<String, u64>,
}

/// Peak memory over the soak, in KiB.
#[derive(Default, Debug)]
struct Peaks {
    /// The gateway's own high-water mark (VmHWM), as last read.
    gateway_hwm: u64,
    /// The largest sampled VmRSS of the gateway.
    gateway_rss: u64,
    /// The largest sampled VmRSS sum over the gateway and all its descendants.
    tree_rss: u64,
    /// The most processes (gateway included) seen in one sample.
    tree_processes: usize,
    samples: u64,
}

/// Reads the gateway's memory every [`RSS_EVERY`] on a thread of its own.
struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Peaks>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peaks = Peaks::default();
            while !stopped.load(Ordering::Relaxed) {
                let Some(status) = read_status(pid) else {
                    break; // the gateway is gone
                };
                peaks.gateway_hwm = peaks.gateway_hwm.max(status.hwm);
                peaks.gateway_rss = peaks.gateway_rss.max(status.rss);
                let tree = descendants(pid);
                let tree_rss: u64 = tree
                    .iter()
                    .filter_map(|&child| read_status(child))
                    .map(|child| child.rss)
                    .sum::<u64>()
                    + status.rss;
                peaks.tree_rss = peaks.tree_rss.max(tree_rss);
                peaks.tree_processes = peaks.tree_processes.max(tree.len() + 1);
                peaks.samples += 1;
                std::thread::sleep(RSS_EVERY);
            }
            peaks
        });
        RssSampler { stop, thread }
    }

    fn stop(self) -> Peaks {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the sampler does not panic")
    }
}

/// VmHWM and VmRSS of one process, in KiB.
struct Status {
    hwm: u64,
    rss: u64,
}

fn read_status(pid: u32) -> Option<Status> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
    };
    Some(Status {
        hwm: field("VmHWM:").unwrap_or(0),
        rss: field("VmRSS:")?,
    })
}

/// Every live descendant of `root`, from the parent pids in `/proc/*/stat`.
fn descendants(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|ppid| ppid.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(pid) = frontier.pop() {
        for &child in children.get(&pid).into_iter().flatten() {
            found.push(child);
            frontier.push(child);
        }
    }
    found
}

// --- The gateway ---------------------------------------------------------------------------

/// The gateway under test, as a child process.
struct Gateway {
    child: Child,
    /// `http://127.0.0.1:PORT/mcp`
    url: String,
    /// Every line the gateway wrote on stderr.
    stderr: Arc<Mutex<Vec<String>>>,
}

/// How the gateway ended after the soak.
enum Shutdown {
    Exited(ExitStatus, Duration),
    Killed,
}

impl Gateway {
    fn start() -> Gateway {
        let mut child = Command::new(env!("CARGO_BIN_EXE_codemode"))
            .args(GATEWAY_ARGS)
            .env_remove("CODEMODE_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("codemode starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        // Drained for the gateway's whole life, or it would block on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line
                    .split_whitespace()
                    .find(|word| word.starts_with("http://") && word.ends_with("/mcp"))
                {
                    let _ = tx.send(url.to_string());
                }
                sink.lock().expect("not poisoned").push(line);
            }
        });
        let Ok(url) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the gateway did not report its address; stderr:\n{}",
                lines.lock().expect("not poisoned").join("\n")
            );
        };
        Gateway {
            child,
            url,
            stderr: lines,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then SIGKILL if it has not exited within [`SHUTDOWN_GRACE`].
    fn stop(&mut self) -> Shutdown {
        let started = Instant::now();
        if let Ok(pid) = libc::pid_t::try_from(self.pid()) {
            // SAFETY: kill(2) on the child we spawned and have not yet reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        while started.elapsed() < SHUTDOWN_GRACE {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Shutdown::Exited(status, started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Shutdown::Killed
    }

    fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().expect("not poisoned").clone()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// --- The report ----------------------------------------------------------------------------

struct Report<'a> {
    seconds: f64,
    gateway: &'a Gateway,
    list: Series,
    probe: Series,
    execute: Series,
    tallies: Vec<Tally>,
    peaks: Peaks,
    /// Set when the gateway exited during the soak.
    died: Option<ExitStatus>,
    shutdown: Shutdown,
}

impl Report<'_> {
    fn print(&self) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let commit = command_output(root, "git", &["rev-parse", "--short", "HEAD"]);
        let dirty = command_output(root, "git", &["status", "--porcelain", "-uno"])
            .is_some_and(|changes| !changes.is_empty());
        let date = command_output(root, "date", &["-u", "+%Y-%m-%d %H:%M:%S UTC"]);
        let (commit, date) = (
            commit.as_deref().unwrap_or("?"),
            date.as_deref().unwrap_or("?"),
        );
        println!();
        println!(
            "codemode soak: commit {commit}{}, {date}",
            if dirty {
                " (+ uncommitted changes)"
            } else {
                ""
            }
        );
        println!("gateway: codemode {}", GATEWAY_ARGS.join(" "));
        println!(
            "load: {HOSTILE_CLIENTS} hostile clients + 1 well-behaved client (+ tools/list probe \
             every {} ms) for {:.1} s",
            PROBE_EVERY.as_millis(),
            self.seconds
        );

        println!();
        println!(
            "{:<28} {:>5} {:>9} {:>9} {:>9}  {:<14} {:<7} other outcomes",
            "well-behaved", "ok", "p50", "p99", "max", "target", "verdict"
        );
        self.latency_row("tools/list (in the loop)", &self.list, true);
        self.latency_row("tools/list (probe)", &self.probe, true);
        self.latency_row("execute (orders.list)", &self.execute, false);

        println!();
        println!(
            "{:<20} {:>7} {:>8} {:>6} {:>8}  outcomes",
            "hostile", "clients", "sessions", "sent", "answered"
        );
        let mut total = Tally::default();
        for (mix, tally) in MIXES.iter().zip(&self.tallies) {
            tally_row(mix.name, tally);
            total.clients += tally.clients;
            total.sessions += tally.sessions;
            total.sent += tally.sent;
            for (outcome, count) in &tally.outcomes {
                *total.outcomes.entry(outcome.clone()).or_default() += count;
            }
        }
        tally_row("total", &total);

        println!();
        let peaks = &self.peaks;
        println!("{:<40} {:>10}  {:<12} verdict", "memory", "peak", "target");
        let verdict = if peaks.gateway_hwm < RSS_TARGET_KIB {
            "PASS"
        } else {
            "FAIL"
        };
        println!(
            "{:<40} {:>10}  {:<12} {verdict}",
            "gateway VmHWM",
            mib(peaks.gateway_hwm),
            format!("< {} MiB", RSS_TARGET_KIB / 1024)
        );
        println!(
            "{:<40} {:>10}",
            "gateway VmRSS (sampled)",
            mib(peaks.gateway_rss)
        );
        println!(
            "{:<40} {:>10}  (up to {} processes; shared pages counted per process)",
            "gateway + workers VmRSS sum (sampled)",
            mib(peaks.tree_rss),
            peaks.tree_processes
        );
        println!(
            "{} samples every {} ms",
            peaks.samples,
            RSS_EVERY.as_millis()
        );

        println!();
        if let Some(status) = self.died {
            println!("the gateway EXITED during the soak: {status}");
        }
        match &self.shutdown {
            Shutdown::Exited(status, took) => {
                println!(
                    "shutdown: SIGTERM → exited in {:.2} s ({status})",
                    took.as_secs_f64()
                )
            }
            Shutdown::Killed => println!(
                "shutdown: SIGTERM → still running after {} s, killed",
                SHUTDOWN_GRACE.as_secs()
            ),
        }
        let stderr = self.gateway.stderr_lines();
        println!("gateway stderr: {} lines", stderr.len());
        if self.died.is_some() || matches!(self.shutdown, Shutdown::Killed) {
            for line in stderr.iter().rev().take(10).rev() {
                println!("  {line}");
            }
        }
    }

    fn latency_row(&self, name: &str, series: &Series, with_target: bool) {
        let cell = |d: Option<Duration>| d.map(duration).unwrap_or_else(|| "-".into());
        let p99 = series.quantile(0.99);
        let (target, verdict) = match (with_target, p99) {
            (false, _) => (String::new(), ""),
            (true, None) => (target_text(), "NO DATA"),
            (true, Some(p99)) if p99 < TOOLS_LIST_P99_TARGET => (target_text(), "PASS"),
            (true, Some(_)) => (target_text(), "FAIL"),
        };
        let mut others: Vec<String> = series
            .outcomes
            .iter()
            .filter(|(outcome, _)| outcome.as_str() != "ok")
            .map(|(outcome, count)| format!("{outcome} {count}"))
            .collect();
        if let Some(waited) = series.unfinished {
            others.push(format!("unanswered at the end after {}", duration(waited)));
        }
        println!(
            "{:<28} {:>5} {:>9} {:>9} {:>9}  {:<14} {:<7} {}",
            name,
            series.ok.len(),
            cell(series.quantile(0.5)),
            cell(p99),
            cell(series.ok.iter().max().copied()),
            target,
            verdict,
            if others.is_empty() {
                "-".to_string()
            } else {
                others.join(", ")
            }
        );
    }
}

fn target_text() -> String {
    format!("p99 < {} ms", TOOLS_LIST_P99_TARGET.as_millis())
}

fn tally_row(name: &str, tally: &Tally) {
    // Failed `initialize`s are outcomes too, but not answers to a request counted as sent.
    let answered: u64 = tally
        .outcomes
        .iter()
        .filter(|(outcome, _)| !outcome.starts_with("initialize: "))
        .map(|(_, count)| count)
        .sum();
    let outcomes: Vec<String> = tally
        .outcomes
        .iter()
        .map(|(outcome, count)| format!("{outcome} {count}"))
        .collect();
    println!(
        "{:<20} {:>7} {:>8} {:>6} {:>8}  {}",
        name,
        tally.clients,
        tally.sessions,
        tally.sent,
        answered,
        outcomes.join(", ")
    );
}

/// `1.23 ms`, `456 ms` or `12.3 s`.
fn duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 100.0 {
        format!("{ms:.2} ms")
    } else if ms < 10_000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1e3)
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// A command's trimmed stdout, if it ran and succeeded.
fn command_output(dir: &Path, program: &str, args: &[&str]) -> Option<String> {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
}
