//! The catalogue as one live object: tool sources in, names, declarations, search and the
//! [`ToolHost`] the sandbox calls out.
//!
//! [`Catalog::answer_in`] (behind every [`ToolHost`] impl) is the single choke point every
//! tool call from a snippet passes, whatever the source: name resolution, the policy's
//! decision, the execution's [`crate::gate::CallGate`] (approval, replay, audit), and the
//! `tool_call` tracing span with its outcome.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use codemode_policy::{Decision, Policy, ToolNames as PolicyNames};
use codemode_sandbox::{
    AnswerFuture, ToolAnswer, ToolCall, ToolError, ToolErrorKind, ToolFuture, ToolHost, ToolNames,
};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::watch;
use tracing::Instrument;

use crate::answer::SearchQuery;
use crate::gate::{answer_bytes, ungated, Admission, GateCall};
use crate::naming::{identifier, NameMap};
use crate::observe::{CallContext, Hooks};
use crate::search::{SearchDoc, SearchIndex};
use crate::shapes::{Shapes, MAX_OBSERVED_BYTES};
use crate::tool::ToolSpec;
use crate::typescript::{render_tools_global, CompiledNamespace, NamespaceDecl, ToolDecl};

/// A group of tools under one namespace (an MCP server, an API, the demo's `orders`).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceNamespace {
    /// The name at the source (an upstream server's config key).
    pub name: String,
    pub description: Option<String>,
    pub tools: Vec<ToolSpec>,
    /// Whether the namespace can be called now. Only a [`NamespaceStatus::Ready`] one has
    /// tools; the others are listed so the agent is told why they are missing.
    pub status: NamespaceStatus,
}

impl SourceNamespace {
    /// A ready namespace with these tools.
    pub fn ready(
        name: impl Into<String>,
        description: Option<String>,
        tools: Vec<ToolSpec>,
    ) -> Self {
        SourceNamespace {
            name: name.into(),
            description,
            tools,
            status: NamespaceStatus::Ready,
        }
    }
}

/// Where a configured namespace is: serving, still starting, or down with a reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum NamespaceStatus {
    Ready,
    /// Configured and on its way up: a call waits for it (up to the source's own startup
    /// budget).
    Starting,
    /// Configured but not callable: failed to start, kept crashing, disabled, or its entry
    /// is invalid. `reason` is one line for the agent; `retrying` says whether the source
    /// is still trying to bring it up.
    Unavailable {
        reason: String,
        retrying: bool,
    },
}

/// Where tools come from. An MCP upstream, the demo and (later) an OpenAPI spec are all
/// sources; the catalogue knows them only through this.
pub trait ToolSource: Send + Sync + 'static {
    /// The tools available now.
    fn namespaces(&self) -> Vec<SourceNamespace>;

    /// Calls a tool by its source names. `args` is what the snippet passed (`{}` when it
    /// passed nothing to a tool that takes an object). A namespace the source cannot reach
    /// now fails with [`ToolError::unavailable`] and just the reason; the catalogue tells
    /// the agent which namespace, in its own names.
    fn call(&self, namespace: &str, tool: &str, args: Value) -> ToolFuture;

    /// [`Self::call`] with what the caller wants to hear while the call runs (progress).
    /// Sources that can report progress override this; the default ignores the context.
    fn call_with(
        &self,
        namespace: &str,
        tool: &str,
        args: Value,
        context: &CallContext,
    ) -> ToolFuture {
        let _ = context;
        self.call(namespace, tool, args)
    }

    /// [`Self::call_with`] for a source whose answers can arrive as JSON text (an MCP text
    /// block): it hands the text on, so that the sandbox's `JSON.parse` is the first to read
    /// it. The default wraps [`Self::call_with`]'s value.
    fn answer_with(
        &self,
        namespace: &str,
        tool: &str,
        args: Value,
        context: &CallContext,
    ) -> AnswerFuture {
        let future = self.call_with(namespace, tool, args, context);
        Box::pin(async move { future.await.map(ToolAnswer::Value) })
    }

    /// Resolves once `namespace` is no longer [`NamespaceStatus::Starting`] (ready, or given
    /// up on). The source bounds the wait by its own startup budget.
    fn wait_ready(&self, namespace: &str) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let _ = namespace;
        Box::pin(std::future::ready(()))
    }

    /// Bumps whenever [`Self::namespaces`] would answer differently.
    fn changes(&self) -> Option<watch::Receiver<u64>> {
        None
    }
}

/// A namespace as the agent sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamespaceSummary {
    pub ident: String,
    pub description: Option<String>,
    pub tool_count: usize,
    pub status: NamespaceStatus,
}

/// What `search` found, grouped by namespace in ranking order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResults {
    pub query: String,
    /// Tools in the whole catalogue, to say how much was searched.
    pub total_tools: usize,
    /// The namespace the search was kept to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Even the best match covers little of the query: the tools shown are guesses.
    pub weak: bool,
    /// For a namespace listed page by page: where this page is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<Page>,
    pub namespaces: Vec<SearchGroup>,
}

impl SearchResults {
    /// Every hit best first, whatever its group, beside its namespace; equal scores keep
    /// the groups' order.
    pub fn by_score(&self) -> Vec<(&str, &SearchHit)> {
        let mut hits: Vec<(&str, &SearchHit)> = self
            .namespaces
            .iter()
            .flat_map(|g| g.tools.iter().map(move |hit| (g.namespace.as_str(), hit)))
            .collect();
        hits.sort_by(|a, b| b.1.score.total_cmp(&a.1.score));
        hits
    }
}

/// One page of a namespace's tools.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page {
    /// 1-based.
    pub page: usize,
    pub pages: usize,
    pub per_page: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchGroup {
    pub namespace: String,
    pub description: Option<String>,
    pub tool_count: usize,
    pub tools: Vec<SearchHit>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    /// `tools.<namespace>.<ident>`, ready to call.
    pub path: String,
    pub ident: String,
    /// The name at the source, when it differs from `ident`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_name: Option<String>,
    /// One line, the input and output written out; named types as `ns.Name`.
    pub signature: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The shape the tool's result had when it last answered here, when it declares none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
    /// `"deny"` or `"ask"` when the policy will refuse the tool or ask the user first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<&'static str>,
    pub score: f32,
}

impl SearchHit {
    /// The tool's name at its source.
    pub fn source_name(&self) -> &str {
        self.original_name.as_deref().unwrap_or(&self.ident)
    }
}

/// The catalogue: cheap to clone, safe to share, rebuilt whole when a source changes.
#[derive(Clone)]
pub struct Catalog {
    inner: Arc<Inner>,
}

struct Inner {
    sources: Vec<Arc<dyn ToolSource>>,
    snapshot: RwLock<Arc<Snapshot>>,
    generation: watch::Sender<u64>,
    /// What untyped tools returned, for `search` to show.
    shapes: Shapes,
    /// Which calls go ahead, ask, or are refused.
    policy: RwLock<Arc<Policy>>,
}

/// Everything derived from the sources at one moment.
pub(crate) struct Snapshot {
    reachable: Arc<ToolNames>,
    pub(crate) namespaces: Vec<NamespaceEntry>,
    /// (namespace ident, tool ident) → (namespace index, tool index).
    pub(crate) by_ident: HashMap<(String, String), (usize, usize)>,
    pub(crate) index: SearchIndex,
    pub(crate) tool_count: usize,
}

pub(crate) struct NamespaceEntry {
    pub(crate) ident: String,
    pub(crate) original: String,
    pub(crate) description: Option<String>,
    pub(crate) status: NamespaceStatus,
    source: usize,
    pub(crate) compiled: CompiledNamespace,
    pub(crate) tools: Vec<ToolDecl>,
}

/// Longest query `search` and `tools.$search` accept: a task is a few words, and ranking
/// work grows with the query.
pub const MAX_QUERY_BYTES: usize = 4 * 1024;

/// The root function agents call inside `execute` to look tools up.
pub const SEARCH_FUNCTION: &str = "$search";

impl Catalog {
    pub fn new(sources: Vec<Arc<dyn ToolSource>>) -> Catalog {
        let snapshot = Arc::new(build_snapshot(&sources));
        let (generation, _) = watch::channel(0);
        Catalog {
            inner: Arc::new(Inner {
                sources,
                snapshot: RwLock::new(snapshot),
                generation,
                shapes: Shapes::default(),
                policy: RwLock::new(Arc::new(Policy::default())),
            }),
        }
    }

    /// Sets the policy every call is decided by from now on (the default allows all).
    pub fn set_policy(&self, policy: Policy) {
        let policy = Arc::new(policy);
        match self.inner.policy.write() {
            Ok(mut guard) => *guard = policy,
            Err(poisoned) => *poisoned.into_inner() = policy,
        }
    }

    /// The policy calls are decided by now.
    pub fn policy(&self) -> Arc<Policy> {
        match self.inner.policy.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// What the policy says about `tools.<namespace>.<tool>` (TypeScript names); `None` for
    /// a tool the catalogue does not list.
    pub fn decision(&self, namespace: &str, tool: &str) -> Option<Decision> {
        let snapshot = self.snapshot();
        let &(ns_index, tool_index) = snapshot
            .by_ident
            .get(&(namespace.to_owned(), tool.to_owned()))?;
        let ns = &snapshot.namespaces[ns_index];
        Some(decide(&self.policy(), ns, &ns.tools[tool_index]))
    }

    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        match self.inner.snapshot.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Rebuilds from the sources' current tools and tells [`Self::changes`] subscribers.
    pub fn refresh(&self) {
        let snapshot = Arc::new(build_snapshot(&self.inner.sources));
        match self.inner.snapshot.write() {
            Ok(mut guard) => *guard = snapshot,
            Err(poisoned) => *poisoned.into_inner() = snapshot,
        }
        self.inner.generation.send_modify(|g| *g += 1);
    }

    /// Follows every source's changes and refreshes the catalogue. Needs a tokio runtime;
    /// the tasks end when the catalogue is dropped or a source stops reporting.
    pub fn watch_sources(&self) {
        for source in &self.inner.sources {
            let Some(mut changes) = source.changes() else {
                continue;
            };
            let weak = Arc::downgrade(&self.inner);
            tokio::spawn(async move {
                while changes.changed().await.is_ok() {
                    let Some(inner) = weak.upgrade() else {
                        break;
                    };
                    // Rendering thousands of declarations is CPU work: off the runtime.
                    let catalog = Catalog { inner };
                    crate::blocking::run(move || catalog.refresh(), ()).await;
                }
            });
        }
    }

    /// Bumps each time the set of tools changes.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.generation.subscribe()
    }

    pub fn tool_count(&self) -> usize {
        self.snapshot().tool_count
    }

    pub fn namespaces(&self) -> Vec<NamespaceSummary> {
        self.snapshot()
            .namespaces
            .iter()
            .map(|ns| NamespaceSummary {
                ident: ns.ident.clone(),
                description: ns.description.clone(),
                tool_count: ns.tools.len(),
                status: ns.status.clone(),
            })
            .collect()
    }

    /// Every tool's spec as its source gave it, keyed by namespace identifier: what a
    /// classic client would load into the model's context.
    pub fn tool_specs(&self) -> BTreeMap<String, Vec<ToolSpec>> {
        self.snapshot()
            .namespaces
            .iter()
            .map(|ns| {
                (
                    ns.ident.clone(),
                    ns.tools.iter().map(|t| t.spec.clone()).collect(),
                )
            })
            .collect()
    }

    /// The whole declaration file: every namespace, then the `tools` global.
    pub fn declarations(&self) -> String {
        let snapshot = self.snapshot();
        let mut out = String::new();
        for ns in &snapshot.namespaces {
            out.push_str(&ns.compiled.declarations());
            out.push('\n');
        }
        out.push_str(&render_tools_global(
            snapshot.namespaces.iter().map(|ns| ns.ident.as_str()),
        ));
        out
    }

    /// One namespace's declarations (with a `tools` global naming just it), or `None`.
    pub fn namespace_declarations(&self, namespace: &str) -> Option<String> {
        let snapshot = self.snapshot();
        let ns = snapshot
            .namespaces
            .iter()
            .find(|ns| ns.ident == namespace)?;
        let mut out = ns.compiled.declarations();
        out.push('\n');
        out.push_str(&render_tools_global([ns.ident.as_str()]));
        Some(out)
    }

    /// Ranks the catalogue for `query`. An empty query returns no tools: the rendering
    /// then lists the namespaces instead.
    pub fn search(&self, query: &str, limit: usize) -> SearchResults {
        self.find(&SearchQuery::new(query, limit))
    }

    /// The shape a tool without an output schema returned here, if it has answered.
    pub(crate) fn observed_shape(&self, namespace: &str, tool: &str) -> Option<String> {
        self.inner.shapes.get(namespace, tool)
    }
}

/// Namespaces listed in the search text that are not ready; beyond, a count.
const LISTED_NOT_READY: usize = 20;
/// Characters of an unavailable namespace's reason in one line.
const REASON_CHARS: usize = 160;

/// One line per namespace that is starting or down, so the agent knows it exists and why
/// its tools are missing.
pub(crate) fn not_ready_lines(namespaces: &[NamespaceSummary]) -> String {
    let not_ready: Vec<&NamespaceSummary> = namespaces
        .iter()
        .filter(|ns| ns.status != NamespaceStatus::Ready)
        .collect();
    let mut out = String::new();
    for ns in not_ready.iter().take(LISTED_NOT_READY) {
        out.push_str(&format!(
            "// tools.{}: {}\n",
            ns.ident,
            ns.status.one_line(REASON_CHARS)
        ));
    }
    if not_ready.len() > LISTED_NOT_READY {
        out.push_str(&format!(
            "// ...and {} more namespaces that are not available now\n",
            not_ready.len() - LISTED_NOT_READY
        ));
    }
    out
}

impl NamespaceStatus {
    /// `starting: ...` or `unavailable: <reason>`, on one line of at most about `max_chars`.
    pub fn one_line(&self, max_chars: usize) -> String {
        match self {
            NamespaceStatus::Ready => "ready".to_string(),
            NamespaceStatus::Starting => {
                "starting (its tools appear when it is ready; a call waits for it)".to_string()
            }
            NamespaceStatus::Unavailable { reason, retrying } => {
                let flat: String = reason.split_whitespace().collect::<Vec<_>>().join(" ");
                let mut line = if flat.chars().count() > max_chars {
                    let cut: String = flat.chars().take(max_chars.saturating_sub(1)).collect();
                    format!("{cut}…")
                } else {
                    flat
                };
                if *retrying {
                    line.push_str(" (retrying)");
                }
                format!("unavailable: {line}")
            }
        }
    }
}

pub(crate) fn namespace_line(ident: &str, description: Option<&str>, tool_count: usize) -> String {
    let plural = if tool_count == 1 { "tool" } else { "tools" };
    match description {
        Some(description) => {
            let line: String = description
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(120)
                .collect();
            format!("// tools.{ident}: {line} ({tool_count} {plural})\n")
        }
        None => format!("// tools.{ident} ({tool_count} {plural})\n"),
    }
}

fn build_snapshot(sources: &[Arc<dyn ToolSource>]) -> Snapshot {
    let mut collected: Vec<(usize, SourceNamespace)> = Vec::new();
    for (source_index, source) in sources.iter().enumerate() {
        for namespace in source.namespaces() {
            collected.push((source_index, namespace));
        }
    }
    // Namespace identifiers are unique across sources: a second source reusing a name
    // gets a numbered identifier rather than shadowing the first.
    let namespace_names = NameMap::new(collected.iter().map(|(_, ns)| ns.name.clone()));
    let mut taken: HashMap<String, usize> = HashMap::new();

    let mut reachable = ToolNames::new();
    reachable.add_root_function(SEARCH_FUNCTION);
    reachable.add_root_function(crate::answer::DESCRIBE_FUNCTION);
    let mut namespaces = Vec::new();
    let mut by_ident = HashMap::new();
    let mut docs = Vec::new();
    let mut tool_count = 0;
    for (source, namespace) in collected {
        let base = namespace_names
            .ident(&namespace.name)
            .map_or_else(|| identifier(&namespace.name), str::to_string);
        let seen = taken.entry(base.clone()).or_insert(0);
        *seen += 1;
        let ident = if *seen == 1 {
            base
        } else {
            format!("{base}_{seen}")
        };
        let ready = namespace.status == NamespaceStatus::Ready;
        if !ready {
            reachable.add_open_namespace(ident.clone());
        }
        let specs = if ready { namespace.tools } else { Vec::new() };
        let tool_names = NameMap::new(specs.iter().map(|t| t.name.clone()));
        let tools: Vec<ToolDecl> = specs
            .into_iter()
            .map(|spec| ToolDecl {
                ident: tool_names
                    .ident(&spec.name)
                    .map_or_else(|| identifier(&spec.name), str::to_string),
                spec,
            })
            .collect();
        let ns_index = namespaces.len();
        for (tool_index, tool) in tools.iter().enumerate() {
            reachable.add_tool(&ident, &tool.ident);
            by_ident.insert((ident.clone(), tool.ident.clone()), (ns_index, tool_index));
            docs.push(SearchDoc::new(
                &ident,
                &namespace.name,
                namespace.description.as_deref(),
                &tool.ident,
                &tool.spec,
            ));
        }
        // The declaration borrows nothing: the tools move in to be compiled and back out.
        let decl = NamespaceDecl {
            ident,
            original_name: namespace.name,
            description: namespace.description,
            tools,
        };
        let compiled = decl.compile();
        tool_count += decl.tools.len();
        namespaces.push(NamespaceEntry {
            ident: decl.ident,
            original: decl.original_name,
            description: decl.description,
            status: namespace.status,
            source,
            compiled,
            tools: decl.tools,
        });
    }
    Snapshot {
        reachable: Arc::new(reachable),
        namespaces,
        by_ident,
        index: SearchIndex::new(docs),
        tool_count,
    }
}

/// A tool that takes an object gets `{}` when the snippet passed nothing.
fn default_args(args: Value, schema: &Value) -> Value {
    if !args.is_null() {
        return args;
    }
    let takes_object = match schema.get("type") {
        None => {
            schema.get("properties").is_some() || schema.as_object().is_some_and(|o| o.is_empty())
        }
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(types)) => {
            types.iter().any(|t| t == "object") && !types.iter().any(|t| t == "null")
        }
        _ => false,
    };
    if takes_object {
        json!({})
    } else {
        Value::Null
    }
}

impl ToolHost for Catalog {
    fn names(&self) -> Arc<ToolNames> {
        self.snapshot().reachable.clone()
    }

    fn call(&self, call: ToolCall) -> ToolFuture {
        let answer = self.answer(call);
        Box::pin(async move { answer.await.and_then(ToolAnswer::into_value) })
    }

    fn answer(&self, call: ToolCall) -> AnswerFuture {
        self.answer_in(call, &Hooks::default(), &CallContext::default())
    }
}

/// The policy's decision for one listed tool.
pub(crate) fn decide(policy: &Policy, ns: &NamespaceEntry, tool: &ToolDecl) -> Decision {
    policy.decide(
        &PolicyNames {
            namespace: &ns.ident,
            tool: &tool.ident,
            source_namespace: &ns.original,
            source_tool: &tool.spec.name,
        },
        tool.spec.annotations.as_ref(),
    )
}

impl Catalog {
    /// The choke point: resolves a snippet's call to its source, decides it by the policy,
    /// lets the execution's gate admit it, and runs it there. A call into a namespace that
    /// is still starting waits for it; one into a namespace that is down fails at once with
    /// the reason.
    pub(crate) fn answer_in(
        &self,
        call: ToolCall,
        hooks: &Hooks,
        context: &CallContext,
    ) -> AnswerFuture {
        if call.namespace.is_empty() {
            // The root functions (`$search`, `$describe`) are answered by the catalogue; they
            // only read it, so no policy applies.
            let catalog = self.clone();
            let internal = Err(ToolError::new(format!(
                "tools.{} failed inside the gateway",
                call.name
            )));
            let answer = crate::blocking::run(
                move || catalog.root_function(&call.name, &call.args_value()),
                internal,
            );
            return Box::pin(async move { answer.await.map(ToolAnswer::Value) });
        }
        let snapshot = self.snapshot();
        let key = (call.namespace.clone(), call.name.clone());
        let Some(&(ns_index, tool_index)) = snapshot.by_ident.get(&key) else {
            return self.call_unlisted(&snapshot, call, hooks, context);
        };
        let ns = &snapshot.namespaces[ns_index];
        let tool = &ns.tools[tool_index];
        let source = self.inner.sources[ns.source].clone();
        let args = default_args(call.args_value(), &tool.spec.input_schema);
        let path = format!("{}.{}", ns.ident, tool.ident);
        let decision = decide(&self.policy(), ns, tool);
        let span = tracing::info_span!(
            "tool_call",
            tool = %path,
            namespace = %ns.ident,
            source_name = %tool.spec.name,
            decision = decision.action.as_str(),
            args_bytes = call.args.len() as i64,
            outcome = tracing::field::Empty,
            error.kind = tracing::field::Empty,
            result_bytes = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let gate_call = GateCall {
            path: &path,
            source_namespace: &ns.original,
            source_tool: &tool.spec.name,
            args_text: call.args.as_str(),
            args: &args,
            decision: &decision,
        };
        let admission = match &hooks.gate {
            Some(gate) => gate.admit(gate_call),
            None => Box::pin(std::future::ready(ungated(&gate_call))),
        };
        let ident = ns.ident.clone();
        let (source_namespace, source_tool) = (ns.original.clone(), tool.spec.name.clone());
        let context = context.clone();
        let observe = (tool.spec.output_schema.is_none()
            && !self.inner.shapes.knows(&ns.ident, &tool.ident))
        .then(|| (self.inner.clone(), tool.ident.clone()));
        let ending = SpanEnding::new(span.clone());
        Box::pin(
            async move {
                let ticket = match admission.await {
                    Admission::Proceed(ticket) => ticket,
                    Admission::Answered(outcome) => {
                        ending.finish(&outcome);
                        return outcome;
                    }
                };
                // A source says only why it cannot reach the namespace; the agent is told in
                // its own names.
                let answer = source
                    .answer_with(&source_namespace, &source_tool, args, &context)
                    .await
                    .map_err(|error| match error.kind {
                        ToolErrorKind::Unavailable => unavailable(&ident, &error.message),
                        _ => error,
                    });
                if let (Ok(answer), Some((inner, tool))) = (&answer, observe) {
                    observe_answer(&inner.shapes, &ident, &tool, answer);
                }
                let bytes = ending.finish(&answer);
                ticket.finished(&answer, bytes);
                answer
            }
            .instrument(span),
        )
    }

    /// A call whose name is not in the current snapshot: its namespace is starting (wait,
    /// then resolve again), down (say why), or has no such tool (say what is close).
    fn call_unlisted(
        &self,
        snapshot: &Snapshot,
        call: ToolCall,
        hooks: &Hooks,
        context: &CallContext,
    ) -> AnswerFuture {
        let namespace = snapshot
            .namespaces
            .iter()
            .find(|ns| ns.ident == call.namespace);
        let failure = match namespace {
            Some(ns) if ns.status == NamespaceStatus::Starting => {
                let source = self.inner.sources[ns.source].clone();
                let original = ns.original.clone();
                let catalog = self.clone();
                let context = context.clone();
                let hooks = hooks.clone();
                return Box::pin(async move {
                    source.wait_ready(&original).await;
                    if catalog.status_of(&call.namespace) == Some(NamespaceStatus::Starting) {
                        // The source moved on but the watcher has not rebuilt us yet.
                        catalog.refresh();
                    }
                    match catalog.status_of(&call.namespace) {
                        Some(NamespaceStatus::Starting) => {
                            Err(unavailable(&call.namespace, "still starting"))
                        }
                        _ => catalog.answer_in(call, &hooks, &context).await,
                    }
                });
            }
            Some(NamespaceEntry {
                ident,
                status: NamespaceStatus::Unavailable { reason, .. },
                ..
            }) => unavailable(ident, reason),
            _ => ToolError::new(
                snapshot
                    .reachable
                    .missing_message(&call.namespace, Some(&call.name))
                    + " (the tool list changed while the code ran)",
            ),
        };
        Box::pin(std::future::ready(Err(failure)))
    }

    /// Waits up to `limit` for the namespaces that are still starting to come up (or fail),
    /// so that a search made just after start-up sees their tools. Returns at once when
    /// none is starting.
    pub async fn settle_starting(&self, limit: std::time::Duration) {
        let starting: Vec<(Arc<dyn ToolSource>, String)> = self
            .snapshot()
            .namespaces
            .iter()
            .filter(|ns| ns.status == NamespaceStatus::Starting)
            .map(|ns| (self.inner.sources[ns.source].clone(), ns.original.clone()))
            .collect();
        if starting.is_empty() {
            return;
        }
        let waits = starting
            .iter()
            .map(|(source, name)| source.wait_ready(name));
        let _ = tokio::time::timeout(limit, futures_join_all(waits)).await;
        if self
            .snapshot()
            .namespaces
            .iter()
            .any(|ns| ns.status == NamespaceStatus::Starting)
        {
            // Some moved on but the watcher has not rebuilt us yet.
            self.refresh();
        }
    }

    /// The status of the namespace called `ident` now.
    pub fn status_of(&self, ident: &str) -> Option<NamespaceStatus> {
        self.snapshot()
            .namespaces
            .iter()
            .find(|ns| ns.ident == ident)
            .map(|ns| ns.status.clone())
    }
}

/// Records the shape of an untyped tool's first answer. The answer itself is passed on
/// untouched; a JSON text is parsed here only to be observed, and only when small.
fn observe_answer(shapes: &Shapes, namespace: &str, tool: &str, answer: &ToolAnswer) {
    match answer {
        ToolAnswer::Value(value) => shapes.record(namespace, tool, value),
        ToolAnswer::Json(raw) if raw.get().len() <= MAX_OBSERVED_BYTES => {
            if let Ok(value) = serde_json::from_str::<Value>(raw.get()) {
                shapes.record(namespace, tool, &value);
            }
        }
        ToolAnswer::Json(_) => {}
    }
}

/// Records how a call ended on its span; dropped before that, the call was abandoned (its
/// execution ended or its worker died), and the span says so as an error.
struct SpanEnding {
    span: tracing::Span,
    done: bool,
}

impl SpanEnding {
    fn new(span: tracing::Span) -> SpanEnding {
        SpanEnding { span, done: false }
    }

    /// Returns the answer's size in bytes (0 for an error).
    fn finish(mut self, outcome: &Result<ToolAnswer, ToolError>) -> u64 {
        self.done = true;
        match outcome {
            Ok(answer) => {
                let bytes = answer_bytes(answer);
                self.span.record("outcome", "ok");
                self.span.record("result_bytes", bytes as i64);
                bytes
            }
            Err(error) => {
                let outcome = if error.kind == ToolErrorKind::Denied {
                    "denied"
                } else {
                    "error"
                };
                self.span.record("outcome", outcome);
                self.span.record("error.kind", error.kind.as_str());
                self.span.record("otel.status_code", "ERROR");
                0
            }
        }
    }
}

impl Drop for SpanEnding {
    fn drop(&mut self) {
        if !self.done {
            self.span.record("outcome", "abandoned");
            self.span.record("error.kind", "abandoned");
            self.span.record("otel.status_code", "ERROR");
        }
    }
}

/// What a call into a namespace that cannot be reached throws.
fn unavailable(ident: &str, reason: &str) -> ToolError {
    ToolError::unavailable(format!(
        "tools.{ident} is configured but unavailable: {reason}"
    ))
}

/// Awaits every future (the catalogue has no `futures` dependency for one join).
async fn futures_join_all<F: Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    for future in futures {
        future.await;
    }
}
