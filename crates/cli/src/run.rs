//! `codemode run FILE.ts`: one snippet, printed for a human or a script.
//!
//! It runs the way `serve` runs an `execute`: through the gateway, in a locked-down worker
//! process unless `--in-process` says otherwise, and its output is the `execute` reply's
//! `structuredContent`, so there is one execution path and one shape.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use codemode_gateway::{execution_result, Gateway, GatewayOptions, Isolation, PoolOptions};
use serde_json::Value;

use crate::host::{self, AuditArgs, LimitArgs, PolicyArgs, Startup};

pub struct RunOptions<'a> {
    pub json: bool,
    pub in_process: bool,
    pub config: Option<&'a Path>,
    pub limits: &'a LimitArgs,
    pub policy: &'a PolicyArgs,
    pub audit: &'a AuditArgs,
}

pub async fn run(file: &Path, options: RunOptions<'_>) -> ExitCode {
    let code = match read_snippet(file) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("codemode: {message}");
            return ExitCode::from(2);
        }
    };
    let isolation = if options.in_process {
        Isolation::InProcess
    } else {
        match PoolOptions::current_exe() {
            // One execution: no worker kept warm beyond the one it runs in.
            Ok(pool) => Isolation::Workers(PoolOptions {
                size: 0,
                max_workers: 1,
                max_queued: 0,
                ..pool
            }),
            Err(e) => {
                eprintln!("codemode: cannot find this executable to start a worker from: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let loaded = match host::load_or_exit(options.config, options.limits, Startup::Background).await
    {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    loaded.apply(options.policy);
    let audit = match loaded.audit_log(options.audit) {
        Ok(audit) => audit,
        Err(message) => {
            eprintln!("codemode: {message}");
            loaded.shutdown().await;
            return ExitCode::from(2);
        }
    };
    let gateway = Gateway::new(
        loaded.catalog.clone(),
        GatewayOptions {
            limits: loaded.limits.clone(),
            max_concurrent_executions: 1,
            isolation,
            audit,
            ..GatewayOptions::default()
        },
    );
    let execution = gateway.execute(&code).await;
    loaded.shutdown().await;
    let reply = execution_result(&execution);
    // An error's first text block is what the agent reads: the kind, the message and the
    // snippet's line with a caret.
    let error_text = reply
        .content
        .first()
        .and_then(|block| block.as_text())
        .map(|text| text.text.clone());
    let structured = reply.structured_content.clone().unwrap_or(Value::Null);
    if options.json {
        match serde_json::to_string_pretty(&structured) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("codemode: could not print the execution: {e}"),
        }
    } else {
        print_human(&structured, error_text.as_deref());
    }
    if reply.is_error == Some(true) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn read_snippet(file: &Path) -> Result<String, String> {
    if file == Path::new("-") {
        let mut code = String::new();
        std::io::stdin()
            .read_to_string(&mut code)
            .map_err(|e| format!("could not read the snippet from standard input: {e}"))?;
        return Ok(code);
    }
    std::fs::read_to_string(file).map_err(|e| format!("could not read {}: {e}", file.display()))
}

/// The value on stdout (JSON, so it pipes into `jq`); everything else on stderr, read from
/// the same `structuredContent` that `--json` prints.
fn print_human(reply: &Value, error_text: Option<&str>) {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
    for log in reply["logs"].as_array().into_iter().flatten() {
        eprintln!("[{}] {}", text(&log["level"]), text(&log["message"]));
    }
    for call in reply["calls"].as_array().into_iter().flatten() {
        let duration = match call["ms"].as_f64() {
            Some(ms) => format!("{ms:.2} ms"),
            None => "unanswered".to_string(),
        };
        let outcome = match call.get("error") {
            Some(error) => format!("error: {}", text(error)),
            None if call["ok"] == Value::Bool(true) => "ok".to_string(),
            None => "cancelled".to_string(),
        };
        eprintln!("call {} ({duration}) {outcome}", text(&call["tool"]));
    }
    let listed = reply["calls"].as_array().map_or(0, Vec::len);
    let count = reply["callCount"].as_u64().unwrap_or(0);
    if count > listed as u64 {
        eprintln!("… and {} more calls", count - listed as u64);
    }
    for note in reply["notes"].as_array().into_iter().flatten() {
        eprintln!("note: {}", text(note));
    }
    if let Some(error) = reply.get("error") {
        match error_text {
            Some(described) => eprintln!("{described}"),
            None => eprintln!(
                "{} error: {}",
                text(&error["kind"]),
                text(&error["message"])
            ),
        }
        return;
    }
    match reply.get("result") {
        Some(value) => match serde_json::to_string_pretty(value) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("codemode: could not print the value: {e}"),
        },
        None => eprintln!("(the snippet returned no value)"),
    }
}
