//! HTTP upstreams: the shared HTTP client and the Streamable HTTP transport.
//!
//! rmcp's Streamable HTTP client does the protocol work, including the one we rely on for
//! robustness: when a server answers 404 to our `Mcp-Session-Id` (its session expired or it
//! restarted), the transport re-runs `initialize` and retries the request once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Once;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;

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
) -> Result<StreamableHttpClientTransport<reqwest::Client>, ConnectError> {
    let config = StreamableHttpClientTransportConfig::with_uri(server.url.as_str())
        .custom_headers(header_map(server)?)
        .reinit_on_expired_session(true);
    Ok(StreamableHttpClientTransport::with_client(client, config))
}
