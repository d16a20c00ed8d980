//! Worker faults become clear execution errors, the pool keeps serving, and the calls a
//! snippet made before its worker died stay in the record.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use codemode_sandbox::{ErrorKind, Limits, ToolCall, ToolFuture, ToolHost, ToolNames};
use codemode_worker::WorkerPool;
use common::{error_of, host, pool, pool_options, run, TestHost};
use serde_json::json;
use tokio::sync::mpsc;

async fn assert_still_serving(pool: &WorkerPool) {
    let execution = run(
        pool,
        "const o = await tools.orders.list({ since: '2026-06-30' }); return o.length > 0",
    )
    .await;
    assert_eq!(execution.value(), json!(true), "{:?}", execution.returned());
}

/// The sandbox's test host, plus `test.report({ pid })`, which hands a worker's pid (from
/// `__test.pid()`) to the test so it can act on exactly that worker.
struct ReportingHost {
    inner: Arc<TestHost>,
    pids: mpsc::UnboundedSender<u32>,
}

impl ReportingHost {
    fn new() -> (Arc<ReportingHost>, mpsc::UnboundedReceiver<u32>) {
        let (pids, rx) = mpsc::unbounded_channel();
        (
            Arc::new(ReportingHost {
                inner: TestHost::new(),
                pids,
            }),
            rx,
        )
    }
}

impl ToolHost for ReportingHost {
    fn names(&self) -> Arc<ToolNames> {
        let mut catalog = (*self.inner.names()).clone();
        catalog.add_tool("test", "report");
        Arc::new(catalog)
    }

    fn call(&self, call: ToolCall) -> ToolFuture {
        if call.name == "report" {
            if let Some(pid) = call.args_value()["pid"].as_u64() {
                let _ = self.pids.send(pid as u32);
            }
            return Box::pin(std::future::ready(Ok(json!("noted"))));
        }
        self.inner.call(call)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_execution_is_a_clear_error_with_its_calls() {
    let pool = pool();
    let (host, mut pids) = ReportingHost::new();
    let run = pool.execute(
        r#"await tools.test.echo({ step: 1 });
           await tools.test.echo({ step: 2 });
           const pid = await tools.__test.pid();
           await tools.test.report({ pid });
           await tools.test.hang();"#,
        host,
        common::quick_limits(),
    );
    let killer = async {
        let pid = pids.recv().await.expect("the snippet reports its worker");
        // Give the snippet a moment to reach hang(), then SIGKILL its worker.
        tokio::time::sleep(Duration::from_millis(50)).await;
        // SAFETY: kill(2) on a child process this test's pool started.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    };
    let (execution, ()) = tokio::join!(run, killer);
    let message = error_of(&execution);
    // Not a limit: the gateway did not send this SIGKILL.
    assert!(
        message.contains("SIGKILL") && message.contains("did not send"),
        "{message}"
    );
    let error = execution.result.as_ref().unwrap_err();
    assert_eq!(error.kind, ErrorKind::Internal);
    let made: Vec<String> = execution
        .calls
        .iter()
        .map(|c| format!("{}.{}", c.namespace, c.name))
        .collect();
    assert_eq!(
        made,
        ["test.echo", "test.echo", "test.report", "test.hang"],
        "{:?}",
        execution.calls
    );
    assert!(execution.calls[..3].iter().all(|c| c.is_ok()));
    assert_eq!(execution.calls[3].duration, None, "the hang never answered");
    assert_still_serving(&pool).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_that_floods_its_pipe_is_killed_by_the_frame_cap() {
    let pool = pool();
    let execution = run(
        &pool,
        "await tools.test.echo({ a: 1 }); await tools.__test.flood();",
    )
    .await;
    let message = error_of(&execution);
    assert!(message.contains("MiB cap"), "{message}");
    assert_eq!(
        execution.calls.len(),
        1,
        "the echo before the flood is recorded"
    );
    assert_still_serving(&pool).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_that_sends_garbage_is_killed() {
    let pool = pool();
    let message = error_of(&run(&pool, "await tools.__test.garbage(); return 1").await);
    assert!(
        message.contains("broke the protocol") && message.contains("not a valid message"),
        "{message}"
    );
    assert_still_serving(&pool).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_a_lying_worker_reports_passes_the_gateways_checks() {
    let pool = pool();
    // Forged calls: the record is the gateway's own, so only the one real call is listed,
    // and the reported heap is held to the limit.
    let execution = run(
        &pool,
        "await tools.orders.list({ since: '2026-06-30' }); await tools.__test.lie({ what: 'calls' }); return 1",
    )
    .await;
    assert_eq!(
        execution.value(),
        json!("as reported"),
        "{:?}",
        execution.result
    );
    let calls: Vec<String> = execution
        .calls
        .iter()
        .map(|c| format!("{}.{}", c.namespace, c.name))
        .collect();
    assert_eq!(calls, ["orders.list"]);
    assert!(execution.stats.peak_memory_bytes <= common::quick_limits().memory_bytes);
    // A value or logs past the limits: the worker is treated as compromised.
    for (what, needle) in [
        ("result", "past the result limit"),
        ("logs", "past the log limit"),
    ] {
        let code = format!("await tools.__test.lie({{ what: '{what}' }}); return 1");
        let execution = run(&pool, &code).await;
        let message = error_of(&execution);
        assert!(message.contains(needle), "{what}: {message}");
        assert!(message.contains("killed"), "{what}: {message}");
    }
    assert_still_serving(&pool).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_that_aborts_is_named_as_such() {
    let pool = pool();
    let message = error_of(&run(&pool, "await tools.__test.abort()").await);
    assert!(message.contains("aborted (SIGABRT)"), "{message}");
    assert_still_serving(&pool).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_that_overflows_its_stack_is_named_by_its_signal_with_its_last_words() {
    let pool = pool();
    let execution = run(&pool, "await tools.__test.overflow()").await;
    let error = execution.result.as_ref().unwrap_err();
    assert_eq!(error.kind, ErrorKind::Internal, "{error}");
    // Rust's overflow handler reports on stderr, then aborts; depending on what that abort
    // path asks of the kernel, the worker dies by SIGABRT, SIGSEGV or (a call outside the
    // allowlist) SIGSYS. The message names the signal it was and guesses no cause.
    let named = ["aborted (SIGABRT)", "crashed (SIGSEGV)", "killed by SIGSYS"]
        .iter()
        .any(|words| error.message.contains(words));
    assert!(named, "{}", error.message);
    assert!(
        !error.message.contains("seccomp filter"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("its last stderr lines:")
            && error.message.contains("overflowed its stack"),
        "{}",
        error.message
    );
    assert_still_serving(&pool).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_stuck_in_native_code_is_killed_at_the_wall_clock_limit() {
    let pool = pool();
    let limits = Limits {
        wall_time: Duration::from_millis(300),
        ..common::quick_limits()
    };
    let started = Instant::now();
    let execution = pool
        .execute("await tools.__test.hang()", host(), limits)
        .await;
    let error = execution.result.as_ref().unwrap_err();
    assert_eq!(error.kind, ErrorKind::Timeout, "{error}");
    assert!(
        error.message.contains("wall-clock time limit exceeded")
            && error.message.contains("killed it (SIGKILL)"),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_still_serving(&pool).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_an_execution_kills_its_worker() {
    let pool = pool();
    let (host, mut pids) = ReportingHost::new();
    let counters = host.inner.counters.clone();
    let execution = pool.execute(
        "await tools.test.report({ pid: await tools.__test.pid() }); await tools.test.hang()",
        host,
        common::quick_limits(),
    );
    let pid = tokio::select! {
        _ = execution => panic!("hang() returned"),
        pid = async {
            let pid = pids.recv().await.expect("the snippet reports its worker");
            while counters.in_flight.load(Ordering::SeqCst) == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            pid
        } => pid,
    };
    // The execution future was dropped by the select; its worker must go.
    let deadline = Instant::now() + Duration::from_secs(5);
    while is_alive(pid) {
        assert!(
            Instant::now() < deadline,
            "worker {pid} outlived its execution"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        counters.dropped.load(Ordering::SeqCst),
        1,
        "the pending tool call was cancelled"
    );
}

fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .and_then(|i| stat[i + 2..].split_whitespace().next())
            .is_some_and(|s| s != "Z")
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn beyond_capacity_executions_queue_then_get_busy() {
    let mut options = pool_options();
    options.max_workers = 2;
    options.max_queued = 2;
    let pool = WorkerPool::new(options);
    let snippets = (0..8).map(|_| {
        let pool = pool.clone();
        tokio::spawn(async move {
            pool.execute(
                "await tools.test.sleep({ ms: 400 }); return 'done'",
                TestHost::new(),
                common::quick_limits(),
            )
            .await
        })
    });
    let mut done = 0;
    let mut busy = 0;
    for handle in snippets.collect::<Vec<_>>() {
        let execution = handle.await.expect("no panic");
        match &execution.returned() {
            Ok(_) => done += 1,
            Err(error) => {
                assert_eq!(error.kind, ErrorKind::Limit, "{error}");
                assert!(
                    error.message.contains("at capacity") && error.message.contains("retry"),
                    "{error}"
                );
                busy += 1;
            }
        }
    }
    assert_eq!((done, busy), (4, 4), "2 run, 2 wait, the rest are refused");
    assert_still_serving(&pool).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn results_cross_the_pipe_unchanged() {
    let pool = pool();
    let execution = run(&pool, "console.warn('w'); return null").await;
    assert_eq!(
        execution.returned().ok(),
        Some(Some(json!(null))),
        "null is not undefined"
    );
    assert_eq!(execution.logs.len(), 1);
    let execution = run(&pool, "return").await;
    assert_eq!(execution.result.as_ref().ok(), Some(&None));
    let execution = run(&pool, "const x: number = ;").await;
    let error = execution.result.as_ref().unwrap_err();
    assert_eq!(error.kind, ErrorKind::Syntax);
    assert!(error.location.is_some());
    let execution = run(&pool, "await tools.test.fail({ message: 'nope' })").await;
    assert_eq!(execution.result.as_ref().unwrap_err().kind, ErrorKind::Tool);
    assert_eq!(execution.calls[0].error.as_deref(), Some("nope"));
}
