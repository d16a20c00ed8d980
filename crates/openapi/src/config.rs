//! The config's `openapi` section: one entry per API, beside `mcpServers`.
//!
//! ```json
//! "openapi": {
//!   "github": {
//!     "spec": "https://example.com/api.github.com.json",
//!     "baseUrl": "https://api.github.com",
//!     "headers": { "X-GitHub-Api-Version": "2022-11-28" },
//!     "auth": { "bearer": "${GITHUB_TOKEN}" },
//!     "include": { "tags": ["repos", "issues"] },
//!     "exclude": { "paths": ["/repos/*/*/actions/**"], "operationIds": ["repos/delete"] },
//!     "timeout": "30s",
//!     "maxResponseBytes": "8MiB"
//!   }
//! }
//! ```
//!
//! | field              | meaning |
//! |--------------------|---------|
//! | `spec`             | a file (relative to the config's folder) or an `https://` URL (`http://` only for loopback hosts); JSON or YAML |
//! | `baseUrl`          | the API's server; default: the spec's first `servers` entry (Swagger 2.0: `schemes`/`host`/`basePath`) |
//! | `headers`          | sent with every request to the API's server, never to another host |
//! | `auth`             | `{"bearer": T}`, `{"basic": {"username": U, "password": P}}` or `{"apiKey": K}`, placed where the spec's `securitySchemes` say; `"scheme": NAME` picks one of several |
//! | `include`/`exclude`| `{"tags": [..], "paths": [globs], "operationIds": [..]}`: an operation is kept if `include` is absent or any of its selectors matches, and no `exclude` selector does; in path globs `*` is one segment, `**` any number |
//! | `timeout`          | one call, connecting to the last byte (default 30s) |
//! | `maxResponseBytes` | the largest answer read (default 8MiB) |
//! | `disabled`         | `true`: listed as unavailable, not loaded |
//!
//! `${NAME}` and `${env:NAME}` in `spec`, `baseUrl`, `headers` values and `auth` values are
//! filled by [`codemode_upstream::expand`], the rule `mcpServers` entries follow; an unset
//! variable makes the entry broken. Every value that came out of a variable is remembered as a
//! secret: it is blanked out of error messages and answers ([`OpenApiConfig::secrets`]).
//!
//! One bad entry costs only itself: it lands in [`OpenApiConfigs::broken`] with its reason and
//! every other entry works. Unknown fields are ignored with a warning.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use codemode_upstream::BrokenEntry;
use serde_json::{Map, Value};
use url::Url;

/// How long one call may take when the entry does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read when the entry does not say.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;

/// Where the spec is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecLocation {
    /// A file, already made absolute against the config's folder.
    Path(PathBuf),
    Url(Url),
}

impl std::fmt::Display for SpecLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpecLocation::Path(path) => write!(f, "{}", path.display()),
            SpecLocation::Url(url) => write!(f, "{url}"),
        }
    }
}

/// The configured credentials. `Debug` never shows a secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    Bearer {
        token: String,
        scheme: Option<String>,
    },
    Basic {
        username: String,
        password: String,
        scheme: Option<String>,
    },
    ApiKey {
        key: String,
        scheme: Option<String>,
    },
}

impl Auth {
    /// The `securitySchemes` entry the config names, if it names one.
    pub fn scheme(&self) -> Option<&str> {
        match self {
            Auth::Bearer { scheme, .. }
            | Auth::Basic { scheme, .. }
            | Auth::ApiKey { scheme, .. } => scheme.as_deref(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Auth::Bearer { .. } => "bearer",
            Auth::Basic { .. } => "basic",
            Auth::ApiKey { .. } => "apiKey",
        }
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("kind", &self.kind())
            .field("scheme", &self.scheme())
            .finish_non_exhaustive()
    }
}

/// Which operations become tools. Empty selectors match nothing.
#[derive(Debug, Clone, Default)]
pub struct OperationFilter {
    pub tags: Vec<String>,
    /// Path-template globs (`/repos/*/*/issues/**`).
    pub paths: Vec<String>,
    pub operation_ids: Vec<String>,
    matcher: Option<globset::GlobSet>,
}

impl PartialEq for OperationFilter {
    fn eq(&self, other: &Self) -> bool {
        self.tags == other.tags
            && self.paths == other.paths
            && self.operation_ids == other.operation_ids
    }
}

impl OperationFilter {
    /// Whether an operation with these tags, path template and operationId is selected.
    pub fn matches(&self, tags: &[String], path: &str, operation_id: Option<&str>) -> bool {
        tags.iter().any(|tag| self.tags.contains(tag))
            || operation_id.is_some_and(|id| self.operation_ids.iter().any(|o| o == id))
            || self.matcher.as_ref().is_some_and(|m| m.is_match(path))
    }
}

/// One usable entry of the `openapi` section. `Debug` shows header names, never values.
#[derive(Clone, PartialEq)]
pub struct OpenApiConfig {
    /// The entry's key: the namespace at the source.
    pub name: String,
    pub spec: SpecLocation,
    pub base_url: Option<Url>,
    /// Raw headers for every request to the API's server, in the config's order.
    pub headers: Vec<(String, String)>,
    pub auth: Option<Auth>,
    pub include: Option<OperationFilter>,
    pub exclude: Option<OperationFilter>,
    pub timeout: Duration,
    pub max_response_bytes: u64,
    /// `disabled: true`: listed as unavailable, never loaded.
    pub disabled: bool,
    /// Every value a `${VAR}` of this entry expanded to: blanked out of what a snippet sees.
    pub secrets: Vec<String>,
}

impl std::fmt::Debug for OpenApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("OpenApiConfig")
            .field("name", &self.name)
            .field("spec", &self.spec)
            .field("base_url", &self.base_url)
            .field("headers", &header_names)
            .field("auth", &self.auth)
            .field("include", &self.include)
            .field("exclude", &self.exclude)
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("disabled", &self.disabled)
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl OpenApiConfig {
    /// An entry for `spec` with every other field at its default (tests, and callers that
    /// build entries in code).
    pub fn new(name: impl Into<String>, spec: SpecLocation) -> Self {
        OpenApiConfig {
            name: name.into(),
            spec,
            base_url: None,
            headers: Vec::new(),
            auth: None,
            include: None,
            exclude: None,
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            disabled: false,
            secrets: Vec::new(),
        }
    }

    /// Whether the filters keep this operation.
    pub fn keeps(&self, tags: &[String], path: &str, operation_id: Option<&str>) -> bool {
        self.include
            .as_ref()
            .is_none_or(|f| f.matches(tags, path, operation_id))
            && !self
                .exclude
                .as_ref()
                .is_some_and(|f| f.matches(tags, path, operation_id))
    }
}

/// The parsed `openapi` section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpenApiConfigs {
    pub entries: Vec<OpenApiConfig>,
    /// Entries that cannot be used, with the field and what is wrong with it.
    pub broken: Vec<BrokenEntry>,
}

/// Reads the `openapi` section. `base_dir` is the config file's folder (relative `spec`
/// paths are relative to it); `lookup` answers `${VAR}`s. Only a section that is not an
/// object is an error; a bad entry lands in [`OpenApiConfigs::broken`].
pub fn parse_openapi_configs(
    section: &Value,
    base_dir: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<OpenApiConfigs, String> {
    let entries = section.as_object().ok_or_else(|| {
        format!(
            "openapi: expected an object of APIs, found {}",
            kind(section)
        )
    })?;
    let mut configs = OpenApiConfigs::default();
    for (name, entry) in entries {
        match parse_entry(name, entry, base_dir, lookup) {
            Ok(config) => configs.entries.push(config),
            Err(reason) => {
                tracing::warn!("{reason}; `{name}` is unavailable, the other APIs load without it");
                configs.broken.push(BrokenEntry {
                    name: name.clone(),
                    reason,
                });
            }
        }
    }
    Ok(configs)
}

const FIELDS: &[&str] = &[
    "spec",
    "baseUrl",
    "headers",
    "auth",
    "include",
    "exclude",
    "timeout",
    "maxResponseBytes",
    "disabled",
];

fn parse_entry(
    name: &str,
    entry: &Value,
    base_dir: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<OpenApiConfig, String> {
    let at = |field: &str| format!("openapi.{name}.{field}");
    let object = entry
        .as_object()
        .ok_or_else(|| format!("openapi.{name}: expected an object, found {}", kind(entry)))?;
    for key in object.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
        tracing::warn!(field = %at(key), "ignoring unknown field");
    }
    let secrets = RefCell::new(Vec::new());
    let fill = |field: &str, text: &str| -> Result<String, String> {
        let recording = |var: &str| {
            let value = lookup(var);
            if let Some(value) = &value {
                if !value.is_empty() {
                    secrets.borrow_mut().push(value.clone());
                }
            }
            value
        };
        codemode_upstream::expand(text, &recording).map_err(|err| format!("{}: {err}", at(field)))
    };
    let string = |field: &str| -> Result<Option<String>, String> {
        match object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => fill(field, text).map(Some),
            Some(other) => Err(format!(
                "{}: expected a string, found {}",
                at(field),
                kind(other)
            )),
        }
    };

    let spec_text = string("spec")?.ok_or_else(|| format!("openapi.{name}: `spec` is missing"))?;
    let spec =
        spec_location(&spec_text, base_dir).map_err(|err| format!("{}: {err}", at("spec")))?;
    let base_url = string("baseUrl")?
        .map(|text| server_url(&text))
        .transpose()
        .map_err(|err| format!("{}: {err}", at("baseUrl")))?;

    let mut headers = Vec::new();
    if let Some(value) = object.get("headers") {
        let map = value.as_object().ok_or_else(|| {
            format!(
                "{}: expected an object, found {}",
                at("headers"),
                kind(value)
            )
        })?;
        for (header, value) in map {
            let field = format!("headers.{header}");
            let Value::String(text) = value else {
                return Err(format!(
                    "{}: expected a string, found {}",
                    at(&field),
                    kind(value)
                ));
            };
            let value = fill(&field, text)?;
            http::HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| format!("{}: not a valid header name", at(&field)))?;
            // Never echo the value: it may be a secret.
            http::HeaderValue::from_str(&value)
                .map_err(|_| format!("{}: the value is not a valid header value", at(&field)))?;
            headers.push((header.clone(), value));
        }
    }

    let auth = object
        .get("auth")
        .map(|value| parse_auth(value, &|field, text| fill(&format!("auth.{field}"), text)))
        .transpose()
        .map_err(|err| format!("{}{err}", at("auth")))?;

    let include = object
        .get("include")
        .map(|v| parse_filter(v).map_err(|err| format!("{}{err}", at("include"))))
        .transpose()?;
    let exclude = object
        .get("exclude")
        .map(|v| parse_filter(v).map_err(|err| format!("{}{err}", at("exclude"))))
        .transpose()?;

    let timeout = match object.get("timeout") {
        None => DEFAULT_TIMEOUT,
        Some(Value::String(text)) => codemode_upstream::parse_duration(text)
            .map_err(|err| format!("{}: {err}", at("timeout")))?,
        Some(other) => {
            return Err(format!(
                "{}: expected a duration such as \"30s\", found {}",
                at("timeout"),
                kind(other)
            ))
        }
    };
    let max_response_bytes = match object.get("maxResponseBytes") {
        None => DEFAULT_MAX_RESPONSE_BYTES,
        Some(Value::String(text)) => codemode_upstream::parse_size(text)
            .map_err(|err| format!("{}: {err}", at("maxResponseBytes")))?,
        Some(Value::Number(n)) => n.as_u64().filter(|n| *n > 0).ok_or_else(|| {
            format!(
                "{}: expected a positive number of bytes",
                at("maxResponseBytes")
            )
        })?,
        Some(other) => {
            return Err(format!(
                "{}: expected a size such as \"8MiB\", found {}",
                at("maxResponseBytes"),
                kind(other)
            ))
        }
    };
    let disabled = match object.get("disabled") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(format!(
                "{}: expected true or false, found {}",
                at("disabled"),
                kind(other)
            ))
        }
    };

    let secrets = secrets.into_inner();
    Ok(OpenApiConfig {
        name: name.to_owned(),
        spec,
        base_url,
        headers,
        auth,
        include,
        exclude,
        timeout,
        max_response_bytes,
        disabled,
        secrets,
    })
}

/// `auth`: exactly one of `bearer`, `basic`, `apiKey`, and optionally `scheme`. Errors start
/// with the field below `auth` (`.bearer: …`), or `: …` for the object itself.
fn parse_auth(
    value: &Value,
    fill: &dyn Fn(&str, &str) -> Result<String, String>,
) -> Result<Auth, String> {
    let object = value
        .as_object()
        .ok_or_else(|| format!(": expected an object, found {}", kind(value)))?;
    let scheme = match object.get("scheme") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => return Err(format!(".scheme: expected a string, found {}", kind(other))),
    };
    let kinds: Vec<&String> = object.keys().filter(|k| k.as_str() != "scheme").collect();
    let [kind_name] = kinds.as_slice() else {
        return Err(
            ": expected exactly one of `bearer`, `basic`, `apiKey` (and optionally `scheme`)"
                .to_owned(),
        );
    };
    let secret = |field: &str, value: Option<&Value>| -> Result<String, String> {
        match value {
            Some(Value::String(text)) => fill(field, text),
            Some(other) => Err(format!(
                ".{field}: expected a string, found {}",
                kind(other)
            )),
            None => Err(format!(".{field}: missing")),
        }
    };
    match kind_name.as_str() {
        "bearer" => Ok(Auth::Bearer {
            token: secret("bearer", object.get("bearer"))?,
            scheme,
        }),
        "apiKey" => Ok(Auth::ApiKey {
            key: secret("apiKey", object.get("apiKey"))?,
            scheme,
        }),
        "basic" => {
            let basic = object
                .get("basic")
                .and_then(Value::as_object)
                .ok_or_else(|| ".basic: expected {\"username\": …, \"password\": …}".to_owned())?;
            Ok(Auth::Basic {
                username: secret("basic.username", basic.get("username"))?,
                password: secret("basic.password", basic.get("password"))?,
                scheme,
            })
        }
        other => Err(format!(
            ".{other}: unknown kind of credentials; expected `bearer`, `basic` or `apiKey`"
        )),
    }
}

fn parse_filter(value: &Value) -> Result<OperationFilter, String> {
    let object = value.as_object().ok_or_else(|| {
        format!(
            ": expected {{\"tags\": [...], \"paths\": [...], \"operationIds\": [...]}}, found {}",
            kind(value)
        )
    })?;
    let list = |map: &Map<String, Value>, field: &str| -> Result<Vec<String>, String> {
        match map.get(field) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| format!(".{field}: expected strings, found {}", kind(item)))
                })
                .collect(),
            Some(other) => Err(format!(".{field}: expected a list, found {}", kind(other))),
        }
    };
    for key in object.keys() {
        if !["tags", "paths", "operationIds"].contains(&key.as_str()) {
            return Err(format!(
                ".{key}: unknown selector; expected `tags`, `paths` or `operationIds`"
            ));
        }
    }
    let paths = list(object, "paths")?;
    let matcher = if paths.is_empty() {
        None
    } else {
        let mut builder = globset::GlobSetBuilder::new();
        for pattern in &paths {
            let glob = globset::GlobBuilder::new(pattern)
                .literal_separator(true)
                .build()
                .map_err(|err| format!(".paths: {pattern:?}: {}", err.kind()))?;
            builder.add(glob);
        }
        Some(builder.build().map_err(|err| format!(".paths: {err}"))?)
    };
    Ok(OperationFilter {
        tags: list(object, "tags")?,
        paths,
        operation_ids: list(object, "operationIds")?,
        matcher,
    })
}

fn spec_location(text: &str, base_dir: &Path) -> Result<SpecLocation, String> {
    if text.contains("://") {
        let url = Url::parse(text).map_err(|err| format!("invalid URL: {err}"))?;
        match url.scheme() {
            "https" => Ok(SpecLocation::Url(url)),
            "http" if is_loopback(&url) => Ok(SpecLocation::Url(url)),
            "http" => Err("a spec is fetched over https (http only from a loopback host)".into()),
            other => Err(format!(
                "unsupported URL scheme `{other}`; use a file path or https"
            )),
        }
    } else {
        let path = Path::new(text);
        Ok(SpecLocation::Path(if path.is_absolute() {
            path.to_owned()
        } else {
            base_dir.join(path)
        }))
    }
}

/// A server URL: absolute http(s), without a query or fragment.
pub(crate) fn server_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|err| format!("invalid URL: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "unsupported URL scheme `{}`; expected http or https",
            url.scheme()
        ));
    }
    if url.host_str().is_none() {
        return Err("the URL has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        // It would be shown (tool descriptions name the server) and sent everywhere.
        return Err("a server URL takes no user or password; use `auth`".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("a server URL takes no query or fragment".into());
    }
    Ok(url)
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// How a JSON value reads in a message ("a string", "a list").
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cret-token".to_owned())
    }

    fn parse(section: Value) -> OpenApiConfigs {
        parse_openapi_configs(&section, Path::new("/etc/codemode"), &env).expect("an object")
    }

    #[test]
    fn a_full_entry() {
        let configs = parse(json!({
            "github": {
                "spec": "specs/github.json",
                "baseUrl": "https://api.github.com",
                "headers": {"Authorization": "Bearer ${TOKEN}", "X-Version": "1"},
                "include": {"tags": ["repos"], "paths": ["/repos/*/*"]},
                "exclude": {"operationIds": ["repos/delete"]},
                "timeout": "5s",
                "maxResponseBytes": "1MiB"
            }
        }));
        assert!(configs.broken.is_empty(), "{:?}", configs.broken);
        let github = &configs.entries[0];
        assert_eq!(
            github.spec,
            SpecLocation::Path(PathBuf::from("/etc/codemode/specs/github.json"))
        );
        assert_eq!(github.headers[0].1, "Bearer s3cret-token");
        assert_eq!(github.secrets, vec!["s3cret-token".to_owned()]);
        assert_eq!(github.timeout, Duration::from_secs(5));
        assert_eq!(github.max_response_bytes, 1024 * 1024);
        assert!(github.keeps(&["repos".into()], "/x", None));
        assert!(github.keeps(&[], "/repos/a/b", None));
        assert!(
            !github.keeps(&[], "/repos/a/b/c", None),
            "`*` is one segment"
        );
        assert!(!github.keeps(&["repos".into()], "/x", Some("repos/delete")));
    }

    #[test]
    fn auth_forms() {
        let configs = parse(json!({
            "a": {"spec": "a.json", "auth": {"bearer": "${TOKEN}"}},
            "b": {"spec": "b.json", "auth": {"basic": {"username": "me", "password": "${TOKEN}"}}},
            "c": {"spec": "c.json", "auth": {"apiKey": "${TOKEN}", "scheme": "api_key"}},
        }));
        assert!(configs.broken.is_empty(), "{:?}", configs.broken);
        assert!(
            matches!(&configs.entries[0].auth, Some(Auth::Bearer { token, .. }) if token == "s3cret-token")
        );
        assert!(
            matches!(&configs.entries[1].auth, Some(Auth::Basic { username, .. }) if username == "me")
        );
        assert_eq!(
            configs.entries[2].auth.as_ref().and_then(Auth::scheme),
            Some("api_key")
        );
        assert!(!format!("{:?}", configs.entries[0]).contains("s3cret"));
    }

    #[test]
    fn one_bad_entry_costs_only_itself() {
        let configs = parse(json!({
            "unset": {"spec": "a.json", "auth": {"bearer": "${MISSING}"}},
            "nospec": {"baseUrl": "https://x.example"},
            "ftp": {"spec": "ftp://x.example/spec.json"},
            "plain": {"spec": "http://api.example.com/spec.json"},
            "twokinds": {"spec": "a.json", "auth": {"bearer": "x", "apiKey": "y"}},
            "badheader": {"spec": "a.json", "headers": {"X-Key": "a\nb"}},
            "good": {"spec": "http://127.0.0.1:4010/openapi.json"}
        }));
        let reasons: Vec<String> = configs.broken.iter().map(|b| b.reason.clone()).collect();
        assert_eq!(configs.entries.len(), 1, "{reasons:?}");
        assert!(reasons[0].contains("openapi.unset.auth.bearer") && reasons[0].contains("MISSING"));
        assert!(reasons[1].contains("`spec` is missing"));
        assert!(reasons[2].contains("ftp"));
        assert!(reasons[3].contains("https"));
        assert!(reasons[4].contains("exactly one"));
        assert!(reasons[5].contains("headers.X-Key") && !reasons[5].contains("a\nb"));
        assert!(parse_openapi_configs(&json!([]), Path::new("/"), &env).is_err());
    }
}
