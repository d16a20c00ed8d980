//! What a snippet can do and what it gets back, through the public API only.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use codemode_sandbox::{ErrorKind, Limits, LogLevel};
use common::{quick_limits, run, run_with, value, TestHost};
use serde_json::json;

/// The issue's seed example, as the README and `codemode run examples/seed.ts` show it.
const SEED: &str = include_str!("../../../examples/seed.ts");

#[tokio::test(flavor = "multi_thread")]
async fn the_seed_example_returns_three_joined_rows() {
    let execution = run(SEED).await;
    let rows = execution.returned().expect("seed runs").expect("a value");
    let rows = rows.as_array().expect("an array");
    assert_eq!(rows.len(), 3);
    for row in rows {
        assert!(row["total"].as_f64().unwrap() > 100.0);
        assert!(row["date"].as_str().unwrap() >= "2026-04-01");
        assert_eq!(row["customer"]["id"], row["customerId"]);
        assert!(row["customer"]["email"].as_str().unwrap().contains('@'));
    }
    let names: Vec<String> = execution
        .calls
        .iter()
        .map(|c| format!("{}.{}", c.namespace, c.name))
        .collect();
    assert_eq!(names, ["orders.list", "customers.batchGet"]);
    assert!(execution.calls.iter().all(|c| c.is_ok()));
}

#[tokio::test(flavor = "multi_thread")]
async fn both_snippet_shapes_are_accepted() {
    assert_eq!(value("return 1 + 1").await, json!(2));
    assert_eq!(value("async () => { return 3 }").await, json!(3));
    assert_eq!(value("(async () => { return 4 })").await, json!(4));
    assert_eq!(value("() => 5").await, json!(5));
    assert_eq!(
        value("async function main() { return 6 }").await,
        json!(null)
    );
    assert_eq!(value("(async function () { return 7 })").await, json!(7));
    assert_eq!(
        value("const a = await tools.test.echo({ n: 8 });\nreturn a.n;").await,
        json!(8)
    );
    // No return: the value is undefined, reported as no value.
    assert_eq!(run("const x = 1;").await.returned().unwrap(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn typescript_types_are_stripped() {
    let code = r#"
interface Order { id: string; total: number }
type Pair<T> = [T, T];
enum Color { Red, Green = "green" }
const orders: Order[] = (await tools.orders.list({ since: "2026-06-30" })) as Order[];
function first<T>(items: readonly T[]): T | undefined { return items[0]; }
const pair: Pair<number> = [1, 2];
const big = orders.filter((o): o is Order => o.total! > 0);
return { first: typeof first(orders)?.id, pair, color: Color.Green, red: Color.Red, n: big.length > 0 };
"#;
    assert_eq!(
        value(code).await,
        json!({ "first": "string", "pair": [1, 2], "color": "green", "red": 0, "n": true })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_syntax_error_names_the_line_and_quotes_it() {
    let execution = run("const a = 1;\nconst b: number = = 2;\nreturn b;").await;
    let error = execution.returned().unwrap_err();
    assert_eq!(error.kind, ErrorKind::Syntax);
    let location = error.location.clone().expect("a location");
    assert_eq!(location.line, 2);
    assert_eq!(location.source_line, "const b: number = = 2;");
    assert!(
        error.to_string().contains("2 | const b: number = = 2;"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn runtime_errors_point_into_the_agents_typescript() {
    // Type-only lines vanish from the JavaScript; the reported lines must not move.
    let code = "interface A {\n  x: number;\n}\ntype B = A;\nconst a: A = { x: 1 };\nfunction boom(v: B): never {\n  throw new RangeError(`bad ${v.x}`);\n}\nboom(a);\n";
    let error = run(code).await.returned().unwrap_err();
    assert_eq!(error.kind, ErrorKind::Runtime);
    assert_eq!(error.message, "RangeError: bad 1");
    let location = error.location.clone().unwrap();
    assert_eq!(location.line, 7);
    assert_eq!(
        location.source_line,
        "  throw new RangeError(`bad ${v.x}`);"
    );
    let stack = error.stack.unwrap();
    assert!(stack.contains("at boom (snippet.ts:7:"), "{stack}");
    assert!(stack.contains("snippet.ts:9:"), "{stack}");
    assert!(!stack.contains("prelude"), "{stack}");
}

#[tokio::test(flavor = "multi_thread")]
async fn thrown_non_errors_are_reported() {
    let error = run("throw 'just a string'").await.returned().unwrap_err();
    assert_eq!(error.message, "Uncaught just a string");
    let error = run("throw { code: 42 }").await.returned().unwrap_err();
    assert_eq!(error.message, r#"Uncaught {"code":42}"#);
    let error = run("await Promise.reject(new TypeError('nope'))")
        .await
        .result
        .unwrap_err();
    assert_eq!(error.message, "TypeError: nope");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_calls_overlap_on_the_host() {
    let host = TestHost::new();
    let started = Instant::now();
    let execution = run_with(
        "const r = await Promise.all(Array.from({ length: 50 }, (_, i) => tools.test.sleep({ ms: 100 })));\nreturn r.length;",
        host.clone(),
        quick_limits(),
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(execution.returned().unwrap(), Some(json!(50)));
    let max = host.counters.max_in_flight.load(Ordering::SeqCst);
    assert!(max >= 25, "only {max} calls overlapped");
    // One after another this would take 5 s; overlapped, about 0.2 s.
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    assert_eq!(execution.calls.len(), 50);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_error_rejects_with_the_tool_named_and_can_be_caught() {
    let code = r#"
try {
  await tools.test.fail({ message: "upstream said no" });
  return "not reached";
} catch (e) {
  return { name: e.name, message: e.message, tool: e.tool, isError: e instanceof Error };
}
"#;
    assert_eq!(
        value(code).await,
        json!({
            "name": "ToolError",
            "message": "tools.test.fail failed: upstream said no",
            "tool": "test.fail",
            "isError": true
        })
    );
    let execution =
        run("const x = 1;\nawait tools.test.fail({ message: 'quota exceeded' });").await;
    let error = execution.returned().unwrap_err();
    assert_eq!(error.kind, ErrorKind::Tool);
    assert_eq!(error.message, "tools.test.fail failed: quota exceeded");
    assert_eq!(error.location.unwrap().line, 2);
    assert_eq!(execution.calls[0].error.as_deref(), Some("quota exceeded"));
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_names_suggest_the_closest_tools() {
    let error = run("await tools.orders.lst({ since: '2026-01-01' })")
        .await
        .result
        .unwrap_err();
    assert!(
        error.message.contains("tools.orders.lst is not a tool"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("Did you mean tools.orders.list"),
        "{}",
        error.message
    );
    let error = run("await tools.order.list({})")
        .await
        .returned()
        .unwrap_err();
    assert!(
        error.message.contains("Did you mean tools.orders"),
        "{}",
        error.message
    );
    let error = run("await tools.orders.batchGet([])")
        .await
        .result
        .unwrap_err();
    assert!(
        error.message.contains("tools.customers.batchGet"),
        "{}",
        error.message
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_holds_the_catalogue_and_nothing_else() {
    let code = r#"
return {
  namespaces: Object.keys(tools),
  orders: Object.keys(tools.orders),
  has: ["orders" in tools, "fs" in tools, "list" in tools.orders],
  thenable: typeof tools.then,
  type: typeof tools.orders.list,
  root: await tools.$ping(),
  dashed: (await tools.test["get-sum"]({ a: 1 })).a,
};
"#;
    assert_eq!(
        value(code).await,
        json!({
            "namespaces": ["customers", "orders", "test", "$ping"],
            "orders": ["get", "list"],
            "has": [true, false, true],
            "thenable": "undefined",
            "type": "function",
            "root": "pong",
            "dashed": 1
        })
    );
    let error = run("tools.orders.list = () => 1")
        .await
        .returned()
        .unwrap_err();
    assert!(error.message.contains("read-only"), "{}", error.message);
    let error = run("tools.evil = {}").await.returned().unwrap_err();
    assert!(error.message.contains("read-only"), "{}", error.message);
}

#[tokio::test(flavor = "multi_thread")]
async fn returned_values_follow_the_json_rules() {
    let code = r#"
const cyclic: any = { name: "loop" };
cyclic.self = cyclic;
return {
  undef: undefined,
  fn: () => 1,
  sym: Symbol("s"),
  arr: [undefined, () => 1, 1],
  big: 12345678901234567890n,
  date: new Date(Date.UTC(2026, 0, 2)),
  bad: new Date(NaN),
  nan: NaN,
  inf: -Infinity,
  map: new Map([["a", 1], [2, "b"]]),
  set: new Set([1, 2, 2]),
  bytes: new Uint8Array([1, 2]),
  err: new TypeError("x"),
  cyclic,
  custom: { toJSON() { return "custom!"; } },
};
"#;
    assert_eq!(
        value(code).await,
        json!({
            "arr": [null, null, 1],
            "big": "12345678901234567890",
            "date": "2026-01-02T00:00:00.000Z",
            "bad": null,
            "nan": null,
            "inf": null,
            "map": { "a": 1, "2": "b" },
            "set": [1, 2],
            "bytes": [1, 2],
            "err": { "name": "TypeError", "message": "x" },
            "cyclic": { "name": "loop", "self": "[Circular]" },
            "custom": "custom!"
        })
    );
    assert_eq!(run("return undefined").await.returned().unwrap(), None);
    assert_eq!(run("return () => 1").await.returned().unwrap(), None);
    assert_eq!(value("return null").await, json!(null));
    assert_eq!(value("return 'text'").await, json!("text"));
}

#[tokio::test(flavor = "multi_thread")]
async fn console_output_is_captured_by_level() {
    let execution = run(r#"
console.log("plain", 1, { a: [1, 2] }, undefined, null);
console.info("info");
console.warn("warn");
console.error(new Error("bad"));
console.debug("debug");
return "done";
"#)
    .await;
    assert_eq!(execution.returned().unwrap(), Some(json!("done")));
    let levels: Vec<LogLevel> = execution.logs.iter().map(|l| l.level).collect();
    assert_eq!(
        levels,
        [
            LogLevel::Log,
            LogLevel::Info,
            LogLevel::Warn,
            LogLevel::Error,
            LogLevel::Debug
        ]
    );
    assert_eq!(
        execution.logs[0].message,
        r#"plain 1 {"a":[1,2]} undefined null"#
    );
    assert!(execution.logs[3].message.starts_with("Error: bad"));
    // Logs survive a failure: they are often the clue.
    let execution = run("console.log('before'); throw new Error('after')").await;
    assert!(execution.returned().is_err());
    assert_eq!(execution.logs[0].message, "before");
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_are_recorded_with_outcome_and_timing() {
    let execution = run(r#"
await tools.test.sleep({ ms: 20 });
try { await tools.test.fail({}); } catch {}
return 1;
"#)
    .await;
    assert!(execution.is_ok());
    assert_eq!(execution.calls.len(), 2);
    assert!(execution.calls[0].is_ok());
    assert!(execution.calls[0].duration.unwrap() >= Duration::from_millis(20));
    assert_eq!(execution.calls[1].name, "fail");
    assert!(!execution.calls[1].is_ok());
    assert!(execution.calls[1].started >= execution.calls[0].started);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_execution_starts_from_a_fresh_runtime() {
    assert_eq!(
        value("globalThis.leak = 1; Object.prototype.polluted = true; Array.prototype.map = null; return 1").await,
        json!(1)
    );
    assert_eq!(
        value("return [typeof globalThis.leak, ({} as any).polluted, typeof [].map]").await,
        json!(["undefined", null, "function"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn web_helpers_work() {
    let code = r#"
const order: string[] = [];
setTimeout(() => order.push("b"), 20);
setTimeout(() => order.push("a"), 5);
const cancelled = setTimeout(() => order.push("never"), 10);
clearTimeout(cancelled);
let ticks = 0;
const interval = setInterval(() => { if (++ticks === 3) clearInterval(interval); }, 1);
await new Promise((resolve) => setTimeout(resolve, 40));
queueMicrotask(() => order.push("micro"));
await null;
const original = { d: new Date(0), m: new Map([[1, { x: 1 }]]), list: [1, 2] };
const copy = structuredClone(original);
const bytes = new TextEncoder().encode("héllo ✓");
return {
  order, ticks,
  clone: [copy !== original, copy.d instanceof Date, copy.m.get(1).x, copy.list],
  base64: [btoa("hello"), atob("aGVsbG8="), atob("aGVsbG8")],
  text: [bytes.length, new TextDecoder().decode(bytes)],
};
"#;
    assert_eq!(
        value(code).await,
        json!({
            "order": ["a", "b", "micro"],
            "ticks": 3,
            "clone": [true, true, 1, [1, 2]],
            "base64": ["aGVsbG8=", "hello", "hello"],
            "text": [10, "héllo ✓"]
        })
    );
    let error = run("structuredClone({ f() {} })")
        .await
        .returned()
        .unwrap_err();
    assert!(
        error.message.contains("could not be cloned"),
        "{}",
        error.message
    );
    let error = run("btoa('✓')").await.returned().unwrap_err();
    assert!(error.message.contains("Latin1"), "{}", error.message);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_promise_that_nothing_can_settle_fails_at_once() {
    let started = Instant::now();
    let error = run("await new Promise(() => {}); return 1;")
        .await
        .result
        .unwrap_err();
    assert!(error.message.contains("never settled"), "{}", error.message);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn stats_are_reported() {
    let execution = run_with(SEED, TestHost::new(), Limits::default()).await;
    assert!(execution.stats.peak_memory_bytes > 0);
    assert!(execution.stats.wall_time > Duration::ZERO);
    assert!(execution.stats.cpu_time > Duration::ZERO);
}

#[tokio::test(flavor = "multi_thread")]
async fn forgotten_awaits_and_unhandled_rejections_are_noted() {
    let execution = run("tools.test.fail({ message: 'nobody listened' });\nreturn 1;").await;
    assert_eq!(execution.returned().unwrap(), Some(json!(1)));
    assert!(
        execution
            .notes
            .iter()
            .any(|n| n
                .contains("Unhandled promise rejection: tools.test.fail failed: nobody listened")),
        "{:?}",
        execution.notes
    );
    let execution = run("tools.test.sleep({ ms: 5000 });\nreturn 2;").await;
    assert_eq!(execution.returned().unwrap(), Some(json!(2)));
    assert!(
        execution
            .notes
            .iter()
            .any(|n| n.contains("missing `await`")),
        "{:?}",
        execution.notes
    );
    // A rejection that is handled later leaves no note; the snippet's own failure is the
    // error, not a note.
    let execution = run("const p = Promise.reject(new Error('late catch'));\nawait null;\ntry { await p; } catch {}\nreturn 3;").await;
    assert!(execution.notes.is_empty(), "{:?}", execution.notes);
    let execution = run("throw new Error('mine')").await;
    assert!(execution.notes.is_empty(), "{:?}", execution.notes);
}
