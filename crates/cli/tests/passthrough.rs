//! Passthrough entries through `codemode serve`, with real servers nobody here wrote: the
//! npm `server-everything` and `server-memory` over stdio, and the conformance suite's
//! reference server over Streamable HTTP. A hybrid config serves a few tools directly and the
//! rest behind `execute`; what is passed through is what the server gave; names that collide
//! take their server's prefix; `codeMode: false` keeps a server out of `execute`; a direct call
//! goes through the same policy and audit trail as a call from `execute`; and the server's
//! requests, progress and logs reach the client during the call. (The whole conformance suite
//! through passthrough is in `conformance.rs`.)

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    codemode, dep, path_str, run_client, Client, HttpGateway, ReferenceServer, StdioSession,
};
use serde_json::{json, Value};

const LONG: Duration = Duration::from_secs(60);

fn everything() -> Value {
    json!({ "command": path_str(&dep("node/node_modules/.bin/mcp-server-everything")) })
}

fn memory(dir: &Path) -> Value {
    json!({
        "command": path_str(&dep("node/node_modules/.bin/mcp-server-memory")),
        "env": { "MEMORY_FILE_PATH": path_str(&dir.join("memory.jsonl")) }
    })
}

fn write_config(dir: &Path, config: &Value) -> String {
    let path = dir.join("codemode.json");
    std::fs::write(&path, config.to_string()).expect("the config is written");
    path_str(&path)
}

/// The reference server as the one entry, everything passed through.
fn reference_config(dir: &Path, reference: &ReferenceServer) -> String {
    write_config(
        dir,
        &json!({ "mcpServers": {
            "ref": { "type": "http", "url": reference.url, "passthrough": true }
        } }),
    )
}

fn tool_names(listing: &Value) -> Vec<String> {
    listing["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn tool<'a>(listing: &'a Value, name: &str) -> &'a Value {
    listing["tools"]
        .as_array()
        .and_then(|tools| tools.iter().find(|t| t["name"] == name))
        .unwrap_or_else(|| panic!("no tool {name} in {listing}"))
}

/// A server spoken to directly, without the gateway: what "unchanged" is measured against.
struct DirectPeer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl DirectPeer {
    fn start(entry: &Value) -> DirectPeer {
        let mut child = Command::new(entry["command"].as_str().expect("a command"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut peer = DirectPeer {
            child,
            stdin,
            stdout,
            next_id: 1,
        };
        peer.request(
            "initialize",
            json!({
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "codemode-test", "version": "1"}
            }),
        );
        peer.write(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        peer
    }

    fn write(&mut self, message: &Value) {
        writeln!(self.stdin, "{message}")
            .and_then(|()| self.stdin.flush())
            .expect("the server reads stdin");
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.write(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let deadline = Instant::now() + LONG;
        let mut line = String::new();
        while Instant::now() < deadline {
            line.clear();
            if self.stdout.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if message["id"] == json!(id) && message.get("method").is_none() {
                return message["result"].clone();
            }
        }
        panic!("the server did not answer {method}");
    }
}

impl Drop for DirectPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_hybrid_config_serves_chosen_tools_directly_and_the_rest_behind_execute() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut entry = everything();
    entry["passthrough"] = json!(["echo", "get-tiny-*"]);
    let config = write_config(
        dir.path(),
        &json!({ "mcpServers": { "everything": entry, "memory": memory(dir.path()) } }),
    );
    let mut gateway = StdioSession::start(&["--config", &config], &[]);
    gateway.initialize();
    let listing = gateway.request("tools/list", json!({}), LONG);
    assert_eq!(
        tool_names(&listing),
        ["search", "execute", "echo", "get-tiny-image"],
        "{listing}"
    );

    // As the server gives them: the definition and the whole result.
    let mut server = DirectPeer::start(&everything());
    let own = server.request("tools/list", json!({}));
    for name in ["echo", "get-tiny-image"] {
        let mut expected = tool(&own, name).clone();
        // The one field the gateway cannot carry: 2025-11-25's experimental task support,
        // which rmcp does not model. Absent means "forbidden", so only that value may go.
        if let Some(execution) = expected.as_object_mut().and_then(|t| t.remove("execution")) {
            assert_eq!(execution, json!({"taskSupport": "forbidden"}), "{name}");
        }
        assert_eq!(tool(&listing, name), &expected, "{name} changed");
    }
    for (name, arguments) in [
        ("echo", json!({"message": "unchanged"})),
        ("get-tiny-image", json!({})),
    ] {
        let params = json!({"name": name, "arguments": arguments});
        let through = gateway.request("tools/call", params.clone(), LONG);
        let direct = server.request("tools/call", params);
        assert_eq!(through, direct, "{name}: the result changed on the way");
    }
    let image = gateway.request("tools/call", json!({"name": "get-tiny-image"}), LONG);
    assert!(
        image["content"]
            .as_array()
            .is_some_and(|blocks| blocks.iter().any(|b| b["type"] == "image")),
        "{image}"
    );

    // Still callable from execute, with the tools that are not passed through.
    let (failed, text) = gateway.execute(
        r#"
        const echoed = await tools.everything.echo({ message: "from code" });
        const sum = await tools.everything.get_sum({ a: 2, b: 3 });
        await tools.memory.create_entities({ entities: [
          { name: "Ada", entityType: "person", observations: ["writes code"] } ] });
        const graph = await tools.memory.read_graph();
        return { echoed, sum, people: graph.entities.map((e) => e.name) };
        "#,
        LONG,
    );
    assert!(!failed, "{text}");
    assert!(text.contains("from code") && text.contains("Ada"), "{text}");

    // A tool that is not chosen is not on the direct surface.
    let id = gateway.send(
        "tools/call",
        json!({"name": "get-sum", "arguments": {"a": 1, "b": 2}}),
    );
    let answer = answer_to(&mut gateway, id);
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unknown tool")),
        "{answer}"
    );
}

#[test]
fn colliding_names_take_their_server_prefix_and_code_mode_false_stays_out_of_execute() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut a = everything();
    a["passthrough"] = json!(["echo", "get-sum"]);
    let mut b = everything();
    b["passthrough"] = json!(["echo"]);
    b["codeMode"] = json!(false);
    let config = write_config(dir.path(), &json!({ "mcpServers": { "a": a, "b": b } }));
    let mut gateway = StdioSession::start(&["--config", &config], &[]);
    gateway.initialize();
    let listing = gateway.request("tools/list", json!({}), LONG);
    assert_eq!(
        tool_names(&listing),
        ["search", "execute", "a__echo", "get-sum", "b__echo"],
        "{listing}"
    );
    let echoed = gateway.request(
        "tools/call",
        json!({"name": "b__echo", "arguments": {"message": "to b"}}),
        LONG,
    );
    assert_eq!(echoed["content"][0]["text"], "Echo: to b", "{echoed}");

    let (failed, text) = gateway.execute(
        r#"
        const fromA = await tools.a.echo({ message: "a" });
        let b;
        try { await tools.b.echo({ message: "b" }); b = "callable"; } catch (e) { b = "absent"; }
        return { fromA, b };
        "#,
        LONG,
    );
    assert!(!failed, "{text}");
    assert!(text.contains(r#""b":"absent""#), "{text}");
    let found = gateway.search("echo a message");
    assert!(found.contains("tools.a.echo("), "{found}");
    assert!(!found.contains("tools.b."), "{found}");

    // The operator sees the same in `codemode doctor`.
    let doctor = Command::new(codemode())
        .args(["doctor", "--config", &config])
        .output()
        .expect("codemode doctor runs");
    let text = String::from_utf8_lossy(&doctor.stdout);
    let line = |name: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no line for {name}: {text}"))
            .to_string()
    };
    assert!(line("a").ends_with("; passed through: 2 tools"), "{text}");
    assert!(
        line("b").ends_with("; passed through: 1 tool, not in execute"),
        "{text}"
    );
}

#[test]
fn tools_a_server_offers_only_a_client_it_can_ask_are_listed_to_such_a_client() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut entry = everything();
    entry["passthrough"] = json!(true);
    let config = write_config(
        dir.path(),
        &json!({ "mcpServers": { "everything": entry } }),
    );
    let mut plain = StdioSession::start(&["--config", &config], &[]);
    plain.initialize();
    let listing = plain.request("tools/list", json!({}), LONG);
    assert!(
        !tool_names(&listing).contains(&"trigger-sampling-request".to_string()),
        "a client that cannot sample was offered it: {listing}"
    );
    assert!(
        tool_names(&listing).contains(&"echo".to_string()),
        "{listing}"
    );

    let mut sampler = StdioSession::start(&["--config", &config], &[]);
    sampler.initialize_with(json!({ "sampling": {} }));
    let listing = sampler.request("tools/list", json!({}), LONG);
    assert!(
        tool_names(&listing).contains(&"trigger-sampling-request".to_string()),
        "{listing}"
    );
    let id = sampler.send(
        "tools/call",
        json!({"name": "trigger-sampling-request", "arguments": {"prompt": "Say hi"}}),
    );
    let (asked, answer) = answer_requests(&mut sampler, id, "sampling/createMessage", || {
        sampled("hello from the client")
    });
    assert!(asked["messages"].to_string().contains("Say hi"), "{asked}");
    assert!(
        answer["result"]
            .to_string()
            .contains("hello from the client"),
        "{answer}"
    );
}

#[test]
fn a_direct_call_passes_the_policy_and_is_audited() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut entry = everything();
    entry["passthrough"] = json!(true);
    let config = write_config(
        dir.path(),
        &json!({
            "mcpServers": { "everything": entry },
            "policy": { "rules": [ { "tools": "everything.get_sum", "action": "deny" } ] }
        }),
    );
    let audit = dir.path().join("audit.jsonl");
    let mut gateway =
        StdioSession::start(&["--config", &config, "--audit", &path_str(&audit)], &[]);
    gateway.initialize();
    let denied = gateway.request(
        "tools/call",
        json!({"name": "get-sum", "arguments": {"a": 1, "b": 2}}),
        LONG,
    );
    assert_eq!(denied["isError"], true, "{denied}");
    let message = denied["content"][0]["text"].as_str().unwrap_or_default();
    assert!(message.contains("policy rule 1"), "{denied}");
    let echoed = gateway.request(
        "tools/call",
        json!({"name": "echo", "arguments": {"message": "allowed"}}),
        LONG,
    );
    assert_eq!(echoed["content"][0]["text"], "Echo: allowed", "{echoed}");

    // A call the client cancels ends at once on the gateway's side (and is cancelled on
    // the server); the session goes on.
    let id = gateway.send(
        "tools/call",
        json!({"name": "trigger-long-running-operation",
               "arguments": {"duration": 30, "steps": 30}}),
    );
    std::thread::sleep(Duration::from_millis(500));
    gateway.notify(
        "notifications/cancelled",
        json!({"requestId": id, "reason": "changed my mind"}),
    );
    let started = Instant::now();
    let echoed = gateway.request(
        "tools/call",
        json!({"name": "echo", "arguments": {"message": "after"}}),
        LONG,
    );
    assert_eq!(echoed["content"][0]["text"], "Echo: after", "{echoed}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    let deadline = Instant::now() + LONG;
    let calls = loop {
        let calls: Vec<Value> = std::fs::read_to_string(&audit)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|record| record["type"] == "call")
            .collect();
        if calls.len() >= 4 || Instant::now() > deadline {
            break calls;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let record = |tool: &str| {
        calls
            .iter()
            .find(|c| c["tool"] == tool)
            .unwrap_or_else(|| panic!("no call record for {tool}: {calls:?}"))
    };
    let sum = record("everything.get_sum");
    assert_eq!(sum["outcome"], "denied", "{sum}");
    assert_eq!(
        sum["decision"]["reason"],
        "policy rule 1 (everything.get_sum)"
    );
    let echo = record("everything.echo");
    assert_eq!(echo["outcome"], "ok", "{echo}");
    let cancelled = record("everything.trigger_long_running_operation");
    assert_eq!(cancelled["outcome"], "abandoned", "{cancelled}");
    assert!(
        echo["execution"]
            .as_str()
            .is_some_and(|id| id.starts_with("direct-")),
        "{echo}"
    );
}

#[test]
fn the_servers_requests_progress_and_logs_reach_the_client_during_a_call() {
    let reference = ReferenceServer::start();
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = reference_config(dir.path(), &reference);
    let mut gateway = StdioSession::start(&["--config", &config], &[]);
    gateway.initialize_with(json!({ "sampling": {}, "elicitation": {} }));

    // Elicitation: the server asks this client mid-call, and gets this client's answer.
    let id = gateway.send(
        "tools/call",
        json!({"name": "test_elicitation", "arguments": {"message": "Your name?"}}),
    );
    let (asked, answer) = answer_requests(
        &mut gateway,
        id,
        "elicitation/create",
        || json!({"action": "accept", "content": {"response": "Ada"}}),
    );
    assert_eq!(asked["message"], "Your name?", "{asked}");
    assert_eq!(
        answer["result"]["content"][0]["text"],
        r#"User response: action=accept, content={"response":"Ada"}"#,
        "{answer}"
    );

    // Sampling reaches the client the same way. (The reference server checks the answer
    // against the request's own schema, so it reports any answer as an error: only the
    // request's arrival is checked.)
    let id = gateway.send(
        "tools/call",
        json!({"name": "test_sampling", "arguments": {"prompt": "Say hi"}}),
    );
    let (asked, answer) =
        answer_requests(&mut gateway, id, "sampling/createMessage", || sampled("hi"));
    assert!(asked["messages"].to_string().contains("Say hi"), "{asked}");
    assert!(answer.get("result").is_some(), "{answer}");

    // Progress under this client's own token, and logs, before the result.
    let id = gateway.send(
        "tools/call",
        json!({"name": "test_tool_with_progress", "arguments": {},
               "_meta": {"progressToken": "mine-7"}}),
    );
    let (before, _) = collect_until_answer(&mut gateway, id);
    let progress: Vec<&Value> = before
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert!(
        !progress.is_empty(),
        "no progress reached the client: {before:?}"
    );
    assert!(
        progress
            .iter()
            .all(|p| p["params"]["progressToken"] == "mine-7"),
        "{progress:?}"
    );
    let id = gateway.send(
        "tools/call",
        json!({"name": "test_tool_with_logging", "arguments": {}}),
    );
    let (before, answer) = collect_until_answer(&mut gateway, id);
    assert!(answer.get("result").is_some(), "{answer}");
    assert!(
        before
            .iter()
            .any(|m| m["method"] == "notifications/message"),
        "no log reached the client: {before:?}"
    );
}

#[test]
fn a_stateless_2026_client_gets_results_in_its_own_shape_and_is_never_declared_a_capability() {
    let reference = ReferenceServer::start();
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = reference_config(dir.path(), &reference);
    let gateway = HttpGateway::start(&["--config", &config], &[]);
    let spec = json!({
        "server": { "url": gateway.url },
        "mode": "auto",
        "query": "simple text",
        "snippet": "return await tools.ref.test_simple_text({});",
        "directCalls": [
            { "name": "test_simple_text" },
            { "name": "test_image_content" },
            { "name": "test_sampling", "arguments": { "prompt": "Say hi" } }
        ]
    });
    let report = run_client(Client::Python, &spec);
    assert_eq!(report["protocolVersion"], "2026-07-28", "{report}");
    let tools = report["tools"].as_array().cloned().unwrap_or_default();
    assert!(tools.contains(&json!("test_simple_text")), "{report}");
    assert!(tools.contains(&json!("search")) && tools.contains(&json!("execute")));
    let direct = &report["direct"];
    assert_eq!(
        direct[0]["content"][0]["text"], "This is a simple text response for testing.",
        "{report}"
    );
    assert_eq!(direct[1]["content"][0]["type"], "image", "{report}");
    // This client declared no sampling: the server was not told it could ask, and answers
    // as it does to any client that cannot be asked; the gateway goes on serving.
    let sampling = direct[2]["content"][0]["text"].as_str().unwrap_or_default();
    assert!(sampling.starts_with("Sampling not supported"), "{report}");
    assert_eq!(
        report["execute"]["structuredContent"]["result"],
        "This is a simple text response for testing.",
        "{report}"
    );
}

/// A client's answer to `sampling/createMessage`.
fn sampled(text: &str) -> Value {
    json!({
        "role": "assistant",
        "content": {"type": "text", "text": text},
        "model": "test-model",
        "stopReason": "endTurn"
    })
}

/// Answers every `method` request the gateway makes of this client with `answer()` until
/// request `id` is answered; returns the last request's params and the answer.
fn answer_requests(
    gateway: &mut StdioSession,
    id: u64,
    method: &str,
    answer: impl Fn() -> Value,
) -> (Value, Value) {
    let mut asked = None;
    loop {
        let message = gateway
            .next_message(LONG)
            .unwrap_or_else(|| panic!("no answer to {id}; stderr:\n{}", gateway.stderr()));
        if message["method"] == method && message.get("id").is_some() {
            asked = Some(message["params"].clone());
            gateway.respond(&message["id"], answer());
        } else if message["id"] == json!(id) && message.get("method").is_none() {
            let asked = asked.unwrap_or_else(|| panic!("no {method} reached the client"));
            return (asked, message);
        }
    }
}

/// The answer to request `id`, skipping everything else.
fn answer_to(gateway: &mut StdioSession, id: u64) -> Value {
    collect_until_answer(gateway, id).1
}

/// The messages before the answer to `id`, and the answer.
fn collect_until_answer(gateway: &mut StdioSession, id: u64) -> (Vec<Value>, Value) {
    let mut before = Vec::new();
    loop {
        let message = gateway
            .next_message(LONG)
            .unwrap_or_else(|| panic!("no answer to {id}; stderr:\n{}", gateway.stderr()));
        if message["id"] == json!(id) && message.get("method").is_none() {
            return (before, message);
        }
        before.push(message);
    }
}
