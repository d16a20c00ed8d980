//! HTTP upstreams: the shared HTTP client and the Streamable HTTP transport, whose POSTs
//! carry a call's trace context as headers too (`TracedClient`).
//!
//! rmcp's Streamable HTTP client does the protocol work, including the one we rely on for
//! robustness: when a server answers 404 to our `Mcp-Session-Id` (its session expired or it
//! restarted), the transport re-runs `initialize` and retries the request once.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Once};
use std::time::Duration;

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpClientTransportConfig, StreamableHttpError,
    StreamableHttpPostResponse, StreamableHttpResponseLimits,
};
use rmcp::transport::StreamableHttpClientTransport;
use sse_stream::Sse;

use crate::config::HttpServer;
use crate::error::ConnectError;

/// Connecting (TCP + TLS) must not take longer than this; responses may (tools run long).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP client for all upstreams.
pub(crate) fn client(url: &str) -> Result<reqwest::Client, ConnectError> {
    install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(|err| ConnectError::Http {
            url: url.to_owned(),
            detail: crate::error::chain(&err),
        })
}

/// reqwest is built without a bundled rustls crypto provider (the default one, aws-lc, needs a
/// C/cmake toolchain); use `ring` unless the process has already chosen one.
fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Err means another provider is already the process default, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The configured headers as a header map. Names and values were checked when the config
/// was loaded; an invalid one here is still reported rather than trusted.
pub(crate) fn header_map(
    server: &HttpServer,
) -> Result<HashMap<HeaderName, HeaderValue>, ConnectError> {
    headers(&server.url, &server.headers)
}

fn headers(
    url: &str,
    headers: &BTreeMap<String, String>,
) -> Result<HashMap<HeaderName, HeaderValue>, ConnectError> {
    headers
        .iter()
        .map(|(name, value)| {
            let bad = |what: &str| ConnectError::Http {
                url: url.to_owned(),
                detail: format!("header `{name}`: invalid {what}"),
            };
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("name"))?;
            let value = HeaderValue::from_str(value).map_err(|_| bad("value"))?;
            Ok((name, value))
        })
        .collect()
}

/// A Streamable HTTP transport to `server`, not yet initialized.
pub(crate) fn streamable_transport(
    client: reqwest::Client,
    server: &HttpServer,
) -> Result<StreamableHttpClientTransport<TracedClient>, ConnectError> {
    let config = StreamableHttpClientTransportConfig::with_uri(server.url.as_str())
        .custom_headers(header_map(server)?)
        .reinit_on_expired_session(true);
    Ok(StreamableHttpClientTransport::with_client(
        TracedClient(client),
        config,
    ))
}

/// rmcp's reqwest client for Streamable HTTP, with one addition: a POST carrying a
/// `tools/call` also carries that call's trace context (`_meta.traceparent`) as the
/// `traceparent` header, for servers and proxies that trace HTTP rather than MCP. Every
/// method is rmcp's own, limits included.
#[derive(Debug, Clone)]
pub(crate) struct TracedClient(reqwest::Client);

impl TracedClient {
    fn headers_for(
        message: &ClientJsonRpcMessage,
        mut headers: HashMap<HeaderName, HeaderValue>,
    ) -> HashMap<HeaderName, HeaderValue> {
        if let Some(trace) = crate::trace_context::of_message(message) {
            crate::trace_context::insert_headers(&mut headers, &trace);
        }
        headers
    }
}

impl StreamableHttpClient for TracedClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<reqwest::Error>> {
        let headers = Self::headers_for(&message, custom_headers);
        self.0
            .post_message(uri, message, session_id, auth_header, headers)
            .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<reqwest::Error>> {
        let headers = Self::headers_for(&message, custom_headers);
        self.0
            .post_message_with_max_sse_event_size(
                uri,
                message,
                session_id,
                auth_header,
                headers,
                max_sse_event_size,
            )
            .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<reqwest::Error>> {
        let headers = Self::headers_for(&message, custom_headers);
        self.0
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                headers,
                limits,
            )
            .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<reqwest::Error>> {
        self.0
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<reqwest::Error>>
    {
        self.0
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<reqwest::Error>>
    {
        self.0
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
    }
}
