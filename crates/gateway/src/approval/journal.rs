//! The journal a 2026-07-28 approval carries: every call the execution made before it stopped
//! to ask, with its recorded outcome, and the calls it is asking about. On the retry the
//! snippet runs again from the start; each call it makes is matched against the journal by
//! tool and a digest of its arguments (not by position, so calls started together with
//! `Promise.all` match whatever order they settle in) and answered from the record, without
//! reaching the tool again. A call that matches no record while records are left over means
//! the snippet took another path this time (`Date`, `Math.random`, …): the execution fails
//! rather than guess.

use std::collections::VecDeque;

use codemode_sandbox::{ToolAnswer, ToolError, ToolErrorKind};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Tool results an approval can carry; past this a call that needs approval is refused
/// with a message saying why, since the state could not hold what came before it.
pub(crate) const MAX_JOURNAL_BYTES: usize = 768 * 1024;

/// Pending approvals one round can ask about.
pub(crate) const MAX_PENDING: usize = 16;

/// One call the execution made, and how it ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// `namespace.tool`.
    pub path: String,
    /// SHA-256 of the arguments' JSON text, hex.
    pub args: String,
    pub outcome: Recorded,
}

/// Externally tagged: a `RawValue` cannot sit inside an internally tagged enum.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Recorded {
    Ok {
        value: Box<RawValue>,
    },
    Err {
        kind: ToolErrorKind,
        message: String,
    },
}

impl Recorded {
    /// Returns the record and its size, or `None` for an answer that is not JSON.
    pub fn of(outcome: &Result<ToolAnswer, ToolError>) -> Option<(Recorded, usize)> {
        match outcome {
            Ok(ToolAnswer::Json(raw)) => {
                let size = raw.get().len();
                Some((Recorded::Ok { value: raw.clone() }, size))
            }
            Ok(ToolAnswer::Value(value)) => {
                let raw = serde_json::value::to_raw_value(value).ok()?;
                let size = raw.get().len();
                Some((Recorded::Ok { value: raw }, size))
            }
            Err(error) => Some((
                Recorded::Err {
                    kind: error.kind,
                    message: error.message.clone(),
                },
                error.message.len(),
            )),
        }
    }

    pub fn answer(&self) -> Result<ToolAnswer, ToolError> {
        match self {
            Recorded::Ok { value } => Ok(ToolAnswer::Json(value.clone())),
            Recorded::Err { kind, message } => Err(ToolError::of(*kind, message.clone())),
        }
    }
}

/// A call the execution stopped to ask about.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Pending {
    /// The key of its request in `inputRequests`.
    pub key: String,
    pub path: String,
    pub args: String,
}

/// What the sealed state holds.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ResumeState {
    /// Unique per issued state: an approval is used once.
    pub id: String,
    pub journal: Vec<Entry>,
    pub pending: Vec<Pending>,
}

/// The user's answer to one pending call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    Allow,
    Deny(String),
}

/// One retry's view of the journal: records not yet matched, and the answers to the calls
/// it asked about, each usable once.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    entries: Vec<(Entry, bool)>,
    answers: VecDeque<(Pending, Answer)>,
}

/// What a replayed call gets.
pub(crate) enum Matched {
    Recorded(Result<ToolAnswer, ToolError>),
    Answered(Answer),
    /// Nothing recorded or asked: the journal is used up, so the call runs live.
    Live,
    /// Records are left but none is this call.
    Diverged(String),
}

impl Replay {
    pub fn new(journal: Vec<Entry>, answers: Vec<(Pending, Answer)>) -> Replay {
        Replay {
            entries: journal.into_iter().map(|entry| (entry, false)).collect(),
            answers: answers.into(),
        }
    }

    pub fn take(&mut self, path: &str, args: &str) -> Matched {
        if let Some((entry, used)) = self
            .entries
            .iter_mut()
            .find(|(e, used)| !*used && e.path == path && e.args == args)
        {
            *used = true;
            return Matched::Recorded(entry.outcome.answer());
        }
        if let Some(index) = self
            .answers
            .iter()
            .position(|(p, _)| p.path == path && p.args == args)
        {
            if let Some((_, answer)) = self.answers.remove(index) {
                return Matched::Answered(answer);
            }
        }
        let left = self.entries.iter().filter(|(_, used)| !*used).count();
        if left == 0 {
            return Matched::Live;
        }
        let expected: Vec<&str> = self
            .entries
            .iter()
            .filter(|(_, used)| !*used)
            .take(3)
            .map(|(e, _)| e.path.as_str())
            .collect();
        Matched::Diverged(format!(
            "resuming after an approval, the snippet called tools.{path} with arguments the \
             first run did not use, while {left} recorded call(s) were still to come \
             (tools.{}): a snippet must make the same calls when it runs again, so do not \
             let Date, Math.random or other changing values decide which tools it calls or \
             with what; call execute again",
            expected.join(", tools.")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, args: &str, value: &str) -> Entry {
        Entry {
            path: path.into(),
            args: args.into(),
            outcome: Recorded::Ok {
                value: RawValue::from_string(value.into()).unwrap(),
            },
        }
    }

    fn value(matched: Matched) -> String {
        match matched {
            Matched::Recorded(Ok(ToolAnswer::Json(raw))) => raw.get().to_string(),
            _ => panic!("expected a recorded value"),
        }
    }

    #[test]
    fn calls_match_by_tool_and_arguments_in_any_order() {
        let mut replay = Replay::new(
            vec![
                entry("a.x", "1", "10"),
                entry("a.y", "2", "20"),
                entry("a.x", "1", "11"),
            ],
            vec![],
        );
        assert_eq!(value(replay.take("a.y", "2")), "20");
        assert_eq!(value(replay.take("a.x", "1")), "10");
        assert_eq!(value(replay.take("a.x", "1")), "11");
        assert!(matches!(replay.take("a.z", "3"), Matched::Live));
    }

    #[test]
    fn an_answer_is_used_once() {
        let pending = Pending {
            key: "k".into(),
            path: "a.del".into(),
            args: "9".into(),
        };
        let mut replay = Replay::new(vec![], vec![(pending, Answer::Allow)]);
        assert!(matches!(
            replay.take("a.del", "9"),
            Matched::Answered(Answer::Allow)
        ));
        assert!(matches!(replay.take("a.del", "9"), Matched::Live));
    }

    #[test]
    fn a_different_call_while_records_remain_diverges() {
        let mut replay = Replay::new(vec![entry("a.x", "1", "10")], vec![]);
        match replay.take("a.x", "2") {
            Matched::Diverged(message) => {
                assert!(message.contains("tools.a.x"), "{message}");
                assert!(message.contains("Math.random"), "{message}");
            }
            _ => panic!("expected a divergence"),
        }
    }
}
