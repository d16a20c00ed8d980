//! A host for the sandbox's tests: the demo tools plus a `test` namespace whose tools sleep,
//! hang, fail and echo, and count what the sandbox did with them.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use codemode_demo::DemoHost;
use codemode_sandbox::{
    Execution, Limits, Sandbox, ToolCall, ToolError, ToolFuture, ToolHost, ToolNames,
};
use serde_json::{json, Value};

#[derive(Default)]
pub struct Counters {
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    pub started: AtomicUsize,
    /// Calls whose future was dropped before it finished (cancelled by the sandbox).
    pub dropped: AtomicUsize,
}

pub struct TestHost {
    pub counters: Arc<Counters>,
    catalog: Arc<ToolNames>,
}

impl TestHost {
    pub fn new() -> Arc<TestHost> {
        let mut catalog = (*DemoHost::new().names()).clone();
        for name in ["sleep", "hang", "fail", "echo", "big", "get-sum"] {
            catalog.add_tool("test", name);
        }
        catalog.add_root_function("$ping");
        Arc::new(TestHost {
            counters: Arc::default(),
            catalog: Arc::new(catalog),
        })
    }
}

/// Counts a call in flight until it is dropped, finished or not.
struct InFlight {
    counters: Arc<Counters>,
    finished: bool,
}

impl InFlight {
    fn new(counters: Arc<Counters>) -> Self {
        counters.started.fetch_add(1, Ordering::SeqCst);
        let now = counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        counters.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight {
            counters,
            finished: false,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.counters.in_flight.fetch_sub(1, Ordering::SeqCst);
        if !self.finished {
            self.counters.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl ToolHost for TestHost {
    fn names(&self) -> Arc<ToolNames> {
        self.catalog.clone()
    }

    fn call(&self, call: ToolCall) -> ToolFuture {
        if call.namespace != "test" && !call.namespace.is_empty() {
            let outcome = DemoHost::call_sync(&call.namespace, &call.name, &call.args_value());
            return Box::pin(std::future::ready(outcome));
        }
        let counters = self.counters.clone();
        Box::pin(async move {
            let mut guard = InFlight::new(counters);
            let args = call.args_value();
            let outcome = match call.name.as_str() {
                "sleep" => {
                    let ms = args["ms"].as_u64().unwrap_or(10);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    Ok(json!({ "slept": ms }))
                }
                "hang" => std::future::pending().await,
                "fail" => Err(ToolError::new(
                    args["message"].as_str().unwrap_or("it failed").to_string(),
                )),
                "echo" | "get-sum" => Ok(args),
                "big" => {
                    let bytes = args["bytes"].as_u64().unwrap_or(1024) as usize;
                    Ok(Value::String("y".repeat(bytes)))
                }
                "$ping" => Ok(json!("pong")),
                other => Err(ToolError::new(format!("no test tool {other}"))),
            };
            guard.finished = true;
            outcome
        })
    }
}

pub fn quick_limits() -> Limits {
    Limits {
        cpu_time: Duration::from_millis(500),
        wall_time: Duration::from_secs(5),
        ..Limits::default()
    }
}

pub async fn run(code: &str) -> Execution {
    Sandbox::execute(code, TestHost::new(), quick_limits()).await
}

pub async fn run_with(code: &str, host: Arc<TestHost>, limits: Limits) -> Execution {
    Sandbox::execute(code, host, limits).await
}

/// The value of a successful execution; panics with the error otherwise.
pub async fn value(code: &str) -> Value {
    let execution = run(code).await;
    match execution.returned() {
        Ok(Some(value)) => value,
        Ok(None) => Value::Null,
        Err(error) => panic!("snippet failed: {error}\n--- snippet:\n{code}"),
    }
}

/// Proves the sandbox still serves after whatever the test did.
pub async fn assert_still_serving() {
    assert_eq!(value("return 40 + 2").await, json!(42));
}
