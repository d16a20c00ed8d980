//! Passthrough: what an entry with `"passthrough"` serves to the gateway's client directly,
//! beside `search` and `execute`, as its server gave it. Tools keep their schemas and
//! annotations, results keep every content block, `structuredContent`, `isError` and
//! `_meta`; progress and logs reach the client during the call, and what the server asks
//! the client (sampling, elicitation, roots) is relayed to the client whose call is in
//! flight ([`ClientRelay`]), over a connection that declares exactly that client's
//! capabilities (`links.rs`).
//!
//! This module forwards; it never decides. Naming on the gateway's surface, policy and audit
//! belong to the gateway.

mod forward;
pub(crate) mod links;
pub(crate) mod relay;
pub(crate) mod surface;

pub use relay::ClientRelay;
pub use surface::Surface;

use rmcp::model::ResourceUpdatedNotification;

/// Something a passthrough server said outside any one call, for the gateway's sessions.
#[derive(Debug, Clone)]
pub enum DirectEvent {
    /// `notifications/resources/updated` for a subscribed resource.
    ResourceUpdated(ResourceUpdatedNotification),
}
