//! What the gateway keeps per MCP session, and nothing more: the log level the client asked
//! for, the task that tells it when the catalogue changes, the tools the user allowed
//! "for the rest of the session" when asked, and the passthrough resources it subscribed to.
//!
//! Everything else (the catalogue, limits) is shared, so a session costs a few bytes and a
//! replica behind a load balancer can serve any request of the 2026-07-28 stateless
//! protocol, where there is no session at all.

#![allow(deprecated)] // MCP logging is deprecated by SEP-2577, but 2025-11-25 clients use it.

use std::collections::HashSet;
use std::sync::Mutex;

use rmcp::model::LoggingLevel;
use tokio::task::JoinHandle;

#[derive(Debug, Default)]
pub(crate) struct SessionState {
    /// Set by `logging/setLevel`; `None` until then, and then nothing is sent.
    log_level: Mutex<Option<LoggingLevel>>,
    /// Sends `list_changed` to this session's client; stopped with the session.
    watcher: Mutex<Option<JoinHandle<()>>>,
    /// Tools (`namespace.tool`) the user allowed for the rest of this session.
    grants: Mutex<HashSet<String>>,
    /// Passthrough resources this session subscribed to, and the task that tells it of
    /// their updates.
    subscriptions: Mutex<HashSet<String>>,
    updates: Mutex<Option<JoinHandle<()>>>,
}

impl SessionState {
    pub fn set_log_level(&self, level: LoggingLevel) {
        *lock(&self.log_level) = Some(level);
    }

    /// Whether a message at `level` should reach the client.
    pub fn wants_log(&self, level: LoggingLevel) -> bool {
        lock(&self.log_level).is_some_and(|threshold| severity(level) >= severity(threshold))
    }

    /// Whether an upstream's log message at `level`, passed through, should reach the client:
    /// all of them until it set a level (the server chose to send them), then those at or
    /// above it.
    pub fn passes_upstream_log(&self, level: LoggingLevel) -> bool {
        lock(&self.log_level).is_none_or(|threshold| severity(level) >= severity(threshold))
    }

    /// Records a subscription; false when the session had it already.
    pub fn subscribe(&self, uri: &str) -> bool {
        lock(&self.subscriptions).insert(uri.to_string())
    }

    /// Drops a subscription; false when the session did not have it.
    pub fn unsubscribe(&self, uri: &str) -> bool {
        lock(&self.subscriptions).remove(uri)
    }

    pub fn is_subscribed(&self, uri: &str) -> bool {
        lock(&self.subscriptions).contains(uri)
    }

    /// Installs the resource-update forwarder unless one runs already.
    pub fn start_updates(&self, start: impl FnOnce() -> JoinHandle<()>) {
        start_once(&self.updates, start);
    }

    /// Allows `path` without asking again, for as long as this session lasts.
    pub fn grant(&self, path: &str) {
        lock(&self.grants).insert(path.to_string());
    }

    pub fn is_granted(&self, path: &str) -> bool {
        lock(&self.grants).contains(path)
    }

    /// Installs the change watcher unless one runs already (`initialized` can be repeated).
    pub fn start_watcher(&self, start: impl FnOnce() -> JoinHandle<()>) {
        start_once(&self.watcher, start);
    }
}

impl Drop for SessionState {
    fn drop(&mut self) {
        for task in [&self.watcher, &self.updates] {
            if let Some(task) = lock(task).take() {
                task.abort();
            }
        }
    }
}

/// Starts the task in `slot` unless one runs there already.
fn start_once(slot: &Mutex<Option<JoinHandle<()>>>, start: impl FnOnce() -> JoinHandle<()>) {
    let mut task = lock(slot);
    if task.as_ref().is_none_or(JoinHandle::is_finished) {
        *task = Some(start());
    }
}

/// RFC 5424 order, which MCP's levels follow.
fn severity(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

/// A poisoned lock here only means another request panicked mid-assignment of a plain
/// value; the value is still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_flow_only_after_set_level_and_at_or_above_it() {
        let state = SessionState::default();
        assert!(!state.wants_log(LoggingLevel::Emergency));
        state.set_log_level(LoggingLevel::Warning);
        assert!(state.wants_log(LoggingLevel::Error));
        assert!(state.wants_log(LoggingLevel::Warning));
        assert!(!state.wants_log(LoggingLevel::Info));
    }
}
