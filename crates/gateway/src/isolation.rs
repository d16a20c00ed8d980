//! Where snippets run: in worker processes (the [`WorkerPool`]) or, as an explicit opt-in
//! for trusted embedding, in the gateway's own process. Also the count of executions in
//! flight, so a shutdown can drain them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use codemode_sandbox::{ErrorKind, Execution, ExecutionError, Limits, Sandbox, ToolHost};
use codemode_worker::{PoolOptions, WorkerPool};
use tokio::sync::{watch, Semaphore};

/// How executions are isolated from the gateway.
#[derive(Debug, Clone)]
pub enum Isolation {
    /// Each execution in a fresh, locked-down worker process (`codemode __worker`), from a
    /// warm pool. A crash, a runaway or an escape attempt costs that worker only.
    Workers(PoolOptions),
    /// In the gateway's own process, on a thread of its own. Only the sandbox's walls stand
    /// between a snippet and the gateway's memory, environment and credentials: for trusted
    /// embedding and tests, never for code from a model you do not control.
    InProcess,
}

pub(crate) enum Executor {
    Pool(WorkerPool),
    /// The semaphore bounds snippets running at once (each holds a thread and a heap).
    InProcess(Semaphore),
}

impl Executor {
    /// `limits` are those every execution runs with: the pool's workers get rlimits to match.
    pub fn new(isolation: &Isolation, limits: &Limits, max_concurrent: usize) -> Executor {
        match isolation {
            Isolation::Workers(options) => Executor::Pool(WorkerPool::new(PoolOptions {
                limits: limits.clone(),
                ..options.clone()
            })),
            Isolation::InProcess => Executor::InProcess(Semaphore::new(max_concurrent.max(1))),
        }
    }

    pub async fn run(&self, code: &str, host: Arc<dyn ToolHost>, limits: Limits) -> Execution {
        match self {
            Executor::Pool(pool) => pool.execute(code, host, limits).await,
            Executor::InProcess(permits) => {
                // The semaphore is never closed, so acquiring only fails if it were; then
                // running unthrottled is the better failure.
                let _permit = permits.acquire().await.ok();
                Sandbox::execute(code, host, limits).await
            }
        }
    }

    pub fn pool(&self) -> Option<&WorkerPool> {
        match self {
            Executor::Pool(pool) => Some(pool),
            Executor::InProcess(_) => None,
        }
    }
}

/// Executions in flight, and whether new ones are still accepted.
pub(crate) struct InFlight {
    count: watch::Sender<usize>,
    closing: AtomicBool,
}

impl Default for InFlight {
    fn default() -> Self {
        InFlight {
            count: watch::channel(0).0,
            closing: AtomicBool::new(false),
        }
    }
}

impl InFlight {
    /// Counts an execution until the guard drops; `None` once the gateway is draining.
    pub fn enter(self: &Arc<Self>) -> Option<InFlightGuard> {
        if self.closing.load(Ordering::Acquire) {
            return None;
        }
        self.count.send_modify(|n| *n += 1);
        Some(InFlightGuard(self.clone()))
    }

    /// True once [`Self::drain`] has begun.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Stops accepting executions and waits up to `patience` for those in flight; true when
    /// they all finished.
    pub async fn drain(&self, patience: Duration) -> bool {
        self.closing.store(true, Ordering::Release);
        let mut count = self.count.subscribe();
        tokio::time::timeout(patience, count.wait_for(|n| *n == 0))
            .await
            .is_ok_and(|waited| waited.is_ok())
    }
}

pub(crate) struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.count.send_modify(|n| *n = n.saturating_sub(1));
    }
}

pub(crate) fn shutting_down() -> Execution {
    Execution::failed(ExecutionError::new(
        ErrorKind::Internal,
        "Unavailable: the gateway is shutting down and runs no new code; retry against a \
         running gateway",
        None,
    ))
}
