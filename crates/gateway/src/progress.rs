//! `notifications/progress` for an `execute` whose request carried a `progressToken`: how
//! many calls have finished, the last tool as the message, and the progress upstream
//! servers report for calls in flight, at most a few times a second. A quiet execution
//! (one long call, a long computation) still gets a heartbeat, so clients that reset their
//! timeout on progress keep waiting for honest work; the wall-clock limit still ends it.
//!
//! The progress value's whole part is the number of calls finished so far. MCP requires the
//! value to increase with each notification, so notifications between two call completions
//! climb in the fraction: 3, 3.5, 3.67, … then 4.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use codemode_catalog::{CallObserver, Progress};

use crate::describe::clip;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::{Peer, RoleServer};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// At most one notification per this interval (a few per second).
const MIN_INTERVAL: Duration = Duration::from_millis(250);
/// With nothing to report, a notification after this long anyway.
const HEARTBEAT: Duration = Duration::from_secs(3);
/// Characters of a forwarded upstream message.
const MESSAGE_CHARS: usize = 200;

/// Collects what one execution's calls report; [`pump`] sends it.
#[derive(Default)]
pub(crate) struct ProgressReporter {
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Default)]
struct State {
    finished: u64,
    /// Notifications sent since `finished` last changed (the fraction's numerator).
    since_finished: u64,
    message: Option<String>,
    dirty: bool,
}

impl ProgressReporter {
    fn update(&self, change: impl FnOnce(&mut State)) {
        if let Ok(mut state) = self.state.lock() {
            change(&mut state);
            state.dirty = true;
        }
        self.changed.notify_one();
    }

    /// The next value and message to send, if there is news (or `heartbeat` asks anyway).
    fn next(&self, heartbeat: Option<Duration>) -> Option<(f64, String)> {
        let mut state = self.state.lock().ok()?;
        let message = match (state.dirty, heartbeat) {
            (true, _) => state.message.clone().unwrap_or_default(),
            (false, Some(running)) => format!(
                "running for {} s; {} calls finished",
                running.as_secs(),
                state.finished
            ),
            (false, None) => return None,
        };
        state.dirty = false;
        let k = state.since_finished as f64;
        state.since_finished += 1;
        Some((state.finished as f64 + k / (k + 1.0), message))
    }
}

impl CallObserver for ProgressReporter {
    fn finished(&self, path: &str, ok: bool) {
        self.update(|state| {
            state.finished += 1;
            state.since_finished = 0;
            let outcome = if ok { "" } else { " (failed)" };
            state.message = Some(format!(
                "{} calls finished; last: tools.{path}{outcome}",
                state.finished
            ));
        });
    }

    fn progress(&self, path: &str, progress: &Progress) {
        let detail = match (&progress.message, progress.total) {
            (Some(message), _) => clip(message, MESSAGE_CHARS),
            (None, Some(total)) => format!("{} of {}", progress.progress, total),
            (None, None) => format!("{}", progress.progress),
        };
        self.update(|state| {
            state.message = Some(format!("tools.{path}: {detail}"));
        });
    }
}

/// Sends the reporter's news to the client until `done`.
pub(crate) async fn pump(
    reporter: Arc<ProgressReporter>,
    peer: Peer<RoleServer>,
    token: ProgressToken,
    done: CancellationToken,
) {
    let started = Instant::now();
    loop {
        let heartbeat = tokio::select! {
            () = done.cancelled() => return,
            () = reporter.changed.notified() => None,
            () = tokio::time::sleep(HEARTBEAT) => Some(started.elapsed()),
        };
        if let Some((progress, message)) = reporter.next(heartbeat) {
            let notification =
                ProgressNotificationParam::new(token.clone(), progress).with_message(message);
            if peer.notify_progress(notification).await.is_err() {
                return;
            }
        }
        tokio::select! {
            () = done.cancelled() => return,
            () = tokio::time::sleep(MIN_INTERVAL) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_rise_and_their_whole_part_counts_finished_calls() {
        let reporter = ProgressReporter::default();
        reporter.progress(
            "a.b",
            &Progress {
                progress: 1.0,
                total: Some(4.0),
                message: None,
            },
        );
        let (first, message) = reporter.next(None).unwrap();
        assert_eq!(first, 0.0);
        assert_eq!(message, "tools.a.b: 1 of 4");
        assert!(reporter.next(None).is_none(), "no news, no notification");
        let (second, _) = reporter.next(Some(Duration::from_secs(5))).unwrap();
        assert!(second > first && second < 1.0);
        reporter.finished("a.b", true);
        let (third, message) = reporter.next(None).unwrap();
        assert_eq!(third, 1.0);
        assert_eq!(message, "1 calls finished; last: tools.a.b");
    }
}
