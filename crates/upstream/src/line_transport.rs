//! The stdio transport to an upstream server: newline-delimited JSON-RPC, as rmcp's own
//! `AsyncRwTransport` speaks it, decoded so that a large tool result is cheap.
//!
//! rmcp decodes every message through its untagged unions: serde buffers the whole message
//! (its `Content` tree, and a copy of it for the flattened shape check), then tries each of
//! some twenty result shapes in turn. For a 1.4 MB `tools/call` result (a list as
//! `structuredContent` and again as text) that was most of the gateway's work on the call.
//! Here a response to a `tools/call` this transport sent is decoded straight into a
//! `CallToolResult`; anything that does not decode that way (an error, an input-required or
//! task result, every other message) goes through rmcp's own decoding, unchanged. A
//! successful answer's `structuredContent` is not even parsed: it is kept as the server's
//! text ([`raw_structured`] hands it out), and its content blocks, which rule 2 of
//! `output` ignores on success, are skipped, all in one pass over the line: a large
//! result's escaped text block is the slowest thing to scan, so it is scanned once.
//!
//! Lines are read and decoded in `receive` itself, with no task or channel between the pipe
//! and rmcp's service loop: each hand-off between tasks is a wake-up on the path of every
//! call. The line being read is kept in the transport, so `receive` (polled inside rmcp's
//! `select!`) loses nothing when it is cancelled, and a line past [`MAX_LINE_BYTES`] is
//! dropped, with an error logged, rather than buffered without bound. A request is written
//! in `send` itself while the pipe has room, for the same reason: rmcp runs the future
//! `send` returns on a task of its own, a hand-off before the server sees the request.

use std::collections::HashSet;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

use rmcp::model::{
    CallToolResult, ClientRequest, JsonRpcMessage, JsonRpcResponse, JsonRpcVersion2_0, MetaObject,
    RequestId, ServerResult,
};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::RoleClient;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

/// Longest line accepted from a server: far beyond any sane tool result, short of letting
/// one message exhaust the gateway's memory.
pub(crate) const MAX_LINE_BYTES: usize = 256 * 1024 * 1024;
/// What one read from the server asks for: a pipe's whole buffer.
const READ_BUFFER_BYTES: usize = 64 * 1024;
/// A line buffer grown past this by one big message is given back afterwards.
const KEEP_LINE_BYTES: usize = 4 * 1024 * 1024;

/// `tools/call` ids remembered at most (see `send`).
const MAX_TRACKED_CALLS: usize = 4096;

type ToolCalls = Arc<Mutex<HashSet<RequestId>>>;

pub(crate) struct LineTransport<R, W> {
    write: Arc<tokio::sync::Mutex<W>>,
    lines: Lines<R>,
    /// Ids of the `tools/call` requests sent and not yet answered.
    tool_calls: ToolCalls,
    server: String,
}

impl<R, W> LineTransport<R, W>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    pub(crate) fn new(read: R, write: W, server: &str) -> Self {
        LineTransport {
            write: Arc::new(tokio::sync::Mutex::new(write)),
            // Pipe-sized reads: a large result is a few dozen reads, not hundreds.
            lines: Lines::new(BufReader::with_capacity(READ_BUFFER_BYTES, read)),
            tool_calls: ToolCalls::default(),
            server: server.to_owned(),
        }
    }
}

impl<R, W> Transport<RoleClient> for LineTransport<R, W>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        if let JsonRpcMessage::Request(request) = &item {
            if matches!(request.request, ClientRequest::CallToolRequest(_)) {
                let mut calls = lock(&self.tool_calls);
                // Calls cancelled on a timeout may never be answered; forgetting them only
                // sends a late answer through the generic decoding.
                if calls.len() >= MAX_TRACKED_CALLS {
                    calls.clear();
                }
                calls.insert(request.id.clone());
            }
        }
        let line = serde_json::to_vec(&item).map(|mut line| {
            line.push(b'\n');
            line
        });
        // What the pipe takes now is written now; a line it takes whole needs no lock held
        // for it afterwards. Whatever is left keeps the lock, so lines are never interleaved.
        let mut now = Ok(Written::Part(0));
        let mut held = None;
        if let Ok(line) = &line {
            if let Ok(mut guard) = self.write.clone().try_lock_owned() {
                now = write_now(&mut *guard, line);
                if matches!(now, Ok(Written::Part(_))) {
                    held = Some(guard);
                }
            }
        }
        let write = self.write.clone();
        async move {
            let line = line?;
            let written = match now? {
                Written::All => return Ok(()),
                Written::Part(bytes) => bytes,
            };
            let mut guard = match held {
                Some(guard) => guard,
                None => write.lock_owned().await,
            };
            guard.write_all(&line[written..]).await?;
            guard.flush().await
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        loop {
            match self.lines.next(MAX_LINE_BYTES).await {
                Ok(Line::Complete) => {}
                Ok(Line::Oversized) => {
                    tracing::error!(
                        server = self.server,
                        max = MAX_LINE_BYTES,
                        "the server sent a message longer than the line limit; it was dropped"
                    );
                    continue;
                }
                Ok(Line::Eof) => return None,
                Err(error) => {
                    tracing::warn!(server = self.server, %error, "reading from the server failed");
                    return None;
                }
            }
            let message = {
                let text = trim_line(&self.lines.line);
                (!text.is_empty())
                    .then(|| decode(text, &self.tool_calls, &self.server))
                    .flatten()
            };
            self.lines.clear();
            if message.is_some() {
                return message;
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.write.lock().await.shutdown().await
    }
}

/// How much of a line [`write_now`] got out.
enum Written {
    /// All of it, flushed.
    All,
    /// These first bytes; the rest (and the flush) waits for room.
    Part(usize),
}

/// Writes what `out` takes of `bytes` without waiting (a non-blocking write, as the
/// runtime's reactor would make it), and flushes it if it took all.
fn write_now<W: AsyncWrite + Unpin>(out: &mut W, bytes: &[u8]) -> std::io::Result<Written> {
    // What returns Pending here is polled again by the future `send` returns, with a
    // waker that counts.
    let mut context = Context::from_waker(Waker::noop());
    let mut written = 0;
    while written < bytes.len() {
        match Pin::new(&mut *out).poll_write(&mut context, &bytes[written..]) {
            Poll::Ready(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
            Poll::Ready(Ok(n)) => written += n,
            Poll::Ready(Err(error)) => return Err(error),
            Poll::Pending => return Ok(Written::Part(written)),
        }
    }
    match Pin::new(&mut *out).poll_flush(&mut context) {
        Poll::Ready(Ok(())) => Ok(Written::All),
        Poll::Ready(Err(error)) => Err(error),
        Poll::Pending => Ok(Written::Part(written)),
    }
}

/// The lines of a server's output, one at a time. Cancel-safe: bytes leave the reader only
/// into `line`, which is kept across calls until [`Lines::clear`].
struct Lines<R> {
    read: BufReader<R>,
    line: Vec<u8>,
    /// The line being read is past the cap: the rest of it is skipped.
    oversized: bool,
}

enum Line {
    Complete,
    Oversized,
    Eof,
}

impl<R: AsyncRead + Unpin> Lines<R> {
    fn new(read: BufReader<R>) -> Self {
        Lines {
            read,
            line: Vec::new(),
            oversized: false,
        }
    }

    /// The next line into `line` (without its newline), or past `cap`: the rest of it is
    /// skipped. Call [`Lines::clear`] before the next one.
    async fn next(&mut self, cap: usize) -> std::io::Result<Line> {
        loop {
            let available = self.read.fill_buf().await?;
            if available.is_empty() {
                return Ok(Line::Eof);
            }
            let (chunk, done) = match memchr::memchr(b'\n', available) {
                Some(end) => (&available[..end], end + 1),
                None => (available, available.len()),
            };
            let complete = done > chunk.len();
            if !self.oversized && self.line.len() + chunk.len() <= cap {
                self.line.extend_from_slice(chunk);
            } else if !self.oversized {
                self.oversized = true;
                self.line = Vec::new();
            }
            self.read.consume(done);
            if complete {
                return Ok(if std::mem::take(&mut self.oversized) {
                    Line::Oversized
                } else {
                    Line::Complete
                });
            }
        }
    }

    fn clear(&mut self) {
        self.line.clear();
        if self.line.capacity() > KEEP_LINE_BYTES {
            self.line = Vec::new();
        }
    }
}

/// Without a UTF-8 byte order mark, surrounding whitespace or a `\r`.
fn trim_line(line: &[u8]) -> &[u8] {
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    line.trim_ascii()
}

/// A response to one of our `tools/call` requests as a `CallToolResult`, without the
/// generic decoding's buffering.
#[derive(Deserialize)]
struct ToolCallResponse {
    jsonrpc: JsonRpcVersion2_0,
    id: RequestId,
    result: CallToolResult,
}

/// A response, read in one pass over the line: a large result's text is scanned once.
#[derive(Deserialize)]
struct LightResponse<'a> {
    id: RequestId,
    #[serde(borrow)]
    result: LightResult<'a>,
}

/// The parts of a tool result that decide whether its `structuredContent` can be kept as
/// text; the content blocks are skipped (rule 2 ignores them on success).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LightResult<'a> {
    #[serde(borrow)]
    structured_content: Option<&'a RawValue>,
    is_error: Option<bool>,
    result_type: Option<String>,
}

/// The `_meta` key under which this process marks a `CallToolResult` whose
/// `structuredContent` is the server's JSON text as a string (see [`raw_structured`]).
/// Random per process, so that no server can set it.
fn raw_marker() -> &'static str {
    static MARKER: OnceLock<String> = OnceLock::new();
    MARKER.get_or_init(|| {
        let state = RandomState::new();
        let (a, b) = (state.hash_one(1u8), state.hash_one(2u8));
        format!("codemode/raw-structured-{a:016x}{b:016x}")
    })
}

/// A successful answer's `structuredContent` as the server's own text, when this transport
/// kept it so (removing the mark): it then goes to the sandbox's `JSON.parse` as it came.
pub(crate) fn raw_structured(result: &mut CallToolResult) -> Option<Box<RawValue>> {
    let meta = result.meta.as_mut()?;
    meta.0.remove(raw_marker())?;
    if meta.0.is_empty() {
        result.meta = None;
    }
    match result.structured_content.take() {
        Some(Value::String(text)) => RawValue::from_string(text).ok(),
        other => {
            result.structured_content = other;
            None
        }
    }
}

/// An answer to one of our `tools/call`s that succeeded with structured content, that
/// content kept as text (and the call forgotten).
fn kept_as_text(text: &[u8], tool_calls: &ToolCalls) -> Option<(RequestId, CallToolResult)> {
    let response: LightResponse = serde_json::from_slice(text).ok()?;
    if !lock(tool_calls).contains(&response.id) {
        return None;
    }
    let light = response.result;
    let complete = light.result_type.as_deref().is_none_or(|t| t == "complete");
    let structured = light.structured_content?;
    if light.is_error == Some(true) || !complete {
        return None;
    }
    let mut result = CallToolResult::success(Vec::new());
    result.structured_content = Some(Value::String(structured.get().to_owned()));
    let mut meta = serde_json::Map::new();
    meta.insert(raw_marker().to_owned(), Value::Bool(true));
    result.meta = Some(MetaObject(meta));
    lock(tool_calls).remove(&response.id);
    Some((response.id, result))
}

fn decode(
    text: &[u8],
    tool_calls: &ToolCalls,
    server: &str,
) -> Option<RxJsonRpcMessage<RoleClient>> {
    let awaited = !lock(tool_calls).is_empty();
    if awaited {
        if let Some((id, result)) = kept_as_text(text, tool_calls) {
            return Some(JsonRpcMessage::Response(JsonRpcResponse {
                jsonrpc: JsonRpcVersion2_0,
                id,
                result: ServerResult::CallToolResult(result),
            }));
        }
        if let Ok(response) = serde_json::from_slice::<ToolCallResponse>(text) {
            if lock(tool_calls).remove(&response.id) {
                return Some(JsonRpcMessage::Response(JsonRpcResponse {
                    jsonrpc: response.jsonrpc,
                    id: response.id,
                    result: ServerResult::CallToolResult(response.result),
                }));
            }
        }
    }
    match serde_json::from_slice::<RxJsonRpcMessage<RoleClient>>(text) {
        Ok(message) => {
            let answered = match &message {
                JsonRpcMessage::Response(JsonRpcResponse { id, .. }) => Some(id),
                JsonRpcMessage::Error(error) => error.id.as_ref(),
                _ => None,
            };
            if let Some(id) = answered {
                lock(tool_calls).remove(id);
            }
            Some(message)
        }
        Err(error) => {
            tracing::warn!(server, %error, "the server sent a line that is not a JSON-RPC message; ignored");
            None
        }
    }
}

fn lock(calls: &ToolCalls) -> std::sync::MutexGuard<'_, HashSet<RequestId>> {
    calls
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn tracked(ids: &[i64]) -> ToolCalls {
        Arc::new(Mutex::new(
            ids.iter().map(|&id| RequestId::Number(id)).collect(),
        ))
    }

    #[test]
    fn an_awaited_tool_result_is_decoded_directly_and_forgotten() {
        let calls = tracked(&[7]);
        let line =
            br#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"[1,2]"}]}}"#;
        let message = decode(line, &calls, "s").expect("decoded");
        let JsonRpcMessage::Response(response) = message else {
            panic!("not a response: {message:?}");
        };
        let ServerResult::CallToolResult(result) = response.result else {
            panic!("not a tool result: {:?}", response.result);
        };
        assert_eq!(result.content.len(), 1);
        assert!(lock(&calls).is_empty());
    }

    #[test]
    fn structured_content_is_kept_as_the_servers_text_and_only_this_process_can_mark_it() {
        let calls = tracked(&[9]);
        let line = br#"{"jsonrpc":"2.0","id":9,"result":{"content":[{"type":"text","text":"{\"n\": 2}"}],"structuredContent":{"n": 2, "list": [1, 2]}}}"#;
        let Some(JsonRpcMessage::Response(response)) = decode(line, &calls, "s") else {
            panic!("not a response");
        };
        let ServerResult::CallToolResult(mut result) = response.result else {
            panic!("not a tool result");
        };
        let raw = raw_structured(&mut result).expect("kept as text");
        assert_eq!(raw.get(), r#"{"n": 2, "list": [1, 2]}"#);
        assert!(result.meta.is_none());

        // A server that sends a string as structuredContent, with a mark of its own, gets
        // its string back as a string.
        let mut forged = CallToolResult::success(Vec::new());
        forged.structured_content = Some(Value::String("[1]".into()));
        let mut meta = serde_json::Map::new();
        meta.insert("codemode/raw-structured-0".into(), Value::Bool(true));
        forged.meta = Some(MetaObject(meta));
        assert!(raw_structured(&mut forged).is_none());
        assert_eq!(forged.structured_content, Some(Value::String("[1]".into())));

        // An error result keeps the regular decoding (its text is the message).
        let calls = tracked(&[10]);
        let error = br#"{"jsonrpc":"2.0","id":10,"result":{"isError":true,"content":[{"type":"text","text":"no"}],"structuredContent":{"e":1}}}"#;
        let Some(JsonRpcMessage::Response(response)) = decode(error, &calls, "s") else {
            panic!("not a response");
        };
        let ServerResult::CallToolResult(mut result) = response.result else {
            panic!("not a tool result");
        };
        assert!(raw_structured(&mut result).is_none());
        assert_eq!(result.content.len(), 1);
    }

    #[test]
    fn anything_else_takes_rmcps_decoding() {
        let calls = tracked(&[3, 4]);
        // An error answer to a tool call, and an input-required result: both through rmcp.
        let error = br#"{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"bad"}}"#;
        assert!(matches!(
            decode(error, &calls, "s"),
            Some(JsonRpcMessage::Error(_))
        ));
        let notification =
            br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":0.5}}"#;
        assert!(matches!(
            decode(notification, &calls, "s"),
            Some(JsonRpcMessage::Notification(_))
        ));
        assert!(decode(b"not json", &calls, "s").is_none());
        assert_eq!(*lock(&calls), [RequestId::Number(4)].into_iter().collect());
    }

    #[tokio::test]
    async fn a_line_past_the_cap_is_skipped_whole_and_the_next_one_read() {
        let input: &[u8] = b"\xEF\xBB\xBF{\"a\":1}\r\nxxxxxxxxxxxxxxxxxxxx\n{\"b\":2}\n";
        let mut lines = Lines::new(BufReader::with_capacity(4, input));
        assert!(matches!(lines.next(12).await, Ok(Line::Complete)));
        assert_eq!(trim_line(&lines.line), br#"{"a":1}"#);
        lines.clear();
        assert!(matches!(lines.next(12).await, Ok(Line::Oversized)));
        lines.clear();
        assert!(matches!(lines.next(12).await, Ok(Line::Complete)));
        assert_eq!(lines.line, br#"{"b":2}"#);
        lines.clear();
        assert!(matches!(lines.next(12).await, Ok(Line::Eof)));
    }

    #[tokio::test]
    async fn a_read_cancelled_halfway_through_a_line_loses_none_of_it() {
        let (mut server, ours) = tokio::io::duplex(64);
        let mut lines = Lines::new(BufReader::with_capacity(4, ours));
        server
            .write_all(br#"{"jsonrpc":"2.0","#)
            .await
            .expect("write");
        let waited = tokio::time::timeout(Duration::from_millis(20), lines.next(1024)).await;
        assert!(waited.is_err(), "no line yet");
        server.write_all(b"\"id\":1}\n").await.expect("write");
        assert!(matches!(lines.next(1024).await, Ok(Line::Complete)));
        assert_eq!(lines.line, br#"{"jsonrpc":"2.0","id":1}"#);
    }

    #[tokio::test]
    async fn lines_written_through_a_full_pipe_arrive_whole() {
        // A pipe of 16 bytes: the first request is written partly at once, the rest later,
        // and the others wait their turn. (The order of lines that wait is the runtime's:
        // rmcp runs each send on a task of its own, as it does with its own transport.)
        let (ours, server) = tokio::io::duplex(16);
        let mut transport = LineTransport::new(tokio::io::empty(), ours, "s");
        let request = |id: u32| {
            let text = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
            serde_json::from_str::<TxJsonRpcMessage<RoleClient>>(&text).expect("a request")
        };
        let sent: Vec<_> = (1..=3)
            .map(|id| tokio::spawn(transport.send(request(id))))
            .collect();
        let mut read = BufReader::new(server);
        let mut ids = Vec::new();
        for _ in 1..=3 {
            let mut line = String::new();
            read.read_line(&mut line).await.expect("a line");
            let value: Value = serde_json::from_str(&line).expect("whole JSON");
            ids.push(value["id"].as_u64().expect("an id"));
        }
        ids.sort_unstable();
        assert_eq!(ids, [1, 2, 3]);
        for send in sent {
            send.await.expect("joined").expect("written");
        }
    }
}
