//! The upstream-servers file, in the format users already have.
//!
//! Accepted: Claude Desktop / Cursor files (`{"mcpServers": {...}}`) and VS Code's `mcp.json`
//! (`{"servers": {...}}`, JSONC as VS Code writes it: `//` and `/* */` comments, trailing commas).
//! Each entry is a stdio child process (`command`, `args`, `env`, `envFile`, `cwd`) or an HTTP
//! server (`url`, `headers`); VS Code's `"type": "stdio" | "http" | "sse"` is honoured, `"sse"`
//! meaning the legacy HTTP+SSE transport.
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
//! | `inheritEnv`       | stdio: the gateway's environment variables the child may inherit, by name or `PREFIX*` pattern, see [`StdioServer::inherit_env`] |
//! | `envFile`          | stdio (VS Code's field): a dotenv file whose variables are added to `env`; `env` wins on conflicts |
//!
//! `${NAME}` and `${env:NAME}` in `command`, `args`, `env` values, `envFile`, `cwd`, `url` and
//! `headers` values are filled from the gateway's environment at load time; an unset variable is
//! an error that names it. Values read from an `envFile` are taken as written, never filled.
//!
//! Relative paths in `cwd`, `envFile` and a `command` with a `/` in it (`./server.sh`,
//! `bin/server`) are relative to the config file's folder ([`Config::load`], or the base folder
//! given to [`Config::parse_in`]); a bare `command` such as `npx` is looked up in `PATH`, and
//! `args` are passed on untouched.
//!
//! Beside the servers, a top-level `codemode` object holds the operator's settings for the
//! gateway itself: `{"codemode": {"limits": {"cpuTime": "10s", "wallTime": "500ms", "memory":
//! "256MiB", "maxToolCalls": 100, "maxResultBytes": "64KiB"}}}`, see [`LimitSettings`].
//!
//! One bad entry costs only itself: an entry that cannot be used (a wrong type, an unset
//! variable, a bad URL, an unreadable `envFile`...) is left out of [`Config::servers`], listed in
//! [`Config::broken`] with the reason and logged, and every other entry works. Problems with the
//! file as a whole (unreadable, invalid JSON, no `mcpServers`/`servers`, a bad `codemode`
//! section) are errors of [`Config::parse`] / [`Config::load`]. Unknown fields are ignored with a
//! warning so a file shared with another client keeps working. Every message names the file,
//! the entry and the field.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::interpolate::expand;
use crate::units;

/// Startup budget when an entry does not set `startupTimeoutMs`: generous because `npx`/`uvx`
/// launchers may install the server on first run.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A parsed config file: the upstream servers, in the file's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where the config came from (file path or a label); used in messages.
    pub origin: String,
    /// The entries that can be used.
    pub servers: Vec<ServerConfig>,
    /// The entries that cannot be used, in the file's order: each was logged when the file was
    /// parsed and is left out of `servers`, while every other entry works.
    pub broken: Vec<BrokenEntry>,
    /// The operator's limits (`codemode.limits`); all `None` when the file sets none.
    pub limits: LimitSettings,
    /// The top-level `policy` object as written; `codemode-policy` reads it (strictly: a
    /// policy the gateway cannot read stops it from starting).
    pub policy: Option<Value>,
    /// `codemode.approvals`: the keys that seal 2026-07-28 approval state, and its TTL.
    pub approvals: ApprovalSettings,
    /// `codemode.audit`: where the audit trail goes.
    pub audit: AuditSettings,
    /// The top-level `openapi` object as written; `codemode-openapi` reads it, relative
    /// `spec` paths against [`Config::base_dir`].
    pub openapi: Option<Value>,
    /// The config file's folder, when it came from a file.
    pub base_dir: Option<PathBuf>,
}

/// `codemode.approvals`: `{"keys": [{"id": "k2", "secret": "${APPROVAL_KEY}"}], "ttl": "10m"}`.
/// The first key seals, every key opens (rotation); secrets take `${VAR}` interpolation.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ApprovalSettings {
    pub keys: Vec<(String, String)>,
    pub ttl: Option<Duration>,
}

impl std::fmt::Debug for ApprovalSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("ApprovalSettings")
            .field("key_ids", &ids)
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// `codemode.audit`: `{"path": "audit.jsonl", "maxBytes": "64MiB", "keep": 5, "code": "hash"}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditSettings {
    /// Relative to the config file's folder.
    pub path: Option<PathBuf>,
    pub max_bytes: Option<u64>,
    pub keep: Option<usize>,
    /// `"full"` or `"hash"`.
    pub code: Option<String>,
}

/// A server entry that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenEntry {
    /// The entry's key in `mcpServers` / `servers`.
    pub name: String,
    /// The offending field and what is wrong with it, e.g. ``mcpServers.github.headers.
    /// Authorization: environment variable `GITHUB_TOKEN` is not set`` (without the file name).
    pub reason: String,
}

/// The operator's limits on one `execute`, from the config's `codemode.limits`.
///
/// Durations are written like `500ms`, `30s`, `2m` or `1m30s` ([`parse_duration`]); sizes like
/// `256MiB`, `64KiB`, `1GB`, `"1048576"` or a JSON integer of bytes ([`parse_size`]). `None`
/// leaves the gateway's default (or its command-line flag) in force.
///
/// [`parse_duration`]: crate::parse_duration
/// [`parse_size`]: crate::parse_size
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LimitSettings {
    /// `cpuTime`: CPU time the script may use.
    pub cpu_time: Option<Duration>,
    /// `wallTime`: how long the script may run, waiting included.
    pub wall_time: Option<Duration>,
    /// `memory`: the script's memory, in bytes.
    pub memory_bytes: Option<u64>,
    /// `maxToolCalls`: how many upstream tool calls one script may make.
    pub max_tool_calls: Option<u64>,
    /// `maxResultBytes`: the largest result the script may return, in bytes.
    pub max_result_bytes: Option<u64>,
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
    /// What of it is served directly to the gateway's client (`"passthrough"`).
    pub passthrough: Passthrough,
    /// Whether its tools are also functions in `execute` (`"codeMode"`, default true).
    pub code_mode: bool,
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
            passthrough: Passthrough::Off,
            code_mode: true,
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

/// A stdio server: the process to start, and what its environment is made of: what it may
/// inherit from the gateway's environment (a small default set and `inherit_env`), with `env`
/// set on top.
#[derive(Clone, PartialEq, Eq)]
pub struct StdioServer {
    /// The program: a bare name (`npx`) is looked up in `PATH`; a relative path with a `/` in it
    /// (`./server.sh`) was made absolute against the config file's folder when there is one.
    pub command: String,
    pub args: Vec<String>,
    /// Variables to set: the entry's `envFile` variables, overridden by its `env` values.
    pub env: BTreeMap<String, String>,
    /// Working directory. A relative `cwd` was made absolute against the config file's folder
    /// when there is one; otherwise it is relative to the gateway's working directory.
    pub cwd: Option<PathBuf>,
    /// `inheritEnv`: the variables of the gateway's environment the child may inherit, as exact
    /// names (`AWS_PROFILE`) or prefix patterns ending in `*` (`AWS_*`; `*` appears nowhere
    /// else). A prefix pattern never matches the gateway's own `CODEMODE_*` variables: those
    /// pass only when named exactly (`CODEMODE_TOKEN`), an explicit opt-in the config warns
    /// about. Names are not `${}`-filled.
    pub inherit_env: Vec<String>,
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
            .field("inherit_env", &self.inherit_env)
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

/// What of a server is served directly to the gateway's client, beside `search` and
/// `execute`, as the server gave it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Passthrough {
    #[default]
    Off,
    /// `true`: every exposed tool, and the server's resources, resource templates and prompts.
    All,
    /// `["glob", …]`: only the exposed tools whose names match.
    Tools(ToolGlobs),
}

impl Passthrough {
    /// Whether the tool called `name` (already exposed by `tools`) is served directly.
    pub fn serves_tool(&self, name: &str) -> bool {
        match self {
            Passthrough::Off => false,
            Passthrough::All => true,
            Passthrough::Tools(globs) => globs.matches(name),
        }
    }

    /// Whether the server's resources, templates and prompts are served directly.
    pub fn serves_everything(&self) -> bool {
        matches!(self, Passthrough::All)
    }

    pub fn is_on(&self) -> bool {
        !matches!(self, Passthrough::Off)
    }
}

/// Tool-name globs (`*`, `?`, `[…]`), matched against the server's own tool names.
#[derive(Debug, Clone)]
pub struct ToolGlobs {
    patterns: Vec<String>,
    set: globset::GlobSet,
}

impl ToolGlobs {
    pub fn new(patterns: Vec<String>) -> Result<ToolGlobs, String> {
        if patterns.is_empty() {
            return Err("an empty list passes nothing through; use `false` for that".into());
        }
        let mut builder = globset::GlobSetBuilder::new();
        for pattern in &patterns {
            let glob = globset::GlobBuilder::new(pattern)
                .literal_separator(false)
                .build()
                .map_err(|err| format!("{pattern:?} is not a glob: {}", err.kind()))?;
            builder.add(glob);
        }
        let set = builder
            .build()
            .map_err(|err| format!("the globs do not compile: {err}"))?;
        Ok(ToolGlobs { patterns, set })
    }

    pub fn matches(&self, name: &str) -> bool {
        self.set.is_match(name)
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

impl PartialEq for ToolGlobs {
    fn eq(&self, other: &Self) -> bool {
        self.patterns == other.patterns
    }
}

impl Eq for ToolGlobs {}

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
    /// Relative paths in entries are relative to the file's folder.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let folder = std::path::absolute(path)
            .ok()
            .and_then(|absolute| absolute.parent().map(Path::to_path_buf));
        Config::parse_in(
            &text,
            &path.display().to_string(),
            folder.as_deref(),
            |name| std::env::var(name).ok(),
        )
    }

    /// Parses config `text`. `origin` names it in messages; `env_lookup` fills `${VAR}`s.
    /// Relative paths in entries stay relative (to the gateway's working directory).
    pub fn parse(
        text: &str,
        origin: &str,
        env_lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Config::parse_in(text, origin, None, env_lookup)
    }

    /// [`Config::parse`], with relative `cwd`, `envFile` and `command` paths (those with a `/`)
    /// resolved against `base_dir`, normally the config file's folder.
    pub fn parse_in(
        text: &str,
        origin: &str,
        base_dir: Option<&Path>,
        env_lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let parser = Parser {
            origin,
            base_dir,
            lookup: &env_lookup,
        };
        parser.parse_document(text)
    }

    /// The usable entry called `name`, if any.
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
    "envFile",
    "cwd",
    "inheritEnv",
    "url",
    "headers",
    "disabled",
    "tools",
    "startupTimeoutMs",
    "callTimeoutMs",
    "protocol",
    "passthrough",
    "codeMode",
];
const STDIO_ONLY_FIELDS: &[&str] = &["command", "args", "env", "envFile", "cwd", "inheritEnv"];
const HTTP_ONLY_FIELDS: &[&str] = &["url", "headers"];

/// The top-level key of our own settings, beside `mcpServers`.
const CODEMODE_KEY: &str = "codemode";
/// Fields of `codemode.limits`.
const LIMIT_FIELDS: &[&str] = &[
    "cpuTime",
    "wallTime",
    "memory",
    "maxToolCalls",
    "maxResultBytes",
];
/// The most tool calls `maxToolCalls` may allow.
const MAX_TOOL_CALLS: u64 = 1_000_000;
/// The prefix of the gateway's own environment variables.
const GATEWAY_ENV_PREFIX: &str = "CODEMODE_";

struct Parser<'a> {
    origin: &'a str,
    base_dir: Option<&'a Path>,
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
        let no_servers = Value::Object(Map::new());
        let (key, servers) = match (root.get("mcpServers"), root.get("servers")) {
            (Some(_), Some(_)) => {
                return Err(self.invalid(
                    "(top level)",
                    "has both `mcpServers` and `servers`; keep one",
                ))
            }
            (Some(servers), None) => ("mcpServers", servers),
            (None, Some(servers)) => ("servers", servers),
            // A config of OpenAPI specs alone needs no servers.
            (None, None) if root.contains_key("openapi") => ("mcpServers", &no_servers),
            (None, None) => {
                return Err(self.invalid(
                    "(top level)",
                    "no `mcpServers` object (or VS Code's `servers`) with the upstream servers, and no `openapi` specs",
                ))
            }
        };
        for other in root
            .keys()
            .filter(|k| !["policy", "openapi", CODEMODE_KEY, key].contains(&k.as_str()))
        {
            tracing::warn!(config = self.origin, field = %other, "ignoring unknown top-level field");
        }
        let servers = servers
            .as_object()
            .ok_or_else(|| self.expected(key, "an object of servers", servers))?;
        let (limits, approvals, audit) = match root.get(CODEMODE_KEY) {
            None => Default::default(),
            Some(settings) => self.parse_codemode(settings)?,
        };
        let mut good = Vec::with_capacity(servers.len());
        let mut broken = Vec::new();
        for (name, entry) in servers {
            match self.parse_server(name, &child_path(key, name), entry) {
                Ok(server) => good.push(server),
                Err(err) => {
                    let reason = match err {
                        ConfigError::Invalid { path, message, .. } => format!("{path}: {message}"),
                        other => other.to_string(),
                    };
                    // Said once, as the whole-file error would have been.
                    tracing::warn!(
                        "{}: {reason}; `{name}` is unavailable, the other servers start without it",
                        self.origin
                    );
                    broken.push(BrokenEntry {
                        name: name.clone(),
                        reason,
                    });
                }
            }
        }
        Ok(Config {
            origin: self.origin.to_owned(),
            servers: good,
            broken,
            limits,
            policy: root.get("policy").cloned(),
            approvals,
            audit,
            openapi: root.get("openapi").cloned(),
            base_dir: self.base_dir.map(Path::to_path_buf),
        })
    }

    fn parse_json(&self, text: &str) -> Result<Value, ConfigError> {
        // Comments and trailing commas are replaced by spaces, so line/column numbers still
        // point into `text`. An unterminated string or block comment makes the stripper fail
        // at the very end, after every byte went through: the JSON parser then says where.
        let mut json = Vec::with_capacity(text.len());
        let _unterminated =
            json_comments::StripComments::new(text.as_bytes()).read_to_end(&mut json);
        blank_trailing_commas(&mut json);
        serde_json::from_slice(&json).map_err(|err| {
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

    fn parse_codemode(
        &self,
        value: &Value,
    ) -> Result<(LimitSettings, ApprovalSettings, AuditSettings), ConfigError> {
        let fields = value
            .as_object()
            .ok_or_else(|| self.expected(CODEMODE_KEY, "an object", value))?;
        for other in fields
            .keys()
            .filter(|k| !["limits", "approvals", "audit"].contains(&k.as_str()))
        {
            tracing::warn!(config = self.origin, field = %child_path(CODEMODE_KEY, other),
                "ignoring unknown field");
        }
        let limits = match fields.get("limits") {
            None => LimitSettings::default(),
            Some(limits) => self.parse_limits(&child_path(CODEMODE_KEY, "limits"), limits)?,
        };
        let approvals = match fields.get("approvals") {
            None => ApprovalSettings::default(),
            Some(value) => self.parse_approvals(&child_path(CODEMODE_KEY, "approvals"), value)?,
        };
        let audit = match fields.get("audit") {
            None => AuditSettings::default(),
            Some(value) => self.parse_audit(&child_path(CODEMODE_KEY, "audit"), value)?,
        };
        Ok((limits, approvals, audit))
    }

    fn parse_approvals(&self, path: &str, value: &Value) -> Result<ApprovalSettings, ConfigError> {
        let fields = value
            .as_object()
            .ok_or_else(|| self.expected(path, "an object", value))?;
        for other in fields
            .keys()
            .filter(|k| !["keys", "ttl"].contains(&k.as_str()))
        {
            tracing::warn!(config = self.origin, field = %child_path(path, other),
                "ignoring unknown field");
        }
        let keys_path = child_path(path, "keys");
        let keys = match fields.get("keys") {
            None => Vec::new(),
            Some(Value::Array(keys)) => keys
                .iter()
                .enumerate()
                .map(|(i, key)| {
                    let key_path = format!("{keys_path}[{i}]");
                    let id = key.get("id").and_then(Value::as_str);
                    let secret = key.get("secret").and_then(Value::as_str);
                    match (id, secret) {
                        (Some(id), Some(secret)) => {
                            Ok((id.to_string(), self.fill(&key_path, secret)?))
                        }
                        _ => Err(self.invalid(
                            &key_path,
                            r#"expected {"id": "k1", "secret": "${APPROVAL_KEY}"}"#,
                        )),
                    }
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(self.expected(&keys_path, "an array of keys", other)),
        };
        Ok(ApprovalSettings {
            keys,
            ttl: self.duration_limit(path, fields, "ttl")?,
        })
    }

    fn parse_audit(&self, path: &str, value: &Value) -> Result<AuditSettings, ConfigError> {
        let fields = value
            .as_object()
            .ok_or_else(|| self.expected(path, "an object", value))?;
        for other in fields
            .keys()
            .filter(|k| !["path", "maxBytes", "keep", "code"].contains(&k.as_str()))
        {
            tracing::warn!(config = self.origin, field = %child_path(path, other),
                "ignoring unknown field");
        }
        let file = match fields.get("path") {
            None => None,
            Some(Value::String(file)) => {
                let file = PathBuf::from(self.fill(&child_path(path, "path"), file)?);
                Some(match self.base_dir {
                    Some(base) if file.is_relative() => base.join(file),
                    _ => file,
                })
            }
            Some(other) => {
                return Err(self.expected(&child_path(path, "path"), "a file path", other))
            }
        };
        let keep = match fields.get("keep") {
            None => None,
            Some(value) => Some(value.as_u64().filter(|n| *n <= 1000).ok_or_else(|| {
                self.expected(
                    &child_path(path, "keep"),
                    "a count of old files (0-1000)",
                    value,
                )
            })? as usize),
        };
        let code = match fields.get("code") {
            None => None,
            Some(Value::String(mode)) if mode == "full" || mode == "hash" => Some(mode.clone()),
            Some(other) => {
                return Err(self.expected(&child_path(path, "code"), r#""full" or "hash""#, other))
            }
        };
        Ok(AuditSettings {
            path: file,
            max_bytes: self.size_limit(path, fields, "maxBytes")?,
            keep,
            code,
        })
    }

    fn parse_limits(&self, path: &str, value: &Value) -> Result<LimitSettings, ConfigError> {
        let fields = value
            .as_object()
            .ok_or_else(|| self.expected(path, "an object", value))?;
        for other in fields
            .keys()
            .filter(|k| !LIMIT_FIELDS.contains(&k.as_str()))
        {
            tracing::warn!(config = self.origin, field = %child_path(path, other),
                "ignoring unknown field");
        }
        Ok(LimitSettings {
            cpu_time: self.duration_limit(path, fields, "cpuTime")?,
            wall_time: self.duration_limit(path, fields, "wallTime")?,
            memory_bytes: self.size_limit(path, fields, "memory")?,
            max_tool_calls: self.count_limit(path, fields, "maxToolCalls")?,
            max_result_bytes: self.size_limit(path, fields, "maxResultBytes")?,
        })
    }

    fn duration_limit(
        &self,
        path: &str,
        fields: &Map<String, Value>,
        key: &str,
    ) -> Result<Option<Duration>, ConfigError> {
        let field_path = child_path(path, key);
        match fields.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => units::parse_duration(text)
                .map(Some)
                .map_err(|message| self.invalid(&field_path, message)),
            Some(other) => Err(self.expected(
                &field_path,
                r#"a duration such as "500ms", "30s" or "1m30s""#,
                other,
            )),
        }
    }

    fn size_limit(
        &self,
        path: &str,
        fields: &Map<String, Value>,
        key: &str,
    ) -> Result<Option<u64>, ConfigError> {
        let field_path = child_path(path, key);
        let bytes = match fields.get(key) {
            None => return Ok(None),
            Some(Value::String(text)) => units::parse_size(text),
            Some(Value::Number(n)) if n.as_u64().is_some() => {
                units::check_size_bytes(n.as_u64().unwrap_or_default())
            }
            Some(other) => {
                return Err(self.expected(
                    &field_path,
                    r#"a size such as "256MiB" or "64KiB", or a whole number of bytes"#,
                    other,
                ))
            }
        };
        bytes
            .map(Some)
            .map_err(|message| self.invalid(&field_path, message))
    }

    fn count_limit(
        &self,
        path: &str,
        fields: &Map<String, Value>,
        key: &str,
    ) -> Result<Option<u64>, ConfigError> {
        let field_path = child_path(path, key);
        let Some(value) = fields.get(key) else {
            return Ok(None);
        };
        match value.as_u64() {
            Some(0) => Err(self.invalid(&field_path, "must be more than zero")),
            Some(n) if n > MAX_TOOL_CALLS => Err(self.invalid(
                &field_path,
                format!("{n} is too many: at most {MAX_TOOL_CALLS}"),
            )),
            Some(n) => Ok(Some(n)),
            None => Err(self.expected(&field_path, "a positive whole number", value)),
        }
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
        let passthrough = match fields.get("passthrough") {
            None => Passthrough::Off,
            Some(value) => self.parse_passthrough(&child_path(path, "passthrough"), value)?,
        };
        let code_mode = match fields.get("codeMode") {
            None => true,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(self.expected(&child_path(path, "codeMode"), "true or false", other))
            }
        };
        if !code_mode && passthrough == Passthrough::Off {
            return Err(self.invalid(
                &child_path(path, "codeMode"),
                "`codeMode: false` takes the server out of `execute`, and without `passthrough` \
                 nothing of it would be served; add `\"passthrough\": true` or drop `codeMode`",
            ));
        }
        Ok(ServerConfig {
            name: name.to_owned(),
            transport,
            disabled,
            tools,
            startup_timeout,
            call_timeout,
            protocol,
            passthrough,
            code_mode,
        })
    }

    fn parse_passthrough(&self, path: &str, value: &Value) -> Result<Passthrough, ConfigError> {
        let expected = "true, false, or an array of tool-name globs such as [\"read_*\"]";
        match value {
            Value::Bool(true) => Ok(Passthrough::All),
            Value::Bool(false) => Ok(Passthrough::Off),
            Value::Array(items) => {
                let mut patterns = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let item_path = format!("{path}[{i}]");
                    let Value::String(pattern) = item else {
                        return Err(self.expected(&item_path, "a tool-name glob (string)", item));
                    };
                    patterns.push(pattern.clone());
                }
                ToolGlobs::new(patterns)
                    .map(Passthrough::Tools)
                    .map_err(|message| self.invalid(path, message))
            }
            other => Err(self.expected(path, expected, other)),
        }
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
        // `./server.sh` or `bin/server` is a path; `npx` is a name to look up in PATH.
        let command = if command.chars().any(std::path::is_separator) {
            self.resolve(Path::new(&command))
                .into_os_string()
                .into_string()
                .map_err(|_| {
                    self.invalid(
                        &command_path,
                        "the config file's folder is not valid UTF-8; give an absolute path",
                    )
                })?
        } else {
            command
        };
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
        let explicit_env = self.string_map(&child_path(path, "env"), fields.get("env"))?;
        let mut env = self.parse_env_file(&child_path(path, "envFile"), fields.get("envFile"))?;
        env.extend(explicit_env);
        let cwd_path = child_path(path, "cwd");
        let cwd = match fields.get("cwd") {
            None => None,
            Some(Value::String(c)) => {
                let cwd = self.fill(&cwd_path, c)?;
                if cwd.trim().is_empty() {
                    return Err(self.invalid(&cwd_path, "must not be empty"));
                }
                Some(self.resolve(Path::new(&cwd)))
            }
            Some(other) => return Err(self.expected(&cwd_path, "a string", other)),
        };
        let inherit_env = self.parse_inherit_env(&child_path(path, "inheritEnv"), fields)?;
        Ok(StdioServer {
            command,
            args,
            env,
            cwd,
            inherit_env,
        })
    }

    /// The variables of the `envFile` at `value`, or none without one.
    fn parse_env_file(
        &self,
        path: &str,
        value: Option<&Value>,
    ) -> Result<BTreeMap<String, String>, ConfigError> {
        let file = match value {
            None => return Ok(BTreeMap::new()),
            Some(Value::String(file)) => self.fill(path, file)?,
            Some(other) => return Err(self.expected(path, "a file path (string)", other)),
        };
        if file.trim().is_empty() {
            return Err(self.invalid(path, "must not be empty"));
        }
        let file = self.resolve(Path::new(&file));
        let text = std::fs::read_to_string(&file)
            .map_err(|err| self.invalid(path, format!("cannot read {}: {err}", file.display())))?;
        parse_dotenv(&text).map_err(|(line, message)| {
            self.invalid(path, format!("{}:{line}: {message}", file.display()))
        })
    }

    fn parse_inherit_env(
        &self,
        path: &str,
        fields: &Map<String, Value>,
    ) -> Result<Vec<String>, ConfigError> {
        let items = match fields.get("inheritEnv") {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(self.expected(path, "an array of environment variable names", other))
            }
        };
        let mut names = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            let Value::String(name) = item else {
                return Err(self.expected(&item_path, "a variable name (string)", item));
            };
            if name.is_empty() {
                return Err(self.invalid(&item_path, "must not be empty"));
            }
            if name.contains(['=', '\0']) {
                return Err(self.invalid(
                    &item_path,
                    format!("{name:?} is not an environment variable name"),
                ));
            }
            if name.find('*').is_some_and(|at| at + 1 != name.len()) {
                return Err(self.invalid(
                    &item_path,
                    format!(
                        "{name:?}: `*` may only end a name, as in a prefix pattern like `AWS_*`"
                    ),
                ));
            }
            match name.strip_suffix('*') {
                Some(prefix) if prefix.starts_with(GATEWAY_ENV_PREFIX) => {
                    tracing::warn!(config = self.origin, field = %item_path, pattern = %name,
                        "a prefix pattern never matches the gateway's own CODEMODE_ variables: \
                         name each one exactly to pass it on");
                }
                Some(_) => {}
                None if name.starts_with(GATEWAY_ENV_PREFIX) => {
                    tracing::warn!(config = self.origin, field = %item_path, variable = %name,
                        "passing one of the gateway's own variables to an upstream server");
                }
                None => {}
            }
            names.push(name.clone());
        }
        Ok(names)
    }

    /// `path`, made absolute against the config file's folder when it is relative and the
    /// folder is known.
    fn resolve(&self, path: &Path) -> PathBuf {
        match self.base_dir {
            Some(base) if path.is_relative() => {
                // `./x` is `x`: keep the result free of `.` segments.
                let relative: PathBuf = path
                    .components()
                    .filter(|c| !matches!(c, Component::CurDir))
                    .collect();
                if relative.as_os_str().is_empty() {
                    base.to_path_buf()
                } else {
                    base.join(relative)
                }
            }
            _ => path.to_path_buf(),
        }
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

/// Replaces each trailing comma (one followed, past whitespace, by `}` or `]`) with a space, as
/// VS Code's JSONC allows them. Runs after comments were blanked out; strings are skipped. A
/// comma right after `[`, `{` or another comma is left for the JSON parser to reject.
fn blank_trailing_commas(json: &mut [u8]) {
    let mut in_string = false;
    let mut escaped = false;
    let mut previous: Option<u8> = None;
    let mut comma: Option<usize> = None;
    for at in 0..json.len() {
        let byte = json[at];
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            continue;
        }
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' => continue,
            b'}' | b']' => {
                if let Some(comma) = comma.take() {
                    json[comma] = b' ';
                }
            }
            b',' if !matches!(previous, None | Some(b'[' | b'{' | b',')) => comma = Some(at),
            b'"' => {
                in_string = true;
                comma = None;
            }
            _ => comma = None,
        }
        previous = Some(byte);
    }
}

/// Parses a dotenv file as VS Code reads an `envFile`: `NAME=value` lines (`export NAME=value`
/// too), blank lines and `#` comments skipped; a value in single quotes is literal, one in
/// double quotes knows `\n`, `\r`, `\t`, `\"` and `\\`, and either may span lines; an unquoted
/// value ends at a ` #` comment. Nothing is substituted: `$` is just a character. A name given
/// twice takes its last value. Errors are `(line number, message)` and never echo a value.
fn parse_dotenv(text: &str) -> Result<BTreeMap<String, String>, (usize, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut vars = BTreeMap::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let number = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((name, value)) = line.split_once('=') else {
            return Err((number, "expected NAME=value".to_owned()));
        };
        let name = name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err((number, format!("{name:?} is not a variable name")));
        }
        let value = value.trim();
        let value = match value.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let mut raw = value[1..].to_owned();
                loop {
                    if let Some((content, rest)) = split_quoted(&raw, quote) {
                        let rest = rest.trim_start();
                        if !(rest.is_empty() || rest.starts_with('#')) {
                            return Err((
                                number,
                                format!("{name}: unexpected text after the closing quote"),
                            ));
                        }
                        break if quote == '"' {
                            unescape(content)
                        } else {
                            content.to_owned()
                        };
                    }
                    let Some((_, more)) = lines.next() else {
                        return Err((
                            number,
                            format!("{name}: the value's {quote} quote is never closed"),
                        ));
                    };
                    raw.push('\n');
                    raw.push_str(more);
                }
            }
            _ => {
                let end = value
                    .char_indices()
                    .find(|&(at, c)| c == '#' && value[..at].ends_with([' ', '\t']))
                    .map_or(value.len(), |(at, _)| at);
                value[..end].trim_end().to_owned()
            }
        };
        vars.insert(name.to_owned(), value);
    }
    Ok(vars)
}

/// Splits `raw` (what follows an opening `quote`) at its closing quote: the text inside and
/// what follows it. Inside double quotes a backslash escapes the next character.
fn split_quoted(raw: &str, quote: char) -> Option<(&str, &str)> {
    let mut escaped = false;
    for (at, c) in raw.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' && quote == '"' {
            escaped = true;
        } else if c == quote {
            return Some((&raw[..at], &raw[at + 1..]));
        }
    }
    None
}

/// A double-quoted dotenv value's escapes; an unknown escape stays as written.
fn unescape(content: &str) -> String {
    let mut out = String::with_capacity(content.len());
    let mut chars = content.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some(other @ ('"' | '\\')) => out.push(other),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
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
