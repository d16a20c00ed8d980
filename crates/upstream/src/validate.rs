//! Checking call arguments against a tool's `inputSchema` before they leave the gateway.
//!
//! A mismatch caught here costs no round trip, and the message names the field path in a form
//! the agent can act on (`/entities/0/name: 42 is not of type "string"`). Validators are compiled
//! once when a tool list arrives and reused for every call.

use serde_json::Value;

/// At most this many problems are listed; the rest are counted.
const MAX_REPORTED: usize = 5;
/// A single problem's text is cut here: messages quote the offending value, which may be large.
const MAX_MESSAGE_CHARS: usize = 300;

/// A compiled `inputSchema`.
pub(crate) struct ArgumentValidator {
    validator: jsonschema::Validator,
}

impl ArgumentValidator {
    /// Compiles `schema`; `Err` says why it cannot be used (the caller then lets the server
    /// validate instead of rejecting every call).
    pub(crate) fn compile(schema: &Value) -> Result<ArgumentValidator, String> {
        jsonschema::validator_for(schema)
            .map(|validator| ArgumentValidator { validator })
            .map_err(|err| err.to_string())
    }

    /// `Err` lists what is wrong, one `path: problem` per line-part, joined by `; `.
    pub(crate) fn check(&self, arguments: &Value) -> Result<(), String> {
        let mut problems = Vec::new();
        let mut total = 0usize;
        for error in self.validator.iter_errors(arguments) {
            total += 1;
            if problems.len() < MAX_REPORTED {
                let path = error.instance_path().to_string();
                let path = if path.is_empty() {
                    "(root)".to_owned()
                } else {
                    path
                };
                problems.push(format!("{path}: {}", truncate(&error.to_string())));
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        let mut message = problems.join("; ");
        if total > problems.len() {
            message.push_str(&format!("; and {} more", total - problems.len()));
        }
        Err(message)
    }
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn memory_like_schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "entities": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}, "observations": {"type": "array", "items": {"type": "string"}}},
                        "required": ["name"]
                    }
                }
            },
            "required": ["entities"]
        })
    }

    #[test]
    fn reports_the_field_path() {
        let v = ArgumentValidator::compile(&memory_like_schema()).unwrap();
        assert!(v
            .check(&json!({"entities": [{"name": "a", "observations": []}]}))
            .is_ok());
        let err = v.check(&json!({"entities": [{"name": 42}]})).unwrap_err();
        assert_eq!(err, r#"/entities/0/name: 42 is not of type "string""#);
    }

    #[test]
    fn missing_required_is_reported_at_the_root() {
        let v = ArgumentValidator::compile(&memory_like_schema()).unwrap();
        let err = v.check(&json!({})).unwrap_err();
        assert_eq!(err, r#"(root): "entities" is a required property"#);
    }

    #[test]
    fn many_problems_are_capped() {
        let v = ArgumentValidator::compile(&memory_like_schema()).unwrap();
        let entities: Vec<Value> = (0..8).map(|i| json!({"name": i})).collect();
        let err = v.check(&json!({ "entities": entities })).unwrap_err();
        assert!(err.ends_with("; and 3 more"), "{err}");
        assert_eq!(err.matches("is not of type").count(), 5);
    }

    #[test]
    fn an_unusable_schema_is_an_error_not_a_panic() {
        assert!(ArgumentValidator::compile(&json!({"type": 12})).is_err());
    }
}
