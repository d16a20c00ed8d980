//! OpenTelemetry traces end to end: `codemode serve` exports to a real OTLP/HTTP receiver
//! (`fixtures/otlp_receiver.py`, decoding with PyPI's `opentelemetry-proto`), and real
//! Python SDK servers (`fixtures/traced_server.py`, over stdio and Streamable HTTP) say
//! what trace context reached them.
//!
//! Checked: the `execute` span is the child of the client's `traceparent` in `_meta`; each
//! `tool_call` span is the child of the `execute` span; the upstream's `_meta` (and, over
//! HTTP, its `traceparent` header) names the `tool_call` span as parent; no secret (from an
//! entry's `env`, its `headers`, a tool's arguments or its result) is in any span; spans
//! are flushed when the stdio client leaves; a call in flight when its worker dies ends its
//! span as an error; with no endpoint, or `OTEL_SDK_DISABLED`, nothing is sent; a receiver
//! that is down costs one warning and no time.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{alive, children_of, codemode, path_str, python, signal, wait_with_timeout};
use serde_json::{json, Value};

/// The client's span, as a W3C `traceparent` would name it.
const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// Secrets the gateway is handed; none may reach a span.
const ENV_SECRET: &str = "sk-test-env-5f1c2d9e";
const HEADER_SECRET: &str = "sk-header-9a7e31b0";
const ARGUMENT_SECRET: &str = "sk-arg-3b2d88f4";

/// Generous: two cores are shared with other builds, and the Python servers start slowly.
const ANSWER: Duration = Duration::from_secs(120);
const SPANS: Duration = Duration::from_secs(60);

fn fixture(name: &str) -> String {
    path_str(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
}

fn traceparent() -> String {
    format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01")
}

/// A Python child that prints `port N` first; killed on drop.
struct PortProcess {
    child: Child,
    port: u16,
}

impl PortProcess {
    fn start(args: &[String]) -> PortProcess {
        let mut child = Command::new(python())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep draining, so the child never blocks on a full pipe.
            for _ in lines {}
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("{args:?} did not print its port")
            });
        let port = line
            .strip_prefix("port ")
            .and_then(|port| port.trim().parse().ok())
            .unwrap_or_else(|| panic!("{args:?} printed {line:?}, not `port N`"));
        PortProcess { child, port }
    }
}

impl Drop for PortProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The OTLP/HTTP receiver and the spans it wrote.
struct OtlpReceiver {
    process: PortProcess,
    out: PathBuf,
}

impl OtlpReceiver {
    fn start(dir: &Path) -> OtlpReceiver {
        let out = dir.join("spans.jsonl");
        let process = PortProcess::start(&[fixture("otlp_receiver.py"), path_str(&out)]);
        OtlpReceiver { process, out }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.process.port)
    }

    /// Everything received so far, as written.
    fn raw(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn spans(&self) -> Vec<Value> {
        self.raw()
            .lines()
            .map(|line| serde_json::from_str(line).expect("the receiver writes JSON lines"))
            .collect()
    }

    /// Polls until `ready` holds for the spans received, or panics with what came.
    fn wait_for(&self, what: &str, ready: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + SPANS;
        loop {
            let spans = self.spans();
            if ready(&spans) {
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {SPANS:?}; received:\n{}",
                self.raw()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `codemode serve` over stdio, driven one JSON-RPC line at a time, with the test runner's
/// own `OTEL_*` variables removed so only the test's count.
struct Gateway {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
    next_id: u64,
    stderr: Arc<Mutex<String>>,
}

impl Gateway {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Gateway {
        let mut command = Command::new(codemode());
        command
            .arg("serve")
            .args(args)
            .env_remove("CODEMODE_TOKEN")
            .env_remove("CODEMODE_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("OTEL_") {
                command.env_remove(key);
            }
        }
        command.envs(env.iter().copied());
        let mut child = command.spawn().expect("codemode starts");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let message = serde_json::from_str::<Value>(&line)
                    .unwrap_or_else(|e| panic!("non-JSON on stdout ({e}): {line}"));
                if tx.send(message).is_err() {
                    break;
                }
            }
        });
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut log = sink.lock().expect("not poisoned");
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut gateway = Gateway {
            child,
            stdin,
            lines,
            next_id: 1,
            stderr: log,
        };
        let init = gateway.send(
            "initialize",
            json!({
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "codemode-traces-test", "version": "1"}
            }),
        );
        gateway.answer(init, Duration::from_secs(60));
        gateway.write(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        gateway
    }

    fn stderr(&self) -> String {
        self.stderr.lock().expect("not poisoned").clone()
    }

    fn write(&mut self, message: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{message}")
            .and_then(|()| stdin.flush())
            .expect("codemode reads stdin");
    }

    /// Sends a request; its answer is read with [`Gateway::answer`].
    fn send(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.write(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        id
    }

    /// The `result` answering request `id` (notifications are skipped).
    fn answer(&mut self, id: u64, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = self.lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "no answer to request {id} within {timeout:?}; stderr:\n{}",
                    self.stderr()
                )
            });
            if message["id"] == json!(id) {
                assert!(
                    message.get("error").is_none(),
                    "request {id} failed: {message}"
                );
                return message["result"].clone();
            }
        }
    }

    /// Sends `execute` with `code` and `_meta`; its request id.
    fn send_execute(&mut self, code: &str, meta: Value) -> u64 {
        self.send(
            "tools/call",
            json!({"name": "execute", "arguments": {"code": code}, "_meta": meta}),
        )
    }

    /// `execute` with `code` and `_meta`, and its `structuredContent`.
    fn execute(&mut self, code: &str, meta: Value) -> Value {
        let id = self.send_execute(code, meta);
        self.answer(id, ANSWER)["structuredContent"].clone()
    }

    /// Closes stdin, as a stdio client that leaves does, and waits for the exit.
    fn leave(&mut self, timeout: Duration) -> ExitStatus {
        drop(self.stdin.take());
        wait_with_timeout(&mut self.child, timeout)
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

fn write_config(dir: &Path, servers: Value) -> String {
    let path = dir.join("servers.json");
    std::fs::write(&path, json!({ "mcpServers": servers }).to_string()).expect("a config");
    path_str(&path)
}

fn stdio_server() -> Value {
    json!({
        "command": path_str(&python()),
        "args": [fixture("traced_server.py"), "stdio"],
        "env": { "SECRET_TOKEN": ENV_SECRET }
    })
}

fn named<'a>(spans: &'a [Value], name: &str) -> Vec<&'a Value> {
    spans.iter().filter(|span| span["name"] == name).collect()
}

fn attribute<'a>(span: &'a Value, key: &str) -> &'a Value {
    &span["attributes"][key]
}

/// The tool-call span of `tool` (`namespace.tool`, as the catalogue names it).
fn tool_call<'a>(spans: &'a [Value], tool: &str) -> Option<&'a Value> {
    named(spans, "tool_call")
        .into_iter()
        .find(|span| attribute(span, "tool") == tool)
}

/// The trace and parent span ids of a `traceparent`.
fn ids_of(traceparent: &Value) -> (String, String) {
    let text = traceparent
        .as_str()
        .unwrap_or_else(|| panic!("not a traceparent: {traceparent}"));
    let parts: Vec<&str> = text.split('-').collect();
    assert_eq!(parts.len(), 4, "not a traceparent: {text}");
    (parts[1].to_owned(), parts[2].to_owned())
}

/// The attributes the catalogue gives every tool-call span (`result_bytes` only to a call
/// that answered).
fn assert_tool_call_attributes(span: &Value, answered: bool) {
    let mut keys = vec!["tool", "outcome", "args_bytes", "decision"];
    if answered {
        keys.push("result_bytes");
    }
    for key in keys {
        assert!(
            !attribute(span, key).is_null(),
            "tool_call span without `{key}`: {span}"
        );
    }
}

const STATUS_ERROR: i64 = 2;

#[test]
fn execute_and_tool_call_spans_join_the_clients_trace_and_reach_the_upstreams() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let receiver = OtlpReceiver::start(dir.path());
    let http_server = PortProcess::start(&[fixture("traced_server.py"), "http".into()]);
    let config = write_config(
        dir.path(),
        json!({
            "traced": stdio_server(),
            "tracedhttp": {
                "url": format!("http://127.0.0.1:{}/mcp", http_server.port),
                "headers": { "Authorization": format!("Bearer {HEADER_SECRET}") }
            }
        }),
    );
    let endpoint = receiver.endpoint();
    let mut gateway = Gateway::start(
        &["--config", &config],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
    );
    let code = format!(
        "const stdio = await tools.traced.seen({{ note: \"{ARGUMENT_SECRET}\" }});\n\
         const http = await tools.tracedhttp.seen({{ note: \"plain\" }});\n\
         return {{ stdio, http }};"
    );
    let reply = gateway.execute(&code, json!({ "traceparent": traceparent() }));
    let result = &reply["result"];
    assert_eq!(result["stdio"]["secret_env"], true, "{reply}");
    assert_eq!(result["http"]["secret_header"], true, "{reply}");
    // The secrets did pass through the gateway, in results and arguments alike.
    assert_eq!(result["stdio"]["echo"], ENV_SECRET);
    assert_eq!(result["stdio"]["note"], ARGUMENT_SECRET);

    let spans = receiver.wait_for("execute span and its two tool calls", |spans| {
        !named(spans, "execute").is_empty() && named(spans, "tool_call").len() >= 2
    });
    let executes = named(&spans, "execute");
    assert_eq!(executes.len(), 1, "{spans:#?}");
    let execute = executes[0];
    assert_eq!(execute["trace_id"], CLIENT_TRACE, "{execute}");
    assert_eq!(execute["parent_span_id"], CLIENT_SPAN, "{execute}");
    assert_eq!(attribute(execute, "outcome"), "ok");
    assert_eq!(attribute(execute, "calls"), 2);
    assert_eq!(attribute(execute, "code_bytes"), code.len());
    assert_ne!(execute["status"]["code"], STATUS_ERROR);
    assert_eq!(execute["resource"]["service.name"], "codemode");

    for span in named(&spans, "tool_call") {
        assert_eq!(span["trace_id"], CLIENT_TRACE, "{span}");
        assert_eq!(span["parent_span_id"], execute["span_id"], "{span}");
        assert_tool_call_attributes(span, true);
        assert_eq!(attribute(span, "outcome"), "ok", "{span}");
    }

    // Each upstream's work is the child of its own tool call: over stdio in `_meta`, over
    // HTTP in `_meta` and as the `traceparent` header alike.
    let stdio_call = tool_call(&spans, "traced.seen").expect("a span for traced.seen");
    let http_call = tool_call(&spans, "tracedhttp.seen").expect("a span for tracedhttp.seen");
    for (seen, call) in [(&result["stdio"], stdio_call), (&result["http"], http_call)] {
        let (trace, parent) = ids_of(&seen["meta"]["traceparent"]);
        assert_eq!(trace, CLIENT_TRACE, "{seen}");
        assert_eq!(call["span_id"], parent, "{seen} is not the child of {call}");
    }
    assert_eq!(
        result["http"]["headers"]["traceparent"], result["http"]["meta"]["traceparent"],
        "the POST's traceparent header says what its _meta says"
    );
    assert_eq!(
        result["stdio"]["headers"],
        json!({}),
        "stdio has no headers"
    );

    let exported = receiver.raw();
    for secret in [ENV_SECRET, HEADER_SECRET, ARGUMENT_SECRET] {
        assert!(
            !exported.contains(secret),
            "{secret} reached a span:\n{exported}"
        );
    }
    let status = gateway.leave(Duration::from_secs(30));
    assert!(status.success(), "{status}; stderr:\n{}", gateway.stderr());
}

#[test]
fn spans_still_queued_are_sent_when_the_stdio_client_leaves() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let receiver = OtlpReceiver::start(dir.path());
    let endpoint = receiver.endpoint();
    // A schedule far beyond the test: only the flush at exit can send these spans. In
    // process, tool calls start on the snippet's thread, which takes the execute span along.
    let mut gateway = Gateway::start(
        &["--in-process"],
        &[
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                &format!("{endpoint}/v1/traces"),
            ),
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
            ("OTEL_SERVICE_NAME", "gateway-under-test"),
        ],
    );
    let reply = gateway.execute(
        "const c = await tools.customers.search({ text: \"a\", limit: 1 }); return c.length;",
        json!({}),
    );
    assert!(reply.get("error").is_none(), "{reply}");
    assert!(receiver.spans().is_empty(), "exported before the flush");
    let status = gateway.leave(Duration::from_secs(30));
    assert!(status.success(), "{status}; stderr:\n{}", gateway.stderr());
    let spans = receiver.wait_for("the flushed spans", |spans| {
        !named(spans, "execute").is_empty() && !named(spans, "tool_call").is_empty()
    });
    let execute = named(&spans, "execute")[0];
    // No traceparent in `_meta`: the execution is a trace of its own.
    assert_eq!(execute["parent_span_id"], "", "{execute}");
    assert_eq!(execute["resource"]["service.name"], "gateway-under-test");
    let call = named(&spans, "tool_call")[0];
    assert_eq!(call["parent_span_id"], execute["span_id"], "{call}");
}

/// Sandbox workers under the gateway: the fork server's children, or workers it started
/// itself. The fork server's template is left alone.
fn workers_of(gateway: u32) -> Vec<u32> {
    let cmdline = |pid: u32| std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let is = |pid: u32, arg: &[u8]| cmdline(pid).split(|b| *b == 0).any(|a| a == arg);
    let mut workers = Vec::new();
    for child in children_of(gateway) {
        if is(child, b"--zygote") {
            workers.extend(children_of(child));
        } else if is(child, b"__worker") {
            workers.push(child);
        }
    }
    workers
}

#[test]
fn a_tool_call_in_flight_when_its_worker_dies_ends_its_span_with_an_error() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let receiver = OtlpReceiver::start(dir.path());
    let config = write_config(dir.path(), json!({ "traced": stdio_server() }));
    let endpoint = receiver.endpoint();
    let mut gateway = Gateway::start(
        &["--config", &config],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
    );
    let started = dir.path().join("slow-started");
    let id = gateway.send_execute(
        &format!(
            "await tools.traced.slow({{ seconds: 600, marker: {:?} }}); return 1;",
            path_str(&started)
        ),
        json!({ "traceparent": traceparent() }),
    );
    // The upstream says when the call reached it.
    let deadline = Instant::now() + ANSWER;
    while !started.exists() {
        assert!(
            Instant::now() < deadline,
            "the slow call never started; stderr:\n{}",
            gateway.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Every worker dies (the idle ones are replaced); the busy one held the call.
    let workers = workers_of(gateway.child.id());
    assert!(
        !workers.is_empty(),
        "no worker; stderr:\n{}",
        gateway.stderr()
    );
    for worker in workers {
        if alive(worker) {
            signal(worker, libc::SIGKILL);
        }
    }
    let reply = gateway.answer(id, ANSWER);
    assert_eq!(reply["isError"], true, "{reply}");

    let spans = receiver.wait_for("the slow call's span", |spans| {
        spans
            .iter()
            .any(|span| span["name"] == "execute" && span["trace_id"] == CLIENT_TRACE)
            && spans
                .iter()
                .any(|span| span["name"] == "tool_call" && span["trace_id"] == CLIENT_TRACE)
    });
    let in_trace = |name: &str| {
        spans
            .iter()
            .find(|span| span["name"] == name && span["trace_id"] == CLIENT_TRACE)
            .expect("found above")
    };
    let execute = in_trace("execute");
    assert_eq!(attribute(execute, "outcome"), "error", "{execute}");
    assert!(!attribute(execute, "error.kind").is_null(), "{execute}");
    assert_eq!(execute["status"]["code"], STATUS_ERROR, "{execute}");
    let call = in_trace("tool_call");
    assert_eq!(call["parent_span_id"], execute["span_id"], "{call}");
    assert_eq!(call["status"]["code"], STATUS_ERROR, "{call}");
    assert_tool_call_attributes(call, false);
    assert_eq!(attribute(call, "outcome"), "abandoned", "{call}");
}

#[test]
fn without_an_endpoint_or_with_the_sdk_disabled_nothing_is_sent() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let receiver = OtlpReceiver::start(dir.path());
    let endpoint = receiver.endpoint();
    let snippet = "return (await tools.orders.get({ id: \"ord_00001\" })) !== undefined;";
    // Empty values count as unset.
    let mut unset = Gateway::start(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    let mut disabled = Gateway::start(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_SDK_DISABLED", "true"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    for gateway in [&mut unset, &mut disabled] {
        let reply = gateway.execute(snippet, json!({ "traceparent": traceparent() }));
        assert_eq!(reply["result"], true, "{reply}");
        let status = gateway.leave(Duration::from_secs(30));
        assert!(status.success(), "{status}");
        assert!(
            !gateway.stderr().contains("traces"),
            "nothing is said about traces when they are off:\n{}",
            gateway.stderr()
        );
    }
    assert_eq!(receiver.raw(), "", "spans were sent");
}

#[test]
fn a_receiver_that_is_down_costs_one_warning_and_no_time() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut gateway = Gateway::start(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    let snippet = "return (await tools.orders.get({ id: \"ord_00001\" })) !== undefined;";
    let warning = "cannot export traces";
    let reply = gateway.execute(snippet, json!({}));
    assert_eq!(reply["result"], true, "{reply}");
    let deadline = Instant::now() + SPANS;
    while !gateway.stderr().contains(warning) {
        assert!(
            Instant::now() < deadline,
            "no warning; stderr:\n{}",
            gateway.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // More spans, more failed exports: still one warning, and executions answer as ever.
    for _ in 0..3 {
        let started = Instant::now();
        let reply = gateway.execute(snippet, json!({}));
        assert_eq!(reply["result"], true, "{reply}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "execute waited on the receiver"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let started = Instant::now();
    let status = gateway.leave(Duration::from_secs(30));
    assert!(status.success(), "{status}");
    // The exit waits a few seconds at most for the last batch.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "exit took {:?}",
        started.elapsed()
    );
    let stderr = gateway.stderr();
    assert_eq!(stderr.matches(warning).count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}/v1/traces")),
        "{stderr}"
    );
}
