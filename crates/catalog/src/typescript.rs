//! TypeScript declarations generated from tools' JSON Schemas: the `.d.ts` text the agent
//! reads and the one-line signatures search returns.
//!
//! Layout of one namespace (see [`render_namespace`]):
//!
//! ```ts
//! /** Knowledge graph memory. */
//! declare namespace memory {
//!   interface Tools {
//!     /** Create multiple new entities in the knowledge graph */
//!     create_entities(args: CreateEntitiesInput): Promise<CreateEntitiesOutput>;
//!     /**
//!      * Say hello
//!      * @mcp say-hello
//!      * @returns the tool's result: …
//!      */
//!     say_hello(args: { name: string }): Promise<unknown>;
//!   }
//!   interface CreateEntitiesInput { … }
//!   interface CreateEntitiesOutput { … }
//! }
//! ```
//!
//! Each namespace contributes `interface Tools` *inside itself*, so namespace files can be
//! concatenated freely; one [`render_tools_global`] line then declares
//! `declare const tools: { memory: memory.Tools; … }`. Inputs and outputs get named types
//! (`<Tool>Input`, `<Tool>Output`) unless they are short and undocumented, in which case they
//! are written in place. `$ref` targets become named types after their `$defs` key.
//!
//! Rendering never fails: whatever a schema says that TypeScript cannot express becomes
//! `unknown` with a comment. The output depends only on the input (tools keep the order
//! given; nothing is sorted by hash).

mod ast;
mod convert;
mod doc;
mod fingerprint;
mod hoist;
mod render;

use std::collections::{BTreeSet, HashSet};

use ast::{Doc, Tag, TsType};
use convert::NamedTypes;
use doc::{first_paragraph, first_sentence, write_jsdoc, SUMMARY_CAP, TOOL_DESCRIPTION_CAP};
use render::{Compact, Pretty};

use crate::naming::{identifier, pascal_case};
use crate::tool::ToolSpec;

/// The type of a result no schema declares, declared once beside the `tools` global (see
/// [`render_tools_global`]): what the gateway hands a snippet is always JSON.
pub const UNTYPED_RESULT: &str = "JsonValue";

/// What a tool without an output schema resolves to. Said once per namespace (a `@remarks`
/// on the namespace), not per tool: on servers where no tool declares an output schema it
/// would otherwise be the largest part of the declarations.
pub const UNTYPED_RESULT_DOC: &str = "Tools typed Promise<JsonValue> declare no result type: \
they resolve to their structured content, else their one text block (parsed when the whole \
text is valid JSON, whatever the value, else the text as a string), else an array of their \
content blocks.";

/// A sensible default length cap for [`CompiledNamespace::signatures`] (characters).
pub const DEFAULT_SIGNATURE_CAP: usize = 300;

/// Inputs and outputs whose one-line type is at most this long (and carries no JSDoc) are
/// written in place instead of being declared as named types.
const INLINE_ROOT_MAX: usize = 60;

/// One tool as the catalogue knows it, whatever its source (MCP, OpenAPI, built-in): its
/// source's [`ToolSpec`] and the TypeScript identifier it is called by.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDecl {
    /// The TypeScript identifier, normally from [`crate::naming::NameMap`].
    pub ident: String,
    /// The tool as its source gave it; `spec.name` is shown as `@mcp <name>` when it differs
    /// from `ident`.
    pub spec: ToolSpec,
}

/// A namespace (an upstream server) and its tools.
#[derive(Debug, Clone, PartialEq)]
pub struct NamespaceDecl {
    /// The TypeScript identifier, from [`crate::naming::identifier`].
    pub ident: String,
    /// The namespace's name at its source (shown as `@server <name>` when it differs).
    pub original_name: String,
    pub description: Option<String>,
    pub tools: Vec<ToolDecl>,
}

/// A tool's one-line search entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolSignature {
    /// The namespace identifier (`memory`).
    pub namespace: String,
    /// The tool identifier (`create_entities`).
    pub ident: String,
    pub original_name: String,
    /// `create_entities(args: { … }): Promise<{ … }>`, types qualified with the namespace
    /// where they stay named (`memory.Entity`), deep parts elided as `{...}` past the cap.
    pub signature: String,
    /// The first sentence of the description, if there is one.
    pub summary: Option<String>,
}

/// How much of a tool an answer shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// The summary sentence and a one-line signature with the input and output written out.
    Line,
    /// The description's first paragraph and every property's documentation (description,
    /// format, default, examples, bounds), one property per line.
    Documented,
    /// As `Documented`, with the whole description.
    Full,
}

/// One tool as an answer shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolText {
    /// JSDoc, then `tools.<ns>.<tool>(args: …): Promise<…>;`.
    pub text: String,
    /// Named types the text refers to by name (`ns.Name`), to be declared beside it.
    pub uses: Vec<String>,
}

/// Longest description a full declaration keeps.
const FULL_DESCRIPTION_CAP: usize = 4000;

/// A namespace with its schemas converted once, ready to render in either style. The
/// declaration file and the signatures share type names, so a name a signature keeps
/// (`memory.CreateEntitiesInput`) is always declared in [`Self::declarations`].
#[derive(Debug, Clone)]
pub struct CompiledNamespace {
    ident: String,
    doc: Doc,
    tools: Vec<CompiledTool>,
    registry: NamedTypes,
    /// Names written as declarations (roots may be inlined instead).
    declared: BTreeSet<String>,
}

#[derive(Debug, Clone)]
struct CompiledTool {
    ident: String,
    original_name: String,
    doc: Doc,
    summary: Option<String>,
    /// The description as a full declaration shows it, when longer than `doc`'s.
    full_description: Option<String>,
    input: String,
    input_optional: bool,
    output: Option<String>,
}

impl NamespaceDecl {
    /// Converts every tool's schemas; see [`CompiledNamespace`].
    pub fn compile(&self) -> CompiledNamespace {
        let mut registry = NamedTypes::default();
        let mut tools = Vec::with_capacity(self.tools.len());
        for (index, tool) in self.tools.iter().enumerate() {
            // Defensive: an identifier not made by `naming` must still not break the file.
            let ident = identifier(&tool.ident);
            let type_base = pascal_case(&ident);
            let input = registry.declare_root(
                2 * index,
                &tool.spec.input_schema,
                &format!("{type_base}Input"),
            );
            let output = tool.spec.output_schema.as_ref().map(|schema| {
                registry.declare_root(2 * index + 1, schema, &format!("{type_base}Output"))
            });
            let input_optional = accepts_no_arguments(&registry, &input);
            tools.push(CompiledTool {
                doc: tool_doc(tool, &ident),
                summary: tool
                    .spec
                    .description
                    .as_deref()
                    .and_then(|d| first_sentence(d, SUMMARY_CAP)),
                full_description: tool
                    .spec
                    .description
                    .as_deref()
                    .map(|d| doc::cap_chars(d.trim(), FULL_DESCRIPTION_CAP))
                    .filter(|d| !d.is_empty()),
                ident,
                original_name: tool.spec.name.clone(),
                input,
                input_optional,
                output,
            });
        }
        hoist::hoist_repeated_objects(&mut registry);
        let referenced = referenced_names(&registry);
        let declared = registry
            .types()
            .filter(|named| !is_inlined(named, &referenced))
            .map(|named| named.name.clone())
            .collect();
        let ident = identifier(&self.ident);
        let mut doc = Doc {
            description: self
                .description
                .as_deref()
                .and_then(|d| first_paragraph(d, TOOL_DESCRIPTION_CAP)),
            tags: Vec::new(),
        };
        if self.original_name != ident {
            doc.tags.push(Tag {
                name: "server",
                value: self.original_name.clone(),
            });
        }
        if self
            .tools
            .iter()
            .any(|tool| tool.spec.output_schema.is_none())
        {
            doc.tags.push(Tag {
                name: "remarks",
                value: UNTYPED_RESULT_DOC.into(),
            });
        }
        CompiledNamespace {
            ident,
            doc,
            tools,
            registry,
            declared,
        }
    }
}

fn tool_doc(tool: &ToolDecl, ident: &str) -> Doc {
    let mut doc = Doc {
        description: tool
            .spec
            .description
            .as_deref()
            .and_then(|d| first_paragraph(d, TOOL_DESCRIPTION_CAP)),
        tags: Vec::new(),
    };
    if tool.spec.name != ident {
        doc.tags.push(Tag {
            name: "mcp",
            value: tool.spec.name.clone(),
        });
    }
    doc
}

/// Whether a call may omit `args`: nothing in the input (followed through `$ref`s) is
/// required.
fn accepts_no_arguments(registry: &NamedTypes, input: &str) -> bool {
    let mut ty = registry.get(input).map(|named| &named.ty);
    // Bounded: a chain of references cannot be longer than the number of named types.
    for _ in 0..=registry.len() {
        match ty {
            Some(TsType::Named(name)) => ty = registry.get(name).map(|named| &named.ty),
            Some(TsType::Object(object)) => return object.properties.iter().all(|p| p.optional),
            Some(TsType::Unknown(_)) => return true,
            _ => return false,
        }
    }
    false
}

/// A tool's input or output is written in place when it fits on one short line with no
/// JSDoc to lose, and no other type refers to it (a recursive schema refers to itself).
fn is_inlined(named: &convert::NamedType, referenced: &HashSet<&str>) -> bool {
    named.is_root
        && named.doc.is_empty()
        && !render::has_docs(&named.ty)
        && !referenced.contains(named.name.as_str())
        && Compact::declaration().render(&named.ty, 0).len() <= INLINE_ROOT_MAX
}

/// Every name some type of the namespace refers to: collected once, as a namespace of
/// 10,000 operations has tens of thousands of types.
fn referenced_names(registry: &NamedTypes) -> HashSet<&str> {
    fn collect<'t>(ty: &'t TsType, names: &mut HashSet<&'t str>) {
        match ty {
            TsType::Named(n) => {
                names.insert(n.as_str());
            }
            TsType::Array(element) => collect(element, names),
            TsType::Tuple(tuple) => {
                for element in tuple.elements.iter().chain(tuple.rest.as_deref()) {
                    collect(element, names);
                }
            }
            TsType::Object(object) => {
                for property in &object.properties {
                    collect(&property.ty, names);
                }
                if let Some(index) = object.index.as_deref() {
                    collect(index, names);
                }
            }
            TsType::Union(members) | TsType::Intersection(members) => {
                for member in members {
                    collect(member, names);
                }
            }
            _ => {}
        }
    }
    let mut names = HashSet::new();
    for named in registry.types() {
        collect(&named.ty, &mut names);
    }
    names
}

impl CompiledNamespace {
    /// The namespace identifier.
    pub fn ident(&self) -> &str {
        &self.ident
    }

    /// The tool identifiers, in the order given.
    pub fn tool_idents(&self) -> impl Iterator<Item = &str> {
        self.tools.iter().map(|t| t.ident.as_str())
    }

    fn is_declared(&self, name: &str) -> bool {
        self.declared.contains(name)
    }

    /// The namespace's declaration text: valid `.d.ts` on its own (it declares
    /// `<namespace>.Tools` but not the global `tools`; see [`render_tools_global`]).
    pub fn declarations(&self) -> String {
        let mut out = String::new();
        write_jsdoc(&mut out, &self.doc, "");
        out.push_str(&format!("declare namespace {} {{\n", self.ident));
        let member_indent = INDENT.repeat(2);
        if self.tools.is_empty() {
            out.push_str(&format!("{INDENT}interface Tools {{}}\n"));
        } else {
            out.push_str(&format!("{INDENT}interface Tools {{\n"));
            for tool in &self.tools {
                write_jsdoc(&mut out, &tool.doc, &member_indent);
                let args = if tool.input_optional { "args?" } else { "args" };
                let input = self.type_reference(&tool.input);
                let output = tool
                    .output
                    .as_deref()
                    .map_or_else(|| UNTYPED_RESULT.to_owned(), |o| self.type_reference(o));
                out.push_str(&format!(
                    "{member_indent}{}({args}: {input}): Promise<{output}>;\n",
                    tool.ident
                ));
            }
            out.push_str(&format!("{INDENT}}}\n"));
        }
        for named in self.registry.types() {
            if self.is_declared(&named.name) {
                write_named(&mut out, named);
            }
        }
        out.push_str("}\n");
        out
    }

    /// The first sentence of a tool's description.
    pub fn summary(&self, tool_ident: &str) -> Option<String> {
        self.tools
            .iter()
            .find(|t| t.ident == tool_ident)
            .and_then(|t| t.summary.clone())
    }

    /// How one tool reads in an answer, at `detail`, with the named types it leaves as
    /// names (to declare once per answer with [`Self::type_declarations`]).
    pub fn tool_text(&self, tool_ident: &str, detail: Detail) -> Option<ToolText> {
        let tool = self.tools.iter().find(|t| t.ident == tool_ident)?;
        let mut uses = Vec::new();
        let mut text = String::new();
        let args = if tool.input_optional { "args?" } else { "args" };
        let root = |name: &str, uses: &mut Vec<String>| -> String {
            let Some(named) = self.registry.get(name) else {
                return name.to_owned();
            };
            collect_names(&named.ty, uses);
            match detail {
                Detail::Line => {
                    let is_declared = |n: &str| self.is_declared(n);
                    Compact::roots(&self.registry, &self.ident, &is_declared)
                        .render(&TsType::Named(name.to_owned()), 0)
                }
                Detail::Documented | Detail::Full => {
                    Pretty::qualified(&self.ident).ty(&named.ty, 0)
                }
            }
        };
        let input = root(&tool.input, &mut uses);
        let output = match tool.output.as_deref() {
            Some(output) => root(output, &mut uses),
            None => UNTYPED_RESULT.to_owned(),
        };
        match detail {
            Detail::Line => {
                if let Some(summary) = &tool.summary {
                    text.push_str(&format!("/** {} */\n", doc::escape_comment(summary)));
                }
            }
            Detail::Documented => write_jsdoc(&mut text, &tool.doc, ""),
            Detail::Full => {
                let mut doc = tool.doc.clone();
                if let Some(full) = tool.full_description.as_deref() {
                    doc.description = Some(full.to_owned());
                }
                write_jsdoc(&mut text, &doc, "");
            }
        }
        text.push_str(&format!(
            "tools.{}.{}({args}: {input}): Promise<{output}>;\n",
            self.ident, tool.ident
        ));
        Some(ToolText { text, uses })
    }

    /// `declare namespace <ns> { … }` holding the named types in `names` and every type
    /// they refer to, in declaration order; empty when `names` is.
    pub fn type_declarations(&self, names: &[String]) -> String {
        let mut wanted: BTreeSet<String> = BTreeSet::new();
        let mut queue: Vec<String> = names.to_vec();
        while let Some(name) = queue.pop() {
            if !wanted.insert(name.clone()) {
                continue;
            }
            if let Some(named) = self.registry.get(&name) {
                collect_names(&named.ty, &mut queue);
            }
        }
        let mut body = String::new();
        for named in self.registry.types() {
            if wanted.contains(&named.name) && self.is_declared(&named.name) {
                write_named(&mut body, named);
            }
        }
        if body.is_empty() {
            return body;
        }
        format!("declare namespace {} {{\n{body}}}\n", self.ident)
    }

    /// A root type as written in a method signature: its name, or its body when inlined.
    fn type_reference(&self, name: &str) -> String {
        match self.registry.get(name) {
            Some(named) if !self.is_declared(name) => Pretty::render(&named.ty, 2),
            _ => name.to_owned(),
        }
    }

    /// One-line signatures of every tool, in the order given, each at most `cap`
    /// characters where the types allow (see [`Self::signature`]).
    pub fn signatures(&self, cap: usize) -> Vec<ToolSignature> {
        self.tools
            .iter()
            .map(|tool| self.tool_signature(tool, cap))
            .collect()
    }

    /// The one-line signature of one tool. Types are expanded in place; when the line is
    /// longer than `cap`, the output and then the input are cut at shallower depths, deep
    /// objects becoming `{...}` and named types staying names (`memory.Entity`), down to
    /// `name(args: memory.NameInput): Promise<memory.NameOutput>`, which is returned even
    /// if still longer than `cap`.
    pub fn signature(&self, tool_ident: &str, cap: usize) -> Option<ToolSignature> {
        self.tools
            .iter()
            .find(|t| t.ident == tool_ident)
            .map(|tool| self.tool_signature(tool, cap))
    }

    fn tool_signature(&self, tool: &CompiledTool, cap: usize) -> ToolSignature {
        const FULL: usize = usize::MAX;
        let attempts = [
            (FULL, FULL),
            (FULL, 3),
            (FULL, 2),
            (FULL, 1),
            (FULL, 0),
            (3, 0),
            (2, 0),
            (1, 0),
            (0, 0),
        ];
        let mut signature = String::new();
        for (input_depth, output_depth) in attempts {
            signature = self.signature_text(tool, input_depth, output_depth);
            if signature.chars().count() <= cap {
                break;
            }
        }
        ToolSignature {
            namespace: self.ident.clone(),
            ident: tool.ident.clone(),
            original_name: tool.original_name.clone(),
            signature,
            summary: tool.summary.clone(),
        }
    }

    fn signature_text(
        &self,
        tool: &CompiledTool,
        input_depth: usize,
        output_depth: usize,
    ) -> String {
        let is_declared = |name: &str| self.is_declared(name);
        let render = |name: &str, depth: usize| {
            Compact::signature(&self.registry, &self.ident, depth, &is_declared)
                .render(&TsType::Named(name.to_owned()), 0)
        };
        let args = if tool.input_optional { "args?" } else { "args" };
        let input = render(&tool.input, input_depth);
        let output = tool
            .output
            .as_deref()
            .map_or_else(|| UNTYPED_RESULT.to_owned(), |o| render(o, output_depth));
        format!("{}({args}: {input}): Promise<{output}>", tool.ident)
    }
}

const INDENT: &str = "  ";

/// One named type as a declaration inside its namespace block.
fn write_named(out: &mut String, named: &convert::NamedType) {
    write_jsdoc(out, &named.doc, INDENT);
    match &named.ty {
        TsType::Object(_) => out.push_str(&format!(
            "{INDENT}interface {} {}\n",
            named.name,
            Pretty::render(&named.ty, 1)
        )),
        other => out.push_str(&format!(
            "{INDENT}type {} = {};\n",
            named.name,
            Pretty::render(other, 1)
        )),
    }
}

/// Every name `ty` refers to, in order of appearance, each once.
fn collect_names(ty: &TsType, out: &mut Vec<String>) {
    match ty {
        TsType::Named(name) if !out.contains(name) => out.push(name.clone()),
        TsType::Named(_) => {}
        TsType::Array(element) => collect_names(element, out),
        TsType::Tuple(tuple) => {
            for element in &tuple.elements {
                collect_names(element, out);
            }
            if let Some(rest) = &tuple.rest {
                collect_names(rest, out);
            }
        }
        TsType::Object(object) => {
            for property in &object.properties {
                collect_names(&property.ty, out);
            }
            if let Some(index) = &object.index {
                collect_names(index, out);
            }
        }
        TsType::Union(members) | TsType::Intersection(members) => {
            for member in members {
                collect_names(member, out);
            }
        }
        _ => {}
    }
}

/// The declaration text of one namespace, valid `.d.ts` on its own.
pub fn render_namespace(namespace: &NamespaceDecl) -> String {
    namespace.compile().declarations()
}

/// The JSON a tool without a declared result type resolves to.
const UNTYPED_RESULT_DECLARATION: &str =
    "/** A tool result no schema declares: structured content, or \
text (parsed when it is wholly JSON), or an array of content blocks. */\n\
type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };\n";

/// The one global the agent calls: `declare const tools: { ns: ns.Tools; … };` for the
/// given namespace identifiers (in that order), after the `JsonValue` type untyped results
/// have.
pub fn render_tools_global<'a>(namespace_idents: impl IntoIterator<Item = &'a str>) -> String {
    let members: Vec<String> = namespace_idents
        .into_iter()
        .map(|ns| {
            let ns = identifier(ns);
            format!("{INDENT}{ns}: {ns}.Tools;\n")
        })
        .collect();
    if members.is_empty() {
        return format!("{UNTYPED_RESULT_DECLARATION}declare const tools: {{}};\n");
    }
    format!(
        "{UNTYPED_RESULT_DECLARATION}declare const tools: {{\n{}}};\n",
        members.concat()
    )
}

/// The whole declaration file: every namespace (in the order given), then `tools`.
pub fn render_declarations(namespaces: &[NamespaceDecl]) -> String {
    let mut out = String::new();
    for namespace in namespaces {
        out.push_str(&render_namespace(namespace));
        out.push('\n');
    }
    out.push_str(&render_tools_global(
        namespaces.iter().map(|ns| ns.ident.as_str()),
    ));
    out
}

#[cfg(test)]
mod tests;
