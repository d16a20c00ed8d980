//! What a passthrough server offers the gateway's client directly: its chosen tools as it
//! listed them, and (for `"passthrough": true`) its resources, resource templates and
//! prompts. Listed when it connects, re-listed when it says a list changed.

use rmcp::model::{Prompt, Resource, ResourceTemplate, ServerCapabilities, Tool};
use rmcp::{Peer, RoleClient};

use crate::config::ServerConfig;

/// One server's direct offer, unchanged from what it listed.
#[derive(Debug, Clone, Default)]
pub struct Surface {
    pub tools: Vec<Tool>,
    pub resources: Vec<Resource>,
    pub templates: Vec<ResourceTemplate>,
    pub prompts: Vec<Prompt>,
    /// What the server declared (subscriptions, completions), when it is connected.
    pub capabilities: Option<ServerCapabilities>,
}

impl Surface {
    /// Whether `uri` is one of this server's resources, or fits one of its templates.
    pub fn owns_uri(&self, uri: &str) -> bool {
        self.resources.iter().any(|r| r.uri == uri)
            || self
                .templates
                .iter()
                .any(|t| template_matches(&t.uri_template, uri))
    }

    /// Whether the server declared `resources.subscribe`.
    pub fn subscribes(&self) -> bool {
        self.capabilities
            .as_ref()
            .and_then(|c| c.resources.as_ref())
            .and_then(|r| r.subscribe)
            .unwrap_or(false)
    }

    /// Whether the server declared `completions`.
    pub fn completes(&self) -> bool {
        self.capabilities
            .as_ref()
            .is_some_and(|c| c.completions.is_some())
    }
}

/// The tools of `listed` that the entry passes through (exposed by `tools`, chosen by
/// `passthrough`), unchanged.
pub(crate) fn direct_tools(config: &ServerConfig, listed: &[Tool]) -> Vec<Tool> {
    if !config.passthrough.is_on() {
        return Vec::new();
    }
    listed
        .iter()
        .filter(|tool| {
            config.tools.permits(&tool.name) && config.passthrough.serves_tool(&tool.name)
        })
        .cloned()
        .collect()
}

/// Lists what else the server offers, for an entry that passes everything through. A list
/// the server does not declare, or fails to give, is empty (and said once in the log).
pub(crate) async fn list_the_rest(
    server: &str,
    config: &ServerConfig,
    peer: &Peer<RoleClient>,
    surface: &mut Surface,
) {
    let capabilities = peer.peer_info().map(|info| info.capabilities.clone());
    surface.capabilities = capabilities.clone();
    if !config.passthrough.serves_everything() {
        return;
    }
    let Some(capabilities) = capabilities else {
        return;
    };
    let within = config.startup_timeout;
    if capabilities.resources.is_some() {
        surface.resources =
            listed(server, "resources/list", within, peer.list_all_resources()).await;
        surface.templates = listed(
            server,
            "resources/templates/list",
            within,
            peer.list_all_resource_templates(),
        )
        .await;
    }
    if capabilities.prompts.is_some() {
        surface.prompts = listed(server, "prompts/list", within, peer.list_all_prompts()).await;
    }
}

async fn listed<T>(
    server: &str,
    method: &str,
    within: std::time::Duration,
    listing: impl std::future::Future<Output = Result<Vec<T>, rmcp::ServiceError>>,
) -> Vec<T> {
    match tokio::time::timeout(within, listing).await {
        Ok(Ok(items)) => items,
        Ok(Err(err)) => {
            tracing::warn!(server, method, error = %crate::error::describe_service_error(&err),
                "passthrough: the server's list failed; serving none");
            Vec::new()
        }
        Err(_) => {
            tracing::warn!(
                server,
                method,
                "passthrough: the server's list did not answer; serving none"
            );
            Vec::new()
        }
    }
}

/// RFC 6570 matching enough for routing: each `{…}` expression matches a run of
/// characters up to the next literal part (`{+…}` and `{/…}` may span `/`).
pub(crate) fn template_matches(template: &str, uri: &str) -> bool {
    let mut parts: Vec<(&str, bool)> = Vec::new(); // (literal, the following variable spans '/')
    let mut rest = template;
    let mut literals = Vec::new();
    let mut spans = Vec::new();
    while let Some(open) = rest.find('{') {
        literals.push(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            return false;
        };
        let expression = &rest[open + 1..open + close];
        spans.push(
            expression.starts_with('+')
                || expression.starts_with('/')
                || expression.starts_with('#'),
        );
        rest = &rest[open + close + 1..];
    }
    literals.push(rest);
    for (i, literal) in literals.iter().enumerate() {
        parts.push((literal, spans.get(i).copied().unwrap_or(false)));
    }
    matches_parts(&parts, uri)
}

fn matches_parts(parts: &[(&str, bool)], uri: &str) -> bool {
    let Some(((literal, spans), more)) = parts.split_first() else {
        return uri.is_empty();
    };
    let Some(after) = uri.strip_prefix(literal) else {
        return false;
    };
    if more.is_empty() {
        return after.is_empty();
    }
    // A variable follows: try every length for it (URIs are short).
    for (end, ch) in after
        .char_indices()
        .chain(std::iter::once((after.len(), ' ')))
    {
        if end > 0 && matches_parts(more, &after[end..]) {
            return true;
        }
        if !spans && (ch == '/' || ch == '?' || ch == '#') {
            break;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::template_matches;

    #[test]
    fn templates_route_the_uris_they_describe() {
        assert!(template_matches(
            "test://template/{id}/data",
            "test://template/123/data"
        ));
        assert!(!template_matches(
            "test://template/{id}/data",
            "test://template/1/2/data"
        ));
        assert!(!template_matches(
            "test://template/{id}/data",
            "test://static-text"
        ));
        assert!(template_matches("file:///{+path}", "file:///a/b/c.txt"));
        assert!(template_matches("repo://{owner}/{name}", "repo://a/b"));
        assert!(!template_matches("repo://{owner}/{name}", "repo://a/"));
    }
}
