//! What an execution gives back.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::ExecutionError;

/// The outcome of one snippet.
///
/// The returned value is converted to JSON by these rules: as `JSON.stringify` (with
/// `toJSON`, Dates as ISO strings, `undefined`, functions and symbols left out of objects
/// and `null` in arrays, `NaN`/`Infinity` as `null`), and further: a cycle becomes the
/// string `"[Circular]"`, a BigInt its decimal string, a `Map` an object, a `Set` an array,
/// a typed array an array of numbers, an `Error` `{name, message}` (and its own fields), a
/// `RegExp` its source text; of two Map keys with the same text the first is kept. A lone
/// surrogate becomes U+FFFD. A snippet that returns `undefined` (or nothing) has `Ok(None)`.
/// A value over the result limit is cut but stays valid JSON, and a note in
/// [`Execution::notes`] says so. The text is written and counted in Rust
/// (`serialize.rs`), so nothing the value's own code does can pass the limit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Execution {
    /// The returned value as JSON text, written once by the sandbox; parse it only where a
    /// value is needed.
    pub result: Result<Option<JsonText>, ExecutionError>,
    /// Console output, in order, within the log limit.
    pub logs: Vec<LogEntry>,
    /// Every tool call the snippet made, in the order it made them.
    pub calls: Vec<CallRecord>,
    /// What the agent should know beyond the value: truncations, dropped logs,
    /// unhandled rejections.
    pub notes: Vec<String>,
    pub stats: ExecutionStats,
}

impl Execution {
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }

    /// The value, or `Value::Null` for `undefined` and failures: for callers that only
    /// want data.
    pub fn value(&self) -> Value {
        match &self.result {
            Ok(Some(text)) => text.to_value(),
            _ => Value::Null,
        }
    }

    /// [`Self::result`] with the value parsed: for callers that compare or inspect it.
    pub fn returned(&self) -> Result<Option<Value>, ExecutionError> {
        match &self.result {
            Ok(text) => Ok(text.as_ref().map(JsonText::to_value)),
            Err(error) => Err(error.clone()),
        }
    }
}

/// A JSON value as text: written once where it is made (the sandbox's serializer), carried
/// as it is (across the worker pipe too), and parsed only where a value is needed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JsonText(Box<RawValue>);

impl JsonText {
    /// The text, if it is one JSON value.
    pub fn new(text: String) -> Result<JsonText, serde_json::Error> {
        RawValue::from_string(text).map(JsonText)
    }

    /// A value written as JSON text.
    pub fn from_value(value: &Value) -> JsonText {
        // Writing a `Value` cannot fail: its map keys are strings.
        serde_json::value::to_raw_value(value)
            .map(JsonText)
            .unwrap_or_else(|_| JsonText::null())
    }

    /// `null`.
    pub fn null() -> JsonText {
        JsonText::new("null".to_string()).unwrap_or_else(|_| unreachable!("null is JSON"))
    }

    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// Bytes of text: what the result limit counts.
    pub fn len(&self) -> usize {
        self.0.get().len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.get().is_empty()
    }

    /// The value, parsed (text that is valid JSON always parses; deeper than serde's
    /// recursion limit it becomes `null`).
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.0.get()).unwrap_or(Value::Null)
    }
}

/// Two texts are equal when they hold the same value.
impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str() || self.to_value() == other.to_value()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Log,
    Info,
    Warn,
    Error,
    Debug,
}

impl LogLevel {
    pub(crate) fn parse(level: &str) -> LogLevel {
        match level {
            "info" => LogLevel::Info,
            "warn" => LogLevel::Warn,
            "error" => LogLevel::Error,
            "debug" => LogLevel::Debug,
            _ => LogLevel::Log,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub level: LogLevel,
    pub message: String,
}

/// One tool call made by the snippet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    pub namespace: String,
    pub name: String,
    /// When the snippet made the call, from the start of the execution.
    #[serde(with = "duration_ms")]
    pub started: Duration,
    /// From the snippet's call to the answer reaching it (queueing included); `None` when
    /// the execution ended before the answer came.
    #[serde(with = "option_duration_ms")]
    pub duration: Option<Duration>,
    /// `None` on success, the error message otherwise.
    pub error: Option<String>,
}

impl CallRecord {
    pub fn is_ok(&self) -> bool {
        self.duration.is_some() && self.error.is_none()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecutionStats {
    #[serde(with = "duration_ms")]
    pub wall_time: Duration,
    #[serde(with = "duration_ms")]
    pub cpu_time: Duration,
    /// Largest size the JavaScript heap reached, in bytes.
    pub peak_memory_bytes: usize,
}

pub(crate) mod duration_ms {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }

    /// The inverse, for an execution that crossed a process boundary. A negative or
    /// non-finite value (never written by `serialize`) becomes zero.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms: f64 = serde::Deserialize::deserialize(d)?;
        Ok(Duration::try_from_secs_f64(ms / 1000.0).unwrap_or_default())
    }
}

mod option_duration_ms {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(d.as_secs_f64() * 1000.0),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let ms: Option<f64> = serde::Deserialize::deserialize(d)?;
        Ok(ms.map(|ms| Duration::try_from_secs_f64(ms / 1000.0).unwrap_or_default()))
    }
}
