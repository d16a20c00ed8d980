//! The gateway's [`CallGate`]: one [`Governor`] per `execute`, deciding each call the
//! snippet makes on the gateway side (never in the worker). The policy's decision comes from
//! the catalogue; the governor adds what needs the execution or the client: `maxCalls`
//! counts, session grants, asking the user, replaying a journal, and the record of each
//! call.
//!
//! Asking depends on the client:
//! - a 2025-11-25 client that declares elicitation gets `elicitation/create` mid-call
//!   ([`Asker::Elicit`]);
//! - a 2026-07-28 client that declares it gets an `input_required` result: the execution
//!   stops ([`Asker::Suspend`]), its calls so far go into a sealed journal, and the retry
//!   runs the snippet again, answering those calls from the journal ([`journal`]);
//! - any other client cannot be asked, and the call is denied with how to allow it.

pub(crate) mod ask;
pub(crate) mod journal;
pub mod resume;
pub mod seal;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use codemode_audit::digest;
use codemode_catalog::gate::{
    answer_bytes, cannot_ask_message, Admission, AdmissionFuture, CallGate, CallTicket, GateCall,
};
use codemode_catalog::policy::Action;
use codemode_sandbox::{ToolAnswer, ToolError, ToolErrorKind};
use rmcp::{Peer, RoleServer};
use tokio::sync::watch;

use crate::session::SessionState;
use ask::Choice;
use journal::{Answer, Entry, Matched, Pending, Recorded, Replay};

/// How this execution can ask the user.
pub(crate) enum Asker {
    /// Nobody can be asked: a call that needs approval is denied.
    Nobody,
    /// Send `elicitation/create` to this 2025-11-25 client and wait.
    Elicit(Peer<RoleServer>),
    /// Stop the execution and answer `input_required` (2026-07-28).
    Suspend,
}

/// One call as the record keeps it.
#[derive(Debug, Clone)]
pub(crate) struct CallEnd {
    pub path: String,
    pub source_tool: String,
    pub args_sha256: String,
    pub args_bytes: u64,
    pub outcome: &'static str,
    pub error_kind: Option<&'static str>,
    pub duration_ms: u64,
    pub result_bytes: u64,
    pub action: Action,
    pub reason: String,
    pub approved_by: Option<&'static str>,
    pub replayed: bool,
}

/// A call the execution stopped to ask about, with the form the user will see.
#[derive(Debug, Clone)]
pub(crate) struct PendingAsk {
    pub call: Pending,
    pub form: rmcp::model::ElicitRequestParams,
}

/// Hears every call of an execution as it ends (the audit trail).
pub(crate) trait CallSink: Send + Sync {
    fn call_ended(&self, call: &CallEnd);
}

/// One execution's gate.
pub(crate) struct Governor {
    session: Arc<SessionState>,
    asker: Asker,
    sink: Option<Arc<dyn CallSink>>,
    state: Mutex<State>,
    /// Set once the execution stopped to ask (2026-07-28).
    suspended: watch::Sender<bool>,
    /// Calls let through and not yet ended.
    in_flight: watch::Sender<usize>,
}

#[derive(Default)]
struct State {
    counts: HashMap<String, u32>,
    /// The last few calls, for the "so far" line of an approval request.
    recent: VecDeque<(String, bool)>,
    calls: u64,
    /// With [`Asker::Suspend`]: every ended call, to carry into the sealed state.
    journal: Vec<Entry>,
    journal_bytes: usize,
    journal_overflowed: bool,
    pending: Vec<PendingAsk>,
    replay: Option<Replay>,
    diverged: Option<String>,
    /// Calls that reached the gate, held ones included.
    admitted: u64,
}

const RECENT_CALLS: usize = 8;

/// How long no new call must arrive before a stopped execution is considered settled.
const SETTLE_QUIET: std::time::Duration = std::time::Duration::from_millis(10);
/// The longest a stopped execution is given to settle.
const SETTLE_LIMIT: std::time::Duration = std::time::Duration::from_secs(1);

impl Governor {
    pub fn new(
        session: Arc<SessionState>,
        asker: Asker,
        replay: Option<Replay>,
        sink: Option<Arc<dyn CallSink>>,
    ) -> Arc<Governor> {
        Arc::new(Governor {
            session,
            asker,
            sink,
            state: Mutex::new(State {
                replay,
                ..State::default()
            }),
            suspended: watch::channel(false).0,
            in_flight: watch::channel(0).0,
        })
    }

    /// Resolves once the execution has stopped to ask.
    pub async fn wait_suspended(&self) {
        let mut suspended = self.suspended.subscribe();
        let _ = suspended.wait_for(|s| *s).await;
    }

    /// Resolves once no call that was let through is still running, and no new call has
    /// arrived for a moment: calls the snippet starts together (`Promise.all`) reach the
    /// gateway one by one from the sandbox's thread, and those that need approval should
    /// be asked about in the same round.
    pub async fn wait_idle(&self) {
        let mut in_flight = self.in_flight.subscribe();
        let deadline = Instant::now() + SETTLE_LIMIT;
        loop {
            let _ = in_flight.wait_for(|n| *n == 0).await;
            let seen = self.lock().admitted;
            tokio::time::sleep(SETTLE_QUIET).await;
            let quiet = self.lock().admitted == seen && *self.in_flight.borrow() == 0;
            if quiet || Instant::now() >= deadline {
                return;
            }
        }
    }

    /// The replay went another way than the journal: why, if so.
    pub fn divergence(&self) -> Option<String> {
        self.lock().diverged.clone()
    }

    /// The journal and the pending calls, to seal into the retry's state; the forms to
    /// show for each pending call.
    pub fn suspension(&self) -> (Vec<Entry>, Vec<PendingAsk>) {
        let state = self.lock();
        (state.journal.clone(), state.pending.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn so_far(state: &State) -> String {
        if state.calls == 0 {
            return "It has made no other call so far.".into();
        }
        let recent: Vec<String> = state
            .recent
            .iter()
            .map(|(path, ok)| format!("tools.{path} {}", if *ok { "ok" } else { "failed" }))
            .collect();
        let earlier = state.calls.saturating_sub(state.recent.len() as u64);
        let earlier = if earlier > 0 {
            format!("{earlier} earlier, then ")
        } else {
            String::new()
        };
        format!(
            "So far it has made {} call(s): {earlier}{}.",
            state.calls,
            recent.join(", ")
        )
    }

    fn ticket(
        self: &Arc<Self>,
        call: &GateCall<'_>,
        digest: String,
        approved_by: Option<&'static str>,
    ) -> Admission {
        self.in_flight.send_modify(|n| *n += 1);
        Admission::Proceed(Box::new(Ticket {
            governor: self.clone(),
            end: Some(self.call_end(call, digest, approved_by, false)),
            started: Instant::now(),
        }))
    }

    fn call_end(
        &self,
        call: &GateCall<'_>,
        digest: String,
        approved_by: Option<&'static str>,
        replayed: bool,
    ) -> CallEnd {
        CallEnd {
            path: call.path.to_string(),
            source_tool: call.source_tool.to_string(),
            args_sha256: digest,
            args_bytes: call.args_text.len() as u64,
            outcome: "ok",
            error_kind: None,
            duration_ms: 0,
            result_bytes: 0,
            action: call.decision.action,
            reason: call.decision.reason.to_string(),
            approved_by,
            replayed,
        }
    }

    /// A call answered without reaching its tool: refused, or replayed from the journal.
    fn answered(&self, mut end: CallEnd, outcome: Result<ToolAnswer, ToolError>) -> Admission {
        end.outcome = outcome_name(&outcome);
        end.error_kind = outcome.as_ref().err().map(|e| e.kind.as_str());
        if let Ok(answer) = &outcome {
            end.result_bytes = answer_bytes(answer);
        }
        self.ended(&end, &outcome);
        Admission::Answered(outcome)
    }

    fn ended(&self, end: &CallEnd, outcome: &Result<ToolAnswer, ToolError>) {
        {
            let mut state = self.lock();
            state.calls += 1;
            state.recent.push_back((end.path.clone(), outcome.is_ok()));
            if state.recent.len() > RECENT_CALLS {
                state.recent.pop_front();
            }
            if matches!(self.asker, Asker::Suspend) && !state.journal_overflowed {
                match Recorded::of(outcome) {
                    Some((recorded, size))
                        if state.journal_bytes + size + end.path.len() + 96
                            <= journal::MAX_JOURNAL_BYTES =>
                    {
                        state.journal_bytes += size + end.path.len() + 96;
                        state.journal.push(Entry {
                            path: end.path.clone(),
                            args: end.args_sha256.clone(),
                            outcome: recorded,
                        });
                    }
                    _ => state.journal_overflowed = true,
                }
            }
        }
        if let Some(sink) = &self.sink {
            sink.call_ended(end);
        }
    }

    fn admit_call(self: &Arc<Self>, call: GateCall<'_>) -> AdmissionFuture {
        let digest = digest(call.args_text.as_bytes());
        let path = call.path;
        let decision = call.decision;
        let mut state = self.lock();
        state.admitted += 1;
        // Once stopped to ask, nothing more runs: a call is held (and made again on the
        // retry), except that another call needing approval joins the same question.
        let suspended = *self.suspended.borrow();
        if suspended && !(decision.action == Action::Ask && matches!(self.asker, Asker::Suspend)) {
            return Box::pin(std::future::pending());
        }
        let count = state.counts.entry(path.to_string()).or_insert(0);
        *count += 1;
        if let Some(max) = decision.max_calls {
            if *count > max {
                drop(state);
                let message = format!(
                    "tools.{path} is denied: {} allows at most {max} call(s) to it in one \
                     execution",
                    decision.reason
                );
                let end = self.call_end(&call, digest, None, false);
                return ready(self.answered(end, Err(ToolError::denied(message))));
            }
        }
        if let Some(replay) = state.replay.as_mut() {
            match replay.take(path, &digest) {
                Matched::Recorded(outcome) => {
                    drop(state);
                    let end = self.call_end(&call, digest, None, true);
                    return ready(self.answered(end, outcome));
                }
                Matched::Answered(Answer::Allow) => {
                    drop(state);
                    return ready(self.ticket(&call, digest, Some("user")));
                }
                Matched::Answered(Answer::Deny(why)) => {
                    drop(state);
                    let end = self.call_end(&call, digest, None, false);
                    return ready(self.answered(end, Err(ToolError::denied(why))));
                }
                Matched::Diverged(why) => {
                    state.diverged.get_or_insert(why.clone());
                    drop(state);
                    let end = self.call_end(&call, digest, None, false);
                    return ready(self.answered(end, Err(ToolError::denied(why))));
                }
                Matched::Live => {}
            }
        }
        match decision.action {
            Action::Allow => {
                drop(state);
                ready(self.ticket(&call, digest, None))
            }
            Action::Deny => {
                drop(state);
                let end = self.call_end(&call, digest, None, false);
                let refusal = Err(ToolError::denied(decision.denied_message(path)));
                ready(self.answered(end, refusal))
            }
            Action::Ask if self.session.is_granted(path) && !suspended => {
                drop(state);
                ready(self.ticket(&call, digest, Some("session grant")))
            }
            Action::Ask => match &self.asker {
                Asker::Nobody => {
                    drop(state);
                    let end = self.call_end(&call, digest, None, false);
                    let refusal = Err(ToolError::denied(cannot_ask_message(path, decision)));
                    ready(self.answered(end, refusal))
                }
                Asker::Suspend => {
                    if state.journal_overflowed || state.pending.len() >= journal::MAX_PENDING {
                        drop(state);
                        let message = format!(
                            "tools.{path} needs the user's approval, but the calls before it \
                             returned more than the {} KiB an approval request can carry; \
                             make this call earlier in the snippet, or allow it in the \
                             config's policy",
                            journal::MAX_JOURNAL_BYTES / 1024
                        );
                        let end = self.call_end(&call, digest, None, false);
                        return ready(self.answered(end, Err(ToolError::denied(message))));
                    }
                    let key = format!("approve-{}", state.pending.len() + 1);
                    // No session in 2026-07-28: allow once or deny.
                    let form = ask::request(
                        path,
                        &decision.reason.to_string(),
                        call.args,
                        &Self::so_far(&state),
                        false,
                    );
                    state.pending.push(PendingAsk {
                        call: Pending {
                            key,
                            path: path.to_string(),
                            args: digest,
                        },
                        form,
                    });
                    drop(state);
                    self.suspended.send_replace(true);
                    Box::pin(std::future::pending())
                }
                Asker::Elicit(peer) => {
                    let form = ask::request(
                        path,
                        &decision.reason.to_string(),
                        call.args,
                        &Self::so_far(&state),
                        true,
                    );
                    drop(state);
                    let peer = peer.clone();
                    let governor = self.clone();
                    let end = self.call_end(&call, digest.clone(), None, false);
                    let path = path.to_string();
                    Box::pin(async move {
                        let choice = match peer.create_elicitation(form).await {
                            Ok(result) => ask::choice(&path, &result),
                            Err(error) => Choice::Refused(format!(
                                "tools.{path} was not approved: asking the user failed ({error})"
                            )),
                        };
                        match choice {
                            Choice::Once | Choice::Session => {
                                if choice == Choice::Session {
                                    governor.session.grant(&path);
                                }
                                governor.in_flight.send_modify(|n| *n += 1);
                                let mut end = end;
                                end.approved_by = Some(if choice == Choice::Session {
                                    "user (for the session)"
                                } else {
                                    "user"
                                });
                                Admission::Proceed(Box::new(Ticket {
                                    governor,
                                    end: Some(end),
                                    started: Instant::now(),
                                }))
                            }
                            Choice::Refused(why) => {
                                governor.answered(end, Err(ToolError::denied(why)))
                            }
                        }
                    })
                }
            },
        }
    }
}

/// The governor as the catalogue's gate.
pub(crate) struct Gate(pub Arc<Governor>);

impl CallGate for Gate {
    fn admit(&self, call: GateCall<'_>) -> AdmissionFuture {
        self.0.admit_call(call)
    }
}

/// A call let through: its end is recorded, or its abandonment when dropped unfinished.
struct Ticket {
    governor: Arc<Governor>,
    end: Option<CallEnd>,
    started: Instant,
}

impl CallTicket for Ticket {
    fn finished(mut self: Box<Self>, outcome: &Result<ToolAnswer, ToolError>, result_bytes: u64) {
        if let Some(mut end) = self.end.take() {
            end.outcome = outcome_name(outcome);
            end.error_kind = outcome.as_ref().err().map(|e| e.kind.as_str());
            end.result_bytes = result_bytes;
            end.duration_ms = self.started.elapsed().as_millis() as u64;
            self.governor.ended(&end, outcome);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(mut end) = self.end.take() {
            end.outcome = "abandoned";
            end.error_kind = Some("abandoned");
            end.duration_ms = self.started.elapsed().as_millis() as u64;
            // Not journaled: an abandoned call is made again if the snippet runs again.
            if let Some(sink) = &self.governor.sink {
                sink.call_ended(&end);
            }
        }
        self.governor
            .in_flight
            .send_modify(|n| *n = n.saturating_sub(1));
    }
}

fn outcome_name(outcome: &Result<ToolAnswer, ToolError>) -> &'static str {
    match outcome {
        Ok(_) => "ok",
        Err(error) if error.kind == ToolErrorKind::Denied => "denied",
        Err(_) => "error",
    }
}

fn ready(admission: Admission) -> AdmissionFuture {
    Box::pin(std::future::ready(admission))
}
