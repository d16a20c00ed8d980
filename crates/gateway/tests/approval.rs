//! Per-call policy and approvals, through the gateway's public interfaces: `Gateway::execute`
//! for the rules, and the official Rust SDK's client over an in-process pipe for asking, in
//! both eras (2025-11-25 `elicitation/create` mid-call; 2026-07-28 `input_required`, with the
//! journal replayed on the retry).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use codemode_catalog::policy::Policy;
use codemode_catalog::{Catalog, SearchQuery, SourceNamespace, ToolSource, ToolSpec};
use codemode_gateway::{Gateway, GatewayOptions};
use codemode_sandbox::ToolFuture;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
    ElicitRequestParams, ElicitResult, ElicitationAction, Implementation, InputResponses,
    ProtocolVersion,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RequestContext, RunningService};
use rmcp::{ClientHandler, ErrorData, RoleClient};
use serde_json::{json, Value};

/// A namespace `files` whose calls are counted: `read` is read-only, `remove` destructive,
/// `write` and `stamp` say nothing.
#[derive(Default, Clone)]
struct Files {
    calls: Arc<Mutex<Vec<String>>>,
}

impl Files {
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl ToolSource for Files {
    fn namespaces(&self) -> Vec<SourceNamespace> {
        let tool = |name: &str, annotations: Option<Value>| {
            let mut spec = ToolSpec::new(name, json!({"type": "object"}));
            spec.description = Some(format!("{name} a file"));
            spec.annotations = annotations;
            spec
        };
        vec![SourceNamespace::ready(
            "files",
            None,
            vec![
                tool("read", Some(json!({"readOnlyHint": true}))),
                tool("remove", Some(json!({"destructiveHint": true}))),
                tool("write", None),
                tool("stamp", None),
            ],
        )]
    }

    fn call(&self, _namespace: &str, tool: &str, args: Value) -> ToolFuture {
        let mut calls = self.calls.lock().unwrap();
        calls.push(tool.to_string());
        let n = calls.len();
        Box::pin(std::future::ready(Ok(
            json!({"tool": tool, "args": args, "n": n}),
        )))
    }
}

fn gateway_with(policy: Value) -> (Gateway, Files) {
    let files = Files::default();
    let catalog = Catalog::new(vec![Arc::new(files.clone())]);
    catalog.set_policy(Policy::from_config(&policy).expect("valid policy"));
    (Gateway::new(catalog, GatewayOptions::default()), files)
}

async fn value_of(gateway: &Gateway, code: &str) -> Value {
    let execution = gateway.execute(code).await;
    assert!(execution.is_ok(), "{:?}", execution.result);
    execution.value()
}

#[tokio::test]
async fn rules_decide_in_order_and_a_denied_call_throws_a_catchable_error() {
    let (gateway, files) = gateway_with(json!({
        "default": "allow",
        "rules": [
            { "tools": "files.rem*", "action": "deny" },
            { "tools": ["files.write"], "action": "allow", "maxCalls": 2 }
        ]
    }));
    let out = value_of(
        &gateway,
        r#"
        const out = {};
        try { await tools.files.remove({ path: "a" }); } catch (e) { out.remove = [e.kind, e.message]; }
        for (let i = 0; i < 3; i++) {
          try { await tools.files.write({ path: "a" }); out["w" + i] = "ok"; }
          catch (e) { out["w" + i] = [e.kind, e.message]; }
        }
        out.stamp = (await tools.files.stamp({})).tool;
        return out;
        "#,
    )
    .await;
    assert_eq!(out["remove"][0], "denied");
    assert_eq!(
        out["remove"][1],
        "tools.files.remove is denied by policy rule 1 (files.rem*)"
    );
    assert_eq!(out["w0"], "ok");
    assert_eq!(out["w1"], "ok");
    assert_eq!(out["w2"][0], "denied");
    let limit = out["w2"][1].as_str().unwrap();
    assert!(limit.contains("at most 2 call(s)"), "{limit}");
    assert!(limit.contains("policy rule 2 (files.write)"), "{limit}");
    assert_eq!(out["stamp"], "stamp");
    assert_eq!(
        files.calls(),
        ["write", "write", "stamp"],
        "denied calls never ran"
    );
}

#[tokio::test]
async fn annotations_decide_without_a_rule_and_nobody_to_ask_means_denied() {
    let (gateway, files) = gateway_with(json!({ "default": "deny" }));
    let out = value_of(
        &gateway,
        r#"
        const kind = async (f) => { try { await f(); return "ok"; } catch (e) { return e.kind + ": " + e.message; } };
        return {
          read: await kind(() => tools.files.read({})),
          remove: await kind(() => tools.files.remove({})),
          write: await kind(() => tools.files.write({})),
        };
        "#,
    )
    .await;
    assert_eq!(out["read"], "ok", "readOnlyHint allows");
    let remove = out["remove"].as_str().unwrap();
    assert!(remove.starts_with("denied: "), "{remove}");
    assert!(remove.contains("destructiveHint"), "{remove}");
    assert!(remove.contains("cannot be asked"), "{remove}");
    assert!(
        remove.contains(r#"{"tools": "files.remove", "action": "allow"}"#),
        "says how to allow it: {remove}"
    );
    let write = out["write"].as_str().unwrap();
    assert_eq!(
        write,
        "denied: tools.files.write is denied by the policy default"
    );
    assert_eq!(files.calls(), ["read"]);
}

#[tokio::test]
async fn read_only_mode_denies_tools_not_marked_read_only() {
    let (gateway, files) = gateway_with(json!({ "rules": [{ "tools": "*", "action": "allow" }] }));
    gateway.catalog().set_policy(
        Policy::from_config(&json!({ "rules": [{ "tools": "*", "action": "allow" }] }))
            .unwrap()
            .read_only(true),
    );
    let out = value_of(
        &gateway,
        r#"
        let write;
        try { await tools.files.write({}); } catch (e) { write = e.message; }
        return { read: (await tools.files.read({})).tool, write };
        "#,
    )
    .await;
    assert_eq!(out["read"], "read");
    assert!(
        out["write"].as_str().unwrap().contains("--read-only"),
        "{out}"
    );
    assert_eq!(files.calls(), ["read"]);
}

#[tokio::test]
async fn search_marks_tools_that_will_be_denied_or_will_ask() {
    let (gateway, _) = gateway_with(json!({
        "rules": [{ "tools": "files.write", "action": "deny" }]
    }));
    let catalog = gateway.catalog();
    let results = catalog.find(&SearchQuery {
        query: "file".into(),
        limit: 5,
        namespace: None,
        page: 1,
    });
    let policy_of = |name: &str| {
        results.namespaces[0]
            .tools
            .iter()
            .find(|hit| hit.ident == name)
            .map(|hit| hit.policy)
    };
    assert_eq!(policy_of("write"), Some(Some("deny")));
    assert_eq!(policy_of("remove"), Some(Some("ask")));
    assert_eq!(policy_of("read"), Some(None));
    let text = catalog.render_search(&results);
    assert!(
        text.contains("// policy: denied by policy rule 1 (files.write)"),
        "{text}"
    );
    assert!(
        text.contains("// policy: asks the user before each call (the tool's destructiveHint)"),
        "{text}"
    );
}

// ---- asking, through a real client --------------------------------------------------------

/// A client that declares elicitation and answers from a script, recording what it was
/// shown.
#[derive(Clone, Default)]
struct User {
    answers: Arc<Mutex<VecDeque<ElicitResult>>>,
    shown: Arc<Mutex<Vec<String>>>,
}

impl User {
    fn answering(answers: Vec<ElicitResult>) -> User {
        User {
            answers: Arc::new(Mutex::new(answers.into())),
            shown: Arc::default(),
        }
    }

    fn shown(&self) -> Vec<String> {
        self.shown.lock().unwrap().clone()
    }
}

impl ClientHandler for User {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_elicitation().build(),
            Implementation::new("approval-test", "1.0"),
        )
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        if let ElicitRequestParams::FormElicitationParams {
            message,
            requested_schema,
            ..
        } = &request
        {
            let schema = serde_json::to_string(requested_schema).unwrap_or_default();
            self.shown
                .lock()
                .unwrap()
                .push(format!("{message}\n{schema}"));
        }
        let answer = self.answers.lock().unwrap().pop_front();
        Ok(answer.unwrap_or_else(|| ElicitResult::new(ElicitationAction::Cancel)))
    }
}

fn accept(choice: &str) -> ElicitResult {
    ElicitResult::new(ElicitationAction::Accept).with_content(json!({ "decision": choice }))
}

async fn connect<H: ClientHandler>(
    gateway: &Gateway,
    handler: H,
    lifecycle: ClientLifecycleMode,
) -> RunningService<RoleClient, H> {
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    let session = gateway.new_session();
    tokio::spawn(async move {
        if let Ok(running) = rmcp::ServiceExt::serve(session, server_io).await {
            let _ = running.waiting().await;
        }
    });
    handler
        .serve_with_lifecycle(client_io, lifecycle)
        .await
        .expect("the client connects")
}

fn legacy() -> ClientLifecycleMode {
    ClientLifecycleMode::Initialize
}

fn modern() -> ClientLifecycleMode {
    ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    }
}

fn execute_params(code: &str) -> CallToolRequestParams {
    let Value::Object(arguments) = json!({ "code": code }) else {
        unreachable!()
    };
    CallToolRequestParams::new("execute").with_arguments(arguments)
}

async fn execute<H: ClientHandler>(client: &RunningService<RoleClient, H>, code: &str) -> Value {
    let result: CallToolResult = client
        .call_tool(execute_params(code))
        .await
        .expect("execute answers");
    result.structured_content.clone().unwrap_or(Value::Null)
}

/// Lists, then removes what it found, catching a refusal.
const LIST_THEN_DELETE: &str = r#"
    const found = await tools.files.read({ path: "/tmp" });
    try {
      const gone = await tools.files.remove({ path: "/tmp/" + found.n });
      return { found: found.n, removed: gone.tool };
    } catch (e) {
      return { found: found.n, refused: [e.kind, e.message] };
    }
"#;

fn ask_everything() -> Value {
    json!({ "rules": [{ "tools": "files.remove", "action": "ask" }] })
}

#[tokio::test]
async fn a_client_that_can_be_asked_decides_in_both_eras() {
    for era in ["legacy", "modern"] {
        let lifecycle = if era == "legacy" { legacy() } else { modern() };
        // Allow once.
        let (gateway, files) = gateway_with(ask_everything());
        let user = User::answering(vec![accept("allow_once")]);
        let client = connect(&gateway, user.clone(), lifecycle.clone()).await;
        let out = execute(&client, LIST_THEN_DELETE).await;
        assert_eq!(out["result"]["removed"], "remove", "{era}: {out}");
        let shown = user.shown();
        assert_eq!(shown.len(), 1, "{era}: asked once");
        assert!(shown[0].contains("tools.files.remove"), "{}", shown[0]);
        assert!(shown[0].contains("path: \"/tmp/1\""), "{}", shown[0]);
        assert!(
            shown[0].contains("policy rule 1 (files.remove)"),
            "{}",
            shown[0]
        );
        assert!(
            shown[0].contains("tools.files.read ok"),
            "the execution so far: {}",
            shown[0]
        );
        // The first call ran once, even where the snippet ran twice (2026-07-28 replays it).
        assert_eq!(files.calls(), ["read", "remove"], "{era}");
        client.cancel().await.expect("closes");
    }
}

#[tokio::test]
async fn decline_and_cancel_throw_in_the_snippet_in_both_eras() {
    for lifecycle in [legacy(), modern()] {
        for (answer, word) in [
            (
                ElicitResult::new(ElicitationAction::Decline),
                "declined by the user",
            ),
            (ElicitResult::new(ElicitationAction::Cancel), "cancelled"),
            (accept("deny"), "denied by the user"),
        ] {
            let (gateway, files) = gateway_with(ask_everything());
            let client = connect(&gateway, User::answering(vec![answer]), lifecycle.clone()).await;
            let out = execute(&client, LIST_THEN_DELETE).await;
            assert_eq!(out["result"]["refused"][0], "denied", "{lifecycle:?} {out}");
            let message = out["result"]["refused"][1].as_str().unwrap_or_default();
            assert!(message.contains(word), "{lifecycle:?}: {message}");
            assert_eq!(files.calls(), ["read"], "{lifecycle:?}: nothing removed");
            client.cancel().await.expect("closes");
        }
    }
}

#[tokio::test]
async fn allowing_for_the_session_stops_the_questions_in_2025() {
    let (gateway, files) = gateway_with(ask_everything());
    let user = User::answering(vec![accept("allow_session")]);
    let client = connect(&gateway, user.clone(), legacy()).await;
    let code = r#"
        await tools.files.remove({ path: "a" });
        await tools.files.remove({ path: "b" });
        return "done";
    "#;
    assert_eq!(execute(&client, code).await["result"], "done");
    assert_eq!(execute(&client, code).await["result"], "done");
    assert_eq!(user.shown().len(), 1, "asked once for the session");
    assert!(user.shown()[0].contains("allow_session"));
    assert_eq!(files.calls().len(), 4);
    client.cancel().await.expect("closes");
}

#[tokio::test]
async fn a_client_without_elicitation_is_told_how_to_allow_the_tool() {
    for lifecycle in [legacy(), modern()] {
        let (gateway, files) = gateway_with(ask_everything());
        let client = connect(&gateway, (), lifecycle.clone()).await;
        let out = execute(&client, LIST_THEN_DELETE).await;
        let message = out["result"]["refused"][1].as_str().unwrap_or_default();
        assert!(message.contains("cannot be asked"), "{lifecycle:?}: {out}");
        assert_eq!(files.calls(), ["read"]);
        client.cancel().await.expect("closes");
    }
}

// ---- 2026-07-28: the input_required round trip, by hand -----------------------------------

async fn first_round<H: ClientHandler>(
    client: &RunningService<RoleClient, H>,
    code: &str,
) -> (String, Vec<String>) {
    match client
        .call_tool_once(execute_params(code))
        .await
        .expect("answers")
    {
        CallToolResponse::InputRequired(required) => {
            let keys = required
                .input_requests
                .unwrap_or_default()
                .into_keys()
                .collect();
            (required.request_state.expect("a state"), keys)
        }
        other => panic!("expected input_required, got {other:?}"),
    }
}

fn answers(keys: &[String], answer: Value) -> InputResponses {
    keys.iter().map(|k| (k.clone(), answer.clone())).collect()
}

async fn retry<H: ClientHandler>(
    client: &RunningService<RoleClient, H>,
    code: &str,
    state: &str,
    responses: InputResponses,
) -> CallToolResult {
    let params = execute_params(code)
        .with_request_state(state)
        .with_input_responses(responses);
    match client.call_tool_once(params).await.expect("answers") {
        CallToolResponse::Complete(result) => result,
        other => panic!("expected a result, got {other:?}"),
    }
}

fn allow_once() -> Value {
    json!({ "action": "accept", "content": { "decision": "allow_once" } })
}

#[tokio::test]
async fn an_approval_is_used_once_and_bound_to_its_code() {
    let (gateway, files) = gateway_with(ask_everything());
    let client = connect(&gateway, User::default(), modern()).await;
    let (state, keys) = first_round(&client, LIST_THEN_DELETE).await;
    assert_eq!(keys, ["approve-1"]);
    assert_eq!(files.calls(), ["read"]);

    let other_code = LIST_THEN_DELETE.replace("/tmp/", "/etc/");
    let wrong = retry(&client, &other_code, &state, answers(&keys, allow_once())).await;
    assert_eq!(wrong.is_error, Some(true));
    assert!(format!("{wrong:?}").contains("belongs to another caller or another call"));

    let done = retry(
        &client,
        LIST_THEN_DELETE,
        &state,
        answers(&keys, allow_once()),
    )
    .await;
    let value = done.structured_content.clone().unwrap_or_default();
    assert_eq!(value["result"]["removed"], "remove", "{value}");
    assert_eq!(
        files.calls(),
        ["read", "remove"],
        "the read was replayed, not repeated"
    );

    let again = retry(
        &client,
        LIST_THEN_DELETE,
        &state,
        answers(&keys, allow_once()),
    )
    .await;
    assert_eq!(again.is_error, Some(true));
    assert!(format!("{again:?}").contains("already used"), "{again:?}");
    assert_eq!(files.calls(), ["read", "remove"]);

    let mut forged = state.clone();
    forged.pop();
    forged.push(if state.ends_with('A') { 'B' } else { 'A' });
    let forged = retry(
        &client,
        LIST_THEN_DELETE,
        &forged,
        answers(&keys, allow_once()),
    )
    .await;
    assert_eq!(forged.is_error, Some(true));
    client.cancel().await.expect("closes");
}

#[tokio::test]
async fn concurrent_calls_replay_and_several_asks_come_in_one_round() {
    let (gateway, files) = gateway_with(ask_everything());
    let client = connect(&gateway, User::default(), modern()).await;
    let code = r#"
        const [a, b] = await Promise.all([tools.files.read({ p: 1 }), tools.files.read({ p: 2 })]);
        const gone = await Promise.all([
          tools.files.remove({ p: a.args.p }),
          tools.files.remove({ p: b.args.p }),
        ]);
        return gone.map((g) => g.args.p);
    "#;
    let (state, keys) = first_round(&client, code).await;
    assert_eq!(keys, ["approve-1", "approve-2"]);
    let done = retry(&client, code, &state, answers(&keys, allow_once())).await;
    let value = done.structured_content.clone().unwrap_or_default();
    assert_eq!(value["result"], json!([1, 2]), "{value}");
    assert_eq!(files.calls(), ["read", "read", "remove", "remove"]);
    client.cancel().await.expect("closes");
}

#[tokio::test]
async fn a_snippet_that_calls_differently_on_replay_fails_clearly() {
    let (gateway, files) = gateway_with(ask_everything());
    let client = connect(&gateway, User::default(), modern()).await;
    let code = r#"
        await tools.files.stamp({ at: Math.random() });
        await tools.files.remove({ path: "x" });
        return "done";
    "#;
    let (state, keys) = first_round(&client, code).await;
    let done = retry(&client, code, &state, answers(&keys, allow_once())).await;
    assert_eq!(done.is_error, Some(true), "{done:?}");
    let text = format!("{done:?}");
    assert!(text.contains("resuming after an approval"), "{text}");
    assert!(text.contains("Math.random"), "{text}");
    assert_eq!(
        files.calls(),
        ["stamp"],
        "nothing ran on the diverged replay"
    );
    client.cancel().await.expect("closes");
}
