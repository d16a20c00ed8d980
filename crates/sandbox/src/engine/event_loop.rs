//! The event loop of one execution: starts the snippet in a context its prelude is in, and settles answers and timers until its promise settles or a limit ends
//! it; then writes the value out and turns what was thrown into the agent's error.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rquickjs::promise::PromiseState;
use rquickjs::{Ctx, Function, Object, Promise, Value};

use super::bridge::{Shared, Wake};
use super::{eval_options, internal, out_of_memory, stopped, Stop};
use crate::alloc::HeapGauge;
use crate::compile::{Compiled, SNIPPET_FILE};
use crate::error::{ErrorKind, ExecutionError};
use crate::output::JsonText;
use crate::serialize::{self, identity, Halt};
use crate::stack;

pub(super) struct EventLoop<'a, 'js> {
    pub(super) ctx: Ctx<'js>,
    pub(super) shared: Rc<Shared<'js>>,
    pub(super) rx: Receiver<Wake>,
    pub(super) stop: Rc<Cell<Option<Stop>>>,
    pub(super) gauge: Rc<HeapGauge>,
    pub(super) deadline: Instant,
    pub(super) cancel: Arc<AtomicBool>,
    pub(super) compiled: &'a Compiled,
    /// Identity of the snippet's own promise: its rejection is the error, not a note.
    pub(super) main_promise: Cell<usize>,
}

/// Stack QuickJS's parser may use: nesting just under the compiler's limit needs about a
/// KiB per level in QuickJS's recursive descent, more than a snippet's run is given.
/// The execution thread's stack (32 MiB, [`crate::compile::COMPILE_STACK_BYTES`]) holds it.
const PARSE_STACK_BYTES: usize = 8 * 1024 * 1024;

/// Sets the runtime's stack limit from inside a context, where the [`rquickjs::Runtime`]
/// handle is locked.
fn set_stack_limit(ctx: &Ctx<'_>, bytes: usize) {
    // SAFETY: the context pointer is live for `'js`; `JS_SetMaxStackSize` only writes the
    // runtime's limit fields, and this thread holds the runtime's lock through `ctx`.
    unsafe {
        let runtime = rquickjs::qjs::JS_GetRuntime(ctx.as_raw().as_ptr());
        rquickjs::qjs::JS_SetMaxStackSize(runtime, bytes as _);
    }
}

pub(super) type Outcome = Result<(Option<JsonText>, bool), ExecutionError>;

impl<'js> EventLoop<'_, 'js> {
    /// Runs the snippet in a context whose prelude handed back `bridge` (or failed to).
    pub(super) fn run(&mut self, bridge: rquickjs::Result<Object<'js>>) -> Outcome {
        let bridge = match bridge {
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

    /// Evaluates the agent's code; returns the promise that settles with its value.
    ///
    /// The compiled code evaluates to a function, so parsing and running are two steps:
    /// the parse gets [`PARSE_STACK_BYTES`] of stack, since code the compiler accepted (up
    /// to its nesting limit) must parse; the run gets the snippet's own stack limit.
    fn start_snippet(&self, bridge: &Object<'js>) -> rquickjs::Result<Promise<'js>> {
        let parsed: rquickjs::Result<Value> = {
            set_stack_limit(
                &self.ctx,
                PARSE_STACK_BYTES.max(self.shared.limits.stack_bytes),
            );
            let parsed = self
                .ctx
                .eval_with_options(self.compiled.js.as_str(), eval_options(SNIPPET_FILE));
            set_stack_limit(&self.ctx, self.shared.limits.stack_bytes);
            parsed
        };
        let value = parsed?;
        let value = match value.as_function() {
            Some(function) => function.call::<_, Value>(())?,
            None => value,
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
                    if self.limit_reached() {
                        return Err(rquickjs::Error::Exception);
                    }
                    if !ran {
                        return Ok(());
                    }
                }
            }
            while self.ctx.execute_pending_job() {
                // The heap limit too: once it refused, every job fails at once, but each
                // rejection queues the next one, and a chain of a million promises would
                // unwind for minutes, past the CPU limit, which only JavaScript code checks.
                if self.limit_reached() {
                    return Err(rquickjs::Error::Exception);
                }
            }
        }
    }

    /// A limit stopped the execution, or the heap limit refused an allocation (which ends it
    /// even if the snippet caught the error).
    fn limit_reached(&self) -> bool {
        self.stop.get().is_some() || self.gauge.refused.get()
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
        // Every call kept on this thread: the host may take its answers in here itself.
        if self.shared.tasks.borrow().is_empty() && self.shared.host.wait_for_answers(timeout) {
            while let Ok(wake) = self.rx.try_recv() {
                self.shared.receive(wake);
            }
            return Ok(());
        }
        match self.rx.recv_timeout(timeout) {
            Ok(wake) => {
                self.shared.receive(wake);
                while let Ok(wake) = self.rx.try_recv() {
                    self.shared.receive(wake);
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
            Ok(Some(json)) => match JsonText::new(json.text) {
                Ok(text) => Ok((Some(text), json.truncated)),
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
