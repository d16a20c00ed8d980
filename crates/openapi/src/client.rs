//! The HTTP call: credentials on, a deadline over the whole exchange, the answer read up to
//! its cap, redirects followed by our own rule, and the response as the snippet's value.
//!
//! Redirects (at most [`MAX_REDIRECTS`]): to the API's own origin (scheme, host and port of
//! its base URL) they are followed with everything, credentials included; to any other
//! origin they are followed without the configured headers, credentials or cookies, and
//! refused outright if the new URL carries a secret (a server that copies our query string
//! into `Location`) or leaves https for http. 303, and 301/302 after anything but GET or
//! HEAD, continue as a GET without a body, as browsers do; 307 and 308 repeat the request.
//!
//! The answer, for a 2xx status: JSON (a `json` media type) as it came, handed to the
//! sandbox as text; no body as `null`; other text as `{"contentType", "text"}`; anything
//! else as `{"contentType", "size", "base64"}` (up to [`MAX_INLINE_BINARY`] bytes, else
//! without `base64`). Any other status fails with kind `tool_error`: `HTTP 404 Not Found:
//! <message>`, the message taken from a JSON body's `message`/`error`/`detail`/… field, else
//! the body's first 500 characters. Every secret of the entry is blanked out of what the
//! snippet receives, error or answer (`[redacted]`).

use std::time::Duration;

use codemode_sandbox::{ToolAnswer, ToolError, ToolErrorKind};
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, COOKIE, LOCATION};
use http::{Method, StatusCode};
use serde_json::{json, Value};
use url::Url;

use crate::auth::Placement;

/// The most redirects one call follows.
pub(crate) const MAX_REDIRECTS: usize = 5;
/// Binary answers up to this size come back as base64; larger ones as their size only.
pub(crate) const MAX_INLINE_BINARY: usize = 1024 * 1024;
/// How much of a non-JSON error body the message quotes.
const ERROR_TEXT_CHARS: usize = 500;
/// Connecting (TCP + TLS) must not take longer than this, whatever the call's timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP client for every OpenAPI namespace: redirects are ours to follow.
pub(crate) fn http_client() -> Result<reqwest::Client, String> {
    install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("codemode/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| describe(&err))
}

/// reqwest is built without a bundled rustls crypto provider (the default one, aws-lc, needs
/// a C/cmake toolchain); use `ring` unless the process has already chosen one (as
/// `codemode-upstream` does the same way).
fn install_crypto_provider() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        // Err means another provider is already the process default, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The client that fetches specs by URL: it follows redirects (a spec's URL often moves)
/// and never carries an API's credentials.
pub(crate) fn spec_client() -> Result<reqwest::Client, String> {
    install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
        .user_agent(concat!("codemode/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| describe(&err))
}

/// An error in words, with its causes and never its URL (which may carry an API key).
pub(crate) fn describe(err: &reqwest::Error) -> String {
    let mut text = if err.is_timeout() {
        "timed out".to_owned()
    } else if err.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What an entry adds to every request, and its limits.
pub(crate) struct Endpoint<'a> {
    pub base_url: &'a Url,
    /// The config's raw headers.
    pub headers: &'a [(HeaderName, HeaderValue)],
    pub timeout: Duration,
    pub max_response_bytes: u64,
    /// Blanked out of everything the snippet sees.
    pub secrets: &'a [String],
}

/// One request as the arguments made it, before credentials.
pub(crate) struct Outgoing {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub cookies: Vec<String>,
    pub body: Option<(String, Vec<u8>)>,
}

/// Sends `outgoing` with `credentials` and turns the response into the snippet's answer.
pub(crate) async fn send(
    http: &reqwest::Client,
    endpoint: &Endpoint<'_>,
    credentials: &[Placement],
    outgoing: Outgoing,
) -> Result<ToolAnswer, ToolError> {
    let timeout = endpoint.timeout;
    match tokio::time::timeout(timeout, exchange(http, endpoint, credentials, outgoing)).await {
        Ok(result) => result,
        Err(_) => Err(ToolError::of(
            ToolErrorKind::Timeout,
            format!(
                "no answer within {} ms; the request was abandoned",
                timeout.as_millis()
            ),
        )),
    }
}

async fn exchange(
    http: &reqwest::Client,
    endpoint: &Endpoint<'_>,
    credentials: &[Placement],
    outgoing: Outgoing,
) -> Result<ToolAnswer, ToolError> {
    let Outgoing {
        mut method,
        mut url,
        headers: arg_headers,
        cookies: arg_cookies,
        mut body,
    } = outgoing;
    let mut trusted = true;
    let mut hops = 0;
    let response = loop {
        let mut request_url = url.clone();
        let mut headers = arg_headers.clone();
        let mut cookies = arg_cookies.clone();
        if trusted {
            for (name, value) in endpoint.headers {
                headers.insert(name.clone(), value.clone());
            }
            add_credentials(&mut request_url, &mut headers, &mut cookies, credentials);
        }
        if !cookies.is_empty() {
            if let Ok(value) = HeaderValue::from_str(&cookies.join("; ")) {
                headers.insert(COOKIE, value);
            }
        }
        let mut request = http.request(method.clone(), request_url).headers(headers);
        if let Some((content_type, bytes)) = &body {
            request = request
                .header(CONTENT_TYPE, content_type.as_str())
                .body(bytes.clone());
        }
        let response = request.send().await.map_err(|err| {
            ToolError::of(
                ToolErrorKind::Transport,
                redact(&describe(&err), endpoint.secrets),
            )
        })?;
        let status = response.status();
        let Some(location) = redirect_target(&response) else {
            break response;
        };
        hops += 1;
        if hops > MAX_REDIRECTS {
            return Err(ToolError::new(format!(
                "more than {MAX_REDIRECTS} redirects; the last was HTTP {status}"
            )));
        }
        let next = url.join(&location).map_err(|_| {
            ToolError::new(format!("HTTP {status} redirects to an invalid location"))
        })?;
        if url.scheme() == "https" && next.scheme() != "https" {
            return Err(ToolError::new(format!(
                "HTTP {status} redirects from https to {}; not followed",
                next.scheme()
            )));
        }
        if !same_origin(&next, endpoint.base_url) {
            if endpoint
                .secrets
                .iter()
                .any(|s| !s.is_empty() && next.as_str().contains(s.as_str()))
            {
                return Err(ToolError::new(format!(
                    "HTTP {status} redirects to another host with a credential in the URL; not followed"
                )));
            }
            // Past this point nothing of the entry's goes along.
            trusted = false;
        }
        let keeps_method = matches!(
            status,
            StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
        );
        if !keeps_method
            && (status == StatusCode::SEE_OTHER || !matches!(method, Method::GET | Method::HEAD))
        {
            method = Method::GET;
            body = None;
        }
        url = next;
    };
    read_answer(response, endpoint).await
}

fn add_credentials(
    url: &mut Url,
    headers: &mut HeaderMap,
    cookies: &mut Vec<String>,
    credentials: &[Placement],
) {
    for placement in credentials {
        match placement {
            Placement::Header(name, value) => {
                headers.insert(name.clone(), value.clone());
            }
            Placement::Query(name, value) => {
                let already = url.query_pairs().any(|(k, _)| k == name.as_str());
                if !already {
                    url.query_pairs_mut().append_pair(name, value);
                }
            }
            Placement::Cookie(name, value) => cookies.push(format!("{name}={value}")),
        }
    }
}

fn redirect_target(response: &reqwest::Response) -> Option<String> {
    if !response.status().is_redirection() || response.status() == StatusCode::NOT_MODIFIED {
        return None;
    }
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

async fn read_answer(
    mut response: reqwest::Response,
    endpoint: &Endpoint<'_>,
) -> Result<ToolAnswer, ToolError> {
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let cap = endpoint.max_response_bytes;
    let too_large = || {
        ToolError::new(format!(
            "HTTP {status}: the response is larger than the {cap}-byte limit (maxResponseBytes)"
        ))
    };
    if response.content_length().is_some_and(|n| n > cap) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|err| {
        ToolError::of(
            ToolErrorKind::Transport,
            redact(
                &format!("reading the response: {}", describe(&err)),
                endpoint.secrets,
            ),
        )
    })? {
        if (bytes.len() + chunk.len()) as u64 > cap {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        return Err(ToolError::new(redact(
            &status_error(status, &bytes),
            endpoint.secrets,
        )));
    }
    Ok(answer(&content_type, bytes, endpoint.secrets))
}

fn answer(content_type: &str, bytes: Vec<u8>, secrets: &[String]) -> ToolAnswer {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return ToolAnswer::Value(Value::Null);
    }
    match String::from_utf8(bytes) {
        Ok(text) => {
            let text = redact(&text, secrets);
            if crate::operations::is_json(content_type) || content_type.is_empty() {
                if let Ok(raw) = serde_json::value::RawValue::from_string(text.clone()) {
                    return ToolAnswer::Json(raw);
                }
            }
            ToolAnswer::Value(
                json!({"contentType": content_type_or_text(content_type), "text": text}),
            )
        }
        Err(err) => {
            let bytes = err.into_bytes();
            let mut value = json!({"contentType": content_type, "size": bytes.len()});
            if bytes.len() <= MAX_INLINE_BINARY {
                use base64::Engine;
                value["base64"] =
                    Value::String(base64::engine::general_purpose::STANDARD.encode(&bytes));
            } else {
                value["note"] = Value::String(format!(
                    "binary content of {} bytes left out (more than {MAX_INLINE_BINARY})",
                    bytes.len()
                ));
            }
            ToolAnswer::Value(value)
        }
    }
}

fn content_type_or_text(content_type: &str) -> &str {
    if content_type.is_empty() {
        "text/plain"
    } else {
        content_type
    }
}

/// `HTTP 404 Not Found: <the body's message>`.
pub(crate) fn status_error(status: StatusCode, body: &[u8]) -> String {
    let head = match status.canonical_reason() {
        Some(reason) => format!("HTTP {} {reason}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    };
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return head;
    }
    let message = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| message_of(&v))
        .unwrap_or_else(|| {
            let cut: String = text.chars().take(ERROR_TEXT_CHARS).collect();
            if cut.len() < text.len() {
                format!("{cut}…")
            } else {
                cut
            }
        });
    format!("{head}: {message}")
}

/// The human part of a JSON error body, as APIs commonly put it.
fn message_of(body: &Value) -> Option<String> {
    for key in [
        "message",
        "error_description",
        "error",
        "detail",
        "title",
        "errors",
    ] {
        match body.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => return Some(s.trim().to_owned()),
            Some(nested @ Value::Object(_)) => {
                if let Some(inner) = message_of(nested) {
                    return Some(inner);
                }
            }
            Some(Value::Array(items)) => {
                if let Some(inner) = items.iter().find_map(|item| match item {
                    Value::String(s) => Some(s.clone()),
                    other => message_of(other),
                }) {
                    return Some(inner);
                }
            }
            _ => {}
        }
    }
    None
}

/// `text` with every secret replaced by `[redacted]`.
pub(crate) fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        if secret.len() >= 4 && out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "[redacted]");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_quote_the_body() {
        assert_eq!(
            status_error(
                StatusCode::NOT_FOUND,
                br#"{"message": "Not Found", "documentation_url": "x"}"#
            ),
            "HTTP 404 Not Found: Not Found"
        );
        assert_eq!(
            status_error(
                StatusCode::BAD_REQUEST,
                br#"{"error": {"message": "No such customer", "type": "invalid_request_error"}}"#
            ),
            "HTTP 400 Bad Request: No such customer"
        );
        assert_eq!(
            status_error(StatusCode::FORBIDDEN, b""),
            "HTTP 403 Forbidden"
        );
        let long = "x".repeat(2000);
        let message = status_error(StatusCode::INTERNAL_SERVER_ERROR, long.as_bytes());
        assert!(message.len() < 600 && message.ends_with('…'));
    }

    #[test]
    fn secrets_are_blanked() {
        let secrets = vec!["s3cret".to_owned(), "ab".to_owned()];
        assert_eq!(redact("token s3cret, ab", &secrets), "token [redacted], ab");
    }

    #[test]
    fn answers_by_content_type() {
        let json = answer(
            "application/json; charset=utf-8",
            br#"{"a": 1}"#.to_vec(),
            &[],
        );
        assert!(matches!(json, ToolAnswer::Json(raw) if raw.get() == r#"{"a": 1}"#));
        let text = answer("text/plain", b"hello".to_vec(), &[]);
        assert!(
            matches!(text, ToolAnswer::Value(v) if v == json!({"contentType": "text/plain", "text": "hello"}))
        );
        let empty = answer("application/json", Vec::new(), &[]);
        assert!(matches!(empty, ToolAnswer::Value(Value::Null)));
        let binary = answer("image/png", vec![0xff, 0x00], &[]);
        assert!(matches!(binary, ToolAnswer::Value(v) if v["base64"] == "/wA=" && v["size"] == 2));
    }
}
