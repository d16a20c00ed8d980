//! Hostile snippets through the three ways the binary runs code: `codemode run` (in a
//! worker, as `serve`), `codemode serve --in-process` and `codemode serve` with worker
//! processes. Each case asserts the error kind (or the value), that the reply stays within
//! its cap, that it ends within the limit plus a grace, and that the next execute is still
//! served.
//!
//! Native operations that never poll the engine's interrupt (BigInt arithmetic, a huge
//! `join`) are bounded only from outside the engine, by the worker's CPU watchdog: they run
//! through workers only (`run` and `serve`), as `--in-process` documents.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{codemode, StdioSession};

/// Tight limits, so every case ends quickly.
const LIMIT_ARGS: [&str; 6] = ["--cpu-time", "1s", "--wall-time", "8s", "--memory", "64MiB"];
/// Beyond the wall limit, how long a case may take (process start, a loaded CI machine).
const GRACE: Duration = Duration::from_secs(12);
/// Bytes any one reply may take: an MCP reply says the value and the logs twice (as text
/// and in `structuredContent`), so twice the 128 KiB result and 32 KiB log caps, plus the
/// calls, notes and framing.
const MAX_REPLY_BYTES: usize = 2 * (128 + 32) * 1024 + 64 * 1024;

/// What a case must end with.
#[derive(Clone, Copy)]
enum Outcome {
    /// An error of this kind (`structuredContent.error.kind`).
    Fails(&'static str),
    /// A value whose JSON text contains this.
    Returns(&'static str),
}

struct Case {
    name: &'static str,
    code: &'static str,
    outcome: Outcome,
    /// Bounded only by the worker's CPU watchdog.
    workers_only: bool,
}

fn cases() -> Vec<Case> {
    use Outcome::*;
    let case = |name, code, outcome| Case {
        name,
        code,
        outcome,
        workers_only: false,
    };
    let native = |name, code, outcome| Case {
        name,
        code,
        outcome,
        workers_only: true,
    };
    vec![
        case(
            "a message getter that rejects a promise",
            "const e = new Error('x'); Object.defineProperty(e, 'message', { get() { Promise.reject(1); return 'm'; } }); Promise.reject(e); return 2;",
            Returns("2"),
        ),
        case("a 20 MB error message", "throw new Error('x'.repeat(20e6));", Fails("runtime")),
        case("a 20 MB thrown string", "throw 'y'.repeat(20e6);", Fails("runtime")),
        case(
            "a 20 MB thrown object",
            "throw { message: 'z'.repeat(20e6) };",
            Fails("runtime"),
        ),
        case(
            "a poisoned Array.prototype[0]",
            "Object.defineProperty(Array.prototype, 0, { get() { return 'p'.repeat(1 << 20); }, configurable: true }); console.log([,]); return [, 1];",
            Returns("more characters"),
        ),
        case(
            "prepareStackTrace reaching for functions",
            "Error.prepareStackTrace = (e, frames) => frames.map((f) => [typeof f.getFunction(), typeof f.getThis()]); function f() { return new Error('x').stack; } return f();",
            Returns("undefined"),
        ),
        case(
            "a string doubled forever",
            "let s = 'x'; while (true) s += s;",
            Fails("memory"),
        ),
        case(
            "a 2 MB $search query",
            "return await tools.$search('q'.repeat(2e6));",
            Fails("tool"),
        ),
        case("an endless loop", "while (true) {}", Fails("timeout")),
        native(
            "BigInt arithmetic in a native join",
            "return Array(12).fill(7n ** 300000n).join(',').length;",
            Fails("timeout"),
        ),
        native(
            "a join of 2^32 - 1 holes",
            "return Array(2 ** 32 - 1).join('').length;",
            Fails("timeout"),
        ),
    ]
}

/// The nesting case proper: its code is built, not written.
fn nested_brackets() -> String {
    format!("return {}1{};", "[".repeat(100_000), "]".repeat(100_000))
}

/// What one case came back with.
struct Seen {
    failed: bool,
    kind: String,
    text: String,
    bytes: usize,
    took: Duration,
}

fn check(mode: &str, name: &str, outcome: Outcome, seen: Seen) {
    let Seen {
        failed,
        kind,
        text,
        bytes,
        took,
    } = seen;
    let context = || {
        format!(
            "{mode}: {name}: {}",
            text.chars().take(400).collect::<String>()
        )
    };
    match outcome {
        Outcome::Fails(expected) => {
            assert!(failed, "{} (expected a {expected} error)", context());
            assert_eq!(kind, expected, "{}", context());
        }
        Outcome::Returns(needle) => {
            assert!(!failed, "{}", context());
            assert!(text.contains(needle), "{}", context());
        }
    }
    assert!(
        bytes <= MAX_REPLY_BYTES,
        "{}: a {bytes} byte reply",
        context()
    );
    assert!(
        took < Duration::from_secs(8) + GRACE,
        "{}: took {took:?}",
        context()
    );
}

fn serve_mode(mode: &str, extra: &[&str]) {
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(LIMIT_ARGS);
    let mut session = StdioSession::start(&args, &[]);
    session.initialize();
    let nested = nested_brackets();
    let mut all: Vec<(String, String, Outcome)> = vec![(
        "100,000 nested brackets (the code itself)".to_string(),
        nested,
        Outcome::Fails("syntax"),
    )];
    for case in cases() {
        if case.workers_only && mode != "serve" {
            continue;
        }
        all.push((case.name.to_string(), case.code.to_string(), case.outcome));
    }
    for (name, code, outcome) in all {
        let started = Instant::now();
        let result = session.request(
            "tools/call",
            serde_json::json!({"name": "execute", "arguments": {"code": code}}),
            Duration::from_secs(8) + GRACE,
        );
        let took = started.elapsed();
        let bytes = result.to_string().len();
        let failed = result["isError"] == true;
        let kind = result["structuredContent"]["error"]["kind"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let text = result["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        check(
            mode,
            &name,
            outcome,
            Seen {
                failed,
                kind,
                text,
                bytes,
                took,
            },
        );
        let (failed, text) = session.execute("return 1 + 1", Duration::from_secs(30));
        assert!(
            !failed && text == "2",
            "{mode}: not serving after {name}: {text}"
        );
    }
}

#[test]
fn hostile_snippets_through_serve_with_workers() {
    serve_mode("serve", &[]);
}

#[test]
fn hostile_snippets_through_serve_in_process() {
    serve_mode("serve --in-process", &["--in-process"]);
}

#[test]
fn hostile_snippets_through_run() {
    let mut all: Vec<(String, String, Outcome)> = vec![(
        "100,000 nested brackets (the code itself)".to_string(),
        nested_brackets(),
        Outcome::Fails("syntax"),
    )];
    // `run` executes in a worker, as `serve` does: the native cases hold here too.
    for case in cases() {
        all.push((case.name.to_string(), case.code.to_string(), case.outcome));
    }
    for (name, code, outcome) in all {
        let started = Instant::now();
        let mut child = Command::new(codemode())
            .arg("run")
            .args(LIMIT_ARGS)
            .args(["--json", "-"])
            .env_remove("CODEMODE_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("codemode starts");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("piped");
            stdin.write_all(code.as_bytes()).expect("writes");
        }
        let output = child.wait_with_output().expect("runs");
        let took = started.elapsed();
        assert!(
            output.status.code().is_some(),
            "run: {name}: the process died by a signal ({})",
            output.status
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        let json: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "run: {name}: not JSON ({e}): {}",
                stdout.chars().take(400).collect::<String>()
            )
        });
        // `run --json` prints the `execute` reply's `structuredContent`.
        let (failed, kind, text) = match json.get("error") {
            Some(error) => (
                true,
                error["kind"].as_str().unwrap_or_default().to_string(),
                error["message"].as_str().unwrap_or_default().to_string(),
            ),
            None => (false, String::new(), json["result"].to_string()),
        };
        let bytes = stdout.len();
        check(
            "run",
            &name,
            outcome,
            Seen {
                failed,
                kind,
                text,
                bytes,
                took,
            },
        );
    }
}
