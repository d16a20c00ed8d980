//! The process's one `tracing` subscriber: the gateway's own logs on stderr, filtered by
//! `--log-level` or `RUST_LOG`, and, when export is on, a second layer that turns the
//! gateway's spans into OpenTelemetry spans.
//!
//! Each layer has its own filter. The log filter stays what it always was; the export
//! filter passes only spans (never events, whose messages may quote what a tool said) from
//! codemode's own crates at `info` and above: `execute`, `tool_call` and their kin, not
//! the MCP SDK's internals. So what leaves the process is exactly the fields those spans
//! declare.

use std::io::IsTerminal;

use tracing::subscriber::Interest;
use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::filter::{DynFilterFn, EnvFilter, LevelFilter};
use tracing_subscriber::layer::{Context, Filter, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use opentelemetry::trace::TracerProvider as _;

use crate::export::{self, TelemetryGuard};
use crate::settings::Choice;

/// The prefix of every codemode crate's `tracing` target (`codemode`, `codemode_gateway`, ...).
const OWN_TARGETS: &str = "codemode";

/// The instrumentation scope the exported spans are under.
const TRACER_NAME: &str = "codemode";

/// Sets up logging, and trace export if the environment asks for it (see the crate's
/// header). Call once, early, outside any async runtime; keep the guard until the end and
/// shut it down before exiting, so the last spans are sent.
pub fn init(log_level: &str) -> TelemetryGuard {
    let choice = Choice::from_env(|name| std::env::var(name).ok());
    let mut said = Vec::new();
    let provider = match choice {
        Choice::Off | Choice::Disabled => None,
        Choice::Unsupported(why) => {
            said.push(format!("traces are off: {why}"));
            None
        }
        Choice::Export(settings) => {
            said.extend(settings.protocol_note.clone());
            match export::provider(&settings) {
                Ok(provider) => Some(provider),
                Err(error) => {
                    said.push(format!("traces are off: {error}"));
                    None
                }
            }
        }
    };
    let export_layer = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(TRACER_NAME))
            // Thread names and ids say nothing about a call; where the span is in the code
            // (module, file, line) and its busy/idle times do.
            .with_threads(false)
            .with_filter(exported())
    });
    // Err: a subscriber is already set (a test harness); it stays, and so do its logs.
    let _ = tracing_subscriber::registry()
        .with(log_layer(log_level))
        .with(export_layer)
        .try_init();
    // Said once the log layer is there to say it.
    for message in said {
        tracing::warn!("{message}");
    }
    match provider {
        Some(provider) => {
            crate::EXPORTING.store(true, std::sync::atomic::Ordering::Relaxed);
            TelemetryGuard::exporting(provider)
        }
        None => TelemetryGuard::default(),
    }
}

/// The stderr log, as the CLI has always written it.
fn log_layer<S>(level: &str) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    // rmcp logs its transport failures itself, as Rust `Debug` dumps; the gateway says the
    // same once, in words (the upstream's status reason). Its own logs show only when asked
    // for (`--log-level debug`, or `RUST_LOG`).
    let directives = match level {
        "debug" | "trace" => level.to_string(),
        _ => format!("{level},rmcp=off"),
    };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&directives))
        .unwrap_or_else(|_| EnvFilter::new("warn,rmcp=off"));
    // Colours only for a person at a terminal; a client capturing stderr gets plain text.
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(filter)
}

/// What the export layer sees: codemode's own spans at `info` and above, no events. The
/// choice depends on a callsite alone, so it is made once per callsite, and everything
/// else (another crate's debug logs) costs the export layer nothing.
fn exported<S: Subscriber>() -> impl Filter<S> {
    let choose = |metadata: &Metadata<'_>| {
        is_exported(metadata.is_span(), *metadata.level(), metadata.target())
    };
    DynFilterFn::new(move |metadata: &Metadata<'_>, _: &Context<'_, S>| choose(metadata))
        .with_callsite_filter(move |metadata| {
            if choose(metadata) {
                Interest::always()
            } else {
                Interest::never()
            }
        })
        .with_max_level_hint(LevelFilter::INFO)
}

fn is_exported(is_span: bool, level: Level, target: &str) -> bool {
    is_span && level <= Level::INFO && target.starts_with(OWN_TARGETS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_own_spans_at_info_and_above_are_exported() {
        assert!(is_exported(true, Level::INFO, "codemode_gateway::handler"));
        assert!(is_exported(true, Level::WARN, "codemode_catalog::catalog"));
        assert!(is_exported(true, Level::INFO, "codemode"));
        // Events (log lines) never: their messages may quote a tool's words.
        assert!(!is_exported(
            false,
            Level::ERROR,
            "codemode_gateway::handler"
        ));
        assert!(!is_exported(
            true,
            Level::DEBUG,
            "codemode_upstream::upstreams"
        ));
        assert!(!is_exported(true, Level::INFO, "rmcp::service"));
        assert!(!is_exported(true, Level::INFO, "hyper::client"));
    }
}
