//! Telling clients that the catalogue changed: `notifications/tools/list_changed` (the
//! `execute` description lists the namespaces) and `notifications/resources/list_changed`
//! (one resource per namespace).
//!
//! 2025-11-25 sessions get them on their stream for as long as the session lives;
//! 2026-07-28 clients get them on a `subscriptions/listen` stream, for the categories they
//! asked for.

use std::sync::Weak;
use std::time::Duration;

use codemode_catalog::Catalog;
use codemode_upstream::DirectEvent;
use rmcp::model::ServerNotification;
use rmcp::service::{SubscriptionContext, SubscriptionSendError};
use rmcp::{Peer, RoleServer};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::session::SessionState;

/// An upstream restarting or re-listing bumps the catalogue several times in a row; one
/// notification for the burst is enough.
const COALESCE: Duration = Duration::from_millis(50);

/// Follows the catalogue for one legacy session. Ends when the client is gone or the
/// catalogue is dropped.
/// With `prompts`, prompts are passed through and their list changes with the rest.
pub(crate) fn spawn_session_notifier(
    catalog: &Catalog,
    peer: Peer<RoleServer>,
    prompts: bool,
) -> JoinHandle<()> {
    let mut changes = catalog.changes();
    changes.borrow_and_update();
    tokio::spawn(async move {
        while next_change(&mut changes).await {
            if peer.notify_tool_list_changed().await.is_err()
                || peer.notify_resource_list_changed().await.is_err()
                || (prompts && peer.notify_prompt_list_changed().await.is_err())
            {
                tracing::debug!("client gone; no more list_changed for this session");
                break;
            }
        }
    })
}

/// Tells one session of updates to the passthrough resources it subscribed to. Ends when
/// the session or the servers are gone.
pub(crate) fn spawn_resource_updates(
    mut events: broadcast::Receiver<DirectEvent>,
    session: Weak<SessionState>,
    peer: Peer<RoleServer>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "resource updates came faster than a client took them"
                    );
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let DirectEvent::ResourceUpdated(notification) = event;
            let Some(state) = session.upgrade() else {
                return;
            };
            if !state.is_subscribed(&notification.params.uri) {
                continue;
            }
            drop(state);
            if peer
                .send_notification(ServerNotification::ResourceUpdatedNotification(
                    notification,
                ))
                .await
                .is_err()
            {
                return;
            }
        }
    })
}

/// Serves one `subscriptions/listen` stream until the client cancels it.
pub(crate) async fn listen(catalog: &Catalog, context: SubscriptionContext) {
    let mut changes = catalog.changes();
    changes.borrow_and_update();
    loop {
        tokio::select! {
            () = context.cancelled() => return,
            changed = next_change(&mut changes) => {
                if !changed {
                    // The catalogue is gone (shutdown): end the stream gracefully.
                    return;
                }
                let sink = context.sink();
                let sent = [
                    accepted_or_closed(sink.notify_tool_list_changed().await),
                    accepted_or_closed(sink.notify_resource_list_changed().await),
                ];
                if sent.contains(&false) {
                    return;
                }
            }
        }
    }
}

async fn next_change(changes: &mut watch::Receiver<u64>) -> bool {
    if changes.changed().await.is_err() {
        return false;
    }
    tokio::time::sleep(COALESCE).await;
    changes.borrow_and_update();
    true
}

/// `false` when the stream is closed. A category the client did not subscribe to is
/// filtered by the SDK and is not an error here.
fn accepted_or_closed(result: Result<(), SubscriptionSendError>) -> bool {
    match result {
        Ok(()) | Err(SubscriptionSendError::NotificationNotAccepted(_)) => true,
        Err(error) => {
            tracing::debug!(%error, "subscription stream ended");
            false
        }
    }
}
