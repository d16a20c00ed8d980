//! Every limit, hit: a clear error (or a truncation note), and the next execution works.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use codemode_sandbox::{ErrorKind, Limits};
use common::{assert_still_serving, quick_limits, run, run_with, TestHost};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn a_busy_loop_is_stopped_by_the_cpu_limit() {
    let limits = Limits {
        cpu_time: Duration::from_millis(200),
        ..quick_limits()
    };
    let started = Instant::now();
    let execution = run_with("let i = 0;\nwhile (true) { i++; }", TestHost::new(), limits).await;
    let error = execution.returned().unwrap_err();
    assert_eq!(error.kind, ErrorKind::Timeout);
    assert!(
        error.message.contains("CPU time limit"),
        "{}",
        error.message
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(execution.stats.cpu_time >= Duration::from_millis(200));
    assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caught_interrupt_cannot_be_swallowed() {
    let limits = Limits {
        cpu_time: Duration::from_millis(200),
        ..quick_limits()
    };
    let code = "for (;;) { try { while (true) {} } catch (e) { /* keep going */ } }";
    let error = run_with(code, TestHost::new(), limits)
        .await
        .result
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Timeout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_that_hangs_is_stopped_by_the_wall_clock_and_cancelled() {
    let host = TestHost::new();
    let limits = Limits {
        wall_time: Duration::from_millis(300),
        ..quick_limits()
    };
    let started = Instant::now();
    let execution = run_with("await tools.test.hang({}); return 1;", host.clone(), limits).await;
    let error = execution.returned().unwrap_err();
    assert_eq!(error.kind, ErrorKind::Timeout);
    assert!(error.message.contains("wall-clock"), "{}", error.message);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(execution.calls.len(), 1);
    assert_eq!(execution.calls[0].duration, None);
    // The sandbox dropped the host's future: the call was cancelled, not leaked.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(host.counters.dropped.load(Ordering::SeqCst), 1);
    assert_eq!(host.counters.in_flight.load(Ordering::SeqCst), 0);
    assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_timer_is_bounded_by_the_wall_clock() {
    let limits = Limits {
        wall_time: Duration::from_millis(300),
        ..quick_limits()
    };
    let code = "await new Promise((resolve) => setTimeout(resolve, 1e9)); return 1;";
    let error = run_with(code, TestHost::new(), limits)
        .await
        .result
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Timeout);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_heap_limit_stops_a_large_allocation() {
    let limits = Limits {
        memory_bytes: 16 * 1024 * 1024,
        ..quick_limits()
    };
    for code in [
        "const a = []; while (true) a.push({ n: a.length, s: 'x' + a.length });",
        "return new Array(50_000_000).fill(1).length",
        "return new ArrayBuffer(64 * 1024 * 1024).byteLength",
        "return 'x'.repeat(100_000_000).length",
    ] {
        let execution = run_with(code, TestHost::new(), limits.clone()).await;
        let error = execution.returned().unwrap_err();
        assert_eq!(error.kind, ErrorKind::Memory, "{code}: {error}");
        assert!(error.message.contains("memory limit"), "{}", error.message);
        assert!(execution.stats.peak_memory_bytes <= 16 * 1024 * 1024);
    }
    assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cyclic_garbage_is_collected_long_before_the_heap_limit() {
    // Reference counting cannot free a cycle; the cycle collector must still run often
    // enough that more cyclic garbage than the limit, over a run, never reaches it.
    let limits = Limits {
        memory_bytes: 16 * 1024 * 1024,
        ..quick_limits()
    };
    let code = "let n = 0;\n\
        for (let i = 0; i < 6_000; i++) {\n\
          const a: any = { pad: 'x'.repeat(4000) + i }; const b: any = { a }; a.b = b; n += a.b.a.pad.length;\n\
        }\n\
        return n > 0;";
    let execution = run_with(code, TestHost::new(), limits).await;
    assert_eq!(
        execution.returned().ok(),
        Some(Some(Value::Bool(true))),
        "{execution:?}"
    );
    assert!(execution.stats.peak_memory_bytes <= 16 * 1024 * 1024);
}

#[tokio::test(flavor = "multi_thread")]
async fn deep_recursion_hits_the_stack_limit() {
    let code = "function down(n: number): number { return down(n + 1) + 1; }\nreturn down(0);";
    let error = run(code).await.returned().unwrap_err();
    assert_eq!(error.kind, ErrorKind::Limit);
    assert!(error.message.contains("stack depth"), "{}", error.message);
    assert_eq!(error.location.unwrap().line, 1);
    let stack = error.stack.unwrap();
    assert!(stack.lines().count() < 20, "collapsed stack: {stack}");
    assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_return_value_is_truncated_but_stays_json() {
    let limits = Limits {
        max_result_bytes: 10_000,
        ..quick_limits()
    };
    let code = "return Array.from({ length: 100_000 }, (_, i) => ({ id: i, name: 'row ' + i }));";
    let execution = run_with(code, TestHost::new(), limits.clone()).await;
    let value = execution.returned().unwrap().unwrap();
    let text = serde_json::to_string(&value).unwrap();
    assert!(text.len() < 12_000, "{} bytes", text.len());
    let items = value.as_array().unwrap();
    let marker = items.last().unwrap().as_str().unwrap();
    assert!(marker.contains("more items"), "{marker}");
    assert!(execution.notes.iter().any(|n| n.contains("truncated")));

    let execution = run_with("return 'z'.repeat(1_000_000)", TestHost::new(), limits).await;
    let Value::String(text) = execution.returned().unwrap().unwrap() else {
        panic!("a string");
    };
    assert!(text.len() < 11_000);
    assert!(text.contains("more characters"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_log_flood_is_cut_and_counted() {
    let limits = Limits {
        max_log_bytes: 1_000,
        ..quick_limits()
    };
    let code = "for (let i = 0; i < 20_000; i++) console.log('line', i, { i }); return 'ok';";
    let execution = run_with(code, TestHost::new(), limits).await;
    assert_eq!(execution.returned().unwrap(), Some(Value::from("ok")));
    let kept: usize = execution.logs.iter().map(|l| l.message.len()).sum();
    assert!(kept <= 1_100, "{kept} bytes of logs kept");
    let note = execution
        .notes
        .iter()
        .find(|n| n.contains("log limit"))
        .unwrap();
    assert!(note.contains("later entries were dropped"), "{note}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tool_call_limit_ends_the_execution_even_if_caught() {
    let limits = Limits {
        max_tool_calls: 10,
        ..quick_limits()
    };
    let code = r#"
for (let i = 0; i < 20; i++) {
  try { await tools.test.echo({ i }); } catch (e) { console.log(e.kind, e.tool); }
}
return "finished anyway";
"#;
    let execution = run_with(code, TestHost::new(), limits).await;
    // The refused call's error says which limit refused it, and of which tool.
    assert!(
        execution
            .logs
            .iter()
            .any(|log| log.message == "limit test.echo"),
        "{:?}",
        execution.logs
    );
    let error = execution.returned().unwrap_err();
    assert_eq!(error.kind, ErrorKind::Limit);
    assert!(
        error.message.contains("more than 10 tool calls"),
        "{}",
        error.message
    );
    assert_eq!(execution.calls.len(), 10);
    assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_beyond_the_concurrency_limit_wait_their_turn() {
    let host = TestHost::new();
    let limits = Limits {
        max_concurrent_calls: 4,
        ..quick_limits()
    };
    let code = "const r = await Promise.all(Array.from({ length: 20 }, () => tools.test.sleep({ ms: 30 })));\nreturn r.length;";
    let execution = run_with(code, host.clone(), limits).await;
    assert_eq!(execution.returned().unwrap(), Some(Value::from(20)));
    assert_eq!(host.counters.max_in_flight.load(Ordering::SeqCst), 4);
    assert_eq!(host.counters.started.load(Ordering::SeqCst), 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_execution_cancels_it() {
    let host = TestHost::new();
    let execution = run_with("await tools.test.hang({})", host.clone(), quick_limits());
    let outcome = tokio::time::timeout(Duration::from_millis(200), execution).await;
    assert!(outcome.is_err(), "the hang tool never answers");
    // The thread notices within its polling interval and cancels the host call.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(host.counters.in_flight.load(Ordering::SeqCst), 0);
    assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn many_executions_in_parallel_stay_isolated() {
    let runs = (0..16).map(|i| async move {
        let code = format!(
            "globalThis.mine = {i}; await tools.test.sleep({{ ms: 10 }}); return globalThis.mine;"
        );
        run(&code).await.returned().unwrap().unwrap()
    });
    let values = futures::future::join_all(runs).await;
    for (i, value) in values.into_iter().enumerate() {
        assert_eq!(value, Value::from(i));
    }
}

/// The result cap is in bytes of UTF-8, though the engine counts UTF-16 units: a value of
/// three-byte characters must not come out three times over.
#[tokio::test(flavor = "multi_thread")]
async fn the_result_cap_holds_for_multibyte_text() {
    let limits = quick_limits();
    let execution = run_with(
        "return ['€'.repeat(200000), '😀'.repeat(50000)];",
        TestHost::new(),
        limits.clone(),
    )
    .await;
    let value = execution
        .result
        .expect("truncated, not failed")
        .expect("a value");
    let bytes = serde_json::to_string(&value).expect("JSON").len();
    assert!(
        bytes <= limits.max_result_bytes,
        "{bytes} bytes against a cap of {}",
        limits.max_result_bytes
    );
    assert!(
        execution.notes.iter().any(|n| n.contains("truncated")),
        "{:?}",
        execution.notes
    );
}

/// Describing a thrown value never walks it whole: a sparse array of 2^32 - 2 items would
/// keep `JSON.stringify` busy in native code, out of reach of the CPU limit.
#[tokio::test(flavor = "multi_thread")]
async fn a_thrown_sparse_array_is_described_quickly() {
    let started = Instant::now();
    let execution = run("const v = []; v[2 ** 32 - 2] = 1; throw v;").await;
    let error = execution.returned().unwrap_err();
    assert_eq!(error.kind, ErrorKind::Runtime);
    assert!(error.message.contains("more items"), "{}", error.message);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// Arguments waiting on the Rust side of the bridge count against the memory limit: calls
/// of 8 MB each were once held outside every budget (300 of them took 2.1 GB). Without the
/// accounting these 30 would wait on the hanging tool until the wall clock; with it, the
/// heap and the held arguments together pass the limit after a few.
#[tokio::test(flavor = "multi_thread")]
async fn queued_call_arguments_count_against_the_memory_limit() {
    let limits = Limits {
        memory_bytes: 64 * 1024 * 1024,
        ..quick_limits()
    };
    let code = "const big = 'x'.repeat(8e6);\n\
                const calls = [];\n\
                for (let i = 0; i < 30; i++) calls.push(tools.test.hang({ big, i }));\n\
                await Promise.all(calls);";
    let started = Instant::now();
    let execution = run_with(code, TestHost::new(), limits).await;
    let error = execution.returned().unwrap_err();
    assert_eq!(error.kind, ErrorKind::Memory, "{}", error.message);
    assert!(
        execution.calls.len() < 10,
        "{} calls were admitted",
        execution.calls.len()
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_still_serving().await;
}

/// A tool answer too large for what is left of the heap fails as memory, before parsing.
#[tokio::test(flavor = "multi_thread")]
async fn a_result_larger_than_the_heap_left_is_a_memory_error() {
    let limits = Limits {
        memory_bytes: 32 * 1024 * 1024,
        ..quick_limits()
    };
    let code = "return (await tools.test.big({ bytes: 48 * 1024 * 1024 })).length;";
    let execution = run_with(code, TestHost::new(), limits).await;
    let error = execution.returned().unwrap_err();
    assert_eq!(error.kind, ErrorKind::Memory, "{}", error.message);
    assert!(
        error.message.contains("result of tools.test.big"),
        "{}",
        error.message
    );
}

/// Object keys count against the result cap too: a 300,000-character key is cut like a
/// string.
#[tokio::test(flavor = "multi_thread")]
async fn long_object_keys_are_cut_to_the_result_cap() {
    let limits = quick_limits();
    let execution = run_with(
        "return { ['k'.repeat(300000)]: 1, short: 2 };",
        TestHost::new(),
        limits.clone(),
    )
    .await;
    let value = execution.returned().expect("a value").expect("not empty");
    let bytes = serde_json::to_string(&value).expect("JSON").len();
    assert!(bytes <= limits.max_result_bytes, "{bytes} bytes");
    assert_eq!(value["short"], 2, "{value}");
}
