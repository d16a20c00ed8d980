//! The pipe protocol between the gateway and a worker: frames of a big-endian `u32` length
//! and a JSON body, at most [`MAX_FRAME_BYTES`] each.
//!
//! Worker → gateway: [`FromWorker::Hello`] (first, once), then [`FromWorker::ToolCall`]s
//! and finally [`FromWorker::Done`] with a [`Report`]. The pipe's types are this crate's own: the
//! sandbox's `Execution` never crosses it, and a value crosses it as the JSON text it was
//! written as. Gateway → worker: [`ToWorker::Execute`] (once), then a
//! [`ToWorker::ToolResult`] for each call. The worker is untrusted: everything it sends is
//! parsed as hostile input and a frame that breaks the rules ends that worker.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use codemode_sandbox::{
    Execution, ExecutionError, JsonText, Limits, LogEntry, ToolAnswer, ToolError, ToolErrorKind,
    ToolNames,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::ProtocolError;

/// Bumped on any incompatible change; a worker of another version is refused.
pub const PROTOCOL_VERSION: u32 = 4;

/// Largest frame either side accepts. Tool arguments and results can be large, but a frame
/// beyond this is a worker gone wrong (or flooding), not data.
pub const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

/// Messages from the gateway to a worker.
// Externally tagged (`{"toolResult": {...}}`), not `tag = "type"`: serde buffers an
// internally tagged message whole before it reads it, which doubles the cost of a large
// answer and cannot hold a `RawValue`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ToWorker {
    Execute {
        code: String,
        limits: Limits,
        catalog: WireNames,
    },
    ToolResult {
        id: u64,
        outcome: WireOutcome,
    },
}

/// Messages from a worker to the gateway.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FromWorker {
    /// Sent once the worker has locked itself down and is ready for code.
    Hello {
        protocol: u32,
        pid: u32,
        /// What the OS lock-down achieved (the confinement report, as JSON).
        confinement: Value,
    },
    ToolCall {
        id: u64,
        namespace: String,
        name: String,
        /// As the sandbox wrote it; the gateway parses it once, where the call is made.
        args: JsonText,
    },
    Done {
        report: Box<Report>,
    },
}

/// What a worker says when its execution ends. It carries no calls: the gateway's own ledger
/// is the record of those (fields a worker adds, such as a forged `calls`, are ignored), and
/// nothing here is handed on before the gateway has checked it against the limits again.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub returned: Returned,
    pub logs: Vec<LogEntry>,
    pub notes: Vec<String>,
    /// CPU time of the snippet as the worker measured it; the gateway's own reading of the
    /// process's clock wins when it has one.
    pub cpu_time_ms: f64,
    pub peak_memory_bytes: usize,
}

/// How the snippet ended, with its value as the JSON text the sandbox wrote: it crosses the
/// pipe without being parsed or written again.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    Value(JsonText),
    /// The snippet returned `undefined` (or nothing).
    Nothing,
    Error(ExecutionError),
}

impl Report {
    /// A sandbox's execution as its worker reports it (its list of calls stays behind).
    pub fn of(execution: Execution) -> Report {
        Report {
            returned: match execution.result {
                Ok(Some(text)) => Returned::Value(text),
                Ok(None) => Returned::Nothing,
                Err(error) => Returned::Error(error),
            },
            logs: execution.logs,
            notes: execution.notes,
            cpu_time_ms: execution.stats.cpu_time.as_secs_f64() * 1e3,
            peak_memory_bytes: execution.stats.peak_memory_bytes,
        }
    }
}

impl FromWorker {
    /// The `Done` message for an execution.
    pub fn done(execution: Execution) -> FromWorker {
        FromWorker::Done {
            report: Box::new(Report::of(execution)),
        }
    }
}

/// A tool call's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WireOutcome {
    /// The answer's JSON text, written once on the gateway's side and handed to the
    /// engine's `JSON.parse` as it came: never parsed into a value in between.
    Ok(Box<RawValue>),
    /// The call failed: why, as the snippet will see it in `err.kind`, and what happened.
    Err {
        kind: ToolErrorKind,
        message: String,
    },
}

impl WireOutcome {
    /// A call's outcome as it crosses the pipe.
    pub fn from_result(outcome: Result<ToolAnswer, ToolError>) -> WireOutcome {
        match outcome.and_then(ToolAnswer::into_json) {
            Ok(raw) => WireOutcome::Ok(raw),
            Err(error) => WireOutcome::from_error(error),
        }
    }

    fn from_error(error: ToolError) -> WireOutcome {
        WireOutcome::Err {
            kind: error.kind,
            message: error.message,
        }
    }

    /// The outcome as the snippet's host sees it.
    pub fn into_answer(self) -> Result<ToolAnswer, ToolError> {
        match self {
            WireOutcome::Ok(raw) => Ok(ToolAnswer::Json(raw)),
            WireOutcome::Err { kind, message } => Err(ToolError::of(kind, message)),
        }
    }
}

/// The names a snippet may reach, on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireNames {
    pub namespaces: BTreeMap<String, Vec<String>>,
    /// Namespaces whose tools are not listed (their server is starting or down).
    #[serde(default)]
    pub open: Vec<String>,
    pub root: Vec<String>,
}

impl From<&ToolNames> for WireNames {
    fn from(catalog: &ToolNames) -> Self {
        WireNames {
            namespaces: catalog
                .namespaces()
                .filter(|ns| !catalog.is_open(ns))
                .map(|ns| {
                    (
                        ns.to_string(),
                        catalog.tools(ns).map(String::from).collect(),
                    )
                })
                .collect(),
            open: catalog.open_namespaces().map(String::from).collect(),
            root: catalog.root_functions().map(String::from).collect(),
        }
    }
}

impl From<WireNames> for ToolNames {
    fn from(wire: WireNames) -> Self {
        let mut catalog = ToolNames::new();
        for (namespace, tools) in wire.namespaces {
            for tool in tools {
                catalog.add_tool(namespace.clone(), tool);
            }
        }
        for namespace in wire.open {
            catalog.add_open_namespace(namespace);
        }
        for name in wire.root {
            catalog.add_root_function(name);
        }
        catalog
    }
}

/// The frame of one message, written into one buffer of its exact size: a first pass only
/// counts the bytes (a value's JSON text is one write there), so a large answer is copied
/// once, not through a doubling buffer and again into the frame, and a message over the cap
/// is refused before anything is allocated for it.
fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, ProtocolError> {
    let mut counted = ByteCount(0);
    serde_json::to_writer(&mut counted, message).map_err(ProtocolError::Encode)?;
    let bytes = counted.0;
    if bytes > MAX_FRAME_BYTES {
        return Err(ProtocolError::TooLarge { bytes });
    }
    // The check above keeps the length within u32.
    let length = u32::try_from(bytes).map_err(|_| ProtocolError::TooLarge { bytes })?;
    let mut frame = Vec::with_capacity(4 + bytes);
    frame.extend_from_slice(&length.to_be_bytes());
    serde_json::to_writer(&mut frame, message).map_err(ProtocolError::Encode)?;
    debug_assert_eq!(frame.len(), 4 + bytes, "serialising is deterministic");
    Ok(frame)
}

/// A writer that only counts.
struct ByteCount(usize);

impl Write for ByteCount {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn checked_length(header: [u8; 4]) -> Result<usize, ProtocolError> {
    let length = u32::from_be_bytes(header) as usize;
    if length > MAX_FRAME_BYTES {
        return Err(ProtocolError::TooLarge { bytes: length });
    }
    Ok(length)
}

fn decode<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ProtocolError> {
    serde_json::from_slice(body).map_err(|source| ProtocolError::Malformed {
        source,
        preview: String::from_utf8_lossy(&body[..body.len().min(120)]).into_owned(),
    })
}

/// Writes one frame (blocking: the worker side).
pub fn write_frame_sync<T: Serialize>(
    out: &mut impl Write,
    message: &T,
) -> Result<(), ProtocolError> {
    let frame = encode(message)?;
    out.write_all(&frame).map_err(ProtocolError::Io)?;
    out.flush().map_err(ProtocolError::Io)
}

/// Frames from a stream, taken in as few reads as they come in bursts: one read takes
/// whatever is waiting (answers to concurrent calls arrive together), and the frames in it
/// are decoded one by one without another system call. Blocking on the worker side
/// ([`FrameReader::next_frame`]), async on the gateway's ([`FrameReader::next_frame_async`]).
pub struct FrameReader<R> {
    input: R,
    /// Bytes read in are `buffer[start..end]`; the rest is room (kept, not zeroed again).
    buffer: Vec<u8>,
    start: usize,
    end: usize,
}

/// What one read has room for at least.
const READ_CHUNK_BYTES: usize = 64 * 1024;

impl<R> FrameReader<R> {
    pub fn new(input: R) -> FrameReader<R> {
        FrameReader {
            input,
            buffer: Vec::new(),
            start: 0,
            end: 0,
        }
    }

    pub fn get_ref(&self) -> &R {
        &self.input
    }

    /// A whole frame already read in, decoded; `None` when there is none (no read is made).
    pub fn buffered<T: for<'de> Deserialize<'de>>(&mut self) -> Option<Result<T, ProtocolError>> {
        let length = match self.next_length()? {
            Ok(length) => length,
            Err(error) => return Some(Err(error)),
        };
        let body = self.buffer[self.start..self.end].get(4..4 + length)?;
        let decoded = decode(body);
        self.start += 4 + length;
        Some(decoded)
    }

    /// The body length of the next frame, once its header is in.
    fn next_length(&self) -> Option<Result<usize, ProtocolError>> {
        let header = self.buffer[self.start..self.end].get(..4)?;
        let header: [u8; 4] = header.try_into().ok()?;
        Some(checked_length(header))
    }

    /// Room for the next read, at least a chunk and at least the rest of a frame whose
    /// length is in: the whole frame then lies in one piece of the buffer. Returns the
    /// frame's whole size (0 while its header is not in).
    fn make_room(&mut self) -> Result<usize, ProtocolError> {
        let pending = self.end - self.start;
        let wanted = match self.next_length() {
            Some(length) => 4 + length?,
            None => 0,
        };
        let room = READ_CHUNK_BYTES.max(wanted.saturating_sub(pending));
        if self.buffer.len() - self.end < room {
            self.buffer.copy_within(self.start..self.end, 0);
            self.buffer.resize(pending + room, 0);
            (self.start, self.end) = (0, pending);
        }
        Ok(wanted)
    }

    /// What a read of nothing (the end of the stream) means here.
    fn at_end(&self) -> Result<bool, ProtocolError> {
        match self.end - self.start {
            0 => Ok(false),
            _ => Err(ProtocolError::Io(std::io::ErrorKind::UnexpectedEof.into())),
        }
    }
}

impl<R: Read> FrameReader<R> {
    /// The next frame: one already read in, or else read (blocking). `Ok(None)` at a clean
    /// end of stream.
    pub fn next_frame<T: for<'de> Deserialize<'de>>(&mut self) -> Result<Option<T>, ProtocolError> {
        loop {
            if let Some(frame) = self.buffered() {
                return frame.map(Some);
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Reads what is waiting (blocking until something is), and the rest of a frame whose
    /// length is in; `false` at the end of the stream.
    pub fn fill(&mut self) -> Result<bool, ProtocolError> {
        let wanted = self.make_room()?;
        let read = loop {
            match self.input.read(&mut self.buffer[self.end..]) {
                Ok(read) => break read,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ProtocolError::Io(e)),
            }
        };
        if read == 0 {
            return self.at_end();
        }
        self.end += read;
        let missing = wanted.saturating_sub(self.end - self.start);
        if missing > 0 {
            self.input
                .read_exact(&mut self.buffer[self.end..self.end + missing])
                .map_err(ProtocolError::Io)?;
            self.end += missing;
        }
        Ok(true)
    }
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// The next frame: one already read in, or else read. `Ok(None)` at a clean end of
    /// stream. Cancel-safe (each read either happened, its bytes kept here, or did not), so
    /// the gateway reads a worker's frames in the task that serves it, inside a `select!`,
    /// with no reader task and channel to hand each frame over.
    pub async fn next_frame_async<T: for<'de> Deserialize<'de>>(
        &mut self,
    ) -> Result<Option<T>, ProtocolError> {
        loop {
            if let Some(frame) = self.buffered() {
                return frame.map(Some);
            }
            self.make_room()?;
            let read = self
                .input
                .read(&mut self.buffer[self.end..])
                .await
                .map_err(ProtocolError::Io)?;
            if read == 0 {
                return self.at_end().map(|_| None);
            }
            self.end += read;
        }
    }
}

/// Writes one frame (async: the gateway side).
pub async fn write_frame<T: Serialize>(
    out: &mut (impl AsyncWrite + Unpin),
    message: &T,
) -> Result<(), ProtocolError> {
    let frame = encode(message)?;
    out.write_all(&frame).await.map_err(ProtocolError::Io)?;
    out.flush().await.map_err(ProtocolError::Io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_oversized_ones_are_refused() {
        let message = FromWorker::ToolCall {
            id: 7,
            namespace: "orders".into(),
            name: "list".into(),
            args: JsonText::from_value(&serde_json::json!({ "since": "2026-01-01" })),
        };
        let mut buffer = Vec::new();
        write_frame_sync(&mut buffer, &message).expect("encodes");
        let back: Option<FromWorker> = FrameReader::new(buffer.as_slice())
            .next_frame()
            .expect("decodes");
        assert!(matches!(back, Some(FromWorker::ToolCall { id: 7, .. })));

        let huge = (MAX_FRAME_BYTES as u32 + 1).to_be_bytes();
        let error = FrameReader::new(huge.as_slice())
            .next_frame::<FromWorker>()
            .unwrap_err();
        assert!(matches!(error, ProtocolError::TooLarge { .. }), "{error}");

        let mut garbage = 5u32.to_be_bytes().to_vec();
        garbage.extend_from_slice(b"hello");
        let error = FrameReader::new(garbage.as_slice())
            .next_frame::<FromWorker>()
            .unwrap_err();
        assert!(matches!(error, ProtocolError::Malformed { .. }), "{error}");
    }

    #[tokio::test]
    async fn an_async_read_cancelled_halfway_through_a_frame_loses_none_of_it() {
        let mut frames = Vec::new();
        for id in [1, 2] {
            write_frame_sync(&mut frames, &answer(id, "[1,2,3]")).expect("encodes");
        }
        let (mut worker, gateway) = tokio::io::duplex(1024);
        let mut reader = FrameReader::new(gateway);
        worker.write_all(&frames[..7]).await.expect("write");
        let waited = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            reader.next_frame_async::<ToWorker>(),
        )
        .await;
        assert!(waited.is_err(), "no whole frame yet");
        worker.write_all(&frames[7..]).await.expect("write");
        for expected in [1, 2] {
            let frame = reader
                .next_frame_async::<ToWorker>()
                .await
                .expect("a frame");
            assert!(matches!(frame, Some(ToWorker::ToolResult { id, .. }) if id == expected));
        }
        // A frame cut by the end of the stream is an error, not a clean end.
        worker.write_all(&frames[..9]).await.expect("write");
        drop(worker);
        let cut = reader.next_frame_async::<ToWorker>().await.unwrap_err();
        assert!(matches!(cut, ProtocolError::Io(_)), "{cut}");
    }

    /// Hands out its bytes a few at a time, as a pipe does when the writer is slow.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(out.len()).min(self.bytes.len());
            out[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    fn answer(id: u64, text: &str) -> ToWorker {
        ToWorker::ToolResult {
            id,
            outcome: WireOutcome::Ok(RawValue::from_string(text.into()).expect("JSON")),
        }
    }

    fn ids(reader: &mut FrameReader<impl Read>) -> Vec<u64> {
        let mut ids = Vec::new();
        while let Some(ToWorker::ToolResult { id, .. }) =
            reader.next_frame::<ToWorker>().expect("a frame")
        {
            ids.push(id);
        }
        ids
    }

    #[test]
    fn the_frame_reader_takes_bursts_and_frames_split_across_reads() {
        let big = format!("[{}1]", "1,".repeat(100_000));
        let mut stream = Vec::new();
        for (id, text) in [(1, "{}"), (2, big.as_str()), (3, "null"), (4, "[1,2]")] {
            write_frame_sync(&mut stream, &answer(id, text)).expect("encodes");
        }
        // All at once: one read takes several frames, handed out without another read.
        let mut burst = FrameReader::new(stream.as_slice());
        assert!(burst.fill().expect("reads"));
        assert!(matches!(
            burst.buffered::<ToWorker>(),
            Some(Ok(ToWorker::ToolResult { id: 1, .. }))
        ));
        assert_eq!(ids(&mut burst), [2, 3, 4]);
        // Three bytes at a time: headers and bodies split anywhere.
        let mut trickle = FrameReader::new(Trickle {
            bytes: &stream,
            step: 3,
        });
        assert_eq!(ids(&mut trickle), [1, 2, 3, 4]);
        // Nothing whole is buffered before a read.
        let mut fresh = FrameReader::new(stream.as_slice());
        assert!(fresh.buffered::<ToWorker>().is_none());
    }

    #[test]
    fn the_frame_reader_refuses_a_cut_frame_and_an_oversized_one() {
        let mut stream = Vec::new();
        write_frame_sync(&mut stream, &answer(1, "[1,2,3]")).expect("encodes");
        let cut = &stream[..stream.len() - 2];
        let error = FrameReader::new(cut).next_frame::<ToWorker>().unwrap_err();
        assert!(matches!(error, ProtocolError::Io(_)), "{error}");

        let huge = (MAX_FRAME_BYTES as u32 + 1).to_be_bytes();
        let error = FrameReader::new(huge.as_slice())
            .next_frame::<ToWorker>()
            .unwrap_err();
        assert!(matches!(error, ProtocolError::TooLarge { .. }), "{error}");

        let mut empty = FrameReader::new([].as_slice());
        assert!(empty
            .next_frame::<ToWorker>()
            .expect("a clean end")
            .is_none());
    }
}
