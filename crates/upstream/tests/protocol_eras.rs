//! Both protocol eras: 2026-07-28 (`server/discover`, no session, `subscriptions/listen`) against
//! a real server on the official Python SDK, which serves both eras, also when it refuses the
//! legacy `initialize`; and what `"protocol": "auto"` does with today's 2025-11-25 servers.

mod common;

use std::time::{Duration, Instant};

use codemode_upstream::{
    CallError, Protocol, ServerConfig, ServerState, ServerStatus, TransportKind, Upstreams,
};
use common::*;
use serde_json::json;

const CALL: Duration = Duration::from_secs(20);
const V2026: &str = "2026-07-28";
const V2025: &str = "2025-11-25";
/// The fixture's tools (listed two per page).
const FIXTURE_TOOLS: usize = 7;

fn script() -> String {
    path_string(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/modern_server.py"),
    )
}

/// The Python fixture over Streamable HTTP (`--modern-only` refuses the legacy era).
async fn python_http(modern_only: bool) -> HttpPeer {
    let mut args = vec![script(), "http".to_owned()];
    if modern_only {
        args.push("--modern-only".to_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    HttpPeer::start(&venv_bin("python"), &args, &[]).await
}

/// The Python fixture over stdio.
fn python_stdio(name: &str, modern_only: bool) -> ServerConfig {
    let script = script();
    let mut args = vec![script.as_str(), "stdio"];
    if modern_only {
        args.push("--modern-only");
    }
    stdio(name, &venv_bin("python"), &args, &[])
}

fn with_protocol(mut server: ServerConfig, protocol: Protocol) -> ServerConfig {
    server.protocol = protocol;
    server
}

fn ready(upstreams: &Upstreams, name: &str) -> ServerStatus {
    let status = status(upstreams, name);
    assert_eq!(status.state, ServerState::Ready, "{status:?}");
    status
}

fn failure(upstreams: &Upstreams, name: &str) -> String {
    match status(upstreams, name).state {
        ServerState::Failed { reason } => reason,
        other => panic!("{name} should have failed, is {other:?}"),
    }
}

async fn text(upstreams: &Upstreams, server: &str, tool: &str, args: serde_json::Value) -> String {
    let out = upstreams
        .call(server, tool, args, CALL)
        .await
        .unwrap_or_else(|err| panic!("{server}.{tool}: {err}"));
    out.value()
        .as_str()
        .unwrap_or_else(|| panic!("{server}.{tool} returned {:?}", out.value()))
        .to_owned()
}

/// Adds a tool on `server` and waits until the gateway has re-listed its tools.
async fn add_tool_and_see_it_listed(upstreams: &Upstreams, server: &str, tool: &str) {
    let before = status(upstreams, server).tools;
    let mut changes = upstreams.changes();
    changes.mark_unchanged();
    text(upstreams, server, "add_tool", json!({ "name": tool })).await;
    let refreshed = async {
        while status(upstreams, server).tools != before + 1 {
            changes.changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(10), refreshed)
        .await
        .unwrap_or_else(|_| panic!("{server}: the tool list was not refreshed after list_changed"));
    assert_eq!(
        text(upstreams, server, tool, json!({})).await,
        format!("dynamic tool {tool} ran")
    );
}

/// A call cut off by its deadline is reported as a timeout and ends on the server too.
async fn deadline_cancels_on_the_server(upstreams: &Upstreams, server: &str) {
    let err = upstreams
        .call(
            server,
            "sleep",
            json!({"seconds": 30}),
            Duration::from_millis(800),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::Timeout { .. }), "{err}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // The tool answers JSON text, which reaches the agent parsed.
        let cancelled = upstreams
            .call(server, "cancellations", json!({}), CALL)
            .await
            .unwrap()
            .value();
        if cancelled == json!([30.0]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{server}: the server never saw the call cancelled ({cancelled:?})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Everything the gateway does with a server, on a 2026-07-28 connection: pagination, calls,
/// argument checks, "input required", list_changed through `subscriptions/listen`, deadlines.
async fn exercise_2026_connection(upstreams: &Upstreams, server: &str) {
    let status = ready(upstreams, server);
    assert_eq!(status.protocol.as_deref(), Some(V2026), "{status:?}");
    assert_eq!(status.tools, FIXTURE_TOOLS, "all pages listed: {status:?}");
    // The server itself says which protocol version the request came in.
    assert_eq!(
        text(upstreams, server, "protocol_version", json!({})).await,
        V2026
    );
    assert_eq!(
        text(upstreams, server, "echo", json!({"message": "stateless"})).await,
        "stateless"
    );
    let err = upstreams
        .call(server, "echo", json!({"message": 7}), CALL)
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::InvalidArguments { .. }), "{err}");

    let err = upstreams
        .call(server, "ask_user", json!({}), CALL)
        .await
        .unwrap_err();
    match &err {
        CallError::InputRequired { message, .. } => assert!(
            message.contains("a form for the user") && message.contains("Which colour?"),
            "{message}"
        ),
        other => panic!("expected InputRequired, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("needs input that codemode cannot provide"),
        "{err}"
    );

    // A server that only wants to be called again with its request state is, within bounds.
    assert_eq!(
        text(upstreams, server, "rounds", json!({"count": 3})).await,
        "answered after 3 extra round trips"
    );
    let err = upstreams
        .call(server, "rounds", json!({"count": 50}), CALL)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CallError::InputRequired { message, .. } if message.contains("another round trip")),
        "{err}"
    );

    add_tool_and_see_it_listed(upstreams, server, "late_arrival").await;
    // A second change comes through the same subscription.
    add_tool_and_see_it_listed(upstreams, server, "later_still").await;
    deadline_cancels_on_the_server(upstreams, server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_speaks_2026_to_a_dual_era_http_server() {
    init_tracing();
    let peer = python_http(false).await;
    let upstreams = Upstreams::start(&config(vec![http("py", &peer.url("/mcp"))])).await;
    assert_eq!(
        ready(&upstreams, "py").transport,
        TransportKind::StreamableHttp
    );
    exercise_2026_connection(&upstreams, "py").await;
    upstreams.shutdown().await;
}

/// A 2026-07-28 server that goes away and comes back: there is no session to lose, calls work
/// again, and tool-list changes are heard again once a new subscription stream is open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_2026_server_is_listened_to_again() {
    init_tracing();
    let peer = python_http(false).await;
    let port = peer.port;
    let upstreams = Upstreams::start(&config(vec![http("py", &peer.url("/mcp"))])).await;
    assert_eq!(ready(&upstreams, "py").protocol.as_deref(), Some(V2026));
    add_tool_and_see_it_listed(&upstreams, "py", "first").await;

    drop(peer); // kills it
    tokio::time::sleep(Duration::from_millis(300)).await;
    let script = script();
    let _peer = HttpPeer::start_on(port, &venv_bin("python"), &[&script, "http"], &[]).await;

    // The new process has lost the tool added to the old one: the re-listing after the new
    // subscription opens shows that.
    let relisted = async {
        while status(&upstreams, "py").tools != FIXTURE_TOOLS {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(15), relisted)
        .await
        .expect("the tools were not re-listed after the server came back");
    assert_eq!(
        text(&upstreams, "py", "echo", json!({"message": "back"})).await,
        "back"
    );
    add_tool_and_see_it_listed(&upstreams, "py", "second").await;
    upstreams.shutdown().await;
}

/// A server that refuses `initialize` (2026-07-28 only) works with `auto` and `2026-07-28`, and
/// an entry pinned to `2025-11-25` says why it cannot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_only_http_server() {
    init_tracing();
    let peer = python_http(true).await;
    let url = peer.url("/mcp");
    let upstreams = Upstreams::start(&config(vec![
        http("auto", &url),
        with_protocol(http("pinned", &url), Protocol::Discover),
        with_protocol(http("legacy", &url), Protocol::Initialize),
    ]))
    .await;
    exercise_2026_connection(&upstreams, "auto").await;
    let pinned = ready(&upstreams, "pinned");
    assert_eq!(pinned.protocol.as_deref(), Some(V2026));
    assert_eq!(
        text(&upstreams, "pinned", "protocol_version", json!({})).await,
        V2026
    );
    let reason = failure(&upstreams, "legacy");
    assert!(
        reason.contains("speaks only protocol version 2026-07-28"),
        "{reason}"
    );
    upstreams.shutdown().await;
}

/// The same dual-era server pinned to `2025-11-25` keeps today's behaviour: a session, and
/// list_changed as a notification on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_2025_entry_uses_initialize_on_a_dual_era_server() {
    init_tracing();
    let peer = python_http(false).await;
    let upstreams = Upstreams::start(&config(vec![with_protocol(
        http("py", &peer.url("/mcp")),
        Protocol::Initialize,
    )]))
    .await;
    let status = ready(&upstreams, "py");
    assert_eq!(status.protocol.as_deref(), Some(V2025));
    assert_eq!(status.tools, FIXTURE_TOOLS);
    assert_eq!(
        text(&upstreams, "py", "protocol_version", json!({})).await,
        V2025
    );
    add_tool_and_see_it_listed(&upstreams, "py", "late_arrival").await;
    deadline_cancels_on_the_server(&upstreams, "py").await;
    upstreams.shutdown().await;
}

/// Over stdio, `auto` starts with `initialize`; a server that refuses it is restarted and
/// spoken to in 2026-07-28. An entry pinned to `2026-07-28` uses `server/discover` straight
/// away, and one pinned to it on a server that does not speak it fails with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_servers_of_both_eras() {
    init_tracing();
    let upstreams = Upstreams::start(&config(vec![
        python_stdio("modern-only", true),
        with_protocol(python_stdio("pinned", false), Protocol::Discover),
        python_stdio("dual", false),
        with_protocol(everything_stdio("everything-2026"), Protocol::Discover),
    ]))
    .await;

    exercise_2026_connection(&upstreams, "modern-only").await;
    assert!(ready(&upstreams, "modern-only").pid.is_some());

    let pinned = ready(&upstreams, "pinned");
    assert_eq!(pinned.protocol.as_deref(), Some(V2026));
    assert_eq!(
        text(&upstreams, "pinned", "protocol_version", json!({})).await,
        V2026
    );

    // `auto` on stdio: a server that accepts initialize gets it.
    let dual = ready(&upstreams, "dual");
    assert_eq!(dual.protocol.as_deref(), Some(V2025));
    assert_eq!(
        text(&upstreams, "dual", "protocol_version", json!({})).await,
        V2025
    );
    add_tool_and_see_it_listed(&upstreams, "dual", "late_arrival").await;

    let reason = failure(&upstreams, "everything-2026");
    assert!(
        reason.contains("rejected server/discover") && reason.contains("Method not found"),
        "{reason}"
    );
    upstreams.shutdown().await;
}

/// Today's servers under the default `auto`: stdio ones are spoken to as before, in
/// 2025-11-25; an HTTP one answers the discover probe with an error and gets `initialize`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_with_todays_servers() {
    init_tracing();
    let everything = npm_package("@modelcontextprotocol/server-everything").join("dist/index.js");
    let peer = HttpPeer::start(&node(), &[&path_string(&everything), "streamableHttp"], &[]).await;
    let upstreams = Upstreams::start(&config(vec![
        everything_stdio("everything"),
        stdio(
            "time",
            &venv_bin("mcp-server-time"),
            &["--local-timezone", "UTC"],
            &[],
        ),
        http("everything-http", &peer.url("/mcp")),
    ]))
    .await;
    for (name, tools) in [("everything", 13), ("time", 2), ("everything-http", 13)] {
        let status = ready(&upstreams, name);
        assert_eq!(status.protocol.as_deref(), Some(V2025), "{status:?}");
        assert_eq!(status.tools, tools, "{status:?}");
    }
    let out = upstreams
        .call(
            "everything-http",
            "echo",
            json!({"message": "after the probe"}),
            CALL,
        )
        .await
        .unwrap();
    assert_eq!(out.value(), json!("Echo: after the probe"));
    upstreams.shutdown().await;
}

/// `auto` on stdio starts with `initialize`, which any server answers whenever it is ready. A
/// `server/discover` probe first would give up on a server still starting after 10 s (an `npx`
/// download) and send `initialize` behind it; the late answer to the probe then breaks the
/// handshake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_on_stdio_waits_for_a_slow_starting_server() {
    init_tracing();
    let everything = npm_package("@modelcontextprotocol/server-everything").join("dist/index.js");
    let command = format!(
        "sleep 11; exec '{}' '{}' stdio",
        node(),
        path_string(&everything)
    );
    let upstreams =
        Upstreams::start(&config(vec![stdio("slow", "sh", &["-c", &command], &[])])).await;
    let status = ready(&upstreams, "slow");
    assert_eq!(status.protocol.as_deref(), Some(V2025));
    assert_eq!(status.tools, 13);
    upstreams.shutdown().await;
}

/// The discover probe must not make an HTTP server of today slower to start: it is answered
/// with an error at once and `initialize` follows on the same transport.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_probe_costs_a_legacy_http_server_one_quick_round_trip() {
    init_tracing();
    let everything = npm_package("@modelcontextprotocol/server-everything").join("dist/index.js");
    let peer = HttpPeer::start(&node(), &[&path_string(&everything), "streamableHttp"], &[]).await;
    let url = peer.url("/mcp");
    const ROUNDS: usize = 7;
    let mut timings = Vec::new();
    for protocol in [Protocol::Initialize, Protocol::Auto] {
        let mut millis = Vec::new();
        for _ in 0..ROUNDS {
            let config = config(vec![with_protocol(http("e", &url), protocol)]);
            let started = Instant::now();
            let upstreams = Upstreams::start(&config).await;
            millis.push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(ready(&upstreams, "e").protocol.as_deref(), Some(V2025));
            upstreams.shutdown().await;
        }
        millis.sort_by(f64::total_cmp);
        timings.push((protocol, millis[ROUNDS / 2]));
    }
    eprintln!(
        "median startup (connect + handshake + tools/list) over {ROUNDS} rounds: {timings:?}"
    );
    let (initialize, auto) = (timings[0].1, timings[1].1);
    assert!(
        auto < initialize + 250.0,
        "the discover probe made startup slower: {timings:?}"
    );
}
