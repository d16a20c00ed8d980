//! Sandboxes built ahead of their code: the execution thread makes its runtime, context and
//! prelude (and, when asked, runs the compiler once to fault its pages in) before it asks for
//! the one execution it will run. [`Sandbox::execute`](crate::Sandbox::execute) builds one
//! and runs it at once; a worker builds one while it waits for code.
//!
//! This module must never let anything of the build reach the execution: the limits, the
//! host, the clocks and the console all begin with the [`Assignment`].

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use crate::error::{ErrorKind, ExecutionError};
use crate::host::ToolHost;
use crate::limits::Limits;
use crate::output::Execution;
use crate::{compile, engine};

/// Native stack for an execution's thread. The TypeScript compiler runs there first and needs
/// the most ([`compile::COMPILE_STACK_BYTES`], for code at its nesting limits); QuickJS then
/// runs well within it, so that the engine reports deep recursion before the thread could
/// overflow. Only the pages a snippet touches are ever mapped in.
pub(crate) const THREAD_STACK_BYTES: usize = compile::COMPILE_STACK_BYTES;

/// Compiled once while a sandbox is built ahead, so that the compiler's code and its
/// allocator's pages are in before the agent's snippet comes (in a forked worker, each first
/// write to a page copies it: a cold compile took twice a warm one).
const WARM_SNIPPET: &str = "type Row = { id: string; total?: number }; \
    const rows: Row[] = await Promise.all([1, 2].map(async (n) => ({ id: `r${n}`, total: n }))); \
    return rows.filter((r) => (r.total ?? 0) > 1).map(({ id }) => id);";

/// Whether a build warms the compiler up: worth it only when the build is ahead of the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Warm {
    No,
    Compiler,
}

/// One execution for a sandbox built ahead of it ([`crate::Sandbox::build`]), handed over on
/// the sandbox's own thread.
pub struct Assignment {
    /// The agent's TypeScript.
    pub code: String,
    pub host: Arc<dyn ToolHost>,
    pub limits: Limits,
    /// The tokio runtime on which tool calls that do not answer at once run.
    pub handle: tokio::runtime::Handle,
    /// Set to stop the execution (as dropping [`crate::Sandbox::execute`]'s future does).
    pub cancel: Arc<AtomicBool>,
    /// The parent of each tool call's span (tool calls start on the snippet's thread).
    pub span: tracing::Span,
    /// Called once, on the sandbox's thread, with the execution as soon as it is known
    /// (before the runtime is freed).
    pub deliver: Box<dyn FnOnce(Execution) + Send>,
}

/// A sandbox being built on its own thread by [`crate::Sandbox::build`].
pub struct Building {
    built: Receiver<()>,
    failure: Option<String>,
}

impl Building {
    /// Blocks until the sandbox is built and waiting for its assignment (or could not be
    /// built: the assignment then gets that as its error).
    pub fn wait_until_built(&self) {
        let _ = self.built.recv();
    }

    /// Why the sandbox's thread could not start; `fetch` is then never called.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }
}

pub(crate) fn build(
    warm: Warm,
    fetch: impl FnOnce() -> Option<Assignment> + Send + 'static,
) -> Building {
    let (built_tx, built) = sync_channel::<()>(1);
    let spawned = std::thread::Builder::new()
        .name("codemode-snippet".into())
        .stack_size(THREAD_STACK_BYTES)
        .spawn(move || serve_one(warm, built_tx, fetch));
    Building {
        built,
        failure: spawned
            .err()
            .map(|e| format!("could not start the sandbox thread: {e}")),
    }
}

/// [`build`] on the calling thread, which it occupies until the execution was delivered.
pub(crate) fn build_here(warm: Warm, fetch: impl FnOnce() -> Option<Assignment>) {
    // Nobody waits for the build: the caller is the thread doing it.
    let (built, _) = sync_channel::<()>(1);
    serve_one(warm, built, fetch);
}

/// A sandbox built ahead of its code by [`crate::Sandbox::prepare`], waiting for one
/// execution from async code. Dropped unused, its thread ends and frees it.
pub struct Prepared {
    building: Building,
    requests: SyncSender<Assignment>,
}

impl Prepared {
    pub(crate) fn start(warm: Warm) -> Prepared {
        let (requests, incoming) = sync_channel::<Assignment>(1);
        Prepared {
            building: build(warm, move || incoming.recv().ok()),
            requests,
        }
    }

    /// See [`Building::wait_until_built`].
    pub fn wait_until_built(&self) {
        self.building.wait_until_built();
    }

    /// Runs `code` as [`crate::Sandbox::execute`] does, in this sandbox.
    pub async fn execute(self, code: &str, host: Arc<dyn ToolHost>, limits: Limits) -> Execution {
        if let Some(failure) = self.building.failure() {
            return Execution::failed(ExecutionError::new(ErrorKind::Internal, failure, None));
        }
        let cancel = Arc::new(AtomicBool::new(false));
        let _cancel_on_drop = CancelOnDrop(cancel.clone());
        let (reply, answer) = tokio::sync::oneshot::channel();
        let assignment = Assignment {
            code: code.to_string(),
            host,
            limits,
            handle: tokio::runtime::Handle::current(),
            cancel,
            span: tracing::Span::current(),
            deliver: Box::new(move |execution| {
                let _ = reply.send(execution);
            }),
        };
        if self.requests.send(assignment).is_err() {
            return Execution::failed(ExecutionError::new(
                ErrorKind::Internal,
                "the sandbox thread ended before it got the code",
                None,
            ));
        }
        match answer.await {
            Ok(execution) => execution,
            Err(_) => Execution::failed(ExecutionError::new(
                ErrorKind::Internal,
                "the sandbox thread ended without a result",
                None,
            )),
        }
    }
}

/// The execution thread: builds the sandbox, says so, fetches the one assignment, compiles
/// and runs it.
fn serve_one(warm: Warm, built: SyncSender<()>, fetch: impl FnOnce() -> Option<Assignment>) {
    let deliver_to = RefCell::new(None::<Box<dyn FnOnce(Execution) + Send>>);
    // Left, and let go of, before the execution is handed back: the runtime is freed after
    // that, and the caller's span must not wait for it to close.
    let in_span = RefCell::new(None::<tracing::span::EnteredSpan>);
    let deliver = |execution: Execution| {
        drop(in_span.borrow_mut().take());
        if let Some(deliver) = deliver_to.borrow_mut().take() {
            deliver(execution);
        }
    };
    let next = || {
        if warm == Warm::Compiler {
            let _ = compile_snippet(WARM_SNIPPET);
        }
        let _ = built.send(());
        let assignment = fetch()?;
        *deliver_to.borrow_mut() = Some(assignment.deliver);
        *in_span.borrow_mut() = Some(assignment.span.entered());
        let compiled = match compile_snippet(&assignment.code) {
            Ok(compiled) => compiled,
            Err(error) => {
                deliver(Execution::failed(error));
                return None;
            }
        };
        Some(engine::Job {
            compiled,
            host: assignment.host,
            limits: assignment.limits,
            handle: assignment.handle,
            cancel: assignment.cancel,
        })
    };
    // A panic (a bug in the sandbox or in the host's tools) costs this execution, never the
    // process; its runtime goes down with the thread, unused again.
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| engine::serve(next, &deliver)));
    if let Err(payload) = outcome {
        deliver(Execution::failed(ExecutionError::new(
            ErrorKind::Internal,
            format!(
                "the sandbox failed internally while running this snippet (a bug; only this \
                 execution was affected): {}",
                panic_message(payload.as_ref())
            ),
            None,
        )));
    }
}

/// The snippet as QuickJS will run it, or the agent's error.
fn compile_snippet(code: &str) -> Result<compile::Compiled, ExecutionError> {
    // oxc is trusted to parse anything within the nesting limits, but a panic on some odd
    // input gets its own message.
    match panic::catch_unwind(|| compile::compile(code)) {
        Ok(Ok(compiled)) => Ok(compiled),
        Ok(Err(error)) => Err(error),
        Err(_) => Err(ExecutionError::new(
            ErrorKind::Internal,
            "the TypeScript compiler failed on this snippet (a bug in the sandbox); \
             simplifying the code may avoid it",
            None,
        )),
    }
}

/// The text of a panic, cut short: enough to report the bug, not a page of it.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    let mut cut = text.len().min(200);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    if cut < text.len() {
        format!("{}…", &text[..cut])
    } else {
        text.to_string()
    }
}

struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
