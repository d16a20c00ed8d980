//! Newline-delimited JSON-RPC over a byte stream (the stdio transport), in place of rmcp's
//! `AsyncRwTransport`, which drops a line over its 16 MiB cap without a word and lets a
//! reused request id through (rmcp's service then cancels one of the two requests and
//! sends a single reply).
//!
//! Here:
//! * a line over [`MAX_LINE_BYTES`] is skipped (never buffered past the cap) and answered
//!   with -32600 and its id, read from the first and last 4 KiB of the line (clients put
//!   `id` first or, like the TypeScript SDK, last); an oversized *response* to a request of
//!   ours is turned into an error for that request instead;
//! * a request whose id is already in flight is answered with -32600 "request id N is
//!   already in flight" and not passed on; the first one still gets its answer;
//! * well-formed JSON that is not a message is answered with -32600 (with its id when it
//!   has one); unparsable bytes are ignored, as rmcp and the other SDKs do, so that two
//!   peers never trade errors about errors.
//!
//! Replies are written by one task, a whole line at a time, so an abandoned write never
//! leaves half a line on stdout.

use std::collections::HashSet;
use std::io;
use std::sync::{Arc, Mutex};

use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ErrorData, JsonRpcMessage, RequestId,
    ServerJsonRpcMessage,
};
use rmcp::transport::Transport;
use rmcp::RoleServer;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

use crate::http_sessions::lock;

/// The longest line (one JSON-RPC message) read on stdio: 8 MiB, twice the HTTP
/// transport's 4 MiB body cap, so whatever is accepted over HTTP is accepted here.
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// How much of an oversized line's start and end is kept to find its id.
const ID_SCAN_BYTES: usize = 4 * 1024;
/// Lines waiting for the writer.
const WRITE_QUEUE: usize = 32;
/// A line buffer grown past this by one big message is given back afterwards.
const KEEP_BUFFER_BYTES: usize = 256 * 1024;

pub(crate) struct LineTransport<R> {
    read: BufReader<R>,
    max_line: usize,
    /// The line being read (kept across cancelled reads: `receive` is raced in a select).
    line: Vec<u8>,
    /// Set while skipping the rest of a line over the cap.
    oversized: Option<Oversized>,
    writer: Option<mpsc::Sender<Outgoing>>,
    /// An error reply of our own, waiting for room in the write queue.
    reply: Option<Vec<u8>>,
    in_flight: Arc<Mutex<HashSet<RequestId>>>,
}

struct Outgoing {
    line: Vec<u8>,
    written: Option<oneshot::Sender<io::Result<()>>>,
}

/// What is kept of a line over the cap.
struct Oversized {
    head: Vec<u8>,
    tail: Vec<u8>,
    len: usize,
}

impl Oversized {
    fn extend(&mut self, chunk: &[u8]) {
        self.len += chunk.len();
        if self.head.len() < ID_SCAN_BYTES {
            let room = ID_SCAN_BYTES - self.head.len();
            self.head.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        if chunk.len() >= ID_SCAN_BYTES {
            self.tail.clear();
            self.tail
                .extend_from_slice(&chunk[chunk.len() - ID_SCAN_BYTES..]);
        } else {
            self.tail.extend_from_slice(chunk);
            let excess = self.tail.len().saturating_sub(ID_SCAN_BYTES);
            self.tail.drain(..excess);
        }
    }
}

enum LineRead {
    Line,
    Oversized(Oversized),
    Eof,
    Io(io::Error),
}

impl<R: AsyncRead + Unpin + Send> LineTransport<R> {
    /// Reads lines from `read` and writes to `write` (from a task of its own, so this must
    /// be called inside a Tokio runtime).
    pub(crate) fn new<W>(read: R, write: W, max_line: usize) -> LineTransport<R>
    where
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (writer, queue) = mpsc::channel(WRITE_QUEUE);
        tokio::spawn(write_lines(write, queue));
        LineTransport {
            read: BufReader::new(read),
            max_line,
            line: Vec::new(),
            oversized: None,
            writer: Some(writer),
            reply: None,
            in_flight: Arc::default(),
        }
    }

    /// One `\n`-terminated line into `self.line`, never holding more than `max_line` bytes
    /// of it. Cancel-safe: nothing is consumed across an await, and the partial line stays
    /// in `self`.
    async fn read_line(&mut self) -> LineRead {
        loop {
            let (consumed, ended) = {
                let available = match self.read.fill_buf().await {
                    Ok(available) => available,
                    Err(error) => return LineRead::Io(error),
                };
                if available.is_empty() {
                    return LineRead::Eof;
                }
                let newline = available.iter().position(|&b| b == b'\n');
                let take = newline.map_or(available.len(), |at| at + 1);
                let chunk = &available[..take];
                if let Some(oversized) = &mut self.oversized {
                    oversized.extend(chunk);
                } else if self.line.len() + take > self.max_line {
                    let mut oversized = Oversized {
                        head: Vec::with_capacity(ID_SCAN_BYTES),
                        tail: Vec::with_capacity(ID_SCAN_BYTES),
                        len: 0,
                    };
                    oversized.extend(&self.line);
                    oversized.extend(chunk);
                    self.line = Vec::new();
                    self.oversized = Some(oversized);
                } else {
                    self.line.extend_from_slice(chunk);
                }
                (take, newline.is_some())
            };
            self.read.consume(consumed);
            if ended {
                return match self.oversized.take() {
                    Some(oversized) => LineRead::Oversized(oversized),
                    None => LineRead::Line,
                };
            }
        }
    }

    fn queue_error(&mut self, id: Option<RequestId>, message: String) {
        let error = ServerJsonRpcMessage::error(ErrorData::invalid_request(message, None), id);
        match encode(&error) {
            Ok(line) => self.reply = Some(line),
            Err(error) => tracing::error!("encoding an error reply: {error}"),
        }
    }

    /// What to do with a line over the cap.
    fn answer_oversized(&mut self, oversized: Oversized) -> Option<ClientJsonRpcMessage> {
        let fields = scan_forward(&oversized.head).or(scan_backward(trim_end(&oversized.tail)));
        let too_long = format!(
            "the message is {} bytes, over the {}-byte limit for one line on stdio; it was not \
             processed",
            oversized.len, self.max_line
        );
        tracing::warn!(id = ?fields.id, "{too_long}");
        if fields.is_response && !fields.is_request {
            // The client's answer to a request of ours: fail that request now rather than
            // let it wait for an answer that was dropped.
            let id = fields.id?;
            return Some(ClientJsonRpcMessage::error(
                ErrorData::invalid_request(too_long, None),
                Some(id),
            ));
        }
        self.queue_error(fields.id, too_long);
        None
    }

    /// Checks a well-formed message; `None` when it was answered here instead.
    fn admit(&mut self, message: ClientJsonRpcMessage) -> Option<ClientJsonRpcMessage> {
        match &message {
            JsonRpcMessage::Request(request) => {
                if !lock(&self.in_flight).insert(request.id.clone()) {
                    tracing::debug!(id = %request.id, "refusing a reused in-flight request id");
                    let text = format!("request id {} is already in flight", request.id);
                    self.queue_error(Some(request.id.clone()), text);
                    return None;
                }
            }
            JsonRpcMessage::Notification(notification) => {
                if let ClientNotification::CancelledNotification(cancelled) =
                    &notification.notification
                {
                    if let Some(id) = &cancelled.params.request_id {
                        lock(&self.in_flight).remove(id);
                    }
                }
            }
            JsonRpcMessage::Response(_) | JsonRpcMessage::Error(_) => {}
        }
        Some(message)
    }

    /// Handles the complete line in `self.line`.
    fn parse_line(&mut self) -> Option<ClientJsonRpcMessage> {
        let parsed = parse(&self.line);
        self.line.clear();
        if self.line.capacity() > KEEP_BUFFER_BYTES {
            self.line = Vec::new();
        }
        match parsed {
            Parsed::Message(message) => self.admit(*message),
            Parsed::Ignore => None,
            Parsed::Invalid(id, error) => {
                self.queue_error(id, format!("not a JSON-RPC message: {error}"));
                None
            }
        }
    }
}

impl<R: AsyncRead + Unpin + Send> Transport<RoleServer> for LineTransport<R> {
    type Error = io::Error;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl std::future::Future<Output = Result<(), io::Error>> + Send + 'static {
        let answered = match &item {
            JsonRpcMessage::Response(response) => Some(&response.id),
            JsonRpcMessage::Error(error) => error.id.as_ref(),
            _ => None,
        };
        if let Some(id) = answered {
            lock(&self.in_flight).remove(id);
        }
        let line = encode(&item);
        let writer = self.writer.clone();
        async move {
            let line = line?;
            let writer = writer.ok_or_else(closed)?;
            let (written, done) = oneshot::channel();
            writer
                .send(Outgoing {
                    line,
                    written: Some(written),
                })
                .await
                .map_err(|_| closed())?;
            done.await.map_err(|_| closed())?
        }
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        loop {
            if self.reply.is_some() {
                let permit = self.writer.as_ref()?.reserve().await.ok()?;
                if let Some(line) = self.reply.take() {
                    permit.send(Outgoing {
                        line,
                        written: None,
                    });
                }
            }
            let message = match self.read_line().await {
                LineRead::Line => self.parse_line(),
                LineRead::Oversized(oversized) => self.answer_oversized(oversized),
                LineRead::Eof => return None,
                LineRead::Io(error) => {
                    tracing::error!("reading stdin: {error}");
                    return None;
                }
            };
            if message.is_some() {
                return message;
            }
        }
    }

    async fn close(&mut self) -> Result<(), io::Error> {
        // The writer finishes what is queued, then stops.
        self.writer = None;
        Ok(())
    }
}

async fn write_lines<W: AsyncWrite + Unpin>(mut write: W, mut queue: mpsc::Receiver<Outgoing>) {
    while let Some(Outgoing { line, written }) = queue.recv().await {
        let result = async {
            write.write_all(&line).await?;
            write.flush().await
        }
        .await;
        let failed = result.is_err();
        if let Some(written) = written {
            let _ = written.send(result);
        } else if let Err(error) = &result {
            tracing::error!("writing to stdout: {error}");
        }
        if failed {
            return;
        }
    }
}

fn encode(message: &ServerJsonRpcMessage) -> io::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(message)?;
    line.push(b'\n');
    Ok(line)
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the stdio transport is closed")
}

enum Parsed {
    Message(Box<ClientJsonRpcMessage>),
    Ignore,
    Invalid(Option<RequestId>, serde_json::Error),
}

fn parse(line: &[u8]) -> Parsed {
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    let line = trim_end(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Parsed::Ignore;
    }
    let error = match serde_json::from_slice::<ClientJsonRpcMessage>(line) {
        Ok(message) => return Parsed::Message(Box::new(message)),
        Err(error) => error,
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(line) else {
        tracing::debug!("ignoring an unparsable line: {error}");
        return Parsed::Ignore;
    };
    let id = value.get("id");
    if id.is_none() && value.get("method").is_some() {
        // A notification this SDK does not know (other protocols' or extensions'): no
        // reply is expected, and none is sent.
        tracing::debug!("ignoring an unknown notification: {error}");
        return Parsed::Ignore;
    }
    let id = id.and_then(|id| serde_json::from_value::<RequestId>(id.clone()).ok());
    Parsed::Invalid(id, error)
}

fn trim_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |at| at + 1);
    &bytes[..end]
}

/// What the top-level members seen of a (partial) JSON object say.
#[derive(Debug, Default, PartialEq)]
struct Fields {
    id: Option<RequestId>,
    is_request: bool,
    is_response: bool,
}

impl Fields {
    fn saw_key(&mut self, key: &[u8]) {
        match key {
            b"method" => self.is_request = true,
            b"result" | b"error" => self.is_response = true,
            _ => {}
        }
    }

    fn saw(&mut self, key: &[u8], value: &[u8]) {
        self.saw_key(key);
        if key == b"id" {
            self.id = serde_json::from_slice(value).ok();
        }
    }

    fn or(self, other: Fields) -> Fields {
        Fields {
            id: self.id.or(other.id),
            is_request: self.is_request || other.is_request,
            is_response: self.is_response || other.is_response,
        }
    }
}

/// The top-level members of the object `bytes` starts (it may be cut anywhere).
fn scan_forward(bytes: &[u8]) -> Fields {
    let mut fields = Fields::default();
    let mut at = skip_ws(bytes, 0);
    if bytes.get(at) != Some(&b'{') {
        return fields;
    }
    at += 1;
    loop {
        at = skip_ws(bytes, at);
        if bytes.get(at) != Some(&b'"') {
            return fields;
        }
        let Some(key_end) = string_end(bytes, at) else {
            return fields;
        };
        let key = &bytes[at + 1..key_end];
        at = skip_ws(bytes, key_end + 1);
        if bytes.get(at) != Some(&b':') {
            return fields;
        }
        at = skip_ws(bytes, at + 1);
        // Known even when the value runs past the cut (`"result": {...huge`).
        fields.saw_key(key);
        let Some(value_end) = value_end(bytes, at) else {
            return fields;
        };
        fields.saw(key, &bytes[at..value_end]);
        at = skip_ws(bytes, value_end);
        if bytes.get(at) != Some(&b',') {
            return fields;
        }
        at += 1;
    }
}

fn skip_ws(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

/// The index of the quote closing the string opened at `open`.
fn string_end(bytes: &[u8], open: usize) -> Option<usize> {
    let mut at = open + 1;
    loop {
        match bytes.get(at)? {
            b'\\' => at += 2,
            b'"' => return Some(at),
            _ => at += 1,
        }
    }
}

/// One past the end of the JSON value starting at `start`.
fn value_end(bytes: &[u8], start: usize) -> Option<usize> {
    match bytes.get(start)? {
        b'"' => string_end(bytes, start).map(|end| end + 1),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut at = start;
            loop {
                match bytes.get(at)? {
                    b'"' => at = string_end(bytes, at)?,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
        }
        _ => {
            let end = bytes[start..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace())?;
            Some(start + end)
        }
    }
}

/// The top-level members of the object `bytes` ends (it may be cut anywhere before).
fn scan_backward(bytes: &[u8]) -> Fields {
    let mut fields = Fields::default();
    let Some(mut at) = bytes.len().checked_sub(1) else {
        return fields;
    };
    if bytes[at] != b'}' {
        return fields;
    }
    loop {
        // `at` is on the `}` or the `,` after the member to read.
        let Some(value_last) = skip_ws_back(bytes, at) else {
            return fields;
        };
        let Some(value_start) = value_start(bytes, value_last) else {
            return fields;
        };
        let Some(colon) = skip_ws_back(bytes, value_start) else {
            return fields;
        };
        if bytes[colon] != b':' {
            return fields;
        }
        let Some(key_last) = skip_ws_back(bytes, colon) else {
            return fields;
        };
        if bytes[key_last] != b'"' {
            return fields;
        }
        let Some(key_open) = string_start(bytes, key_last) else {
            return fields;
        };
        fields.saw(
            &bytes[key_open + 1..key_last],
            &bytes[value_start..=value_last],
        );
        let Some(before) = skip_ws_back(bytes, key_open) else {
            return fields;
        };
        if bytes[before] != b',' {
            return fields;
        }
        at = before;
    }
}

/// The last non-whitespace index before `at`.
fn skip_ws_back(bytes: &[u8], at: usize) -> Option<usize> {
    bytes[..at].iter().rposition(|b| !b.is_ascii_whitespace())
}

/// Whether the quote at `at` is escaped (preceded by an odd number of backslashes).
fn escaped(bytes: &[u8], at: usize) -> bool {
    bytes[..at]
        .iter()
        .rev()
        .take_while(|&&b| b == b'\\')
        .count()
        % 2
        == 1
}

/// The index of the quote opening the string closed at `close`.
fn string_start(bytes: &[u8], close: usize) -> Option<usize> {
    let mut at = close;
    loop {
        at = bytes[..at].iter().rposition(|&b| b == b'"')?;
        if !escaped(bytes, at) {
            return Some(at);
        }
    }
}

/// The first index of the JSON value whose last byte is at `last`.
fn value_start(bytes: &[u8], last: usize) -> Option<usize> {
    match bytes[last] {
        b'"' => string_start(bytes, last),
        b'}' | b']' => {
            let mut depth = 0usize;
            let mut at = last;
            loop {
                match bytes[at] {
                    b'"' if !escaped(bytes, at) => at = string_start(bytes, at)?,
                    b'}' | b']' => depth += 1,
                    b'{' | b'[' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(at);
                        }
                    }
                    _ => {}
                }
                at = at.checked_sub(1)?;
            }
        }
        _ => {
            let before = bytes[..last]
                .iter()
                .rposition(|b| matches!(b, b':' | b',' | b'[' | b'{') || b.is_ascii_whitespace())?;
            Some(before + 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(fields: &Fields) -> Option<String> {
        fields.id.as_ref().map(ToString::to_string)
    }

    #[test]
    fn the_id_is_found_at_the_start_of_a_cut_line() {
        let line = br#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"id":7,"x":"aaaa"#;
        let fields = scan_forward(line);
        assert_eq!(id(&fields), Some("42".into()));
        assert!(fields.is_request && !fields.is_response);

        let line = br#"{"jsonrpc":"2.0","id":5,"result":{"content":[{"text":"aaaa"#;
        let fields = scan_forward(line);
        assert_eq!(id(&fields), Some("5".into()));
        assert!(fields.is_response && !fields.is_request);

        let line = br#" { "method" : "x", "id" : "a\"b" , "params": {"#;
        assert_eq!(id(&scan_forward(line)), Some("a\"b".into()));

        // The id after the cut: not found from the start.
        let line = br#"{"method":"tools/call","params":{"arguments":{"id":9,"code":"xx"#;
        assert_eq!(scan_forward(line).id, None);
    }

    #[test]
    fn the_id_is_found_at_the_end_of_a_cut_line() {
        let tail = br#"xx\"y\\","nested":{"id":9,"s":"}"}},"jsonrpc":"2.0","id":17}"#;
        let fields = scan_backward(tail);
        assert_eq!(id(&fields), Some("17".into()));

        let tail = br#"aa"]}, "id" : "late" , "jsonrpc":"2.0" }"#;
        assert_eq!(id(&scan_backward(tail)), Some("late".into()));

        // A nested id at the very end is not the message's.
        let tail = br#"aaa","x":{"id":3}}"#;
        assert_eq!(scan_backward(tail).id, None);

        let tail = br#"aaaa"},"result":{"content":[]},"id":4,"jsonrpc":"2.0"}"#;
        let fields = scan_backward(tail);
        assert_eq!(id(&fields), Some("4".into()));
        assert!(fields.is_response);
    }

    #[test]
    fn lines_that_are_not_messages() {
        assert!(matches!(parse(b"not json"), Parsed::Ignore));
        assert!(matches!(parse(b"  \r"), Parsed::Ignore));
        match parse(br#"{"jsonrpc":"2.0","id":3,"nomethod":true}"#) {
            Parsed::Invalid(Some(RequestId::Number(3)), _) => {}
            _ => panic!("an invalid request with its id"),
        }
        assert!(matches!(
            parse(b"\xEF\xBB\xBF{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\r"),
            Parsed::Message(_)
        ));
    }
}
