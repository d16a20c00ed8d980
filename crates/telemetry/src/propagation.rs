//! W3C Trace Context in and out: a client's `traceparent` (and `tracestate`) read from a
//! request's `_meta` (MCP SEP-414 puts them there, as top-level keys), and the current
//! span's, to send on to an upstream in its `_meta` and as HTTP headers.
//!
//! Junk is tolerated: a value that is not a string or not a valid `traceparent` is as if
//! absent. With export off every function here returns at once, without parsing.

use std::collections::HashMap;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use serde_json::{Map, Value};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The `_meta` key and HTTP header of a W3C trace parent.
pub const TRACEPARENT: &str = "traceparent";
/// The `_meta` key and HTTP header of the vendors' trace state that goes with it.
pub const TRACESTATE: &str = "tracestate";

/// The current span's trace context, in its W3C text form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeaders {
    /// `00-<trace id>-<span id>-<flags>`.
    pub traceparent: String,
    pub tracestate: Option<String>,
}

impl TraceHeaders {
    /// Puts these into a request's `_meta`, replacing any trace context already there and
    /// keeping every other key (a progress token, the protocol's own keys).
    pub fn insert_into(&self, meta: &mut Map<String, Value>) {
        meta.insert(
            TRACEPARENT.to_owned(),
            Value::String(self.traceparent.clone()),
        );
        match &self.tracestate {
            Some(state) => {
                meta.insert(TRACESTATE.to_owned(), Value::String(state.clone()));
            }
            None => {
                meta.remove(TRACESTATE);
            }
        }
    }

    /// The trace context a request's `_meta` carries, as it is there (checked, not
    /// re-encoded): for copying what an outgoing message says into its HTTP headers.
    pub fn from_meta(meta: &Map<String, Value>) -> Option<TraceHeaders> {
        parse(meta)?;
        Some(TraceHeaders {
            traceparent: meta.get(TRACEPARENT)?.as_str()?.to_owned(),
            tracestate: meta
                .get(TRACESTATE)
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

/// The remote parent a request's `_meta` names, if it names a valid one and spans are
/// exported.
pub fn parent_from_meta(meta: &Map<String, Value>) -> Option<Context> {
    if !crate::is_exporting() {
        return None;
    }
    parse(meta)
}

/// Makes `span` a child of the client's span that `meta` names, if any. Call it before the
/// span is first entered: once started, a span keeps the parent it had.
pub fn set_parent(span: &tracing::Span, meta: &Map<String, Value>) {
    if let Some(parent) = parent_from_meta(meta) {
        // Fails only when the span is disabled or already started; it then stays as it is.
        let _ = span.set_parent(parent);
    }
}

/// The trace context of the span the caller runs in (the innermost exported one), to
/// hand on to the next hop; None when nothing is exported or no span is current.
pub fn current_trace_headers() -> Option<TraceHeaders> {
    if !crate::is_exporting() {
        return None;
    }
    let context = tracing::Span::current().context();
    // The current `tracing` span may be one the exporter does not see (another crate's);
    // the context that entering the innermost exported span activated is the one then.
    let context = if context.span().span_context().is_valid() {
        context
    } else {
        Context::current()
    };
    headers_of(&context)
}

fn headers_of(context: &Context) -> Option<TraceHeaders> {
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = Carrier::default();
    TraceContextPropagator::new().inject_context(context, &mut carrier);
    Some(TraceHeaders {
        traceparent: carrier.0.remove(TRACEPARENT)?,
        tracestate: carrier.0.remove(TRACESTATE).filter(|s| !s.is_empty()),
    })
}

fn parse(meta: &Map<String, Value>) -> Option<Context> {
    // Cheap first: most requests carry no trace context at all.
    meta.get(TRACEPARENT)?.as_str()?;
    let context = TraceContextPropagator::new().extract(&MetaCarrier(meta));
    context.span().span_context().is_valid().then_some(context)
}

/// A `_meta` object read as a carrier: string values only.
struct MetaCarrier<'a>(&'a Map<String, Value>);

impl Extractor for MetaCarrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)?.as_str()
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

#[derive(Default)]
struct Carrier(HashMap<String, String>);

impl Injector for Carrier {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanId, TraceId};
    use serde_json::json;

    use super::*;

    const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    fn meta(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("tests pass objects"),
        }
    }

    #[test]
    fn a_valid_traceparent_in_meta_is_the_parent() {
        let context = parse(&meta(json!({"traceparent": PARENT, "progressToken": 3})))
            .expect("a valid parent");
        let span = context.span();
        let parent = span.span_context();
        assert!(parent.is_remote());
        assert!(parent.is_sampled());
        assert_eq!(
            parent.trace_id(),
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").expect("hex")
        );
        assert_eq!(
            parent.span_id(),
            SpanId::from_hex("b7ad6b7169203331").expect("hex")
        );
    }

    #[test]
    fn junk_is_ignored() {
        for junk in [
            json!({}),
            json!({"traceparent": 7}),
            json!({"traceparent": null}),
            json!({"traceparent": "hello"}),
            json!({"traceparent": "00-00000000000000000000000000000000-b7ad6b7169203331-01"}),
            json!({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"}),
            json!({"traceparent": "zz-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}),
            json!({"tracestate": "a=b"}),
            json!({"trace": {"traceparent": PARENT}}),
        ] {
            assert!(parse(&meta(junk.clone())).is_none(), "{junk}");
        }
    }

    #[test]
    fn tracestate_travels_with_its_parent() {
        let context = parse(&meta(
            json!({"traceparent": PARENT, "tracestate": "vendor=x"}),
        ))
        .expect("a valid parent");
        let headers = headers_of(&context).expect("headers");
        assert_eq!(headers.traceparent, PARENT);
        assert_eq!(headers.tracestate.as_deref(), Some("vendor=x"));
    }

    #[test]
    fn headers_go_into_meta_beside_what_is_there() {
        let mut target = meta(json!({"progressToken": 1, "tracestate": "old=1"}));
        TraceHeaders {
            traceparent: PARENT.into(),
            tracestate: None,
        }
        .insert_into(&mut target);
        assert_eq!(
            Value::Object(target.clone()),
            json!({"progressToken": 1, "traceparent": PARENT})
        );
        assert_eq!(
            TraceHeaders::from_meta(&target),
            Some(TraceHeaders {
                traceparent: PARENT.into(),
                tracestate: None
            })
        );
        assert_eq!(
            TraceHeaders::from_meta(&meta(json!({"traceparent": "junk"}))),
            None
        );
    }

    #[test]
    fn nothing_is_read_or_made_while_export_is_off() {
        assert!(!crate::is_exporting());
        assert!(parent_from_meta(&meta(json!({"traceparent": PARENT}))).is_none());
        assert!(current_trace_headers().is_none());
    }
}
