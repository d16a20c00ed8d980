//! The OS lock-down of a worker process, applied first thing in [`crate::worker_main`],
//! before any thread exists (seccomp and Landlock apply per thread, and threads inherit
//! them only if they are installed before they are created).
//!
//! The walls themselves (seccomp, Landlock, rlimits, namespaces, env and fd hygiene) are
//! `codemode-confine`'s business; this module is the one place that calls it, so that the
//! worker's wiring is a single line.

use codemode_confine::{LayerState, Policy, Report};
use serde_json::{json, Map, Value};

/// Locks the process down and reports which layers are active, as JSON for the greeting.
///
/// `Err` carries a message when a layer the kernel offers could not be installed; the
/// worker then refuses to run code.
pub(crate) fn lock_down() -> Result<Value, String> {
    codemode_confine::lock_down(&Policy::default())
        .map(|report| report_json(&report))
        .map_err(|error| error.to_string())
}

/// `{ "summary": "...", "layers": { "seccomp": "active", "user_namespace": "unavailable: why" } }`
pub(crate) fn report_json(report: &Report) -> Value {
    let layers: Map<String, Value> = report
        .layers
        .iter()
        .map(|(name, state)| {
            let state = match state {
                LayerState::Active => "active".to_string(),
                LayerState::Unavailable(why) => format!("unavailable: {why}"),
                LayerState::Failed(why) => format!("failed: {why}"),
            };
            (name.to_string(), Value::String(state))
        })
        .collect();
    json!({ "summary": report.summary(), "layers": layers })
}
