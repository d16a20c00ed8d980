//! The fork server's template process (`codemode __worker --zygote`), as Chromium's zygote:
//! started once from the same binary, single-threaded, pre-initialised (namespaces entered,
//! environment cleared, the engine warmed up, under its own seccomp filter), it forks one
//! worker per request. Each child takes the three pipes the gateway sent with the request as
//! its standard streams, locks itself down (capabilities, no_new_privs, rlimits, Landlock,
//! and a seccomp filter narrowing the template's to the workers' allowlist) before it reads
//! any code, greets, runs one execution and exits: a worker still never serves two.
//!
//! The control socket is the template's fd 0, a `SOCK_SEQPACKET` Unix socket, messages of
//! [`MESSAGE_BYTES`]: see [`Message`]. The template runs no snippet code itself, holds no
//! credentials, and must never start a thread after its warm-up (fork needs one thread).

use std::collections::HashSet;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::unistd::{fork, ForkResult};

use crate::confinement;
use crate::worker::{
    die_with_parent, new_runtime, serve_one, warm_up, yield_to_the_gateway, WarmUp,
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
    /// `warm`: the child will wait in the pool, so it warms up before it greets.
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
    let mut template = match codemode_confine::prepare_template() {
        Ok(template) => template,
        Err(error) => {
            eprintln!("codemode fork server: cannot prepare the template: {error}");
            return ExitCode::from(70);
        }
    };
    warm_once();
    if let Err(error) = wait_single_threaded() {
        eprintln!("codemode fork server: {error}");
        return ExitCode::from(70);
    }
    // Last before the greeting: from here the template can only fork, reap, kill and talk
    // on its socket, and each child narrows this filter instead of installing a whole one.
    if let Err(error) = codemode_confine::filter_template(&mut template, &options.policy()) {
        // The children then install the whole allowlist themselves, or refuse to run.
        eprintln!("codemode fork server: running unfiltered: {error}");
    }
    let control: RawFd = 0;
    if let Err(error) = send(control, Message::Ready, &[]) {
        eprintln!("codemode fork server: could not greet the gateway: {error}");
        return ExitCode::from(71);
    }
    let mut children: HashSet<i32> = HashSet::new();
    loop {
        if reap(control, &mut children).is_err() {
            return shut_down(&children);
        }
        // SAFETY: fd 0 is the control socket for the template's whole life.
        let socket = unsafe { std::os::fd::BorrowedFd::borrow_raw(control) };
        let mut fds = [PollFd::new(socket, PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(REAP_EVERY).unwrap_or(PollTimeout::ZERO);
        match poll(&mut fds, timeout) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return shut_down(&children),
        }
        match receive(control) {
            Ok(Some((Message::Fork { warm }, streams))) if streams.len() == 3 => {
                let answer = match fork_worker(options, &template, streams, warm) {
                    Ok(pid) => {
                        children.insert(pid);
                        Message::Forked { pid }
                    }
                    Err(errno) => Message::ForkFailed { errno },
                };
                if send(control, answer, &[]).is_err() {
                    return shut_down(&children);
                }
            }
            Ok(Some((Message::Kill { pid }, _))) if children.contains(&pid) => {
                // SAFETY: a child of ours not yet reaped, so the pid is still that child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            Ok(Some((Message::Kill { .. }, _))) => {}
            Ok(Some((other, _))) => {
                eprintln!("codemode fork server: unexpected message {other:?}");
                return shut_down(&children);
            }
            // The gateway closed the socket (or broke it): the end.
            Ok(None) | Err(_) => return shut_down(&children),
        }
    }
}

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

/// Forks one worker on `streams` (stdin, stdout, stderr). In the child this never returns.
fn fork_worker(
    options: WorkerOptions,
    template: &codemode_confine::Template,
    streams: Vec<OwnedFd>,
    warm: bool,
) -> Result<i32, i32> {
    let parent = std::process::id() as i32;
    // SAFETY: the template is single-threaded (checked before its greeting), so the child
    // may run any code.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { child }) => {
            drop(streams);
            Ok(child.as_raw())
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
            let confinement = match confinement::lock_down_forked(&options.policy(), template) {
                Ok(report) => report,
                Err(message) => {
                    eprintln!("codemode worker: refusing to run code: {message}");
                    std::process::exit(70);
                }
            };
            let warm = if warm { WarmUp::Built } else { WarmUp::None };
            std::process::exit(i32::from(serve_one(options, confinement, warm)))
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
