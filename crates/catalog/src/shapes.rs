//! Observed result shapes: what a tool without an `outputSchema` returned the first time it
//! answered in this gateway, as a TypeScript-like type (keys and value types, never values),
//! so the agent's next snippet can rely on it. Kept in memory only, bounded in count and
//! size, and always shown marked as observed: one answer is evidence, not a contract.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

/// Tools whose shapes are kept; past it, new tools are not observed.
const MAX_TOOLS: usize = 10_000;
/// Characters of one shape.
const MAX_SHAPE_CHARS: usize = 400;
/// Keys shown per object, elements looked at per array, levels shown.
const MAX_KEYS: usize = 12;
const MAX_ELEMENTS: usize = 20;
const MAX_DEPTH: usize = 4;
/// JSON texts larger than this are not parsed just to be observed.
pub(crate) const MAX_OBSERVED_BYTES: usize = 1024 * 1024;

/// The shapes seen, by (namespace identifier, tool identifier).
#[derive(Default)]
pub(crate) struct Shapes {
    seen: Mutex<HashMap<(String, String), String>>,
}

impl Shapes {
    pub fn get(&self, namespace: &str, tool: &str) -> Option<String> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(&(namespace.to_owned(), tool.to_owned())).cloned()
    }

    pub fn knows(&self, namespace: &str, tool: &str) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.contains_key(&(namespace.to_owned(), tool.to_owned()))
    }

    /// Records the shape of `value` for a tool seen answering for the first time.
    pub fn record(&self, namespace: &str, tool: &str, value: &Value) {
        let shape = shape_of(value);
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() < MAX_TOOLS {
            seen.entry((namespace.to_owned(), tool.to_owned()))
                .or_insert(shape);
        }
    }
}

/// `{ id: string; total: number; items: { sku: string }[] }`, at most [`MAX_SHAPE_CHARS`].
pub(crate) fn shape_of(value: &Value) -> String {
    let text = shape(value, 0);
    if text.chars().count() <= MAX_SHAPE_CHARS {
        return text;
    }
    let cut: String = text.chars().take(MAX_SHAPE_CHARS - 4).collect();
    format!("{cut} ...")
}

fn shape(value: &Value, depth: usize) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(_) => "boolean".into(),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Array(items) => {
            if items.is_empty() {
                return "unknown[]".into();
            }
            if depth >= MAX_DEPTH {
                return "[...]".into();
            }
            let mut members: Vec<String> = Vec::new();
            for item in items.iter().take(MAX_ELEMENTS) {
                let member = shape(item, depth + 1);
                if !members.contains(&member) {
                    members.push(member);
                }
            }
            if members.len() > 3 {
                return "unknown[]".into();
            }
            let joined = members.join(" | ");
            if members.len() > 1 {
                format!("({joined})[]")
            } else {
                format!("{joined}[]")
            }
        }
        Value::Object(map) => {
            if map.is_empty() {
                return "{}".into();
            }
            if depth >= MAX_DEPTH {
                return "{...}".into();
            }
            let mut parts: Vec<String> = map
                .iter()
                .take(MAX_KEYS)
                .map(|(key, value)| format!("{}: {}", key_text(key), shape(value, depth + 1)))
                .collect();
            if map.len() > MAX_KEYS {
                parts.push(format!("... {} more", map.len() - MAX_KEYS));
            }
            format!("{{ {} }}", parts.join("; "))
        }
    }
}

fn key_text(key: &str) -> String {
    if crate::naming::is_property_name(key) {
        key.to_owned()
    } else {
        Value::String(key.chars().take(40).collect()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_shape_has_keys_and_types_never_values() {
        let value = json!({"id": "secret-id", "total": 12.5, "tags": ["a", "b"], "items": [{"sku": "x", "qty": 1}], "ok": true, "note": null});
        let shape = shape_of(&value);
        assert_eq!(
            shape,
            "{ id: string; total: number; tags: string[]; items: { sku: string; qty: number }[]; ok: boolean; note: null }"
        );
        assert!(!shape.contains("secret"));
    }

    #[test]
    fn a_shape_stays_bounded() {
        let wide: serde_json::Map<String, Value> = (0..500)
            .map(|i| (format!("key_number_{i}"), json!({"a": [1]})))
            .collect();
        assert!(shape_of(&Value::Object(wide)).chars().count() <= MAX_SHAPE_CHARS);
        let mut deep = json!(1);
        for _ in 0..100 {
            deep = json!({ "d": deep });
        }
        assert!(shape_of(&deep).contains("{...}"));
    }
}
