//! What the user is shown when a call needs approval, and how their answer reads: one
//! elicitation form for both eras (sent as `elicitation/create` to a 2025-11-25 client, or
//! inside an `input_required` result to a 2026-07-28 one).

use rmcp::model::{
    ConstTitle, ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema,
    EnumSchema, SingleSelectEnumSchema, TitledSingleSelectEnumSchema,
};
use serde_json::Value;

use super::journal::Answer;

/// The property of the form that holds the choice.
const CHOICE: &str = "decision";
const ONCE: &str = "allow_once";
const SESSION: &str = "allow_session";
const DENY: &str = "deny";

/// Longest readable argument summary.
const SUMMARY_CHARS: usize = 400;

/// What the user decided, as the gateway acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Choice {
    Once,
    /// For the rest of the session (offered only where there is one).
    Session,
    Refused(String),
}

impl Choice {
    pub fn into_answer(self) -> Answer {
        match self {
            Choice::Once | Choice::Session => Answer::Allow,
            Choice::Refused(why) => Answer::Deny(why),
        }
    }
}

/// The form for one call. `so_far` is a line about the calls made before it.
pub(crate) fn request(
    path: &str,
    reason: &str,
    args: &Value,
    so_far: &str,
    offer_session: bool,
) -> ElicitRequestParams {
    let message = format!(
        "The code running in `execute` wants to call tools.{path} (it needs approval: \
         {reason}).\nArguments: {}\n{so_far}",
        summarize(args)
    );
    let mut options = vec![ConstTitle::new(ONCE, "Allow this call")];
    if offer_session {
        options.push(ConstTitle::new(
            SESSION,
            format!("Allow tools.{path} for the rest of this session"),
        ));
    }
    options.push(ConstTitle::new(DENY, "Deny"));
    let mut select = TitledSingleSelectEnumSchema::new(options);
    select.title = Some("Decision".into());
    select.default = Some(ONCE.into());
    let schema = ElicitationSchema::builder()
        .required_enum_schema(
            CHOICE,
            EnumSchema::Single(SingleSelectEnumSchema::Titled(select)),
        )
        .build()
        .unwrap_or_else(|_| ElicitationSchema::builder().build_unchecked());
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message,
        requested_schema: schema,
    }
}

/// How a client's answer reads. Decline and cancel both refuse the call.
pub(crate) fn choice(path: &str, result: &ElicitResult) -> Choice {
    match result.action {
        ElicitationAction::Accept => {
            let picked = result
                .content
                .as_ref()
                .and_then(|c| c.get(CHOICE))
                .and_then(Value::as_str);
            match picked {
                // An accepted form without a choice takes the default the form showed.
                Some(ONCE) | None => Choice::Once,
                Some(SESSION) => Choice::Session,
                Some(_) => Choice::Refused(format!("tools.{path} was denied by the user")),
            }
        }
        ElicitationAction::Decline => {
            Choice::Refused(format!("tools.{path} was declined by the user"))
        }
        // Cancel, and any action a newer spec adds: not an approval.
        _ => Choice::Refused(format!(
            "tools.{path} was not approved: the user cancelled the request"
        )),
    }
}

/// A 2026-07-28 client's answer, as the JSON of an `ElicitResult`.
pub(crate) fn choice_from_json(path: &str, response: Option<&Value>) -> Choice {
    match response.and_then(|r| serde_json::from_value::<ElicitResult>(r.clone()).ok()) {
        Some(result) => choice(path, &result),
        None => Choice::Refused(format!(
            "tools.{path} was not approved: the client sent no answer to the approval request"
        )),
    }
}

/// `key: value` pairs, strings quoted and cut, so the user sees what the call would do.
pub(crate) fn summarize(args: &Value) -> String {
    let mut out = String::new();
    match args {
        Value::Object(map) if !map.is_empty() => {
            for (i, (key, value)) in map.iter().enumerate() {
                if out.chars().count() > SUMMARY_CHARS {
                    out.push_str(&format!(", … (+{} more)", map.len() - i));
                    break;
                }
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(key);
                out.push_str(": ");
                out.push_str(&clip(&value.to_string(), 120));
            }
        }
        Value::Object(_) | Value::Null => out.push_str("(none)"),
        other => out.push_str(&clip(&other.to_string(), SUMMARY_CHARS)),
    }
    out
}

fn clip(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let kept: String = text.chars().take(max_chars).collect();
    format!("{kept}…")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_form_names_the_tool_the_reason_and_the_arguments() {
        let params = request(
            "github.delete_repo",
            "policy rule 2 (github.*)",
            &json!({"owner": "octo", "repo": "hello"}),
            "So far: 2 calls (tools.github.list_repos ok ×2).",
            true,
        );
        let text = serde_json::to_string(&params).unwrap();
        assert!(text.contains("tools.github.delete_repo"), "{text}");
        assert!(text.contains("owner: \\\"octo\\\""), "{text}");
        assert!(text.contains("allow_session"), "{text}");
        assert!(text.contains("So far"), "{text}");
    }

    #[test]
    fn answers_read_as_choices() {
        let accept = |content: Value| {
            choice(
                "a.b",
                &ElicitResult::new(ElicitationAction::Accept).with_content(content),
            )
        };
        assert_eq!(accept(json!({"decision": "allow_once"})), Choice::Once);
        assert_eq!(
            accept(json!({"decision": "allow_session"})),
            Choice::Session
        );
        assert!(matches!(
            accept(json!({"decision": "deny"})),
            Choice::Refused(_)
        ));
        assert!(matches!(
            choice("a.b", &ElicitResult::new(ElicitationAction::Decline)),
            Choice::Refused(m) if m.contains("declined")
        ));
        assert!(matches!(
            choice("a.b", &ElicitResult::new(ElicitationAction::Cancel)),
            Choice::Refused(m) if m.contains("cancelled")
        ));
        assert!(matches!(choice_from_json("a.b", None), Choice::Refused(_)));
    }

    #[test]
    fn summaries_are_short() {
        let long = "x".repeat(5000);
        assert!(summarize(&json!({"a": long})).chars().count() < 200);
        assert_eq!(summarize(&json!({})), "(none)");
    }
}
