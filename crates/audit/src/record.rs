//! The records: one JSON object per line, `"type"` first, field names in camelCase, an
//! absent optional field simply left out (a reader takes `null` as well).
//!
//! A record carries digests and sizes of what a call sent and received, never the values:
//! arguments, results and headers can hold secrets, and an audit file is read by more
//! people, and kept longer, than the gateway's memory.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Timestamp;

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Record {
    /// An execution began (written before its code runs, so a snippet that takes the
    /// gateway down with it is still on record).
    #[serde(rename = "execute.start")]
    ExecuteStart(ExecuteStart),
    /// An execution ended.
    #[serde(rename = "execute")]
    Execute(ExecuteEnd),
    /// A tool call from a snippet ended (or was refused).
    #[serde(rename = "call")]
    Call(CallRecord),
}

impl Record {
    pub fn time(&self) -> Timestamp {
        match self {
            Record::ExecuteStart(start) => start.time,
            Record::Execute(end) => end.time,
            Record::Call(call) => call.time,
        }
    }

    /// The execution this record belongs to.
    pub fn execution(&self) -> &str {
        match self {
            Record::ExecuteStart(start) => &start.execution,
            Record::Execute(end) => &end.execution,
            Record::Call(call) => &call.execution,
        }
    }

    /// `"execute.start"`, `"execute"` or `"call"`, as in the `type` field.
    pub fn kind(&self) -> &'static str {
        match self {
            Record::ExecuteStart(_) => "execute.start",
            Record::Execute(_) => "execute",
            Record::Call(_) => "call",
        }
    }

    /// This record without the snippet's code (its digest stays), or `None` when it has no
    /// code to drop.
    pub(crate) fn without_code(&self) -> Option<Record> {
        match self {
            Record::ExecuteStart(start) if start.code.is_some() => {
                Some(Record::ExecuteStart(ExecuteStart {
                    time: start.time,
                    execution: start.execution.clone(),
                    session: start.session.clone(),
                    client: start.client.clone(),
                    code: None,
                    code_sha256: start.code_sha256.clone(),
                }))
            }
            Record::Execute(end) if end.code.is_some() => Some(Record::Execute(ExecuteEnd {
                time: end.time,
                execution: end.execution.clone(),
                session: end.session.clone(),
                client: end.client.clone(),
                code: None,
                code_sha256: end.code_sha256.clone(),
                outcome: end.outcome,
                error_kind: end.error_kind.clone(),
                duration_ms: end.duration_ms,
                calls: end.calls,
            })),
            _ => None,
        }
    }
}

impl From<ExecuteStart> for Record {
    fn from(start: ExecuteStart) -> Record {
        Record::ExecuteStart(start)
    }
}

impl From<ExecuteEnd> for Record {
    fn from(end: ExecuteEnd) -> Record {
        Record::Execute(end)
    }
}

impl From<CallRecord> for Record {
    fn from(call: CallRecord) -> Record {
        Record::Call(call)
    }
}

/// `"execute.start"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteStart {
    pub time: Timestamp,
    /// The execution's id, shared by its calls and its end.
    pub execution: String,
    /// The MCP session (HTTP), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The client's name and version from `initialize`, e.g. `claude-code 1.2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The snippet; the log leaves it out when its [`crate::CodeMode`] is `Hash`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Lowercase hex SHA-256 of the code, always: the same snippet run twice has the same
    /// digest, with or without the code on record.
    pub code_sha256: String,
}

impl ExecuteStart {
    /// The start of execution `execution` running `code`, now.
    pub fn new(execution: impl Into<String>, code: &str) -> ExecuteStart {
        ExecuteStart {
            time: Timestamp::now(),
            execution: execution.into(),
            session: None,
            client: None,
            code: Some(code.to_string()),
            code_sha256: digest(code.as_bytes()),
        }
    }

    /// The matching end record, now.
    pub fn finish(
        &self,
        outcome: ExecuteOutcome,
        error_kind: Option<String>,
        duration: Duration,
        calls: u64,
    ) -> ExecuteEnd {
        ExecuteEnd {
            time: Timestamp::now(),
            execution: self.execution.clone(),
            session: self.session.clone(),
            client: self.client.clone(),
            code: self.code.clone(),
            code_sha256: self.code_sha256.clone(),
            outcome,
            error_kind,
            duration_ms: millis(duration),
            calls,
        }
    }
}

/// `"execute"`: how an execution ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteEnd {
    pub time: Timestamp,
    pub execution: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub code_sha256: String,
    pub outcome: ExecuteOutcome,
    /// The error's kind (`timeout`, `tool`, ...) when the outcome is `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    pub duration_ms: u64,
    /// Tool calls the execution made.
    pub calls: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecuteOutcome {
    Ok,
    Error,
    /// A tool asked for input from the user, and the execution stopped there.
    InputRequired,
    /// The client cancelled the request.
    Cancelled,
}

impl ExecuteOutcome {
    /// As the JSON spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecuteOutcome::Ok => "ok",
            ExecuteOutcome::Error => "error",
            ExecuteOutcome::InputRequired => "input_required",
            ExecuteOutcome::Cancelled => "cancelled",
        }
    }
}

/// `"call"`: one tool call from a snippet, written when it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRecord {
    /// When the call ended (it began `durationMs` earlier).
    pub time: Timestamp,
    pub execution: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// `namespace.tool`, as the snippet named it (TypeScript names).
    pub tool: String,
    /// The tool's own name at its server, when it differs from the TypeScript one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_tool: Option<String>,
    /// Lowercase hex SHA-256 of the arguments' JSON text, as the snippet sent it.
    pub args_sha256: String,
    pub args_bytes: u64,
    pub outcome: CallOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    pub duration_ms: u64,
    /// Size of the answer the snippet received (0 when there was none).
    pub result_bytes: u64,
    /// What policy said about the call.
    pub decision: Decision,
    /// Who let an `ask` (or `deny`) through: `user`, `session grant`, `policy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// The answer came from a replay, not from the tool.
    #[serde(default, skip_serializing_if = "is_false")]
    pub replayed: bool,
}

impl CallRecord {
    /// A call of `tool` (`namespace.tool`) with the arguments' JSON text `args`, ended now
    /// after `duration`; the optional fields start empty and `result_bytes` at 0.
    pub fn new(
        execution: impl Into<String>,
        tool: impl Into<String>,
        args: &[u8],
        decision: Decision,
        outcome: CallOutcome,
        duration: Duration,
    ) -> CallRecord {
        CallRecord {
            time: Timestamp::now(),
            execution: execution.into(),
            session: None,
            tool: tool.into(),
            source_tool: None,
            args_sha256: digest(args),
            args_bytes: u64::try_from(args.len()).unwrap_or(u64::MAX),
            outcome,
            error_kind: None,
            duration_ms: millis(duration),
            result_bytes: 0,
            decision,
            approved_by: None,
            replayed: false,
        }
    }

    /// `namespace.sourceTool`: the tool under its server's own name, when that is known.
    pub fn source_path(&self) -> Option<String> {
        let source = self.source_tool.as_deref()?;
        let namespace = self.tool.split_once('.').map_or("", |(ns, _)| ns);
        Some(format!("{namespace}.{source}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    Ok,
    Error,
    /// Policy refused it; the tool was not called.
    Denied,
    /// The execution ended while the call was in flight.
    Abandoned,
}

impl CallOutcome {
    /// As the JSON spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::Error => "error",
            CallOutcome::Denied => "denied",
            CallOutcome::Abandoned => "abandoned",
        }
    }
}

/// What policy decided for a call, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub action: Action,
    /// Which rule decided: `rule 2 (github.*)`, `readOnlyHint`, `default`.
    pub reason: String,
}

impl Decision {
    pub fn allow(reason: impl Into<String>) -> Decision {
        Decision {
            action: Action::Allow,
            reason: reason.into(),
        }
    }

    pub fn deny(reason: impl Into<String>) -> Decision {
        Decision {
            action: Action::Deny,
            reason: reason.into(),
        }
    }

    pub fn ask(reason: impl Into<String>) -> Decision {
        Decision {
            action: Action::Ask,
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Allow,
    Deny,
    Ask,
}

impl Action {
    /// As the JSON spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
            Action::Ask => "ask",
        }
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let hash = Sha256::digest(bytes);
    let mut hex = String::with_capacity(hash.len() * 2);
    for byte in hash.iter() {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn is_false(value: &bool) -> bool {
    !*value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_lowercase_hex_sha256() {
        assert_eq!(
            digest(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn type_comes_first_and_fields_are_camel_case() {
        let mut call = CallRecord::new(
            "e1",
            "github.create_issue",
            br#"{"title":"x"}"#,
            Decision::allow("rule 2 (github.*)"),
            CallOutcome::Ok,
            Duration::from_millis(12),
        );
        call.source_tool = Some("create-issue".into());
        let line = serde_json::to_string(&Record::from(call)).expect("serialises");
        assert!(line.starts_with(r#"{"type":"call","time":""#), "{line}");
        assert!(line.contains(r#""sourceTool":"create-issue""#), "{line}");
        assert!(line.contains(r#""argsBytes":13"#), "{line}");
        assert!(
            line.contains(r#""decision":{"action":"allow","reason":"rule 2 (github.*)"}"#),
            "{line}"
        );
        assert!(!line.contains("replayed"), "false is left out: {line}");
        assert!(!line.contains("session"), "none is left out: {line}");
    }

    #[test]
    fn reads_null_and_absent_alike() {
        let line = r#"{"type":"execute.start","time":"2026-12-02T16:30:01.123Z","execution":"e1","session":null,"codeSha256":"00"}"#;
        let record: Record = serde_json::from_str(line).expect("parses");
        let Record::ExecuteStart(start) = record else {
            panic!("not a start: {record:?}");
        };
        assert_eq!(start.session, None);
        assert_eq!(start.code, None);
        assert_eq!(start.time.to_string(), "2026-12-02T16:30:01.123Z");
    }

    #[test]
    fn as_str_spells_as_the_json_does() {
        fn json(value: impl Serialize) -> String {
            serde_json::to_value(value)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        }
        for outcome in [
            ExecuteOutcome::Ok,
            ExecuteOutcome::Error,
            ExecuteOutcome::InputRequired,
            ExecuteOutcome::Cancelled,
        ] {
            assert_eq!(outcome.as_str(), json(outcome));
        }
        for outcome in [
            CallOutcome::Ok,
            CallOutcome::Error,
            CallOutcome::Denied,
            CallOutcome::Abandoned,
        ] {
            assert_eq!(outcome.as_str(), json(outcome));
        }
        for action in [Action::Allow, Action::Deny, Action::Ask] {
            assert_eq!(action.as_str(), json(action));
        }
    }

    #[test]
    fn source_path_keeps_the_namespace() {
        let mut call = CallRecord::new(
            "e1",
            "github.create_issue",
            b"{}",
            Decision::ask("default"),
            CallOutcome::Denied,
            Duration::ZERO,
        );
        assert_eq!(call.source_path(), None);
        call.source_tool = Some("create-issue".into());
        assert_eq!(call.source_path().as_deref(), Some("github.create-issue"));
    }
}
