//! A worker's rlimits follow the limits its pool's executions run with: the kernel never
//! cuts an execution short before the sandbox's own limit, whichever way the limits move.

mod common;

use std::time::{Duration, Instant};

use codemode_sandbox::{ErrorKind, Limits};
use codemode_worker::{Backstop, WorkerPool};
use common::{host, pool_options};
use serde_json::json;

const MIB: usize = 1024 * 1024;

/// ~1.2 GiB of heap: more than the fixed 1 GiB RLIMIT_AS workers used to have.
const ALLOCATE_1_2_GIB: &str = "const a = []; \
    for (let i = 0; i < 12; i++) a.push(new Uint8Array(100 * 1024 * 1024)); \
    return a.length";

/// One native call the sandbox's interrupt never reaches: `join` converts a 253,530-digit
/// BigInt to decimal twelve times. One conversion took 3.6 s of CPU on the 2-core machine
/// this was written on (against a 1 s limit, uninterrupted), so the whole call about 40 s.
const NATIVE_BURN: &str = r#"return Array(12).fill(7n ** 300000n).join(",").length"#;

fn pool_with(limits: Limits) -> WorkerPool {
    let mut options = pool_options();
    options.size = 1;
    options.limits = limits;
    WorkerPool::new(options)
}

fn big_heap() -> Limits {
    Limits {
        memory_bytes: 1536 * MIB,
        wall_time: Duration::from_secs(30),
        ..Limits::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn workers_are_locked_down_with_the_backstop_of_the_pools_limits() {
    let limits = Limits {
        cpu_time: Duration::from_millis(1500),
        memory_bytes: 1536 * MIB,
        ..Limits::default()
    };
    let expected = Backstop::for_limits(&limits);
    let pool = pool_with(limits);
    let confinement = pool.probe().await.expect("a worker starts");
    assert_eq!(
        confinement["rlimits"],
        json!({
            "cpu_seconds": expected.cpu_seconds,
            "address_space_bytes": expected.address_space_bytes,
        }),
        "{confinement}"
    );
    assert_eq!(expected.cpu_seconds, 2 + Backstop::CPU_MARGIN_SECONDS);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_short_cpu_limit_still_ends_with_the_sandboxs_own_error() {
    let limits = Limits {
        cpu_time: Duration::from_secs(1),
        wall_time: Duration::from_secs(20),
        ..Limits::default()
    };
    let pool = pool_with(limits.clone());
    let execution = pool.execute("while (true) {}", host(), limits).await;
    let error = execution.returned().expect_err("a busy loop is stopped");
    assert_eq!(error.kind, ErrorKind::Timeout, "{}", error.message);
    assert!(
        error.message.contains("CPU time limit"),
        "{}",
        error.message
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_heap_limit_is_not_cut_short_by_the_address_space_limit() {
    let pool = pool_with(big_heap());
    let execution = pool.execute(ALLOCATE_1_2_GIB, host(), big_heap()).await;
    assert_eq!(execution.value(), json!(12), "{:?}", execution.returned());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_execution_needing_more_than_the_warm_workers_gets_a_worker_that_fits() {
    // The pool's workers are for the default limits (RLIMIT_AS 1 GiB)...
    let pool = pool_with(Limits::default());
    // ...but this execution asks for a 1.5 GiB heap.
    let execution = pool.execute(ALLOCATE_1_2_GIB, host(), big_heap()).await;
    assert_eq!(execution.value(), json!(12), "{:?}", execution.returned());
    // The heap limit itself still holds.
    let execution = pool
        .execute(
            ALLOCATE_1_2_GIB,
            host(),
            Limits {
                memory_bytes: 512 * MIB,
                ..big_heap()
            },
        )
        .await;
    let error = execution.returned().expect_err("the heap limit holds");
    assert_eq!(error.kind, ErrorKind::Memory, "{}", error.message);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_native_call_past_the_cpu_limit_is_killed_by_the_gateways_cpu_watchdog() {
    let limits = Limits {
        cpu_time: Duration::from_secs(1),
        wall_time: Duration::from_secs(60),
        ..Limits::default()
    };
    let pool = pool_with(limits.clone());
    let started = Instant::now();
    let execution = pool.execute(NATIVE_BURN, host(), limits.clone()).await;
    let elapsed = started.elapsed();
    let error = execution
        .result
        .as_ref()
        .expect_err("the native call is stopped");
    assert_eq!(error.kind, ErrorKind::Timeout, "{}", error.message);
    assert!(
        error.message.contains("CPU time limit exceeded")
            && error.message.contains("native operation")
            && error.message.contains("killed its worker (SIGKILL)"),
        "{}",
        error.message
    );
    // The worker's CPU time during the execution, as the gateway read it at the kill: past the
    // 1 s limit plus the watchdog's 1 s grace, by at most a poll interval and a margin.
    let cpu = execution.stats.cpu_time;
    assert!(cpu > Duration::from_secs(2), "killed at {cpu:?} of CPU");
    assert!(cpu < Duration::from_secs(3), "killed at {cpu:?} of CPU");
    // Nowhere near the 60 s wall-clock limit (nor the ~40 s the call needs).
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    // The pool serves the next execution.
    let next = pool.execute("return 40 + 2", host(), limits).await;
    assert_eq!(next.value(), json!(42), "{:?}", next.returned());
}
