//! The gateway's trace context on what it sends upstream (W3C Trace Context).
//!
//! A `tools/call` carries the current span's `traceparent` (and `tracestate`) in its
//! `_meta`, as MCP's SEP-414 says, beside whatever else `_meta` holds (rmcp adds the
//! progress token and the protocol's keys when it sends). The call runs inside the
//! catalogue's `tool_call` span, so the upstream's work is that span's child. Over HTTP
//! (Streamable HTTP, legacy SSE) the POST carrying the call also gets them as the
//! `traceparent`/`tracestate` headers, read from the message itself: the transport sends
//! from a task of its own, where the caller's span is not current, and the header then
//! always says what `_meta` says.
//!
//! With trace export off nothing is added.

use std::collections::HashMap;

use codemode_telemetry::propagation::{TRACEPARENT, TRACESTATE};
use codemode_telemetry::TraceHeaders;
use http::{HeaderName, HeaderValue};
use rmcp::model::{
    CallToolRequestParams, ClientJsonRpcMessage, ClientRequest, JsonRpcMessage, MetaObject,
    RequestMetaObject,
};

/// `request` with the current span's trace context in its `_meta`.
pub(crate) fn with_current(mut request: CallToolRequestParams) -> CallToolRequestParams {
    if let Some(trace) = codemode_telemetry::current_trace_headers() {
        let meta = request
            .meta
            .get_or_insert_with(|| RequestMetaObject(MetaObject::new()));
        trace.insert_into(&mut meta.0 .0);
    }
    request
}

/// The trace context `message` carries in its `_meta`, for the headers of the HTTP request
/// that sends it: only a `tools/call` has one (see [`with_current`]).
pub(crate) fn of_message(message: &ClientJsonRpcMessage) -> Option<TraceHeaders> {
    let JsonRpcMessage::Request(request) = message else {
        return None;
    };
    let ClientRequest::CallToolRequest(call) = &request.request else {
        return None;
    };
    TraceHeaders::from_meta(&call.params.meta.as_ref()?.0 .0)
}

/// `trace` as HTTP headers, replacing any of the same name. A value that is not a valid
/// header (it cannot be: the propagator writes hex and `tracestate`'s own alphabet) is left
/// out rather than sent broken.
pub(crate) fn insert_headers(headers: &mut HashMap<HeaderName, HeaderValue>, trace: &TraceHeaders) {
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set(TRACEPARENT, &trace.traceparent);
    if let Some(state) = &trace.tracestate {
        set(TRACESTATE, state);
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{CallToolRequest, ClientNotification, InitializedNotification};
    use serde_json::{json, Value};

    use super::*;

    const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    fn call_with_meta(meta: Value) -> ClientJsonRpcMessage {
        let Value::Object(meta) = meta else {
            unreachable!("tests pass objects")
        };
        let mut params = CallToolRequestParams::new("echo");
        params.meta = Some(RequestMetaObject(MetaObject(meta)));
        ClientJsonRpcMessage::request(
            ClientRequest::CallToolRequest(CallToolRequest::new(params)),
            rmcp::model::RequestId::Number(1),
        )
    }

    #[test]
    fn a_call_with_trace_context_gives_its_headers() {
        let message = call_with_meta(json!({"traceparent": PARENT, "tracestate": "v=1"}));
        let trace = of_message(&message).expect("trace context");
        let mut headers = HashMap::new();
        insert_headers(&mut headers, &trace);
        assert_eq!(headers[&HeaderName::from_static("traceparent")], PARENT);
        assert_eq!(headers[&HeaderName::from_static("tracestate")], "v=1");
    }

    #[test]
    fn other_messages_and_calls_without_context_give_none() {
        assert!(of_message(&call_with_meta(json!({"progressToken": 1}))).is_none());
        assert!(of_message(&call_with_meta(json!({"traceparent": "junk"}))).is_none());
        let notification = ClientJsonRpcMessage::notification(
            ClientNotification::InitializedNotification(InitializedNotification::default()),
        );
        assert!(of_message(&notification).is_none());
    }

    #[test]
    fn nothing_is_added_while_export_is_off() {
        let request = with_current(CallToolRequestParams::new("echo"));
        assert!(request.meta.is_none());
    }

    #[test]
    fn the_meta_sent_keeps_its_other_keys() {
        let mut params = CallToolRequestParams::new("echo");
        let mut meta = MetaObject::new();
        meta.0.insert("progressToken".into(), json!(7));
        params.meta = Some(RequestMetaObject(meta));
        let trace = TraceHeaders {
            traceparent: PARENT.into(),
            tracestate: None,
        };
        let meta = params.meta.as_mut().map(|m| &mut m.0 .0).expect("meta");
        trace.insert_into(meta);
        let wire = serde_json::to_value(&params).expect("serializes");
        assert_eq!(
            wire["_meta"],
            json!({"progressToken": 7, "traceparent": PARENT})
        );
    }
}
