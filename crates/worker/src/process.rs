//! One worker process seen from the gateway: started with an empty environment and only
//! its three pipes (or forked so by the fork server), and greeted. Its frames are read by
//! whichever task serves it, with no task or channel between ([`WorkerFrames`]). Its stderr
//! goes to the gateway's log, and its last lines are kept to explain its end.

use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::os::unix::process::ExitStatusExt;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::unix::pipe;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::backstop::Backstop;
use crate::ending::{describe_end, End};
use crate::error::{ProtocolError, SpawnError};
use crate::fork_server::{worker_pipes, ForkServer, EXIT_PATIENCE};
use crate::pool::PoolOptions;
use crate::protocol::{write_frame, FrameReader, FromWorker, ToWorker, PROTOCOL_VERSION};

/// A worker's stderr reaches the gateway's log up to this many bytes; the rest is drained
/// and dropped, so a worker cannot flood the log either.
const STDERR_LOG_BYTES: usize = 64 * 1024;
/// Lines of a worker's stderr kept to explain how it ended.
const TAIL_LINES: usize = 8;
/// A longer stderr line is cut in the tail (bytes).
const TAIL_LINE_BYTES: usize = 300;

/// How the gateway holds a worker's process: a child it started, or one the fork server
/// forked (whose parent is the fork server, so its end is reported by it).
enum Handle {
    Spawned(Child),
    /// Handed off to be reaped in the background.
    Gone,
    Forked {
        server: Arc<ForkServer>,
        exit: oneshot::Receiver<i32>,
        status: Option<ExitStatus>,
        /// The fork server went away without reporting (the worker died with it).
        lost: bool,
    },
}

pub(crate) struct WorkerProcess {
    handle: Handle,
    pub pid: u32,
    /// The rlimits it was locked down with.
    pub backstop: Backstop,
    stdin: Box<dyn AsyncWrite + Send + Unpin>,
    pub frames: WorkerFrames,
    pub confinement: Value,
    stderr: StderrTail,
    stderr_reader: Option<JoinHandle<()>>,
}

impl WorkerProcess {
    /// Starts a worker locked down with `backstop`'s rlimits and waits for its greeting.
    pub async fn spawn(
        options: &PoolOptions,
        backstop: Backstop,
    ) -> Result<WorkerProcess, SpawnError> {
        let mut command = Command::new(&options.program);
        command
            .args(&options.args)
            .args(backstop.args())
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if options.test_hooks_enabled() {
            command.arg("--test-hooks");
        }
        let mut child = command.spawn().map_err(|source| SpawnError::Start {
            program: options.program.display().to_string(),
            source,
        })?;
        let pid = child.id().unwrap_or_default();
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(SpawnError::BadHello(
                "the worker's pipes are missing".into(),
            ));
        };
        let worker = WorkerProcess::attach(
            Handle::Spawned(child),
            pid,
            backstop,
            Box::new(stdin),
            stdout,
            stderr,
        );
        worker.greeted(options).await
    }

    /// Asks the fork server for a worker (locked down with the server's rlimits) and waits
    /// for its greeting; `warm` when it will wait in the pool (it warms up first).
    pub async fn fork(
        server: &Arc<ForkServer>,
        options: &PoolOptions,
        warm: bool,
    ) -> Result<WorkerProcess, SpawnError> {
        let bad = |what: String| SpawnError::Forked(what);
        let (theirs, [stdin, stdout, stderr]) =
            worker_pipes().map_err(|e| bad(format!("pipes: {e}")))?;
        let forked = server.fork(theirs, warm).await.map_err(bad)?;
        let stdin = pipe::Sender::from_owned_fd(stdin).map_err(|e| bad(format!("stdin: {e}")))?;
        let stdout =
            pipe::Receiver::from_owned_fd(stdout).map_err(|e| bad(format!("stdout: {e}")))?;
        let stderr =
            pipe::Receiver::from_owned_fd(stderr).map_err(|e| bad(format!("stderr: {e}")))?;
        let worker = WorkerProcess::attach(
            Handle::Forked {
                server: server.clone(),
                exit: forked.exit,
                status: None,
                lost: false,
            },
            forked.pid,
            server.backstop,
            Box::new(stdin),
            stdout,
            stderr,
        );
        worker.greeted(options).await
    }

    fn attach(
        handle: Handle,
        pid: u32,
        backstop: Backstop,
        stdin: Box<dyn AsyncWrite + Send + Unpin>,
        stdout: impl AsyncRead + Send + Unpin + 'static,
        stderr: impl AsyncRead + Send + Unpin + 'static,
    ) -> WorkerProcess {
        let tail = StderrTail::default();
        let stderr_reader = tokio::spawn(log_stderr(pid, stderr, tail.clone()));
        let frames = WorkerFrames(FrameReader::new(Box::new(stdout)));
        WorkerProcess {
            handle,
            pid,
            backstop,
            stdin,
            frames,
            confinement: Value::Null,
            stderr: tail,
            stderr_reader: Some(stderr_reader),
        }
    }

    /// Waits for the worker's greeting.
    async fn greeted(mut self, options: &PoolOptions) -> Result<WorkerProcess, SpawnError> {
        let backstop = self.backstop;
        let greeting = tokio::time::timeout(options.spawn_timeout, self.frames.recv()).await;
        match greeting {
            Err(_) => Err(SpawnError::NoHello {
                ms: options.spawn_timeout.as_millis(),
            }),
            Ok(Some(Ok(FromWorker::Hello {
                protocol,
                confinement,
                ..
            }))) => {
                if protocol != PROTOCOL_VERSION {
                    return Err(SpawnError::BadHello(format!(
                        "protocol {protocol}, but this gateway speaks {PROTOCOL_VERSION}"
                    )));
                }
                self.confinement = confinement;
                Ok(self)
            }
            Ok(Some(Ok(other))) => Err(SpawnError::BadHello(format!(
                "expected a greeting, got {}",
                kind_of(&other)
            ))),
            Ok(Some(Err(error))) => Err(SpawnError::Protocol(error)),
            Ok(None) => {
                let status = self.exit_status(Duration::from_secs(2)).await;
                let stderr = self.stderr_tail().await;
                let ending = describe_end(&End {
                    status,
                    killed: None,
                    running: false,
                    cpu_backstop_seconds: backstop.cpu_seconds,
                    stderr: &stderr,
                });
                Err(SpawnError::DiedAtStart {
                    status: ending.message,
                })
            }
        }
    }

    pub async fn send(&mut self, message: &ToWorker) -> Result<(), ProtocolError> {
        write_frame(&mut self.stdin, message).await
    }

    /// Whether the process has ended (a warm worker can die while it waits).
    pub fn has_exited(&mut self) -> bool {
        match &mut self.handle {
            Handle::Spawned(child) => !matches!(child.try_wait(), Ok(None)),
            Handle::Gone => true,
            Handle::Forked {
                exit, status, lost, ..
            } => {
                if status.is_some() || *lost {
                    return true;
                }
                match exit.try_recv() {
                    Ok(raw) => {
                        *status = Some(ExitStatus::from_raw(raw));
                        true
                    }
                    Err(oneshot::error::TryRecvError::Empty) => false,
                    Err(oneshot::error::TryRecvError::Closed) => {
                        *lost = true;
                        true
                    }
                }
            }
        }
    }

    /// The exit status once the process has ended, waiting up to `patience`.
    pub async fn exit_status(&mut self, patience: Duration) -> Option<ExitStatus> {
        match &mut self.handle {
            Handle::Spawned(child) => tokio::time::timeout(patience, child.wait())
                .await
                .ok()
                .and_then(Result::ok),
            Handle::Gone => None,
            Handle::Forked {
                exit, status, lost, ..
            } => {
                if status.is_none() && !*lost {
                    match tokio::time::timeout(patience, exit).await {
                        Ok(Ok(raw)) => *status = Some(ExitStatus::from_raw(raw)),
                        Ok(Err(_)) => *lost = true,
                        Err(_) => {}
                    }
                }
                *status
            }
        }
    }

    /// Whether it was forked and ended with its fork server (which takes its workers along):
    /// the server went away without reporting its end. Waits briefly for that news.
    pub async fn lost_with_its_fork_server(&mut self) -> bool {
        if !matches!(self.handle, Handle::Forked { .. }) {
            return false;
        }
        let _ = self.exit_status(EXIT_PATIENCE).await;
        matches!(&self.handle, Handle::Forked { lost, server, .. } if *lost || !server.is_alive())
    }

    /// The last lines it wrote to stderr (joined by ` | `; empty if none), once its stderr
    /// closed (it does when the process ends) or after a short wait for that.
    pub async fn stderr_tail(&mut self) -> String {
        if let Some(reader) = self.stderr_reader.take() {
            let _ = tokio::time::timeout(Duration::from_millis(500), reader).await;
        }
        self.stderr.text()
    }

    /// Sends SIGKILL, keeping the process to be reaped ([`WorkerProcess::exit_status`]).
    pub fn start_kill(&mut self) {
        match &mut self.handle {
            Handle::Spawned(child) => {
                let _ = child.start_kill();
            }
            Handle::Forked { server, .. } => server.kill(self.pid),
            Handle::Gone => {}
        }
    }

    /// SIGKILL, and wait until it is reaped.
    pub async fn stop(mut self) {
        self.start_kill();
        let _ = self.exit_status(EXIT_PATIENCE).await;
    }

    /// SIGKILL, and reap it in the background.
    pub fn kill(mut self) {
        self.start_kill();
        if let Handle::Spawned(mut child) = std::mem::replace(&mut self.handle, Handle::Gone) {
            tokio::spawn(async move {
                let _ = child.wait().await;
            });
        }
    }
}

impl Drop for WorkerProcess {
    /// As `kill_on_drop` does for a spawned worker: a dropped worker is a killed worker.
    fn drop(&mut self) {
        if let Handle::Forked { .. } = self.handle {
            if !self.has_exited() {
                self.start_kill();
            }
        }
    }
}

/// The frames a worker writes. Each read happens inside the supervisor's own `select!`
/// (cancel-safe: see [`FrameReader::next_frame_async`]); a worker that floods is held back
/// by its pipe, since nothing is read ahead of what the supervisor asks for.
pub(crate) struct WorkerFrames(FrameReader<Box<dyn AsyncRead + Send + Unpin>>);

impl WorkerFrames {
    /// The next frame, or why there is none; `None` at the end of the stream. After an
    /// error the worker is done with: nothing reads on.
    pub async fn recv(&mut self) -> Option<Result<FromWorker, ProtocolError>> {
        self.0.next_frame_async().await.transpose()
    }
}

async fn log_stderr(pid: u32, mut stderr: impl AsyncRead + Unpin, tail: StderrTail) {
    let mut buffer = vec![0u8; 4096];
    let mut logged = 0usize;
    loop {
        match stderr.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                tail.feed(&buffer[..n]);
                if logged < STDERR_LOG_BYTES {
                    logged += n;
                    let text = String::from_utf8_lossy(&buffer[..n]);
                    tracing::warn!(worker = pid, "{}", text.trim_end());
                    if logged >= STDERR_LOG_BYTES {
                        tracing::warn!(
                            worker = pid,
                            "further stderr output of this worker is dropped"
                        );
                    }
                }
            }
        }
    }
}

/// The last [`TAIL_LINES`] lines a worker wrote to stderr, each cut at [`TAIL_LINE_BYTES`]:
/// bounded whatever the worker writes.
#[derive(Clone, Default)]
struct StderrTail(Arc<Mutex<Tail>>);

#[derive(Default)]
struct Tail {
    lines: VecDeque<String>,
    /// The line being written (up to [`TAIL_LINE_BYTES`]).
    partial: Vec<u8>,
    /// The line being written was longer than that.
    cut: bool,
}

impl StderrTail {
    fn feed(&self, bytes: &[u8]) {
        let mut tail = self.0.lock().unwrap_or_else(|p| p.into_inner());
        tail.feed(bytes);
    }

    fn text(&self) -> String {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).text()
    }
}

impl Tail {
    fn feed(&mut self, bytes: &[u8]) {
        for piece in bytes.split_inclusive(|&b| b == b'\n') {
            let (content, ends) = match piece.strip_suffix(b"\n") {
                Some(content) => (content, true),
                None => (piece, false),
            };
            let room = TAIL_LINE_BYTES.saturating_sub(self.partial.len());
            if content.len() > room {
                self.cut = true;
            }
            self.partial
                .extend_from_slice(&content[..content.len().min(room)]);
            if ends {
                let line = line_text(&self.partial, self.cut);
                self.partial.clear();
                self.cut = false;
                if !line.is_empty() {
                    if self.lines.len() == TAIL_LINES {
                        self.lines.pop_front();
                    }
                    self.lines.push_back(line);
                }
            }
        }
    }

    fn text(&self) -> String {
        let partial = line_text(&self.partial, self.cut);
        let mut lines: Vec<&str> = self.lines.iter().map(String::as_str).collect();
        if !partial.is_empty() {
            if lines.len() == TAIL_LINES {
                lines.remove(0);
            }
            lines.push(&partial);
        }
        lines.join(" | ")
    }
}

/// One stderr line as text: control characters as spaces, trimmed, `…` if it was cut.
fn line_text(bytes: &[u8], cut: bool) -> String {
    let text: String = String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut text = text.trim().to_string();
    if cut && !text.is_empty() {
        text.push('…');
    }
    text
}

fn kind_of(message: &FromWorker) -> &'static str {
    match message {
        FromWorker::Hello { .. } => "Hello",
        FromWorker::ToolCall { .. } => "ToolCall",
        FromWorker::Done { .. } => "Done",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail_of(chunks: &[&[u8]]) -> String {
        let mut tail = Tail::default();
        for chunk in chunks {
            tail.feed(chunk);
        }
        tail.text()
    }

    #[test]
    fn the_tail_keeps_the_last_lines_across_chunks() {
        assert_eq!(tail_of(&[]), "");
        assert_eq!(
            tail_of(&[b"thread 'codemode-snippet' has over", b"flowed its stack\n\nfatal runtime error: stack overflow\n"]),
            "thread 'codemode-snippet' has overflowed its stack | fatal runtime error: stack overflow"
        );
        assert_eq!(tail_of(&[b"done\nno newline yet"]), "done | no newline yet");
        let many: String = (0..20).map(|i| format!("line {i}\n")).collect();
        let expected: Vec<String> = (12..20).map(|i| format!("line {i}")).collect();
        assert_eq!(tail_of(&[many.as_bytes()]), expected.join(" | "));
    }

    #[test]
    fn the_tail_is_bounded_and_printable() {
        let long = vec![b'x'; 10 * TAIL_LINE_BYTES];
        let text = tail_of(&[&long, &long, b"\n\x1b[31mred\x07\n"]);
        let (first, second) = text.split_once(" | ").expect("two lines");
        assert_eq!(first, format!("{}…", "x".repeat(TAIL_LINE_BYTES)));
        assert_eq!(second, "[31mred");
        let endless = tail_of(&[&vec![b'y'; 1 << 20]]);
        assert_eq!(endless.chars().count(), TAIL_LINE_BYTES + 1);
    }
}
