//! Stdio upstreams: starting the child process, keeping its stderr, and ending it.
//!
//! The child runs in its own process group so that launchers (`npx`, `uvx`, shell wrappers)
//! and whatever they start are ended together. Its stderr never reaches our stdout (the
//! gateway itself may speak MCP there): each line goes to `tracing`, and the last lines are kept
//! to explain a failed start or a crash.

use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;

use crate::config::StdioServer;
use crate::error::ConnectError;

/// Lines of stderr kept for error reports.
const TAIL_LINES: usize = 12;
/// A longer stderr line is cut in the tail (it is logged whole).
const TAIL_LINE_CHARS: usize = 400;
/// After stdin closes, how long a well-behaved server gets to exit on its own.
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// After SIGTERM, how long before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(1);

/// A running stdio server process and its pipes.
pub(crate) struct Spawned {
    pub child: ChildProcess,
    pub stdout: ChildStdout,
    pub stdin: ChildStdin,
}

/// The child process, owned: dropping it kills its whole process group.
pub(crate) struct ChildProcess {
    child: Child,
    pid: Option<u32>,
    exit: Option<ExitStatus>,
    stderr: StderrTail,
    stderr_reader: Option<JoinHandle<()>>,
}

/// Starts `spec` with piped stdio; stderr is logged under `server`.
pub(crate) fn spawn(server: &str, spec: &StdioServer) -> Result<Spawned, ConnectError> {
    if let Some(cwd) = &spec.cwd {
        if !cwd.is_dir() {
            return Err(ConnectError::MissingCwd { cwd: cwd.clone() });
        }
    }
    let mut command = Command::new(&spec.command);
    command
        .args(&spec.args)
        .env_clear()
        .envs(child_environment(spec, std::env::vars_os()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Backstop for paths that forget `stop()` (e.g. a cancelled startup).
        .kill_on_drop(true);
    if let Some(cwd) = &spec.cwd {
        command.current_dir(cwd);
    }
    #[cfg(unix)]
    command.process_group(0);

    let mut child = command.spawn().map_err(|source| ConnectError::Spawn {
        command: spec.command.clone(),
        source,
    })?;
    let (Some(stdout), Some(stdin), Some(stderr)) =
        (child.stdout.take(), child.stdin.take(), child.stderr.take())
    else {
        // Unreachable with Stdio::piped(), but not worth a panic.
        return Err(ConnectError::Spawn {
            command: spec.command.clone(),
            source: std::io::Error::other("child stdio pipes missing"),
        });
    };
    widen_pipe(&stdout);
    widen_pipe(&stdin);
    let tail = StderrTail::default();
    let reader = tokio::spawn(log_stderr(server.to_owned(), stderr, tail.clone()));
    Ok(Spawned {
        child: ChildProcess {
            pid: child.id(),
            child,
            exit: None,
            stderr: tail,
            stderr_reader: Some(reader),
        },
        stdout,
        stdin,
    })
}

/// Bytes the pipes to and from a server hold (the kernel's default is 64 KiB): a 1.5 MB
/// answer (700 KB of `structuredContent` and the same as text) then crosses in six reads
/// instead of two dozen, each of which had the server and the gateway wake each other (the
/// seed example over MCP: 3% faster with wider pipes, interleaved A/B). Four times the
/// default, not the 1 MiB a user may ask for: the kernel counts every pipe's size against a
/// per-user budget (16,384 pages by default), shared with the worker processes' pipes.
#[cfg(target_os = "linux")]
const PIPE_BYTES: libc::c_int = 256 * 1024;

/// Best effort: a kernel that refuses leaves the pipe as it was.
fn widen_pipe(pipe: &impl std::os::fd::AsRawFd) {
    #[cfg(target_os = "linux")]
    // SAFETY: F_SETPIPE_SZ on a pipe of ours only changes its capacity.
    unsafe {
        libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_BYTES);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = pipe;
}

impl ChildProcess {
    pub(crate) fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// How the process ended, waiting up to `wait` for it; `None` if it is still running.
    pub(crate) async fn exit_status(&mut self, wait: Duration) -> Option<ExitStatus> {
        if self.exit.is_none() {
            if let Ok(Ok(status)) = tokio::time::timeout(wait, self.child.wait()).await {
                self.exit = Some(status);
            }
        }
        self.exit
    }

    /// The last stderr lines, after giving the reader a moment to drain the pipe.
    pub(crate) async fn stderr_tail(&mut self) -> String {
        if let Some(reader) = self.stderr_reader.take() {
            // The pipe closes when the process (and its group) ends; if something still holds
            // it open, report what we have.
            let _ = tokio::time::timeout(Duration::from_millis(500), reader).await;
        }
        self.stderr.text()
    }

    /// One line describing how the process ended, with its stderr tail.
    pub(crate) async fn describe_exit(&mut self) -> String {
        let how = match self.exit_status(Duration::from_millis(500)).await {
            Some(status) => format!("process exited ({status})"),
            None => "process closed its stdout".to_owned(),
        };
        with_stderr(how, &self.stderr_tail().await)
    }

    /// Ends the process: it gets [`EXIT_GRACE`] to exit after its stdin was closed (the MCP
    /// stdio shutdown sequence), then SIGTERM, then SIGKILL, always to the whole group.
    pub(crate) async fn stop(&mut self) {
        if self.exit_status(EXIT_GRACE).await.is_none() {
            self.signal_group(Signal::Term);
            if self.exit_status(TERM_GRACE).await.is_none() {
                self.signal_group(Signal::Kill);
                let _ = self.exit_status(TERM_GRACE).await;
            }
        }
        // Helpers the server started may outlive it in its group.
        self.signal_group(Signal::Kill);
    }

    #[cfg(unix)]
    fn signal_group(&self, signal: Signal) {
        let Some(pid) = self.pid.and_then(|p| libc::pid_t::try_from(p).ok()) else {
            return;
        };
        let signal = match signal {
            Signal::Term => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
        };
        // SAFETY: killpg only sends a signal. The group id is our child's pid, which Linux does
        // not hand out again while any process is still in that group; ESRCH is fine.
        unsafe {
            libc::killpg(pid, signal);
        }
    }

    #[cfg(not(unix))]
    fn signal_group(&mut self, _signal: Signal) {
        let _ = self.child.start_kill();
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.signal_group(Signal::Kill);
    }
}

#[derive(Clone, Copy)]
enum Signal {
    Term,
    Kill,
}

/// What a stdio server inherits of the gateway's environment when its entry does not say
/// otherwise: the official MCP SDKs' default (`getDefaultEnvironment` in TypeScript,
/// `get_default_environment` in Python), so a server sees what it would under any client.
pub const DEFAULT_INHERITED_ENV: &[&str] = &["HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"];

/// The gateway's own variables: a prefix pattern in `inheritEnv` never passes them on.
const GATEWAY_PREFIX: &str = "CODEMODE_";

/// The child's whole environment: [`DEFAULT_INHERITED_ENV`] and the entry's `inheritEnv`
/// from `parent`, then the entry's own `env` on top. Nothing else of the gateway's
/// environment (tokens, cloud credentials) reaches an upstream.
pub(crate) fn child_environment(
    spec: &StdioServer,
    parent: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> std::collections::BTreeMap<std::ffi::OsString, std::ffi::OsString> {
    let wanted = |name: &str| {
        DEFAULT_INHERITED_ENV.contains(&name)
            || spec
                .inherit_env
                .iter()
                .any(|pattern| match pattern.strip_suffix('*') {
                    Some(prefix) => name.starts_with(prefix) && !name.starts_with(GATEWAY_PREFIX),
                    None => pattern == name,
                })
    };
    let mut env: std::collections::BTreeMap<_, _> = parent
        .filter(|(name, _)| name.to_str().is_some_and(wanted))
        .collect();
    for (name, value) in &spec.env {
        env.insert(name.into(), value.into());
    }
    env
}

/// `message`, followed by the stderr tail when there is one.
pub(crate) fn with_stderr(message: String, tail: &str) -> String {
    if tail.is_empty() {
        message
    } else {
        format!("{message}; stderr: {tail}")
    }
}

/// The last [`TAIL_LINES`] lines a child wrote to stderr.
#[derive(Clone, Default)]
struct StderrTail(Arc<Mutex<VecDeque<String>>>);

impl StderrTail {
    fn push(&self, line: String) {
        let Ok(mut lines) = self.0.lock() else { return };
        if lines.len() == TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    fn text(&self) -> String {
        match self.0.lock() {
            Ok(lines) => lines.iter().cloned().collect::<Vec<_>>().join(" | "),
            Err(_) => String::new(),
        }
    }
}

async fn log_stderr(server: String, stderr: ChildStderr, tail: StderrTail) {
    let mut reader = BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf);
                let line = line.trim_end();
                if line.is_empty() {
                    continue;
                }
                tracing::info!(target: "codemode_upstream::stderr", server = %server, "{line}");
                tail.push(truncate(line, TAIL_LINE_CHARS));
            }
        }
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn spec(inherit: &[&str], env: &[(&str, &str)]) -> StdioServer {
        StdioServer {
            command: "srv".into(),
            args: Vec::new(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cwd: None,
            inherit_env: inherit.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn parent() -> impl Iterator<Item = (OsString, OsString)> {
        [
            ("PATH", "/bin"),
            ("HOME", "/root"),
            ("CODEMODE_TOKEN", "s3cret"),
            ("GITHUB_TOKEN", "ghp_x"),
            ("AWS_PROFILE", "dev"),
            ("AWS_SECRET_ACCESS_KEY", "k"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
    }

    fn names(env: &std::collections::BTreeMap<OsString, OsString>) -> Vec<String> {
        env.keys()
            .map(|k| k.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn only_the_sdk_defaults_pass_by_default() {
        let env = child_environment(&spec(&[], &[]), parent());
        assert_eq!(names(&env), ["HOME", "PATH"]);
    }

    #[test]
    fn named_and_prefixed_variables_opt_in_but_gateway_ones_need_their_name() {
        let env = child_environment(&spec(&["AWS_PROFILE"], &[]), parent());
        assert_eq!(names(&env), ["AWS_PROFILE", "HOME", "PATH"]);
        let env = child_environment(&spec(&["AWS_*", "*"], &[]), parent());
        assert!(!names(&env).contains(&"CODEMODE_TOKEN".to_string()));
        assert!(names(&env).contains(&"AWS_SECRET_ACCESS_KEY".to_string()));
        let env = child_environment(&spec(&["CODEMODE_TOKEN"], &[]), parent());
        assert!(names(&env).contains(&"CODEMODE_TOKEN".to_string()));
    }

    #[test]
    fn the_entry_env_wins() {
        let env = child_environment(&spec(&[], &[("PATH", "/opt/bin"), ("X", "1")]), parent());
        assert_eq!(
            env.get(&OsString::from("PATH")),
            Some(&OsString::from("/opt/bin"))
        );
        assert_eq!(env.get(&OsString::from("X")), Some(&OsString::from("1")));
    }
}
