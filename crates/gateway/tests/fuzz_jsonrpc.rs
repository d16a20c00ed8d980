//! Property fuzzing of the gateway's JSON-RPC front end, as `serve_stdio` serves it:
//! `serve_stdio_on` over an in-memory pipe instead of the process's stdin/stdout.
//!
//! A session is initialized properly, then each round writes a few generated lines
//! (mutations of valid requests: ids of every type and size, missing or wrong `jsonrpc`,
//! unknown methods, params of the wrong shape, batches, deep nesting, random bytes, strings
//! of megabytes) followed by a well-formed `tools/list` probe. The property, every round:
//!
//! * nothing panics, on any task;
//! * the probe is answered, with the two tools, within [`PROBE_TIMEOUT`];
//! * the session is still serving (and everything the server writes is a JSON line).
//!
//! At the end the client closes its side and the session must end cleanly.
//!
//! Stable Rust has no `cargo fuzz`: a small xorshift64 PRNG fills a byte buffer per round
//! from a deterministic seed and `arbitrary::Unstructured` turns it into lines. By default
//! a bounded number of rounds runs (stopping early at a time budget, so that the test stays
//! under ~20 s in a debug build); `CODEMODE_FUZZ_ITERATIONS=5000` runs more (without the
//! time budget unless `CODEMODE_FUZZ_SECONDS` is set), `CODEMODE_FUZZ_SEED` another seed set:
//!
//! ```sh
//! CODEMODE_FUZZ_ITERATIONS=5000 cargo test -p codemode-gateway --test fuzz_jsonrpc -- --nocapture
//! ```
//!
//! Known findings (real bugs reported, not fixed yet) are listed in [`KNOWN_FINDINGS`]: they
//! are printed but do not fail the test.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use codemode_catalog::Catalog;
use codemode_demo::DemoSource;
use codemode_gateway::{
    serve_stdio_on, CancellationToken, Gateway, GatewayOptions, Isolation, MAX_LINE_BYTES,
};
use codemode_sandbox::Limits;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, WriteHalf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

// ---- configuration -----------------------------------------------------------------------

/// Rounds by default (CI); `CODEMODE_FUZZ_ITERATIONS` overrides.
const DEFAULT_ROUNDS: u64 = 600;
/// Time budget by default: the run stops early past it and says so.
const DEFAULT_BUDGET: Duration = Duration::from_secs(14);
const DEFAULT_SEED: u64 = 0x00C0_DE00_0A5C_11ED;
/// How long the `tools/list` probe may take to be answered.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Lines of one round (the generator may produce more).
const MAX_LINES: usize = 4;
/// Items of any generated list that are used.
const MAX_ITEMS: usize = 6;

/// Findings already reported to the lead, as (signature prefix, why). A finding whose
/// signature starts with one of these is printed as known and does not fail the test.
/// Remove an entry once the bug is fixed.
const KNOWN_FINDINGS: &[(&str, &str)] = &[];

fn gateway() -> Gateway {
    Gateway::new(
        Catalog::new(vec![Arc::new(DemoSource::new())]),
        GatewayOptions {
            limits: Limits {
                cpu_time: Duration::from_millis(200),
                wall_time: Duration::from_secs(1),
                memory_bytes: 32 * 1024 * 1024,
                max_result_bytes: 16 * 1024,
                max_log_bytes: 4 * 1024,
                max_tool_calls: 50,
                ..Limits::default()
            },
            max_concurrent_executions: 4,
            isolation: Isolation::InProcess,
            ..GatewayOptions::default()
        },
    )
}

// ---- a deterministic source of bytes -------------------------------------------------------

struct XorShift64(u64);

impl XorShift64 {
    fn new(seed: u64) -> Self {
        XorShift64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

// ---- the generator ---------------------------------------------------------------------------

const MAX_DEPTH: u32 = 4;

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// A recursive JSON position: past [`MAX_DEPTH`] it is a scalar.
#[derive(Debug)]
struct Sub(Box<Odd>);

impl<'a> Arbitrary<'a> for Sub {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let depth = DEPTH.with(Cell::get);
        if depth >= MAX_DEPTH || u.is_empty() {
            return Ok(Sub(Box::new(Odd::Int(i64::arbitrary(u)?))));
        }
        DEPTH.with(|d| d.set(depth + 1));
        let value = Odd::arbitrary(u);
        DEPTH.with(|d| d.set(depth));
        Ok(Sub(Box::new(value?)))
    }
}

/// One round: one to [`MAX_LINES`] lines.
#[derive(Debug)]
struct Round {
    lines: Vec<Line>,
}

impl<'a> Arbitrary<'a> for Round {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let count = u.int_in_range(1..=MAX_LINES)?;
        let mut lines = Vec::with_capacity(count);
        for _ in 0..count {
            lines.push(Line::arbitrary(u)?);
        }
        Ok(Round { lines })
    }
}

#[derive(Arbitrary, Debug)]
enum Line {
    Mutated(Base, Vec<Mutation>),
    Mutated2(Base, Vec<Mutation>),
    Mutated3(Base, Vec<Mutation>),
    Valid(Base),
    Batch(Vec<(Base, Vec<Mutation>)>),
    Deep(DeepKind, Depth),
    Bytes(Vec<u8>),
    Long(Base, LongField, LongLen),
    Text(Text),
}

#[derive(Arbitrary, Debug)]
enum Base {
    Initialize,
    Ping,
    ToolsList,
    ToolsListCursor(Str),
    Search(Str, Option<Sub>),
    Execute(Code),
    ExecuteWithProgress(Code),
    UnknownTool(Str),
    ResourcesList,
    ResourceTemplates,
    ResourcesRead(Uri),
    SetLevel(Level),
    Complete,
    PromptsList,
    PromptsGet,
    Discover,
    Listen,
    Subscribe(Uri),
    TasksList,
    Sampling,
    Initialized,
    Cancelled(Option<Sub>),
    Progress(Option<Sub>),
    RootsChanged,
    UnknownNotification(Str),
    UnknownMethod(Str),
    Response(Option<Sub>),
    ErrorResponse(Option<Sub>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Code {
    Return,
    BusyLoop,
    LongTimer,
    ListAll,
    LogFlood,
    Throw,
    SyntaxError,
    Empty,
    Nul,
    LoneSurrogate,
    Search,
    DeepNesting,
    Import,
    ToolCallLimit,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Uri {
    AllTypes,
    Orders,
    Missing,
    Empty,
    Traversal,
    Http,
    Huge,
    Unicode,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Level {
    Debug,
    Info,
    Emergency,
    Bogus,
    Upper,
    Number,
}

#[derive(Arbitrary, Debug)]
enum Mutation {
    Id(Id),
    Jsonrpc(Jsonrpc),
    Method(Method),
    Params(Sub),
    RemoveParams,
    ParamField(Field, Sub),
    ArgumentField(Field, Sub),
    Meta(Sub),
    ProgressToken(Sub),
    TopField(Field, Sub),
    /// Text-level, after serialisation.
    Truncate(u16),
    FlipByte(u16, u8),
    DuplicateKey(Field, Sub),
    TrailingGarbage(Text),
    Bom,
    CrLf,
}

#[derive(Arbitrary, Debug)]
enum Id {
    Null,
    Zero,
    Negative(i64),
    Max,
    Min,
    Float(f64),
    Str(Str),
    Empty,
    Bool,
    Array,
    Object,
    /// Raw tokens that `serde_json::Value` cannot hold.
    BigInteger,
    Exponent,
    NegativeZero,
    Remove,
    LongString,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Jsonrpc {
    Remove,
    One,
    Number,
    Null,
    Padded,
    Three,
}

#[derive(Arbitrary, Debug)]
enum Method {
    Remove,
    Empty,
    Random(Str),
    Upper,
    Null,
    Number,
    WithNul,
    Rpc,
    Slash,
    Long,
    Unicode,
}

#[derive(Arbitrary, Debug)]
enum Field {
    Name,
    Arguments,
    Code,
    Query,
    Limit,
    Uri,
    Level,
    Cursor,
    ProtocolVersion,
    Capabilities,
    ClientInfo,
    RequestId,
    ProgressToken,
    Meta,
    Ref,
    Result,
    Error,
    Method,
    Id,
    Task,
    Random(Str),
}

/// A JSON value of an odd shape or type.
#[derive(Arbitrary, Debug)]
enum Odd {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Str),
    EmptyStr,
    Kilobytes(u8),
    Array(Vec<Sub>),
    Object(Vec<(Field, Sub)>),
    Deep(Depth),
    MaxU64,
    Unicode,
}

/// A short string, often odd.
#[derive(Debug)]
struct Str(String);

impl<'a> Arbitrary<'a> for Str {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let pick: u8 = u.int_in_range(0..=9)?;
        let text = match pick {
            0..=3 => {
                let s: String = u.arbitrary()?;
                s.chars().take(64).collect()
            }
            4 => "\0\u{1}\u{7f}".to_string(),
            5 => "🦀\u{feff}\u{202e}e\u{301}".to_string(),
            6 => "tools/list".to_string(),
            7 => "\\uD800 \"quoted\" \n line".to_string(),
            8 => "orders".to_string(),
            _ => String::new(),
        };
        Ok(Str(text))
    }
}

/// A nesting depth for deep JSON, past serde_json's recursion limit at times.
#[derive(Debug, Clone, Copy)]
struct Depth(usize);

impl<'a> Arbitrary<'a> for Depth {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let band: u8 = u.int_in_range(0..=9)?;
        Ok(Depth(match band {
            0..=4 => u.int_in_range(1..=64)?,
            5..=7 => u.int_in_range(100..=140)?,
            8 => u.int_in_range(1_000..=10_000)?,
            _ => 100_000,
        }))
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum DeepKind {
    Arrays,
    Objects,
    InParams,
    InArguments,
    Unclosed,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum LongField {
    Query,
    Code,
    Method,
    Id,
    Uri,
    Unknown,
}

#[derive(Debug, Clone, Copy)]
struct LongLen(usize);

impl<'a> Arbitrary<'a> for LongLen {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(LongLen(*u.choose(&[
            1 << 10,
            16 << 10,
            64 << 10,
            256 << 10,
            1 << 20,
            3 << 20,
            1 << 10,
            // Past the stdio line cap: answered with an error, the session goes on.
            MAX_LINE_BYTES + 16,
        ])?))
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Text {
    Empty,
    Spaces,
    Null,
    EmptyArray,
    EmptyObject,
    String,
    Number,
    OnlyJsonrpc,
    Lsp,
    Garbage,
    HalfObject,
    Comment,
    NaN,
    SingleQuotes,
    CarriageReturn,
    InvalidUtf8,
    Nul,
    BatchOfNothing,
    BatchOfScalars,
}

impl Text {
    fn render(self) -> Vec<u8> {
        let text: &[u8] = match self {
            Text::Empty => b"",
            Text::Spaces => b"   \t ",
            Text::Null => b"null",
            Text::EmptyArray => b"[]",
            Text::EmptyObject => b"{}",
            Text::String => b"\"tools/list\"",
            Text::Number => b"42",
            Text::OnlyJsonrpc => b"{\"jsonrpc\":\"2.0\"}",
            Text::Lsp => b"Content-Length: 52",
            Text::Garbage => b"}{][,:",
            Text::HalfObject => b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":",
            Text::Comment => b"// {\"jsonrpc\":\"2.0\"}",
            Text::NaN => b"{\"jsonrpc\":\"2.0\",\"id\":NaN,\"method\":\"ping\"}",
            Text::SingleQuotes => b"{'jsonrpc':'2.0','id':1,'method':'ping'}",
            Text::CarriageReturn => b"\r\r\r",
            Text::InvalidUtf8 => b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}",
            Text::Nul => b"\0\0\0",
            Text::BatchOfNothing => b"[[],[],{}]",
            Text::BatchOfScalars => b"[1,\"a\",null,true]",
        };
        text.to_vec()
    }
}

// ---- rendering -------------------------------------------------------------------------------

fn items<T>(list: &[T]) -> &[T] {
    &list[..list.len().min(MAX_ITEMS)]
}

/// Replaced by a raw token after serialisation.
const RAW_ID: &str = "\u{1}RAW-ID\u{1}";

impl Odd {
    fn value(&self) -> Value {
        match self {
            Odd::Null => Value::Null,
            Odd::Bool(b) => json!(b),
            Odd::Int(n) => json!(n),
            Odd::Float(f) => json!(f),
            Odd::Str(s) => json!(s.0),
            Odd::EmptyStr => json!(""),
            Odd::Kilobytes(k) => Value::String("k".repeat(1024 * (*k as usize % 64))),
            Odd::Array(list) => Value::Array(items(list).iter().map(|s| s.0.value()).collect()),
            Odd::Object(fields) => Value::Object(
                items(fields)
                    .iter()
                    .map(|(f, v)| (f.name(), v.0.value()))
                    .collect(),
            ),
            Odd::Deep(depth) => {
                let mut value = json!(1);
                for _ in 0..depth.0.min(120) {
                    value = json!([value]);
                }
                value
            }
            Odd::MaxU64 => json!(u64::MAX),
            Odd::Unicode => json!("\u{0}\u{fffd}🦀\u{10ffff}"),
        }
    }
}

impl Field {
    fn name(&self) -> String {
        match self {
            Field::Name => "name",
            Field::Arguments => "arguments",
            Field::Code => "code",
            Field::Query => "query",
            Field::Limit => "limit",
            Field::Uri => "uri",
            Field::Level => "level",
            Field::Cursor => "cursor",
            Field::ProtocolVersion => "protocolVersion",
            Field::Capabilities => "capabilities",
            Field::ClientInfo => "clientInfo",
            Field::RequestId => "requestId",
            Field::ProgressToken => "progressToken",
            Field::Meta => "_meta",
            Field::Ref => "ref",
            Field::Result => "result",
            Field::Error => "error",
            Field::Method => "method",
            Field::Id => "id",
            Field::Task => "task",
            Field::Random(s) => return s.0.clone(),
        }
        .to_string()
    }
}

impl Code {
    fn text(self) -> String {
        match self {
            Code::Return => "return 40 + 2".into(),
            Code::BusyLoop => "while (true) {}".into(),
            Code::LongTimer => "await new Promise((r) => setTimeout(r, 1e9))".into(),
            Code::ListAll => "return await tools.orders.list({ since: '2000-01-01' })".into(),
            Code::LogFlood => "for (let i = 0; i < 1e5; i++) console.log('x'.repeat(100), i)".into(),
            Code::Throw => "throw new Error('\\uD800 thrown')".into(),
            Code::SyntaxError => "const = ;".into(),
            Code::Empty => String::new(),
            Code::Nul => "\0".into(),
            Code::LoneSurrogate => "return '\\uD800'".into(),
            Code::Search => "return await tools.customers.search({ text: 'a', limit: 1e9 })".into(),
            Code::DeepNesting => format!("return {}1{}", "[".repeat(300), "]".repeat(300)),
            Code::Import => "import fs from 'fs'".into(),
            Code::ToolCallLimit => {
                "await Promise.all(Array.from({ length: 100 }, () => tools.orders.get({ id: 'x' })))"
                    .into()
            }
        }
    }
}

impl Uri {
    fn text(self) -> String {
        match self {
            Uri::AllTypes => codemode_gateway::ALL_TYPES_URI.to_string(),
            Uri::Orders => codemode_gateway::namespace_uri("orders"),
            Uri::Missing => "codemode://types/nope.d.ts".into(),
            Uri::Empty => String::new(),
            Uri::Traversal => "codemode://types/../../etc/passwd".into(),
            Uri::Http => "http://127.0.0.1:1/x".into(),
            Uri::Huge => format!("codemode://types/{}.d.ts", "n".repeat(100_000)),
            Uri::Unicode => "codemode://types/\u{0}🦀.d.ts".into(),
        }
    }
}

impl Base {
    /// The message, with `id` when it is a request.
    fn value(&self, id: u64) -> Value {
        let request = |method: &str, params: Value| json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let notification = |method: &str, params: Value| json!({ "jsonrpc": "2.0", "method": method, "params": params });
        let call = |name: &str, arguments: Value| {
            request(
                "tools/call",
                json!({ "name": name, "arguments": arguments }),
            )
        };
        let odd = |o: &Option<Sub>| o.as_ref().map_or(Value::Null, |s| s.0.value());
        match self {
            Base::Initialize => request(
                "initialize",
                json!({
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": { "name": "fuzz", "version": "1" }
                }),
            ),
            Base::Ping => json!({ "jsonrpc": "2.0", "id": id, "method": "ping" }),
            Base::ToolsList => json!({ "jsonrpc": "2.0", "id": id, "method": "tools/list" }),
            Base::ToolsListCursor(s) => request("tools/list", json!({ "cursor": s.0 })),
            Base::Search(query, limit) => {
                call("search", json!({ "query": query.0, "limit": odd(limit) }))
            }
            Base::Execute(code) => call("execute", json!({ "code": code.text() })),
            Base::ExecuteWithProgress(code) => request(
                "tools/call",
                json!({
                    "name": "execute",
                    "arguments": { "code": code.text() },
                    "_meta": { "progressToken": format!("progress-{id}") }
                }),
            ),
            Base::UnknownTool(name) => call(&name.0, json!({})),
            Base::ResourcesList => request("resources/list", json!({})),
            Base::ResourceTemplates => request("resources/templates/list", json!({})),
            Base::ResourcesRead(uri) => request("resources/read", json!({ "uri": uri.text() })),
            Base::SetLevel(level) => {
                let level = match level {
                    Level::Debug => json!("debug"),
                    Level::Info => json!("info"),
                    Level::Emergency => json!("emergency"),
                    Level::Bogus => json!("bogus"),
                    Level::Upper => json!("DEBUG"),
                    Level::Number => json!(3),
                };
                request("logging/setLevel", json!({ "level": level }))
            }
            Base::Complete => request(
                "completion/complete",
                json!({
                    "ref": { "type": "ref/prompt", "name": "x" },
                    "argument": { "name": "a", "value": "b" }
                }),
            ),
            Base::PromptsList => request("prompts/list", json!({})),
            Base::PromptsGet => request("prompts/get", json!({ "name": "x" })),
            Base::Discover => request("server/discover", json!({})),
            Base::Listen => request("subscriptions/listen", json!({ "filter": {} })),
            Base::Subscribe(uri) => request("resources/subscribe", json!({ "uri": uri.text() })),
            Base::TasksList => request("tasks/list", json!({})),
            Base::Sampling => request(
                "sampling/createMessage",
                json!({ "messages": [], "maxTokens": 1 }),
            ),
            Base::Initialized => notification("notifications/initialized", json!({})),
            Base::Cancelled(request_id) => notification(
                "notifications/cancelled",
                json!({ "requestId": odd(request_id), "reason": "fuzz" }),
            ),
            Base::Progress(token) => notification(
                "notifications/progress",
                json!({ "progressToken": odd(token), "progress": 1.5, "total": -1 }),
            ),
            Base::RootsChanged => notification("notifications/roots/list_changed", json!({})),
            Base::UnknownNotification(name) => {
                notification(&format!("notifications/{}", name.0), json!({}))
            }
            Base::UnknownMethod(name) => request(&name.0, json!({})),
            Base::Response(result) => json!({ "jsonrpc": "2.0", "id": id, "result": odd(result) }),
            Base::ErrorResponse(data) => json!({
                "jsonrpc": "2.0",
                "id": id,
                "error": { "code": -32000, "message": "fuzz", "data": odd(data) }
            }),
        }
    }
}

fn object_at<'v>(value: &'v mut Value, key: &str) -> &'v mut Map<String, Value> {
    if !value.is_object() {
        *value = json!({});
    }
    let map = value.as_object_mut().expect("an object");
    let entry = map.entry(key.to_string()).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry.as_object_mut().expect("an object")
}

/// One generated message, as the bytes of one line (without its newline).
fn render_message(base: &Base, mutations: &[Mutation], id: u64) -> Vec<u8> {
    let mut value = base.value(id);
    let mut raw_id = None;
    let mut text_ops = Vec::new();
    for mutation in items(mutations) {
        let Some(message) = value.as_object_mut() else {
            break;
        };
        match mutation {
            Mutation::Id(choice) => {
                let id = match choice {
                    Id::Null => Value::Null,
                    Id::Zero => json!(0),
                    Id::Negative(n) => json!(-n.checked_abs().unwrap_or(i64::MAX).max(1)),
                    Id::Max => json!(u64::MAX),
                    Id::Min => json!(i64::MIN),
                    Id::Float(f) => json!(f),
                    Id::Str(s) => json!(s.0),
                    Id::Empty => json!(""),
                    Id::Bool => json!(true),
                    Id::Array => json!([1, 2]),
                    Id::Object => json!({ "id": 1 }),
                    Id::BigInteger => {
                        raw_id = Some("123456789012345678901234567890");
                        json!(RAW_ID)
                    }
                    Id::Exponent => {
                        raw_id = Some("1e400");
                        json!(RAW_ID)
                    }
                    Id::NegativeZero => {
                        raw_id = Some("-0");
                        json!(RAW_ID)
                    }
                    Id::Remove => {
                        message.remove("id");
                        continue;
                    }
                    Id::LongString => json!("i".repeat(100_000)),
                };
                message.insert("id".into(), id);
            }
            Mutation::Jsonrpc(choice) => {
                let version = match choice {
                    Jsonrpc::Remove => {
                        message.remove("jsonrpc");
                        continue;
                    }
                    Jsonrpc::One => json!("1.0"),
                    Jsonrpc::Number => json!(2.0),
                    Jsonrpc::Null => Value::Null,
                    Jsonrpc::Padded => json!(" 2.0"),
                    Jsonrpc::Three => json!("3.0"),
                };
                message.insert("jsonrpc".into(), version);
            }
            Mutation::Method(choice) => {
                let method = match choice {
                    Method::Remove => {
                        message.remove("method");
                        continue;
                    }
                    Method::Empty => json!(""),
                    Method::Random(s) => json!(s.0),
                    Method::Upper => json!("TOOLS/LIST"),
                    Method::Null => Value::Null,
                    Method::Number => json!(7),
                    Method::WithNul => json!("tools/list\u{0}"),
                    Method::Rpc => json!("rpc.discover"),
                    Method::Slash => json!("/"),
                    Method::Long => json!("m".repeat(10_000)),
                    Method::Unicode => json!("tööls/lïst"),
                };
                message.insert("method".into(), method);
            }
            Mutation::Params(odd) => {
                message.insert("params".into(), odd.0.value());
            }
            Mutation::RemoveParams => {
                message.remove("params");
            }
            Mutation::ParamField(field, odd) => {
                let params = message.entry("params").or_insert_with(|| json!({}));
                if !params.is_object() {
                    *params = json!({});
                }
                if let Some(params) = params.as_object_mut() {
                    params.insert(field.name(), odd.0.value());
                }
            }
            Mutation::ArgumentField(field, odd) => {
                let params = message.entry("params").or_insert_with(|| json!({}));
                object_at(params, "arguments").insert(field.name(), odd.0.value());
            }
            Mutation::Meta(odd) => {
                let params = message.entry("params").or_insert_with(|| json!({}));
                if !params.is_object() {
                    *params = json!({});
                }
                if let Some(params) = params.as_object_mut() {
                    params.insert("_meta".into(), odd.0.value());
                }
            }
            Mutation::ProgressToken(odd) => {
                let params = message.entry("params").or_insert_with(|| json!({}));
                object_at(params, "_meta").insert("progressToken".into(), odd.0.value());
            }
            Mutation::TopField(field, odd) => {
                message.insert(field.name(), odd.0.value());
            }
            other => text_ops.push(other),
        }
    }
    let mut text = serde_json::to_vec(&value).unwrap_or_default();
    if let Some(raw) = raw_id {
        let placeholder = serde_json::to_vec(&json!(RAW_ID)).unwrap_or_default();
        if let Some(at) = find(&text, &placeholder) {
            text = [&text[..at], raw.as_bytes(), &text[at + placeholder.len()..]].concat();
        }
    }
    for op in text_ops {
        match op {
            Mutation::Truncate(at) => {
                let at = *at as usize % (text.len() + 1);
                text.truncate(at);
            }
            Mutation::FlipByte(at, byte) if !text.is_empty() => {
                let at = *at as usize % text.len();
                // Never a newline: that would split the message into two lines.
                text[at] = if *byte == b'\n' { b' ' } else { *byte };
            }
            Mutation::DuplicateKey(field, odd) if text.last() == Some(&b'}') => {
                text.pop();
                let extra = format!(
                    ",{}:{}}}",
                    json!(field.name()),
                    serde_json::to_string(&odd.0.value()).unwrap_or_default()
                );
                text.extend_from_slice(extra.as_bytes());
            }
            Mutation::TrailingGarbage(t) => text.extend(t.render()),
            Mutation::Bom => text = ["\u{feff}".as_bytes(), &text].concat(),
            Mutation::CrLf => text.push(b'\r'),
            _ => {}
        }
    }
    text
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Line {
    fn render(&self, id: &mut u64) -> Vec<u8> {
        *id += 1;
        let mut text = match self {
            Line::Mutated(base, mutations)
            | Line::Mutated2(base, mutations)
            | Line::Mutated3(base, mutations) => render_message(base, mutations, *id),
            Line::Valid(base) => render_message(base, &[], *id),
            Line::Batch(messages) => {
                let mut text = b"[".to_vec();
                for (i, (base, mutations)) in items(messages).iter().enumerate() {
                    if i > 0 {
                        text.push(b',');
                    }
                    *id += 1;
                    text.extend(render_message(base, mutations, *id));
                }
                text.push(b']');
                text
            }
            Line::Deep(kind, depth) => {
                let n = depth.0;
                match kind {
                    DeepKind::Arrays => [b"[".repeat(n), b"1".to_vec(), b"]".repeat(n)].concat(),
                    DeepKind::Objects => {
                        [b"{\"a\":".repeat(n), b"1".to_vec(), b"}".repeat(n)].concat()
                    }
                    DeepKind::InParams => [
                        format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"tools/list\",\"params\":")
                            .into_bytes(),
                        b"{\"a\":".repeat(n),
                        b"1".to_vec(),
                        b"}".repeat(n + 1),
                    ]
                    .concat(),
                    DeepKind::InArguments => [
                        format!(
                            "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"tools/call\",\"params\":{{\"name\":\"execute\",\"arguments\":{{\"code\":\"return 1\",\"x\":"
                        )
                        .into_bytes(),
                        b"[".repeat(n),
                        b"]".repeat(n),
                        b"}}}".to_vec(),
                    ]
                    .concat(),
                    DeepKind::Unclosed => b"[{\"a\":".repeat(n),
                }
            }
            Line::Bytes(bytes) => bytes.iter().take(4096).copied().collect(),
            Line::Long(base, field, len) => {
                let long = "x".repeat(len.0);
                let call = |name: &str, arguments: Value| {
                    json!({
                        "jsonrpc": "2.0", "id": *id, "method": "tools/call",
                        "params": { "name": name, "arguments": arguments }
                    })
                };
                let value = match field {
                    LongField::Query => call("search", json!({ "query": long })),
                    LongField::Code => call(
                        "execute",
                        json!({ "code": format!("return '{long}'.length") }),
                    ),
                    LongField::Uri => json!({
                        "jsonrpc": "2.0", "id": *id, "method": "resources/read",
                        "params": { "uri": long }
                    }),
                    LongField::Method | LongField::Id | LongField::Unknown => {
                        let mut value = base.value(*id);
                        let key = match field {
                            LongField::Method => "method",
                            LongField::Id => "id",
                            _ => "padding",
                        };
                        if let Some(message) = value.as_object_mut() {
                            message.insert(key.into(), json!(long));
                        }
                        value
                    }
                };
                serde_json::to_vec(&value).unwrap_or_default()
            }
            Line::Text(text) => text.render(),
        };
        // One message, one line: a newline inside would make it two.
        for byte in &mut text {
            if *byte == b'\n' {
                *byte = b' ';
            }
        }
        text.push(b'\n');
        text
    }
}

// ---- the session under test ------------------------------------------------------------------

/// What the server wrote: a JSON message, or a line that is not JSON.
enum Output {
    Message(Value),
    NotJson(String),
}

struct Session {
    writer: WriteHalf<DuplexStream>,
    output: mpsc::UnboundedReceiver<Output>,
    server: JoinHandle<String>,
    shutdown: CancellationToken,
    /// Answers (results, errors) and notifications the server sent besides the probes'.
    seen: Seen,
}

#[derive(Default, Clone, Copy)]
struct Seen {
    results: usize,
    errors: usize,
    notifications: usize,
}

impl Session {
    /// Serves one session with `serve_stdio_on` (what `serve_stdio` runs on stdin and
    /// stdout) over an in-memory pipe, and initializes it.
    async fn start(gateway: &Gateway) -> Result<Session, String> {
        let (client, server) = tokio::io::duplex(1 << 16);
        let (server_read, server_write) = tokio::io::split(server);
        let shutdown = CancellationToken::new();
        let gateway = gateway.clone();
        let ct = shutdown.clone();
        let server = tokio::spawn(async move {
            let served = serve_stdio_on(&gateway, server_read, server_write, ct).await;
            format!("{served:?}")
        });
        let (client_read, writer) = tokio::io::split(client);
        let (tx, output) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(client_read);
            let mut line = Vec::new();
            loop {
                line.clear();
                match lines.read_until(b'\n', &mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let message = match serde_json::from_slice::<Value>(&line) {
                    Ok(value) => Output::Message(value),
                    Err(_) => Output::NotJson(String::from_utf8_lossy(&line).into_owned()),
                };
                if tx.send(message).is_err() {
                    return;
                }
            }
        });
        let mut session = Session {
            writer,
            output,
            server,
            shutdown,
            seen: Seen::default(),
        };
        let initialize = render_message(&Base::Initialize, &[], 0);
        session
            .write(&[initialize, b"\n".to_vec()].concat())
            .await?;
        session
            .answer(&json!(0), PROBE_TIMEOUT)
            .await
            .map_err(|e| format!("initialize: {e}"))?;
        let initialized = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        session
            .write(&[initialized.as_slice(), b"\n"].concat())
            .await?;
        Ok(session)
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        let write = async {
            self.writer.write_all(bytes).await?;
            self.writer.flush().await
        };
        match tokio::time::timeout(PROBE_TIMEOUT, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("the server stopped reading: {e}")),
            Err(_) => Err(format!(
                "the server did not read {} bytes within {PROBE_TIMEOUT:?}",
                bytes.len()
            )),
        }
    }

    /// Waits for the answer to request `id`, skipping everything else the server says.
    async fn answer(&mut self, id: &Value, timeout: Duration) -> Result<Value, String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let next = tokio::time::timeout_at(deadline, self.output.recv()).await;
            match next {
                Err(_) => return Err(format!("no answer within {timeout:?}")),
                Ok(None) => return Err("the server closed its output".to_string()),
                Ok(Some(Output::NotJson(line))) => {
                    let line: String = line.chars().take(200).collect();
                    return Err(format!(
                        "the server wrote a line that is not JSON: {line:?}"
                    ));
                }
                Ok(Some(Output::Message(message))) => {
                    if message.get("id") == Some(id) {
                        return Ok(message);
                    }
                    if message.get("result").is_some() {
                        self.seen.results += 1;
                    } else if message.get("error").is_some() {
                        self.seen.errors += 1;
                    } else {
                        self.seen.notifications += 1;
                    }
                }
            }
        }
    }

    /// Sends a well-formed `tools/list` and checks its answer.
    async fn probe(&mut self, n: u64) -> Result<(), String> {
        let id = json!(format!("probe-{n}"));
        let line = format!(
            "{}\n",
            json!({ "jsonrpc": "2.0", "id": id.clone(), "method": "tools/list", "params": {} })
        );
        self.write(line.as_bytes()).await?;
        let answer = self.answer(&id, PROBE_TIMEOUT).await?;
        let names: Vec<&str> = answer["result"]["tools"]
            .as_array()
            .map(|tools| tools.iter().filter_map(|t| t["name"].as_str()).collect())
            .unwrap_or_default();
        if names != ["search", "execute"] {
            let answer: String = answer.to_string().chars().take(300).collect();
            return Err(format!("the probe got a wrong answer: {answer}"));
        }
        Ok(())
    }

    /// Closes the client's side; the session must end by itself, cleanly.
    async fn close(mut self) -> Result<(), String> {
        // As a client closing the server's stdin: the server reads the end of its input.
        let _ = self.writer.shutdown().await;
        let ended = tokio::time::timeout(Duration::from_secs(10), self.server).await;
        self.shutdown.cancel();
        match ended {
            Ok(Ok(reason)) if reason == "Ok(())" => Ok(()),
            Ok(Ok(reason)) => Err(format!("the session ended with {reason}")),
            Ok(Err(e)) => Err(format!("the session task failed: {e}")),
            Err(_) => Err("the session did not end after its input closed".to_string()),
        }
    }
}

// ---- findings --------------------------------------------------------------------------------

static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records every panic (on any task or thread), then lets the default hook print it.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = match (
                info.payload().downcast_ref::<&str>(),
                info.payload().downcast_ref::<String>(),
            ) {
                (Some(s), _) => (*s).to_string(),
                (_, Some(s)) => s.clone(),
                _ => "(non-string panic payload)".to_string(),
            };
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            if let Ok(mut panics) = PANICS.lock() {
                panics.push(format!("{message} at {location}"));
            }
            previous(info);
        }));
    });
}

fn take_panics() -> Vec<String> {
    PANICS
        .lock()
        .map(|mut p| std::mem::take(&mut *p))
        .unwrap_or_default()
}

fn signature(class: &str, detail: &str) -> String {
    let detail: String = detail
        .chars()
        .take(80)
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect();
    format!("{class}: {detail}")
}

fn known(signature: &str) -> Option<&'static str> {
    KNOWN_FINDINGS
        .iter()
        .find(|(prefix, _)| signature.starts_with(prefix))
        .map(|(_, why)| *why)
}

fn report(line: &str) {
    // Straight to the process's stderr, past the test harness's capture, so CI logs show it.
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The lines of round `n`, from its seed alone.
fn round(seed: u64, n: u64) -> Option<Vec<Vec<u8>>> {
    let mut rng = XorShift64::new(seed ^ n.wrapping_mul(0xA24B_AED4_963E_E407));
    let len = 16 + (rng.next() % 1024) as usize;
    let data = rng.bytes(len);
    let mut u = Unstructured::new(&data);
    let round = Round::arbitrary(&mut u).ok()?;
    let mut id = 1_000 * (n + 1);
    Some(
        round
            .lines
            .iter()
            .take(MAX_LINES)
            .map(|line| line.render(&mut id))
            .collect(),
    )
}

fn shown(lines: &[Vec<u8>]) -> String {
    lines
        .iter()
        .map(|line| {
            let text = String::from_utf8_lossy(line);
            let mut shown: String = text.trim_end_matches('\n').chars().take(300).collect();
            if text.len() > 300 {
                shown.push_str(&format!("… ({} bytes)", line.len()));
            }
            format!("  {}", shown.escape_debug())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_json_rpc_never_stops_the_stdio_session() {
    install_panic_hook();
    let explicit = env_u64("CODEMODE_FUZZ_ITERATIONS");
    let rounds = explicit.unwrap_or(DEFAULT_ROUNDS);
    let budget = match (env_u64("CODEMODE_FUZZ_SECONDS"), explicit) {
        (Some(seconds), _) => Some(Duration::from_secs(seconds)),
        (None, Some(_)) => None,
        (None, None) => Some(DEFAULT_BUDGET),
    };
    let seed = env_u64("CODEMODE_FUZZ_SEED").unwrap_or(DEFAULT_SEED);

    // `CODEMODE_FUZZ_VERBOSE=1`: say which rounds are slow.
    let verbose = std::env::var_os("CODEMODE_FUZZ_VERBOSE").is_some();
    let gateway = gateway();
    let started = Instant::now();
    let mut session = Session::start(&gateway)
        .await
        .expect("a well-formed session starts");
    let mut ran = 0u64;
    let mut lines_sent = 0usize;
    let mut bytes_sent = 0usize;
    let mut restarts = 0usize;
    let mut seen = Seen::default();
    // Signature -> (count, first report, known why).
    let mut findings = BTreeMap::<String, (usize, String, Option<&'static str>)>::new();
    let mut record = |class: &str, detail: &str, n: u64, lines: &[Vec<u8>]| {
        let signature = signature(class, detail);
        let entry = findings.entry(signature.clone()).or_insert_with(|| {
            let text = format!(
                "{signature}\n  first at seed {seed:#x} round {n}, after these lines:\n{}",
                shown(lines)
            );
            (0, text, known(&signature))
        });
        entry.0 += 1;
    };
    for n in 0..rounds {
        if budget.is_some_and(|b| started.elapsed() > b) {
            break;
        }
        let Some(lines) = round(seed, n) else {
            continue;
        };
        ran += 1;
        let one = Instant::now();
        let mut failure = None;
        for line in &lines {
            lines_sent += 1;
            bytes_sent += line.len();
            if let Err(e) = session.write(line).await {
                failure = Some(("stopped-reading", e));
                break;
            }
        }
        if failure.is_none() {
            if let Err(e) = session.probe(n).await {
                let class = if session.server.is_finished() {
                    "stopped-serving"
                } else {
                    "probe-failed"
                };
                failure = Some((class, e));
            }
        }
        if verbose && one.elapsed() > Duration::from_millis(200) {
            report(&format!(
                "slow: round {n} took {:.1?}:\n{}",
                one.elapsed(),
                shown(&lines)
            ));
        }
        for panic in take_panics() {
            record("panic", &panic, n, &lines);
        }
        if let Some((class, detail)) = failure {
            let detail = if session.server.is_finished() {
                let server =
                    std::mem::replace(&mut session.server, tokio::spawn(async { String::new() }));
                let reason = server.await.unwrap_or_else(|e| format!("task failed: {e}"));
                format!("{detail} (the session ended: {reason})")
            } else {
                detail
            };
            record(class, &detail, n, &lines);
            // Go on with a fresh session, as a client would restart the server.
            session.shutdown.cancel();
            seen.results += session.seen.results;
            seen.errors += session.seen.errors;
            seen.notifications += session.seen.notifications;
            restarts += 1;
            session = Session::start(&gateway)
                .await
                .expect("a well-formed session starts");
        }
    }
    seen.results += session.seen.results;
    seen.errors += session.seen.errors;
    seen.notifications += session.seen.notifications;
    if let Err(e) = session.close().await {
        record("unclean-close", &e, rounds, &[]);
    }
    for panic in take_panics() {
        record("panic", &panic, rounds, &[]);
    }

    let new = findings.values().filter(|f| f.2.is_none()).count();
    report(&format!(
        "fuzz_jsonrpc: {ran} rounds (of {rounds}, seed {seed:#x}) in {:.1?}: {lines_sent} \
         generated lines ({:.1} MiB) and {ran} probes, answered by {} results, {} errors and {} \
         notifications besides the probes'; {restarts} session restart(s); {} distinct \
         finding(s), {new} not known",
        started.elapsed(),
        bytes_sent as f64 / (1024.0 * 1024.0),
        seen.results,
        seen.errors,
        seen.notifications,
        findings.len(),
    ));
    for (count, text, known) in findings.values() {
        let status = match known {
            Some(why) => format!("KNOWN ({why})"),
            None => "NEW".to_string(),
        };
        report(&format!("[{status}, {count}x] {text}"));
    }
    assert_eq!(new, 0, "{new} new finding(s); see above");
}
