//! The way back to the client: while a passed-through call runs, what its upstream sends the
//! client (requests such as `sampling/createMessage`, `elicitation/create`, `roots/list`, and
//! log and custom notifications) goes to the client that made the call.
//!
//! MCP gives a server-to-client request no field naming the call it belongs to, and one
//! upstream connection may carry calls of several clients at once. So each connection keeps
//! the calls in flight on it, and a request goes to the newest of them; with none in flight
//! (a server asking for roots after `initialized`), to the client that used the connection
//! last, if it is still there.

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use futures::future::BoxFuture;
use rmcp::model::{ClientCapabilities, ClientResult, ServerNotification, ServerRequest};
use rmcp::ErrorData;

/// The client of one passed-through call, as the upstream side sees it.
pub trait ClientRelay: Send + Sync + 'static {
    /// What the client declared it can do: the connection the call takes declares exactly
    /// the relayable part of it (sampling, elicitation, roots) to the upstream.
    fn capabilities(&self) -> ClientCapabilities;
    /// A 2026-07-28 client: it cannot be asked anything mid-call, so a server's "input
    /// required" answer goes to it as it is.
    fn is_stateless(&self) -> bool;
    /// Hands a notification to the client (best effort).
    fn notify(&self, notification: ServerNotification) -> BoxFuture<'static, ()>;
    /// Asks the client, and returns its answer or its error as it gave them.
    fn request(
        &self,
        request: ServerRequest,
    ) -> BoxFuture<'static, Result<ClientResult, ErrorData>>;
}

/// The calls in flight on one upstream connection.
#[derive(Default)]
pub(crate) struct Relays {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    calls: Vec<(u64, Arc<dyn ClientRelay>)>,
    last: Option<Weak<dyn ClientRelay>>,
}

/// A call's place in [`Relays`]; dropping it ends the call's claim on the connection.
pub(crate) struct Entered {
    relays: Arc<Relays>,
    id: u64,
}

impl Relays {
    /// Records a call in flight until the returned guard is dropped.
    pub(crate) fn enter(self: &Arc<Self>, relay: &Arc<dyn ClientRelay>) -> Entered {
        let mut inner = self.lock();
        inner.next += 1;
        let id = inner.next;
        inner.calls.push((id, relay.clone()));
        inner.last = Some(Arc::downgrade(relay));
        Entered {
            relays: self.clone(),
            id,
        }
    }

    /// Who answers what the server asks now: the newest call's client, else the last one.
    pub(crate) fn current(&self) -> Option<Arc<dyn ClientRelay>> {
        let inner = self.lock();
        if let Some((_, relay)) = inner.calls.last() {
            return Some(relay.clone());
        }
        inner.last.as_ref().and_then(Weak::upgrade)
    }

    /// The newest call's client, only while a call is in flight (logs outside calls belong
    /// to nobody in particular).
    pub(crate) fn in_flight(&self) -> Option<Arc<dyn ClientRelay>> {
        self.lock().calls.last().map(|(_, relay)| relay.clone())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        self.relays.lock().calls.retain(|(id, _)| *id != self.id);
    }
}

/// The part of a client's capabilities a gateway can relay, and nothing it cannot.
pub(crate) fn relayable(capabilities: &ClientCapabilities) -> ClientCapabilities {
    let mut declared = ClientCapabilities::default();
    declared.sampling = capabilities.sampling.clone();
    declared.elicitation = capabilities.elicitation.clone();
    declared.roots = capabilities.roots.clone();
    declared
}

/// A stable key for a set of declared capabilities: connections are shared by clients that
/// declare the same.
pub(crate) fn capability_key(capabilities: &ClientCapabilities) -> String {
    serde_json::to_string(capabilities).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Quiet;

    impl ClientRelay for Quiet {
        fn capabilities(&self) -> ClientCapabilities {
            ClientCapabilities::default()
        }
        fn is_stateless(&self) -> bool {
            false
        }
        fn notify(&self, _: ServerNotification) -> BoxFuture<'static, ()> {
            Box::pin(async {})
        }
        fn request(&self, _: ServerRequest) -> BoxFuture<'static, Result<ClientResult, ErrorData>> {
            Box::pin(async { Err(ErrorData::internal_error("quiet", None)) })
        }
    }

    #[test]
    fn the_newest_call_answers_and_the_last_client_stays_reachable_while_it_lives() {
        let relays = Arc::new(Relays::default());
        let first: Arc<dyn ClientRelay> = Arc::new(Quiet);
        let second: Arc<dyn ClientRelay> = Arc::new(Quiet);
        let a = relays.enter(&first);
        let b = relays.enter(&second);
        assert!(Arc::ptr_eq(&relays.current().expect("a relay"), &second));
        drop(b);
        assert!(Arc::ptr_eq(&relays.current().expect("a relay"), &first));
        drop(a);
        assert!(relays.in_flight().is_none());
        // `first` entered before `second`, so `second` was the last to use it.
        assert!(Arc::ptr_eq(&relays.current().expect("the last"), &second));
        drop(second);
        assert!(relays.current().is_none());
    }
}
