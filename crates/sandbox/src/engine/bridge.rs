//! The bridge between the snippet and its host, on the execution's thread: tool calls
//! (counted, queued past the concurrency limit, their bytes held in the heap gauge, answered
//! into promises), timers and console output. It must never run snippet code while it holds
//! a borrow of its own state, and never let a call past the limits.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use rquickjs::{Ctx, Exception, Function, Object, Promise, Value};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::job_clock::JobRandom;
use super::{CallOutcome, Watch, MAX_TIMERS};
use crate::alloc::HeapGauge;
use crate::console::LogBuffer;
use crate::error::{ErrorKind, ExecutionError};
use crate::host::{
    AnswerFuture, ToolAnswer, ToolCall, ToolError, ToolErrorKind, ToolHost, ToolNames,
};
use crate::limits::Limits;
use crate::output::JsonText;
use crate::output::{CallRecord, LogLevel};
use crate::serialize::{self, Halt, Intrinsics};

/// What wakes the execution's thread.
pub(super) enum Wake {
    /// A call's answer, from a task on the host's runtime.
    Answer(CallOutcome),
    /// A call kept on this thread ([`ToolHost::answers_without_runtime`]) may be ready.
    Poll(u64),
}

/// The waker of a call kept on the execution's thread: asks that thread to poll it.
struct CallWaker {
    id: u64,
    tx: Sender<Wake>,
}

impl std::task::Wake for CallWaker {
    fn wake(self: Arc<Self>) {
        let _ = self.tx.send(Wake::Poll(self.id));
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let _ = self.tx.send(Wake::Poll(self.id));
    }
}

/// A call that has been made by the snippet and not yet answered to it.
pub(super) struct Pending<'js> {
    pub(super) resolve: Function<'js>,
    pub(super) reject: Function<'js>,
    pub(super) site: Object<'js>,
    pub(super) record: usize,
    pub(super) started: Instant,
    /// Bytes of its arguments reserved in the heap gauge until it settles.
    pub(super) held: usize,
}

pub(super) struct Shared<'js> {
    pub(super) catalog: Arc<ToolNames>,
    pub(super) host: Arc<dyn ToolHost>,
    pub(super) limits: Limits,
    pub(super) handle: Handle,
    pub(super) started: Instant,
    /// `performance.timeOrigin`: the wall-clock time at `started`, in milliseconds.
    pub(super) time_origin_ms: f64,
    /// `Math.random`'s generator, seeded for this job.
    pub(super) random: JobRandom,
    pub(super) tx: Sender<Wake>,
    pub(super) next_call: Cell<u64>,
    pub(super) pending: RefCell<HashMap<u64, Pending<'js>>>,
    /// Calls waiting for a free slot under `max_concurrent_calls`.
    pub(super) queued: RefCell<VecDeque<(u64, ToolCall)>>,
    pub(super) in_flight: Cell<usize>,
    /// Answers that came back without leaving this thread.
    pub(super) ready: RefCell<VecDeque<CallOutcome>>,
    pub(super) tasks: RefCell<HashMap<u64, JoinHandle<()>>>,
    /// Calls of a host that answers without a runtime, polled here when their waker fires.
    pub(super) local: RefCell<HashMap<u64, (AnswerFuture, Waker)>>,
    pub(super) timers: RefCell<BinaryHeap<Reverse<(Instant, u64)>>>,
    pub(super) sleepers: RefCell<HashMap<u64, Function<'js>>>,
    pub(super) logs: RefCell<LogBuffer>,
    pub(super) calls: RefCell<Vec<CallRecord>>,
    /// A limit that ends the execution even if the snippet catches the error it caused.
    pub(super) fatal: RefCell<Option<ExecutionError>>,
    /// The heap's accounting, which also holds the bytes kept on the Rust side.
    pub(super) gauge: Rc<HeapGauge>,
    pub(super) watch: Rc<Watch>,
    /// The builtins the serializer uses, from the prelude; `None` until it has run.
    pub(super) intrinsics: RefCell<Option<Rc<Intrinsics<'js>>>>,
}

impl<'js> Shared<'js> {
    /// Ends the execution with this error, even if the snippet catches the rejection, and
    /// rejects the call with it.
    pub(super) fn refuse(
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
        site.set("kind", ToolErrorKind::Limit.as_str())?;
        reject.call::<_, ()>((site,))
    }

    pub(super) fn call(
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
        let args = match args.map(JsonText::new) {
            None => JsonText::null(),
            Some(Ok(text)) => text,
            Some(Err(e)) => {
                self.gauge.release_host(held);
                site.set("message", format!("the arguments are not JSON: {e}"))?;
                site.set("kind", ToolErrorKind::InvalidArguments.as_str())?;
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
    pub(super) fn start(&self, id: u64, call: ToolCall) {
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
                    crate::prepared::panic_message(payload.as_ref())
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
            Poll::Pending if self.host.answers_without_runtime() => {
                let waker = Waker::from(Arc::new(CallWaker {
                    id,
                    tx: self.tx.clone(),
                }));
                self.local.borrow_mut().insert(id, (future, waker));
                self.poll_local(id);
            }
            Poll::Pending => {
                let tx = self.tx.clone();
                let task = self.handle.spawn(async move {
                    // A panic later, on the host's runtime, fails this call rather than
                    // leaving it unanswered.
                    let outcome = AssertUnwindSafe(future).catch_unwind().await;
                    let outcome = outcome.unwrap_or_else(|_| {
                        Err(ToolError::unavailable("the tool host failed (it panicked)"))
                    });
                    let _ = tx.send(Wake::Answer((id, outcome)));
                });
                self.tasks.borrow_mut().insert(id, task);
            }
        }
    }

    /// Polls a call kept on this thread (its waker fired, or it was just started); an
    /// answer that is in joins the ready ones.
    pub(super) fn poll_local(&self, id: u64) {
        let Some((mut future, waker)) = self.local.borrow_mut().remove(&id) else {
            return;
        };
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| {
            future.as_mut().poll(&mut TaskContext::from_waker(&waker))
        }));
        match polled {
            Ok(Poll::Ready(outcome)) => self.ready.borrow_mut().push_back((id, outcome)),
            Ok(Poll::Pending) => {
                self.local.borrow_mut().insert(id, (future, waker));
            }
            Err(_) => {
                let failed = ToolError::unavailable("the tool host failed (it panicked)");
                self.ready.borrow_mut().push_back((id, Err(failed)));
            }
        }
    }

    /// What came over the channel: an answer from the runtime, or a local call to poll.
    pub(super) fn receive(&self, wake: Wake) {
        match wake {
            Wake::Answer(outcome) => self.ready.borrow_mut().push_back(outcome),
            Wake::Poll(id) => self.poll_local(id),
        }
    }

    /// Hands an answer to the snippet and lets the next queued call start.
    pub(super) fn settle(
        &self,
        ctx: &Ctx<'js>,
        (id, outcome): CallOutcome,
    ) -> rquickjs::Result<()> {
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
                let message = if error.kind.names_the_tool() {
                    let tool = pending.site.get::<_, String>("tool").unwrap_or_default();
                    format!("tools.{tool} failed: {}", error.message)
                } else {
                    error.message
                };
                pending.site.set("message", message)?;
                pending.site.set("kind", error.kind.as_str())?;
                pending.reject.call::<_, ()>((pending.site,))
            }
        }
    }

    pub(super) fn sleep(&self, ctx: &Ctx<'js>, id: u64, ms: f64) -> rquickjs::Result<Promise<'js>> {
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

    pub(super) fn cancel_timer(&self, id: u64) {
        self.sleepers.borrow_mut().remove(&id);
    }

    /// Resolves every timer that is due; returns whether any fired and the next deadline
    /// among the rest.
    pub(super) fn fire_timers(&self, now: Instant) -> rquickjs::Result<(bool, Option<Instant>)> {
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

    pub(super) fn has_timers(&self) -> bool {
        !self.sleepers.borrow().is_empty()
    }

    pub(super) fn has_calls(&self) -> bool {
        !self.pending.borrow().is_empty()
    }

    /// One `console` call: its arguments rendered into what is left of the log budget.
    /// Returns whether more will fit; without `args` the entry is only counted.
    pub(super) fn log(
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
    pub(super) fn shutdown(&self) -> usize {
        self.local.borrow_mut().clear();
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
