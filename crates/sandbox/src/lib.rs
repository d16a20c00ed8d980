//! The sandbox: runs an agent's TypeScript snippet in a fresh, limited QuickJS runtime, with
//! `tools.<namespace>.<name>(args)` bridged to a [`ToolHost`].
//!
//! Each execution gets its own runtime and context (and, in process, its own thread), so
//! nothing of one execution is visible to the next; a worker process may have its sandbox
//! built ahead, even in the process it was forked from ([`Sandbox::build_here`]), as long
//! as nothing ran in it. The snippet sees standard ECMAScript, `tools`, `console` and a few
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
mod prepared;
mod serialize;
mod stack;

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
pub use prepared::{Assignment, Building, Prepared};

/// Entry point: `Sandbox::execute(code, host, limits)`; or a sandbox built ahead of its
/// code ([`Sandbox::prepare`], [`Sandbox::build`]) that runs it once it comes.
pub struct Sandbox;

impl Sandbox {
    /// Runs `code` (an agent's TypeScript: an `async () => {...}` function, or a body using
    /// top-level `await` and `return`) and reports its value, console output and tool calls.
    ///
    /// Must be called from within a tokio runtime: tool calls that do not answer at once run
    /// on it. Dropping the returned future cancels the execution.
    pub async fn execute(code: &str, host: Arc<dyn ToolHost>, limits: Limits) -> Execution {
        Prepared::start(prepared::Warm::No)
            .execute(code, host, limits)
            .await
    }

    /// Starts building a sandbox for one execution, to be run by [`Prepared::execute`].
    /// See [`Sandbox::build`].
    pub fn prepare() -> Prepared {
        Prepared::start(prepared::Warm::Compiler)
    }

    /// Builds a sandbox for one execution on its own thread (the thread, the engine's
    /// runtime and context, the prelude, the compiler's first pages), all before the code is
    /// known, then calls `fetch` on that thread for the one [`Assignment`] it runs (`fetch`
    /// may block until it comes; `None`: there is none). A worker does this while it waits,
    /// so its execution starts on a built sandbox and goes from its pipe to the engine and
    /// back without a hop between threads. Nothing of the build is known to the execution:
    /// its limits, host and clocks begin with the assignment. The sandbox is then freed.
    pub fn build(fetch: impl FnOnce() -> Option<Assignment> + Send + 'static) -> Building {
        prepared::build(prepared::Warm::Compiler, fetch)
    }

    /// [`Sandbox::build`] on the calling thread: builds the sandbox, then calls `fetch`
    /// there and runs the assignment it returns; returns once the execution was delivered
    /// (or `fetch` returned `None`). The thread needs [`Sandbox::STACK_BYTES`] of stack.
    ///
    /// For a fork server's template: it forks inside `fetch`, so that each child returns
    /// from it with its own assignment, on its own copy of a sandbox nothing has run in,
    /// while the template forks the next.
    pub fn build_here(fetch: impl FnOnce() -> Option<Assignment>) {
        prepared::build_here(prepared::Warm::Compiler, fetch)
    }

    /// Native stack an execution's thread needs (the TypeScript compiler runs there).
    pub const STACK_BYTES: usize = prepared::THREAD_STACK_BYTES;
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
