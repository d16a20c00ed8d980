//! `codemode run FILE.ts`: one snippet, printed for a human or a script.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use codemode_sandbox::{Execution, LogLevel, Sandbox, ToolHost};

use crate::host::{self, LimitArgs, Startup};

pub async fn run(file: &Path, json: bool, config: Option<&Path>, limits: &LimitArgs) -> ExitCode {
    let code = match read_snippet(file) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("codemode: {message}");
            return ExitCode::from(2);
        }
    };
    let loaded = match host::load_or_exit(config, limits, Startup::Background).await {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let host: Arc<dyn ToolHost> = Arc::new(loaded.catalog.clone());
    let execution = Sandbox::execute(&code, host, loaded.limits.clone()).await;
    loaded.shutdown().await;
    if json {
        match serde_json::to_string_pretty(&execution) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("codemode: could not print the execution: {e}"),
        }
    } else {
        print_human(&execution);
    }
    if execution.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
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

/// The value on stdout (JSON, so it pipes into `jq`); everything else on stderr.
fn print_human(execution: &Execution) {
    for log in &execution.logs {
        let level = match log.level {
            LogLevel::Log => "log",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::Debug => "debug",
        };
        eprintln!("[{level}] {}", log.message);
    }
    for call in &execution.calls {
        let duration = call.duration.map_or("unanswered".to_string(), |d| {
            format!("{:.2} ms", d.as_secs_f64() * 1e3)
        });
        let outcome = match &call.error {
            None if call.duration.is_some() => "ok".to_string(),
            None => "cancelled".to_string(),
            Some(error) => format!("error: {error}"),
        };
        let name = if call.namespace.is_empty() {
            call.name.clone()
        } else {
            format!("{}.{}", call.namespace, call.name)
        };
        eprintln!("call {name} ({duration}) {outcome}");
    }
    for note in &execution.notes {
        eprintln!("note: {note}");
    }
    match &execution.result {
        Ok(Some(value)) => match serde_json::to_string_pretty(value) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("codemode: could not print the value: {e}"),
        },
        Ok(None) => eprintln!("(the snippet returned no value)"),
        Err(error) => eprintln!("{} error: {error}", error.kind),
    }
}
