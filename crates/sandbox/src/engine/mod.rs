//! One execution on its own thread: a fresh QuickJS runtime, the prelude, the agent's code,
//! and the event loop that settles tool calls and timers until the snippet's promise does.
//!
//! `mod.rs` builds the runtime, then binds it to the job (limits, host, clocks) and runs it;
//! `prelude.rs` installs the prelude and the host functions before the job is known;
//! `bridge.rs` holds the state shared with the host functions (calls, timers, logs);
//! `event_loop.rs` drives the snippet; `natives.rs` has the pure conversions;
//! `job_clock.rs` gives `Math.random` and `performance` that begin with the job;
//! `rejections.rs` the rejection tracker.

mod bridge;
mod event_loop;
mod job_clock;
mod natives;
mod prelude;
mod rejections;

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rquickjs::{Context, Runtime};
use tokio::runtime::Handle;

use crate::alloc::{HeapGauge, LimitedAllocator};
use crate::compile::Compiled;
use crate::console::LogBuffer;
use crate::error::{ErrorKind, ExecutionError};
use crate::host::{ToolAnswer, ToolError, ToolHost};
use crate::limits::Limits;
use crate::output::{Execution, ExecutionStats};
use crate::serialize::{identity, Intrinsics};
use bridge::Shared;
use event_loop::EventLoop;
use rejections::{describe_reason, Rejections};

const PRELUDE: &str = include_str!("../prelude.js");

/// Pending timers one execution may hold: they live in the host's memory, outside the
/// JavaScript heap limit, so they need their own bound.
const MAX_TIMERS: usize = 10_000;

/// Why the interrupt handler stopped the interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Cpu,
    Wall,
    Cancelled,
}

type CallOutcome = (u64, Result<ToolAnswer, ToolError>);

/// What ends an execution from outside its code: cancellation, the CPU and the wall-clock
/// limits. Asked by the interrupt handler and by the Rust work done for the snippet
/// (serialising its value and its logs), so neither outruns the limits.
struct Watch {
    stop: Rc<Cell<Option<Stop>>>,
    heap: Rc<HeapGauge>,
    cancel: Arc<AtomicBool>,
    cpu_start: Duration,
    cpu_limit: Duration,
    deadline: Instant,
}

impl Watch {
    /// Whether the execution must stop now; records why.
    fn expired(&self) -> bool {
        // Once the heap limit refused an allocation the execution is over, even if the
        // snippet catches the error: retrying a huge allocation in a loop would otherwise
        // burn CPU inside native code, where the CPU limit cannot look.
        if self.stop.get().is_some() || self.heap.refused.get() {
            return true;
        }
        let reason = if self.cancel.load(Ordering::Relaxed) {
            Some(Stop::Cancelled)
        } else if thread_cpu_time().saturating_sub(self.cpu_start) > self.cpu_limit {
            Some(Stop::Cpu)
        } else if Instant::now() >= self.deadline {
            Some(Stop::Wall)
        } else {
            None
        };
        self.stop.set(reason);
        reason.is_some()
    }
}

/// Everything one execution needs, owned by its thread.
pub(crate) struct Job {
    pub compiled: Compiled,
    pub host: Arc<dyn ToolHost>,
    pub limits: Limits,
    pub handle: Handle,
    pub cancel: Arc<AtomicBool>,
}

/// Share of the heap limit the heap may reach before QuickJS first looks for cycles.
///
/// Reference counting frees everything else at once; the cycle collector, by default, runs
/// from 256 KiB of heap on and again at every half as much more, each time walking every
/// live object. An execution's runtime lives for one snippet, so looking first at an eighth
/// of the limit spares a snippet that builds a few MiB of results (10,000 parsed orders)
/// several walks over them, and still collects cycles long before the limit.
const GC_THRESHOLD_SHARE: usize = 8;

fn set_gc_threshold(ctx: &rquickjs::Ctx<'_>, memory_bytes: usize) {
    let threshold = (memory_bytes / GC_THRESHOLD_SHARE).max(256 * 1024);
    // SAFETY: the context's own runtime, on its thread; the threshold is a plain number.
    unsafe {
        rquickjs::qjs::JS_SetGCThreshold(
            rquickjs::qjs::JS_GetRuntime(ctx.as_raw().as_ptr()),
            threshold as _,
        );
    }
}

/// The execution thread's whole life: builds a runtime, a context and the prelude first,
/// then asks `next` for its one job (`next` may block until it comes; `None`: there is none,
/// or it was already answered), runs it and hands its [`Execution`] to `deliver` as soon as
/// it is known. Freeing the runtime happens after, off the caller's critical path.
///
/// Nothing of the job is known while the sandbox is built, so building it ahead of the code
/// (in a waiting worker) leaves nothing the job could tell apart from building it after:
/// the limits, the host and the clocks all start with the job.
pub(crate) fn serve(next: impl FnOnce() -> Option<Job>, deliver: &dyn Fn(Execution)) {
    let gauge = Rc::new(HeapGauge::default());
    let runtime = match Runtime::new_with_alloc(LimitedAllocator::new(gauge.clone())) {
        Ok(runtime) => LeakOnUnwind::new(runtime),
        Err(e) => {
            return answer_without_engine(
                next,
                deliver,
                format!("could not start the JavaScript engine: {e}"),
            )
        }
    };
    // The prelude's own stack; the snippet runs under its limit's (see `start_snippet`).
    runtime.set_max_stack_size(Limits::default().stack_bytes);
    let watch: Rc<OnceCell<Rc<Watch>>> = Rc::default();
    {
        let watch = watch.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || {
            watch.get().is_some_and(|watch| watch.expired())
        })));
    }
    let rejections = Rc::new(RefCell::new(Rejections::default()));
    {
        let rejections = rejections.clone();
        // QuickJS calls this in the middle of its own work (rejecting, or attaching a
        // handler). It must run no JavaScript (a getter could reject another promise and
        // re-enter it) and must not panic: the reason is read first, without running code,
        // and the record is skipped rather than borrowed twice.
        runtime.set_host_promise_rejection_tracker(Some(Box::new(
            move |ctx, promise, reason, is_handled| {
                let promise = identity(&promise);
                let description = (!is_handled).then(|| describe_reason(&ctx, &reason));
                if let Ok(mut rejections) = rejections.try_borrow_mut() {
                    rejections.track(promise, description);
                }
            },
        )));
    }
    let context = match Context::full(&runtime) {
        Ok(context) => LeakOnUnwind::new(context),
        Err(e) => {
            return answer_without_engine(
                next,
                deliver,
                format!("could not create a JavaScript context: {e}"),
            )
        }
    };
    let execution = context.with(|ctx| {
        let binding: prelude::Binding = Rc::default();
        let bridge = prelude::install(&ctx, &binding);
        let job = next()?;
        let started = Instant::now();
        let cpu_start = thread_cpu_time();
        let mut execution = run_job(
            ctx,
            job,
            bridge,
            &binding,
            &watch,
            &gauge,
            &rejections,
            started,
            cpu_start,
        );
        execution.stats = ExecutionStats {
            wall_time: started.elapsed(),
            cpu_time: thread_cpu_time().saturating_sub(cpu_start),
            peak_memory_bytes: gauge.peak.get(),
        };
        Some(execution)
    });
    if let Some(execution) = execution {
        deliver(execution);
    }
    drop(context);
    drop(runtime);
}

/// The engine could not be built: the job, once it comes, gets that as its error.
fn answer_without_engine(
    next: impl FnOnce() -> Option<Job>,
    deliver: &dyn Fn(Execution),
    message: String,
) {
    if next().is_some() {
        deliver(internal_failure(message));
    }
}

/// Binds the prepared context to `job` (its limits, host and clocks) and runs it.
#[allow(clippy::too_many_arguments)]
fn run_job<'js>(
    ctx: rquickjs::Ctx<'js>,
    job: Job,
    bridge: rquickjs::Result<rquickjs::Object<'js>>,
    binding: &prelude::Binding<'js>,
    watch_slot: &OnceCell<Rc<Watch>>,
    gauge: &Rc<HeapGauge>,
    rejections: &Rc<RefCell<Rejections>>,
    started: Instant,
    cpu_start: Duration,
) -> Execution {
    gauge.limit.set(job.limits.memory_bytes);
    set_gc_threshold(&ctx, job.limits.memory_bytes);
    let stop = Rc::new(Cell::new(None::<Stop>));
    let deadline = started + job.limits.wall_time;
    let watch = Rc::new(Watch {
        stop: stop.clone(),
        heap: gauge.clone(),
        cancel: job.cancel.clone(),
        cpu_start,
        cpu_limit: job.limits.cpu_time,
        deadline,
    });
    let _ = watch_slot.set(watch.clone());
    let intrinsics = bridge
        .as_ref()
        .ok()
        .and_then(|bridge| Intrinsics::from_prelude(bridge).ok())
        .map(Rc::new);
    let (tx, rx) = mpsc::channel();
    let shared = Rc::new(Shared {
        catalog: job.host.names(),
        host: job.host.clone(),
        limits: job.limits.clone(),
        handle: job.handle.clone(),
        started,
        time_origin_ms: job_clock::wall_clock_ms(),
        random: job_clock::JobRandom::from_os(),
        tx,
        next_call: Cell::new(0),
        pending: RefCell::new(HashMap::new()),
        queued: RefCell::new(VecDeque::new()),
        in_flight: Cell::new(0),
        ready: RefCell::new(VecDeque::new()),
        tasks: RefCell::new(HashMap::new()),
        local: RefCell::new(HashMap::new()),
        timers: RefCell::new(BinaryHeap::new()),
        sleepers: RefCell::new(HashMap::new()),
        logs: RefCell::new(LogBuffer::new(job.limits.max_log_bytes)),
        calls: RefCell::new(Vec::new()),
        fatal: RefCell::new(None),
        gauge: gauge.clone(),
        watch: watch.clone(),
        intrinsics: RefCell::new(intrinsics),
    });
    let _ = binding.set(shared.clone());
    let mut event_loop = EventLoop {
        ctx: ctx.clone(),
        shared: shared.clone(),
        rx,
        stop: stop.clone(),
        gauge: gauge.clone(),
        deadline,
        cancel: job.cancel.clone(),
        compiled: &job.compiled,
        main_promise: Cell::new(0),
    };
    let outcome = event_loop.run(bridge);
    let abandoned = shared.shutdown();
    let (logs, mut notes) = shared.logs.replace(LogBuffer::new(0)).finish();
    if abandoned > 0 {
        notes.push(format!(
            "{abandoned} tool call(s) had not answered when the execution ended and were \
             cancelled (a missing `await`?)"
        ));
    }
    notes.extend(rejections.borrow().notes(event_loop.main_promise.get()));
    let calls = shared.calls.take();
    let result = match outcome {
        Ok((value, truncated)) => {
            if truncated {
                notes.push(format!(
                    "The returned value was larger than the result limit of {} bytes and was \
                     truncated (it is still valid JSON). Return less: select fields, slice, \
                     or aggregate in the snippet.",
                    job.limits.max_result_bytes
                ));
            }
            Ok(value)
        }
        Err(error) => Err(error),
    };
    Execution {
        result,
        logs,
        calls,
        notes,
        stats: ExecutionStats::default(),
    }
}

/// Holds the runtime (or context) of an execution: freed as usual, but leaked instead when a
/// panic unwinds past it. A panic can leave JavaScript values behind that nothing will free
/// (QuickJS then aborts the process when the runtime is freed), and the runtime is never used
/// again anyway: the panic boundary in `lib.rs` turns the panic into this execution's error.
struct LeakOnUnwind<T>(std::mem::ManuallyDrop<T>);

impl<T> LeakOnUnwind<T> {
    fn new(value: T) -> Self {
        LeakOnUnwind(std::mem::ManuallyDrop::new(value))
    }
}

impl<T> std::ops::Deref for LeakOnUnwind<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> Drop for LeakOnUnwind<T> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            // SAFETY: dropped once, here; the value is never used after.
            unsafe { std::mem::ManuallyDrop::drop(&mut self.0) };
        }
    }
}

fn internal(message: &str) -> ExecutionError {
    ExecutionError::new(ErrorKind::Internal, message, None)
}

fn internal_failure(message: String) -> Execution {
    Execution {
        result: Err(internal(&message)),
        logs: Vec::new(),
        calls: Vec::new(),
        notes: Vec::new(),
        stats: ExecutionStats::default(),
    }
}

fn eval_options(filename: &str) -> rquickjs::context::EvalOptions {
    let mut options = rquickjs::context::EvalOptions::default();
    options.global = true;
    options.strict = true;
    options.backtrace_barrier = true;
    options.filename = Some(filename.to_string());
    options
}

fn stopped(stop: Stop, limits: &Limits) -> ExecutionError {
    let message = match stop {
        Stop::Cpu => format!(
            "CPU time limit exceeded: the snippet computed for more than {:?} (an endless loop?)",
            limits.cpu_time
        ),
        Stop::Wall => format!(
            "wall-clock time limit exceeded: the execution took longer than {:?} (a tool or \
             promise that never answered, or too much work for one execution)",
            limits.wall_time
        ),
        Stop::Cancelled => "the execution was cancelled by the caller".to_string(),
    };
    ExecutionError::new(ErrorKind::Timeout, message, None)
}

fn out_of_memory(limits: &Limits) -> ExecutionError {
    ExecutionError::new(
        ErrorKind::Memory,
        format!(
            "memory limit exceeded: the snippet's heap would grow past {} MiB",
            limits.memory_bytes / (1024 * 1024)
        ),
        None,
    )
}

/// CPU time consumed by the calling thread.
fn thread_cpu_time() -> Duration {
    let mut spec = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `spec` is a valid out-pointer; the clock id is a constant Linux provides.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut spec) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(spec.tv_sec as u64, spec.tv_nsec as u32)
}
