//! HTTP upstreams: Streamable HTTP and legacy HTTP+SSE against server-everything's own HTTP
//! modes, configured headers, and an expired session that is re-initialized transparently.

mod common;

use std::time::Duration;

use codemode_upstream::{
    HttpServer, Options, OutputKind, OutputLimits, ServerConfig, ServerState, Transport,
    TransportKind, Upstreams,
};
use common::*;
use serde_json::json;

const CALL: Duration = Duration::from_secs(20);

fn everything_entry() -> String {
    path_string(&npm_package("@modelcontextprotocol/server-everything").join("dist/index.js"))
}

fn sse(name: &str, url: &str) -> ServerConfig {
    ServerConfig::new(
        name,
        Transport::Sse(HttpServer {
            url: url.to_owned(),
            headers: Default::default(),
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_over_streamable_http() {
    init_tracing();
    let peer = HttpPeer::start(&node(), &[&everything_entry(), "streamableHttp"], &[]).await;
    // A small inline cap, to see the size guard on a real image.
    let options = Options {
        output: OutputLimits {
            max_inline_bytes: 512,
        },
        ..Options::default()
    };
    let upstreams = Upstreams::start_with(
        &config(vec![http("everything", &peer.url("/mcp"))]),
        options,
    )
    .await;
    // Under load the first connection has been refused once, though the port answered a
    // probe; a server that did not come up is retried, so wait for that rather than fail.
    let status = wait_for_state(&upstreams, "everything", Duration::from_secs(20), is_ready).await;
    assert_eq!(status.state, ServerState::Ready, "{status:?}");
    assert_eq!(status.transport, TransportKind::StreamableHttp);
    assert_eq!(status.tools, 13);
    assert_eq!(status.pid, None);

    let out = upstreams
        .call("everything", "echo", json!({"message": "over http"}), CALL)
        .await
        .unwrap();
    assert_eq!(out.value(), json!("Echo: over http"));
    let out = upstreams
        .call("everything", "get-tiny-image", json!({}), CALL)
        .await
        .unwrap();
    assert_eq!(out.kind, OutputKind::Content);
    let image = &out.value()[1];
    assert_eq!(image["type"], "image");
    assert_eq!(image["mimeType"], "image/png");
    assert!(
        image.get("data").is_none(),
        "image data over the cap must not be inlined"
    );
    assert!(image["bytes"].as_u64().unwrap() > 512, "{image}");
    assert!(
        image["omitted"]
            .as_str()
            .unwrap()
            .contains("512-byte limit"),
        "{image}"
    );
    upstreams.shutdown().await;
}

/// A server that only speaks the 2024-11-05 HTTP+SSE transport: reached through the fallback
/// from a plain `url` entry, and directly with `"type": "sse"`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_sse_server_by_fallback_and_by_type() {
    init_tracing();
    let peer = HttpPeer::start(&node(), &[&everything_entry(), "sse"], &[]).await;
    let upstreams = Upstreams::start(&config(vec![
        http("guessed", &peer.url("/sse")),
        sse("declared", &peer.url("/sse")),
    ]))
    .await;
    for name in ["guessed", "declared"] {
        let status = status(&upstreams, name);
        assert_eq!(status.state, ServerState::Ready, "{status:?}");
        assert_eq!(status.transport, TransportKind::Sse, "{name}");
        assert_eq!(status.tools, 13, "{name}");
        let out = upstreams
            .call(name, "echo", json!({"message": name}), CALL)
            .await
            .unwrap();
        assert_eq!(out.value(), json!(format!("Echo: {name}")));
        let out = upstreams
            .call(
                name,
                "get-structured-content",
                json!({"location": "New York"}),
                CALL,
            )
            .await
            .unwrap();
        assert_eq!(out.value()["temperature"], 33);
    }
    upstreams.shutdown().await;
}

/// A `"type": "sse"` entry pointing at something that is not an SSE endpoint says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_entry_without_an_event_stream_is_reported() {
    init_tracing();
    let peer = HttpPeer::start(&node(), &[&everything_entry(), "sse"], &[]).await;
    let upstreams = Upstreams::start(&config(vec![sse("wrong", &peer.url("/nothing-here"))])).await;
    match status(&upstreams, "wrong").state {
        ServerState::Failed { reason } => {
            assert!(reason.contains("legacy HTTP+SSE: HTTP 404"), "{reason}")
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    upstreams.shutdown().await;
}

/// Configured headers are sent; when the server forgets our session (404 on its id) the
/// transport initializes a new one and the call still succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_are_sent_and_an_expired_session_is_renewed() {
    init_tracing();
    let sdk = path_string(&npm_package("@modelcontextprotocol/sdk"));
    let peer = HttpPeer::start(
        &node(),
        &[&fixture_script(), "http"],
        &[("MCP_SDK_DIR", &sdk)],
    )
    .await;
    let mut server = http("fx", &peer.url("/mcp"));
    if let Transport::StreamableHttp(spec) = &mut server.transport {
        spec.headers.insert("X-Api-Key".into(), "k-123".into());
    }
    let upstreams = Upstreams::start(&config(vec![server])).await;
    assert_eq!(status(&upstreams, "fx").state, ServerState::Ready);
    // The fixture paginates tools/list two at a time: all nine arrive.
    assert_eq!(status(&upstreams, "fx").tools, 9);

    let out = upstreams
        .call("fx", "request_header", json!({"name": "x-api-key"}), CALL)
        .await
        .unwrap();
    assert_eq!(out.value(), json!("k-123"));
    let out = upstreams
        .call("fx", "whoami", json!({}), CALL)
        .await
        .unwrap();
    assert_eq!(out.value()["sessionsCreated"], 1);

    let expired = reqwest::Client::new()
        .post(peer.url("/admin/expire-sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status().as_u16(), 204);

    let out = upstreams
        .call("fx", "echo", json!({"message": "still here"}), CALL)
        .await
        .unwrap();
    assert_eq!(out.value(), json!("still here"));
    let out = upstreams
        .call("fx", "whoami", json!({}), CALL)
        .await
        .unwrap();
    assert_eq!(
        out.value()["sessionsCreated"],
        2,
        "a new session should have been initialized"
    );
    assert_eq!(status(&upstreams, "fx").state, ServerState::Ready);
    upstreams.shutdown().await;
}
