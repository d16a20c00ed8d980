//! The OpenTelemetry side: a tracer provider that batches finished spans and sends them
//! over OTLP/HTTP (protobuf), and the guard that flushes it at exit.
//!
//! Export never stands in the gateway's way: spans queue in memory (bounded; the oldest are
//! dropped when the queue is full) and a thread of the SDK's own sends them, so a slow or
//! dead receiver costs that thread's time only. Its failure is said once, as a warning.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

use crate::settings::ExportSettings;

/// The service name when the environment gives none.
const SERVICE_NAME: &str = "codemode";

/// How long the exit waits for the last spans to leave. A receiver that is up takes
/// milliseconds; one that hangs must not hold the process much longer than this.
const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(5);

/// Why the exporter could not be built (traces are then off; the gateway runs on).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExportError {
    #[error("cannot export traces to {endpoint}: {source}")]
    Exporter {
        endpoint: String,
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },
}

/// A provider exporting to `settings`' endpoint. The exporter reads the rest of its
/// configuration from the `OTEL_*` variables itself (endpoint, headers, timeout), and the
/// batch processor its own (`OTEL_BSP_*`).
pub(crate) fn provider(settings: &ExportSettings) -> Result<SdkTracerProvider, ExportError> {
    install_crypto_provider();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()
        .map_err(|source| ExportError::Exporter {
            endpoint: settings.shown_endpoint.clone(),
            source,
        })?;
    let exporter = WarnOnce {
        inner: exporter,
        endpoint: settings.shown_endpoint.clone(),
        warned: AtomicBool::new(false),
    };
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource(settings))
        .build())
}

/// The SDK's resource (`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME`, the SDK's own
/// attributes), named `codemode` when the environment does not say.
fn resource(settings: &ExportSettings) -> Resource {
    let builder = Resource::builder();
    if settings.default_service_name {
        builder.with_service_name(SERVICE_NAME).build()
    } else {
        builder.build()
    }
}

/// An `https://` receiver needs a rustls crypto provider, and reqwest is built without a
/// bundled one here (see `crates/upstream/src/http.rs`): `ring`, unless one is chosen.
fn install_crypto_provider() {
    // Err means another provider is already the process default, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Flushes the spans still queued when dropped or shut down. Hold it for the life of the
/// process; shut it down (or drop it) outside any async runtime, after the work is done.
#[must_use = "dropping the guard stops trace export"]
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    pub(crate) fn exporting(provider: SdkTracerProvider) -> TelemetryGuard {
        TelemetryGuard {
            provider: Some(provider),
        }
    }

    /// Whether spans are being exported.
    pub fn is_exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Sends the spans still queued (waiting at most a few seconds for the receiver) and
    /// stops export.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(provider) = self.provider.take() else {
            return;
        };
        crate::EXPORTING.store(false, Ordering::Relaxed);
        if let Err(error) = provider.shutdown_with_timeout(SHUTDOWN_PATIENCE) {
            tracing::debug!(%error, "trace export did not shut down cleanly");
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The OTLP exporter, saying its first failure as a warning and later ones only at debug:
/// a receiver that is down fails every batch, and the operator needs to hear it once.
#[derive(Debug)]
struct WarnOnce<E> {
    inner: E,
    endpoint: String,
    warned: AtomicBool,
}

impl<E: SpanExporter> SpanExporter for WarnOnce<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        if let Err(error) = &result {
            if self.warned.swap(true, Ordering::Relaxed) {
                tracing::debug!(%error, spans, "trace export failed again");
            } else {
                tracing::warn!(
                    "cannot export traces to {} ({error}); {spans} spans dropped. The gateway \
                     goes on; further failures are logged at debug level",
                    self.endpoint
                );
            }
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(default_service_name: bool) -> ExportSettings {
        ExportSettings {
            shown_endpoint: "http://127.0.0.1:1/v1/traces".into(),
            default_service_name,
            protocol_note: None,
        }
    }

    #[test]
    fn the_service_is_named_codemode_by_default() {
        let resource = resource(&settings(true));
        assert_eq!(
            resource.get(&opentelemetry::Key::new("service.name")),
            Some(opentelemetry::Value::from(SERVICE_NAME))
        );
    }
}
