//! A host whose answers need no runtime (a worker's pipe) has its calls polled on the
//! execution's own thread: answers wake the snippet directly, and everything else about a
//! call (concurrency, errors, the wall clock, cancellation at the end) is as for any host.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use codemode_sandbox::{
    ErrorKind, Limits, Sandbox, ToolCall, ToolError, ToolFuture, ToolHost, ToolNames,
};
use serde_json::{json, Value};

/// Answers from a plain thread after `delay`, through a runtime-free channel.
struct ThreadHost {
    names: Arc<ToolNames>,
    dropped: Arc<AtomicUsize>,
}

impl ThreadHost {
    fn new() -> Arc<ThreadHost> {
        let mut names = ToolNames::new();
        for tool in ["echo", "fail", "hang"] {
            names.add_tool("t", tool);
        }
        Arc::new(ThreadHost {
            names: Arc::new(names),
            dropped: Arc::default(),
        })
    }
}

struct CountDrop(Arc<AtomicUsize>);

impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl ToolHost for ThreadHost {
    fn names(&self) -> Arc<ToolNames> {
        self.names.clone()
    }

    fn call(&self, call: ToolCall) -> ToolFuture {
        let (tx, rx) = futures::channel::oneshot::channel::<Result<Value, ToolError>>();
        let name = call.name.clone();
        let args = call.args_value();
        if name != "hang" {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                let _ = tx.send(match name.as_str() {
                    "fail" => Err(ToolError::new("it failed")),
                    _ => Ok(args),
                });
            });
        } else {
            std::mem::forget(tx);
        }
        let guard = CountDrop(self.dropped.clone());
        Box::pin(async move {
            let _guard = guard;
            rx.await
                .unwrap_or_else(|_| Err(ToolError::new("the answer was dropped")))
        })
    }

    fn answers_without_runtime(&self) -> bool {
        true
    }
}

fn limits() -> Limits {
    Limits {
        wall_time: Duration::from_secs(2),
        ..Limits::default()
    }
}

#[tokio::test]
async fn answers_from_another_thread_reach_the_snippet() {
    let code = "const a = await tools.t.echo({ n: 1 }); \
                const all = await Promise.all([1, 2, 3, 4].map((n) => tools.t.echo({ n }))); \
                let caught = ''; try { await tools.t.fail({}); } catch (e) { caught = e.message; } \
                return { a, all: all.map((x) => x.n), caught }";
    let execution = Sandbox::execute(code, ThreadHost::new(), limits()).await;
    assert_eq!(
        execution.returned().unwrap(),
        Some(
            json!({ "a": { "n": 1 }, "all": [1, 2, 3, 4], "caught": "tools.t.fail failed: it failed" })
        )
    );
    assert_eq!(execution.calls.len(), 6);
}

#[tokio::test]
async fn a_call_that_never_answers_meets_the_wall_clock_and_is_dropped() {
    let host = ThreadHost::new();
    let limits = Limits {
        wall_time: Duration::from_millis(300),
        ..Limits::default()
    };
    let execution = Sandbox::execute("return await tools.t.hang({})", host.clone(), limits).await;
    let error = execution.result.expect_err("the wall clock must end it");
    assert_eq!(error.kind, ErrorKind::Timeout, "{error:?}");
    assert_eq!(host.dropped.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_call_left_unawaited_is_cancelled_when_the_snippet_ends() {
    let host = ThreadHost::new();
    let execution = Sandbox::execute("tools.t.hang({}); return 1", host.clone(), limits()).await;
    assert_eq!(execution.returned().unwrap(), Some(json!(1)));
    assert_eq!(host.dropped.load(Ordering::SeqCst), 1);
    assert!(
        execution.notes.iter().any(|n| n.contains("cancelled")),
        "{:?}",
        execution.notes
    );
}
