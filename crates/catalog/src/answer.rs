//! What `search` answers: ranked tools, a namespace page by page, or one tool's full
//! declaration, rendered as TypeScript the agent can call as written.
//!
//! Every named type a shown signature uses is declared once at the end of the answer
//! (`declare namespace ns { interface Name … }`), so no answer sends the model to a resource.
//! The top [`DOCUMENTED_HITS`] hits carry their property documentation (descriptions,
//! formats, defaults, bounds); the rest are one line each.
//!
//! **The budget.** An answer holds at most [`BASE_BUDGET_CHARS`] + [`BUDGET_CHARS_PER_HIT`]
//! × `limit` characters (about 500 + 200 × `limit` tokens). A hit that would pass it is shown
//! in a shorter form (documented → one line → only its name and summary, with the call that
//! shows the rest), never cut mid-type.

use serde::Serialize;
use serde_json::{json, Value};

use codemode_sandbox::ToolError;

use crate::catalog::{
    namespace_line, not_ready_lines, Catalog, NamespaceStatus, Page, SearchGroup, SearchHit,
    SearchResults, Snapshot, MAX_QUERY_BYTES, SEARCH_FUNCTION,
};
use crate::typescript::{Detail, ToolText, UNTYPED_RESULT, UNTYPED_RESULT_DOC};
use codemode_policy::{Action, Policy};

/// The root function code calls for one tool's full declaration.
pub const DESCRIBE_FUNCTION: &str = "$describe";

/// Hits shown with their property documentation.
pub const DOCUMENTED_HITS: usize = 3;
/// Characters every answer may use, and more per requested hit.
pub const BASE_BUDGET_CHARS: usize = 2_000;
pub const BUDGET_CHARS_PER_HIT: usize = 800;
/// Most tools on one page of a namespace listing.
pub const MAX_PAGE_SIZE: usize = 50;
/// Characters a full declaration may use (one tool and every type it refers to).
const DESCRIBE_BUDGET_CHARS: usize = 60_000;
/// Namespaces listed when nothing matched well.
const LISTED_NAMESPACES: usize = 30;

/// One `search` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// Words from the task; empty lists the namespaces, or with `namespace`, its tools.
    pub query: String,
    pub limit: usize,
    /// Keep to this namespace identifier.
    pub namespace: Option<String>,
    /// 1-based page of a namespace listing.
    pub page: usize,
}

impl SearchQuery {
    pub fn new(query: impl Into<String>, limit: usize) -> Self {
        SearchQuery {
            query: query.into(),
            limit,
            namespace: None,
            page: 1,
        }
    }
}

/// One tool in full: what `search({ describe })` and `tools.$describe` return.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolDescription {
    pub path: String,
    /// The whole declaration: documentation, signature and every type it uses.
    pub declaration: String,
    #[serde(rename = "inputSchema")]
    pub input_schema: Value,
    #[serde(rename = "outputSchema", skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// The shape of its last result here, when it declares no output schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
}

impl Catalog {
    /// Ranks (or, for a namespace and no query, lists) the catalogue's tools.
    pub fn find(&self, request: &SearchQuery) -> SearchResults {
        let snapshot = self.snapshot();
        let limit = request.limit.max(1);
        let mut results = SearchResults {
            query: request.query.clone(),
            total_tools: snapshot.tool_count,
            namespace: request.namespace.clone(),
            weak: false,
            page: None,
            namespaces: Vec::new(),
        };
        let ranked: Vec<(usize, usize, f32)> = match &request.namespace {
            Some(namespace) if request.query.trim().is_empty() => {
                let Some(ns_index) = snapshot
                    .namespaces
                    .iter()
                    .position(|ns| ns.ident == *namespace)
                else {
                    return results;
                };
                let per_page = limit.min(MAX_PAGE_SIZE);
                let count = snapshot.namespaces[ns_index].tools.len();
                let pages = count.div_ceil(per_page).max(1);
                let page = request.page.clamp(1, pages);
                results.page = Some(Page {
                    page,
                    pages,
                    per_page,
                });
                ((page - 1) * per_page..(page * per_page).min(count))
                    .map(|tool| (ns_index, tool, 1.0))
                    .collect()
            }
            only => {
                let ranking = snapshot
                    .index
                    .search(&request.query, limit, only.as_deref());
                results.weak = ranking.weak && !request.query.trim().is_empty();
                ranking
                    .hits
                    .into_iter()
                    .filter_map(|(doc, score)| {
                        let doc = snapshot.index.doc(doc);
                        let &(ns, tool) = snapshot
                            .by_ident
                            .get(&(doc.namespace.clone(), doc.ident.clone()))?;
                        Some((ns, tool, score))
                    })
                    .collect()
            }
        };
        let policy = self.policy();
        for (ns_index, tool_index, score) in ranked {
            let ns = &snapshot.namespaces[ns_index];
            let tool = &ns.tools[tool_index];
            let Some(line) = ns.compiled.tool_text(&tool.ident, Detail::Line) else {
                continue;
            };
            let hit = SearchHit {
                path: format!("tools.{}.{}", ns.ident, tool.ident),
                ident: tool.ident.clone(),
                original_name: (tool.spec.name != tool.ident).then(|| tool.spec.name.clone()),
                signature: signature_of(&line),
                summary: ns.compiled.summary(&tool.ident),
                observed: self.observed_shape(&ns.ident, &tool.ident),
                policy: match crate::catalog::decide(&policy, ns, tool).action {
                    Action::Allow => None,
                    action => Some(action.as_str()),
                },
                score,
            };
            match results
                .namespaces
                .iter_mut()
                .find(|g| g.namespace == ns.ident)
            {
                Some(group) => group.tools.push(hit),
                None => results.namespaces.push(SearchGroup {
                    namespace: ns.ident.clone(),
                    description: ns.description.clone(),
                    tool_count: ns.tools.len(),
                    tools: vec![hit],
                }),
            }
        }
        results
    }

    /// One tool in full, by `ns.tool` (or `tools.ns.tool`); `Err` says what is close.
    pub fn describe(&self, path: &str) -> Result<ToolDescription, String> {
        let snapshot = self.snapshot();
        let bare = path.trim().trim_start_matches("tools.");
        let (namespace, tool) = bare.split_once('.').ok_or_else(|| {
            format!("{path:?} is not a tool path: write it as \"namespace.tool\"")
        })?;
        let Some(&(ns_index, tool_index)) = snapshot
            .by_ident
            .get(&(namespace.to_owned(), tool.to_owned()))
        else {
            let close = self.search(bare, 3);
            let suggestions: Vec<&str> = close
                .namespaces
                .iter()
                .flat_map(|g| g.tools.iter().map(|h| h.path.as_str()))
                .collect();
            return Err(if suggestions.is_empty() {
                format!("no tool tools.{bare}")
            } else {
                format!("no tool tools.{bare}; close: {}", suggestions.join(", "))
            });
        };
        let ns = &snapshot.namespaces[ns_index];
        let spec = &ns.tools[tool_index].spec;
        let observed = self.observed_shape(&ns.ident, tool);
        let policy = self.policy();
        let mut answer = Answer::new(&snapshot, &policy, DESCRIBE_BUDGET_CHARS);
        answer.add(ns_index, tool, Detail::Full, observed.as_deref());
        Ok(ToolDescription {
            path: format!("tools.{}.{}", ns.ident, tool),
            declaration: answer.finish(),
            input_schema: spec.input_schema.clone(),
            output_schema: spec.output_schema.clone(),
            observed,
        })
    }

    /// Search results as the agent reads them; see the module docs for the budget.
    pub fn render_search(&self, results: &SearchResults) -> String {
        let all = self.namespaces();
        let shown: usize = results.namespaces.iter().map(|g| g.tools.len()).sum();
        let mut out = String::new();
        if let (Some(namespace), Some(page)) = (&results.namespace, &results.page) {
            let count = all
                .iter()
                .find(|ns| ns.ident == *namespace)
                .map_or(0, |ns| ns.tool_count);
            out.push_str(&format!(
                "// tools.{namespace}: page {} of {} ({count} tools, {} per page)",
                page.page, page.pages, page.per_page
            ));
            if page.page < page.pages {
                out.push_str(&format!(
                    "; next: search({{ namespace: \"{namespace}\", page: {} }})",
                    page.page + 1
                ));
            }
            out.push('\n');
        } else if shown == 0 {
            match (&results.namespace, results.query.trim().is_empty()) {
                (Some(namespace), _) if !all.iter().any(|ns| ns.ident == *namespace) => out
                    .push_str(&format!(
                        "// There is no namespace \"{namespace}\". The namespaces are:\n"
                    )),
                (_, false) => out.push_str(&format!(
                    "// No tool matched \"{}\". The namespaces are:\n",
                    results.query
                )),
                (_, true) => out.push_str(
                    "// Namespaces (search with words from the task to see signatures):\n",
                ),
            }
            out.push_str(&ready_namespace_lines(&all));
            out.push_str(&not_ready_lines(&all));
            return out;
        } else if results.weak {
            out.push_str(&format!(
                "// No strong match for \"{}\" among {} tools: the closest follow. If none fits, \
                 search in other words or in one of these namespaces:\n",
                results.query, results.total_tools
            ));
            out.push_str(&ready_namespace_lines(&all));
        } else {
            out.push_str(&format!(
                "// {shown} of {} tools match \"{}\". Call them inside execute as written.\n",
                results.total_tools, results.query
            ));
        }

        let snapshot = self.snapshot();
        let requested = results.page.as_ref().map_or(shown, |p| p.per_page);
        let budget = BASE_BUDGET_CHARS + BUDGET_CHARS_PER_HIT * requested.max(1);
        let policy = self.policy();
        let mut answer = Answer::new(&snapshot, &policy, budget.saturating_sub(out.len()));
        // Hits by score, to give the best their documentation whatever their group.
        let documented: Vec<&str> = if results.page.is_some() {
            Vec::new()
        } else {
            results
                .by_score()
                .into_iter()
                .take(DOCUMENTED_HITS)
                .map(|(_, hit)| hit.path.as_str())
                .collect()
        };
        for group in &results.namespaces {
            let Some(ns_index) = snapshot
                .namespaces
                .iter()
                .position(|ns| ns.ident == group.namespace)
            else {
                continue;
            };
            answer.text.push('\n');
            answer.text.push_str(&namespace_line(
                &group.namespace,
                group.description.as_deref(),
                group.tool_count,
            ));
            for hit in &group.tools {
                let detail = if documented.contains(&hit.path.as_str()) {
                    Detail::Documented
                } else {
                    Detail::Line
                };
                answer.add(ns_index, &hit.ident, detail, hit.observed.as_deref());
            }
        }
        out.push_str(&answer.finish());
        let not_ready = not_ready_lines(&all);
        if !not_ready.is_empty() {
            out.push('\n');
            out.push_str(&not_ready);
        }
        out
    }

    /// `$search` and `$describe`, called from a snippet.
    pub(crate) fn root_function(&self, name: &str, args: &Value) -> Result<Value, ToolError> {
        match name {
            SEARCH_FUNCTION => self.search_from_snippet(args),
            DESCRIBE_FUNCTION => {
                let path = match args {
                    Value::String(path) => path.as_str(),
                    Value::Object(o) => o.get("path").and_then(Value::as_str).unwrap_or(""),
                    _ => "",
                };
                if path.is_empty() {
                    return Err(ToolError::new(
                        "expected a tool path, e.g. tools.$describe(\"orders.list\")",
                    ));
                }
                let description = self.describe(path).map_err(ToolError::new)?;
                serde_json::to_value(description).map_err(|e| ToolError::new(e.to_string()))
            }
            other => Err(ToolError::new(format!("tools.{other} is not a function"))),
        }
    }

    /// `tools.$search("query")` or `tools.$search({ query, limit, namespace })`.
    fn search_from_snippet(&self, args: &Value) -> Result<Value, ToolError> {
        let request = match args {
            Value::String(query) => SearchQuery::new(query.clone(), 10),
            Value::Object(o) => SearchQuery {
                query: o
                    .get("query")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                limit: o
                    .get("limit")
                    .and_then(Value::as_u64)
                    .unwrap_or(10)
                    .clamp(1, 50) as usize,
                namespace: o
                    .get("namespace")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                page: o.get("page").and_then(Value::as_u64).unwrap_or(1) as usize,
            },
            _ => {
                return Err(ToolError::new(
                    "expected a query string, e.g. tools.$search(\"create issue\")",
                ))
            }
        };
        if request.query.len() > MAX_QUERY_BYTES {
            return Err(ToolError::new(format!(
                "the query is {} bytes; at most {MAX_QUERY_BYTES} are searched (use a few words from the task)",
                request.query.len()
            )));
        }
        let results = self.find(&request);
        let hits: Vec<Value> = results
            .namespaces
            .iter()
            .flat_map(|group| {
                group.tools.iter().map(|hit| {
                    let mut value = json!({
                        "path": hit.path,
                        "signature": hit.signature,
                        "description": hit.summary,
                    });
                    if let Some(observed) = &hit.observed {
                        value["observed"] = json!(observed);
                    }
                    value
                })
            })
            .collect();
        Ok(Value::Array(hits))
    }
}

/// `name(args: …): Promise<…>` out of a one-line tool text.
fn signature_of(line: &ToolText) -> String {
    let last = line.text.lines().last().unwrap_or_default();
    let call = last.trim_end_matches(';');
    // `tools.<ns>.<name>(…)` → `<name>(…)`.
    match call
        .strip_prefix("tools.")
        .and_then(|rest| rest.split_once('.'))
    {
        Some((_, signature)) => signature.to_string(),
        None => call.to_string(),
    }
}

fn ready_namespace_lines(all: &[crate::NamespaceSummary]) -> String {
    let ready: Vec<_> = all
        .iter()
        .filter(|ns| ns.status == NamespaceStatus::Ready)
        .collect();
    let mut out = String::new();
    for ns in ready.iter().take(LISTED_NAMESPACES) {
        out.push_str(&namespace_line(
            &ns.ident,
            ns.description.as_deref(),
            ns.tool_count,
        ));
    }
    if ready.len() > LISTED_NAMESPACES {
        out.push_str(&format!(
            "// ...and {} more namespaces: search({{ query: \"\" }}) lists them\n",
            ready.len() - LISTED_NAMESPACES
        ));
    }
    out
}

/// The named types one namespace's shown tools use, declared.
struct TypesUsed {
    namespace: usize,
    names: Vec<String>,
    declarations: String,
}

/// One answer being written: tool texts within the budget, then the types they use.
struct Answer<'a> {
    snapshot: &'a Snapshot,
    /// Tools it denies or asks about are marked as such.
    policy: &'a Policy,
    budget: usize,
    text: String,
    /// Per namespace used: its index, the named types used so far and their declarations.
    uses: Vec<TypesUsed>,
    /// Total length of those declarations.
    types_len: usize,
    untyped: bool,
    shortened: usize,
}

impl<'a> Answer<'a> {
    fn new(snapshot: &'a Snapshot, policy: &'a Policy, budget: usize) -> Self {
        Answer {
            snapshot,
            policy,
            budget,
            text: String::new(),
            uses: Vec::new(),
            types_len: 0,
            untyped: false,
            shortened: 0,
        }
    }

    /// A line saying the policy will refuse this tool, or ask the user first; `None` when
    /// it allows it.
    fn policy_note(&self, ns_index: usize, tool: &str) -> Option<String> {
        if self.policy.is_permissive() {
            return None;
        }
        let ns = &self.snapshot.namespaces[ns_index];
        let decl = ns.tools.iter().find(|t| t.ident == tool)?;
        let decision = crate::catalog::decide(self.policy, ns, decl);
        match decision.action {
            Action::Allow => None,
            Action::Deny => Some(format!(
                "// policy: denied by {}: a call throws an error of kind \"denied\"\n",
                decision.reason
            )),
            Action::Ask => Some(format!(
                "// policy: asks the user before each call ({})\n",
                decision.reason
            )),
        }
    }

    /// Adds one tool in the richest form that fits, falling back to shorter ones.
    fn add(&mut self, ns_index: usize, tool: &str, detail: Detail, observed: Option<&str>) {
        let compiled = &self.snapshot.namespaces[ns_index].compiled;
        let forms: &[Detail] = match detail {
            Detail::Full => &[Detail::Full, Detail::Documented, Detail::Line],
            Detail::Documented => &[Detail::Documented, Detail::Line],
            Detail::Line => &[Detail::Line],
        };
        for &form in forms {
            let Some(tool_text) = compiled.tool_text(tool, form) else {
                return;
            };
            let mut text = tool_text.text;
            if let Some(note) = self.policy_note(ns_index, tool) {
                text.push_str(&note);
            }
            if let Some(observed) = observed {
                text.push_str(&format!("// observed result (not declared): {observed}\n"));
            }
            let position = self.uses.iter().position(|used| used.namespace == ns_index);
            let (mut names, old_len) = match position {
                Some(i) => (self.uses[i].names.clone(), self.uses[i].declarations.len()),
                None => (Vec::new(), 0),
            };
            for name in &tool_text.uses {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
            let declarations = compiled.type_declarations(&names);
            let types_len = self.types_len - old_len + declarations.len();
            if self.text.len() + text.len() + types_len <= self.budget {
                self.untyped |= text.contains(&format!("Promise<{UNTYPED_RESULT}>"));
                self.text.push_str(&text);
                self.types_len = types_len;
                let used = TypesUsed {
                    namespace: ns_index,
                    names,
                    declarations,
                };
                match position {
                    Some(i) => self.uses[i] = used,
                    None => self.uses.push(used),
                }
                return;
            }
        }
        // Not even one line fits with its types: name it and say how to see it.
        let ns = &self.snapshot.namespaces[ns_index];
        let summary = ns.compiled.summary(tool).unwrap_or_default();
        self.text.push_str(&format!(
            "// tools.{}.{tool}: {summary} (signature: search({{ describe: \"{}.{tool}\" }}))\n",
            ns.ident, ns.ident
        ));
        self.shortened += 1;
    }

    fn finish(self) -> String {
        let mut out = self.text;
        let types: String = self
            .uses
            .iter()
            .map(|used| used.declarations.as_str())
            .collect();
        if !types.is_empty() {
            out.push_str("\n// Types the signatures above use:\n");
            out.push_str(&types);
        }
        if self.untyped {
            out.push_str(&format!("\n// {UNTYPED_RESULT_DOC}\n"));
        }
        if self.shortened > 0 {
            out.push_str(&format!(
                "// {} more shown by name only, to stay within this answer's size; describe them or raise `limit`.\n",
                self.shortened
            ));
        }
        out
    }
}
