//! The boundary between a snippet and the world: the tools it may call.
//!
//! The sandbox knows tools only as `namespace.name` pairs and JSON values. Where they come
//! from (MCP servers, OpenAPI specs, the demo data) is the host's business.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::output::JsonText;

/// What a tool call resolves to.
pub type ToolFuture = Pin<Box<dyn Future<Output = Result<Value, ToolError>> + Send + 'static>>;

/// A tool's answer as the sandbox takes it in: a value, or JSON text that goes straight into
/// the engine's `JSON.parse` (a host that receives answers as text, such as a worker's
/// pipe, need not build a value only to write it out again).
#[derive(Debug)]
pub enum ToolAnswer {
    Value(Value),
    Json(Box<serde_json::value::RawValue>),
}

impl ToolAnswer {
    /// The answer as a value, parsed if it came as text.
    pub fn into_value(self) -> Result<Value, ToolError> {
        match self {
            ToolAnswer::Value(value) => Ok(value),
            ToolAnswer::Json(raw) => serde_json::from_str(raw.get())
                .map_err(|e| ToolError::new(format!("the answer is not JSON: {e}"))),
        }
    }

    /// The answer as JSON text, written if it came as a value.
    pub fn into_json(self) -> Result<Box<serde_json::value::RawValue>, ToolError> {
        match self {
            ToolAnswer::Json(raw) => Ok(raw),
            ToolAnswer::Value(value) => serde_json::value::to_raw_value(&value)
                .map_err(|e| ToolError::new(format!("the answer is not JSON: {e}"))),
        }
    }
}

/// What [`ToolHost::answer`] resolves to.
pub type AnswerFuture =
    Pin<Box<dyn Future<Output = Result<ToolAnswer, ToolError>> + Send + 'static>>;

/// One call from a snippet: `tools.<namespace>.<name>(args)`. Root functions such as
/// `tools.$search(query)` have an empty namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub namespace: String,
    pub name: String,
    /// The argument as the JSON text the sandbox wrote (`null` when the snippet passed
    /// nothing): a host that only hands it on never parses it.
    pub args: JsonText,
}

impl ToolCall {
    /// The argument, parsed.
    pub fn args_value(&self) -> Value {
        self.args.to_value()
    }
}

/// A failed tool call, as the host describes it. The snippet sees it as a rejected
/// promise: an `Error` named `ToolError` whose `kind` is [`ToolErrorKind::as_str`] and whose
/// message says which tool failed and this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolError {
    pub message: String,
    pub kind: ToolErrorKind,
}

/// Why a call failed, as a snippet can test it (`err.kind`). On the wire and in JSON it is
/// the same snake-case name the snippet sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolErrorKind {
    /// The tool was reached and failed, or its answer could not be used (`"tool_error"`).
    #[default]
    #[serde(rename = "tool_error")]
    Tool,
    /// The arguments do not match the tool's input schema; nothing was sent to the tool
    /// (`"invalid_arguments"`).
    InvalidArguments,
    /// The tool did not answer in time and the call was cancelled (`"timeout"`).
    Timeout,
    /// The tool's server is configured but cannot be reached now (`"unavailable"`). The
    /// host makes the message complete on its own (`tools.x is configured but unavailable:
    /// …`); it is shown as it is, without the `tools.x.y failed:` prefix.
    Unavailable,
    /// The connection to the tool's server broke or spoke nonsense mid-call; the call may or
    /// may not have taken effect (`"transport"`).
    Transport,
    /// A limit of this execution refused the call (tool calls, memory); the execution ends
    /// with that limit's error even if the snippet catches this one (`"limit"`).
    Limit,
    /// The gateway's policy refused the call, or the user did not approve it; nothing was
    /// sent to the tool. The message names the rule or the answer, and says it whole
    /// (`"denied"`).
    Denied,
}

impl ToolErrorKind {
    /// The value of the JavaScript error's `kind` property.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolErrorKind::Tool => "tool_error",
            ToolErrorKind::InvalidArguments => "invalid_arguments",
            ToolErrorKind::Timeout => "timeout",
            ToolErrorKind::Unavailable => "unavailable",
            ToolErrorKind::Transport => "transport",
            ToolErrorKind::Limit => "limit",
            ToolErrorKind::Denied => "denied",
        }
    }

    /// Whether the snippet's message starts with the tool's name (`tools.x.y failed: …`);
    /// an [`ToolErrorKind::Unavailable`] or [`ToolErrorKind::Denied`] message names the tool
    /// itself.
    pub fn names_the_tool(self) -> bool {
        !matches!(self, ToolErrorKind::Unavailable | ToolErrorKind::Denied)
    }
}

impl ToolError {
    /// A failure of this kind; `message` says what went wrong, not which tool.
    pub fn of(kind: ToolErrorKind, message: impl Into<String>) -> Self {
        ToolError {
            message: message.into(),
            kind,
        }
    }

    /// A plain tool error ([`ToolErrorKind::Tool`]).
    pub fn new(message: impl Into<String>) -> Self {
        Self::of(ToolErrorKind::Tool, message)
    }

    /// The server behind the tool is configured but not reachable; `message` says so whole.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::of(ToolErrorKind::Unavailable, message)
    }

    /// Policy or the user refused the call; `message` says so whole, naming the tool.
    pub fn denied(message: impl Into<String>) -> Self {
        Self::of(ToolErrorKind::Denied, message)
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ToolError {}

/// The tools a host offers. The snippet's `tools` object is built from this and nothing else.
pub trait ToolHost: Send + Sync + 'static {
    /// Every name the snippet may reach. Read once per execution.
    fn names(&self) -> Arc<ToolNames>;

    /// Runs one call. The future is polled once on the sandbox's thread (so an in-process
    /// host that answers at once costs no thread hop) and, if not ready, on the tokio
    /// runtime that called [`crate::Sandbox::execute`]; calls of one snippet overlap.
    /// Dropping the future cancels the call.
    fn call(&self, call: ToolCall) -> ToolFuture;

    /// [`ToolHost::call`] as the sandbox makes it: a host whose answers arrive as JSON text
    /// overrides this to hand the text on as it came.
    fn answer(&self, call: ToolCall) -> AnswerFuture {
        let future = self.call(call);
        Box::pin(async move { future.await.map(ToolAnswer::Value) })
    }

    /// Whether this host's answer futures need no async runtime and do no more than hand
    /// over an answer once woken (a worker's pipe does). The sandbox then polls them on the
    /// execution's own thread, so an answer wakes the snippet directly instead of through a
    /// task on the runtime. Work done while polled counts as the snippet's CPU time, so a
    /// host that does real work (an upstream call) must leave this `false`.
    fn answers_without_runtime(&self) -> bool {
        false
    }

    /// For a host whose answers come in on the execution's own thread (one that
    /// [`ToolHost::answers_without_runtime`]): blocks that thread until an answer may have
    /// come in or `timeout` passed, takes in what came and wakes the calls it answers.
    /// Returns `false` (the default) when the host has no such input: the sandbox then
    /// waits on its own channel, woken by whichever thread the answer reaches.
    ///
    /// Waiting here saves a thread hand-off per answer: the answer wakes the execution's
    /// thread itself, not a reader thread of the host that would then wake it.
    fn wait_for_answers(&self, _timeout: Duration) -> bool {
        false
    }
}

/// Names reachable from a snippet: namespaces of tools, plus root functions on `tools`
/// itself. Cheap to query by name whatever its size: the sandbox resolves names lazily.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolNames {
    namespaces: BTreeMap<String, BTreeSet<String>>,
    /// Namespaces whose tool names are not known here (a server still starting, or one
    /// that is down): any name resolves to a function, and the host answers the call.
    open: BTreeSet<String>,
    root: BTreeSet<String>,
}

impl ToolNames {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `tools.<namespace>.<name>`.
    pub fn add_tool(&mut self, namespace: impl Into<String>, name: impl Into<String>) {
        let namespace = namespace.into();
        self.open.remove(&namespace);
        self.namespaces
            .entry(namespace)
            .or_default()
            .insert(name.into());
    }

    /// Adds a namespace whose tools are not listed: every `tools.<namespace>.<name>` is a
    /// function and its calls go to the host, which knows whether the namespace has come up
    /// (a server that was still starting) or why it cannot be reached.
    pub fn add_open_namespace(&mut self, namespace: impl Into<String>) {
        let namespace = namespace.into();
        if !self.namespaces.contains_key(&namespace) {
            self.open.insert(namespace);
        }
    }

    /// True for a namespace added with [`Self::add_open_namespace`].
    pub fn is_open(&self, namespace: &str) -> bool {
        self.open.contains(namespace)
    }

    /// The open namespaces, in name order.
    pub fn open_namespaces(&self) -> impl Iterator<Item = &str> {
        self.open.iter().map(String::as_str)
    }

    /// Adds a function directly on `tools` (`tools.$search`).
    pub fn add_root_function(&mut self, name: impl Into<String>) {
        self.root.insert(name.into());
    }

    pub fn has_namespace(&self, namespace: &str) -> bool {
        self.namespaces.contains_key(namespace) || self.open.contains(namespace)
    }

    /// True for a tool in a namespace (any name in an open one), or a root function when
    /// `namespace` is empty.
    pub fn has_tool(&self, namespace: &str, name: &str) -> bool {
        if namespace.is_empty() {
            return self.root.contains(name);
        }
        self.open.contains(namespace)
            || self
                .namespaces
                .get(namespace)
                .is_some_and(|tools| tools.contains(name))
    }

    /// Every namespace, listed and open, in name order.
    pub fn namespaces(&self) -> impl Iterator<Item = &str> {
        let mut all: Vec<&str> = self
            .namespaces
            .keys()
            .chain(self.open.iter())
            .map(String::as_str)
            .collect();
        all.sort_unstable();
        all.into_iter()
    }

    pub fn tools(&self, namespace: &str) -> impl Iterator<Item = &str> {
        self.namespaces
            .get(namespace)
            .into_iter()
            .flat_map(|tools| tools.iter().map(String::as_str))
    }

    pub fn root_functions(&self) -> impl Iterator<Item = &str> {
        self.root.iter().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.namespaces.values().map(BTreeSet::len).sum::<usize>() + self.root.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The message for a name that does not exist, with the closest existing names.
    /// `name` is `None` when the snippet reached for `tools.<namespace>` itself.
    pub fn missing_message(&self, namespace: &str, name: Option<&str>) -> String {
        match name {
            None => {
                let candidates = self
                    .namespaces()
                    .chain(self.root_functions())
                    .map(|n| (n.to_string(), format!("tools.{n}")));
                let wanted = format!("tools.{namespace}");
                let mut message = format!("{wanted} does not exist.");
                append_suggestions(&mut message, namespace, candidates);
                let listed: Vec<&str> = self.namespaces().collect();
                if !listed.is_empty() {
                    message.push_str(&format!(" Namespaces: {}.", listed.join(", ")));
                }
                message
            }
            Some(name) => {
                let wanted = format!("tools.{namespace}.{name}");
                let mut message = format!("{wanted} is not a tool.");
                // The right name is often in the wrong namespace, so look everywhere but
                // rank the asked-for namespace's tools first on ties.
                let candidates = self.namespaces.iter().flat_map(|(ns, tools)| {
                    tools
                        .iter()
                        .map(move |tool| (tool.clone(), format!("tools.{ns}.{tool}")))
                });
                append_suggestions(&mut message, name, candidates);
                message
            }
        }
    }
}

fn append_suggestions(
    message: &mut String,
    wanted: &str,
    candidates: impl Iterator<Item = (String, String)>,
) {
    let wanted_lower = wanted.to_lowercase();
    let mut scored: Vec<(f64, String)> = candidates
        .map(|(name, path)| {
            let lower = name.to_lowercase();
            let mut score = strsim::jaro_winkler(&wanted_lower, &lower);
            if lower.contains(&wanted_lower) || wanted_lower.contains(&lower) {
                score = score.max(0.9);
            }
            (score, path)
        })
        .filter(|(score, _)| *score >= 0.75)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let best: Vec<String> = scored.into_iter().take(3).map(|(_, path)| path).collect();
    if !best.is_empty() {
        message.push_str(&format!(" Did you mean {}?", best.join(", ")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_across_namespaces() {
        let mut catalog = ToolNames::new();
        catalog.add_tool("orders", "list");
        catalog.add_tool("customers", "batchGet");
        let message = catalog.missing_message("orders", Some("lst"));
        assert!(
            message.contains("Did you mean tools.orders.list"),
            "{message}"
        );
        let message = catalog.missing_message("orders", Some("batchget"));
        assert!(message.contains("tools.customers.batchGet"), "{message}");
        let message = catalog.missing_message("ordrs", None);
        assert!(message.contains("Did you mean tools.orders"), "{message}");
    }
}
