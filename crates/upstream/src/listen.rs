//! Tool-list changes on a 2026-07-28 connection.
//!
//! A 2025-11-25 server sends `notifications/tools/list_changed` whenever it likes, and the
//! [`crate::handler::Handler`] hears it. A 2026-07-28 server has no session to send it on: the
//! client opens a `subscriptions/listen` request, whose response stream carries the
//! notifications it asked for. Streams are not resumable, so after one ends the client listens
//! again and re-lists the tools, since a change may have passed while nobody was listening.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{ServerNotification, SubscriptionFilter};
use rmcp::service::{Subscription, SubscriptionEnd};
use rmcp::{Peer, RoleClient, ServiceError};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::describe_service_error;

/// How long the server gets to acknowledge a `subscriptions/listen` request.
const ACK_LIMIT: Duration = Duration::from_secs(5);
/// The wait before listening again after a stream ended; doubles while streams keep failing.
const RELISTEN_FIRST_DELAY: Duration = Duration::from_millis(500);
const RELISTEN_MAX_DELAY: Duration = Duration::from_secs(30);
/// A stream that lasted this long was healthy: the next re-listen starts from the first delay.
const HEALTHY_STREAM: Duration = Duration::from_secs(30);

/// Whether this connection needs a subscription to learn of tool-list changes: it speaks a
/// protocol version without a session, and the server says its tool list can change.
pub(crate) fn needed(peer: &Peer<RoleClient>) -> bool {
    let Some(info) = peer.peer_info() else {
        return false;
    };
    !info.protocol_version.has_initialize()
        && info
            .capabilities
            .tools
            .as_ref()
            .and_then(|tools| tools.list_changed)
            == Some(true)
}

/// Opens the subscription. On failure the reason is logged and `None` returned: the
/// connection is still usable, and [`follow`] tries again.
pub(crate) async fn open(server: &str, peer: &Peer<RoleClient>) -> Option<Subscription> {
    match listen(peer).await {
        Ok(subscription) => Some(subscription),
        Err(reason) => {
            tracing::warn!(server, %reason, "cannot subscribe to tool-list changes yet");
            None
        }
    }
}

/// Follows tool-list changes for as long as it is polled, signalling `tools_changed` for each,
/// and listening again whenever a stream ends. Never completes; drop it to stop (which cancels
/// the open subscription on the server).
pub(crate) async fn follow(
    server: Arc<str>,
    peer: Peer<RoleClient>,
    mut subscription: Option<Box<Subscription>>,
    tools_changed: Arc<Notify>,
) {
    let server = &*server;
    let mut delay = RELISTEN_FIRST_DELAY;
    loop {
        let mut current = match subscription.take() {
            Some(current) => current,
            None => match listen(&peer).await {
                Ok(current) => {
                    // Whatever changed while no stream was open is only seen by re-listing.
                    tools_changed.notify_one();
                    Box::new(current)
                }
                Err(ListenError::Refused(reason)) => {
                    tracing::warn!(server, %reason,
                        "the server refused subscriptions/listen; its tool-list changes will not be seen");
                    return std::future::pending().await;
                }
                Err(other) => {
                    tracing::debug!(server, reason = %other, ?delay, "subscriptions/listen failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(RELISTEN_MAX_DELAY);
                    continue;
                }
            },
        };
        let opened = Instant::now();
        loop {
            match current.next().await {
                Ok(Some(ServerNotification::ToolListChangedNotification(_))) => {
                    tracing::debug!(server, "tools/list_changed (subscription)");
                    tools_changed.notify_one();
                }
                Ok(Some(other)) => tracing::debug!(server, ?other, "subscription notification"),
                Ok(None) => {
                    let end = current.end().map(describe_end).unwrap_or("ended");
                    tracing::debug!(server, end, "tool-list subscription ended; listening again");
                    break;
                }
                Err(err) => {
                    tracing::debug!(server, err = %describe_service_error(&err),
                        "tool-list subscription failed; listening again");
                    break;
                }
            }
        }
        delay = if opened.elapsed() >= HEALTHY_STREAM {
            RELISTEN_FIRST_DELAY
        } else {
            (delay * 2).min(RELISTEN_MAX_DELAY)
        };
        tokio::time::sleep(delay).await;
    }
}

#[derive(Debug, thiserror::Error)]
enum ListenError {
    /// The server answered with a JSON-RPC error: asking again will not help.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Failed(String),
}

async fn listen(peer: &Peer<RoleClient>) -> Result<Subscription, ListenError> {
    let filter = SubscriptionFilter::builder().tools_list_changed().build();
    match tokio::time::timeout(ACK_LIMIT, peer.listen(filter)).await {
        Ok(Ok(subscription)) => {
            if subscription.acknowledged().tools_list_changed == Some(true) {
                Ok(subscription)
            } else {
                Err(ListenError::Refused(
                    "the subscription was acknowledged without tool-list changes".to_owned(),
                ))
            }
        }
        Ok(Err(ServiceError::McpError(error))) => Err(ListenError::Refused(format!(
            "{} (JSON-RPC error {})",
            error.message, error.code.0
        ))),
        Ok(Err(err)) => Err(ListenError::Failed(describe_service_error(&err))),
        Err(_) => Err(ListenError::Failed(format!(
            "no acknowledgement within {} ms",
            ACK_LIMIT.as_millis()
        ))),
    }
}

fn describe_end(end: &SubscriptionEnd) -> &'static str {
    match end {
        SubscriptionEnd::Graceful(_) => "closed by the server",
        SubscriptionEnd::Abrupt => "the stream broke",
        SubscriptionEnd::Cancelled => "cancelled",
        SubscriptionEnd::Lagged { .. } => "fell behind",
        _ => "ended",
    }
}
