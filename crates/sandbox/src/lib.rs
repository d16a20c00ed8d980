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

/// Entry point: `Sandbox::execute(code, host, limits)`.
pub struct Sandbox;

impl Sandbox {
    /// Runs `code` (an agent's TypeScript: an `async () => {...}` function, or a body using
    /// top-level `await` and `return`) and reports its value, console output and tool calls.
    ///
    /// Must be called from within a tokio runtime: tool calls that do not answer at once run
    /// on it. Dropping the returned future cancels the execution.
    pub async fn execute(code: &str, host: Arc<dyn ToolHost>, limits: Limits) -> Execution {
        let handle = tokio::runtime::Handle::current();
        let cancel = Arc::new(AtomicBool::new(false));
        let _cancel_on_drop = CancelOnDrop(cancel.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let code = code.to_string();
        let thread_cancel = cancel.clone();
        // The caller's span (the gateway's `execute`) is the parent of each tool call's,
        // and tool calls start on the snippet's thread.
        let span = tracing::Span::current();
        let spawned = std::thread::Builder::new()
            .name("codemode-snippet".into())
            .stack_size(THREAD_STACK_BYTES)
            .spawn(move || {
                let mut tx = Some(tx);
                // Left, and let go of, before the execution is handed back: the runtime is
                // freed after that, and the caller's span must not wait for it to close.
                let mut in_span = Some(span.entered());
                let mut deliver = |execution: Execution| {
                    drop(in_span.take());
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(execution);
                    }
                };
                // A panic (a bug in the sandbox or in the host's tools) costs this execution,
                // never the process; its runtime goes down with the thread, unused again.
                let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                    run_snippet(&code, host, limits, handle, thread_cancel, &mut deliver)
                }));
                if let Err(payload) = outcome {
                    deliver(Execution::failed(ExecutionError::new(
                        ErrorKind::Internal,
                        format!(
                            "the sandbox failed internally while running this snippet (a bug; \
                             only this execution was affected): {}",
                            panic_message(payload.as_ref())
                        ),
                        None,
                    )));
                }
            });
        if let Err(e) = spawned {
            return Execution::failed(ExecutionError::new(
                ErrorKind::Internal,
                format!("could not start the sandbox thread: {e}"),
                None,
            ));
        }
        match rx.await {
            Ok(execution) => execution,
            Err(_) => Execution::failed(ExecutionError::new(
                ErrorKind::Internal,
                "the sandbox thread ended without a result",
                None,
            )),
        }
    }
}

/// Compiles and runs one snippet on the current thread (the execution's own).
fn run_snippet(
    code: &str,
    host: Arc<dyn ToolHost>,
    limits: Limits,
    handle: tokio::runtime::Handle,
    cancel: Arc<AtomicBool>,
    deliver: &mut dyn FnMut(Execution),
) {
    // oxc is trusted to parse anything within the nesting limits, but a panic on some odd
    // input gets its own message.
    let compiled = match panic::catch_unwind(|| compile::compile(code)) {
        Ok(Ok(compiled)) => compiled,
        Ok(Err(error)) => return deliver(Execution::failed(error)),
        Err(_) => {
            return deliver(Execution::failed(ExecutionError::new(
                ErrorKind::Internal,
                "the TypeScript compiler failed on this snippet (a bug in the sandbox); \
                 simplifying the code may avoid it",
                None,
            )))
        }
    };
    let job = engine::Job {
        compiled,
        host,
        limits,
        handle,
        cancel,
    };
    engine::run(job, deliver);
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
