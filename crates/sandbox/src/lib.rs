//! The sandbox: runs an agent's TypeScript snippet in a fresh, limited QuickJS runtime, with
//! `tools.<namespace>.<name>(args)` bridged to a [`ToolHost`].
//!
//! Each execution gets its own thread, runtime and context, so nothing of one execution is
//! visible to the next. The snippet sees standard ECMAScript, `tools`, `console` and a few
//! web helpers (`setTimeout`, `structuredClone`, `atob`/`btoa`, `TextEncoder`/`TextDecoder`);
//! there is no `require`, no modules, no `process`, no `fetch`, no file, socket or environment
//! access. CPU, wall-clock, heap, stack, output and tool-call limits are enforced by the
//! engine ([`Limits`]).
//!
//! This crate must never know about MCP, configuration or where tools come from, and must
//! never give a snippet a capability the host did not declare in its [`ToolNames`].

mod alloc;
mod bytecode;
mod compile;
mod console;
mod engine;
mod error;
mod host;
mod limits;
mod output;
mod serialize;
mod stack;

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use console::LOG_ENTRY_OVERHEAD;
pub use error::{
    clip_bytes, ErrorKind, ExecutionError, SourceLocation, MAX_ERROR_MESSAGE_BYTES,
    MAX_ERROR_STACK_BYTES, MAX_SOURCE_LINE_BYTES,
};
pub use host::{
    AnswerFuture, ToolAnswer, ToolCall, ToolError, ToolErrorKind, ToolFuture, ToolHost, ToolNames,
};
pub use limits::Limits;
pub use output::{CallRecord, Execution, ExecutionStats, JsonText, LogEntry, LogLevel};

/// Native stack for an execution's thread. The TypeScript compiler runs there first and needs
/// the most ([`compile::COMPILE_STACK_BYTES`], for code at its nesting limits); QuickJS then
/// runs well within it, so that the engine reports deep recursion before the thread could
/// overflow. Only the pages a snippet touches are ever mapped in.
const THREAD_STACK_BYTES: usize = compile::COMPILE_STACK_BYTES;

/// Entry point: `Sandbox::execute(code, host, limits)`, or [`Sandbox::prepare`] ahead of
/// the code and [`Prepared::execute`] once it comes.
pub struct Sandbox;

impl Sandbox {
    /// Runs `code` (an agent's TypeScript: an `async () => {...}` function, or a body using
    /// top-level `await` and `return`) and reports its value, console output and tool calls.
    ///
    /// Must be called from within a tokio runtime: tool calls that do not answer at once run
    /// on it. Dropping the returned future cancels the execution.
    pub async fn execute(code: &str, host: Arc<dyn ToolHost>, limits: Limits) -> Execution {
        Sandbox::prepare().execute(code, host, limits).await
    }

    /// Starts building a sandbox for one execution on its own thread: the thread, the
    /// engine's runtime and context, and the prelude, all before the code is known. A worker
    /// does this while it waits, so its execution starts on a built sandbox. The sandbox
    /// serves one execution ([`Prepared::execute`]) and is then freed; nothing of it is known
    /// to the execution before it starts (its limits, host and clocks begin with the job).
    pub fn prepare() -> Prepared {
        let (requests, incoming) = std::sync::mpsc::sync_channel::<Request>(1);
        let (built, ready) = std::sync::mpsc::sync_channel::<()>(1);
        let spawned = std::thread::Builder::new()
            .name("codemode-snippet".into())
            .stack_size(THREAD_STACK_BYTES)
            .spawn(move || serve_one(incoming, built));
        match spawned {
            Ok(_) => Prepared {
                requests: Some(requests),
                ready,
                failure: None,
            },
            Err(e) => Prepared {
                requests: None,
                ready,
                failure: Some(format!("could not start the sandbox thread: {e}")),
            },
        }
    }
}

/// A sandbox built ahead of its code by [`Sandbox::prepare`], waiting for one execution.
/// Dropped unused, its thread ends and frees it.
pub struct Prepared {
    requests: Option<std::sync::mpsc::SyncSender<Request>>,
    ready: std::sync::mpsc::Receiver<()>,
    failure: Option<String>,
}

/// What the execution thread gets once the code is known.
struct Request {
    code: String,
    host: Arc<dyn ToolHost>,
    limits: Limits,
    handle: tokio::runtime::Handle,
    cancel: Arc<AtomicBool>,
    /// The caller's span (the gateway's `execute`) is the parent of each tool call's, and
    /// tool calls start on the snippet's thread.
    span: tracing::Span,
    reply: tokio::sync::oneshot::Sender<Execution>,
}

impl Prepared {
    /// Blocks until the sandbox is built (or could not be: its execution will then say
    /// why), so that a caller can tell it is ready only once it is.
    pub fn wait_until_built(&self) {
        let _ = self.ready.recv();
    }

    /// Runs `code` as [`Sandbox::execute`] does, in this sandbox.
    pub async fn execute(self, code: &str, host: Arc<dyn ToolHost>, limits: Limits) -> Execution {
        let cancel = Arc::new(AtomicBool::new(false));
        let _cancel_on_drop = CancelOnDrop(cancel.clone());
        let (reply, answer) = tokio::sync::oneshot::channel();
        let request = Request {
            code: code.to_string(),
            host,
            limits,
            handle: tokio::runtime::Handle::current(),
            cancel,
            span: tracing::Span::current(),
            reply,
        };
        let sent = match &self.requests {
            Some(requests) => requests.send(request).is_ok(),
            None => false,
        };
        if !sent {
            let message = self
                .failure
                .unwrap_or_else(|| "the sandbox thread ended before it got the code".into());
            return Execution::failed(ExecutionError::new(ErrorKind::Internal, message, None));
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

/// The execution thread: builds the sandbox, says so, waits for the one request, compiles
/// and runs it.
fn serve_one(incoming: std::sync::mpsc::Receiver<Request>, built: std::sync::mpsc::SyncSender<()>) {
    let reply = RefCell::new(None::<tokio::sync::oneshot::Sender<Execution>>);
    // Left, and let go of, before the execution is handed back: the runtime is freed after
    // that, and the caller's span must not wait for it to close.
    let in_span = RefCell::new(None::<tracing::span::EnteredSpan>);
    let deliver = |execution: Execution| {
        drop(in_span.borrow_mut().take());
        if let Some(reply) = reply.borrow_mut().take() {
            let _ = reply.send(execution);
        }
    };
    let next = || {
        let _ = built.send(());
        let request = incoming.recv().ok()?;
        *reply.borrow_mut() = Some(request.reply);
        *in_span.borrow_mut() = Some(request.span.entered());
        let compiled = compile_snippet(&request.code);
        let compiled = match compiled {
            Ok(compiled) => compiled,
            Err(error) => {
                deliver(Execution::failed(error));
                return None;
            }
        };
        Some(engine::Job {
            compiled,
            host: request.host,
            limits: request.limits,
            handle: request.handle,
            cancel: request.cancel,
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
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
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

impl Execution {
    /// An execution that never ran (refused, or lost before it could answer), for hosts that
    /// wrap the sandbox (a worker pool, a gateway draining) and must still answer in its terms.
    pub fn failed(error: ExecutionError) -> Execution {
        Execution {
            result: Err(error),
            logs: Vec::new(),
            calls: Vec::new(),
            notes: Vec::new(),
            stats: ExecutionStats::default(),
        }
    }
}

struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
