//! The catalogue: every tool the agent can reach, whatever its source (upstream MCP servers,
//! the built-in demo, later OpenAPI specs), how it is named in TypeScript, and the
//! declarations the agent reads.
//!
//! It must never run agent code (that is `codemode-sandbox`'s job) and must never assume
//! every tool comes from MCP: a tool is a name, a description and JSON Schemas.
//!
//! * [`naming`]: the one rule that turns server and tool names into TypeScript identifiers,
//!   and [`naming::NameMap`], which keeps them unique inside a namespace.
//! * [`typescript`]: JSON Schema → `.d.ts` declarations ([`typescript::render_declarations`])
//!   and one-line signatures for search ([`typescript::CompiledNamespace::signatures`]).
//!   Rendering never fails and never claims a type the schema does not promise: what
//!   TypeScript cannot express becomes `unknown` with a comment saying why.
//! * [`Catalog`]: the live catalogue built from [`ToolSource`]s. It is the sandbox's
//!   [`codemode_sandbox::ToolHost`] (every call from a snippet passes through it), ranks
//!   tools for `search`, and renders the declarations.

mod answer;
pub mod blocking;
mod catalog;
pub mod gate;
pub mod memory;
pub mod naming;
mod observe;
mod search;
mod shapes;
mod tool;
pub mod typescript;

pub use answer::{SearchQuery, ToolDescription, DESCRIBE_FUNCTION};
pub use catalog::{
    Catalog, NamespaceStatus, NamespaceSummary, Page, SearchGroup, SearchHit, SearchResults,
    SourceNamespace, ToolSource, MAX_QUERY_BYTES, SEARCH_FUNCTION,
};
pub use codemode_policy as policy;
pub use observe::{CallContext, CallObserver, ExecutionHost, Progress, ProgressSink};
pub use tool::ToolSpec;
