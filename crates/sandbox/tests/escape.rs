//! The escape suite: snippets that try to reach the outside, break the bridge or take the
//! host down. Each must fail cleanly or be harmless, and each case says which.

mod common;
mod escape_cases;

use codemode_sandbox::Limits;
use common::{assert_still_serving, run_with, TestHost};
use escape_cases::{cases, check};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn every_escape_attempt_fails_cleanly_or_is_harmless() {
    let limits = escape_cases::limits();
    let cases = cases();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    for (name, code, expect) in &cases {
        let execution = run_with(code, TestHost::new(), limits.clone()).await;
        check(name, expect, &execution);
    }
    assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pollution_does_not_cross_executions() {
    let host = TestHost::new();
    let limits = Limits::default();
    let polluted = run_with(
        r#"
Object.prototype.polluted = "yes";
Array.prototype.map = function () { return ["evil"]; };
JSON.parse = () => "evil";
(globalThis as any).leak = "secret";
Object.defineProperty(Object.prototype, "then", { get() { return undefined; } });
return 1;"#,
        host.clone(),
        limits.clone(),
    )
    .await;
    assert!(polluted.is_ok());
    let fresh = run_with(
        "const rows = await tools.orders.list({ since: '2026-06-30' });\nreturn [({} as any).polluted, [1].map(x => x * 2), JSON.parse('1'), typeof (globalThis as any).leak, rows.length > 0];",
        host,
        limits,
    )
    .await;
    assert_eq!(
        fresh.returned().unwrap(),
        Some(json!([null, [2], 1, "undefined", true]))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_thrown_in_a_timer_is_logged() {
    let execution = run_with(
        "setTimeout(() => { throw new Error('late'); }, 0); await new Promise((r) => setTimeout(r, 5)); return 2;",
        TestHost::new(),
        Limits::default(),
    )
    .await;
    assert!(execution.logs.iter().any(|l| l.message.contains("late")));
}
