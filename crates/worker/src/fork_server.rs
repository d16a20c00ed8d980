//! The gateway's side of the fork server (`zygote.rs` is the template's): starts the
//! template, asks it for a worker per execution, and hears from it when each one ends.
//!
//! A forked worker costs a `fork` of a warmed-up process with its sandbox built and the
//! second half of the lock-down, instead of a process start, the dynamic loader, the
//! engine's warm-up and a sandbox of its own: a fresh locked-down worker is ready in well
//! under a millisecond, so back-to-back executions no longer wait for one. When the
//! template cannot start or dies, the pool starts workers itself as before; nothing
//! depends on the fork server but speed.

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use tokio::sync::oneshot;

use crate::backstop::Backstop;
use crate::pool::PoolOptions;
use crate::zygote::{receive, send, Message};

/// A worker the template forked: its pid, and the news of its end.
pub(crate) struct ForkedChild {
    pub pid: u32,
    /// The raw wait status; dropped unsent if the template died (the child with it).
    pub exit: oneshot::Receiver<i32>,
}

type ForkAnswer = Result<ForkedChild, String>;

pub(crate) struct ForkServer {
    control: OwnedFd,
    /// Held while a request is sent, so answers come back in the order of `waiting`.
    send_lock: Mutex<()>,
    waiting: Arc<Mutex<VecDeque<oneshot::Sender<ForkAnswer>>>>,
    alive: Arc<AtomicBool>,
    /// The template itself: killed when the server is dropped.
    template: Mutex<Option<Child>>,
    pub backstop: Backstop,
}

impl ForkServer {
    /// Starts the template with `backstop`'s rlimits (for its children) and waits for it
    /// to be ready.
    pub async fn start(
        options: &PoolOptions,
        backstop: Backstop,
    ) -> Result<Arc<ForkServer>, String> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| format!("socketpair: {e}"))?;
        let mut command = Command::new(&options.program);
        command
            .args(&options.args)
            .arg("--zygote")
            .args(backstop.args())
            .env_clear()
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if options.test_hooks_enabled() {
            command.arg("--test-hooks");
        }
        // Each child runs its execution on the template's main thread, whose stack must be
        // allowed to grow that far from the template's start (see `raise_stack_limit`).
        // SAFETY: between fork and exec the closure only calls getrlimit(2) and
        // setrlimit(2), which are async-signal-safe, and allocates nothing. A limit it
        // cannot raise is for the template to report.
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(|| {
                let _ = crate::zygote::raise_stack_limit();
                Ok(())
            });
        }
        let mut template = command
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", options.program.display()))?;
        let pid = template.id();
        if let Some(stderr) = template.stderr.take() {
            std::thread::Builder::new()
                .name("codemode-fork-server-log".into())
                .spawn(move || log_stderr(pid, stderr))
                .map_err(|e| format!("could not start its log reader: {e}"))?;
        }
        let alive = Arc::new(AtomicBool::new(true));
        let waiting: Arc<Mutex<VecDeque<oneshot::Sender<ForkAnswer>>>> = Arc::default();
        let (ready_tx, ready_rx) = oneshot::channel();
        let reader_fd = ours
            .try_clone()
            .map_err(|e| format!("could not share the control socket: {e}"))?;
        {
            let alive = alive.clone();
            let waiting = waiting.clone();
            std::thread::Builder::new()
                .name("codemode-fork-server".into())
                .spawn(move || read_answers(reader_fd, ready_tx, waiting, alive))
                .map_err(|e| format!("could not start its reader: {e}"))?;
        }
        let server = Arc::new(ForkServer {
            control: ours,
            send_lock: Mutex::new(()),
            waiting,
            alive,
            template: Mutex::new(Some(template)),
            backstop,
        });
        match tokio::time::timeout(options.spawn_timeout, ready_rx).await {
            Ok(Ok(())) => Ok(server),
            Ok(Err(_)) => Err("it ended before it was ready (see its log line above)".into()),
            Err(_) => Err(format!(
                "it was not ready within {} ms",
                options.spawn_timeout.as_millis()
            )),
        }
    }

    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Forks a worker whose standard streams are `streams` (stdin, stdout, stderr: the
    /// child's ends of three pipes); `warm` when it will wait in the pool.
    pub async fn fork(&self, streams: [OwnedFd; 3], warm: bool) -> ForkAnswer {
        if !self.is_alive() {
            return Err("the fork server is gone".into());
        }
        let (tx, rx) = oneshot::channel();
        {
            let _order = lock(&self.send_lock);
            lock(&self.waiting).push_back(tx);
            let fds: Vec<RawFd> = streams.iter().map(AsRawFd::as_raw_fd).collect();
            if let Err(error) = send(self.control.as_raw_fd(), Message::Fork { warm }, &fds) {
                lock(&self.waiting).pop_back();
                self.alive.store(false, Ordering::Release);
                return Err(format!("could not ask the fork server: {error}"));
            }
        }
        // Ours are closed now; the child holds its own copies.
        drop(streams);
        rx.await
            .unwrap_or_else(|_| Err("the fork server ended before it answered".into()))
    }

    /// SIGKILLs one of its workers (a no-op once that worker was reaped).
    pub fn kill(&self, pid: u32) {
        if self.is_alive() {
            let _ = send(
                self.control.as_raw_fd(),
                Message::Kill { pid: pid as i32 },
                &[],
            );
        }
    }
}

impl Drop for ForkServer {
    fn drop(&mut self) {
        // The template's children die with it (PR_SET_PDEATHSIG).
        self.alive.store(false, Ordering::Release);
        if let Some(mut template) = lock(&self.template).take() {
            let _ = template.kill();
            let _ = template.wait();
        }
    }
}

/// The template's messages, until it ends: answers to forks in order, ends of workers to
/// whoever waits for them.
fn read_answers(
    control: OwnedFd,
    ready: oneshot::Sender<()>,
    waiting: Arc<Mutex<VecDeque<oneshot::Sender<ForkAnswer>>>>,
    alive: Arc<AtomicBool>,
) {
    let mut ready = Some(ready);
    // The template answers a fork before it can reap that child, so an end always comes
    // after the fork's answer.
    let mut exits: HashMap<i32, oneshot::Sender<i32>> = HashMap::new();
    loop {
        let message = match receive(control.as_raw_fd()) {
            Ok(Some((message, _fds))) => message,
            Ok(None) | Err(_) => break,
        };
        match message {
            Message::Ready => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(());
                }
            }
            Message::Forked { pid } => {
                let (tx, rx) = oneshot::channel();
                exits.insert(pid, tx);
                let answer = Ok(ForkedChild {
                    pid: pid as u32,
                    exit: rx,
                });
                if let Some(waiter) = lock(&waiting).pop_front() {
                    let _ = waiter.send(answer);
                }
            }
            Message::ForkFailed { errno } => {
                let reason = std::io::Error::from_raw_os_error(errno);
                if let Some(waiter) = lock(&waiting).pop_front() {
                    let _ = waiter.send(Err(format!("fork failed: {reason}")));
                }
            }
            Message::Exited { pid, status } => {
                if let Some(tx) = exits.remove(&pid) {
                    let _ = tx.send(status);
                }
            }
            Message::Fork { .. } | Message::Kill { .. } => break,
        }
    }
    let unexpected = alive.swap(false, Ordering::AcqRel);
    for waiter in lock(&waiting).drain(..) {
        let _ = waiter.send(Err("the fork server ended".into()));
    }
    if unexpected {
        tracing::warn!(
            "the worker fork server ended; workers are started directly until it is back"
        );
    }
}

fn log_stderr(pid: u32, stderr: std::process::ChildStderr) {
    use std::io::BufRead;
    for line in std::io::BufReader::new(stderr).lines().take(1_000) {
        match line {
            Ok(line) => tracing::warn!(fork_server = pid, "{}", line.trim_end()),
            Err(_) => return,
        }
    }
}

/// Three pipes for a worker: the child's ends (stdin read, stdout write, stderr write) and
/// ours (stdin write, stdout read, stderr read).
pub(crate) fn worker_pipes() -> std::io::Result<([OwnedFd; 3], [OwnedFd; 3])> {
    let (stdin_read, stdin_write) = pipe()?;
    let (stdout_read, stdout_write) = pipe()?;
    let (stderr_read, stderr_write) = pipe()?;
    widen(&stdin_write);
    widen(&stdout_read);
    Ok((
        [stdin_read, stdout_write, stderr_write],
        [stdin_write, stdout_read, stderr_read],
    ))
}

/// Bytes a worker's stdin and stdout pipes hold (the kernel's default is 64 KiB): a tool
/// answer of 700 KB then crosses in three writes instead of eleven, each of which had the
/// gateway and the worker wake each other. Four times the default, not the 1 MiB a user may
/// ask for: the kernel counts every pipe's size against a per-user budget (16,384 pages by
/// default), and a gateway with many workers and upstreams must stay well within it.
const PIPE_BYTES: libc::c_int = 256 * 1024;

/// Best effort: a kernel that refuses leaves the pipe as it was.
fn widen(pipe: &OwnedFd) {
    // SAFETY: F_SETPIPE_SZ on a pipe of ours only changes its capacity.
    unsafe { libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_BYTES) };
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2(2) with a valid two-element out-array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors are new and ours alone.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How long an ended worker's status may take to arrive before it counts as unknown.
pub(crate) const EXIT_PATIENCE: Duration = Duration::from_secs(2);
