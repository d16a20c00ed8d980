//! The HTTP transport's 2025-11-25 sessions, bounded: rmcp's in-memory
//! [`LocalSessionManager`] underneath, with a cap on how many live at once and an idle
//! expiry, and a guard against a request id reused while the first is still in flight.
//!
//! * **Busy or idle.** A session is busy while it is starting (until its `initialize` is
//!   answered) and while any stream of it is open: a POSTed request's response stream, the
//!   standalone GET stream, a resumed stream. Otherwise it is idle, since the last time it
//!   was used.
//! * **Idle expiry.** A session idle for `idle_timeout` is closed (its client gets 404 next
//!   time and initializes again, as the spec has it). rmcp's own `keep_alive` counts only
//!   messages, so it would also end a client that keeps a quiet GET stream open, and a
//!   long `execute`; it is turned off in favour of this definition.
//! * **Cap.** Opening a session past `max_sessions` first closes the least recently used
//!   idle session; when every session is busy the new one is refused, which
//!   [`crate::http`] answers with 503 and a JSON-RPC error.
//! * **Duplicate ids.** A request whose id is already in flight in its session is answered
//!   with -32600 at once and never reaches the session: rmcp would route both replies by id
//!   to the newer request's stream and cancel one of the two.

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::Stream;
use rmcp::model::{ClientJsonRpcMessage, ErrorData, RequestId, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, SessionConfig,
};
use rmcp::transport::streamable_http_server::session::{
    EventStore, ServerSseMessage, SessionId, SessionManager,
};
use tokio_util::sync::CancellationToken;

tokio::task_local! {
    /// Set around each session-opening request by [`crate::http`], so that a refusal deep
    /// inside rmcp (which turns any session-manager error into a plain 500) can be told
    /// apart and answered with 503.
    static REFUSED: Arc<AtomicBool>;
}

/// Runs `request` (the handling of one HTTP request) and reports whether it was refused a
/// session because the gateway is full.
pub(crate) async fn watch_refusal<F: std::future::Future>(request: F) -> (F::Output, bool) {
    let refused = Arc::new(AtomicBool::new(false));
    let output = REFUSED.scope(refused.clone(), request).await;
    (output, refused.load(Ordering::Relaxed))
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionsError {
    #[error("the gateway holds its maximum of {0} sessions and none of them is idle")]
    Full(usize),
    #[error(transparent)]
    Local(#[from] LocalSessionManagerError),
}

pub(crate) struct BoundedSessions {
    inner: LocalSessionManager,
    max_sessions: usize,
    idle_timeout: Duration,
    state: Mutex<Sessions>,
}

#[derive(Default)]
struct Sessions {
    live: HashMap<SessionId, Arc<Activity>>,
    /// Sessions being created (counted against the cap before they have an id).
    starting: usize,
}

struct Activity {
    /// Open streams, plus one while the session starts.
    busy: AtomicUsize,
    last_used: Mutex<Instant>,
    /// Ids of requests whose response stream is open.
    in_flight: Mutex<HashSet<RequestId>>,
}

impl Activity {
    fn touch(&self) {
        *lock(&self.last_used) = Instant::now();
    }

    fn idle_since(&self) -> Option<Instant> {
        (self.busy.load(Ordering::Acquire) == 0).then(|| *lock(&self.last_used))
    }
}

/// Holds a session busy; on drop, it is used "now" and the request id is free again.
struct Busy {
    activity: Arc<Activity>,
    request: Option<RequestId>,
}

impl Busy {
    fn new(activity: Arc<Activity>, request: Option<RequestId>) -> Busy {
        activity.busy.fetch_add(1, Ordering::AcqRel);
        activity.touch();
        Busy { activity, request }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(id) = &self.request {
            lock(&self.activity.in_flight).remove(id);
        }
        self.activity.touch();
        self.activity.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A session's stream, holding the session busy while it is open.
pub(crate) struct Tracked {
    first: Option<ServerSseMessage>,
    inner: Option<Pin<Box<dyn Stream<Item = ServerSseMessage> + Send + Sync>>>,
    _busy: Option<Busy>,
}

impl Stream for Tracked {
    type Item = ServerSseMessage;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(first));
        }
        match this.inner.as_mut() {
            Some(inner) => inner.as_mut().poll_next(cx),
            None => Poll::Ready(None),
        }
    }
}

impl Tracked {
    fn new(
        inner: impl Stream<Item = ServerSseMessage> + Send + Sync + 'static,
        busy: Option<Busy>,
    ) -> Tracked {
        Tracked {
            first: None,
            inner: Some(Box::pin(inner)),
            _busy: busy,
        }
    }

    fn single(message: ServerJsonRpcMessage) -> Tracked {
        Tracked {
            first: Some(ServerSseMessage::from_message(message)),
            inner: None,
            _busy: None,
        }
    }
}

/// Gives back its place in the cap when the session it reserved it for is in the map (or
/// was never made).
struct Reservation<'a>(&'a Mutex<Sessions>);

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        lock(self.0).starting -= 1;
    }
}

impl BoundedSessions {
    pub(crate) fn new(max_sessions: usize, idle_timeout: Duration) -> BoundedSessions {
        let mut config = SessionConfig::default();
        // Idle expiry is ours (see the module docs).
        config.keep_alive = None;
        let mut inner = LocalSessionManager::default();
        inner.session_config = config;
        BoundedSessions {
            inner,
            max_sessions,
            idle_timeout,
            state: Mutex::new(Sessions::default()),
        }
    }

    pub(crate) fn max_sessions(&self) -> usize {
        self.max_sessions
    }

    /// Whether opening a session now would be refused: the cap is reached and no session
    /// is idle.
    pub(crate) fn is_full(&self) -> bool {
        let state = lock(&self.state);
        state.live.len() + state.starting >= self.max_sessions
            && !state.live.values().any(|a| a.idle_since().is_some())
    }

    /// Live sessions (for tests and logs).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        lock(&self.state).live.len()
    }

    fn activity(&self, id: &SessionId) -> Option<Arc<Activity>> {
        let activity = lock(&self.state).live.get(id).cloned();
        if let Some(activity) = &activity {
            activity.touch();
        }
        activity
    }

    /// Closes every session idle for at least the idle timeout.
    async fn close_expired(&self) {
        let expired: Vec<SessionId> = {
            let mut state = lock(&self.state);
            let expired: Vec<SessionId> = state
                .live
                .iter()
                .filter(|(_, activity)| {
                    activity
                        .idle_since()
                        .is_some_and(|since| since.elapsed() >= self.idle_timeout)
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in &expired {
                state.live.remove(id);
            }
            expired
        };
        for id in expired {
            tracing::debug!(session = %id, "closing a session idle for {:?}", self.idle_timeout);
            if let Err(error) = self.inner.close_session(&id).await {
                tracing::debug!(session = %id, "closing an idle session: {error}");
            }
        }
    }

    /// Checks for idle sessions a few times per idle timeout, until `stop` is cancelled or
    /// the manager is dropped.
    pub(crate) fn spawn_expiry(self: &Arc<Self>, stop: CancellationToken) {
        let manager = Arc::downgrade(self);
        let period =
            (self.idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                let Some(manager) = manager.upgrade() else {
                    return;
                };
                manager.close_expired().await;
            }
        });
    }
}

impl SessionManager for BoundedSessions {
    type Error = SessionsError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let victim = {
            let mut state = lock(&self.state);
            let victim = if state.live.len() + state.starting >= self.max_sessions {
                let oldest_idle = state
                    .live
                    .iter()
                    .filter_map(|(id, activity)| Some((activity.idle_since()?, id)))
                    .min()
                    .map(|(_, id)| id.clone());
                let Some(oldest_idle) = oldest_idle else {
                    let _ = REFUSED.try_with(|refused| refused.store(true, Ordering::Relaxed));
                    tracing::warn!(
                        max_sessions = self.max_sessions,
                        "refusing a new session: every session is busy"
                    );
                    return Err(SessionsError::Full(self.max_sessions));
                };
                state.live.remove(&oldest_idle);
                Some(oldest_idle)
            } else {
                None
            };
            state.starting += 1;
            victim
        };
        let _reservation = Reservation(&self.state);
        if let Some(victim) = victim {
            tracing::info!(
                session = %victim,
                max_sessions = self.max_sessions,
                "at the session cap: closing the least recently used idle session"
            );
            if let Err(error) = self.inner.close_session(&victim).await {
                tracing::debug!(session = %victim, "closing an evicted session: {error}");
            }
        }
        let (id, transport) = self.inner.create_session().await?;
        let activity = Arc::new(Activity {
            // Busy until `initialize_session` has the answer.
            busy: AtomicUsize::new(1),
            last_used: Mutex::new(Instant::now()),
            in_flight: Mutex::new(HashSet::new()),
        });
        lock(&self.state).live.insert(id.clone(), activity);
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        // Takes over the "starting" hold from `create_session`, released however this ends.
        let _starting = self.activity(id).map(|activity| {
            let busy = Busy::new(activity, None);
            busy.activity.busy.fetch_sub(1, Ordering::AcqRel);
            busy
        });
        Ok(self.inner.initialize_session(id, message).await?)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        if self.activity(id).is_none() {
            return Ok(false);
        }
        Ok(self.inner.has_session(id).await?)
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        lock(&self.state).live.remove(id);
        Ok(self.inner.close_session(id).await?)
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let activity = self.activity(id);
        let mut request = None;
        if let (Some(activity), ClientJsonRpcMessage::Request(sent)) = (&activity, &message) {
            if !lock(&activity.in_flight).insert(sent.id.clone()) {
                tracing::debug!(session = %id, request = %sent.id, "refusing a reused in-flight id");
                return Ok(Tracked::single(ServerJsonRpcMessage::error(
                    ErrorData::invalid_request(
                        format!("request id {} is already in flight", sent.id),
                        None,
                    ),
                    Some(sent.id.clone()),
                )));
            }
            request = Some(sent.id.clone());
        }
        // From here on the guard frees the id, whether the stream is made or not.
        let busy = activity.map(|activity| Busy::new(activity, request));
        let stream = SessionManager::create_stream(&self.inner, id, message).await?;
        Ok(Tracked::new(stream, busy))
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.activity(id);
        Ok(self.inner.accept_message(id, message).await?)
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let busy = self.activity(id).map(|activity| Busy::new(activity, None));
        let stream = SessionManager::create_standalone_stream(&self.inner, id).await?;
        Ok(Tracked::new(stream, busy))
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let busy = self.activity(id).map(|activity| Busy::new(activity, None));
        let stream = SessionManager::resume(&self.inner, id, last_event_id).await?;
        Ok(Tracked::new(stream, busy))
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.inner.event_store()
    }
}

/// A poisoned lock only means a panic mid-update of plain bookkeeping; carry on.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_cap_evicts_the_least_recently_used_idle_session_or_refuses() {
        let sessions = BoundedSessions::new(2, Duration::from_secs(600));
        let (a, _ta) = sessions.create_session().await.expect("a");
        let (b, _tb) = sessions.create_session().await.expect("b");
        // Both still starting (no initialize yet): busy, so a third is refused.
        assert!(sessions.is_full());
        assert!(matches!(
            sessions.create_session().await,
            Err(SessionsError::Full(2))
        ));
        for id in [&a, &b] {
            let activity = sessions.activity(id).expect("live");
            activity.busy.fetch_sub(1, Ordering::AcqRel);
        }
        std::thread::sleep(Duration::from_millis(5));
        sessions.activity(&a);
        assert!(!sessions.is_full());
        let (c, _tc) = sessions.create_session().await.expect("c evicts b");
        assert_eq!(sessions.len(), 2);
        assert!(sessions.activity(&b).is_none());
        assert!(sessions.activity(&a).is_some());
        assert!(sessions.activity(&c).is_some());
    }
}
