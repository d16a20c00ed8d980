//! The legacy HTTP+SSE transport (MCP 2024-11-05), client side.
//!
//! rmcp 3.11 has no client for it (only Streamable HTTP), and servers that still speak only
//! this exist, so this is a small one: `GET` the URL for an event stream whose first event,
//! `endpoint`, names where to `POST` our messages; the server's messages arrive as `message`
//! events on the stream. It is used when a config says `"type": "sse"`, and as the fallback when a
//! Streamable HTTP `initialize` fails and the same URL turns out to serve such a stream.

use futures::stream::BoxStream;
use futures::StreamExt;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::HeaderMap;
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::RoleClient;
use sse_stream::{Sse, SseStream};

use crate::config::HttpServer;
use crate::error::chain;

type Events = BoxStream<'static, Result<Sse, sse_stream::Error>>;

/// A connected legacy SSE session.
pub(crate) struct LegacySseTransport {
    client: reqwest::Client,
    endpoint: reqwest::Url,
    headers: HeaderMap,
    events: Option<Events>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SseError {
    #[error("{0}")]
    Request(String),
    #[error("HTTP {status}")]
    Status { status: u16 },
    #[error("not an event stream (content-type: {})", .0.as_deref().unwrap_or("none"))]
    NotEventStream(Option<String>),
    #[error("the event stream did not begin with an `endpoint` event")]
    NoEndpoint,
    #[error("unusable `endpoint` event `{endpoint}`: {reason}")]
    BadEndpoint { endpoint: String, reason: String },
    #[error("cannot encode message: {0}")]
    Encode(#[from] serde_json::Error),
}

impl LegacySseTransport {
    /// Opens the event stream at `server.url` and reads the `endpoint` event.
    pub(crate) async fn connect(
        client: reqwest::Client,
        server: &HttpServer,
    ) -> Result<LegacySseTransport, SseError> {
        let headers: HeaderMap = crate::http::header_map(server)
            .map_err(|err| SseError::Request(err.to_string()))?
            .into_iter()
            .collect();
        let response = client
            .get(server.url.as_str())
            .headers(headers.clone())
            .header(ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(|err| SseError::Request(chain(&err)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(SseError::Status {
                status: status.as_u16(),
            });
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if !content_type
            .as_deref()
            .is_some_and(|ct| ct.trim_start().starts_with("text/event-stream"))
        {
            return Err(SseError::NotEventStream(content_type));
        }
        let base = response.url().clone();
        let mut events: Events = SseStream::from_bytes_stream(response.bytes_stream()).boxed();
        let endpoint = loop {
            match events.next().await {
                Some(Ok(event)) if event.event.as_deref() == Some("endpoint") => {
                    break event.data.unwrap_or_default();
                }
                // Comments and retry hints carry neither event nor data.
                Some(Ok(event)) if event.event.is_none() && event.data.is_none() => continue,
                _ => return Err(SseError::NoEndpoint),
            }
        };
        let endpoint = resolve_endpoint(&base, endpoint.trim())?;
        Ok(LegacySseTransport {
            client,
            endpoint,
            headers,
            events: Some(events),
        })
    }
}

/// The `endpoint` event's URI, resolved against the stream URL. It must stay on the same
/// origin: our headers (credentials) go with every POST.
fn resolve_endpoint(base: &reqwest::Url, endpoint: &str) -> Result<reqwest::Url, SseError> {
    let bad = |reason: String| SseError::BadEndpoint {
        endpoint: endpoint.to_owned(),
        reason,
    };
    let url = base.join(endpoint).map_err(|err| bad(err.to_string()))?;
    if url.origin() != base.origin() {
        return Err(bad(format!(
            "points to another origin than {}",
            base.origin().ascii_serialization()
        )));
    }
    Ok(url)
}

impl Transport<RoleClient> for LegacySseTransport {
    type Error = SseError;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl std::future::Future<Output = Result<(), SseError>> + Send + 'static {
        // A call's trace context goes as headers too, as over Streamable HTTP.
        let mut headers = self.headers.clone();
        if let Some(trace) = crate::trace_context::of_message(&item) {
            let mut trace_headers = std::collections::HashMap::new();
            crate::trace_context::insert_headers(&mut trace_headers, &trace);
            headers.extend(trace_headers);
        }
        let request = serde_json::to_vec(&item).map(|body| {
            self.client
                .post(self.endpoint.clone())
                .headers(headers)
                .header(CONTENT_TYPE, "application/json")
                .body(body)
        });
        async move {
            let response = request?
                .send()
                .await
                .map_err(|err| SseError::Request(chain(&err)))?;
            let status = response.status();
            if status.is_success() {
                Ok(())
            } else {
                Err(SseError::Status {
                    status: status.as_u16(),
                })
            }
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        let events = self.events.as_mut()?;
        loop {
            match events.next().await? {
                Ok(event) => {
                    if !matches!(event.event.as_deref(), None | Some("message")) {
                        tracing::debug!(event = ?event.event, "ignoring SSE event");
                        continue;
                    }
                    let Some(data) = event.data else { continue };
                    match serde_json::from_str(&data) {
                        Ok(message) => return Some(message),
                        Err(err) => {
                            tracing::warn!(%err, "ignoring an SSE message that is not JSON-RPC")
                        }
                    }
                }
                Err(err) => {
                    tracing::warn!(%err, "legacy SSE stream failed");
                    return None;
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), SseError> {
        self.events = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_resolves_relative_and_rejects_other_origins() {
        let base = reqwest::Url::parse("http://127.0.0.1:3001/sse").unwrap();
        assert_eq!(
            resolve_endpoint(&base, "/message?sessionId=abc")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:3001/message?sessionId=abc"
        );
        assert!(resolve_endpoint(&base, "http://evil.example/steal").is_err());
    }
}
