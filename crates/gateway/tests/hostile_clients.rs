//! Clients that would make the gateway hold more than it should: too many or abandoned
//! HTTP sessions, requests sent halfway, lines over the stdio cap, request ids reused
//! while in flight. Driven over real TCP with raw HTTP/1.1, and over the stdio framing
//! with raw JSON lines.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use codemode_catalog::{Catalog, NamespaceStatus, SourceNamespace, ToolSource, ToolSpec};
use codemode_demo::DemoSource;
use codemode_gateway::{
    serve_stdio_on, BoundHttp, CancellationToken, Gateway, GatewayOptions, HttpOptions,
    MAX_LINE_BYTES,
};
use codemode_sandbox::ToolFuture;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
const DISCOVER: &str = r#"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}"#;

/// A source with one tool, `slow.wait`, that answers after 600 ms: a request that stays
/// in flight long enough to be reused.
struct Slow;

impl ToolSource for Slow {
    fn namespaces(&self) -> Vec<SourceNamespace> {
        vec![SourceNamespace {
            name: "slow".into(),
            status: NamespaceStatus::Ready,
            description: None,
            tools: vec![ToolSpec {
                name: "wait".into(),
                title: None,
                description: Some("Waits a little.".into()),
                input_schema: json!({ "type": "object" }),
                output_schema: None,
                annotations: None,
                keywords: None,
            }],
        }]
    }
    fn call(&self, _namespace: &str, _tool: &str, _args: Value) -> ToolFuture {
        Box::pin(async {
            tokio::time::sleep(Duration::from_millis(600)).await;
            Ok(json!("waited"))
        })
    }
}

fn gateway() -> Gateway {
    Gateway::new(
        Catalog::new(vec![Arc::new(DemoSource::new()), Arc::new(Slow)]),
        GatewayOptions::default(),
    )
}

fn slow_call(id: u64) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "tools/call",
        "params": { "name": "execute", "arguments": { "code": "return await tools.slow.wait({});" } }
    })
    .to_string()
}

// ---- HTTP ----

struct Server {
    addr: SocketAddr,
    shutdown: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start(configure: impl FnOnce(&mut HttpOptions)) -> Server {
    let mut options = HttpOptions::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    configure(&mut options);
    let bound = BoundHttp::bind(&gateway(), options).await.expect("binds");
    let addr = bound.local_addr();
    let shutdown = CancellationToken::new();
    tokio::spawn(bound.serve(shutdown.clone()));
    Server { addr, shutdown }
}

struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// The JSON-RPC message of a JSON body or of the first SSE `data:` line carrying one.
    fn message(&self) -> Value {
        if let Ok(value) = serde_json::from_str(self.body.trim()) {
            return value;
        }
        self.body
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .find_map(|data| serde_json::from_str(data.trim()).ok())
            .unwrap_or_else(|| panic!("no JSON-RPC message in {:?}", self.body))
    }
}

fn post_text(
    addr: SocketAddr,
    session: Option<&str>,
    extra: &[(&str, &str)],
    body: &str,
) -> String {
    let mut text = format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(session) = session {
        text.push_str(&format!(
            "Mcp-Session-Id: {session}\r\nMCP-Protocol-Version: 2025-11-25\r\n"
        ));
    }
    for (name, value) in extra {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    text
}

async fn read_reply(mut stream: TcpStream) -> Reply {
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("the server answers and closes")
        .expect("reads");
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line in {raw:?}"));
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

async fn send(addr: SocketAddr, text: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    stream.write_all(text.as_bytes()).await.expect("writes");
    stream
}

async fn post(addr: SocketAddr, session: Option<&str>, body: &str) -> Reply {
    read_reply(send(addr, &post_text(addr, session, &[], body)).await).await
}

/// `initialize` and `notifications/initialized`: a session id.
async fn open_session(addr: SocketAddr) -> String {
    let reply = post(addr, None, INITIALIZE).await;
    assert_eq!(reply.status, 200, "{}\n{}", reply.head, reply.body);
    let session = reply
        .header("mcp-session-id")
        .expect("a session id")
        .to_string();
    let accepted = post(addr, Some(&session), INITIALIZED).await;
    assert_eq!(accepted.status, 202, "{}", accepted.head);
    session
}

async fn ping(addr: SocketAddr, session: &str) -> u16 {
    post(
        addr,
        Some(session),
        r#"{"jsonrpc":"2.0","id":99,"method":"ping"}"#,
    )
    .await
    .status
}

/// Opens the standalone SSE stream of `session` and waits for its response head.
async fn open_get_stream(addr: SocketAddr, session: &str) -> TcpStream {
    let get = format!(
        "GET /mcp HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\nMcp-Session-Id: {session}\r\nMCP-Protocol-Version: 2025-11-25\r\n\r\n"
    );
    let mut stream = send(addr, &get).await;
    let mut first = [0u8; 64];
    let read = stream.read(&mut first).await.expect("reads");
    assert!(String::from_utf8_lossy(&first[..read]).starts_with("HTTP/1.1 200"));
    stream
}

async fn discover(addr: SocketAddr) -> Reply {
    let text = post_text(
        addr,
        None,
        &[
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "server/discover"),
        ],
        DISCOVER,
    );
    read_reply(send(addr, &text).await).await
}

#[tokio::test]
async fn past_the_cap_the_least_recently_used_idle_session_is_closed() {
    let server = start(|options| options.max_sessions = 2).await;
    let addr = server.addr;
    let first = open_session(addr).await;
    let second = open_session(addr).await;
    // `first` is used again, so `second` is now the least recently used.
    assert_eq!(ping(addr, &first).await, 200);
    let third = open_session(addr).await;
    assert_eq!(
        ping(addr, &second).await,
        404,
        "the evicted session is gone"
    );
    assert_eq!(ping(addr, &first).await, 200);
    assert_eq!(ping(addr, &third).await, 200);
}

#[tokio::test]
async fn when_every_session_is_busy_initialize_gets_503_and_stateless_requests_still_work() {
    let server = start(|options| options.max_sessions = 1).await;
    let addr = server.addr;
    let busy = open_session(addr).await;
    let stream = open_get_stream(addr, &busy).await;

    let refused = post(addr, None, INITIALIZE).await;
    assert_eq!(refused.status, 503, "{}\n{}", refused.head, refused.body);
    assert!(refused.header("retry-after").is_some(), "{}", refused.head);
    let error = refused.message();
    assert_eq!(error["id"], 1, "{error}");
    assert_eq!(error["error"]["code"], -32000, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("maximum of 1 sessions"),
        "{error}"
    );

    // 2026-07-28 requests open no session: unaffected.
    let discovered = discover(addr).await;
    assert_eq!(
        discovered.status, 200,
        "{}\n{}",
        discovered.head, discovered.body
    );
    assert!(
        discovered.message()["result"]["supportedVersions"].is_array(),
        "{}",
        discovered.body
    );
    assert_eq!(ping(addr, &busy).await, 200);

    // Once its stream is closed the old session is idle, and makes room.
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = post(addr, None, INITIALIZE).await;
        if reply.status == 200 {
            break;
        }
        assert_eq!(reply.status, 503);
        assert!(
            Instant::now() < deadline,
            "the closed stream never freed its session"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ping(addr, &busy).await, 404);
}

#[tokio::test]
async fn an_idle_session_expires_and_one_with_an_open_stream_does_not() {
    let server = start(|options| options.session_idle_timeout = Duration::from_secs(1)).await;
    let addr = server.addr;
    let idle = open_session(addr).await;
    let listening = open_session(addr).await;
    let _stream = open_get_stream(addr, &listening).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(ping(addr, &idle).await, 404, "the idle session expired");
    assert_eq!(
        ping(addr, &listening).await,
        200,
        "the listening one did not"
    );
}

#[tokio::test]
async fn half_sent_headers_and_silent_connections_are_closed() {
    let server = start(|options| options.request_read_timeout = Duration::from_secs(1)).await;
    let addr = server.addr;
    for partial in [
        format!("POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: appli"),
        String::new(),
    ] {
        let started = Instant::now();
        let mut stream = send(addr, &partial).await;
        let mut rest = Vec::new();
        // Closed (a reset counts too), after the timeout and well before 10 s.
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest))
            .await
            .expect("the server closes the connection");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(900),
            "closed after {waited:?}"
        );
        assert!(waited < Duration::from_secs(5), "closed after {waited:?}");
    }
    // A complete request is still served.
    assert_eq!(post(addr, None, INITIALIZE).await.status, 200);
}

#[tokio::test]
async fn a_half_sent_body_gets_408_and_the_connection_closed() {
    let server = start(|options| options.request_read_timeout = Duration::from_secs(1)).await;
    let addr = server.addr;
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\n\r\n",
        INITIALIZE.len()
    );
    let started = Instant::now();
    let text = format!("{head}{}", &INITIALIZE[..INITIALIZE.len() / 2]);
    let reply = read_reply(send(addr, &text).await).await;
    let waited = started.elapsed();
    assert_eq!(reply.status, 408, "{}\n{}", reply.head, reply.body);
    assert!(
        waited >= Duration::from_millis(900),
        "answered after {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "answered after {waited:?}");
    assert_eq!(post(addr, None, INITIALIZE).await.status, 200);
}

#[tokio::test]
async fn over_http_a_reused_in_flight_id_is_refused_and_the_first_still_answers() {
    let server = start(|_| {}).await;
    let addr = server.addr;
    let session = open_session(addr).await;
    let first = send(addr, &post_text(addr, Some(&session), &[], &slow_call(5))).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let again = post(
        addr,
        Some(&session),
        r#"{"jsonrpc":"2.0","id":5,"method":"ping"}"#,
    )
    .await;
    let error = again.message();
    assert_eq!(error["id"], 5, "{error}");
    assert_eq!(error["error"]["code"], -32600, "{error}");
    assert_eq!(
        error["error"]["message"], "request id 5 is already in flight",
        "{error}"
    );

    let answer = read_reply(first).await;
    let answer = answer.message();
    assert_eq!(answer["id"], 5, "{answer}");
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    // Answered, the id is free again.
    let reused = post(
        addr,
        Some(&session),
        r#"{"jsonrpc":"2.0","id":5,"method":"ping"}"#,
    )
    .await;
    assert!(reused.message()["result"].is_object(), "{}", reused.body);
}

/// The RSS one idle HTTP session holds, over 500 of them. Run with
/// `cargo test -p codemode-gateway --test hostile_clients -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement, not a check; it is noisy next to other tests"]
async fn memory_held_by_idle_sessions() {
    fn rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
    let server = start(|_| {}).await;
    let addr = server.addr;
    // Warm up allocator and runtime.
    for _ in 0..50 {
        open_session(addr).await;
    }
    let before = rss_kib();
    const SESSIONS: u64 = 500;
    for _ in 0..SESSIONS {
        open_session(addr).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib();
    let per_session = (after.saturating_sub(before)) * 1024 / SESSIONS;
    println!(
        "RSS {before} KiB -> {after} KiB over {SESSIONS} idle sessions: about {per_session} bytes each"
    );
}

// ---- stdio ----

struct Stdio {
    lines: tokio::io::Lines<BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>>,
    write: tokio::io::WriteHalf<tokio::io::DuplexStream>,
    server: tokio::task::JoinHandle<Result<(), codemode_gateway::GatewayError>>,
    _shutdown: CancelOnDrop,
}

struct CancelOnDrop(CancellationToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl Stdio {
    async fn start() -> Stdio {
        let (client, server) = tokio::io::duplex(1 << 16);
        let (server_read, server_write) = tokio::io::split(server);
        let shutdown = CancellationToken::new();
        let gateway = gateway();
        let stop = shutdown.clone();
        let server =
            tokio::spawn(
                async move { serve_stdio_on(&gateway, server_read, server_write, stop).await },
            );
        let (read, write) = tokio::io::split(client);
        let mut stdio = Stdio {
            lines: BufReader::new(read).lines(),
            write,
            server,
            _shutdown: CancelOnDrop(shutdown),
        };
        stdio.send(INITIALIZE).await;
        let initialized = stdio.next().await;
        assert_eq!(initialized["id"], 1, "{initialized}");
        stdio.send(INITIALIZED).await;
        stdio
    }

    async fn send(&mut self, line: &str) {
        self.write.write_all(line.as_bytes()).await.expect("writes");
        self.write.write_all(b"\n").await.expect("writes");
    }

    /// The next reply (notifications are skipped).
    async fn next(&mut self) -> Value {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(10), self.lines.next_line())
                .await
                .expect("a reply in time")
                .expect("reads")
                .expect("the gateway is still there");
            let message: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            if message.get("id").is_some() {
                return message;
            }
        }
    }
}

#[tokio::test]
async fn over_stdio_an_oversized_line_gets_an_error_with_its_id_and_the_session_goes_on() {
    let mut stdio = Stdio::start().await;
    let filler = "x".repeat(MAX_LINE_BYTES + 1024);
    // The id first, as most clients write it...
    let first = format!(
        r#"{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{{"name":"search","arguments":{{"query":"{filler}"}}}}}}"#
    );
    stdio.send(&first).await;
    let error = stdio.next().await;
    assert_eq!(error["id"], 7, "{error}");
    assert_eq!(error["error"]["code"], -32600, "{error}");
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("over the 8388608-byte limit"), "{message}");

    // ...and last, as the TypeScript SDK does.
    let last = format!(
        r#"{{"method":"tools/call","params":{{"name":"search","arguments":{{"query":"{filler}"}}}},"jsonrpc":"2.0","id":"late"}}"#
    );
    stdio.send(&last).await;
    let error = stdio.next().await;
    assert_eq!(error["id"], "late", "{error}");
    assert_eq!(error["error"]["code"], -32600, "{error}");

    stdio
        .send(r#"{"jsonrpc":"2.0","id":8,"method":"ping"}"#)
        .await;
    let pong = stdio.next().await;
    assert_eq!(pong["id"], 8, "{pong}");
    assert!(pong["result"].is_object(), "{pong}");

    // Closing stdin ends the session cleanly.
    let Stdio {
        mut write,
        server,
        _shutdown,
        ..
    } = stdio;
    write.shutdown().await.expect("closes");
    let ended = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the session ends when stdin closes")
        .expect("no panic");
    assert!(ended.is_ok(), "{ended:?}");
}

#[tokio::test]
async fn over_stdio_a_reused_in_flight_id_is_refused_and_the_first_still_answers() {
    let mut stdio = Stdio::start().await;
    stdio.send(&slow_call(5)).await;
    stdio
        .send(r#"{"jsonrpc":"2.0","id":5,"method":"ping"}"#)
        .await;
    let error = stdio.next().await;
    assert_eq!(error["id"], 5, "{error}");
    assert_eq!(error["error"]["code"], -32600, "{error}");
    assert_eq!(
        error["error"]["message"], "request id 5 is already in flight",
        "{error}"
    );
    let answer = stdio.next().await;
    assert_eq!(answer["id"], 5, "{answer}");
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    assert!(answer.to_string().contains("waited"), "{answer}");
    // Answered, the id can be used again.
    stdio
        .send(r#"{"jsonrpc":"2.0","id":5,"method":"ping"}"#)
        .await;
    let pong = stdio.next().await;
    assert_eq!(pong["id"], 5, "{pong}");
    assert!(pong["result"].is_object(), "{pong}");
}
