//! The OS lock-down of a worker process, applied first thing in [`crate::worker_main`],
//! before any thread exists (seccomp and Landlock apply per thread, and threads inherit
//! them only if they are installed before they are created).
//!
//! The walls themselves (seccomp, Landlock, rlimits, namespaces, env and fd hygiene) are
//! `codemode-confine`'s business; this module is the one place that calls it, so that the
//! worker's wiring is a single line. The rlimits in the [`Policy`] come from the worker's
//! command line ([`crate::WorkerOptions`], derived by the pool in [`crate::Backstop`]).

use codemode_confine::{LayerState, Policy, Report};
use serde_json::{json, Map, Value};

/// Locks the process down under `policy` and reports which layers are active and the
/// rlimits, as JSON for the greeting.
///
/// `Err` carries a message when a layer the kernel offers could not be installed; the
/// worker then refuses to run code.
pub(crate) fn lock_down(policy: &Policy) -> Result<Value, String> {
    codemode_confine::lock_down(policy)
        .map(|report| report_json(&report, policy))
        .map_err(|error| error.to_string())
}

/// `{ "summary": "...", "layers": { "seccomp": "active", "user_namespace": "unavailable: why" },
///    "rlimits": { "cpu_seconds": 15, "address_space_bytes": 1073741824 } }`
pub(crate) fn report_json(report: &Report, policy: &Policy) -> Value {
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
    json!({
        "summary": report.summary(),
        "layers": layers,
        "rlimits": {
            "cpu_seconds": policy.cpu_seconds,
            "address_space_bytes": policy.address_space_bytes,
        },
    })
}

/// [`lock_down`] for a worker forked from the fork server's template: the template entered
/// the namespaces and cleared the environment; this applies the rest.
pub(crate) fn lock_down_forked(
    policy: &Policy,
    template: &codemode_confine::Template,
) -> Result<Value, String> {
    codemode_confine::lock_down_forked(policy, template)
        .map(|report| report_json(&report, policy))
        .map_err(|error| error.to_string())
}
