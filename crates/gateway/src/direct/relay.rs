//! The gateway's client as a passthrough upstream reaches it while a call runs: requests go
//! on the stream of the client's own `tools/call`, notifications to its session.

use std::sync::Arc;

use codemode_upstream::ClientRelay;
use futures::future::BoxFuture;
use rmcp::model::{
    ClientCapabilities, ClientResult, GetExtensions, RequestId, ServerNotification, ServerRequest,
};
use rmcp::service::OriginatingRequestId;
use rmcp::{ErrorData, Peer, RoleServer, ServiceError};

use crate::session::SessionState;

pub(crate) struct SessionRelay {
    pub peer: Peer<RoleServer>,
    /// The client's `tools/call`: what the server asks rides its response stream.
    pub originating: RequestId,
    pub capabilities: ClientCapabilities,
    pub stateless: bool,
    pub session: Arc<SessionState>,
}

impl ClientRelay for SessionRelay {
    fn capabilities(&self) -> ClientCapabilities {
        self.capabilities.clone()
    }

    fn is_stateless(&self) -> bool {
        self.stateless
    }

    #[allow(deprecated)] // logging: 2025-11-25 servers send it
    fn notify(&self, notification: ServerNotification) -> BoxFuture<'static, ()> {
        if let ServerNotification::LoggingMessageNotification(message) = &notification {
            if !self.session.passes_upstream_log(message.params.level) {
                return Box::pin(async {});
            }
        }
        let peer = self.peer.clone();
        Box::pin(async move {
            if let Err(err) = peer.send_notification(notification).await {
                tracing::debug!(error = %err, "passthrough: the client is gone; notification dropped");
            }
        })
    }

    fn request(
        &self,
        mut request: ServerRequest,
    ) -> BoxFuture<'static, Result<ClientResult, ErrorData>> {
        if self.stateless {
            return Box::pin(async {
                Err(ErrorData::internal_error(
                    "codemode: the client speaks MCP 2026-07-28, which cannot be asked anything \
                     in the middle of a call",
                    None,
                ))
            });
        }
        if let Some(missing) = missing_capability(&request, &self.capabilities) {
            return Box::pin(async move {
                Err(ErrorData::new(
                    rmcp::model::ErrorCode::METHOD_NOT_FOUND,
                    format!("the gateway's client does not support {missing}"),
                    None,
                ))
            });
        }
        request
            .extensions_mut()
            .insert(OriginatingRequestId(self.originating.clone()));
        let peer = self.peer.clone();
        Box::pin(async move {
            peer.send_request(request).await.map_err(|err| match err {
                ServiceError::McpError(error) => error,
                other => ErrorData::internal_error(
                    format!("codemode: the client did not answer: {other}"),
                    None,
                ),
            })
        })
    }
}

/// The capability a request needs that the client did not declare.
fn missing_capability(
    request: &ServerRequest,
    capabilities: &ClientCapabilities,
) -> Option<&'static str> {
    match request {
        ServerRequest::CreateMessageRequest(_) if capabilities.sampling.is_none() => {
            Some("sampling")
        }
        ServerRequest::ElicitRequest(_) if capabilities.elicitation.is_none() => {
            Some("elicitation")
        }
        ServerRequest::ListRootsRequest(_) if capabilities.roots.is_none() => Some("roots"),
        _ => None,
    }
}
