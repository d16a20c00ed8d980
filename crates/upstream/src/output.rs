//! What a tool call returns to the agent's code: one JSON value made from a `CallToolResult`.
//!
//! The rules, in order:
//! 1. `isError: true` is a failure carrying the server's text (all text blocks, joined by
//!    newlines; else the structured content as JSON; else a fixed note).
//! 2. `structuredContent` present: that value, as is.
//! 3. No content blocks: `null`.
//! 4. Exactly one text block: if its whole text (trimmed) is valid JSON, whatever the JSON
//!    value (`{…}`, `[…]`, `11.25`, `true`, `null`, `"quoted"`), it is checked and handed on
//!    as that text ([`ToolAnswer::Json`]), so that the sandbox's `JSON.parse` is the only parse
//!    of it; otherwise it is returned as a string. Many servers answer numbers as text
//!    (`"11.25"`); left a string, `price + tariff` would concatenate.
//! 5. Anything else (several blocks, images, audio, resources): an array with one plain object
//!    per block:
//!    - `{type:"text", text}`
//!    - `{type:"image"|"audio", mimeType, data}`
//!    - `{type:"resource", uri, mimeType?, text}` or `{type:"resource", uri, mimeType?, blob}`
//!    - `{type:"resource_link", uri, name, title?, description?, mimeType?, size?}`
//!    - unknown block types are passed through unchanged (minus `_meta`/`annotations`).
//!
//! Size guard: base64 `data`/`blob` whose decoded size exceeds [`OutputLimits::max_inline_bytes`]
//! (default 1 MiB) is replaced by `bytes: N` and an `omitted` note, so a screenshot cannot put
//! megabytes into the sandbox or the model's context by accident.
//!
//! The conversion works on the wire JSON of the result: it is a pure function of the MCP
//! `CallToolResult` shape and can be tested without a server.

use codemode_sandbox::ToolAnswer;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

/// Default for [`OutputLimits::max_inline_bytes`]: 1 MiB.
pub const DEFAULT_MAX_INLINE_BYTES: usize = 1024 * 1024;

/// Bounds on what a tool result may inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// Largest decoded size of base64 `data`/`blob` kept inline; larger payloads are omitted.
    pub max_inline_bytes: usize,
}

impl Default for OutputLimits {
    fn default() -> Self {
        OutputLimits {
            max_inline_bytes: DEFAULT_MAX_INLINE_BYTES,
        }
    }
}

/// Which rule produced a [`ToolOutput`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// The result's `structuredContent`.
    Structured,
    /// A single text block whose whole text is JSON (any value), parsed.
    JsonText,
    /// A single text block, as a string.
    Text,
    /// An array of content objects (mixed, binary or resource content).
    Content,
    /// No content at all: `null`.
    Empty,
}

/// A successful tool result, ready to hand to the agent's code: a value, or (a text block
/// holding JSON) that text itself, checked but not parsed, for the sandbox's `JSON.parse`.
#[derive(Debug)]
pub struct ToolOutput {
    pub answer: ToolAnswer,
    pub kind: OutputKind,
}

impl ToolOutput {
    fn value_of(value: Value, kind: OutputKind) -> ToolOutput {
        ToolOutput {
            answer: ToolAnswer::Value(value),
            kind,
        }
    }

    /// The value, parsed if it is JSON text.
    pub fn value(&self) -> Value {
        match &self.answer {
            ToolAnswer::Value(value) => value.clone(),
            ToolAnswer::Json(raw) => serde_json::from_str(raw.get()).unwrap_or(Value::Null),
        }
    }
}

impl ToolOutput {
    /// Converts a `CallToolResult` (wire JSON) by the rules in this module's docs.
    /// `Err` holds the server's error text when the result has `isError: true`.
    pub fn from_call_result(result: &Value, limits: &OutputLimits) -> Result<ToolOutput, String> {
        let blocks: &[Value] = result
            .get("content")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let structured = result.get("structuredContent");

        if result.get("isError").and_then(Value::as_bool) == Some(true) {
            return Err(error_text(blocks, structured));
        }
        if let Some(value) = structured {
            return Ok(ToolOutput::value_of(value.clone(), OutputKind::Structured));
        }
        match blocks {
            [] => Ok(ToolOutput::value_of(Value::Null, OutputKind::Empty)),
            [single] if block_type(single) == "text" => {
                let text = single
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                Ok(text_output(text.to_owned()))
            }
            _ => Ok(ToolOutput::value_of(
                Value::Array(blocks.iter().map(|b| content_object(b, limits)).collect()),
                OutputKind::Content,
            )),
        }
    }
}

/// Rule 4: text that is wholly JSON is checked and kept as its text (the sandbox parses it,
/// once); anything else is a string.
pub(crate) fn text_output(text: String) -> ToolOutput {
    let trimmed = text.trim();
    // Checked in place first, so that prose stays a string without a copy. Only text that
    // can start a JSON value is tried: most prose is refused at its first byte.
    let is_json = trimmed.bytes().next().is_some_and(|b| {
        matches!(
            b,
            b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n'
        )
    }) && serde_json::from_str::<&RawValue>(trimmed).is_ok();
    if !is_json {
        return ToolOutput::value_of(Value::String(text), OutputKind::Text);
    }
    let json = if trimmed.len() == text.len() {
        text
    } else {
        trimmed.to_owned()
    };
    match RawValue::from_string(json) {
        Ok(raw) => ToolOutput {
            answer: ToolAnswer::Json(raw),
            kind: OutputKind::JsonText,
        },
        // Checked above; kept total rather than trusted.
        Err(error) => ToolOutput::value_of(
            Value::String(format!("unreadable JSON text: {error}")),
            OutputKind::Text,
        ),
    }
}

fn error_text(blocks: &[Value], structured: Option<&Value>) -> String {
    let texts: Vec<&str> = blocks
        .iter()
        .filter(|b| block_type(b) == "text")
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect();
    if !texts.is_empty() {
        return texts.join("\n");
    }
    match structured {
        Some(value) => value.to_string(),
        None => "the tool reported an error without a message".to_owned(),
    }
}

fn block_type(block: &Value) -> &str {
    block
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// One content block as a plain object the agent's code can read.
fn content_object(block: &Value, limits: &OutputLimits) -> Value {
    match block_type(block) {
        "text" => json!({
            "type": "text",
            "text": block.get("text").cloned().unwrap_or(Value::String(String::new())),
        }),
        kind @ ("image" | "audio") => {
            let mut out = Map::new();
            out.insert("type".into(), kind.into());
            copy_fields(block, &mut out, &["mimeType"]);
            inline_or_omit(block, "data", kind, limits, &mut out);
            Value::Object(out)
        }
        "resource" => {
            let resource = block.get("resource").unwrap_or(&Value::Null);
            let mut out = Map::new();
            out.insert("type".into(), "resource".into());
            copy_fields(resource, &mut out, &["uri", "mimeType", "text"]);
            inline_or_omit(resource, "blob", "resource", limits, &mut out);
            Value::Object(out)
        }
        "resource_link" => {
            let mut out = Map::new();
            out.insert("type".into(), "resource_link".into());
            copy_fields(
                block,
                &mut out,
                &["uri", "name", "title", "description", "mimeType", "size"],
            );
            Value::Object(out)
        }
        _ => match block {
            Value::Object(fields) => Value::Object(
                fields
                    .iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "_meta" | "annotations"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            other => other.clone(),
        },
    }
}

fn copy_fields(from: &Value, to: &mut Map<String, Value>, keys: &[&str]) {
    for key in keys {
        if let Some(value) = from.get(*key) {
            to.insert((*key).to_owned(), value.clone());
        }
    }
}

/// Copies base64 `field` into `out`, or, past the size cap, `bytes` + an `omitted` note instead.
fn inline_or_omit(
    from: &Value,
    field: &str,
    what: &str,
    limits: &OutputLimits,
    out: &mut Map<String, Value>,
) {
    let Some(data) = from.get(field).and_then(Value::as_str) else {
        return;
    };
    let bytes = decoded_len(data);
    if bytes <= limits.max_inline_bytes {
        out.insert(field.to_owned(), data.into());
    } else {
        out.insert("bytes".into(), bytes.into());
        out.insert(
            "omitted".into(),
            format!(
                "{what} {field} of {bytes} bytes not inlined: larger than the {}-byte limit",
                limits.max_inline_bytes
            )
            .into(),
        );
    }
}

/// Decoded size of base64 text, without decoding it (whitespace ignored, padding subtracted).
fn decoded_len(base64: &str) -> usize {
    let significant = base64
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
        .count();
    significant * 3 / 4
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(result: Value) -> Result<ToolOutput, String> {
        ToolOutput::from_call_result(&result, &OutputLimits::default())
    }

    #[test]
    fn structured_content_wins_over_text() {
        let out = convert(json!({
            "content": [{"type": "text", "text": "{\"temperature\": 33}"}],
            "structuredContent": {"temperature": 33, "conditions": "Cloudy"}
        }))
        .unwrap();
        assert_eq!(out.kind, OutputKind::Structured);
        assert_eq!(
            out.value(),
            json!({"temperature": 33, "conditions": "Cloudy"})
        );
    }

    #[test]
    fn a_single_text_that_is_json_is_parsed_whatever_the_value_and_prose_stays_text() {
        for (text, value) in [
            (" [1, {\"a\": 2}]", json!([1, {"a": 2}])),
            ("11.25", json!(11.25)),
            ("-3\n", json!(-3)),
            ("true", json!(true)),
            ("null", json!(null)),
            ("\"quoted\"", json!("quoted")),
        ] {
            let out = convert(json!({"content": [{"type": "text", "text": text}]})).unwrap();
            assert_eq!(
                (out.kind, out.value()),
                (OutputKind::JsonText, value),
                "{text}"
            );
        }

        for text in [
            "hello",
            "{not json",
            "11.25 USD",
            "true story",
            "nullable",
            "",
            "1 2",
        ] {
            let out = convert(json!({"content": [{"type": "text", "text": text}]})).unwrap();
            assert_eq!(
                (out.kind, out.value()),
                (OutputKind::Text, json!(text)),
                "{text}"
            );
        }
    }

    #[test]
    fn empty_content_is_null() {
        let out = convert(json!({"content": []})).unwrap();
        assert_eq!((out.kind, out.value()), (OutputKind::Empty, Value::Null));
        let out = convert(json!({})).unwrap();
        assert_eq!(out.value(), Value::Null);
    }

    #[test]
    fn mixed_content_becomes_typed_objects() {
        let out = convert(json!({"content": [
            {"type": "text", "text": "Here:", "annotations": {"priority": 1}},
            {"type": "image", "mimeType": "image/png", "data": "iVBORw0KGgo=", "_meta": {"x": 1}},
            {"type": "audio", "mimeType": "audio/wav", "data": "UklGRg=="},
            {"type": "resource", "resource": {"uri": "file:///a.txt", "mimeType": "text/plain", "text": "hi"}},
            {"type": "resource", "resource": {"uri": "file:///b.bin", "blob": "AAEC"}},
            {"type": "resource_link", "uri": "file:///c", "name": "c", "description": "a link"},
            {"type": "future_block", "payload": 1, "_meta": {}}
        ]}))
        .unwrap();
        assert_eq!(out.kind, OutputKind::Content);
        assert_eq!(
            out.value(),
            json!([
                {"type": "text", "text": "Here:"},
                {"type": "image", "mimeType": "image/png", "data": "iVBORw0KGgo="},
                {"type": "audio", "mimeType": "audio/wav", "data": "UklGRg=="},
                {"type": "resource", "uri": "file:///a.txt", "mimeType": "text/plain", "text": "hi"},
                {"type": "resource", "uri": "file:///b.bin", "blob": "AAEC"},
                {"type": "resource_link", "uri": "file:///c", "name": "c", "description": "a link"},
                {"type": "future_block", "payload": 1}
            ])
        );
    }

    #[test]
    fn a_lone_image_is_still_an_array() {
        let out = convert(
            json!({"content": [{"type": "image", "mimeType": "image/png", "data": "AAAA"}]}),
        )
        .unwrap();
        assert_eq!(
            out.value(),
            json!([{"type": "image", "mimeType": "image/png", "data": "AAAA"}])
        );
    }

    #[test]
    fn oversized_binary_is_omitted_with_its_size() {
        let limits = OutputLimits {
            max_inline_bytes: 6,
        };
        // 12 base64 chars = 9 bytes > 6; 8 chars with one '=' = 5 bytes <= 6.
        let result = json!({"content": [
            {"type": "image", "mimeType": "image/png", "data": "AAAAAAAAAAAA"},
            {"type": "audio", "mimeType": "audio/mpeg", "data": "AAAAAAA="},
            {"type": "resource", "resource": {"uri": "file:///big", "mimeType": "application/zip", "blob": "AAAAAAAAAAAA"}}
        ]});
        let out = ToolOutput::from_call_result(&result, &limits).unwrap();
        assert_eq!(out.value()[0]["bytes"], json!(9));
        assert!(out.value()[0].get("data").is_none());
        assert_eq!(out.value()[0]["mimeType"], json!("image/png"));
        assert!(out.value()[0]["omitted"]
            .as_str()
            .unwrap()
            .contains("6-byte limit"));
        assert_eq!(out.value()[1]["data"], json!("AAAAAAA="));
        assert_eq!(out.value()[2]["bytes"], json!(9));
        assert_eq!(out.value()[2]["uri"], json!("file:///big"));
        assert!(out.value()[2].get("blob").is_none());
    }

    #[test]
    fn is_error_carries_the_servers_text() {
        let err = convert(json!({
            "isError": true,
            "content": [{"type": "text", "text": "no such file"}, {"type": "text", "text": "try again"}]
        }))
        .unwrap_err();
        assert_eq!(err, "no such file\ntry again");
        let err = convert(json!({"isError": true, "structuredContent": {"code": 7}})).unwrap_err();
        assert_eq!(err, r#"{"code":7}"#);
        let err = convert(json!({"isError": true, "content": []})).unwrap_err();
        assert!(err.contains("without a message"));
    }

    #[test]
    fn decoded_length_accounts_for_padding_and_whitespace() {
        assert_eq!(decoded_len("AAAA"), 3);
        assert_eq!(decoded_len("AAA="), 2);
        assert_eq!(decoded_len("AA=="), 1);
        assert_eq!(decoded_len("AAAA\nAAAA"), 6);
    }
}
