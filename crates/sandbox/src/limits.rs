//! What one execution may use. Every limit, when hit, ends the execution with a clear
//! error (or, for output, a truncation note) and leaves the host process unharmed.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Per-execution limits. [`Limits::default`] suits an agent's snippet: generous enough for
/// real batch work (thousands of calls), tight enough that a runaway loop costs seconds.
///
/// Serialised (for a worker's `Execute` frame, the one place limits cross a boundary) with
/// the unit in each name: `cpuTimeMs`, `wallTimeMs`, `memoryBytes`, …
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// CPU time the snippet's thread may burn (a busy loop is interrupted).
    #[serde(rename = "cpuTimeMs", with = "crate::output::duration_ms")]
    pub cpu_time: Duration,
    /// Wall-clock time for the whole execution, waiting on tools and timers included.
    #[serde(rename = "wallTimeMs", with = "crate::output::duration_ms")]
    pub wall_time: Duration,
    /// Bytes the JavaScript heap may hold.
    pub memory_bytes: usize,
    /// Bytes of native stack the interpreter may use (deep recursion stops here).
    pub stack_bytes: usize,
    /// Bytes of JSON the returned value may take; beyond, it is truncated, still valid JSON.
    pub max_result_bytes: usize,
    /// Bytes of console output kept; beyond, entries are dropped and counted.
    pub max_log_bytes: usize,
    /// Tool calls one execution may make.
    pub max_tool_calls: usize,
    /// Tool calls in flight at once; further calls wait for a free slot (they are queued,
    /// not failed), so `Promise.all` over thousands of calls works at a bounded pace.
    pub max_concurrent_calls: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_time: Duration::from_secs(10),
            // Below the 60 s request timeout of the official SDK clients, so the agent gets
            // the gateway's clear timeout error rather than the client giving up first.
            wall_time: Duration::from_secs(50),
            memory_bytes: 128 * 1024 * 1024,
            stack_bytes: 1024 * 1024,
            max_result_bytes: 128 * 1024,
            max_log_bytes: 32 * 1024,
            max_tool_calls: 5_000,
            max_concurrent_calls: 32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_cross_a_boundary_with_their_units_in_the_names() {
        let limits = Limits {
            cpu_time: Duration::from_millis(1500),
            ..Limits::default()
        };
        let json = serde_json::to_value(&limits).expect("serialises");
        assert_eq!(json["cpuTimeMs"], 1500.0);
        assert_eq!(json["wallTimeMs"], 50_000.0);
        assert_eq!(json["memoryBytes"], 128 * 1024 * 1024);
        assert_eq!(json["maxToolCalls"], 5_000);
        let back: Limits = serde_json::from_value(json).expect("deserialises");
        assert_eq!(back, limits);
    }
}
