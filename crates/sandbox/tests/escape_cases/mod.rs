//! The escape suite's cases: snippets that try to reach the outside, break the bridge or
//! take the host down, each with what must happen. Shared by the sandbox's own suite
//! (`tests/escape.rs`) and the worker crate's, which runs the same cases in worker
//! processes (`#[path]`-included there), so the table exists once.
#![allow(dead_code)]

use std::time::Duration;

use codemode_sandbox::{ErrorKind, Execution, Limits};
use serde_json::{json, Value};

pub enum Expect {
    /// Fails with this kind and a message containing the text.
    Fails(ErrorKind, &'static str),
    /// Fails with any of these kinds: the exact error is the engine's business, failing
    /// cleanly is ours.
    FailsAs(&'static [ErrorKind]),
    /// Runs and returns exactly this.
    Returns(Value),
    /// Runs to completion; what it returns is of no consequence to anyone but itself.
    Completes,
}

use Expect::*;

/// The limits every run of the suite uses: tight CPU and heap so the hostile cases end
/// quickly, and wall-clock room so a loaded machine cannot turn a CPU stop into a wall stop.
/// The CPU budget still leaves room for the cases that must reach another limit first (ten
/// thousand timers take about 250 ms of CPU in a debug build on a 2-core CI machine).
pub fn limits() -> Limits {
    Limits {
        cpu_time: Duration::from_secs(1),
        wall_time: Duration::from_secs(5),
        memory_bytes: 64 * 1024 * 1024,
        ..Limits::default()
    }
}

pub fn cases() -> Vec<(&'static str, &'static str, Expect)> {
    vec![
        // --- reaching for the host's capabilities -----------------------------------
        ("require", "require('fs')", Fails(ErrorKind::Runtime, "require is not defined")),
        ("static import", "import fs from 'fs';\nreturn 1;", Fails(ErrorKind::Syntax, "import and export are not available")),
        ("type-only import", "import type { X } from './x';\nreturn 1;", Fails(ErrorKind::Syntax, "import and export")),
        ("export", "export const x = 1;", Fails(ErrorKind::Syntax, "import and export")),
        ("dynamic import", "const fs = await import('fs');", Fails(ErrorKind::Syntax, "dynamic import()")),
        ("dynamic import via eval", "return await eval(\"import('fs')\")", FailsAs(&[ErrorKind::Runtime, ErrorKind::Syntax])),
        ("import.meta", "return import.meta.url", Fails(ErrorKind::Syntax, "import.meta")),
        ("process", "return process.env.HOME", Fails(ErrorKind::Runtime, "process is not defined")),
        ("fetch", "await fetch('http://127.0.0.1/')", Fails(ErrorKind::Runtime, "fetch is not defined")),
        ("host globals are absent", r#"return [typeof process, typeof require, typeof fetch, typeof Deno, typeof Bun,
            typeof module, typeof exports, typeof __dirname, typeof XMLHttpRequest, typeof WebSocket,
            typeof std, typeof os, typeof scriptArgs, typeof print, typeof gc, typeof host].join()"#,
            Returns(json!(vec!["undefined"; 16].join(",")))),
        ("no global names a capability", "return Object.getOwnPropertyNames(globalThis).filter(n => /^(std|os|process|require|fetch|Deno|Bun|host|__.*)$/.test(n))", Returns(json!([]))),
        ("Atomics.wait cannot block the thread", "return Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1e9)", Fails(ErrorKind::Runtime, "")),
        // --- constructor chains and string evaluation ----------------------------------
        ("Function constructor", "return (function () {}).constructor('return typeof process')()", Returns(json!("undefined"))),
        ("constructor.constructor to the global", "const g = ({}).constructor.constructor('return this')(); return [typeof g.process, typeof g.tools]", Returns(json!(["undefined", "object"]))),
        ("AsyncFunction constructor", "const AF = (async () => {}).constructor; return await AF('return typeof require')()", Returns(json!("undefined"))),
        ("GeneratorFunction constructor", "const GF = (function* () {}).constructor; return GF('yield typeof os')().next().value", Returns(json!("undefined"))),
        ("tool function's constructor", "return tools.orders.list.constructor('return host')()", Fails(ErrorKind::Runtime, "host is not defined")),
        ("eval of a string", "return eval('typeof process')", Returns(json!("undefined"))),
        ("indirect eval", "return (0, eval)('typeof globalThis.tools')", Returns(json!("object"))),
        ("setTimeout with a string", "setTimeout('globalThis.x = 1', 0)", Fails(ErrorKind::Runtime, "strings are not evaluated")),
        ("arguments.callee in strict mode", "function f() { return arguments.callee; } return typeof f()", Fails(ErrorKind::Runtime, "")),
        // --- the bridge itself -------------------------------------------------------
        ("replace a tool", "tools.orders.list = async () => 'evil'", Fails(ErrorKind::Runtime, "read-only")),
        ("define on tools", "Object.defineProperty(tools, 'orders', { value: 1 })", Fails(ErrorKind::Runtime, "read-only")),
        ("delete a namespace", "delete tools.orders", Fails(ErrorKind::Runtime, "read-only")),
        ("swap tools' prototype", "Object.setPrototypeOf(tools, { evil: 1 })", Fails(ErrorKind::Runtime, "read-only")),
        ("freeze tools", "Object.freeze(tools)", Fails(ErrorKind::Runtime, "")),
        ("reassign the global", "globalThis.tools = {}", Fails(ErrorKind::Runtime, "")),
        ("mutate a tool function", "(tools.orders.list as any).extra = 1", Fails(ErrorKind::Runtime, "")),
        ("__proto__ of tools", "return [tools.__proto__ === undefined, Reflect.getPrototypeOf(tools)]", Returns(json!([true, null]))),
        ("prototype pollution does not reach the bridge", r#"
JSON.stringify = () => '"evil"';
JSON.parse = () => "evil";
Array.prototype.push = () => 0;
Object.keys = () => [];
const echoed = await tools.test.echo({ a: 1, list: [1, 2] });
return echoed;"#, Returns(json!({ "a": 1, "list": [1, 2] }))),
        ("a thenable on Object.prototype only fools the snippet", r#"
Object.defineProperty(Object.prototype, "then", { get() { return (resolve: any) => resolve("hijacked"); }, configurable: true });
return await tools.test.echo({ a: 1 });"#, Completes),
        ("Promise.prototype.then replaced", "Promise.prototype.then = function () { return 'x' as any; }; return await tools.test.echo({ ok: true })", Completes),
        ("Error.prepareStackTrace that throws", "(Error as any).prepareStackTrace = () => { throw new Error('x'); }; throw new Error('y');", FailsAs(&[ErrorKind::Runtime])),
        // --- values that fight serialization --------------------------------------------
        ("getter that throws", "return { get x() { throw new Error('gotcha'); } }", Fails(ErrorKind::Runtime, "could not be converted to JSON: Error: gotcha")),
        ("proxy whose ownKeys throws", "return new Proxy({}, { ownKeys() { throw new Error('no keys'); } })", Fails(ErrorKind::Runtime, "no keys")),
        ("proxy whose ownKeys spins", "return new Proxy({}, { ownKeys() { while (true) {} } })", Fails(ErrorKind::Timeout, "CPU")),
        ("toJSON that recurses", "const o: any = { toJSON() { return o.toJSON(); } }; return o;", Fails(ErrorKind::Limit, "stack depth")),
        ("toJSON returning itself wrapped", "const o: any = { toJSON() { return { o: this }; } }; return o;", Completes),
        ("deeply nested arrays", "let a: any = []; for (let i = 0; i < 100_000; i++) a = [a]; return a;", Completes),
        ("getter that throws while logging", "console.log({ get x() { throw new Error('g'); } }); return 1;", Returns(json!(1))),
        ("toPrimitive that throws while logging", "console.log(`${1}`, { [Symbol.toPrimitive]() { throw 1; } }); return 2;", Returns(json!(2))),
        ("throwing a proxy", "throw new Proxy({}, { get() { throw new Error('trap'); } })", FailsAs(&[ErrorKind::Runtime])),
        ("throwing an object with a spinning toString", "throw { toString() { while (true) {} } }", FailsAs(&[ErrorKind::Runtime, ErrorKind::Timeout])),
        // --- resource exhaustion ---------------------------------------------------------
        ("enormous string", "return 'x'.repeat(2 ** 31).length", FailsAs(&[ErrorKind::Runtime, ErrorKind::Memory])),
        ("string doubling past the engine's maximum", "let s = 'x'; while (true) s = s + s;", FailsAs(&[ErrorKind::Runtime, ErrorKind::Memory])),
        ("enormous array length", "return new Array(2 ** 32).length", Fails(ErrorKind::Runtime, "RangeError")),
        ("enormous filled array", "return new Array(1e8).fill(0).length", Fails(ErrorKind::Memory, "memory limit")),
        ("typed array beyond the heap", "return new Float64Array(1e8).length", Fails(ErrorKind::Memory, "memory limit")),
        ("catastrophic regex backtracking", "return /(a+)+$/.test('a'.repeat(40) + 'b')", Fails(ErrorKind::Timeout, "CPU")),
        ("a million timers", "for (let i = 0; i < 1e6; i++) setTimeout(() => {}, 1e6);", Fails(ErrorKind::Runtime, "too many pending timers")),
        ("an endless interval", "setInterval(() => {}, 0); await new Promise(() => {});", Fails(ErrorKind::Timeout, "")),
        ("deep JSON.parse", "return JSON.parse('['.repeat(1e6) + ']'.repeat(1e6))", FailsAs(&[ErrorKind::Runtime, ErrorKind::Limit])),
        // Promises pile up faster than they are collected: the CPU or the heap limit ends
        // it, whichever the machine's speed brings first.
        ("microtask flood", "const spin = (): Promise<void> => Promise.resolve().then(spin); spin(); await new Promise(() => {});", FailsAs(&[ErrorKind::Timeout, ErrorKind::Memory])),
        // --- accessors on shared prototypes must not reach the output ------------------
        ("holes read through a poisoned Array.prototype", "Object.defineProperty(Array.prototype, 0, { get() { return 'p'; }, configurable: true }); console.log([,]); return [, 1];", Returns(json!(["p", 1]))),
        ("a throwing setter on Array.prototype", "Object.defineProperty(Array.prototype, 0, { set() { throw new Error('trap'); }, configurable: true }); console.log([1], new Map([['a', 1]])); return [[1], new Map([['a', 1]]), new Error('e')];", Returns(json!([[1], {"a": 1}, {"name": "Error", "message": "e"}]))),
        // --- found by the fuzz suite --------------------------------------------------
        ("a returned lone surrogate", "return ['\\uD800', '\\uD83D\\uDE00', '\\\\uD800'];", Returns(json!(["\u{FFFD}", "\u{1F600}", "\\uD800"]))),
        ("a raw NUL in a template literal", "return `a\u{0}b`.length;", Returns(json!(3))),
        ("a long object key", "return Object.keys({ ['k'.repeat(300000)]: 1 })[0].length;", Returns(json!(300000))),
        // --- rejections and late errors -----------------------------------------------
        ("unhandled rejection", "Promise.reject(new Error('ignored')); return 1;", Returns(json!(1))),
        ("error thrown in a timer", "setTimeout(() => { throw new Error('late'); }, 0); await new Promise((r) => setTimeout(r, 5)); return 2;", Returns(json!(2))),
        ("rejection with undefined", "await Promise.reject(undefined)", Fails(ErrorKind::Runtime, "Uncaught undefined")),
        ("weak references", "new FinalizationRegistry(() => {}).register({}, 1); return new WeakRef({}) !== null;", Returns(json!(true))),
        ("a message getter that rejects inside the rejection tracker", "const e = new Error(); Object.defineProperty(e, 'message', { get() { Promise.reject(1); return 'm'; } }); Promise.reject(e); return 1;", Returns(json!(1))),
        // --- the compiler's recursion and the engine's own caps ------------------------
        ("a hundred thousand nested brackets", leak(format!("return {};", "[".repeat(100_000))), Fails(ErrorKind::Syntax, "nesting deeper than 1000 levels")),
        ("a hundred thousand nested parentheses", leak(format!("return {}1{};", "(".repeat(100_000), ")".repeat(100_000))), Fails(ErrorKind::Syntax, "nesting deeper than 1000 levels")),
        ("a hundred thousand chained operators", leak(format!("return {}x;", "!".repeat(100_000))), Fails(ErrorKind::Syntax, "levels")),
        ("brackets just under the nesting limit", leak(format!("return {}1{};", "(".repeat(990), ")".repeat(990))), Returns(json!(1))),
        ("string past the engine's length cap", "return 'x'.repeat(2 ** 30).length", Fails(ErrorKind::Memory, "string length limit")),
        ("array past the engine's length cap", "return new Array(2 ** 31).toReversed().length", Fails(ErrorKind::Memory, "array length limit")),
        // --- stack-trace hooks ---------------------------------------------------------
        ("prepareStackTrace cannot reach the prelude's functions", "let n: any; (Error as any).prepareStackTrace = (e: any, f: any[]) => f.filter((s) => s.getFunction() !== undefined || s.getThis() !== undefined).length; console.log({ toJSON() { n = new Error('p').stack; return 1; } }); return n;", Returns(json!(0))),
    ]
}

/// A case built at run time (repeated brackets), kept for the whole test run.
fn leak(code: String) -> &'static str {
    Box::leak(code.into_boxed_str())
}

pub fn check(name: &str, expect: &Expect, execution: &Execution) {
    match (expect, &execution.returned()) {
        (Fails(kind, text), Err(error)) => {
            assert_eq!(error.kind, *kind, "{name}: {error}");
            assert!(
                error.message.contains(text),
                "{name}: {:?} lacks {text:?}",
                error.message
            );
        }
        (FailsAs(kinds), Err(error)) => {
            assert!(kinds.contains(&error.kind), "{name}: {error}");
            assert!(!error.message.is_empty(), "{name}: empty message");
        }
        (Returns(expected), Ok(value)) => {
            assert_eq!(value.as_ref(), Some(expected), "{name}");
        }
        (Completes, Ok(_)) => {}
        (_, outcome) => panic!("{name}: unexpected outcome {outcome:?}"),
    }
}
