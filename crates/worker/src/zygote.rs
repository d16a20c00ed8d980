//! The fork server's template process (`codemode __worker --zygote`), as Chromium's zygote:
//! started once from the same binary, single-threaded, pre-initialised (namespaces entered,
//! environment cleared, the engine warmed up, a sandbox built, under its own seccomp
//! filter), it forks one worker per request. Each child takes the three pipes the gateway
//! sent with the request as its standard streams, locks itself down (capabilities,
//! no_new_privs, rlimits, Landlock, and a seccomp filter narrowing the template's to the
//! workers' allowlist) before it reads any code, greets, runs one execution and exits: a
//! worker still never serves two.
//!
//! The sandbox (a QuickJS runtime, a context and the prelude, in which nothing has run) is
//! built on the template's one thread, and the template forks from inside the sandbox's
//! wait for its assignment ([`Sandbox::build_here`]): each child returns from that wait with
//! its own execution, on its own copy-on-write copy of the sandbox, so no worker builds
//! one. What a context fixes when it is made and an execution could tell apart (the
//! random seed, the clocks' origin) begins with the execution instead (the sandbox's
//! `job_clock.rs`).
//!
//! The control socket is the template's fd 0, a `SOCK_SEQPACKET` Unix socket, messages of
//! [`MESSAGE_BYTES`]: see [`Message`]. The template runs no snippet code itself, holds no
//! credentials, and must never start a thread after its warm-up (fork needs one thread).

use std::cell::Cell;
use std::collections::HashSet;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::unistd::{fork, ForkResult};

use codemode_sandbox::{Assignment, Sandbox};

use crate::confinement;
use crate::worker::{
    die_with_parent, greet, new_runtime, take_assignment, warm_up, yield_to_the_gateway,
};
use crate::WorkerOptions;

/// Bytes of one control message: a tag, then two little-endian `i32`s.
pub(crate) const MESSAGE_BYTES: usize = 9;

/// One control message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Message {
    /// Template → gateway, once: ready to fork.
    Ready,
    /// Gateway → template, with the child's stdin, stdout and stderr as `SCM_RIGHTS`.
    /// `warm`: the child will wait in the pool, so it may use the wait to fault its heap in
    /// (see `heap.rs`).
    Fork { warm: bool },
    /// Template → gateway: the answer to a `Fork`, in order: the child's pid.
    Forked { pid: i32 },
    /// Template → gateway: the answer to a `Fork` that failed, with the errno.
    ForkFailed { errno: i32 },
    /// Gateway → template: SIGKILL this child (the template is its parent, so the pid is
    /// still this child's until the template reaps it).
    Kill { pid: i32 },
    /// Template → gateway: the child ended, with its raw wait status.
    Exited { pid: i32, status: i32 },
}

impl Message {
    pub(crate) fn encode(self) -> [u8; MESSAGE_BYTES] {
        let (tag, a, b) = match self {
            Message::Ready => (b'H', 0, 0),
            Message::Fork { warm } => (b'F', i32::from(warm), 0),
            Message::Forked { pid } => (b'P', pid, 0),
            Message::ForkFailed { errno } => (b'E', errno, 0),
            Message::Kill { pid } => (b'K', pid, 0),
            Message::Exited { pid, status } => (b'X', pid, status),
        };
        let mut out = [0u8; MESSAGE_BYTES];
        out[0] = tag;
        out[1..5].copy_from_slice(&a.to_le_bytes());
        out[5..9].copy_from_slice(&b.to_le_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Message> {
        if bytes.len() != MESSAGE_BYTES {
            return None;
        }
        let a = i32::from_le_bytes(bytes[1..5].try_into().ok()?);
        let b = i32::from_le_bytes(bytes[5..9].try_into().ok()?);
        Some(match bytes[0] {
            b'H' => Message::Ready,
            b'F' => Message::Fork { warm: a != 0 },
            b'P' => Message::Forked { pid: a },
            b'E' => Message::ForkFailed { errno: a },
            b'K' => Message::Kill { pid: a },
            b'X' => Message::Exited { pid: a, status: b },
            _ => return None,
        })
    }
}

/// Sends one message, with descriptors when there are any.
pub(crate) fn send(socket: RawFd, message: Message, fds: &[RawFd]) -> nix::Result<()> {
    let bytes = message.encode();
    let iov = [IoSlice::new(&bytes)];
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
    sendmsg::<()>(socket, &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None).map(|_| ())
}

/// Receives one message and the descriptors that came with it; `None` at the end of the
/// stream. A malformed message is an error.
pub(crate) fn receive(socket: RawFd) -> nix::Result<Option<(Message, Vec<OwnedFd>)>> {
    let mut bytes = [0u8; MESSAGE_BYTES];
    let mut cmsg = nix::cmsg_space!([RawFd; 3]);
    let (length, fds) = {
        let mut iov = [IoSliceMut::new(&mut bytes)];
        let message = recvmsg::<()>(
            socket,
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )?;
        let mut fds = Vec::new();
        for cmsg in message.cmsgs()? {
            if let ControlMessageOwned::ScmRights(received) = cmsg {
                // SAFETY: SCM_RIGHTS descriptors are new and ours alone.
                fds.extend(
                    received
                        .into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
        (message.bytes, fds)
    };
    if length == 0 {
        return Ok(None);
    }
    match Message::decode(&bytes[..length]) {
        Some(message) => Ok(Some((message, fds))),
        None => Err(nix::errno::Errno::EBADMSG),
    }
}

/// How often the template looks for ended children when no request comes.
const REAP_EVERY: Duration = Duration::from_millis(5);

/// The template's whole life. Called first thing in `main`, single-threaded.
pub(crate) fn serve(options: WorkerOptions) -> ExitCode {
    die_with_parent();
    yield_to_the_gateway();
    let template = match codemode_confine::prepare_template() {
        Ok(template) => template,
        Err(error) => {
            eprintln!("codemode fork server: cannot prepare the template: {error}");
            return ExitCode::from(70);
        }
    };
    if let Err(error) = ensure_stack_limit() {
        eprintln!("codemode fork server: {error}");
        return ExitCode::from(70);
    }
    warm_once();
    if let Err(error) = wait_single_threaded() {
        eprintln!("codemode fork server: {error}");
        return ExitCode::from(70);
    }
    // Timers only, and no thread: each child's execution gets its handle (its tool answers
    // come through the pipe, which the execution reads itself).
    let runtime = match new_runtime() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("codemode fork server: could not start the async runtime: {error}");
            return ExitCode::from(73);
        }
    };
    let ended = Cell::new(ExitCode::SUCCESS);
    // The sandbox is built here, on the template's one thread, and the template forks
    // inside its `fetch`: each child returns from it with its own execution, on its own
    // copy of a sandbox in which nothing has run yet, and builds nothing itself.
    Sandbox::build_here(|| {
        let forked = fork_until_a_child(options, template, runtime.handle());
        if let Err(status) = &forked {
            ended.set(*status);
        }
        forked.ok()
    });
    ended.get()
}

/// The template's loop, inside the sandbox's `fetch`: forks a child per request until the
/// gateway is gone (`Err`: the template's exit status). Only a child returns `Ok`, with
/// its locked-down execution.
fn fork_until_a_child(
    options: WorkerOptions,
    mut template: codemode_confine::Template,
    handle: &tokio::runtime::Handle,
) -> Result<Assignment, ExitCode> {
    // While `/proc` can still be read and written: the sandbox is built, so the code it
    // runs is mapped, and its heap is all in.
    crate::code_pages::keep_mapped_in_children();
    crate::heap::note_heap_start();
    // Last before the greeting: from here the template can only fork, reap, kill and talk
    // on its socket, and each child narrows this filter instead of installing a whole one.
    if let Err(error) = codemode_confine::filter_template(&mut template, &options.policy()) {
        // The children then install the whole allowlist themselves, or refuse to run.
        eprintln!("codemode fork server: running unfiltered: {error}");
    }
    let control: RawFd = 0;
    if let Err(error) = send(control, Message::Ready, &[]) {
        eprintln!("codemode fork server: could not greet the gateway: {error}");
        return Err(ExitCode::from(71));
    }
    let mut children: HashSet<i32> = HashSet::new();
    loop {
        if reap(control, &mut children).is_err() {
            return Err(shut_down(&children));
        }
        // SAFETY: fd 0 is the control socket for the template's whole life.
        let socket = unsafe { std::os::fd::BorrowedFd::borrow_raw(control) };
        let mut fds = [PollFd::new(socket, PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(REAP_EVERY).unwrap_or(PollTimeout::ZERO);
        match poll(&mut fds, timeout) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return Err(shut_down(&children)),
        }
        match receive(control) {
            Ok(Some((Message::Fork { warm }, streams))) if streams.len() == 3 => {
                let answer = match fork_worker(&options.policy(), &template, streams) {
                    Ok(Forked::Child(confinement)) => {
                        return Ok(child_assignment(options, confinement, handle, warm))
                    }
                    Ok(Forked::Parent(pid)) => {
                        children.insert(pid);
                        Message::Forked { pid }
                    }
                    Err(errno) => Message::ForkFailed { errno },
                };
                if send(control, answer, &[]).is_err() {
                    return Err(shut_down(&children));
                }
            }
            Ok(Some((Message::Kill { pid }, _))) if children.contains(&pid) => {
                // SAFETY: a child of ours not yet reaped, so the pid is still that child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            Ok(Some((Message::Kill { .. }, _))) => {}
            Ok(Some((other, _))) => {
                eprintln!("codemode fork server: unexpected message {other:?}");
                return Err(shut_down(&children));
            }
            // The gateway closed the socket (or broke it): the end.
            Ok(None) | Err(_) => return Err(shut_down(&children)),
        }
    }
}

/// A locked-down child's execution: it greets, then waits for its code (a child the gateway
/// gives none exits).
fn child_assignment(
    options: WorkerOptions,
    confinement: serde_json::Value,
    handle: &tokio::runtime::Handle,
    warm: bool,
) -> Assignment {
    let stdout = Arc::new(Mutex::new(std::io::stdout()));
    if let Err(status) = greet(&stdout, confinement) {
        std::process::exit(i32::from(status));
    }
    take_assignment(options, stdout, handle.clone(), warm)
}

/// Raises this process's RLIMIT_STACK to what an execution on the main thread needs: the
/// template's main thread is where each child compiles and runs its snippet. The gateway
/// calls this (between fork and exec, so it allocates nothing) before it starts the
/// template: Rust places the main thread's overflow guard by the limit at the start, so an
/// overflow is reported as one. The template checks it again ([`ensure_stack_limit`]).
pub(crate) fn raise_stack_limit() -> Result<(), StackLimit> {
    let wanted = (Sandbox::STACK_BYTES + STACK_SLACK_BYTES) as libc::rlim_t;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_STACK, &mut limit) != 0 {
            return Err(StackLimit::Unreadable);
        }
        if limit.rlim_cur == libc::RLIM_INFINITY || limit.rlim_cur >= wanted {
            return Ok(());
        }
        if limit.rlim_max != libc::RLIM_INFINITY && limit.rlim_max < wanted {
            return Err(StackLimit::HardLimit(limit.rlim_max));
        }
        limit.rlim_cur = wanted;
        if libc::setrlimit(libc::RLIMIT_STACK, &limit) != 0 {
            return Err(StackLimit::Refused);
        }
    }
    Ok(())
}

/// Why RLIMIT_STACK could not be raised.
#[derive(Debug)]
pub(crate) enum StackLimit {
    Unreadable,
    HardLimit(libc::rlim_t),
    Refused,
}

/// [`raise_stack_limit`] in the template, with a message for the gateway's log.
fn ensure_stack_limit() -> Result<(), String> {
    raise_stack_limit().map_err(|short| match short {
        StackLimit::Unreadable => "cannot read the stack limit".to_string(),
        StackLimit::HardLimit(max) => format!(
            "the stack may grow to {} MiB at most; executions need {} MiB",
            max >> 20,
            (Sandbox::STACK_BYTES + STACK_SLACK_BYTES) >> 20
        ),
        StackLimit::Refused => "cannot raise the stack limit".to_string(),
    })
}

/// What the main thread's stack holds below the execution: the template's own frames.
const STACK_SLACK_BYTES: usize = 8 * 1024 * 1024;

/// Runs the warm-up snippet once, so every child starts with the engine's code paged in.
fn warm_once() {
    if let Ok(runtime) = new_runtime() {
        runtime.block_on(warm_up());
    }
    // Hand the warm-up's freed heap back: a child would otherwise copy each page of it on
    // its first write, which costs more than a fresh zero page.
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory; the template is single-threaded here.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The warm-up's execution thread may still be winding down; fork needs it gone.
fn wait_single_threaded() -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let threads = std::fs::read_dir("/proc/self/task")
            .map(|d| d.count())
            .unwrap_or(1);
        if threads <= 1 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{threads} threads are still running after the warm-up"
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

enum Forked {
    Parent(i32),
    /// The child, locked down, with the report for its greeting.
    Child(serde_json::Value),
}

/// Forks one worker on `streams` (stdin, stdout, stderr) and, in the child, locks it down.
fn fork_worker(
    policy: &codemode_confine::Policy,
    template: &codemode_confine::Template,
    streams: Vec<OwnedFd>,
) -> Result<Forked, i32> {
    let parent = std::process::id() as i32;
    // SAFETY: the template is single-threaded (checked before its greeting), so the child
    // may run any code.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { child }) => {
            drop(streams);
            Ok(Forked::Parent(child.as_raw()))
        }
        Ok(ForkResult::Child) => {
            for (target, fd) in streams.iter().enumerate() {
                // SAFETY: plain dup2 onto the standard streams; the originals are closed
                // by the lock-down (every descriptor above 2).
                if unsafe { libc::dup2(fd.as_raw_fd(), target as RawFd) } < 0 {
                    std::process::exit(70);
                }
            }
            die_with_parent();
            // SAFETY: getppid(2) has no preconditions.
            if unsafe { libc::getppid() } != parent {
                // The template died between fork and prctl: nobody would reap us.
                std::process::exit(70);
            }
            std::mem::forget(streams);
            match confinement::lock_down_forked(policy, template) {
                Ok(report) => Ok(Forked::Child(report)),
                Err(message) => {
                    eprintln!("codemode worker: refusing to run code: {message}");
                    std::process::exit(70);
                }
            }
        }
        Err(errno) => Err(errno as i32),
    }
}

/// Reaps every child that ended and tells the gateway how.
fn reap(control: RawFd, children: &mut HashSet<i32>) -> nix::Result<()> {
    loop {
        let mut status = 0;
        // SAFETY: waitpid(2) with a valid out-pointer; only our own children are reaped.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return Ok(());
        }
        if children.remove(&pid) {
            send(control, Message::Exited { pid, status }, &[])?;
        }
    }
}

/// The gateway is gone: so are the children.
fn shut_down(children: &HashSet<i32>) -> ExitCode {
    for &pid in children {
        // SAFETY: our own children, not yet reaped.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        for message in [
            Message::Ready,
            Message::Fork { warm: true },
            Message::Fork { warm: false },
            Message::Forked { pid: 42 },
            Message::ForkFailed { errno: 11 },
            Message::Kill { pid: 7 },
            Message::Exited {
                pid: 9,
                status: 0x0900,
            },
        ] {
            assert_eq!(Message::decode(&message.encode()), Some(message));
        }
        assert_eq!(Message::decode(b"Z12345678"), None);
        assert_eq!(Message::decode(b"short"), None);
    }
}
