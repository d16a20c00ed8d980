//! One execution on its own thread: a fresh QuickJS runtime, the prelude, the agent's code,
//! and the event loop that settles tool calls and timers until the snippet's promise does.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::FutureExt as _;
use rquickjs::function::Opt;
use rquickjs::promise::PromiseState;
use rquickjs::{
    qjs, Context, Ctx, Exception, Function, Object, Promise, Runtime, TypedArray, Value,
};
use serde_json::Value as Json;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::alloc::{HeapGauge, LimitedAllocator};
use crate::bytecode;
use crate::compile::{Compiled, SNIPPET_FILE};
use crate::console::LogBuffer;
use crate::error::{ErrorKind, ExecutionError};
use crate::host::{ToolAnswer, ToolCall, ToolCatalog, ToolError, ToolErrorKind, ToolHost};
use crate::limits::Limits;
use crate::output::{CallRecord, Execution, ExecutionStats, LogLevel};
use crate::serialize::{self, identity, Halt, Intrinsics};
use crate::stack;

const PRELUDE: &str = include_str!("prelude.js");

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

/// Runs the job and hands its [`Execution`] to `deliver` as soon as it is known: freeing
/// the runtime happens after, off the caller's critical path.
pub(crate) fn run(job: Job, deliver: impl FnOnce(Execution)) {
    let started = Instant::now();
    let cpu_start = thread_cpu_time();
    let gauge = Rc::new(HeapGauge::default());
    let stats_gauge = gauge.clone();
    let finish = move |mut execution: Execution| {
        execution.stats = ExecutionStats {
            wall_time: started.elapsed(),
            cpu_time: thread_cpu_time().saturating_sub(cpu_start),
            peak_memory_bytes: stats_gauge.peak.get(),
        };
        deliver(execution);
    };
    run_in_runtime(job, started, cpu_start, &gauge, finish);
}

fn run_in_runtime(
    job: Job,
    started: Instant,
    cpu_start: Duration,
    gauge: &Rc<HeapGauge>,
    finish: impl FnOnce(Execution),
) {
    let allocator = LimitedAllocator::new(job.limits.memory_bytes, gauge.clone());
    let runtime = match Runtime::new_with_alloc(allocator) {
        Ok(runtime) => LeakOnUnwind::new(runtime),
        Err(e) => {
            return finish(internal_failure(format!(
                "could not start the JavaScript engine: {e}"
            )))
        }
    };
    runtime.set_max_stack_size(job.limits.stack_bytes);

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
    {
        let watch = watch.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || watch.expired())));
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
            return finish(internal_failure(format!(
                "could not create a JavaScript context: {e}"
            )))
        }
    };
    let execution = context.with(|ctx| {
        let (tx, rx) = mpsc::channel();
        let shared = Rc::new(Shared {
            catalog: job.host.catalog(),
            host: job.host.clone(),
            limits: job.limits.clone(),
            handle: job.handle.clone(),
            started,
            tx,
            next_call: Cell::new(0),
            pending: RefCell::new(HashMap::new()),
            queued: RefCell::new(VecDeque::new()),
            in_flight: Cell::new(0),
            ready: RefCell::new(VecDeque::new()),
            tasks: RefCell::new(HashMap::new()),
            timers: RefCell::new(BinaryHeap::new()),
            sleepers: RefCell::new(HashMap::new()),
            logs: RefCell::new(LogBuffer::new(job.limits.max_log_bytes)),
            calls: RefCell::new(Vec::new()),
            fatal: RefCell::new(None),
            gauge: gauge.clone(),
            watch: watch.clone(),
            intrinsics: RefCell::new(None),
        });
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
        let outcome = event_loop.run();
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
    });
    finish(execution);
    drop(context);
    drop(runtime);
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

/// A call that has been made by the snippet and not yet answered to it.
struct Pending<'js> {
    resolve: Function<'js>,
    reject: Function<'js>,
    site: Object<'js>,
    record: usize,
    started: Instant,
    /// Bytes of its arguments reserved in the heap gauge until it settles.
    held: usize,
}

struct Shared<'js> {
    catalog: Arc<ToolCatalog>,
    host: Arc<dyn ToolHost>,
    limits: Limits,
    handle: Handle,
    started: Instant,
    tx: Sender<CallOutcome>,
    next_call: Cell<u64>,
    pending: RefCell<HashMap<u64, Pending<'js>>>,
    /// Calls waiting for a free slot under `max_concurrent_calls`.
    queued: RefCell<VecDeque<(u64, ToolCall)>>,
    in_flight: Cell<usize>,
    /// Answers that came back without leaving this thread.
    ready: RefCell<VecDeque<CallOutcome>>,
    tasks: RefCell<HashMap<u64, JoinHandle<()>>>,
    timers: RefCell<BinaryHeap<Reverse<(Instant, u64)>>>,
    sleepers: RefCell<HashMap<u64, Function<'js>>>,
    logs: RefCell<LogBuffer>,
    calls: RefCell<Vec<CallRecord>>,
    /// A limit that ends the execution even if the snippet catches the error it caused.
    fatal: RefCell<Option<ExecutionError>>,
    /// The heap's accounting, which also holds the bytes kept on the Rust side.
    gauge: Rc<HeapGauge>,
    watch: Rc<Watch>,
    /// The builtins the serializer uses, from the prelude; `None` until it has run.
    intrinsics: RefCell<Option<Rc<Intrinsics<'js>>>>,
}

impl<'js> Shared<'js> {
    /// Ends the execution with this error, even if the snippet catches the rejection, and
    /// rejects the call with it.
    fn refuse(
        &self,
        site: Object<'js>,
        reject: &Function<'js>,
        kind: ErrorKind,
        message: String,
    ) -> rquickjs::Result<()> {
        self.fatal
            .borrow_mut()
            .get_or_insert_with(|| ExecutionError::new(kind, message.clone(), None));
        site.set("message", message)?;
        reject.call::<_, ()>((site,))
    }

    fn call(
        &self,
        ctx: &Ctx<'js>,
        namespace: String,
        name: String,
        args: Option<String>,
        site: Object<'js>,
    ) -> rquickjs::Result<Promise<'js>> {
        let (promise, resolve, reject) = ctx.promise()?;
        let made = self.calls.borrow().len();
        let path = if namespace.is_empty() {
            name.clone()
        } else {
            format!("{namespace}.{name}")
        };
        if made >= self.limits.max_tool_calls {
            let message = format!(
                "tool call limit reached: the snippet tried to make more than {} tool calls in \
                 one execution (the call to tools.{path} was refused)",
                self.limits.max_tool_calls,
            );
            self.refuse(site, &reject, ErrorKind::Limit, message)?;
            return Ok(promise);
        }
        // The arguments wait on this side of the bridge, outside the heap, while the call
        // is queued or in flight: they count against the memory limit all the same.
        let held = args.as_ref().map_or(0, String::len);
        if !self.gauge.reserve_host(held, self.limits.memory_bytes) {
            let message = format!(
                "memory limit exceeded: the arguments of tools.{path} ({} KiB) and those of the \
                 calls still waiting would pass the {} MiB memory limit",
                held / 1024,
                self.limits.memory_bytes / (1024 * 1024)
            );
            self.refuse(site, &reject, ErrorKind::Memory, message)?;
            return Ok(promise);
        }
        let args = match args.as_deref().map(serde_json::from_str::<Json>) {
            None => Json::Null,
            Some(Ok(value)) => value,
            Some(Err(e)) => {
                self.gauge.release_host(held);
                site.set("message", format!("the arguments are not JSON: {e}"))?;
                reject.call::<_, ()>((site,))?;
                return Ok(promise);
            }
        };
        let id = self.next_call.get();
        self.next_call.set(id + 1);
        self.calls.borrow_mut().push(CallRecord {
            namespace: namespace.clone(),
            name: name.clone(),
            started: self.started.elapsed(),
            duration: None,
            error: None,
        });
        self.pending.borrow_mut().insert(
            id,
            Pending {
                resolve,
                reject,
                site,
                record: made,
                started: Instant::now(),
                held,
            },
        );
        let call = ToolCall {
            namespace,
            name,
            args,
        };
        if self.in_flight.get() < self.limits.max_concurrent_calls {
            self.start(id, call);
        } else {
            self.queued.borrow_mut().push_back((id, call));
        }
        Ok(promise)
    }

    /// Polls the host's future once here; only a future that is not ready at once is
    /// handed to tokio, so an in-process host answers without a thread hop.
    fn start(&self, id: u64, call: ToolCall) {
        self.in_flight.set(self.in_flight.get() + 1);
        let _runtime = self.handle.enter();
        // The host's code runs here, called from JavaScript: rquickjs would turn a panic into
        // an exception the snippet could catch, so it is caught first and ends the execution.
        let started = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut future = self.host.answer(call);
            let mut context = TaskContext::from_waker(Waker::noop());
            let first = future.as_mut().poll(&mut context);
            (future, first)
        }));
        let (future, first) = match started {
            Ok(started) => started,
            Err(payload) => {
                let message = format!(
                    "the tool host panicked while starting a tool call (a bug in the host; only \
                     this execution was stopped): {}",
                    crate::panic_message(payload.as_ref())
                );
                self.fatal
                    .borrow_mut()
                    .get_or_insert_with(|| ExecutionError::new(ErrorKind::Internal, message, None));
                let failed = ToolError::unavailable("the tool host failed (it panicked)");
                self.ready.borrow_mut().push_back((id, Err(failed)));
                return;
            }
        };
        match first {
            Poll::Ready(outcome) => self.ready.borrow_mut().push_back((id, outcome)),
            Poll::Pending => {
                let tx = self.tx.clone();
                let task = self.handle.spawn(async move {
                    // A panic later, on the host's runtime, fails this call rather than
                    // leaving it unanswered.
                    let outcome = AssertUnwindSafe(future).catch_unwind().await;
                    let outcome = outcome.unwrap_or_else(|_| {
                        Err(ToolError::unavailable("the tool host failed (it panicked)"))
                    });
                    let _ = tx.send((id, outcome));
                });
                self.tasks.borrow_mut().insert(id, task);
            }
        }
    }

    /// Hands an answer to the snippet and lets the next queued call start.
    fn settle(&self, ctx: &Ctx<'js>, (id, outcome): CallOutcome) -> rquickjs::Result<()> {
        self.tasks.borrow_mut().remove(&id);
        let Some(pending) = self.pending.borrow_mut().remove(&id) else {
            return Ok(());
        };
        self.gauge.release_host(pending.held);
        self.in_flight.set(self.in_flight.get().saturating_sub(1));
        let next = self.queued.borrow_mut().pop_front();
        if let Some((next_id, call)) = next {
            self.start(next_id, call);
        }
        let duration = pending.started.elapsed();
        let error = outcome.as_ref().err().map(|e| e.message.clone());
        if let Some(record) = self.calls.borrow_mut().get_mut(pending.record) {
            record.duration = Some(duration);
            record.error = error;
        }
        match outcome {
            Ok(answer) => {
                let text = match answer {
                    ToolAnswer::Json(raw) => String::from(Box::<str>::from(raw)),
                    ToolAnswer::Value(value) => match serde_json::to_string(&value) {
                        Ok(text) => text,
                        Err(e) => {
                            pending
                                .site
                                .set("message", format!("the answer is not JSON: {e}"))?;
                            return pending.reject.call::<_, ()>((pending.site,));
                        }
                    },
                };
                // The answer enters the heap as its JSON text and then as values: refuse
                // one that cannot fit in what is left, before parsing it.
                if !self.gauge.fits(text.len(), self.limits.memory_bytes) {
                    let tool = pending.site.get::<_, String>("tool").unwrap_or_default();
                    let message = format!(
                        "memory limit exceeded: the result of tools.{tool} ({} KiB of JSON) does \
                         not fit in what is left of the {} MiB memory limit",
                        text.len() / 1024,
                        self.limits.memory_bytes / (1024 * 1024)
                    );
                    return self.refuse(pending.site, &pending.reject, ErrorKind::Memory, message);
                }
                let parsed = ctx.json_parse(text);
                match parsed {
                    Ok(parsed) => pending.resolve.call::<_, ()>((parsed,)),
                    Err(_) => {
                        // Usually the heap limit; the rejection carries what QuickJS says.
                        let reason = ctx.catch();
                        pending.reject.call::<_, ()>((reason,))
                    }
                }
            }
            Err(error) => {
                let message = match error.kind {
                    ToolErrorKind::Tool => {
                        let tool = pending.site.get::<_, String>("tool").unwrap_or_default();
                        format!("tools.{tool} failed: {}", error.message)
                    }
                    ToolErrorKind::Unavailable => error.message,
                };
                pending.site.set("message", message)?;
                pending.site.set("kind", error.kind.as_str())?;
                pending.reject.call::<_, ()>((pending.site,))
            }
        }
    }

    fn sleep(&self, ctx: &Ctx<'js>, id: u64, ms: f64) -> rquickjs::Result<Promise<'js>> {
        if self.sleepers.borrow().len() >= MAX_TIMERS {
            return Err(Exception::throw_range(
                ctx,
                &format!("too many pending timers: at most {MAX_TIMERS} at once"),
            ));
        }
        let (promise, resolve, _reject) = ctx.promise()?;
        let delay = if ms.is_finite() && ms > 0.0 {
            Duration::from_secs_f64((ms / 1000.0).min(86_400.0))
        } else {
            Duration::ZERO
        };
        self.timers
            .borrow_mut()
            .push(Reverse((Instant::now() + delay, id)));
        self.sleepers.borrow_mut().insert(id, resolve);
        Ok(promise)
    }

    fn cancel_timer(&self, id: u64) {
        self.sleepers.borrow_mut().remove(&id);
    }

    /// Resolves every timer that is due; returns whether any fired and the next deadline
    /// among the rest.
    fn fire_timers(&self, now: Instant) -> rquickjs::Result<(bool, Option<Instant>)> {
        let mut fired = false;
        loop {
            let next = self.timers.borrow().peek().map(|Reverse(entry)| *entry);
            let Some((when, id)) = next else {
                return Ok((fired, None));
            };
            if !self.sleepers.borrow().contains_key(&id) {
                self.timers.borrow_mut().pop();
                continue;
            }
            if when > now {
                return Ok((fired, Some(when)));
            }
            self.timers.borrow_mut().pop();
            let resolve = self.sleepers.borrow_mut().remove(&id);
            if let Some(resolve) = resolve {
                fired = true;
                resolve.call::<_, ()>(())?;
            }
        }
    }

    fn has_timers(&self) -> bool {
        !self.sleepers.borrow().is_empty()
    }

    fn has_calls(&self) -> bool {
        !self.pending.borrow().is_empty()
    }

    /// One `console` call: its arguments rendered into what is left of the log budget.
    /// Returns whether more will fit; without `args` the entry is only counted.
    fn log(
        &self,
        ctx: &Ctx<'js>,
        level: LogLevel,
        args: Option<rquickjs::Array<'js>>,
    ) -> rquickjs::Result<bool> {
        let (Some(args), Some(js)) = (args, self.intrinsics.borrow().clone()) else {
            return Ok(self.logs.borrow_mut().drop_entry());
        };
        let args = args.iter::<Value>().collect::<rquickjs::Result<Vec<_>>>()?;
        // Not borrowed while rendering: a getter of a logged value may log too.
        let room = self.logs.borrow().room();
        let watch = self.watch.clone();
        match serialize::to_log_line(ctx, &js, args, room, &|| watch.expired()) {
            Ok(line) => Ok(self.logs.borrow_mut().push(level, line)),
            // The interrupt handler ends the execution at its next look, even if this
            // error is caught.
            Err(Halt::Expired) => Err(Exception::throw_internal(ctx, "interrupted")),
            Err(Halt::Js(e)) => Err(e),
        }
    }

    /// Cancels what is still running and lets go of every JavaScript value held from Rust,
    /// before the runtime that owns them is freed. Returns how many calls were abandoned.
    fn shutdown(&self) -> usize {
        for (_, task) in self.tasks.borrow_mut().drain() {
            task.abort();
        }
        let abandoned = self.pending.borrow().len();
        self.pending.borrow_mut().clear();
        self.queued.borrow_mut().clear();
        self.ready.borrow_mut().clear();
        self.sleepers.borrow_mut().clear();
        self.timers.borrow_mut().clear();
        self.intrinsics.borrow_mut().take();
        abandoned
    }
}

/// Promise rejections nobody handled, reported as notes: a forgotten `await` on a failing
/// tool call is otherwise silent.
#[derive(Default)]
struct Rejections {
    unhandled: Vec<(usize, String)>,
}

impl Rejections {
    const SHOWN: usize = 5;
    const KEPT: usize = 1_000;

    /// Records a rejection (`Some` description) or that a rejected promise got a handler.
    fn track(&mut self, promise: usize, unhandled: Option<String>) {
        match unhandled {
            None => self.unhandled.retain(|(p, _)| *p != promise),
            Some(description) if self.unhandled.len() < Self::KEPT => {
                self.unhandled.push((promise, description))
            }
            Some(_) => {}
        }
    }

    fn notes(&self, main: usize) -> Vec<String> {
        let unhandled: Vec<&String> = self
            .unhandled
            .iter()
            .filter(|(p, _)| *p != main)
            .map(|(_, message)| message)
            .collect();
        let mut notes: Vec<String> = unhandled
            .iter()
            .take(Self::SHOWN)
            .map(|message| format!("Unhandled promise rejection: {message}"))
            .collect();
        if unhandled.len() > Self::SHOWN {
            notes.push(format!(
                "... and {} more unhandled rejections",
                unhandled.len() - Self::SHOWN
            ));
        }
        notes
    }
}

/// Reads a rejection reason without running any JavaScript: a string, or the `message` of a
/// real error when it is an own data property (a getter is not called, a `toString` is not
/// used), and never more than [`REASON_CHARS`] characters of it.
fn describe_reason<'js>(ctx: &Ctx<'js>, reason: &Value<'js>) -> String {
    if let Some(text) = reason.as_string() {
        return short_text(ctx, text).unwrap_or_else(|| "a string".into());
    }
    if reason.is_error() {
        let message = own_data_property(ctx, reason, c"message");
        return match message
            .as_ref()
            .and_then(Value::as_string)
            .and_then(|text| short_text(ctx, text))
        {
            Some(text) if !text.is_empty() => text,
            _ => "an error".into(),
        };
    }
    format!("a {} value", reason.type_name())
}

/// Longest reason text kept for a note: a snippet may reject many promises with huge strings,
/// and each would otherwise be copied out of the heap in full.
const REASON_CHARS: i32 = 2_000;

/// A JavaScript string as Rust text, if it is short enough to copy.
fn short_text<'js>(ctx: &Ctx<'js>, text: &rquickjs::String<'js>) -> Option<String> {
    let raw = ctx.as_raw().as_ptr();
    // SAFETY: `text` is a live string of this context; reading `length` of a string primitive
    // is answered from the string itself (no code runs, no property lookup is observable).
    let length =
        unsafe { qjs::JS_GetPropertyStr(raw, text.as_value().as_raw(), c"length".as_ptr()) };
    // SAFETY: an owned value, handed to rquickjs to free.
    let length = unsafe { Value::from_raw(ctx.clone(), length) };
    match length.as_int() {
        Some(n) if n <= REASON_CHARS => match text.to_string() {
            Ok(text) => Some(text),
            Err(_) => {
                // Out of memory while copying: drop the exception so nothing later sees it.
                drop(ctx.catch());
                None
            }
        },
        Some(n) => Some(format!("(a message of {n} characters)")),
        None => None,
    }
}

/// An object's own property, only if it is a data property: nothing is called, and objects
/// with exotic behaviour (proxies) are not asked.
fn own_data_property<'js>(
    ctx: &Ctx<'js>,
    object: &Value<'js>,
    key: &std::ffi::CStr,
) -> Option<Value<'js>> {
    if !object.is_object() || object.is_proxy() {
        return None;
    }
    let raw = ctx.as_raw().as_ptr();
    // SAFETY: `key` is NUL-terminated; a well-known name is found among existing atoms.
    let atom = unsafe { qjs::JS_NewAtom(raw, key.as_ptr()) };
    if atom == qjs::JS_ATOM_NULL {
        drop(ctx.catch());
        return None;
    }
    let mut descriptor = qjs::JSPropertyDescriptor {
        flags: 0,
        value: qjs::JS_UNDEFINED,
        getter: qjs::JS_UNDEFINED,
        setter: qjs::JS_UNDEFINED,
    };
    // SAFETY: `object` is a live non-proxy object; the descriptor is an out-parameter whose
    // values we own afterwards when the property was found.
    let found = unsafe { qjs::JS_GetOwnProperty(raw, &mut descriptor, object.as_raw(), atom) };
    // SAFETY: the atom was created above.
    unsafe { qjs::JS_FreeAtom(raw, atom) };
    if found < 0 {
        drop(ctx.catch());
        return None;
    }
    if found == 0 {
        return None;
    }
    // SAFETY: found: the three values are owned by us now; rquickjs frees them on drop.
    let (value, getter, setter) = unsafe {
        (
            Value::from_raw(ctx.clone(), descriptor.value),
            Value::from_raw(ctx.clone(), descriptor.getter),
            Value::from_raw(ctx.clone(), descriptor.setter),
        )
    };
    drop((getter, setter));
    if descriptor.flags & qjs::JS_PROP_GETSET as i32 != 0 {
        return None;
    }
    Some(value)
}

struct EventLoop<'a, 'js> {
    ctx: Ctx<'js>,
    shared: Rc<Shared<'js>>,
    rx: Receiver<CallOutcome>,
    stop: Rc<Cell<Option<Stop>>>,
    gauge: Rc<HeapGauge>,
    deadline: Instant,
    cancel: Arc<AtomicBool>,
    compiled: &'a Compiled,
    /// Identity of the snippet's own promise: its rejection is the error, not a note.
    main_promise: Cell<usize>,
}

type Outcome = Result<(Option<Json>, bool), ExecutionError>;

impl<'js> EventLoop<'_, 'js> {
    fn run(&mut self) -> Outcome {
        let bridge = match self.install() {
            Ok(bridge) => bridge,
            Err(e) => return Err(self.failure(e)),
        };
        let main = match self.start_snippet(&bridge) {
            Ok(main) => main,
            Err(e) => return Err(self.failure(e)),
        };
        self.main_promise.set(identity(main.as_value()));
        loop {
            if let Err(e) = self.drive() {
                return Err(self.failure(e));
            }
            if let Some(error) = self.shared.fatal.borrow_mut().take() {
                return Err(error);
            }
            match main.state() {
                PromiseState::Resolved => {
                    let value = main.result::<Value>().and_then(Result::ok);
                    return self.serialize_result(value);
                }
                PromiseState::Rejected => {
                    let reason = match main.result::<Value>() {
                        Some(Err(rquickjs::Error::Exception)) => self.ctx.catch(),
                        Some(Ok(value)) => value,
                        _ => Value::new_undefined(self.ctx.clone()),
                    };
                    return Err(self.describe_thrown(reason));
                }
                PromiseState::Pending => {}
            }
            self.wait()?;
        }
    }

    /// Installs the prelude's globals; returns what it hands back to the host (the
    /// serializer and friends, captured before the agent's code could touch a builtin).
    fn install(&self) -> rquickjs::Result<Object<'js>> {
        let ctx = &self.ctx;
        let host = Object::new(ctx.clone())?;
        let shared = &self.shared;

        let s = shared.clone();
        host.set(
            "call",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>,
                      namespace: String,
                      name: String,
                      args: Option<String>,
                      site: Object<'js>| {
                    s.call(&ctx, namespace, name, args, site)
                },
            )?,
        )?;
        let s = shared.clone();
        host.set(
            "has",
            Function::new(ctx.clone(), move |namespace: String, name: String| {
                s.catalog.has_tool(&namespace, &name)
            })?,
        )?;
        let s = shared.clone();
        host.set(
            "isOpen",
            Function::new(ctx.clone(), move |namespace: String| {
                s.catalog.is_open(&namespace)
            })?,
        )?;
        let s = shared.clone();
        host.set(
            "hasNamespace",
            Function::new(ctx.clone(), move |namespace: String| {
                s.catalog.has_namespace(&namespace)
            })?,
        )?;
        let s = shared.clone();
        host.set(
            "missing",
            Function::new(
                ctx.clone(),
                move |namespace: String, name: Option<String>| {
                    s.catalog.missing_message(&namespace, name.as_deref())
                },
            )?,
        )?;
        let s = shared.clone();
        host.set(
            "namespaces",
            Function::new(ctx.clone(), move || {
                s.catalog
                    .namespaces()
                    .chain(s.catalog.root_functions())
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })?,
        )?;
        let s = shared.clone();
        host.set(
            "names",
            Function::new(ctx.clone(), move |namespace: String| {
                s.catalog
                    .tools(&namespace)
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })?,
        )?;
        let s = shared.clone();
        host.set(
            "log",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, level: String, args: Value<'js>| {
                    s.log(&ctx, LogLevel::parse(&level), args.into_array())
                },
            )?,
        )?;
        let s = shared.clone();
        host.set(
            "sleep",
            Function::new(ctx.clone(), move |ctx: Ctx<'js>, id: f64, ms: f64| {
                s.sleep(&ctx, id as u64, ms)
            })?,
        )?;
        let s = shared.clone();
        host.set(
            "cancel",
            Function::new(ctx.clone(), move |id: f64| s.cancel_timer(id as u64))?,
        )?;
        host.set(
            "utf8Encode",
            Function::new(ctx.clone(), |ctx: Ctx<'js>, text: String| {
                TypedArray::<u8>::new(ctx, text.into_bytes())
            })?,
        )?;
        host.set(
            "utf8Decode",
            Function::new(
                ctx.clone(),
                |ctx: Ctx<'js>, bytes: TypedArray<'js, u8>, fatal: Opt<bool>| {
                    let bytes: Vec<u8> = match bytes.as_raw() {
                        // SAFETY: the view is alive for this call and no JavaScript runs
                        // while it is copied.
                        Some(raw) => unsafe { raw.as_ref() }.to_vec(),
                        None => Vec::new(),
                    };
                    let bytes = bytes.as_slice();
                    match std::str::from_utf8(bytes) {
                        Ok(text) => Ok(text.to_string()),
                        Err(_) if fatal.0.unwrap_or(false) => Err(Exception::throw_type(
                            &ctx,
                            "TextDecoder: the input is not valid UTF-8",
                        )),
                        Err(_) => Ok(String::from_utf8_lossy(bytes).into_owned()),
                    }
                },
            )?,
        )?;
        host.set(
            "btoa",
            Function::new(ctx.clone(), |ctx: Ctx<'js>, text: String| {
                let bytes: Option<Vec<u8>> = text
                    .chars()
                    .map(|c| u8::try_from(u32::from(c)).ok())
                    .collect();
                match bytes {
                    Some(bytes) => Ok(base64::engine::general_purpose::STANDARD.encode(bytes)),
                    None => Err(Exception::throw_dom(
                        &ctx,
                        "InvalidCharacterError",
                        "btoa: the string contains characters outside of Latin1",
                    )),
                }
            })?,
        )?;
        host.set(
            "atob",
            Function::new(ctx.clone(), |ctx: Ctx<'js>, text: String| {
                let cleaned: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                let engine = base64::engine::GeneralPurpose::new(
                    &base64::alphabet::STANDARD,
                    base64::engine::GeneralPurposeConfig::new()
                        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
                );
                match engine.decode(cleaned.as_bytes()) {
                    Ok(bytes) => Ok(bytes.into_iter().map(char::from).collect::<String>()),
                    Err(_) => Err(Exception::throw_dom(
                        &ctx,
                        "InvalidCharacterError",
                        "atob: the string is not valid base64",
                    )),
                }
            })?,
        )?;

        let config = Object::new(ctx.clone())?;
        let prelude: Function = bytecode::eval_prelude(ctx, PRELUDE, "prelude.js")?.get()?;
        let bridge: Object = prelude.call((host, config))?;
        let intrinsics = Intrinsics::from_prelude(&bridge)?;
        *self.shared.intrinsics.borrow_mut() = Some(Rc::new(intrinsics));
        Ok(bridge)
    }

    /// Evaluates the agent's code; returns the promise that settles with its value.
    fn start_snippet(&self, bridge: &Object<'js>) -> rquickjs::Result<Promise<'js>> {
        let value: Value = self
            .ctx
            .eval_with_options(self.compiled.js.as_str(), eval_options(SNIPPET_FILE))?;
        let value = if self.compiled.call_result {
            match value.as_function() {
                Some(function) => function.call::<_, Value>(())?,
                None => value,
            }
        } else {
            value
        };
        // A plain function (not async) may return a value or a promise; treat both alike.
        bridge.get::<_, Function>("toPromise")?.call((value,))
    }

    /// Runs microtasks and settles answers that are already here.
    fn drive(&self) -> rquickjs::Result<()> {
        loop {
            let next = self.shared.ready.borrow_mut().pop_front();
            match next {
                Some(outcome) => self.shared.settle(&self.ctx, outcome)?,
                None => {
                    let ran = self.ctx.execute_pending_job();
                    // A limit that interrupted a job ends the chain of jobs it was part of;
                    // the queue may then look drained, but the limit is what happened.
                    if self.stop.get().is_some() || self.gauge.refused.get() {
                        return Err(rquickjs::Error::Exception);
                    }
                    if !ran {
                        return Ok(());
                    }
                }
            }
            while self.ctx.execute_pending_job() {
                if self.stop.get().is_some() {
                    return Err(rquickjs::Error::Exception);
                }
            }
        }
    }

    /// Blocks until a tool answers, a timer is due, or the wall clock runs out.
    fn wait(&mut self) -> Result<(), ExecutionError> {
        let now = Instant::now();
        let (fired, next_timer) = self.shared.fire_timers(now).map_err(|e| self.failure(e))?;
        if fired || !self.shared.ready.borrow().is_empty() {
            return Ok(());
        }
        if let Some(stop) = self.stop.get() {
            return Err(stopped(stop, &self.shared.limits));
        }
        if !self.shared.has_calls() && !self.shared.has_timers() {
            return Err(ExecutionError::new(
                ErrorKind::Runtime,
                "the snippet's promise never settled: it awaits something that nothing will \
                 resolve (no tool call or timer is pending)",
                None,
            ));
        }
        if self.cancel.load(Ordering::Relaxed) {
            return Err(stopped(Stop::Cancelled, &self.shared.limits));
        }
        if now >= self.deadline {
            return Err(stopped(Stop::Wall, &self.shared.limits));
        }
        let wake = next_timer.map_or(self.deadline, |t| t.min(self.deadline));
        // Wake up at least every 50 ms to notice cancellation.
        let timeout = wake
            .saturating_duration_since(now)
            .min(Duration::from_millis(50));
        match self.rx.recv_timeout(timeout) {
            Ok(outcome) => {
                self.shared.ready.borrow_mut().push_back(outcome);
                while let Ok(outcome) = self.rx.try_recv() {
                    self.shared.ready.borrow_mut().push_back(outcome);
                }
                Ok(())
            }
            Err(RecvTimeoutError::Timeout) => Ok(()),
            Err(RecvTimeoutError::Disconnected) => Err(ExecutionError::new(
                ErrorKind::Internal,
                "the tool dispatcher went away",
                None,
            )),
        }
    }

    fn serialize_result(&self, value: Option<Value<'js>>) -> Outcome {
        let Some(value) = value else {
            return Ok((None, false));
        };
        let Some(js) = self.shared.intrinsics.borrow().clone() else {
            return Err(internal("the prelude did not hand over its builtins"));
        };
        let watch = self.shared.watch.clone();
        let max = self.shared.limits.max_result_bytes;
        match serialize::to_json(&self.ctx, &js, value, max, &|| watch.expired()) {
            Ok(None) => Ok((None, false)),
            Ok(Some(json)) => match serde_json::from_str(&json.text) {
                Ok(value) => Ok((Some(value), json.truncated)),
                Err(e) => Err(internal(&format!(
                    "the returned value serialized to invalid JSON: {e}"
                ))),
            },
            Err(Halt::Expired) => Err(self.failure(rquickjs::Error::Unknown)),
            Err(Halt::Js(e)) => {
                let mut error = self.failure(e);
                if error.kind == ErrorKind::Runtime {
                    error.message = format!(
                        "the returned value could not be converted to JSON: {}",
                        error.message
                    );
                }
                Err(error)
            }
        }
    }

    /// Turns an engine error (usually a pending exception) into the agent's error.
    fn failure(&self, error: rquickjs::Error) -> ExecutionError {
        if let Some(stop) = self.stop.get() {
            return stopped(stop, &self.shared.limits);
        }
        if self.gauge.refused.get() {
            return out_of_memory(&self.shared.limits);
        }
        match error {
            rquickjs::Error::Exception => {
                let thrown = self.ctx.catch();
                self.describe_thrown(thrown)
            }
            other => ExecutionError::new(ErrorKind::Internal, other.to_string(), None),
        }
    }

    fn describe_thrown(&self, thrown: Value<'js>) -> ExecutionError {
        if let Some(stop) = self.stop.get() {
            return stopped(stop, &self.shared.limits);
        }
        if self.gauge.refused.get() {
            return out_of_memory(&self.shared.limits);
        }
        if let Some(error) = self.shared.fatal.borrow_mut().take() {
            return error;
        }
        stack::describe(thrown, self.compiled, &self.shared.limits)
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
