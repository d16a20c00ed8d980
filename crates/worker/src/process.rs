//! One worker process seen from the gateway: started with an empty environment and only
//! its three pipes, greeted, and read by a task of its own (so reading is cancel-safe).

use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use crate::backstop::Backstop;
use crate::error::{ProtocolError, SpawnError};
use crate::pool::PoolOptions;
use crate::protocol::{read_frame, write_frame, FromWorker, ToWorker, PROTOCOL_VERSION};

/// Frames read ahead of the supervisor: enough to keep the pipe moving, few enough that a
/// flooding worker is held back by the pipe, not buffered by us.
const FRAMES_AHEAD: usize = 8;
/// A worker's stderr reaches the gateway's log up to this many bytes; the rest is drained
/// and dropped, so a worker cannot flood the log either.
const STDERR_LOG_BYTES: usize = 64 * 1024;

pub(crate) struct WorkerProcess {
    pub child: Child,
    pub pid: u32,
    stdin: ChildStdin,
    pub frames: mpsc::Receiver<Result<FromWorker, ProtocolError>>,
    pub confinement: Value,
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
        tokio::spawn(log_stderr(pid, stderr));
        let (tx, frames) = mpsc::channel(FRAMES_AHEAD);
        tokio::spawn(read_frames(stdout, tx));
        let mut worker = WorkerProcess {
            child,
            pid,
            stdin,
            frames,
            confinement: Value::Null,
        };
        let greeting = tokio::time::timeout(options.spawn_timeout, worker.frames.recv()).await;
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
                worker.confinement = confinement;
                Ok(worker)
            }
            Ok(Some(Ok(other))) => Err(SpawnError::BadHello(format!(
                "expected a greeting, got {}",
                kind_of(&other)
            ))),
            Ok(Some(Err(error))) => Err(SpawnError::Protocol(error)),
            Ok(None) => {
                let status = worker.exit_status(Duration::from_secs(2)).await;
                Err(SpawnError::DiedAtStart {
                    status: status.map_or_else(|| "still running".into(), describe_exit),
                })
            }
        }
    }

    pub async fn send(&mut self, message: &ToWorker) -> Result<(), ProtocolError> {
        write_frame(&mut self.stdin, message).await
    }

    /// Whether the process has ended (a warm worker can die while it waits).
    pub fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// The exit status once the process has ended, waiting up to `patience`.
    pub async fn exit_status(&mut self, patience: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(patience, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// SIGKILL, and wait until it is reaped.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }

    /// SIGKILL, and reap it in the background.
    pub fn kill(mut self) {
        let _ = self.child.start_kill();
        tokio::spawn(async move {
            let _ = self.child.wait().await;
        });
    }
}

async fn read_frames(
    mut stdout: tokio::process::ChildStdout,
    tx: mpsc::Sender<Result<FromWorker, ProtocolError>>,
) {
    loop {
        let frame = read_frame::<FromWorker>(&mut stdout).await;
        let last = !matches!(frame, Ok(Some(_)));
        let message = match frame {
            Ok(Some(message)) => Ok(message),
            // End of stream: dropping the sender tells the supervisor.
            Ok(None) => return,
            Err(error) => Err(error),
        };
        if tx.send(message).await.is_err() || last {
            return;
        }
    }
}

async fn log_stderr(pid: u32, mut stderr: tokio::process::ChildStderr) {
    let mut buffer = vec![0u8; 4096];
    let mut logged = 0usize;
    loop {
        match stderr.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
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

fn kind_of(message: &FromWorker) -> &'static str {
    match message {
        FromWorker::Hello { .. } => "Hello",
        FromWorker::ToolCall { .. } => "ToolCall",
        FromWorker::Done { .. } => "Done",
    }
}

/// How a worker ended, in words an agent (and an operator) can act on.
pub(crate) fn describe_exit(status: ExitStatus) -> String {
    if let Some(signal) = status.signal() {
        return match signal {
            libc::SIGSYS => {
                "was killed by the seccomp filter (SIGSYS: a forbidden system call)".into()
            }
            libc::SIGKILL => "was killed (SIGKILL: out of memory, or killed from outside)".into(),
            libc::SIGXCPU => "ran out of CPU time (SIGXCPU: the process CPU limit)".into(),
            libc::SIGXFSZ => "exceeded its file size limit (SIGXFSZ)".into(),
            libc::SIGABRT => {
                "aborted (SIGABRT: often an allocation that hit the memory limit)".into()
            }
            libc::SIGSEGV => "crashed (SIGSEGV: a memory fault)".into(),
            libc::SIGBUS => "crashed (SIGBUS)".into(),
            other => format!("was killed by signal {other}"),
        };
    }
    match status.code() {
        Some(code) => format!("exited with code {code}"),
        None => "ended".into(),
    }
}
