//! The 2026-07-28 round trip: an execution that stopped to ask becomes an `input_required`
//! result whose `requestState` is the sealed journal; the client's retry brings it back with
//! the user's answers, and it opens into a [`Replay`] only for the same principal, the same
//! `execute` arguments, within its time to live, and once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    ElicitRequest, InputRequest, InputRequests, InputRequiredResult, InputResponses,
};

use super::ask;
use super::journal::{Entry, Replay, ResumeState};
use super::seal::{unix_millis, KeyRing};
use super::PendingAsk;
use codemode_audit::digest;

/// How long a client has to answer an approval by default.
pub const DEFAULT_APPROVAL_TTL: Duration = Duration::from_secs(10 * 60);

/// States opened at most this many times per process are remembered until they expire;
/// past it the oldest are forgotten (they expire within the TTL anyway).
const MAX_REMEMBERED: usize = 100_000;

/// Seals and opens approval state, and remembers which were used.
pub struct Resumer {
    ring: Arc<KeyRing>,
    ttl: Duration,
    /// State id → its expiry (unix ms): an approval is used once.
    used: Mutex<HashMap<String, u64>>,
}

impl std::fmt::Debug for Resumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resumer")
            .field("ring", &self.ring)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl Resumer {
    pub fn new(ring: Arc<KeyRing>, ttl: Duration) -> Resumer {
        Resumer {
            ring,
            ttl,
            used: Mutex::new(HashMap::new()),
        }
    }

    /// The `input_required` answer for an execution that stopped at `pending`.
    pub(crate) fn suspend(
        &self,
        principal: &str,
        code: &str,
        journal: Vec<Entry>,
        pending: Vec<PendingAsk>,
    ) -> InputRequiredResult {
        let mut requests = InputRequests::new();
        let mut calls = Vec::with_capacity(pending.len());
        for PendingAsk { call, form } in pending {
            requests.insert(
                call.key.clone(),
                InputRequest::Elicitation(ElicitRequest::new(form)),
            );
            calls.push(call);
        }
        let state = ResumeState {
            id: random_id(),
            journal,
            pending: calls,
        };
        let payload = serde_json::to_vec(&state).unwrap_or_default();
        let token = self
            .ring
            .seal(&payload, &binding(principal, code), self.ttl);
        InputRequiredResult::new(Some(requests), Some(token))
    }

    /// Opens a retry's state into the replay it asks for; `Err` says why it cannot resume.
    pub(crate) fn resume(
        &self,
        token: &str,
        responses: Option<&InputResponses>,
        principal: &str,
        code: &str,
    ) -> Result<Replay, String> {
        let payload = self
            .ring
            .open(token, &binding(principal, code))
            .map_err(|error| error.to_string())?;
        let state: ResumeState = serde_json::from_slice(&payload)
            .map_err(|_| "the request state is not one this gateway issued".to_string())?;
        self.use_once(&state.id)?;
        let answers = state
            .pending
            .into_iter()
            .map(|call| {
                let response = responses.and_then(|r| r.get(&call.key));
                let answer = ask::choice_from_json(&call.path, response).into_answer();
                (call, answer)
            })
            .collect();
        Ok(Replay::new(state.journal, answers))
    }

    fn use_once(&self, id: &str) -> Result<(), String> {
        let now = unix_millis();
        let mut used = match self.used.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if used.contains_key(id) {
            return Err(
                "this approval was already used; an approval resumes one execution once".into(),
            );
        }
        if used.len() >= MAX_REMEMBERED {
            used.retain(|_, expiry| *expiry > now);
        }
        if used.len() >= MAX_REMEMBERED {
            if let Some(oldest) = used.iter().min_by_key(|(_, e)| **e).map(|(k, _)| k.clone()) {
                used.remove(&oldest);
            }
        }
        used.insert(id.to_string(), now + self.ttl.as_millis() as u64);
        Ok(())
    }
}

/// What a token is bound to: who asked, which method, which arguments.
fn binding(principal: &str, code: &str) -> Vec<u8> {
    format!(
        "{principal}\0tools/call\0execute\0{}",
        digest(code.as_bytes())
    )
    .into_bytes()
}

pub(crate) fn random_id() -> String {
    use chacha20poly1305::aead::rand_core::RngCore;
    let mut bytes = [0u8; 16];
    chacha20poly1305::aead::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use serde_json::value::RawValue;

    use super::*;
    use crate::approval::journal::{Matched, Pending, Recorded};

    fn resumer() -> Resumer {
        Resumer::new(Arc::new(KeyRing::ephemeral()), Duration::from_secs(60))
    }

    fn suspended(resumer: &Resumer) -> InputRequiredResult {
        let journal = vec![Entry {
            path: "a.list".into(),
            args: "d1".into(),
            outcome: Recorded::Ok {
                value: RawValue::from_string("[1,2]".into()).unwrap(),
            },
        }];
        let pending = vec![PendingAsk {
            call: Pending {
                key: "approve-1".into(),
                path: "a.delete".into(),
                args: "d2".into(),
            },
            form: ask::request(
                "a.delete",
                "policy rule 1 (a.delete)",
                &json!({"id": 1}),
                "So far: 1 call.",
                false,
            ),
        }];
        resumer.suspend("alice", "code", journal, pending)
    }

    fn accept() -> InputResponses {
        let mut responses = InputResponses::new();
        responses.insert(
            "approve-1".into(),
            json!({"action": "accept", "content": {"decision": "allow_once"}}),
        );
        responses
    }

    #[test]
    fn a_state_resumes_once_for_the_same_caller_and_code() {
        let resumer = resumer();
        let result = suspended(&resumer);
        let token = result.request_state.clone().unwrap();
        assert!(result.input_requests.unwrap().contains_key("approve-1"));
        assert!(resumer
            .resume(&token, Some(&accept()), "bob", "code")
            .is_err());
        assert!(resumer
            .resume(&token, Some(&accept()), "alice", "other")
            .is_err());
        let mut replay = resumer
            .resume(&token, Some(&accept()), "alice", "code")
            .unwrap();
        assert!(matches!(
            replay.take("a.list", "d1"),
            Matched::Recorded(Ok(_))
        ));
        assert!(matches!(
            replay.take("a.delete", "d2"),
            Matched::Answered(_)
        ));
        let again = resumer.resume(&token, Some(&accept()), "alice", "code");
        assert!(again.unwrap_err().contains("already used"));
    }

    #[test]
    fn the_journal_is_not_readable_in_the_token() {
        let resumer = resumer();
        let token = suspended(&resumer).request_state.unwrap();
        assert!(!token.contains("a.list"));
    }
}
