//! The configured specs as one catalogue [`ToolSource`]: a namespace per entry, its tools
//! once the spec is loaded, its reason when it cannot be, and every call an HTTP request
//! made here, on the gateway side.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use codemode_catalog::{NamespaceStatus, SourceNamespace, ToolSource, ToolSpec};
use codemode_sandbox::{AnswerFuture, ToolAnswer, ToolError, ToolErrorKind, ToolFuture};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::Method;
use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::client::{self, Endpoint, Outgoing};
use crate::config::{kind, Auth, OpenApiConfig, OpenApiConfigs, SpecLocation};
use crate::load;
pub use crate::operations::REQUEST_TOOL;
use crate::operations::{self, Api, BodyKind, Operation};
use crate::request::{self, Location, Style};

/// The longest namespace description taken from a spec's `info`.
const MAX_DESCRIPTION_CHARS: usize = 2000;

/// Every configured OpenAPI spec as one [`ToolSource`].
///
/// **A tool's argument** is one object: each parameter (path, query, header, cookie) under
/// its name as the spec writes it, and the request body, if the operation takes one, under
/// `body`. A name that two parameters share, or a parameter called `body`, gets its
/// location in front: `query_id`, `header_body`. Path parameters are always required, the
/// others and `body` when the spec says so; unknown keys are refused before anything is sent.
/// `tools.github.repos_get({owner: "octocat", repo: "hello-world"})` is `GET
/// /repos/octocat/hello-world`; `tools.petstore.addPet({body: {name: "Rex"}})` posts the
/// JSON body. How values are written on the wire is `request.rs`'s table.
///
/// **Its answer** is the response's JSON for a JSON media type (`null` for no body), else
/// `{contentType, text}`, or `{contentType, size, base64}` for binary content; a non-2xx
/// status fails with kind `tool_error` and `HTTP <status> <reason>: <the body's message>`.
///
/// **`$request`** (`tools.<ns>.$request({method, path, query?, headers?, body?})`) sends a
/// request the typed tools do not shape, to the same server, for a method and concrete path
/// that match one of the kept operations (so the config's `include`/`exclude` hold for it
/// too), with that operation's credentials.
#[derive(Clone)]
pub struct OpenApiSource {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// Fetches specs by URL (follows redirects; never sends credentials).
    spec_http: reqwest::Client,
    entries: RwLock<Vec<Entry>>,
    changes: watch::Sender<u64>,
}

struct Entry {
    name: String,
    state: State,
}

#[derive(Clone)]
enum State {
    Loading,
    Ready(Arc<Loaded>),
    Unavailable(String),
}

/// A spec ready to call.
struct Loaded {
    api: Api,
    description: Option<String>,
    headers: Vec<(HeaderName, HeaderValue)>,
    secrets: Vec<String>,
    timeout: Duration,
    max_response_bytes: u64,
}

impl OpenApiSource {
    /// Loads every entry and returns once each is ready or has failed. Broken config
    /// entries are listed as unavailable with their reason.
    pub async fn load(configs: &OpenApiConfigs) -> OpenApiSource {
        let source = OpenApiSource::start(configs);
        source.settled().await;
        source
    }

    /// Starts loading every entry in the background (on the current tokio runtime) and
    /// returns at once; an entry's namespace is starting until its spec is read, and
    /// [`ToolSource::changes`] bumps as each one settles.
    pub fn start(configs: &OpenApiConfigs) -> OpenApiSource {
        let (http, spec_http, client_error) =
            match client::http_client().and_then(|h| Ok((h, client::spec_client()?))) {
                Ok((http, spec_http)) => (http, spec_http, None),
                Err(err) => (reqwest::Client::new(), reqwest::Client::new(), Some(err)),
            };
        let mut entries = Vec::new();
        let mut pending = Vec::new();
        for config in &configs.entries {
            let state = match (&client_error, config.disabled) {
                (_, true) => State::Unavailable("disabled in the config".into()),
                (Some(err), _) => State::Unavailable(format!("no HTTP client: {err}")),
                (None, false) => {
                    pending.push(config.clone());
                    State::Loading
                }
            };
            entries.push(Entry {
                name: config.name.clone(),
                state,
            });
        }
        for broken in &configs.broken {
            entries.push(Entry {
                name: broken.name.clone(),
                state: State::Unavailable(format!("invalid config entry: {}", broken.reason)),
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let (changes, _) = watch::channel(0);
        let source = OpenApiSource {
            inner: Arc::new(Inner {
                http,
                spec_http,
                entries: RwLock::new(entries),
                changes,
            }),
        };
        for config in pending {
            let source = source.clone();
            tokio::spawn(async move {
                let state = match load_one(&source.inner.spec_http, &config).await {
                    Ok(loaded) => State::Ready(Arc::new(loaded)),
                    Err(reason) => {
                        tracing::warn!("openapi `{}`: {reason}", config.name);
                        State::Unavailable(reason)
                    }
                };
                source.set_state(&config.name, state);
            });
        }
        source
    }

    /// Resolves once no entry is still loading.
    pub async fn settled(&self) {
        let mut changes = self.inner.changes.subscribe();
        while self.any_loading() {
            if changes.changed().await.is_err() {
                return;
            }
        }
    }

    fn any_loading(&self) -> bool {
        self.read_entries(|entries| entries.iter().any(|e| matches!(e.state, State::Loading)))
    }

    fn set_state(&self, name: &str, state: State) {
        {
            let mut entries = match self.inner.entries.write() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            if let Some(entry) = entries.iter_mut().find(|e| e.name == name) {
                entry.state = state;
            }
        }
        self.inner.changes.send_modify(|n| *n += 1);
    }

    fn read_entries<T>(&self, read: impl FnOnce(&[Entry]) -> T) -> T {
        let entries = match self.inner.entries.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        read(&entries)
    }

    fn state(&self, namespace: &str) -> Option<State> {
        self.read_entries(|entries| {
            entries
                .iter()
                .find(|e| e.name == namespace)
                .map(|e| e.state.clone())
        })
    }
}

/// Reads, parses and converts one spec. The parsing and conversion run on a blocking
/// thread: the GitHub spec is 13 MB of JSON.
async fn load_one(http: &reqwest::Client, config: &OpenApiConfig) -> Result<Loaded, String> {
    let bytes = load::read(&config.spec, http)
        .await
        .map_err(|err| err.to_string())?;
    let config_for_parse = config.clone();
    let api = tokio::task::spawn_blocking(move || {
        let config = config_for_parse;
        let origin = config.spec.to_string();
        let (spec_path, spec_url) = match &config.spec {
            SpecLocation::Path(path) => (Some(path.as_path()), None),
            SpecLocation::Url(url) => (None, Some(url)),
        };
        let doc = load::parse(&origin, &bytes, spec_path)?;
        drop(bytes);
        let api = operations::build(&doc, &config, spec_url);
        // The tree and the model are most of the load's memory (GitHub's: 120 MiB). Freed
        // and handed back here, before the catalogue is built from the tools, they are not
        // still resident under it (a peak of 218 MiB instead of 157, for 55 ms).
        drop(doc);
        codemode_catalog::memory::release_free_memory();
        api
    })
    .await
    .map_err(|err| format!("loading the spec stopped: {err}"))?
    .map_err(|err| err.to_string())?;

    let headers = config
        .headers
        .iter()
        .filter_map(|(name, value)| {
            let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
            let mut value = HeaderValue::from_str(value).ok()?;
            value.set_sensitive(true);
            Some((name, value))
        })
        .collect();
    let description = api.description.as_deref().map(|text| {
        let cut: String = text.chars().take(MAX_DESCRIPTION_CHARS).collect();
        if cut.len() < text.len() {
            format!("{cut}…")
        } else {
            cut
        }
    });
    Ok(Loaded {
        description,
        secrets: secrets_of(config),
        headers,
        timeout: config.timeout,
        max_response_bytes: config.max_response_bytes,
        api,
    })
}

/// What must never reach a snippet: the values `${VAR}`s filled in, the credentials, and
/// the values of headers that carry them.
fn secrets_of(config: &OpenApiConfig) -> Vec<String> {
    let mut secrets = config.secrets.clone();
    match &config.auth {
        Some(Auth::Bearer { token, .. }) => secrets.push(token.clone()),
        Some(Auth::ApiKey { key, .. }) => secrets.push(key.clone()),
        Some(Auth::Basic {
            username, password, ..
        }) => {
            use base64::Engine;
            secrets.push(password.clone());
            secrets.push(
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}")),
            );
        }
        None => {}
    }
    for (name, value) in &config.headers {
        let name = name.to_ascii_lowercase();
        let sensitive = [
            "auth", "key", "token", "secret", "cookie", "session", "password",
        ]
        .iter()
        .any(|word| name.contains(word));
        if sensitive {
            secrets.push(value.clone());
            if let Some((_, credential)) = value.split_once(' ') {
                secrets.push(credential.to_owned());
            }
        }
    }
    secrets.retain(|s| s.len() >= 4);
    // Longest first, so that a secret containing another is blanked whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    secrets
}

impl ToolSource for OpenApiSource {
    fn namespaces(&self) -> Vec<SourceNamespace> {
        self.read_entries(|entries| {
            entries
                .iter()
                .map(|entry| match &entry.state {
                    State::Ready(loaded) => SourceNamespace::ready(
                        entry.name.clone(),
                        loaded.description.clone(),
                        loaded.api.tools.specs(),
                    ),
                    State::Loading => SourceNamespace {
                        name: entry.name.clone(),
                        description: None,
                        tools: Vec::new(),
                        status: NamespaceStatus::Starting,
                    },
                    State::Unavailable(reason) => SourceNamespace {
                        name: entry.name.clone(),
                        description: None,
                        tools: Vec::new(),
                        status: NamespaceStatus::Unavailable {
                            reason: reason.clone(),
                            retrying: false,
                        },
                    },
                })
                .collect()
        })
    }

    fn call(&self, namespace: &str, tool: &str, args: Value) -> ToolFuture {
        let answer = self.answer_with(namespace, tool, args, &Default::default());
        Box::pin(async move { answer.await.and_then(ToolAnswer::into_value) })
    }

    fn answer_with(
        &self,
        namespace: &str,
        tool: &str,
        args: Value,
        _context: &codemode_catalog::CallContext,
    ) -> AnswerFuture {
        let loaded = match self.state(namespace) {
            Some(State::Ready(loaded)) => loaded,
            Some(State::Loading) => {
                return ready_error(ToolError::unavailable("the spec is still loading"))
            }
            Some(State::Unavailable(reason)) => return ready_error(ToolError::unavailable(reason)),
            None => {
                return ready_error(ToolError::unavailable(format!(
                    "no OpenAPI spec is configured as `{namespace}`"
                )))
            }
        };
        let http = self.inner.http.clone();
        let tool = tool.to_owned();
        Box::pin(async move {
            let (operation, outgoing) = if tool == REQUEST_TOOL {
                raw_request(&loaded.api, args)?
            } else {
                let operation =
                    loaded.api.operations.get(&tool).cloned().ok_or_else(|| {
                        ToolError::new(format!("this API has no operation `{tool}`"))
                    })?;
                let outgoing = prepare(&loaded.api, &operation, args)?;
                (operation, outgoing)
            };
            let endpoint = Endpoint {
                base_url: &loaded.api.base_url,
                headers: &loaded.headers,
                timeout: loaded.timeout,
                max_response_bytes: loaded.max_response_bytes,
                secrets: &loaded.secrets,
            };
            client::send(&http, &endpoint, &operation.credentials, outgoing).await
        })
    }

    fn wait_ready(&self, namespace: &str) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let source = self.clone();
        let namespace = namespace.to_owned();
        Box::pin(async move {
            let mut changes = source.inner.changes.subscribe();
            while matches!(source.state(&namespace), Some(State::Loading)) {
                if changes.changed().await.is_err() {
                    return;
                }
            }
        })
    }

    fn changes(&self) -> Option<watch::Receiver<u64>> {
        Some(self.inner.changes.subscribe())
    }
}

fn ready_error(error: ToolError) -> AnswerFuture {
    Box::pin(std::future::ready(Err(error)))
}

fn invalid(message: impl Into<String>) -> ToolError {
    ToolError::of(ToolErrorKind::InvalidArguments, message.into())
}

/// Headers a snippet may not set: they would change where or how the request travels.
const FORBIDDEN_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "proxy-authorization",
];

/// An operation's arguments as a request (see [`OpenApiSource`] for the layout).
fn prepare(api: &Api, op: &Operation, args: Value) -> Result<Outgoing, ToolError> {
    let args = match args {
        Value::Null => Map::new(),
        Value::Object(map) => map,
        other => {
            return Err(invalid(format!(
                "expected an object of arguments, got {}",
                kind(&other)
            )))
        }
    };
    for key in args.keys() {
        let known = op.params.iter().any(|p| &p.key == key) || (key == "body" && op.body.is_some());
        if !known {
            let mut names: Vec<&str> = op.params.iter().map(|p| p.key.as_str()).collect();
            if op.body.is_some() {
                names.push("body");
            }
            return Err(invalid(format!(
                "unknown argument `{key}`; this operation takes {}",
                if names.is_empty() {
                    "no arguments".to_owned()
                } else {
                    names.join(", ")
                }
            )));
        }
    }
    let mut path = op.path.clone();
    let mut query = Vec::new();
    let mut headers = HeaderMap::new();
    let mut cookies = Vec::new();
    for param in &op.params {
        let value = match args.get(&param.key) {
            None | Some(Value::Null) if param.required => {
                return Err(invalid(format!(
                    "`{}` is required ({} parameter)",
                    param.key,
                    param.location.word()
                )))
            }
            None | Some(Value::Null) => continue,
            Some(value) => value,
        };
        let json_text;
        let value = if param.as_json {
            json_text = Value::String(value.to_string());
            &json_text
        } else {
            value
        };
        match param.location {
            Location::Path => {
                let segment = request::path_segment(&param.name, value, param.style, param.explode)
                    .ok_or_else(|| invalid(format!("`{}` cannot be empty", param.key)))?;
                let segment = match segment.as_str() {
                    "." => "%2E".to_owned(),
                    ".." => "%2E%2E".to_owned(),
                    _ => segment,
                };
                path = path.replace(&format!("{{{}}}", param.name), &segment);
            }
            Location::Query => query.extend(request::query_pairs(
                &param.name,
                value,
                param.style,
                param.explode,
                param.allow_reserved,
            )),
            Location::Header => {
                if let Some(text) = request::header_value(value, param.explode) {
                    insert_header(&mut headers, &param.name, &text)?;
                }
            }
            Location::Cookie => {
                cookies.extend(request::cookie_pairs(&param.name, value, param.explode))
            }
        }
    }
    let body = match (&op.body, args.get("body")) {
        (Some(body), None | Some(Value::Null)) if body.required => {
            return Err(invalid("`body` is required"))
        }
        (Some(body), Some(value)) if !value.is_null() => Some(encode_body(
            body.kind,
            &body.media_type,
            &body.encoding,
            &body.binary_fields,
            value,
        )?),
        _ => None,
    };
    Ok(Outgoing {
        method: op.method.clone(),
        url: join(&api.base_url, &path, &query)?,
        headers,
        cookies,
        body,
    })
}

fn encode_body(
    kind: BodyKind,
    media_type: &str,
    encoding: &std::collections::HashMap<String, request::FieldEncoding>,
    binary_fields: &[String],
    value: &Value,
) -> Result<(String, Vec<u8>), ToolError> {
    Ok(match kind {
        BodyKind::Json => {
            // `*/*` or `application/*` say "anything": send JSON.
            let content_type = if media_type.contains('*') {
                "application/json"
            } else {
                media_type
            };
            (content_type.to_owned(), value.to_string().into_bytes())
        }
        BodyKind::Form => (
            media_type.to_owned(),
            request::form_body(value, encoding)
                .map_err(invalid)?
                .into_bytes(),
        ),
        BodyKind::Multipart => {
            let (boundary, bytes) =
                request::multipart_body(value, encoding, binary_fields).map_err(invalid)?;
            (format!("multipart/form-data; boundary={boundary}"), bytes)
        }
        BodyKind::Raw => (
            media_type.to_owned(),
            match value {
                Value::String(text) => text.clone().into_bytes(),
                other => other.to_string().into_bytes(),
            },
        ),
    })
}

fn insert_header(headers: &mut HeaderMap, name: &str, value: &str) -> Result<(), ToolError> {
    if FORBIDDEN_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(invalid(format!("the `{name}` header cannot be set")));
    }
    let header = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| invalid(format!("`{name}` is not a valid header name")))?;
    let value = HeaderValue::from_str(value).map_err(|_| {
        invalid(format!(
            "the `{name}` header's value is not valid in a header"
        ))
    })?;
    headers.insert(header, value);
    Ok(())
}

/// The base URL with the (already encoded) path appended and the query set.
fn join(base: &url::Url, path: &str, query: &[String]) -> Result<url::Url, ToolError> {
    let mut url = base.clone();
    let full = format!("{}{}", base.path().trim_end_matches('/'), path);
    url.set_path(&full);
    if !query.is_empty() {
        url.set_query(Some(&query.join("&")));
    }
    if !client::same_origin(&url, base) {
        return Err(invalid("the path leaves the API's server"));
    }
    Ok(url)
}

/// `$request`: checked against the spec's kept operations, then shaped like them.
fn raw_request(api: &Api, args: Value) -> Result<(Arc<Operation>, Outgoing), ToolError> {
    let Value::Object(args) = args else {
        return Err(invalid("expected {method, path, query?, headers?, body?}"));
    };
    for key in args.keys() {
        if !["method", "path", "query", "headers", "body"].contains(&key.as_str()) {
            return Err(invalid(format!(
                "unknown argument `{key}`; $request takes method, path, query, headers, body"
            )));
        }
    }
    let method_text = args
        .get("method")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("`method` is required (a string such as \"GET\")"))?;
    let method = Method::from_bytes(method_text.to_ascii_uppercase().as_bytes())
        .map_err(|_| invalid(format!("`{method_text}` is not an HTTP method")))?;
    let path = args
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("`path` is required (a string such as \"/pets/1\")"))?;
    if !path.starts_with('/') || path.contains(['?', '#']) {
        return Err(invalid(
            "`path` starts with `/` and has no query string or fragment (use `query`)",
        ));
    }
    let raw_segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut decoded = Vec::with_capacity(raw_segments.len());
    for segment in &raw_segments {
        let text = percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .map_err(|_| invalid("`path` is not UTF-8 once decoded"))?;
        if text == "." || text == ".." {
            return Err(invalid("`path` cannot contain `.` or `..` segments"));
        }
        decoded.push(text.into_owned());
    }
    let decoded_refs: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let routes: Vec<&operations::Route> = api
        .routes
        .iter()
        .filter(|r| r.matches(&decoded_refs))
        .collect();
    if routes.is_empty() {
        return Err(invalid(format!(
            "`{path}` matches none of this API's paths; $request only reaches the spec's operations"
        )));
    }
    let operation = routes
        .iter()
        .find_map(|r| {
            r.operations
                .iter()
                .find(|(m, _)| *m == method)
                .map(|(_, op)| op.clone())
        })
        .ok_or_else(|| {
            let allowed: Vec<String> = routes
                .iter()
                .flat_map(|r| r.operations.iter().map(|(m, _)| m.to_string()))
                .collect();
            invalid(format!(
                "`{method} {}` is not an operation of this API (that path takes {})",
                routes[0].template,
                allowed.join(", ")
            ))
        })?;
    let encoded: Vec<String> = decoded
        .iter()
        .map(|s| {
            request::path_segment("", &Value::String(s.clone()), Style::Simple, false)
                .unwrap_or_default()
        })
        .collect();
    let encoded_path = format!("/{}", encoded.join("/"));

    let mut query = Vec::new();
    match args.get("query") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, value) in map {
                query.extend(request::query_pairs(name, value, Style::Form, true, false));
            }
        }
        Some(other) => {
            return Err(invalid(format!(
                "`query` is an object, not {}",
                kind(other)
            )))
        }
    }
    let mut headers = HeaderMap::new();
    match args.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, value) in map {
                let text = value
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| request::scalar(value));
                insert_header(&mut headers, name, &text)?;
            }
        }
        Some(other) => {
            return Err(invalid(format!(
                "`headers` is an object of strings, not {}",
                kind(other)
            )))
        }
    }
    let body = match args.get("body") {
        None | Some(Value::Null) => None,
        Some(value) => Some(match &operation.body {
            Some(body) => encode_body(
                body.kind,
                &body.media_type,
                &body.encoding,
                &body.binary_fields,
                value,
            )?,
            None => (
                "application/json".to_owned(),
                value.to_string().into_bytes(),
            ),
        }),
    };
    let outgoing = Outgoing {
        method,
        url: join(&api.base_url, &encoded_path, &query)?,
        headers,
        cookies: Vec::new(),
        body,
    };
    Ok((operation, outgoing))
}

/// The tools of a loaded namespace (for tests and tools that inspect a source).
impl OpenApiSource {
    /// The tools of `namespace` if it is ready.
    pub fn tools(&self, namespace: &str) -> Option<Vec<ToolSpec>> {
        match self.state(namespace)? {
            State::Ready(loaded) => Some(loaded.api.tools.specs()),
            _ => None,
        }
    }
}
