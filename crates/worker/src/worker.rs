//! The worker process: `codemode __worker [--cpu-seconds N] [--address-space-bytes B]`.
//! Locks itself down (with those rlimits, from the pool's [`crate::Backstop`]), greets the
//! gateway, runs one execution with tool calls forwarded over the pipe, hands the result
//! back and exits. A worker forked by the fork server (`zygote.rs`) shares everything from
//! its greeting on ([`greet`], [`take_assignment`]) but builds no sandbox of its own.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use codemode_confine::Policy;
use codemode_sandbox::{
    AnswerFuture, Assignment, Limits, Sandbox, ToolAnswer, ToolCall, ToolError, ToolFuture,
    ToolHost, ToolNames,
};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use tokio::sync::oneshot;

use crate::protocol::{
    write_frame_sync, FrameReader, FromWorker, ToWorker, WireOutcome, PROTOCOL_VERSION,
};
use crate::{confinement, hooks};

/// How the worker was started.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerOptions {
    /// Serve the `__test` namespace (see the pool's `test_hooks`).
    pub test_hooks: bool,
    /// RLIMIT_CPU (`--cpu-seconds`); `None`: [`Policy::default`]'s.
    pub cpu_seconds: Option<u64>,
    /// RLIMIT_AS (`--address-space-bytes`); `None`: [`Policy::default`]'s.
    pub address_space_bytes: Option<u64>,
    /// Be the pool's fork server (`--zygote`): a template that forks one locked-down worker
    /// per request (see `zygote.rs`).
    pub zygote: bool,
}

impl WorkerOptions {
    /// The lock-down policy: [`Policy::default`] with the rlimits this worker was given.
    pub(crate) fn policy(&self) -> Policy {
        let default = Policy::default();
        Policy {
            cpu_seconds: self.cpu_seconds.unwrap_or(default.cpu_seconds),
            address_space_bytes: self
                .address_space_bytes
                .unwrap_or(default.address_space_bytes),
            ..default
        }
    }
}

/// Niceness of a worker: below the gateway, so that however many snippets burn CPU, the
/// gateway's own work (answering `tools/list`, relaying calls, other clients) comes first.
pub const WORKER_NICENESS: libc::c_int = 10;

/// Lowers this process's scheduling priority (before the lock-down, which forbids it).
pub(crate) fn yield_to_the_gateway() {
    // SAFETY: setpriority only changes this process's niceness; failure leaves it as it was.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, WORKER_NICENESS);
    }
}

/// The worker's whole life. Call it first thing in `main`, before any thread or async
/// runtime exists: the lock-down must cover every thread the process will have.
pub fn worker_main(options: WorkerOptions) -> ExitCode {
    // Before anything is allocated: a fork server's children inherit the settings.
    crate::heap::tune_malloc();
    if options.zygote {
        return crate::zygote::serve(options);
    }
    die_with_parent();
    yield_to_the_gateway();
    let confinement = match confinement::lock_down(&options.policy()) {
        Ok(report) => report,
        Err(message) => {
            eprintln!("codemode worker: refusing to run code: {message}");
            return ExitCode::from(70);
        }
    };
    ExitCode::from(serve_one(options, confinement))
}

/// A locked-down worker's one execution, from the greeting on; returns the exit status
/// when it ends early (it exits by itself once the result is handed back).
pub(crate) fn serve_one(options: WorkerOptions, confinement: serde_json::Value) -> u8 {
    // Timers only: an I/O driver would want system calls the lock-down forbids
    // (`socketpair` for the signal driver), and tool answers arrive through channels.
    let runtime = match new_runtime() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("codemode worker: could not start the async runtime: {error}");
            return 73;
        }
    };
    runtime.block_on(warm_up());
    let stdout = Arc::new(Mutex::new(std::io::stdout()));
    // The execution's sandbox is built before the greeting, so the worker is ready when the
    // pool takes it. Its own thread reads the code from the pipe and writes the result back,
    // so an execution crosses no thread on its way. Nothing of the code is known to the
    // sandbox before it comes.
    let fetch = {
        let stdout = stdout.clone();
        let handle = runtime.handle().clone();
        move || Some(take_assignment(options, stdout, handle, true))
    };
    let building = Sandbox::build(fetch);
    if let Some(failure) = building.failure() {
        eprintln!("codemode worker: {failure}");
        return 73;
    }
    building.wait_until_built();
    if let Err(status) = greet(&stdout, confinement) {
        return status;
    }
    // Tool calls that do not answer at once run here; the sandbox's thread ends the
    // process once it has handed the result back.
    runtime.block_on(std::future::pending::<()>());
    72
}

/// Tells the gateway this worker is ready for its code; `Err`: the exit status.
pub(crate) fn greet(
    stdout: &Mutex<std::io::Stdout>,
    confinement: serde_json::Value,
) -> Result<(), u8> {
    let hello = FromWorker::Hello {
        protocol: PROTOCOL_VERSION,
        pid: std::process::id(),
        confinement,
    };
    write_frame_sync(&mut *lock(stdout), &hello).map_err(|error| {
        eprintln!("codemode worker: could not greet the gateway: {error}");
        71
    })
}

/// On the execution's thread of a worker that greeted: waits for the gateway's code
/// (faulting the heap in meanwhile when `warm`, see `heap.rs`) and makes it the sandbox's
/// assignment, with tool calls going out over `stdout`. A pipe closed without code ends
/// the process (`read_code`).
pub(crate) fn take_assignment(
    options: WorkerOptions,
    stdout: Arc<Mutex<std::io::Stdout>>,
    handle: tokio::runtime::Handle,
    warm: bool,
) -> Assignment {
    let mut input = match PipeInput::stdin() {
        Ok(input) => input,
        Err(error) => {
            eprintln!("codemode worker: could not read the pipe: {error}");
            std::process::exit(72);
        }
    };
    if warm {
        let arrived = |wait| input.readable(wait);
        crate::heap::copy_shared_until(arrived);
        if crate::heap::idle(arrived) {
            crate::heap::fault_in_until(arrived);
        }
    }
    let (code, limits, mut catalog) = read_code(&mut input.frames);
    if options.test_hooks {
        hooks::add_to(&mut catalog);
    }
    let host = Arc::new(PipeHost {
        catalog: Arc::new(catalog),
        stdout: stdout.clone(),
        input: Mutex::new(input),
        pending: Mutex::default(),
        next_id: AtomicU64::new(1),
        test_hooks: options.test_hooks,
    });
    Assignment {
        code,
        host,
        limits,
        handle,
        cancel: Arc::default(),
        span: tracing::Span::none(),
        deliver: Box::new(move |execution| hand_back(&stdout, execution)),
    }
}

/// Writes the result to the gateway and ends the process: nothing of it is reused, and the
/// runtime needs no orderly shutdown.
fn hand_back(stdout: &Mutex<std::io::Stdout>, execution: codemode_sandbox::Execution) {
    let done = FromWorker::done(execution);
    let status = match write_frame_sync(&mut *lock(stdout), &done) {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("codemode worker: could not hand the result back: {error}");
            74
        }
    };
    std::process::exit(status)
}

/// The gateway's first frame, which must be `Execute`; anything else ends the process.
fn read_code(frames: &mut FrameReader<std::fs::File>) -> (String, Limits, ToolNames) {
    match frames.next_frame::<ToWorker>() {
        Ok(Some(ToWorker::Execute {
            code,
            limits,
            catalog,
        })) => (code, limits, ToolNames::from(catalog)),
        // The pool closed the pipe without work (it is shutting down): a normal end.
        Ok(None) => std::process::exit(0),
        Ok(Some(other)) => {
            eprintln!("codemode worker: expected Execute first, got {other:?}");
            std::process::exit(72);
        }
        Err(error) => {
            eprintln!("codemode worker: {error}");
            std::process::exit(72);
        }
    }
}

pub(crate) fn new_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
}

/// Runs a throwaway snippet with a tool call before the worker greets, while it waits in
/// the pool: a fresh process pays for faulting in the compiler's and the engine's code and
/// its first heap pages, and this moves that cost off the agent's execution. Nothing of it
/// survives: every execution gets a new runtime and context.
pub(crate) async fn warm_up() {
    let mut catalog = ToolNames::new();
    catalog.add_tool("warm", "up");
    let host = Arc::new(WarmUpHost(Arc::new(catalog)));
    let code = "const rows = await tools.warm.up({ n: 1 }); \
                return rows.map((r: any) => ({ ...r, seen: true })).length";
    let _ = Sandbox::execute(code, host, Limits::default()).await;
}

struct WarmUpHost(Arc<ToolNames>);

impl ToolHost for WarmUpHost {
    fn names(&self) -> Arc<ToolNames> {
        self.0.clone()
    }

    fn call(&self, _call: ToolCall) -> ToolFuture {
        let rows: Vec<serde_json::Value> = (0..200)
            .map(|i| serde_json::json!({ "id": format!("row_{i}"), "total": i * 3, "tags": ["a", "b"] }))
            .collect();
        Box::pin(async move {
            // Through JSON text, as real answers arrive from the pipe.
            let text = serde_json::to_string(&rows).unwrap_or_default();
            serde_json::from_str(&text).map_err(|e| ToolError::new(e.to_string()))
        })
    }
}

/// The gateway's side of the pipe as the execution's thread reads it. Its buffer is the
/// only one (stdin's own is never used), so when it holds no whole frame, what `poll` says
/// is waiting is what the next read gets.
struct PipeInput {
    frames: FrameReader<std::fs::File>,
}

impl PipeInput {
    fn stdin() -> std::io::Result<PipeInput> {
        use std::os::fd::AsFd;
        let pipe = std::io::stdin().as_fd().try_clone_to_owned()?;
        Ok(PipeInput {
            frames: FrameReader::new(pipe.into()),
        })
    }

    /// Whether more has (begun to) come in within `timeout`.
    fn readable(&self, timeout: Duration) -> bool {
        use std::os::fd::AsFd;
        let mut fds = [PollFd::new(
            self.frames.get_ref().as_fd(),
            PollFlags::POLLIN,
        )];
        // Rounded up: a timer due in half a millisecond is waited for, not spun on.
        let millis = u16::try_from(timeout.as_micros().div_ceil(1000)).unwrap_or(u16::MAX);
        // Readable, hung up or failed: each is for the read to find out.
        matches!(poll(&mut fds, PollTimeout::from(millis)), Ok(n) if n > 0)
    }

    /// Reads what has come in.
    fn fill(&mut self) {
        match self.frames.fill() {
            Ok(true) => {}
            // The gateway is gone: nobody would get a result.
            Ok(false) => std::process::exit(0),
            Err(error) => {
                eprintln!("codemode worker: {error}");
                std::process::exit(75);
            }
        }
    }

    /// The next tool answer already read in. A frame that breaks the rules ends the
    /// process.
    fn answer(&mut self) -> Option<(u64, WireOutcome)> {
        match self.frames.buffered::<ToWorker>()? {
            Ok(ToWorker::ToolResult { id, outcome }) => Some((id, outcome)),
            Ok(other) => {
                eprintln!("codemode worker: unexpected message {other:?}");
                std::process::exit(75);
            }
            Err(error) => {
                eprintln!("codemode worker: {error}");
                std::process::exit(75);
            }
        }
    }
}

/// The sandbox's [`ToolHost`] inside the worker: each call becomes a `ToolCall` frame and
/// waits for its `ToolResult`.
struct PipeHost {
    catalog: Arc<ToolNames>,
    stdout: Arc<Mutex<std::io::Stdout>>,
    /// Read only by the execution's thread, while it waits ([`ToolHost::wait_for_answers`]).
    input: Mutex<PipeInput>,
    pending: Mutex<HashMap<u64, oneshot::Sender<WireOutcome>>>,
    next_id: AtomicU64,
    test_hooks: bool,
}

impl PipeHost {
    /// Hands every answer already read in to its call; whether there was one.
    fn hand_over(&self, input: &mut PipeInput) -> bool {
        let mut any = false;
        while let Some((id, outcome)) = input.answer() {
            if let Some(waiting) = lock(&self.pending).remove(&id) {
                let _ = waiting.send(outcome);
            }
            any = true;
        }
        any
    }
}

impl ToolHost for PipeHost {
    fn names(&self) -> Arc<ToolNames> {
        self.catalog.clone()
    }

    fn call(&self, call: ToolCall) -> ToolFuture {
        let answer = self.answer(call);
        Box::pin(async move {
            match answer.await? {
                ToolAnswer::Value(value) => Ok(value),
                ToolAnswer::Json(raw) => serde_json::from_str(raw.get())
                    .map_err(|e| ToolError::new(format!("the answer is not JSON: {e}"))),
            }
        })
    }

    /// A call waits only for its `ToolResult` frame, which the execution's thread reads in
    /// itself ([`ToolHost::wait_for_answers`]).
    fn answers_without_runtime(&self) -> bool {
        true
    }

    /// The execution's thread reads the answers itself: a frame from the gateway wakes it
    /// directly. Every answer already in is taken, so that answers to concurrent calls
    /// settle together.
    fn wait_for_answers(&self, timeout: Duration) -> bool {
        let mut input = lock(&self.input);
        if !self.hand_over(&mut input) && input.readable(timeout) {
            input.fill();
            self.hand_over(&mut input);
        }
        true
    }

    /// The answer's JSON text as the gateway wrote it, for the engine's `JSON.parse`.
    fn answer(&self, call: ToolCall) -> AnswerFuture {
        if self.test_hooks && call.namespace == hooks::NAMESPACE {
            let outcome = hooks::call(&call.name, &call.args_value(), &self.stdout);
            return Box::pin(std::future::ready(outcome.map(ToolAnswer::Value)));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        let frame = FromWorker::ToolCall {
            id,
            namespace: call.namespace,
            name: call.name,
            args: call.args,
        };
        if let Err(error) = write_frame_sync(&mut *lock(&self.stdout), &frame) {
            lock(&self.pending).remove(&id);
            return Box::pin(std::future::ready(Err(ToolError::new(format!(
                "the call could not reach the gateway: {error}"
            )))));
        }
        Box::pin(async move {
            match rx.await {
                Ok(outcome) => outcome.into_answer(),
                Err(_) => Err(ToolError::new("the gateway dropped the call")),
            }
        })
    }
}

/// If the gateway (or the fork server) dies without killing us, the kernel does.
pub(crate) fn die_with_parent() {
    // SAFETY: prctl(2) with plain integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
}

/// A poisoned lock only means another thread panicked while holding it; the pipe and the
/// map are still usable, and a worker has nothing better to do than carry on.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_rlimits_mean_the_default_policy() {
        assert_eq!(WorkerOptions::default().policy(), Policy::default());
    }

    #[test]
    fn given_rlimits_replace_only_themselves() {
        let options = WorkerOptions {
            cpu_seconds: Some(6),
            address_space_bytes: Some(3 << 30),
            ..WorkerOptions::default()
        };
        assert_eq!(
            options.policy(),
            Policy {
                cpu_seconds: 6,
                address_space_bytes: 3 << 30,
                ..Policy::default()
            }
        );
    }
}
