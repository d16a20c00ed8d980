//! The walls around a worker: the sandbox's escape suite run in worker processes, and
//! native system calls made from inside a worker (through the `__test` hooks, which run
//! Rust code in the worker, below JavaScript) that must fail.

mod common;
#[path = "../../sandbox/tests/escape_cases/mod.rs"]
mod escape_cases;

use codemode_sandbox::ErrorKind;
use common::{error_of, host, pool, run, SECRET_NAME, SECRET_VALUE};
use escape_cases::{cases, check};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn every_escape_attempt_fails_cleanly_in_a_worker_too() {
    let pool = pool();
    let limits = escape_cases::limits();
    let cases = cases();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    for (name, code, expect) in &cases {
        let execution = pool.execute(code, host(), limits.clone()).await;
        check(name, expect, &execution);
    }
    assert_eq!(run(&pool, "return 40 + 2").await.value(), json!(42));
}

/// A native call either fails with an error, or the seccomp filter kills the worker (by
/// SIGSYS): both mean the wall held. Success means it did not.
fn assert_wall_held(what: &str, execution: &codemode_sandbox::Execution) {
    let message = error_of(execution);
    let denied = message.contains("failed:") || message.contains("SIGSYS");
    assert!(denied, "{what} was not stopped: {message}");
    assert!(
        !message.contains("succeeded"),
        "{what} succeeded: {message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_cannot_open_a_file() {
    let pool = pool();
    for path in ["/etc/passwd", "/proc/self/environ", "/proc/1/environ", "."] {
        let code = format!("return await tools.__test.open({{ path: {path:?} }})");
        assert_wall_held(&format!("open {path}"), &run(&pool, &code).await);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_cannot_open_a_socket() {
    let pool = pool();
    assert_wall_held(
        "socket",
        &run(&pool, "return await tools.__test.socket()").await,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_cannot_run_a_program() {
    let pool = pool();
    let execution = run(&pool, "return await tools.__test.exec()").await;
    // Had execve worked, the worker would have become `sh -c 'exit 42'`.
    assert!(
        !error_of(&execution).contains("code 42"),
        "{}",
        error_of(&execution)
    );
    assert_wall_held("execve", &execution);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_snippet_reads_the_gateways_environment() {
    common::gateway_env();
    assert_eq!(std::env::var(SECRET_NAME).as_deref(), Ok(SECRET_VALUE));
    let pool = pool();
    // Through the native hook: the worker's environment is empty.
    for name in [SECRET_NAME, "PATH", "HOME"] {
        let code = format!("return await tools.__test.getenv({{ name: {name:?} }})");
        let execution = run(&pool, &code).await;
        assert_eq!(
            execution.value(),
            json!(null),
            "{name}: {:?}",
            execution.result
        );
    }
    // And from JavaScript, every way we know of.
    let code = format!(
        r#"const found: string[] = [];
        for (const probe of [
            () => (globalThis as any).process.env.{SECRET_NAME},
            () => (globalThis as any).std.getenv("{SECRET_NAME}"),
            () => (globalThis as any).os.getenv("{SECRET_NAME}"),
            () => JSON.stringify(globalThis),
        ]) {{ try {{ const v = String(probe()); if (v.includes("{SECRET_VALUE}")) found.push(v); }} catch {{}} }}
        return found;"#
    );
    assert_eq!(run(&pool, &code).await.value(), json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hooks_are_absent_unless_the_gateway_asks_for_them() {
    common::gateway_env();
    let mut options = common::pool_options();
    options.test_hooks = false;
    let pool = codemode_worker::WorkerPool::new(options);
    let execution = run(&pool, "return await tools.__test.pid()").await;
    assert_eq!(
        execution.result.as_ref().map_err(|e| e.kind),
        Err(ErrorKind::Runtime),
        "{:?}",
        execution.result
    );
}

/// Forked workers copy one sandbox their template built: each must still start as a fresh
/// one would, with nothing of an earlier execution in it, its own random numbers, and a
/// clock that starts with it.
#[tokio::test(flavor = "multi_thread")]
async fn every_forked_execution_starts_afresh() {
    let pool = pool();
    let polluted = "globalThis.leak = 1; Object.prototype.polluted = true; \
                    Math.random = () => 0.5; return Math.random()";
    assert_eq!(run(&pool, polluted).await.value(), json!(0.5));
    let looks = "return [typeof (globalThis as any).leak, ({} as any).polluted, \
                 Math.random(), Math.random(), performance.now(), \
                 Math.abs(performance.timeOrigin - Date.now())]";
    let mut seen = Vec::new();
    for _ in 0..4 {
        let value = run(&pool, looks).await.value();
        assert_eq!(value[0], json!("undefined"), "{value}");
        assert_eq!(value[1], json!(null), "{value}");
        let (a, b) = (value[2].as_f64().unwrap(), value[3].as_f64().unwrap());
        assert!((0.0..1.0).contains(&a) && a != b, "{value}");
        seen.push(value[2].to_string());
        // Milliseconds since the execution began, and an origin at its start.
        assert!(value[4].as_f64().unwrap() < 1_000.0, "{value}");
        assert!(value[5].as_f64().unwrap() < 1_000.0, "{value}");
    }
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen.len(),
        4,
        "executions repeated each other's random numbers: {seen:?}"
    );
}
