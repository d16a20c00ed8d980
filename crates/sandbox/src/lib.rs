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
//! never give a snippet a capability the host did not declare in its [`ToolCatalog`].

mod alloc;
mod bytecode;
mod compile;
mod engine;
mod error;
mod host;
mod limits;
mod output;
mod stack;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use error::{ErrorKind, ExecutionError, SourceLocation};
pub use host::{ToolCall, ToolCatalog, ToolError, ToolErrorKind, ToolFuture, ToolHost};
pub use limits::Limits;
pub use output::{CallRecord, Execution, ExecutionStats, LogEntry, LogLevel};

/// Native stack for an execution's thread: well above the interpreter's own stack limit, so
/// that QuickJS reports deep recursion before the thread could overflow.
const THREAD_STACK_BYTES: usize = 16 * 1024 * 1024;

/// Entry point: `Sandbox::execute(code, host, limits)`.
pub struct Sandbox;

impl Sandbox {
    /// Runs `code` (an agent's TypeScript: an `async () => {...}` function, or a body using
    /// top-level `await` and `return`) and reports its value, console output and tool calls.
    ///
    /// Must be called from within a tokio runtime: tool calls that do not answer at once run
    /// on it. Dropping the returned future cancels the execution.
    pub async fn execute(code: &str, host: Arc<dyn ToolHost>, limits: Limits) -> Execution {
        // oxc is trusted to parse anything, but a panic on some odd input must cost one
        // execution, not the gateway.
        let compiled = match std::panic::catch_unwind(|| compile::compile(code)) {
            Ok(Ok(compiled)) => compiled,
            Ok(Err(error)) => return Execution::failed(error),
            Err(_) => {
                return Execution::failed(ExecutionError::new(
                    ErrorKind::Internal,
                    "the TypeScript compiler failed on this snippet (a bug in the sandbox); \
                     simplifying the code may avoid it",
                    None,
                ))
            }
        };
        let handle = tokio::runtime::Handle::current();
        let cancel = Arc::new(AtomicBool::new(false));
        let _cancel_on_drop = CancelOnDrop(cancel.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job = engine::Job {
            compiled,
            host,
            limits,
            handle,
            cancel,
        };
        let spawned = std::thread::Builder::new()
            .name("codemode-snippet".into())
            .stack_size(THREAD_STACK_BYTES)
            .spawn(move || {
                engine::run(job, |execution| {
                    let _ = tx.send(execution);
                });
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
                "the sandbox thread ended without a result (it panicked)",
                None,
            )),
        }
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
