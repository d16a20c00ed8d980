//! The HTTP transport's guards and lifecycle, checked with plain HTT/1.1 requests (the
//! protocol itself is exercised by the official TypeScript and Python clients and the
//! conformance suite in the `codemode` crate's tests).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use codemode_catalog::Catalog;
use codemode_demo::DemoSource;
use codemode_gateway::{BoundHttp, CancellationToken, Gateway, GatewayOptions, HttpOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;

struct Running {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), codemode_gateway::GatewayError>>,
}

async fn start(configure: impl FnOnce(&mut HttpOptions)) -> Running {
    let gateway = Gateway::new(
        Catalog::new(vec![Arc::new(DemoSource::new())]),
        GatewayOptions::default(),
    );
    let mut options = HttpOptions::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    configure(&mut options);
    let bound = BoundHttp::bind(&gateway, options).await.expect("binds");
    let addr = bound.local_addr();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(bound.serve(shutdown.clone()));
    Running {
        addr,
        shutdown,
        task,
    }
}

struct Reply {
    status: u16,
    head: String,
    body: String,
}

/// One request on its own connection; reads until the server closes it.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let mut text = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        text.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    if method == "POST" {
        text.push_str(
            "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n",
        );
        text.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    text.push_str("\r\n");
    text.push_str(body);
    stream.write_all(text.as_bytes()).await.expect("writes");
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
        .expect("a status line");
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    reply.head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[tokio::test]
async fn foreign_host_and_origin_are_refused_loopback_ones_accepted() {
    let server = start(|_| {}).await;
    let addr = server.addr;

    let evil = request(
        addr,
        "POST",
        "/mcp",
        &[("Host", "evil.example.com")],
        INITIALIZE,
    )
    .await;
    assert!((400..500).contains(&evil.status), "{}", evil.head);

    let evil_origin = request(
        addr,
        "POST",
        "/mcp",
        &[("Origin", "http://evil.example.com")],
        INITIALIZE,
    )
    .await;
    assert!(
        (400..500).contains(&evil_origin.status),
        "{}",
        evil_origin.head
    );

    let local_port = format!("localhost:{}", addr.port());
    let page = request(
        addr,
        "POST",
        "/mcp",
        &[("Host", &local_port), ("Origin", "http://localhost:5173")],
        INITIALIZE,
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.head);
    assert!(page.body.contains("\"protocolVersion\""), "{}", page.body);
    server.shutdown.cancel();
}

#[tokio::test]
async fn an_allowed_host_is_accepted() {
    let server = start(|options| options.allowed_hosts = vec!["gateway.internal".into()]).await;
    let reply = request(
        server.addr,
        "POST",
        "/mcp",
        &[("Host", "gateway.internal")],
        INITIALIZE,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.head);
    server.shutdown.cancel();
}

#[tokio::test]
async fn a_configured_token_guards_mcp_but_not_health() {
    let server = start(|options| options.token = Some("s3cret-token".into())).await;
    let addr = server.addr;

    let anonymous = request(addr, "POST", "/mcp", &[], INITIALIZE).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.head);
    assert_eq!(header(&anonymous, "www-authenticate"), Some("Bearer"));

    let wrong = request(
        addr,
        "POST",
        "/mcp",
        &[("Authorization", "Bearer s3cret")],
        INITIALIZE,
    )
    .await;
    assert_eq!(wrong.status, 401);

    let right = request(
        addr,
        "POST",
        "/mcp",
        &[("Authorization", "Bearer s3cret-token")],
        INITIALIZE,
    )
    .await;
    assert_eq!(right.status, 200, "{}", right.head);

    let health = request(addr, "GET", "/healthz", &[], "").await;
    assert_eq!(health.status, 200);
    let body: serde_json::Value = serde_json::from_str(health.body.trim()).expect("JSON");
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["namespaces"][0]["name"], "orders", "{body}");
    assert_eq!(body["namespaces"][0]["state"], "ready", "{body}");
    server.shutdown.cancel();
}

#[tokio::test]
async fn an_empty_token_is_refused_at_startup() {
    let gateway = Gateway::new(
        Catalog::new(vec![Arc::new(DemoSource::new())]),
        GatewayOptions::default(),
    );
    let mut options = HttpOptions::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    options.token = Some(String::new());
    assert!(BoundHttp::bind(&gateway, options).await.is_err());
}

#[tokio::test]
async fn shutdown_ends_open_streams_and_returns() {
    let server = start(|_| {}).await;
    let addr = server.addr;
    let initialized = request(addr, "POST", "/mcp", &[], INITIALIZE).await;
    let session = header(&initialized, "mcp-session-id")
        .expect("a session id")
        .to_string();
    let notification = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    let accepted = request(
        addr,
        "POST",
        "/mcp",
        &[
            ("Mcp-Session-Id", &session),
            ("MCP-Protocol-Version", "2025-11-25"),
        ],
        notification,
    )
    .await;
    assert_eq!(accepted.status, 202, "{}", accepted.head);

    // The standalone SSE stream stays open until the server ends it.
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let get = format!(
        "GET /mcp HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\nMcp-Session-Id: {session}\r\nMCP-Protocol-Version: 2025-11-25\r\n\r\n"
    );
    stream.write_all(get.as_bytes()).await.expect("writes");
    let mut first = [0u8; 64];
    let read = stream.read(&mut first).await.expect("reads");
    assert!(String::from_utf8_lossy(&first[..read]).starts_with("HTTP/1.1 200"));

    server.shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("serve returns soon after shutdown")
        .expect("no panic");
    assert!(stopped.is_ok(), "{stopped:?}");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the SSE stream is closed by the shutdown");
}
