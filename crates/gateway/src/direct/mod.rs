//! Passthrough on the gateway's side: the tools, resources, templates and prompts of
//! passthrough entries served beside `search` and `execute`, under the names of `names.rs`,
//! each call decided by the same policy and written to the same audit trail as a call from
//! `execute` (`call.rs`), and relayed to its server by `codemode_upstream`.
//!
//! It must never change what a server gave (beyond a colliding name), nor let a call reach a
//! server before the policy saw it.

mod call;
pub mod names;
mod relay;

use std::collections::HashMap;
use std::sync::Mutex;

use codemode_upstream::Upstreams;
use rmcp::model::{Reference, Resource, ResourceTemplate};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};

pub(crate) use call::DirectCall;
pub(crate) use names::DirectNames;
pub(crate) use relay::SessionRelay;

/// How long a listing or a lookup waits for passthrough servers that are still starting.
const STARTUP_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// What the gateway passes through, shared by every session.
pub(crate) struct Direct {
    upstreams: Upstreams,
    /// Sessions subscribed to each passthrough resource: the server is told on the first
    /// and the last.
    subscribers: Mutex<HashMap<String, usize>>,
}

impl Direct {
    pub fn new(upstreams: Upstreams) -> Direct {
        Direct {
            upstreams,
            subscribers: Mutex::default(),
        }
    }

    /// Waits (a bounded while) for passthrough servers still starting, so that what is
    /// listed or looked up includes them.
    pub async fn settled(&self) -> &Direct {
        self.upstreams.passthrough_settled(STARTUP_WAIT).await;
        self
    }

    pub fn upstreams(&self) -> &Upstreams {
        &self.upstreams
    }

    /// The passthrough tools and prompts under their names on the surface, now, as the
    /// supervisors' own connections list them.
    pub fn names(&self) -> DirectNames {
        DirectNames::build(&self.upstreams.direct_surfaces())
    }

    /// The names as the calling client sees them: each server's tools are those of the
    /// connection this client's calls take (a server may list more to a client it can ask).
    pub async fn names_for(&self, context: &RequestContext<RoleServer>) -> DirectNames {
        let capabilities = context.client_capabilities().unwrap_or_default();
        let surfaces = self
            .upstreams
            .direct_surfaces_for(&capabilities, crate::handler::is_stateless(context))
            .await;
        DirectNames::build(&surfaces)
    }

    /// Whether some entry passes everything through (resources, prompts, completions).
    pub fn serves_everything(&self) -> bool {
        self.upstreams.passes_everything()
    }

    pub fn resources(&self) -> Vec<Resource> {
        self.upstreams
            .direct_surfaces()
            .iter()
            .flat_map(|(_, surface)| surface.resources.clone())
            .collect()
    }

    pub fn templates(&self) -> Vec<ResourceTemplate> {
        self.upstreams
            .direct_surfaces()
            .iter()
            .flat_map(|(_, surface)| surface.templates.clone())
            .collect()
    }

    /// The server that serves `uri`: the one that lists it or a template it fits, else the
    /// only server that passes resources through.
    pub fn owner_of(&self, uri: &str) -> Option<String> {
        let surfaces = self.upstreams.direct_surfaces();
        if let Some((server, _)) = surfaces.iter().find(|(_, s)| s.owns_uri(uri)) {
            return Some(server.clone());
        }
        let mut with_resources = surfaces.iter().filter(|(_, s)| {
            s.capabilities
                .as_ref()
                .is_some_and(|c| c.resources.is_some())
        });
        match (with_resources.next(), with_resources.next()) {
            (Some((server, _)), None) => Some(server.clone()),
            _ => None,
        }
    }

    /// The server a completion is for, and the reference in its own names.
    pub fn completion_target(&self, reference: &Reference) -> Option<(String, Reference)> {
        match reference {
            Reference::Prompt(prompt) => {
                let names = self.names();
                let named = names.prompt(&prompt.name)?;
                let mut original = prompt.clone();
                original.name = named.original.clone();
                Some((named.server.clone(), Reference::Prompt(original)))
            }
            Reference::Resource(resource) => {
                let surfaces = self.upstreams.direct_surfaces();
                let server = surfaces
                    .iter()
                    .find(|(_, s)| s.templates.iter().any(|t| t.uri_template == resource.uri))
                    .map(|(server, _)| server.clone())
                    .or_else(|| self.owner_of(&resource.uri))?;
                Some((server, reference.clone()))
            }
            _ => None,
        }
    }

    /// Subscribes one more session to `uri` on its server.
    pub async fn subscribe(&self, server: &str, uri: &str) -> Result<(), ErrorData> {
        let first = {
            let mut subscribers = lock(&self.subscribers);
            let count = subscribers.entry(uri.to_string()).or_default();
            *count += 1;
            *count == 1
        };
        if first {
            if let Err(err) = self
                .upstreams
                .forward_subscription(server, uri.to_string(), true)
                .await
            {
                lock(&self.subscribers).remove(uri);
                return Err(err);
            }
        }
        Ok(())
    }

    /// One session fewer subscribed to `uri`; the server is told when none is left.
    pub async fn unsubscribe(&self, server: &str, uri: &str) -> Result<(), ErrorData> {
        let last = {
            let mut subscribers = lock(&self.subscribers);
            match subscribers.get_mut(uri) {
                Some(count) if *count > 1 => {
                    *count -= 1;
                    false
                }
                Some(_) => {
                    subscribers.remove(uri);
                    true
                }
                None => false,
            }
        };
        if last {
            self.upstreams
                .forward_subscription(server, uri.to_string(), false)
                .await?;
        }
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct").finish_non_exhaustive()
    }
}
