//! [`WorkerPool`]: warm worker processes, one execution each, with a cap on how many run
//! at once and on how many wait. Workers are locked down with rlimits a little above the
//! limits the pool's executions run with ([`PoolOptions::limits`], via [`Backstop`]).

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use codemode_sandbox::{ErrorKind, Execution, ExecutionError, Limits, ToolHost};
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::backstop::Backstop;
use crate::error::SpawnError;
use crate::fork_server::ForkServer;
use crate::process::WorkerProcess;
use crate::supervise::{supervise, Supervised};

/// The gateway's environment variable that, together with [`PoolOptions::test_hooks`],
/// gives workers the `__test` namespace. Never set it in production.
pub const TEST_HOOKS_ENV: &str = "CODEMODE_WORKER_TEST_HOOKS";

/// How the pool runs workers.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Workers kept started and waiting, so an execution does not pay for a process start.
    pub size: usize,
    /// Executions running at once (each in its own worker).
    pub max_workers: usize,
    /// Executions waiting for a free worker; beyond, `execute` answers "busy" at once.
    pub max_queued: usize,
    /// The worker executable and its arguments (`codemode __worker`).
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// How long a new worker may take to greet.
    pub spawn_timeout: Duration,
    /// The limits executions will run with (the gateway sets its own). Warm workers get
    /// RLIMIT_CPU and RLIMIT_AS from them ([`Backstop::for_limits`]), so the kernel stops
    /// a worker only after the sandbox's own limit had its chance. An execution whose limits
    /// need more than that gets a worker of its own started for it (see
    /// [`WorkerPool::execute`]).
    pub limits: Limits,
    /// Tests only: give workers the `__test` namespace of native system-call hooks. Honoured
    /// only when the gateway's environment also has [`TEST_HOOKS_ENV`].
    #[doc(hidden)]
    pub test_hooks: bool,
    /// Fork workers from a pre-initialised template process (`program args --zygote`)
    /// instead of starting each one (see `fork_server.rs`). When the template cannot start
    /// or dies, workers are started directly, as with `false`.
    pub fork_server: bool,
}

impl PoolOptions {
    /// Workers started as `program args…` (e.g. `codemode __worker`).
    pub fn new(program: impl Into<PathBuf>, args: Vec<OsString>) -> PoolOptions {
        PoolOptions {
            size: 2,
            max_workers: 16,
            max_queued: 64,
            program: program.into(),
            args,
            spawn_timeout: Duration::from_secs(10),
            limits: Limits::default(),
            test_hooks: false,
            fork_server: true,
        }
    }

    /// This very executable as `<exe> __worker` (the `codemode` binary).
    pub fn current_exe() -> std::io::Result<PoolOptions> {
        Ok(PoolOptions::new(
            std::env::current_exe()?,
            vec![OsString::from("__worker")],
        ))
    }

    pub(crate) fn test_hooks_enabled(&self) -> bool {
        self.test_hooks && std::env::var_os(TEST_HOOKS_ENV).is_some()
    }
}

/// Runs executions in worker processes. Cheap to clone (all clones share the workers).
///
/// The pool starts warming up on its first execution (a gateway that never runs code never
/// starts a worker). Each worker serves one execution and is then killed; a replacement is
/// started in the background: beside the execution when no other warm worker waits, after
/// it when one does (on two cores a fork beside a running snippet slows it down).
#[derive(Clone)]
pub struct WorkerPool {
    inner: Arc<Inner>,
}

struct Inner {
    options: PoolOptions,
    /// The warm workers' rlimits, from `options.limits`.
    backstop: Backstop,
    idle: Mutex<Vec<WorkerProcess>>,
    /// Warm workers being started in the background.
    starting: AtomicUsize,
    /// One permit per running execution.
    running: Arc<Semaphore>,
    queued: AtomicUsize,
    closed: AtomicBool,
    last_confinement: Mutex<Option<Value>>,
    /// The fork server for workers with the pool's rlimits, started on first need.
    fork_server: tokio::sync::Mutex<ForkServerState>,
}

enum ForkServerState {
    NotStarted,
    Up(Arc<ForkServer>),
    /// It could not start (or died) at this time: workers are started directly for a while.
    Down(Instant),
}

/// How long after the fork server failed the pool tries it again.
const FORK_SERVER_RETRY: Duration = Duration::from_secs(30);

impl WorkerPool {
    pub fn new(options: PoolOptions) -> WorkerPool {
        let permits = options.max_workers.max(1);
        WorkerPool {
            inner: Arc::new(Inner {
                backstop: Backstop::for_limits(&options.limits),
                options,
                idle: Mutex::new(Vec::new()),
                starting: AtomicUsize::new(0),
                running: Arc::new(Semaphore::new(permits)),
                queued: AtomicUsize::new(0),
                closed: AtomicBool::new(false),
                last_confinement: Mutex::new(None),
                fork_server: tokio::sync::Mutex::new(ForkServerState::NotStarted),
            }),
        }
    }

    pub fn options(&self) -> &PoolOptions {
        &self.inner.options
    }

    /// Starts the warm workers now rather than at the first execution. Needs a tokio runtime.
    pub fn warm_up(&self) {
        self.inner.refill();
    }

    /// Starts one worker and reports what its lock-down achieved (the `confinement` of its
    /// greeting), then kills it: for a gateway to say at start which layers are active.
    pub async fn probe(&self) -> Result<Value, SpawnError> {
        let worker = WorkerProcess::spawn(&self.inner.options, self.inner.backstop).await?;
        let report = worker.confinement.clone();
        worker.stop().await;
        Ok(report)
    }

    /// Whether new workers are forked from the fork server now (rather than started).
    pub async fn forks_workers(&self) -> bool {
        matches!(&*self.inner.fork_server.lock().await, ForkServerState::Up(server) if server.is_alive())
    }

    /// Executions running and waiting now.
    pub fn load(&self) -> (usize, usize) {
        let running =
            self.inner.options.max_workers.max(1) - self.inner.running.available_permits();
        (running, self.inner.queued.load(Ordering::Relaxed))
    }

    /// Runs `code` in a worker, as [`codemode_sandbox::Sandbox::execute`] runs it in
    /// process: same limits, same result. Dropping the future kills the worker.
    ///
    /// `limits` are normally [`PoolOptions::limits`]. Limits that need no more than the
    /// warm workers' rlimits (smaller ones, say) run in a warm worker, whose looser backstop
    /// the sandbox's own limits stay well inside. Limits that need more (a larger CPU or heap
    /// limit) are never cut short by the kernel: the execution gets a worker started for it
    /// with rlimits derived from `limits`, and pays for that process start.
    pub async fn execute(&self, code: &str, host: Arc<dyn ToolHost>, limits: Limits) -> Execution {
        if self.inner.closed.load(Ordering::Acquire) {
            return refused(ErrorKind::Internal, "Unavailable: the gateway is shutting down and runs no new code; retry against a running gateway".into());
        }
        let permit = match self.inner.running.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let queued = self.inner.queued.fetch_add(1, Ordering::AcqRel);
                let _unqueue = Unqueue(&self.inner.queued);
                if queued >= self.inner.options.max_queued {
                    return refused(
                        ErrorKind::Limit,
                        format!(
                            "Busy: the gateway is at capacity ({} executions running, {} waiting); retry in a moment",
                            self.inner.options.max_workers, self.inner.options.max_queued
                        ),
                    );
                }
                match self.inner.running.clone().acquire_owned().await {
                    Ok(permit) => permit,
                    Err(_) => {
                        return refused(
                            ErrorKind::Internal,
                            "Unavailable: the worker pool is closed".into(),
                        )
                    }
                }
            }
        };
        // Another worker only when one was dead before the snippet could reach a tool (the
        // warm ones can all go at once, with their fork server).
        let attempts = self.inner.options.size + 2;
        for _attempt in 0..attempts {
            let worker = match self.inner.take_worker(Backstop::for_limits(&limits)).await {
                Ok(worker) => worker,
                Err(error) => {
                    tracing::error!("no worker for an execution: {error}");
                    return refused(
                        ErrorKind::Internal,
                        format!("WorkerError: no sandbox worker could be started: {error}"),
                    );
                }
            };
            // With another warm worker waiting, the replacement is started after this
            // execution rather than beside it: on few cores it would compete with it.
            let spare = !lock(&self.inner.idle).is_empty();
            if !spare {
                self.inner.refill();
            }
            let supervised = supervise(worker, code, host.clone(), limits.clone()).await;
            self.inner.refill();
            match supervised {
                Supervised::Finished(execution) => {
                    drop(permit);
                    return execution;
                }
                Supervised::Unreachable => {
                    tracing::warn!("a worker was gone before it got the code; using another");
                }
            }
        }
        drop(permit);
        refused(
            ErrorKind::Internal,
            format!("WorkerError: {attempts} workers in a row were gone before they got the code"),
        )
    }

    /// Refuses new executions and kills the waiting workers. Running executions finish.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        let idle: Vec<WorkerProcess> = std::mem::take(&mut *lock(&self.inner.idle));
        for worker in idle {
            worker.kill();
        }
        // The template goes once the running executions' workers let go of it.
        if let Ok(mut state) = self.inner.fork_server.try_lock() {
            *state = ForkServerState::Down(Instant::now());
        }
    }
}

impl Inner {
    /// A warm worker if one is alive and `needed` fits its rlimits, else a new one (with
    /// the pool's rlimits, or `needed` if they are larger).
    async fn take_worker(&self, needed: Backstop) -> Result<WorkerProcess, SpawnError> {
        if !self.backstop.covers(&needed) {
            tracing::info!(
                ?needed,
                warm = ?self.backstop,
                "an execution's limits exceed the warm workers' rlimits; starting a worker for it"
            );
            let worker = WorkerProcess::spawn(&self.options, needed).await?;
            self.remember(&worker);
            return Ok(worker);
        }
        loop {
            let candidate = lock(&self.idle).pop();
            let Some(mut worker) = candidate else { break };
            if !worker.has_exited() {
                return Ok(worker);
            }
            tracing::warn!(
                worker = worker.pid,
                "a warm worker died while waiting; discarding it"
            );
            worker.kill();
        }
        self.new_worker(false).await
    }

    /// A fresh worker with the pool's rlimits: forked when the fork server is up, else
    /// started. `warm`: it will wait in the pool, so it may use the wait to warm up.
    async fn new_worker(&self, warm: bool) -> Result<WorkerProcess, SpawnError> {
        if let Some(server) = self.fork_server().await {
            match WorkerProcess::fork(&server, &self.options, warm).await {
                Ok(worker) => {
                    self.remember(&worker);
                    return Ok(worker);
                }
                Err(error) => {
                    tracing::warn!("a forked worker failed ({error}); starting one directly");
                }
            }
        }
        let worker = WorkerProcess::spawn(&self.options, self.backstop).await?;
        self.remember(&worker);
        Ok(worker)
    }

    async fn fork_server(&self) -> Option<Arc<ForkServer>> {
        if !self.options.fork_server {
            return None;
        }
        let mut state = self.fork_server.lock().await;
        match &*state {
            ForkServerState::Up(server) if server.is_alive() => return Some(server.clone()),
            ForkServerState::Down(since) if since.elapsed() < FORK_SERVER_RETRY => return None,
            _ => {}
        }
        match ForkServer::start(&self.options, self.backstop).await {
            Ok(server) => {
                tracing::debug!("worker fork server started");
                *state = ForkServerState::Up(server.clone());
                Some(server)
            }
            Err(error) => {
                tracing::warn!(
                    "the worker fork server could not start ({error}); starting each worker \
                     directly (slower), retrying in {}s",
                    FORK_SERVER_RETRY.as_secs()
                );
                *state = ForkServerState::Down(Instant::now());
                None
            }
        }
    }

    fn remember(&self, worker: &WorkerProcess) {
        let mut last = lock(&self.last_confinement);
        if last.as_ref() != Some(&worker.confinement) {
            tracing::info!(confinement = %worker.confinement, "worker confinement");
            *last = Some(worker.confinement.clone());
        }
    }

    /// Starts background workers until `size` are warm or starting.
    fn refill(self: &Arc<Self>) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        loop {
            let idle = lock(&self.idle).len();
            let starting = self.starting.load(Ordering::Acquire);
            if idle + starting >= self.options.size {
                return;
            }
            if self
                .starting
                .compare_exchange(starting, starting + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                continue;
            }
            let inner = self.clone();
            tokio::spawn(async move {
                let spawned = inner.new_worker(true).await;
                match spawned {
                    Ok(worker) if !inner.closed.load(Ordering::Acquire) => {
                        inner.remember(&worker);
                        lock(&inner.idle).push(worker);
                    }
                    Ok(worker) => worker.kill(),
                    Err(error) => tracing::warn!("a warm worker could not be started: {error}"),
                }
                inner.starting.fetch_sub(1, Ordering::AcqRel);
            });
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropping the processes kills them (`kill_on_drop`, or the fork server's kill).
        lock(&self.idle).clear();
    }
}

struct Unqueue<'a>(&'a AtomicUsize);

impl Drop for Unqueue<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn refused(kind: ErrorKind, message: String) -> Execution {
    Execution::failed(ExecutionError::new(kind, message, None))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
