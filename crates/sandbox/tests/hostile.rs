//! Snippets that attack the sandbox's own machinery rather than reach for the outside: the
//! compiler's recursion, the engine's callbacks, the panic boundary, stack-trace hooks and the
//! engine's size caps. Each must end as a clean error (or a clean result) of this execution
//! alone, and the sandbox must go on serving.

mod common;

use std::sync::Arc;

use codemode_sandbox::{ErrorKind, Execution, Sandbox, ToolCall, ToolFuture, ToolHost, ToolNames};
use common::{assert_still_serving, quick_limits, run, TestHost};
use serde_json::{json, Value};

fn error_of(execution: &Execution, code: &str) -> codemode_sandbox::ExecutionError {
    match &execution.returned() {
        Err(error) => error.clone(),
        Ok(value) => panic!("expected a failure, got {value:?}\n--- snippet:\n{code:.200}"),
    }
}

// --- 1. The compiler's recursion -------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_thousand_nested_brackets_are_a_syntax_error_not_an_abort() {
    let n = 100_000;
    for code in [
        format!("return {};", "[".repeat(n)),
        format!("return {}1{};", "[".repeat(n), "]".repeat(n)),
        format!("return {}1{};", "(".repeat(n), ")".repeat(n)),
        format!("{}{}", "{".repeat(n), "}".repeat(n)),
        format!("return {}1{};", "{a:".repeat(n), "}".repeat(n)),
        format!("let x: {}number{} = 1;", "Array<".repeat(n), ">".repeat(n)),
        format!("return {}1{};", "`${".repeat(n), "}`".repeat(n)),
    ] {
        let execution = run(&code).await;
        let error = error_of(&execution, &code);
        assert_eq!(error.kind, ErrorKind::Syntax, "{code:.40}: {error}");
        assert!(
            error.message.contains("nesting deeper than 1000 levels"),
            "{code:.40}: {}",
            error.message
        );
        assert!(error.location.is_some(), "{code:.40}: no location");
    }
    assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn long_chains_without_brackets_are_a_syntax_error_not_an_abort() {
    let n = 100_000;
    for code in [
        format!("return {}x;", "!".repeat(n)),
        format!("return {}x;", "typeof ".repeat(n)),
        format!("return {}x;", "await ".repeat(n)),
        format!("return {}1;", "1+".repeat(n)),
        format!("return {}1;", "2**".repeat(n)),
        format!("return f{};", "()".repeat(n)),
        format!("return a{};", ".b".repeat(n)),
        format!("{}x;", "if (a) ".repeat(n)),
        format!("if (a) x; {}", "else if (a) x; ".repeat(n)),
        format!("let a; return {}1;", "a = ".repeat(n)),
        format!("return {}1;", "x => ".repeat(n)),
    ] {
        let execution = run(&code).await;
        let error = error_of(&execution, &code);
        assert_eq!(error.kind, ErrorKind::Syntax, "{code:.40}: {error}");
        assert!(
            error.message.contains("levels"),
            "{code:.40}: {}",
            error.message
        );
    }
    assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn code_just_under_the_nesting_limit_compiles_and_runs() {
    // The compiler handles it; QuickJS then either runs it or reports its own stack limit,
    // cleanly, never by taking the process down.
    let n = 990;
    let cases = [
        format!("return {}1{};", "[".repeat(n), "]".repeat(n)),
        format!("return {}1{};", "(".repeat(n), ")".repeat(n)),
        format!("{}{}\nreturn 2;", "{".repeat(n), "}".repeat(n)),
        format!("return {}1{};", "{a:".repeat(n), "}".repeat(n)),
        format!("return {}1;", "1+".repeat(2400)),
        format!("return {}true;", "!".repeat(4900)),
        format!(
            "let x: {}number{} = 3;\nreturn x;",
            "Array<".repeat(n),
            ">".repeat(n)
        ),
    ];
    let mut ran = 0;
    for code in &cases {
        let execution = run(code).await;
        match &execution.returned() {
            Ok(_) => ran += 1,
            Err(error) => {
                assert!(
                    matches!(error.kind, ErrorKind::Limit | ErrorKind::Syntax)
                        && error.message.contains("stack"),
                    "{code:.40}: {error}"
                );
            }
        }
    }
    assert!(ran >= 3, "only {ran} of the cases ran");
    let shallow = format!("return {}1{};", "[".repeat(100), "]".repeat(100));
    assert!(run(&shallow).await.returned().is_ok());
    assert_still_serving().await;
}

// --- 2. The rejection tracker ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_message_getter_that_rejects_does_not_reenter_the_rejection_tracker() {
    let code = "const e = new Error(); Object.defineProperty(e, 'message', { get() { \
                Promise.reject(1); return 'm'; } }); Promise.reject(e); return 1;";
    let execution = run(code).await;
    assert_eq!(
        execution.returned(),
        Ok(Some(json!(1))),
        "{:?}",
        execution.result
    );
    assert!(
        execution
            .notes
            .iter()
            .any(|n| n.starts_with("Unhandled promise rejection")),
        "{:?}",
        execution.notes
    );
    assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rejection_tracker_runs_no_snippet_code() {
    // Getters, toString and proxies on a rejection reason are never invoked by the host.
    // (The promises are kept alive: the tracker tells promises apart by address.)
    let code = r#"
globalThis.calls = 0;
const keep: any[] = [];
const e = new Error("plain");
Object.defineProperty(e, "message", { get() { globalThis.calls++; throw new Error("boom"); } });
keep.push(Promise.reject(e));
keep.push(Promise.reject({ toString() { globalThis.calls++; return "x"; } }));
keep.push(Promise.reject(new Proxy(new Error("p"), { get() { globalThis.calls++; return "trap"; } })));
class Loud extends Error { get message() { globalThis.calls++; Promise.reject(2); return "loud"; } }
keep.push(Promise.reject(new Loud()));
const handled = Promise.reject(new Error("later handled"));
await null;
keep.push(handled.catch(() => {}));
await null;
return globalThis.calls;"#;
    let execution = run(code).await;
    assert_eq!(
        execution.returned(),
        Ok(Some(json!(0))),
        "{:?}",
        execution.result
    );
    assert!(
        !execution.notes.iter().any(|n| n.contains("later handled")),
        "{:?}",
        execution.notes
    );
    let rejected = execution
        .notes
        .iter()
        .filter(|n| n.starts_with("Unhandled promise rejection"))
        .count();
    assert!(rejected >= 4, "{:?}", execution.notes);
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_rejection_messages_are_not_copied_out_of_the_heap() {
    let code = "const m = 'x'.repeat(20_000_000); for (let i = 0; i < 200; i++) \
                Promise.reject(new Error(m)); Promise.reject(new Error('short one')); return 1;";
    let execution = run(code).await;
    assert_eq!(
        execution.returned(),
        Ok(Some(json!(1))),
        "{:?}",
        execution.result
    );
    assert!(
        execution.notes.iter().all(|n| n.len() < 500),
        "{:?}",
        execution.notes
    );
    assert!(
        execution
            .notes
            .iter()
            .any(|n| n.contains("20000000 characters")),
        "{:?}",
        execution.notes
    );
}

// --- 3. The panic boundary ---------------------------------------------------------------

/// A host whose tools panic: a bug in the host must cost one execution, not the gateway.
struct PanickingHost {
    inner: Arc<TestHost>,
}

impl ToolHost for PanickingHost {
    fn names(&self) -> Arc<ToolNames> {
        self.inner.names()
    }

    fn call(&self, call: ToolCall) -> ToolFuture {
        match call.name.as_str() {
            "echo" => panic!("the host's tool panicked"),
            "sleep" => Box::pin(async { panic!("the host's future panicked") }),
            _ => self.inner.call(call),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_during_an_execution_is_an_internal_error_of_that_execution() {
    let host: Arc<dyn ToolHost> = Arc::new(PanickingHost {
        inner: TestHost::new(),
    });
    for code in [
        "return await tools.test.echo({ a: 1 });",
        "try { await tools.test.echo({ a: 1 }); } catch (e) { return 'caught'; } return 'after';",
        "return await tools.test.sleep({ ms: 1 });",
    ] {
        let execution = Sandbox::execute(code, host.clone(), quick_limits()).await;
        let error = error_of(&execution, code);
        assert_eq!(error.kind, ErrorKind::Internal, "{code}: {error}");
        assert!(error.message.len() < 400, "{}", error.message);
        assert!(error.message.contains("panicked"), "{}", error.message);
    }
    // The same host still serves what does not panic, in a fresh runtime.
    let execution = Sandbox::execute(
        "return (await tools.orders.list({ since: '2026-06-30' })).length > 0",
        host,
        quick_limits(),
    )
    .await;
    assert_eq!(execution.returned(), Ok(Some(json!(true))));
    assert_still_serving().await;
}

/// A host that panics on the execution's own thread, outside any tool call.
struct BrokenCatalogHost;

impl ToolHost for BrokenCatalogHost {
    fn names(&self) -> Arc<ToolNames> {
        panic!("the catalog is broken")
    }

    fn call(&self, _call: ToolCall) -> ToolFuture {
        unreachable!("no catalog, no calls")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_on_the_execution_thread_is_contained_to_its_execution() {
    // The panic unwinds through the execution's runtime, which is abandoned, not freed.
    for _ in 0..3 {
        let execution =
            Sandbox::execute("return 1", Arc::new(BrokenCatalogHost), quick_limits()).await;
        let error = error_of(&execution, "return 1");
        assert_eq!(error.kind, ErrorKind::Internal, "{error}");
        assert!(
            error.message.contains("the catalog is broken"),
            "{}",
            error.message
        );
        assert!(error.message.len() < 400, "{}", error.message);
    }
    assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn executions_around_a_panic_are_unaffected() {
    let host: Arc<dyn ToolHost> = Arc::new(PanickingHost {
        inner: TestHost::new(),
    });
    let panicking = Sandbox::execute(
        "return await tools.test.echo({})",
        host.clone(),
        quick_limits(),
    );
    let fine = Sandbox::execute(
        "await new Promise((r) => setTimeout(r, 50)); return 7;",
        host.clone(),
        quick_limits(),
    );
    let (panicked, fine) = tokio::join!(panicking, fine);
    assert_eq!(error_of(&panicked, "echo").kind, ErrorKind::Internal);
    assert_eq!(fine.returned(), Ok(Some(json!(7))));
}

// --- 4. Stack-trace callbacks --------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn prepare_stack_trace_callsites_give_no_functions_and_no_this() {
    // Frames of the prelude (serialization, console) and of native code are on the stack
    // when the snippet's toJSON runs inside console.log.
    let code = r#"
const seen: any[] = [];
(Error as any).prepareStackTrace = (e: any, frames: any[]) =>
  frames.map((f) => [typeof f.getFunction(), typeof f.getThis(), f.getFunctionName(), f.getFileName()]);
const probe = { toJSON() { seen.push(new Error("probe").stack); return 1; } };
console.log(probe);
seen.push(new Error("top").stack);
try { null!.x; } catch (e: any) { seen.push(e.stack); }
return seen;"#;
    let value = common::value(code).await;
    let stacks = value.as_array().expect("an array of stacks");
    assert_eq!(stacks.len(), 3, "{value}");
    let mut frames = 0;
    for stack in stacks {
        for frame in stack.as_array().expect("frames") {
            frames += 1;
            assert_eq!(frame[0], json!("undefined"), "getFunction: {frame}");
            assert_eq!(frame[1], json!("undefined"), "getThis: {frame}");
        }
    }
    // The prelude's frames were there (and are the ones that would have leaked).
    let files: Vec<&Value> = stacks[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f[3])
        .collect();
    assert!(files.contains(&&json!("snippet.ts")), "{files:?}");
    assert!(files.len() > 2, "{files:?}");
    assert!(frames > 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn prepare_stack_trace_cannot_reach_the_bridge() {
    let code = r#"
const found: string[] = [];
(Error as any).prepareStackTrace = (e: any, frames: any[]) => {
  for (const f of frames) {
    const fn = f.getFunction();
    if (fn) found.push(fn.name || "anonymous");
  }
  return "x";
};
console.log({ toJSON() { new Error("probe").stack; return 1; } });
await tools.test.echo({ a: 1 }).catch(() => {});
new Error("top").stack;
Error.captureStackTrace({});
return found;"#;
    assert_eq!(common::value(code).await, json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn prepare_stack_trace_keeps_its_other_behaviour() {
    let code = r#"
const f = (e: any, frames: any[]) => frames.map((s) => String(s)).join("|");
(Error as any).prepareStackTrace = f;
const same = (Error as any).prepareStackTrace === f;
function named() { return new Error("x").stack; }
const stack = named();
(Error as any).prepareStackTrace = undefined;
const plain = new Error("y").stack;
return [same, typeof stack, stack.includes("named (snippet.ts:"), typeof plain, plain.includes("at named") || plain.includes("snippet.ts")];"#;
    assert_eq!(
        common::value(code).await,
        json!([true, "string", true, "string", true])
    );
    // A callback that throws still leaves the error without a stack, not the sandbox broken.
    let execution = run(
        "(Error as any).prepareStackTrace = () => { throw new Error('x'); };\nthrow new Error('y');",
    )
    .await;
    let error = error_of(&execution, "throwing prepareStackTrace");
    assert_eq!(error.kind, ErrorKind::Runtime);
    assert!(error.message.contains("Error: y"), "{}", error.message);
}

#[tokio::test(flavor = "multi_thread")]
async fn stack_mapping_is_unchanged_without_prepare_stack_trace() {
    let code = "function inner(): never { throw new TypeError('deep'); }\nfunction outer() { inner(); }\nouter();";
    let error = error_of(&run(code).await, code);
    assert_eq!(error.kind, ErrorKind::Runtime);
    assert_eq!(error.message, "TypeError: deep");
    assert_eq!(error.location.unwrap().line, 1);
    let stack = error.stack.unwrap();
    assert!(stack.contains("at inner (snippet.ts:1:"), "{stack}");
    assert!(stack.contains("at outer (snippet.ts:2:"), "{stack}");
}

// --- 5. The engine's own size caps ---------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_string_doubled_past_the_engine_cap_is_a_memory_error() {
    for code in [
        "let s = 'x'; while (true) s += s;",
        "let s = 'x'; while (true) s = s + s;",
        "return 'x'.repeat(2 ** 30).length",
        "return 'x'.padEnd(2 ** 31).length",
    ] {
        let error = error_of(&run(code).await, code);
        assert_eq!(error.kind, ErrorKind::Memory, "{code}: {error}");
        assert!(
            error.message.contains("string length limit") || error.message.contains("memory limit"),
            "{code}: {}",
            error.message
        );
    }
    let code = "return 'x'.repeat(2 ** 30).length";
    let error = error_of(&run(code).await, code);
    assert!(
        error.message.contains("string length limit"),
        "{}",
        error.message
    );
    assert!(error.message.contains("1073741823"), "{}", error.message);
    assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_array_past_the_engine_cap_is_a_memory_error() {
    for code in [
        "return new Array(2 ** 31).toReversed().length",
        "return new Array(2 ** 31).toSpliced(0, 0).length",
        "return new Array(2 ** 31).with(0, 1).length",
        "return new Array(2 ** 31 + 5).toSorted().length",
    ] {
        let error = error_of(&run(code).await, code);
        assert_eq!(error.kind, ErrorKind::Memory, "{code}: {error}");
        assert!(
            error.message.contains("array length limit"),
            "{code}: {}",
            error.message
        );
    }
    // A length no array may have is the snippet's own error, as in any engine.
    for code in [
        "return new Array(2 ** 32).length",
        "const a: number[] = []; a.length = -1;",
    ] {
        let error = error_of(&run(code).await, code);
        assert_eq!(error.kind, ErrorKind::Runtime, "{code}: {error}");
        assert!(error.message.starts_with("RangeError"), "{}", error.message);
    }
    // And a snippet that catches the cap's error goes on.
    let code = "try { 'x'.repeat(2 ** 30); } catch (e) { return (e as Error).name; }";
    assert_eq!(common::value(code).await, json!("RangeError"));
}

// --- 6. The way out: every byte counted in Rust, stopping at the cap -------------------------

/// Values whose getters, `toJSON`s, Proxy traps or prototype accessors try to push the output
/// past its cap, or to break its JSON.
const OVERSIZED: [&str; 14] = [
    "Object.defineProperty(Array.prototype, 0, { get() { return 'p'.repeat(1 << 20); }, configurable: true }); return [, 1, , 3];",
    "return { toJSON() { return 'x'.repeat(1e6); } };",
    "return new Proxy({}, { ownKeys: () => Array.from({ length: 1000 }, (_, i) => 'k' + i), getOwnPropertyDescriptor: () => ({ value: 1, enumerable: true, configurable: true }), get: () => 'v'.repeat(10000) });",
    "return 'é'.repeat(1e6);",
    "return '😀'.repeat(1e5);",
    "return '\\u0001\"\\\\'.repeat(1e5);",
    "let o: any = {}; for (let i = 0; i < 100; i++) o = { a: o, b: 'x'.repeat(100) }; return o;",
    "const o: any = {}; for (let i = 0; i < 100; i++) o['k'.repeat(10000) + i] = i; return o;",
    "return new Map(Array.from({ length: 1000 }, (_, i) => ['é'.repeat(500) + i, 'v'.repeat(500)]));",
    "return new Set(Array.from({ length: 10000 }, (_, i) => i));",
    "const a: any[] = []; a.length = 2 ** 32 - 1; return a;",
    "return Array.from({ length: 10000 }, () => ({ get x() { return '😀'.repeat(1000); } }));",
    "const a: any[] = [1, 2, 3]; Object.defineProperty(a, 1, { get() { a.length = 1e6; return 'é'.repeat(1e5); } }); return a;",
    "return [new Uint8Array(1e6), new Float64Array(1e5).fill(Math.PI), new BigInt64Array(1e5).fill(7n ** 20n)];",
];

#[tokio::test(flavor = "multi_thread")]
async fn no_value_passes_the_result_cap_or_breaks_its_json() {
    for cap in [120, 1_000, 10_000] {
        let limits = codemode_sandbox::Limits {
            max_result_bytes: cap,
            ..quick_limits()
        };
        for code in OVERSIZED {
            let execution = common::run_with(code, TestHost::new(), limits.clone()).await;
            let text = match &execution.result {
                Ok(Some(text)) => text,
                other => panic!("{code:.80} (cap {cap}): {other:?}"),
            };
            let bytes = text.len();
            assert!(
                bytes <= cap,
                "{code:.80}: {bytes} bytes past the cap of {cap}"
            );
            assert!(
                execution.notes.iter().any(|n| n.contains("truncated")),
                "{code:.80} (cap {cap}): {:?}",
                execution.notes
            );
        }
    }
    assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_logged_value_passes_the_log_cap() {
    for cap in [100, 2_000] {
        let limits = codemode_sandbox::Limits {
            max_log_bytes: cap,
            ..quick_limits()
        };
        for code in OVERSIZED {
            let code = format!("console.log('v:', (() => {{ {code} }})());");
            let execution = common::run_with(&code, TestHost::new(), limits.clone()).await;
            assert!(
                execution.returned().is_ok(),
                "{code:.80}: {:?}",
                execution.result
            );
            let kept: usize = execution.logs.iter().map(|l| l.message.len()).sum();
            assert!(kept <= cap, "{code:.80}: {kept} bytes of logs past {cap}");
            assert!(!execution.logs.is_empty(), "{code:.80}: nothing logged");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_getter_that_logs_while_it_is_logged_stays_within_the_cap() {
    let limits = codemode_sandbox::Limits {
        max_log_bytes: 500,
        ..quick_limits()
    };
    let code = "const o = { get x() { console.log('y'.repeat(400)); return 'z'.repeat(400); } }; console.log(o, o); return 1;";
    let execution = common::run_with(code, TestHost::new(), limits).await;
    assert_eq!(execution.returned().unwrap(), Some(json!(1)));
    let kept: usize = execution.logs.iter().map(|l| l.message.len()).sum();
    assert!(kept <= 500, "{kept}");
}

#[tokio::test(flavor = "multi_thread")]
async fn lone_surrogates_and_nul_come_out_as_valid_json() {
    assert_eq!(
        common::value("return ['\\ud800x', 'a\\u0000b', { ['\\udc00']: 1 }];").await,
        json!(["\u{FFFD}x", "a\u{0}b", { "\u{FFFD}": 1 }])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serialising_counts_against_the_cpu_limit() {
    let limits = codemode_sandbox::Limits {
        cpu_time: std::time::Duration::from_millis(300),
        ..quick_limits()
    };
    for code in [
        "return { get x() { while (true) {} } };",
        "return { toJSON() { for (;;) {} } };",
        "console.log({ get x() { while (true) {} } }); return 1;",
        "return new Proxy({}, { ownKeys() { while (true) {} } });",
    ] {
        let execution = common::run_with(code, TestHost::new(), limits.clone()).await;
        let error = error_of(&execution, code);
        assert_eq!(error.kind, ErrorKind::Timeout, "{code}: {error}");
        assert!(error.message.contains("CPU"), "{code}: {}", error.message);
    }
    assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_serializer_uses_no_builtin_the_snippet_replaced() {
    let code = r#"
String.prototype.slice = () => "hacked";
Object.keys = () => ["hacked"];
Date.prototype.toISOString = () => "hacked";
Map.prototype.entries = function* () { yield ["hacked", 1]; };
Set.prototype.values = function* () { yield "hacked"; };
(globalThis as any).String = () => "hacked";
Object.defineProperty(Map.prototype, "size", { get: () => 1e9 });
Object.getPrototypeOf(new Map().entries()).next = () => ({ done: false, value: ["hacked", 1] });
return { d: new Date(0), m: new Map([["a", 1]]), s: new Set([2]), l: "long".repeat(10), n: 12n };
"#;
    assert_eq!(
        common::value(code).await,
        json!({ "d": "1970-01-01T00:00:00.000Z", "m": { "a": 1 }, "s": [2], "l": "long".repeat(10), "n": "12" })
    );
}
