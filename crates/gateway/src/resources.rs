//! The declarations as MCP resources, for clients that prefer to load types up front:
//! `codemode://types/<namespace>.d.ts` for each namespace and `codemode://types.d.ts` for all.

use codemode_catalog::Catalog;
use rmcp::model::{Resource, ResourceContents, ResourceTemplate};

/// The scheme of the gateway's own resources; any other URI belongs to a passthrough server.
pub(crate) const SCHEME: &str = "codemode://";
/// Every namespace's declarations in one file. Outside `codemode://types/` so that no
/// namespace name can collide with it.
pub const ALL_TYPES_URI: &str = "codemode://types.d.ts";
const NAMESPACE_PREFIX: &str = "codemode://types/";
const SUFFIX: &str = ".d.ts";
const MIME: &str = "text/typescript";

/// The resource holding one namespace's declarations.
pub fn namespace_uri(namespace: &str) -> String {
    format!("{NAMESPACE_PREFIX}{namespace}{SUFFIX}")
}

pub(crate) fn list(catalog: &Catalog) -> Vec<Resource> {
    let namespaces = catalog.namespaces();
    let mut resources = vec![Resource::new(ALL_TYPES_URI, "types.d.ts")
        .with_title("All tool declarations")
        .with_description(format!(
            "TypeScript declarations of every function under `tools` ({} tools in {} namespaces).",
            catalog.tool_count(),
            namespaces.len()
        ))
        .with_mime_type(MIME)];
    resources.extend(namespaces.into_iter().map(|ns| {
        let mut description = format!(
            "TypeScript declarations of tools.{} ({} tools)",
            ns.ident, ns.tool_count
        );
        if let Some(line) = ns.description.as_deref().and_then(|d| d.lines().next()) {
            description.push_str(": ");
            description.push_str(line.trim());
        }
        Resource::new(namespace_uri(&ns.ident), format!("{}.d.ts", ns.ident))
            .with_description(description)
            .with_mime_type(MIME)
    }));
    resources
}

pub(crate) fn templates() -> Vec<ResourceTemplate> {
    vec![ResourceTemplate::new(
        format!("{NAMESPACE_PREFIX}{{namespace}}{SUFFIX}"),
        "namespace-types",
    )
    .with_description("TypeScript declarations of one namespace under `tools`.")
    .with_mime_type(MIME)]
}

/// The text behind `uri`, or `None` when no such resource exists (now).
pub(crate) fn read(catalog: &Catalog, uri: &str) -> Option<ResourceContents> {
    let text = if uri == ALL_TYPES_URI {
        catalog.declarations()
    } else {
        let namespace = uri.strip_prefix(NAMESPACE_PREFIX)?.strip_suffix(SUFFIX)?;
        catalog.namespace_declarations(namespace)?
    };
    Some(ResourceContents::text(text, uri).with_mime_type(MIME))
}
