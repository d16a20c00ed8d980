//! A sandbox built ahead of its code (`Sandbox::prepare`, as a waiting worker does) runs
//! the execution exactly as one built for it: the limits, clocks and host all start with the
//! job, and nothing of the build shows.

mod common;

use std::time::Duration;

use codemode_sandbox::{ErrorKind, Limits, Sandbox};
use common::{quick_limits, TestHost};
use serde_json::json;

/// Built, then left waiting well past the wall-clock limit it will run with.
async fn prepared_and_aged(code: &str, limits: Limits) -> codemode_sandbox::Execution {
    let prepared = Sandbox::prepare();
    prepared.wait_until_built();
    tokio::time::sleep(Duration::from_millis(300)).await;
    prepared.execute(code, TestHost::new(), limits).await
}

#[tokio::test]
async fn the_clocks_start_with_the_job_not_the_build() {
    let limits = Limits {
        wall_time: Duration::from_millis(200),
        ..quick_limits()
    };
    let execution = prepared_and_aged(
        "await new Promise((r) => setTimeout(r, 50)); return 7",
        limits,
    )
    .await;
    assert_eq!(execution.returned().unwrap(), Some(json!(7)));
    assert!(
        execution.stats.wall_time < Duration::from_millis(200),
        "{:?}",
        execution.stats
    );
}

#[tokio::test]
async fn the_heap_limit_of_the_job_applies() {
    let limits = Limits {
        memory_bytes: 16 << 20,
        ..quick_limits()
    };
    let execution = prepared_and_aged(
        "const a = []; for (;;) a.push('x'.repeat(1 << 16) + a.length);",
        limits,
    )
    .await;
    let error = execution.result.expect_err("the heap limit must stop it");
    assert_eq!(error.kind, ErrorKind::Memory, "{error:?}");
}

#[tokio::test]
async fn the_cpu_limit_of_the_job_applies() {
    let limits = Limits {
        cpu_time: Duration::from_millis(100),
        ..quick_limits()
    };
    let execution = prepared_and_aged("for (;;) {}", limits).await;
    let error = execution.result.expect_err("the CPU limit must stop it");
    assert_eq!(error.kind, ErrorKind::Timeout, "{error:?}");
}

#[tokio::test]
async fn tools_and_console_are_the_jobs() {
    let execution = prepared_and_aged(
        "console.log('hi'); const orders = await tools.orders.list({ since: '2026-01-01' }); \
         return { n: orders.length > 0, names: Object.keys(tools).includes('test') }",
        quick_limits(),
    )
    .await;
    assert_eq!(
        execution.returned().unwrap(),
        Some(json!({ "n": true, "names": true }))
    );
    assert_eq!(execution.logs.len(), 1);
    assert_eq!(execution.calls.len(), 1);
}

#[tokio::test]
async fn a_compile_error_is_reported_from_a_prepared_sandbox() {
    let execution = prepared_and_aged("return (", quick_limits()).await;
    let error = execution.result.expect_err("invalid TypeScript");
    assert_eq!(error.kind, ErrorKind::Syntax, "{error:?}");
}

#[test]
fn a_sandbox_dropped_unused_ends_its_thread() {
    let before = threads();
    for _ in 0..20 {
        let prepared = Sandbox::prepare();
        prepared.wait_until_built();
        drop(prepared);
    }
    // Each thread frees its sandbox and ends on its own; give them a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while threads() > before && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        threads() <= before,
        "{} threads left of {before}",
        threads()
    );
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}
