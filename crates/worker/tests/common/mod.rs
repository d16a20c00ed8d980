//! Shared helpers for the worker tests: a pool of this crate's own worker binary, the
//! sandbox's test host (the demo tools plus a `test` namespace that sleeps, hangs, fails
//! and echoes), and the switch for the native `__test` hooks.
#![allow(dead_code)]

use std::sync::{Arc, Once};
use std::time::Duration;

use codemode_sandbox::{Execution, Limits};
use codemode_worker::{PoolOptions, WorkerPool, TEST_HOOKS_ENV};

#[path = "../../../sandbox/tests/common/mod.rs"]
pub mod sandbox_common;

pub use sandbox_common::TestHost;

/// A secret in the gateway's environment that no worker may read.
pub const SECRET_NAME: &str = "CODEMODE_TEST_GATEWAY_SECRET";
pub const SECRET_VALUE: &str = "s3cr3t-only-the-gateway-knows";

static ENV: Once = Once::new();

/// Sets the gateway-side environment once per test binary, before any pool starts.
pub fn gateway_env() {
    ENV.call_once(|| {
        std::env::set_var(TEST_HOOKS_ENV, "1");
        std::env::set_var(SECRET_NAME, SECRET_VALUE);
    });
}

pub fn pool_options() -> PoolOptions {
    gateway_env();
    let mut options = PoolOptions::new(env!("CARGO_BIN_EXE_codemode-worker"), Vec::new());
    options.test_hooks = true;
    options
}

pub fn pool() -> WorkerPool {
    WorkerPool::new(pool_options())
}

pub fn quick_limits() -> Limits {
    Limits {
        cpu_time: Duration::from_millis(500),
        wall_time: Duration::from_secs(5),
        ..Limits::default()
    }
}

pub async fn run(pool: &WorkerPool, code: &str) -> Execution {
    pool.execute(code, TestHost::new(), quick_limits()).await
}

pub fn host() -> Arc<TestHost> {
    TestHost::new()
}

/// The error message of a failed execution; panics on success.
pub fn error_of(execution: &Execution) -> String {
    match &execution.returned() {
        Err(error) => error.message.clone(),
        Ok(value) => panic!("expected a failure, got {value:?}"),
    }
}
