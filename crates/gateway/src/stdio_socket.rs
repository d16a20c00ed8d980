//! stdin and stdout that are stream sockets, read and written on the runtime's reactor.
//!
//! Clients built on Node (libuv: Claude Desktop, the TypeScript SDK's stdio transport) start a
//! server with socket pairs, not pipes, as its standard streams. rmcp's `stdio_pipes` makes
//! FIFOs non-blocking by reopening them, which a socket does not allow, so it falls back to
//! tokio's stdin and stdout there: each read and each write then goes through a blocking
//! thread, two thread hand-offs on every request's way in and out.
//!
//! Here such a socket is used as it is: readiness comes from the reactor (a duplicate of the
//! descriptor registered with epoll) and each receive or send is asked not to block
//! (`MSG_DONTWAIT`). This module must never set `O_NONBLOCK` on a standard stream: its file
//! description is shared with whoever else holds it (a parent that passed its own stdin on).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use nix::sys::socket::{getsockopt, recv, send, sockopt, MsgFlags, SockType};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

/// One standard stream that is a stream socket.
pub(crate) struct SocketStream {
    fd: AsyncFd<OwnedFd>,
}

/// stdin and stdout as [`SocketStream`]s, when both are stream sockets (otherwise `None`:
/// pipes and terminals are for rmcp's `stdio_pipes`). Needs a runtime with I/O enabled.
pub(crate) fn socket_stdio() -> Option<(SocketStream, SocketStream)> {
    let read = stream_socket(io::stdin().as_fd(), Interest::READABLE)?;
    let write = stream_socket(io::stdout().as_fd(), Interest::WRITABLE)?;
    Some((read, write))
}

fn stream_socket(fd: BorrowedFd<'_>, interest: Interest) -> Option<SocketStream> {
    if !matches!(getsockopt(&fd, sockopt::SockType), Ok(SockType::Stream)) {
        return None;
    }
    let own = fd.try_clone_to_owned().ok()?;
    // SAFETY: an `OwnedFd` is open and always answers the same descriptor, which it closes
    // only when the `AsyncFd` drops it.
    unsafe { AsyncFd::register_with_interest(own, interest) }
        .ok()
        .map(|fd| SocketStream { fd })
}

impl AsyncRead for SocketStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut ready = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match ready.try_io(|fd| {
                recv(fd.as_raw_fd(), unfilled, MsgFlags::MSG_DONTWAIT).map_err(io::Error::from)
            }) {
                Ok(Ok(read)) => {
                    buf.advance(read);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(error)) if error.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(error)) => return Poll::Ready(Err(error)),
                // Not readable after all: readiness was cleared, wait for the next.
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for SocketStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut ready = ready!(self.fd.poll_write_ready(cx))?;
            // MSG_NOSIGNAL: a client gone answers EPIPE here rather than with a signal.
            let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
            match ready.try_io(|fd| send(fd.as_raw_fd(), data, flags).map_err(io::Error::from)) {
                Ok(Ok(written)) => return Poll::Ready(Ok(written)),
                Ok(Err(error)) if error.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(error)) => return Poll::Ready(Err(error)),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Nothing is buffered here: a send either took the bytes or said how many.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // As for tokio's stdout: the stream stays open until the process ends (the client
        // reads the end of it then), so a reply written late is never cut off.
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn stream(socket: UnixStream, interest: Interest) -> SocketStream {
        let fd: OwnedFd = socket.into();
        stream_socket(fd.as_fd(), interest).expect("a stream socket")
    }

    #[tokio::test]
    async fn reads_and_writes_a_socket_without_making_it_non_blocking() {
        let (ours, theirs) = UnixStream::pair().expect("socketpair");
        let keep = ours.try_clone().expect("clone");
        let mut read = stream(ours.try_clone().expect("clone"), Interest::READABLE);
        let mut write = stream(ours, Interest::WRITABLE);
        let mut peer = tokio::net::UnixStream::from_std({
            theirs.set_nonblocking(true).expect("nonblocking");
            theirs
        })
        .expect("peer");

        peer.write_all(b"{\"jsonrpc\":\"2.0\"}\n")
            .await
            .expect("peer write");
        let mut got = [0u8; 64];
        let n = read.read(&mut got).await.expect("read");
        assert_eq!(&got[..n], b"{\"jsonrpc\":\"2.0\"}\n");

        write.write_all(b"reply\n").await.expect("write");
        let n = peer.read(&mut got).await.expect("peer read");
        assert_eq!(&got[..n], b"reply\n");

        // The shared description is still blocking for whoever else holds it.
        let flags = nix::fcntl::fcntl(&keep, nix::fcntl::FcntlArg::F_GETFL).expect("flags");
        assert_eq!(flags & nix::fcntl::OFlag::O_NONBLOCK.bits(), 0);

        drop(peer);
        assert_eq!(read.read(&mut got).await.expect("end"), 0, "end of stream");
    }

    #[test]
    fn pipes_are_not_sockets() {
        let (reader, _writer) = std::io::pipe().expect("pipe");
        let fd: OwnedFd = reader.into();
        assert!(
            !matches!(getsockopt(&fd, sockopt::SockType), Ok(SockType::Stream)),
            "a pipe is left to rmcp's stdio_pipes"
        );
    }
}
