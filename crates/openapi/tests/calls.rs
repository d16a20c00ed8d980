//! Calls against a loopback HTTP server: what arrives on the wire (parameter styles,
//! bodies, credentials of every kind), and the client's rules (response size cap, non-2xx
//! errors, redirects within and across hosts, timeout, `$request` kept to the spec's paths).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use codemode_catalog::{NamespaceStatus, ToolSource};
use codemode_openapi::{parse_openapi_configs, OpenApiSource};
use codemode_sandbox::ToolErrorKind;
use serde_json::{json, Value};

const TOKEN: &str = "tok-3f9a1c2e";
const PASSWORD: &str = "pw-77b1e0d4";
const KEY: &str = "key-a81c55f2";

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Clone, Default)]
struct Server {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Where `/redirect/cross` sends the client.
    other: Arc<Mutex<String>>,
}

impl Server {
    fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a request arrived")
    }
    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

async fn handle(State(server): State<Server>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default()
        .to_vec();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers.clone(),
        body,
    };
    server.seen.lock().unwrap().push(seen);
    let path = parts.uri.path().trim_start_matches("/v1");
    let query = parts
        .uri
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    match path {
        "/big" => ([("content-type", "application/json")], format!("\"{}\"", "x".repeat(10_000))).into_response(),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Json(json!({"late": true})).into_response()
        }
        "/fail" => (
            StatusCode::NOT_FOUND,
            Json(json!({"message": format!("No such pet (you sent {TOKEN})"), "documentation_url": "https://x"})),
        )
            .into_response(),
        "/openapi.yaml" => {
            let spec = std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs/petstore-3.0.yaml"),
            )
            .unwrap_or_default();
            ([("content-type", "application/yaml")], spec).into_response()
        }
        "/spec-moved" => (StatusCode::MOVED_PERMANENTLY, [("location", "/openapi.yaml")]).into_response(),
        "/status" => ([("content-type", "text/plain")], "all good").into_response(),
        "/redirect/same" => (StatusCode::FOUND, [("location", format!("/v1/landed{query}"))]).into_response(),
        "/redirect/cross" | "/redirect/cross-keyed" => {
            let other = server.other.lock().unwrap().clone();
            (StatusCode::FOUND, [("location", format!("{other}/landed{query}"))]).into_response()
        }
        _ => Json(json!({"ok": true, "path": path})).into_response(),
    }
}

struct Json(Value);

impl IntoResponse for Json {
    fn into_response(self) -> Response {
        ([("content-type", "application/json")], self.0.to_string()).into_response()
    }
}

async fn serve(server: Server) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().fallback(handle).with_state(server);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn env(name: &str) -> Option<String> {
    match name {
        "TOKEN" => Some(TOKEN.into()),
        "PASSWORD" => Some(PASSWORD.into()),
        "KEY" => Some(KEY.into()),
        _ => None,
    }
}

/// The petstore spec, served by `addr`, once per kind of credentials, plus a namespace with
/// tight limits.
async fn source(addr: SocketAddr) -> OpenApiSource {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/specs/petstore-3.0.yaml")
        .display()
        .to_string();
    let base = format!("http://{addr}/v1");
    let section = json!({
        "bearer": {"spec": spec, "baseUrl": base, "auth": {"bearer": "${TOKEN}"},
                   "headers": {"X-Client": "codemode-test"}},
        "basic": {"spec": spec, "baseUrl": base, "auth": {"basic": {"username": "me", "password": "${PASSWORD}"}}},
        "keyed": {"spec": spec, "baseUrl": base, "auth": {"apiKey": "${KEY}"}},
        "tight": {"spec": spec, "baseUrl": base, "auth": {"bearer": "${TOKEN}"},
                  "timeout": "1s", "maxResponseBytes": "1KiB"}
    });
    let configs = parse_openapi_configs(&section, Path::new("/"), &env).expect("section");
    assert!(configs.broken.is_empty(), "{:?}", configs.broken);
    let source = OpenApiSource::load(&configs).await;
    for ns in source.namespaces() {
        assert_eq!(ns.status, NamespaceStatus::Ready, "{}", ns.name);
    }
    source
}

async fn setup() -> (Server, OpenApiSource, Server) {
    let server = Server::default();
    let other = Server::default();
    let other_addr = serve(other.clone()).await;
    // `localhost` is another host than `127.0.0.1`, as far as credentials are concerned.
    *server.other.lock().unwrap() = format!("http://localhost:{}", other_addr.port());
    let addr = serve(server.clone()).await;
    (server, source(addr).await, other)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_arrive_as_the_spec_styles_them() {
    let (server, source, _) = setup().await;
    let answer = source
        .call(
            "bearer",
            "listPets",
            json!({
                "tags": ["a b", "c,d"],
                "limit": 5,
                "filter": {"color": "red", "size": "xl"},
                "ids": [1, 2],
                "X-Trace": "t-1",
                "theme": "dark"
            }),
        )
        .await
        .expect("answer");
    assert_eq!(answer, json!({"ok": true, "path": "/pets"}));
    let seen = server.last();
    assert_eq!(seen.method, "GET");
    assert_eq!(
        seen.query.as_deref(),
        Some("tags=a%20b,c%2Cd&limit=5&filter%5Bcolor%5D=red&filter%5Bsize%5D=xl&ids=1|2")
    );
    assert_eq!(seen.header("x-trace"), Some("t-1"));
    assert_eq!(seen.header("cookie"), Some("theme=dark"));
    assert_eq!(seen.header("x-client"), Some("codemode-test"));

    source
        .call(
            "bearer",
            "styledPath",
            json!({"labels": ["x", "y"], "coords": {"x": 1, "y": 2}}),
        )
        .await
        .expect("answer");
    assert_eq!(server.last().path, "/v1/labels/.x,y/map;x=1;y=2");

    source
        .call("bearer", "getPet", json!({"petId": 7, "query_petId": "q"}))
        .await
        .expect("answer");
    let seen = server.last();
    assert_eq!(
        (seen.path.as_str(), seen.query.as_deref()),
        ("/v1/pets/7", Some("petId=q"))
    );

    // A path value cannot climb out of its segment.
    source
        .call("bearer", "getPet", json!({"petId": "../admin"}))
        .await
        .expect("answer");
    assert_eq!(server.last().path, "/v1/pets/..%2Fadmin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_arrive_in_their_media_type() {
    let (server, source, _) = setup().await;
    source
        .call(
            "bearer",
            "addPet",
            json!({"body": {"name": "Rex", "tag": null}}),
        )
        .await
        .expect("answer");
    let seen = server.last();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(
        serde_json::from_slice::<Value>(&seen.body).unwrap(),
        json!({"name": "Rex", "tag": null})
    );

    source
        .call(
            "bearer",
            "adoptPet",
            json!({"petId": 1, "body": {"owner": "Ann Lee", "meta": {"via": "web"}}}),
        )
        .await
        .expect("answer");
    let seen = server.last();
    assert_eq!(
        seen.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        String::from_utf8_lossy(&seen.body),
        "owner=Ann%20Lee&meta%5Bvia%5D=web"
    );

    source
        .call(
            "bearer",
            "uploadPhoto",
            json!({"petId": 1, "body": {"caption": "hi", "photo": "PNGDATA"}}),
        )
        .await
        .expect("answer");
    let seen = server.last();
    let content_type = seen.header("content-type").unwrap_or_default().to_owned();
    assert!(
        content_type.starts_with("multipart/form-data; boundary="),
        "{content_type}"
    );
    let text = String::from_utf8_lossy(&seen.body);
    assert!(
        text.contains("name=\"caption\"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhi\r\n"),
        "{text}"
    );
    assert!(
        text.contains("name=\"photo\"; filename=\"photo\""),
        "{text}"
    );

    let missing = source
        .call("bearer", "addPet", json!({}))
        .await
        .expect_err("body required");
    assert_eq!(missing.kind, ToolErrorKind::InvalidArguments);
    let unknown = source
        .call("bearer", "listPets", json!({"colour": "red"}))
        .await
        .expect_err("unknown");
    assert_eq!(unknown.kind, ToolErrorKind::InvalidArguments);
    assert!(
        unknown.message.contains("`colour`") && unknown.message.contains("limit"),
        "{}",
        unknown.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_go_where_the_security_schemes_say() {
    let (server, source, _) = setup().await;
    source
        .call("bearer", "listPets", json!({}))
        .await
        .expect("answer");
    assert_eq!(
        server.last().header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );

    source
        .call("basic", "listPets", json!({}))
        .await
        .expect("answer");
    let basic = base64_basic("me", PASSWORD);
    assert_eq!(server.last().header("authorization"), Some(basic.as_str()));

    // The spec-wide requirement names a header key; the operations name a query and a cookie.
    source
        .call("keyed", "listPets", json!({}))
        .await
        .expect("answer");
    assert_eq!(server.last().header("x-api-key"), Some(KEY));
    source
        .call("keyed", "keyedQuery", json!({}))
        .await
        .expect("answer");
    let seen = server.last();
    assert_eq!(seen.query, Some(format!("api_key={KEY}")));
    assert_eq!(seen.header("x-api-key"), None);
    source
        .call("keyed", "keyedCookie", json!({}))
        .await
        .expect("answer");
    assert_eq!(
        server.last().header("cookie"),
        Some(format!("key={KEY}").as_str())
    );

    // `security: []`: nothing is sent.
    let status = source
        .call("bearer", "status", json!({}))
        .await
        .expect("answer");
    assert_eq!(
        status,
        json!({"contentType": "text/plain", "text": "all good"})
    );
    assert_eq!(server.last().header("authorization"), None);
}

fn base64_basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_the_status_and_message_never_a_credential() {
    let (_, source, _) = setup().await;
    let error = source
        .call("bearer", "fail", json!({}))
        .await
        .expect_err("404");
    assert_eq!(error.kind, ToolErrorKind::Tool);
    assert_eq!(
        error.message,
        "HTTP 404 Not Found: No such pet (you sent [redacted])"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_response_size_cap_and_the_timeout_hold() {
    let (_, source, _) = setup().await;
    let big = source
        .call("bearer", "big", json!({}))
        .await
        .expect("under 8MiB");
    assert_eq!(big.as_str().map(str::len), Some(10_000));
    let capped = source
        .call("tight", "big", json!({}))
        .await
        .expect_err("over 1KiB");
    assert!(
        capped.message.contains("1024-byte limit"),
        "{}",
        capped.message
    );

    let started = std::time::Instant::now();
    let late = source
        .call("tight", "slow", json!({}))
        .await
        .expect_err("over 1s");
    assert_eq!(late.kind, ToolErrorKind::Timeout);
    assert!(started.elapsed() < Duration::from_millis(2500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_keep_credentials_only_on_the_same_host() {
    let (server, source, other) = setup().await;
    let answer = source
        .call("bearer", "redirectSame", json!({}))
        .await
        .expect("answer");
    assert_eq!(answer["path"], "/landed");
    let landed = server.last();
    assert_eq!(landed.path, "/v1/landed");
    assert_eq!(
        landed.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(landed.header("x-client"), Some("codemode-test"));

    let answer = source
        .call("bearer", "redirectCross", json!({}))
        .await
        .expect("answer");
    assert_eq!(answer["path"], "/landed");
    let landed = other.last();
    assert_eq!(
        landed.header("authorization"),
        None,
        "no credential follows to another host"
    );
    assert_eq!(
        landed.header("x-client"),
        None,
        "nor the configured headers"
    );

    // A key in the query string would travel with the redirect: refused, and never sent.
    let before = other.count();
    let refused = source
        .call("keyed", "redirectCrossKeyed", json!({}))
        .await
        .expect_err("refused");
    assert!(
        refused.message.contains("credential in the URL"),
        "{}",
        refused.message
    );
    assert!(!refused.message.contains(KEY), "{}", refused.message);
    assert_eq!(other.count(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_is_kept_to_the_specs_paths() {
    let (server, source, _) = setup().await;
    let answer = source
        .call("bearer", "$request", json!({"method": "get", "path": "/pets/42", "query": {"x": [1, 2]}, "headers": {"X-Extra": "e"}}))
        .await
        .expect("answer");
    assert_eq!(answer["path"], "/pets/42");
    let seen = server.last();
    assert_eq!(
        (seen.path.as_str(), seen.query.as_deref()),
        ("/v1/pets/42", Some("x=1&x=2"))
    );
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(seen.header("x-extra"), Some("e"));

    source
        .call(
            "bearer",
            "$request",
            json!({"method": "POST", "path": "/pets", "body": {"name": "Rex"}}),
        )
        .await
        .expect("answer");
    assert_eq!(server.last().body, br#"{"name":"Rex"}"#);

    let count = server.count();
    for (args, expected) in [
        (
            json!({"method": "GET", "path": "/admin"}),
            "matches none of this API's paths",
        ),
        (
            json!({"method": "PATCH", "path": "/pets"}),
            "takes GET, POST",
        ),
        (json!({"method": "GET", "path": "/pets/../admin"}), "`..`"),
        (json!({"method": "GET", "path": "/pets?x=1"}), "use `query`"),
        (
            json!({"method": "GET", "path": "http://evil.example/pets"}),
            "starts with `/`",
        ),
        (
            json!({"method": "GET", "path": "/pets", "headers": {"Host": "evil.example"}}),
            "`Host`",
        ),
    ] {
        let error = source
            .call("bearer", "$request", args)
            .await
            .expect_err(expected);
        assert_eq!(error.kind, ToolErrorKind::InvalidArguments);
        assert!(error.message.contains(expected), "{}", error.message);
    }
    assert_eq!(server.count(), count, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spec_can_come_from_a_url() {
    let server = Server::default();
    let addr = serve(server.clone()).await;
    let section = json!({"remote": {
        "spec": format!("http://{addr}/spec-moved"),
        "baseUrl": format!("http://{addr}/v1"),
        "auth": {"bearer": "${TOKEN}"}
    }});
    let configs = parse_openapi_configs(&section, Path::new("/"), &env).expect("section");
    let source = OpenApiSource::load(&configs).await;
    let namespace = source.namespaces().remove(0);
    assert_eq!(namespace.status, NamespaceStatus::Ready, "{namespace:?}");
    assert!(namespace.tools.iter().any(|t| t.name == "listPets"));
    let fetches: Vec<Seen> = server.seen.lock().unwrap().clone();
    assert_eq!(fetches.len(), 2, "the redirect was followed");
    assert!(
        fetches.iter().all(|s| s.header("authorization").is_none()),
        "a spec is fetched without credentials"
    );
}
