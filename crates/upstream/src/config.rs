//! The upstream-servers file, in the format users already have.
//!
//! Accepted: Claude Desktop / Cursor files (`{"mcpServers": {...}}`) and VS Code's `mcp.json`
//! (`{"servers": {...}}`, JSON with comments). Each entry is a stdio child process
//! (`command`, `args`, `env`, `cwd`) or an HTTP server (`url`, `headers`); VS Code's
//! `"type": "stdio" | "http" | "sse"` is honoured, `"sse"` meaning the legacy HTTP+SSE transport.
//!
//! Our own per-entry fields:
//!
//! | field              | meaning                                                             |
//! |--------------------|---------------------------------------------------------------------|
//! | `disabled`         | `true`: keep the entry but do not start it                          |
//! | `tools`            | `{"allow": [names]}` exposes only those tools, `{"hide": [names]}` exposes all but those (original tool names) |
//! | `startupTimeoutMs` | spawn/connect + `initialize` + `tools/list` must finish within this (default 30 000) |
//! | `callTimeoutMs`    | upper bound for one tool call to this server (the caller's deadline still applies) |
//! | `protocol`         | `"auto"` (default), `"2026-07-28"` or `"2025-11-25"`: which MCP era to speak, see [`Protocol`] |
//!
//! `${NAME}` and `${env:NAME}` in `command`, `args`, `env` values, `cwd`, `url` and `headers`
//! values are filled from the gateway's environment at load time; an unset variable is an error
//! that names it. Unknown fields are ignored with a warning so a file shared with another client
//! keeps working. Every error names the file, the entry and the field.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::interpolate::expand;

/// Startup budget when an entry does not set `startupTimeoutMs`: generous because `npx`/`uvx`
/// launchers may install the server on first run.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A parsed config file: the upstream servers, in name order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where the config came from (file path or a label); used in messages.
    pub origin: String,
    pub servers: Vec<ServerConfig>,
}

/// One upstream server entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The entry's key in `mcpServers` / `servers`.
    pub name: String,
    pub transport: Transport,
    /// `"disabled": true` entries are listed (status `Disabled`) but never started.
    pub disabled: bool,
    pub tools: ToolFilter,
    pub startup_timeout: Duration,
    /// Caps every call to this server; `None` leaves only the caller's deadline.
    pub call_timeout: Option<Duration>,
    /// Which protocol era to speak to it.
    pub protocol: Protocol,
}

impl ServerConfig {
    /// An enabled entry with default timeouts and no tool filter.
    pub fn new(name: impl Into<String>, transport: Transport) -> Self {
        ServerConfig {
            name: name.into(),
            transport,
            disabled: false,
            tools: ToolFilter::All,
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            call_timeout: None,
            protocol: Protocol::Auto,
        }
    }
}

/// Which of MCP's two live protocol eras to speak to a server (the entry's `"protocol"`).
///
/// 2025-11-25 and earlier open a session with the `initialize` handshake; 2026-07-28 has no
/// handshake or session: the client asks `server/discover` and every request carries its own
/// protocol version and client identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// `"auto"`: whichever the server speaks, preferring 2026-07-28.
    ///
    /// Over Streamable HTTP the client asks `server/discover` first and falls back to
    /// `initialize` when the server answers that it does not know it (one quick round trip for
    /// an older server). Over stdio it is the other way round: `initialize` first, and only a
    /// server that refuses it is restarted and asked `server/discover`. A discover probe on a
    /// stdio server that is still starting (an `npx` install) or that ignores, or dies of,
    /// requests before `initialize` would stall or break startup, while every server answers
    /// `initialize` one way or the other.
    #[default]
    Auto,
    /// `"2025-11-25"`: the `initialize` handshake only (the server may negotiate an older
    /// version such as 2025-06-18 or 2024-11-05).
    Initialize,
    /// `"2026-07-28"`: `server/discover` only; a server that does not speak 2026-07-28 fails
    /// to start.
    Discover,
}

impl Protocol {
    /// The config value that selects this choice.
    pub fn as_config_value(self) -> &'static str {
        match self {
            Protocol::Auto => "auto",
            Protocol::Initialize => "2025-11-25",
            Protocol::Discover => "2026-07-28",
        }
    }
}

/// How to reach an upstream server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A child process speaking newline-delimited JSON-RPC on stdin/stdout.
    Stdio(StdioServer),
    /// Streamable HTTP (MCP 2025-03-26 and later). Falls back to legacy HTTP+SSE when the
    /// server turns out to speak only that.
    StreamableHttp(HttpServer),
    /// The legacy HTTP+SSE transport (MCP 2024-11-05), asked for with `"type": "sse"`.
    Sse(HttpServer),
}

/// A stdio server: the process to start. The child inherits the gateway's environment plus `env`.
#[derive(Clone, PartialEq, Eq)]
pub struct StdioServer {
    pub command: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Working directory; relative paths are relative to the gateway's working directory.
    pub cwd: Option<PathBuf>,
}

/// An HTTP server: its endpoint URL and extra request headers (e.g. `Authorization`).
#[derive(Clone, PartialEq, Eq)]
pub struct HttpServer {
    pub url: String,
    pub headers: BTreeMap<String, String>,
}

// Env and header values usually hold secrets filled from the environment: Debug output (which
// ends up in logs) shows their names only.
impl std::fmt::Debug for StdioServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdioServer")
            .field("command", &self.command)
            .field("args", &self.args)
            .field("env", &RedactedKeys(&self.env))
            .field("cwd", &self.cwd)
            .finish()
    }
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("url", &self.url)
            .field("headers", &RedactedKeys(&self.headers))
            .finish()
    }
}

struct RedactedKeys<'a>(&'a BTreeMap<String, String>);

impl std::fmt::Debug for RedactedKeys<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "<redacted>")))
            .finish()
    }
}

/// Which of a server's tools are exposed, by original tool name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolFilter {
    #[default]
    All,
    /// Only these tools (`"tools": {"allow": [...]}`).
    Allow(BTreeSet<String>),
    /// All tools except these (`"tools": {"hide": [...]}`).
    Hide(BTreeSet<String>),
}

impl ToolFilter {
    /// Whether the tool called `name` is exposed.
    pub fn permits(&self, name: &str) -> bool {
        match self {
            ToolFilter::All => true,
            ToolFilter::Allow(names) => names.contains(name),
            ToolFilter::Hide(names) => !names.contains(name),
        }
    }
}

/// A config file that cannot be used. The message names the file, the entry and the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read the config file: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}:{line}:{column}: invalid JSON: {message}")]
    Syntax {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// `path` is the dotted location of the offending field, e.g. `mcpServers.memory.args`.
    #[error("{origin}: {path}: {message}")]
    Invalid {
        origin: String,
        path: String,
        message: String,
    },
}

impl Config {
    /// Reads and parses the file at `path`, filling `${VAR}`s from this process's environment.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string(), |name| {
            std::env::var(name).ok()
        })
    }

    /// Parses config `text`. `origin` names it in messages; `env_lookup` fills `${VAR}`s.
    pub fn parse(
        text: &str,
        origin: &str,
        env_lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let parser = Parser {
            origin,
            lookup: &env_lookup,
        };
        parser.parse_document(text)
    }

    /// The entry called `name`, if any.
    pub fn server(&self, name: &str) -> Option<&ServerConfig> {
        self.servers.iter().find(|s| s.name == name)
    }
}

/// Fields of one entry that this crate understands; anything else is warned about and ignored.
const ENTRY_FIELDS: &[&str] = &[
    "type",
    "command",
    "args",
    "env",
    "cwd",
    "url",
    "headers",
    "disabled",
    "tools",
    "startupTimeoutMs",
    "callTimeoutMs",
    "protocol",
];
const STDIO_ONLY_FIELDS: &[&str] = &["command", "args", "env", "cwd"];
const HTTP_ONLY_FIELDS: &[&str] = &["url", "headers"];

struct Parser<'a> {
    origin: &'a str,
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Parser<'_> {
    fn invalid(&self, path: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            origin: self.origin.to_owned(),
            path: path.to_owned(),
            message: message.into(),
        }
    }

    fn expected(&self, path: &str, what: &str, found: &Value) -> ConfigError {
        self.invalid(path, format!("expected {what}, found {}", json_kind(found)))
    }

    fn parse_document(&self, text: &str) -> Result<Config, ConfigError> {
        let document = self.parse_json(text)?;
        let root = document
            .as_object()
            .ok_or_else(|| self.expected("(top level)", "an object", &document))?;
        let (key, servers) = match (root.get("mcpServers"), root.get("servers")) {
            (Some(_), Some(_)) => {
                return Err(self.invalid(
                    "(top level)",
                    "has both `mcpServers` and `servers`; keep one",
                ))
            }
            (Some(servers), None) => ("mcpServers", servers),
            (None, Some(servers)) => ("servers", servers),
            (None, None) => {
                return Err(self.invalid(
                    "(top level)",
                    "no `mcpServers` object (or VS Code's `servers`) with the upstream servers",
                ))
            }
        };
        for other in root.keys().filter(|k| k.as_str() != key) {
            tracing::warn!(config = self.origin, field = %other, "ignoring unknown top-level field");
        }
        let servers = servers
            .as_object()
            .ok_or_else(|| self.expected(key, "an object of servers", servers))?;
        let servers = servers
            .iter()
            .map(|(name, entry)| self.parse_server(name, &child_path(key, name), entry))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Config {
            origin: self.origin.to_owned(),
            servers,
        })
    }

    fn parse_json(&self, text: &str) -> Result<Value, ConfigError> {
        // Comments are replaced by spaces, so line/column numbers still point into `text`.
        let stripped = json_comments::StripComments::new(text.as_bytes());
        serde_json::from_reader(stripped).map_err(|err| {
            let (line, column) = (err.line(), err.column());
            let full = err.to_string();
            let position = format!(" at line {line} column {column}");
            let message = full.strip_suffix(&position).unwrap_or(&full).to_owned();
            ConfigError::Syntax {
                origin: self.origin.to_owned(),
                line,
                column,
                message,
            }
        })
    }

    fn parse_server(
        &self,
        name: &str,
        path: &str,
        entry: &Value,
    ) -> Result<ServerConfig, ConfigError> {
        if name.is_empty() {
            return Err(self.invalid(path, "server names must not be empty"));
        }
        let fields = entry
            .as_object()
            .ok_or_else(|| self.expected(path, "an object", entry))?;
        let transport = self.parse_transport(path, fields)?;
        let stray: &[&str] = match transport {
            Transport::Stdio(_) => HTTP_ONLY_FIELDS,
            Transport::StreamableHttp(_) | Transport::Sse(_) => STDIO_ONLY_FIELDS,
        };
        for key in fields.keys() {
            if stray.contains(&key.as_str()) {
                tracing::warn!(config = self.origin, field = %child_path(path, key),
                    "ignoring a field that does not apply to this server's transport");
            } else if !ENTRY_FIELDS.contains(&key.as_str()) {
                tracing::warn!(config = self.origin, field = %child_path(path, key),
                    "ignoring unknown field");
            }
        }
        let disabled = match fields.get("disabled") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(self.expected(&child_path(path, "disabled"), "true or false", other))
            }
        };
        let tools = match fields.get("tools") {
            None => ToolFilter::All,
            Some(value) => self.parse_tool_filter(&child_path(path, "tools"), value)?,
        };
        let startup_timeout = self
            .millis(path, fields, "startupTimeoutMs")?
            .unwrap_or(DEFAULT_STARTUP_TIMEOUT);
        let call_timeout = self.millis(path, fields, "callTimeoutMs")?;
        let protocol = self.parse_protocol(path, fields, &transport)?;
        Ok(ServerConfig {
            name: name.to_owned(),
            transport,
            disabled,
            tools,
            startup_timeout,
            call_timeout,
            protocol,
        })
    }

    fn parse_protocol(
        &self,
        path: &str,
        fields: &Map<String, Value>,
        transport: &Transport,
    ) -> Result<Protocol, ConfigError> {
        let protocol_path = child_path(path, "protocol");
        let protocol = match fields.get("protocol") {
            None => return Ok(Protocol::Auto),
            Some(Value::String(value)) => match value.as_str() {
                "auto" => Protocol::Auto,
                "2026-07-28" => Protocol::Discover,
                "2025-11-25" => Protocol::Initialize,
                other => {
                    return Err(self.invalid(
                        &protocol_path,
                        format!(
                            r#"unknown protocol "{other}": expected "auto", "2026-07-28" or "2025-11-25""#
                        ),
                    ))
                }
            },
            Some(other) => return Err(self.expected(&protocol_path, "a string", other)),
        };
        // The HTTP+SSE transport predates 2026-07-28, which has no such transport.
        if matches!(transport, Transport::Sse(_)) && protocol == Protocol::Discover {
            return Err(self.invalid(
                &protocol_path,
                r#"the legacy HTTP+SSE transport ("type": "sse") only speaks 2024-11-05; 2026-07-28 needs Streamable HTTP or stdio"#,
            ));
        }
        Ok(protocol)
    }

    fn parse_transport(
        &self,
        path: &str,
        fields: &Map<String, Value>,
    ) -> Result<Transport, ConfigError> {
        #[derive(PartialEq)]
        enum Kind {
            Stdio,
            Http,
            Sse,
        }
        let type_path = child_path(path, "type");
        let declared = match fields.get("type") {
            None => None,
            Some(Value::String(t)) => Some(match t.as_str() {
                "stdio" => Kind::Stdio,
                "http" | "streamable-http" | "streamableHttp" | "streamable_http" => Kind::Http,
                "sse" => Kind::Sse,
                other => {
                    return Err(self.invalid(
                        &type_path,
                        format!(
                            r#"unknown transport "{other}": expected "stdio", "http" or "sse""#
                        ),
                    ))
                }
            }),
            Some(other) => return Err(self.expected(&type_path, "a string", other)),
        };
        let has_command = fields.contains_key("command");
        let has_url = fields.contains_key("url");
        let kind = match declared {
            Some(kind) => kind,
            None if has_command && has_url => {
                return Err(self.invalid(
                    path,
                    "has both `command` and `url`; add `\"type\"` or keep one",
                ))
            }
            None if has_command => Kind::Stdio,
            None if has_url => Kind::Http,
            None => {
                return Err(self.invalid(
                    path,
                    "needs `command` (a stdio server) or `url` (an HTTP server)",
                ))
            }
        };
        if kind == Kind::Stdio {
            Ok(Transport::Stdio(self.parse_stdio(path, fields)?))
        } else {
            let server = self.parse_http(path, fields)?;
            Ok(if kind == Kind::Sse {
                Transport::Sse(server)
            } else {
                Transport::StreamableHttp(server)
            })
        }
    }

    fn parse_stdio(
        &self,
        path: &str,
        fields: &Map<String, Value>,
    ) -> Result<StdioServer, ConfigError> {
        let command_path = child_path(path, "command");
        let command = match fields.get("command") {
            Some(Value::String(c)) => self.fill(&command_path, c)?,
            Some(other) => return Err(self.expected(&command_path, "a string", other)),
            None => return Err(self.invalid(path, "a stdio server needs `command`")),
        };
        if command.trim().is_empty() {
            return Err(self.invalid(&command_path, "must not be empty"));
        }
        let args_path = child_path(path, "args");
        let args = match fields.get("args") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let item_path = format!("{args_path}[{i}]");
                    match item {
                        Value::String(s) => self.fill(&item_path, s),
                        other => Err(self.expected(&item_path, "a string", other)),
                    }
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(self.expected(&args_path, "an array of strings", other)),
        };
        let env = self.string_map(&child_path(path, "env"), fields.get("env"))?;
        let cwd_path = child_path(path, "cwd");
        let cwd = match fields.get("cwd") {
            None => None,
            Some(Value::String(c)) => Some(PathBuf::from(self.fill(&cwd_path, c)?)),
            Some(other) => return Err(self.expected(&cwd_path, "a string", other)),
        };
        Ok(StdioServer {
            command,
            args,
            env,
            cwd,
        })
    }

    fn parse_http(
        &self,
        path: &str,
        fields: &Map<String, Value>,
    ) -> Result<HttpServer, ConfigError> {
        let url_path = child_path(path, "url");
        let url = match fields.get("url") {
            Some(Value::String(u)) => self.fill(&url_path, u)?,
            Some(other) => return Err(self.expected(&url_path, "a string", other)),
            None => return Err(self.invalid(path, "an HTTP server needs `url`")),
        };
        match reqwest::Url::parse(&url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
            Ok(parsed) => {
                return Err(self.invalid(
                    &url_path,
                    format!(
                        "expected an http:// or https:// URL, found a {}: URL",
                        parsed.scheme()
                    ),
                ))
            }
            Err(err) => return Err(self.invalid(&url_path, format!("not a valid URL: {err}"))),
        }
        let headers_path = child_path(path, "headers");
        let headers = self.string_map(&headers_path, fields.get("headers"))?;
        for (name, value) in &headers {
            let header_path = child_path(&headers_path, name);
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(self.invalid(&header_path, "not a valid HTTP header name"));
            }
            // The value is likely a secret: say what is wrong with it without echoing it.
            if http::HeaderValue::from_str(value).is_err() {
                return Err(self.invalid(
                    &header_path,
                    "not a valid HTTP header value (control characters or non-ASCII text)",
                ));
            }
        }
        Ok(HttpServer { url, headers })
    }

    fn parse_tool_filter(&self, path: &str, value: &Value) -> Result<ToolFilter, ConfigError> {
        let expected = r#"{"allow": [tool names]} or {"hide": [tool names]}"#;
        let fields = value
            .as_object()
            .ok_or_else(|| self.expected(path, expected, value))?;
        if let Some(unknown) = fields
            .keys()
            .find(|k| !matches!(k.as_str(), "allow" | "hide"))
        {
            return Err(self.invalid(
                &child_path(path, unknown),
                format!("unknown key: expected {expected}"),
            ));
        }
        match (fields.get("allow"), fields.get("hide")) {
            (Some(_), Some(_)) => Err(self.invalid(path, "`allow` and `hide` cannot be combined")),
            (Some(allow), None) => Ok(ToolFilter::Allow(
                self.name_set(&child_path(path, "allow"), allow)?,
            )),
            (None, Some(hide)) => Ok(ToolFilter::Hide(
                self.name_set(&child_path(path, "hide"), hide)?,
            )),
            (None, None) => Err(self.invalid(path, format!("expected {expected}"))),
        }
    }

    fn name_set(&self, path: &str, value: &Value) -> Result<BTreeSet<String>, ConfigError> {
        let items = value
            .as_array()
            .ok_or_else(|| self.expected(path, "an array of tool names", value))?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(self.expected(&format!("{path}[{i}]"), "a tool name (string)", other)),
            })
            .collect()
    }

    fn string_map(
        &self,
        path: &str,
        value: Option<&Value>,
    ) -> Result<BTreeMap<String, String>, ConfigError> {
        let Some(value) = value else {
            return Ok(BTreeMap::new());
        };
        let fields = value
            .as_object()
            .ok_or_else(|| self.expected(path, "an object of strings", value))?;
        fields
            .iter()
            .map(|(key, v)| {
                let item_path = child_path(path, key);
                match v {
                    Value::String(s) => Ok((key.clone(), self.fill(&item_path, s)?)),
                    other => Err(self.expected(&item_path, "a string", other)),
                }
            })
            .collect()
    }

    fn millis(
        &self,
        path: &str,
        fields: &Map<String, Value>,
        key: &str,
    ) -> Result<Option<Duration>, ConfigError> {
        let Some(value) = fields.get(key) else {
            return Ok(None);
        };
        match value.as_u64() {
            Some(ms) if ms > 0 => Ok(Some(Duration::from_millis(ms))),
            _ => Err(self.expected(
                &child_path(path, key),
                "a positive whole number of milliseconds",
                value,
            )),
        }
    }

    fn fill(&self, path: &str, text: &str) -> Result<String, ConfigError> {
        expand(text, self.lookup).map_err(|err| self.invalid(path, err.to_string()))
    }
}

/// `parent.key`, or `parent["key"]` when the key would not read as one path segment.
fn child_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        format!("{parent}.{key}")
    } else {
        format!("{parent}[{}]", Value::String(key.to_owned()))
    }
}

/// How an error message names a JSON value's type ("expected …, found a number").
pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
