//! One execution's audit records, written by the gateway as the execution runs: its start,
//! each call as it ends (from the governor, so the worker never writes a line), and its end.
//! A record is on disk when written, so a gateway killed mid-execution leaves the start
//! and every call that ended before it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use codemode_audit::{
    Action, AuditLog, CallOutcome, CallRecord, Decision, ExecuteOutcome, ExecuteStart, Timestamp,
};
use codemode_catalog::policy::Action as PolicyAction;

use crate::approval::{CallEnd, CallSink};

/// Who started an execution, as the records name it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Caller {
    pub session: Option<String>,
    pub client: Option<String>,
}

pub(crate) struct ExecutionAudit {
    log: AuditLog,
    start: ExecuteStart,
    started: Instant,
    ended: AtomicBool,
}

impl ExecutionAudit {
    /// Writes the start record.
    pub fn begin(log: &AuditLog, execution: &str, code: &str, caller: Caller) -> ExecutionAudit {
        let mut start = ExecuteStart::new(execution, code);
        start.session = caller.session;
        start.client = caller.client;
        log.write(&start.clone().into());
        ExecutionAudit {
            log: log.clone(),
            start,
            started: Instant::now(),
            ended: AtomicBool::new(false),
        }
    }

    /// Writes the end record (once).
    pub fn end(&self, outcome: ExecuteOutcome, error_kind: Option<String>, calls: u64) {
        if self.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        let end = self
            .start
            .finish(outcome, error_kind, self.started.elapsed(), calls);
        self.log.write(&end.into());
    }
}

impl Drop for ExecutionAudit {
    /// An execution dropped without an end (the client went away) ends as cancelled.
    fn drop(&mut self) {
        self.end(ExecuteOutcome::Cancelled, None, 0);
    }
}

impl CallSink for ExecutionAudit {
    fn call_ended(&self, call: &CallEnd) {
        let outcome = match call.outcome {
            "ok" => CallOutcome::Ok,
            "denied" => CallOutcome::Denied,
            "abandoned" => CallOutcome::Abandoned,
            _ => CallOutcome::Error,
        };
        let record = CallRecord {
            time: Timestamp::now(),
            execution: self.start.execution.clone(),
            session: self.start.session.clone(),
            tool: call.path.clone(),
            source_tool: Some(call.source_tool.clone()),
            args_sha256: call.args_sha256.clone(),
            args_bytes: call.args_bytes,
            outcome,
            error_kind: call.error_kind.map(str::to_string),
            duration_ms: call.duration_ms,
            result_bytes: call.result_bytes,
            decision: Decision {
                action: audit_action(call.action),
                reason: call.reason.clone(),
            },
            approved_by: approved_by(call.approved_by, call.action, outcome),
            replayed: call.replayed,
        };
        self.log.write(&record.into());
    }
}

/// The policy's action as an audit record writes it.
pub(crate) fn audit_action(action: PolicyAction) -> Action {
    match action {
        PolicyAction::Allow => Action::Allow,
        PolicyAction::Deny => Action::Deny,
        PolicyAction::Ask => Action::Ask,
    }
}

/// Who let a call run: the one who approved it when it was asked about, else the policy
/// for a call it allowed that ran; nobody for one that never ran.
pub(crate) fn approved_by(
    who: Option<&str>,
    action: PolicyAction,
    outcome: CallOutcome,
) -> Option<String> {
    match (who, action, outcome) {
        (Some(who), _, _) => Some(who.to_string()),
        (
            None,
            PolicyAction::Allow,
            CallOutcome::Ok | CallOutcome::Error | CallOutcome::Abandoned,
        ) => Some("policy".to_string()),
        _ => None,
    }
}
