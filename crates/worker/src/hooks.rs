//! Test hooks: a `__test` namespace that the worker serves itself, making raw system calls
//! from native code so tests can prove the OS walls hold even for code that is not
//! JavaScript. Only present when the worker was started with `--test-hooks`, which the pool
//! passes only when its options ask for it *and* the gateway's environment has
//! [`crate::TEST_HOOKS_ENV`] (the worker's own environment is cleared, so it cannot check).

use std::ffi::CString;
use std::io::Write;
use std::sync::{Arc, Mutex};

use codemode_sandbox::{ToolError, ToolNames};
use serde_json::{json, Value};

use crate::protocol::write_frame_sync;

pub(crate) const NAMESPACE: &str = "__test";
const TOOLS: [&str; 11] = [
    "open", "socket", "exec", "getenv", "pid", "flood", "garbage", "abort", "hang", "overflow",
    "lie",
];

pub(crate) fn add_to(catalog: &mut ToolNames) {
    for tool in TOOLS {
        catalog.add_tool(NAMESPACE, tool);
    }
}

/// Runs one hook on the calling thread (the snippet's).
pub(crate) fn call(
    name: &str,
    args: &Value,
    stdout: &Arc<Mutex<std::io::Stdout>>,
) -> Result<Value, ToolError> {
    match name {
        "open" => {
            let path = cstring(args["path"].as_str().unwrap_or("/etc/passwd"))?;
            // SAFETY: a valid NUL-terminated path; the fd is closed below if one is returned.
            let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY) };
            syscall_result("open", fd)
        }
        "socket" => {
            // SAFETY: plain socket(2); the fd is closed if one is returned.
            let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
            syscall_result("socket", fd)
        }
        "exec" => {
            let program = cstring("/bin/sh")?;
            let argv0 = cstring("sh")?;
            let flag = cstring("-c")?;
            let script = cstring("exit 42")?;
            let argv = [
                argv0.as_ptr(),
                flag.as_ptr(),
                script.as_ptr(),
                std::ptr::null(),
            ];
            let envp = [std::ptr::null()];
            // SAFETY: NUL-terminated argv and envp arrays of valid C strings. On success this
            // never returns (the worker becomes `sh`, which exits 42).
            let result = unsafe { libc::execve(program.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
            syscall_result("execve", result)
        }
        "getenv" => {
            let name = args["name"].as_str().unwrap_or("HOME");
            Ok(std::env::var_os(name)
                .map(|value| Value::String(value.to_string_lossy().into_owned()))
                .unwrap_or(Value::Null))
        }
        "pid" => Ok(json!(std::process::id())),
        "flood" => {
            // Endless bytes on the protocol pipe: their first four read as a length far
            // beyond the frame cap.
            let chunk = vec![b'x'; 1024 * 1024];
            let mut out = stdout.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if out.write_all(&chunk).is_err() {
                    return Err(ToolError::new("the pipe closed"));
                }
            }
        }
        "garbage" => {
            let mut out = stdout.lock().unwrap_or_else(|p| p.into_inner());
            let body = b"this is not json";
            let mut frame = (body.len() as u32).to_be_bytes().to_vec();
            frame.extend_from_slice(body);
            let _ = out.write_all(&frame);
            let _ = out.flush();
            Ok(Value::Null)
        }
        // A compromised worker's report: `Done` with what it was never given. `what` picks
        // the lie: forged calls, an oversized value, oversized logs.
        "lie" => {
            let forged = forged_report(args["what"].as_str().unwrap_or("calls"));
            let mut out = stdout.lock().unwrap_or_else(|p| p.into_inner());
            write_frame_sync(&mut *out, &forged)
                .map_err(|e| ToolError::new(format!("could not lie: {e}")))?;
            Ok(Value::Null)
        }
        "abort" => std::process::abort(),
        // Native recursion until the thread's guard page: Rust's overflow handler reports it
        // on stderr and aborts the process.
        "overflow" => Ok(json!(recurse(0))),
        "hang" => loop {
            // Native code that never returns and burns no CPU: only the gateway's clock
            // can end it.
            std::thread::sleep(std::time::Duration::from_secs(3600));
        },
        other => Err(ToolError::new(format!("no test hook {other}"))),
    }
}

/// A `Done` frame with what the worker was never given, as JSON: a lie need not fit the
/// protocol's types, only its syntax.
fn forged_report(what: &str) -> Value {
    let mut report = json!({
        "returned": { "value": "as reported" },
        "logs": [],
        "notes": [],
        "cpuTimeMs": 0.0,
        "peakMemoryBytes": 0,
    });
    match what {
        "result" => report["returned"]["value"] = json!("x".repeat(4 << 20)),
        "logs" => {
            report["logs"] = (0..2_000)
                .map(|i| json!({ "level": "log", "message": format!("{i} {}", "y".repeat(1024)) }))
                .collect()
        }
        _ => {
            // Calls the worker claims it made, and a count to match: no such fields exist.
            report["calls"] = (0..500)
                .map(|_| json!({ "namespace": "github", "name": "delete_repo", "startedMs": 0.0 }))
                .collect();
            report["callCount"] = json!(500);
            report["peakMemoryBytes"] = json!(u64::MAX);
        }
    }
    json!({ "done": { "report": report } })
}

/// 4 KiB of stack a level, kept alive across the call so that it cannot become a loop.
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth as u8; 4096]);
    if depth == u64::MAX {
        return 0;
    }
    let below = recurse(depth + 1);
    std::hint::black_box(&frame);
    below.wrapping_add(u64::from(frame[0]))
}

fn cstring(text: &str) -> Result<CString, ToolError> {
    CString::new(text).map_err(|_| ToolError::new("a NUL byte in the argument"))
}

fn syscall_result(what: &str, result: libc::c_int) -> Result<Value, ToolError> {
    if result < 0 {
        let error = std::io::Error::last_os_error();
        return Err(ToolError::new(format!("{what} failed: {error}")));
    }
    // SAFETY: `result` is a descriptor this hook just got.
    unsafe { libc::close(result) };
    Ok(json!({ "succeeded": what }))
}
