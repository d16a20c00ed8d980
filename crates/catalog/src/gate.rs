//! The per-execution half of the choke point. The catalogue resolves a call and asks the
//! policy what it says ([`Decision`]); a [`CallGate`], supplied by whoever runs the
//! execution (the gateway), then admits the call, answers it itself (a refusal, or a replay
//! from a journal), or makes it wait for the user. The gate hears how every call it let
//! through ended, and a call abandoned midway (the execution ended, the worker died) ends
//! its ticket unfinished.
//!
//! Without a gate the catalogue applies the decision alone: allow runs, deny refuses, and
//! ask refuses too, since nobody can be asked.

use std::future::Future;
use std::pin::Pin;

use codemode_policy::{Action, Decision};
use codemode_sandbox::{ToolAnswer, ToolError};
use serde_json::Value;

/// One resolved call, as the gate sees it before it runs.
#[derive(Debug, Clone, Copy)]
pub struct GateCall<'a> {
    /// `namespace.tool` in the snippet's names.
    pub path: &'a str,
    /// The namespace and tool at their source (an MCP server's config key and tool name).
    pub source_namespace: &'a str,
    pub source_tool: &'a str,
    /// The arguments as the snippet wrote them (JSON text) and as they will be sent.
    pub args_text: &'a str,
    pub args: &'a Value,
    /// What the policy says about this tool.
    pub decision: &'a Decision,
}

/// What a gate does with a call.
pub enum Admission {
    /// Run it; the ticket hears how it ended.
    Proceed(Box<dyn CallTicket>),
    /// Do not run it: this is its outcome (a refusal, or a recorded answer replayed).
    Answered(Result<ToolAnswer, ToolError>),
}

pub type AdmissionFuture = Pin<Box<dyn Future<Output = Admission> + Send>>;

/// Decides, for one execution, what happens to each call.
pub trait CallGate: Send + Sync + 'static {
    /// Called once per call, after resolution and before the source sees it.
    fn admit(&self, call: GateCall<'_>) -> AdmissionFuture;
}

/// A call that was let through. Dropped without [`CallTicket::finished`], the call was
/// abandoned: its execution ended or its worker died while it ran.
pub trait CallTicket: Send + 'static {
    /// The call ended; `result_bytes` is the size of its answer as JSON.
    fn finished(self: Box<Self>, outcome: &Result<ToolAnswer, ToolError>, result_bytes: u64);
}

/// The ticket of a gate that does not listen.
pub struct Unwatched;

impl CallTicket for Unwatched {
    fn finished(self: Box<Self>, _: &Result<ToolAnswer, ToolError>, _: u64) {}
}

/// What the catalogue does with a call when no gate was given.
pub(crate) fn ungated(call: &GateCall<'_>) -> Admission {
    match call.decision.action {
        Action::Allow => Admission::Proceed(Box::new(Unwatched)),
        Action::Deny => Admission::Answered(Err(ToolError::denied(
            call.decision.denied_message(call.path),
        ))),
        Action::Ask => Admission::Answered(Err(ToolError::denied(cannot_ask_message(
            call.path,
            call.decision,
        )))),
    }
}

/// What a call that needs approval throws when nobody can be asked.
pub fn cannot_ask_message(path: &str, decision: &Decision) -> String {
    format!(
        "tools.{path} needs the user's approval ({}), and this client cannot be asked (it \
         declares no elicitation); to allow it, add a rule before the others in the config's \
         policy: {{\"tools\": \"{path}\", \"action\": \"allow\"}}",
        decision.reason
    )
}

/// The size of an answer as JSON, without building the text of a value.
pub fn answer_bytes(answer: &ToolAnswer) -> u64 {
    match answer {
        ToolAnswer::Json(raw) => raw.get().len() as u64,
        ToolAnswer::Value(value) => {
            let mut counter = ByteCounter(0);
            // Writing into a counter cannot fail.
            let _ = serde_json::to_writer(&mut counter, value);
            counter.0
        }
    }
}

struct ByteCounter(u64);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
