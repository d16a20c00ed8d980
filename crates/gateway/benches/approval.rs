//! What one 2026-07-28 approval costs: the sealed `requestState` a client carries, and the
//! time of the round trip (the first run that stops to ask, and the retry that replays the
//! journal) beside the same snippet with the tool allowed. Each row makes `CALLS` calls
//! whose answers total the journal size shown, then one call that needs approval.
//!
//! `cargo bench -p codemode-gateway --bench approval` prints the table (medians of
//! `ROUNDS` runs, in process: no worker, so the numbers are the gateway's own work).

use std::sync::Arc;
use std::time::{Duration, Instant};

use codemode_catalog::policy::Policy;
use codemode_catalog::{Catalog, SourceNamespace, ToolSource, ToolSpec};
use codemode_gateway::{Gateway, GatewayOptions};
use codemode_sandbox::ToolFuture;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ClientCapabilities, ClientConfig, Implementation,
    InputResponses, ProtocolVersion,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RunningService};
use rmcp::{ClientHandler, RoleClient};
use serde_json::{json, Value};

const CALLS: usize = 10;
const ROUNDS: usize = 15;

/// `data.get({size})` answers a string of `size` bytes; `data.drop` needs approval.
struct Data;

impl ToolSource for Data {
    fn namespaces(&self) -> Vec<SourceNamespace> {
        vec![SourceNamespace::ready(
            "data",
            None,
            vec![
                ToolSpec::new("get", json!({"type": "object"})),
                ToolSpec::new("drop", json!({"type": "object"})),
            ],
        )]
    }

    fn call(&self, _namespace: &str, tool: &str, args: Value) -> ToolFuture {
        let size = args["size"].as_u64().unwrap_or(0) as usize;
        let answer = match tool {
            "get" => json!({ "blob": "x".repeat(size) }),
            _ => json!({ "dropped": true }),
        };
        Box::pin(std::future::ready(Ok(answer)))
    }
}

#[derive(Clone)]
struct Asked;

impl ClientHandler for Asked {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_elicitation().build(),
            Implementation::new("approval-bench", "1"),
        )
    }
}

fn params(code: &str) -> CallToolRequestParams {
    let Value::Object(arguments) = json!({ "code": code }) else {
        unreachable!()
    };
    CallToolRequestParams::new("execute").with_arguments(arguments)
}

async fn connect(gateway: &Gateway) -> RunningService<RoleClient, Asked> {
    let (server_io, client_io) = tokio::io::duplex(1 << 24);
    let session = gateway.new_session();
    tokio::spawn(async move {
        if let Ok(running) = rmcp::ServiceExt::serve(session, server_io).await {
            let _ = running.waiting().await;
        }
    });
    Asked
        .serve_with_lifecycle(
            client_io,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("connects")
}

fn gateway(action: &str) -> Gateway {
    let catalog = Catalog::new(vec![Arc::new(Data)]);
    let policy = json!({ "rules": [{ "tools": "data.drop", "action": action }] });
    catalog.set_policy(Policy::from_config(&policy).expect("policy"));
    Gateway::new(catalog, GatewayOptions::default())
}

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!("| journal (answers) | requestState | allowed: one run | ask: first run | ask: retry (replay) | ask: total |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for journal_kib in [0usize, 10, 100, 700] {
        let size = journal_kib * 1024 / CALLS;
        let code = format!(
            "let n = 0; for (let i = 0; i < {CALLS}; i++) n += (await tools.data.get({{ size: {size}, i }})).blob.length;\n\
             await tools.data.drop({{}}); return n;"
        );
        let allowed = gateway("allow");
        let allowed_client = connect(&allowed).await;
        let asking = gateway("ask");
        let client = connect(&asking).await;
        let (mut plain, mut first, mut retry, mut state_bytes) = (vec![], vec![], vec![], 0);
        for _ in 0..ROUNDS {
            let started = Instant::now();
            let _ = allowed_client
                .call_tool_once(params(&code))
                .await
                .expect("runs");
            plain.push(started.elapsed());

            let started = Instant::now();
            let CallToolResponse::InputRequired(required) =
                client.call_tool_once(params(&code)).await.expect("runs")
            else {
                panic!("expected input_required");
            };
            first.push(started.elapsed());
            let state = required.request_state.unwrap_or_default();
            state_bytes = state.len();
            let responses: InputResponses = required
                .input_requests
                .unwrap_or_default()
                .into_keys()
                .map(|k| {
                    (
                        k,
                        json!({"action": "accept", "content": {"decision": "allow_once"}}),
                    )
                })
                .collect();
            let started = Instant::now();
            let done = client
                .call_tool_once(
                    params(&code)
                        .with_request_state(state)
                        .with_input_responses(responses),
                )
                .await
                .expect("resumes");
            retry.push(started.elapsed());
            assert!(matches!(done, CallToolResponse::Complete(ref r) if r.is_error != Some(true)));
        }
        let (first, retry) = (median(first), median(retry));
        println!(
            "| {journal_kib} KiB ({CALLS} calls) | {:.1} KiB | {:.2} ms | {first:.2} ms | {retry:.2} ms | {:.2} ms |",
            state_bytes as f64 / 1024.0,
            median(plain),
            first + retry
        );
    }
}
