//! The catalogue as one live object: tool sources in, names, declarations, search and the
//! [`ToolHost`] the sandbox calls out.
//!
//! [`Catalog::call`] (through [`ToolHost`]) is the single choke point every tool call from a
//! snippet passes: name resolution, the tracing span, and later per-call policy and audit
//! hook in there, whatever the source.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use codemode_sandbox::{
    AnswerFuture, ToolAnswer, ToolCall, ToolError, ToolErrorKind, ToolFuture, ToolHost, ToolNames,
};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::watch;
use tracing::Instrument;

use crate::naming::{identifier, NameMap};
use crate::observe::CallContext;
use crate::search::{document_text, SearchDoc, SearchIndex};
use crate::tool::ToolSpec;
use crate::typescript::{
    render_tools_global, CompiledNamespace, NamespaceDecl, ToolDecl, DEFAULT_SIGNATURE_CAP,
};

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
    pub namespaces: Vec<SearchGroup>,
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
    pub signature: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    pub score: f32,
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
}

/// Everything derived from the sources at one moment.
struct Snapshot {
    reachable: Arc<ToolNames>,
    namespaces: Vec<NamespaceEntry>,
    /// (namespace ident, tool ident) → (namespace index, tool index).
    by_ident: HashMap<(String, String), (usize, usize)>,
    index: SearchIndex,
    tool_count: usize,
}

struct NamespaceEntry {
    ident: String,
    original: String,
    description: Option<String>,
    status: NamespaceStatus,
    source: usize,
    compiled: CompiledNamespace,
    tools: Vec<ToolDecl>,
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
            }),
        }
    }

    fn snapshot(&self) -> Arc<Snapshot> {
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
        let snapshot = self.snapshot();
        let mut groups: Vec<SearchGroup> = Vec::new();
        for (doc_index, score) in snapshot.index.search(query, limit.max(1)) {
            let doc = snapshot.index.doc(doc_index);
            let Some(&(ns_index, tool_index)) = snapshot
                .by_ident
                .get(&(doc.namespace.clone(), doc.ident.clone()))
            else {
                continue;
            };
            let ns = &snapshot.namespaces[ns_index];
            let tool = &ns.tools[tool_index];
            let Some(signature) = ns.compiled.signature(&tool.ident, DEFAULT_SIGNATURE_CAP) else {
                continue;
            };
            let hit = SearchHit {
                path: format!("tools.{}.{}", ns.ident, tool.ident),
                ident: tool.ident.clone(),
                original_name: (tool.spec.name != tool.ident).then(|| tool.spec.name.clone()),
                signature: signature.signature,
                summary: signature.summary,
                score,
            };
            match groups.iter_mut().find(|g| g.namespace == ns.ident) {
                Some(group) => group.tools.push(hit),
                None => groups.push(SearchGroup {
                    namespace: ns.ident.clone(),
                    description: ns.description.clone(),
                    tool_count: ns.tools.len(),
                    tools: vec![hit],
                }),
            }
        }
        SearchResults {
            query: query.to_string(),
            total_tools: snapshot.tool_count,
            namespaces: groups,
        }
    }

    /// Search results as the agent reads them: TypeScript signatures grouped by namespace,
    /// each with its one-line doc. With no hits (or no query) it lists the namespaces.
    pub fn render_search(&self, results: &SearchResults) -> String {
        let mut out = String::new();
        if results.namespaces.is_empty() {
            if !results.query.trim().is_empty() {
                out.push_str(&format!(
                    "// No tool matched \"{}\". The namespaces are:\n",
                    results.query
                ));
            } else {
                out.push_str(
                    "// Namespaces (search with words from the task to see signatures):\n",
                );
            }
            let all = self.namespaces();
            for ns in all.iter().filter(|ns| ns.status == NamespaceStatus::Ready) {
                out.push_str(&namespace_line(
                    &ns.ident,
                    ns.description.as_deref(),
                    ns.tool_count,
                ));
            }
            out.push_str(&not_ready_lines(&all));
            return out;
        }
        let shown: usize = results.namespaces.iter().map(|g| g.tools.len()).sum();
        out.push_str(&format!(
            "// {shown} of {} tools match \"{}\". Call them inside execute as shown.\n",
            results.total_tools, results.query
        ));
        let names_types = results.namespaces.iter().any(|group| {
            let prefix = format!("{}.", group.namespace);
            group
                .tools
                .iter()
                .any(|hit| hit.signature.contains(&prefix))
        });
        if names_types {
            out.push_str(
                "// Types written ns.Name are declared in the resource codemode://types/<ns>.d.ts.\n",
            );
        }
        for group in &results.namespaces {
            out.push('\n');
            out.push_str(&namespace_line(
                &group.namespace,
                group.description.as_deref(),
                group.tool_count,
            ));
            for hit in &group.tools {
                if let Some(summary) = &hit.summary {
                    out.push_str(&format!("/** {summary} */\n"));
                }
                out.push_str(&format!("tools.{}.{};\n", group.namespace, hit.signature));
            }
        }
        let not_ready = not_ready_lines(&self.namespaces());
        if !not_ready.is_empty() {
            out.push('\n');
            out.push_str(&not_ready);
        }
        out
    }
}

/// Namespaces listed in the search text that are not ready; beyond, a count.
const LISTED_NOT_READY: usize = 20;
/// Characters of an unavailable namespace's reason in one line.
const REASON_CHARS: usize = 160;

/// One line per namespace that is starting or down, so the agent knows it exists and why
/// its tools are missing.
fn not_ready_lines(namespaces: &[NamespaceSummary]) -> String {
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

fn namespace_line(ident: &str, description: Option<&str>, tool_count: usize) -> String {
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
            docs.push(SearchDoc {
                namespace: ident.clone(),
                ident: tool.ident.clone(),
                original_name: tool.spec.name.clone(),
                text: document_text(
                    &namespace.name,
                    &tool.spec.name,
                    tool.spec.title.as_deref(),
                    tool.spec.description.as_deref(),
                    &tool.spec.input_schema,
                ),
            });
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
        self.call_in(call, &CallContext::default())
    }

    fn answer(&self, call: ToolCall) -> AnswerFuture {
        self.answer_in(call, &CallContext::default())
    }
}

impl Catalog {
    /// [`Self::answer_in`] as a value.
    pub(crate) fn call_in(&self, call: ToolCall, context: &CallContext) -> ToolFuture {
        let answer = self.answer_in(call, context);
        Box::pin(async move { answer.await.and_then(ToolAnswer::into_value) })
    }

    /// The choke point: resolves a snippet's call to its source and runs it there. A call
    /// into a namespace that is still starting waits for it; one into a namespace that is
    /// down fails at once with the reason.
    pub(crate) fn answer_in(&self, call: ToolCall, context: &CallContext) -> AnswerFuture {
        if call.namespace.is_empty() && call.name == SEARCH_FUNCTION {
            let catalog = self.clone();
            let internal = Err(ToolError::new("tools.$search failed inside the gateway"));
            let search = crate::blocking::run(
                move || catalog.search_from_snippet(&call.args_value()),
                internal,
            );
            return Box::pin(async move { search.await.map(ToolAnswer::Value) });
        }
        let snapshot = self.snapshot();
        let key = (call.namespace.clone(), call.name.clone());
        let Some(&(ns_index, tool_index)) = snapshot.by_ident.get(&key) else {
            return self.call_unlisted(&snapshot, call, context);
        };
        let ns = &snapshot.namespaces[ns_index];
        let tool = &ns.tools[tool_index];
        let source = self.inner.sources[ns.source].clone();
        let args = default_args(call.args_value(), &tool.spec.input_schema);
        let span = tracing::info_span!(
            "tool_call",
            namespace = %ns.ident,
            tool = %tool.ident,
            source_name = %tool.spec.name,
        );
        let future = source.answer_with(&ns.original, &tool.spec.name, args, context);
        let ident = ns.ident.clone();
        Box::pin(
            async move {
                // A source says only why it cannot reach the namespace; the agent is told in
                // its own names.
                future.await.map_err(|error| match error.kind {
                    ToolErrorKind::Unavailable => unavailable(&ident, &error.message),
                    _ => error,
                })
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
                        _ => catalog.answer_in(call, &context).await,
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

impl Catalog {
    /// `tools.$search("query")` or `tools.$search({ query, limit })` inside a snippet.
    fn search_from_snippet(&self, args: &Value) -> Result<Value, ToolError> {
        let (query, limit) = match args {
            Value::String(query) => (query.clone(), 10),
            Value::Object(o) => (
                o.get("query")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                o.get("limit").and_then(Value::as_u64).unwrap_or(10) as usize,
            ),
            _ => {
                return Err(ToolError::new(
                    "expected a query string, e.g. tools.$search(\"create issue\")",
                ))
            }
        };
        if query.len() > MAX_QUERY_BYTES {
            return Err(ToolError::new(format!(
                "the query is {} bytes; at most {MAX_QUERY_BYTES} are searched (use a few words from the task)",
                query.len()
            )));
        }
        let results = self.search(&query, limit.clamp(1, 50));
        let hits: Vec<Value> = results
            .namespaces
            .iter()
            .flat_map(|group| {
                group.tools.iter().map(|hit| {
                    json!({
                        "path": hit.path,
                        "signature": hit.signature,
                        "description": hit.summary,
                    })
                })
            })
            .collect();
        Ok(Value::Array(hits))
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
