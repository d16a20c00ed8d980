//! Closes every inherited file descriptor but 0, 1 and 2, so the worker holds nothing of its
//! parent's (listening sockets, upstream pipes, log files) beyond its own pipe.

use super::failed;
use crate::layer::FDS_CLOSED;
use crate::{ConfineError, LayerState};

pub(super) fn close_inherited() -> Result<LayerState, ConfineError> {
    // SAFETY: close_range only closes descriptors; nothing in this single-threaded process
    // still uses one above 2 (std opens none at start-up).
    let rc = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if rc == 0 {
        return Ok(LayerState::Active);
    }
    let error = std::io::Error::last_os_error();
    if error.raw_os_error() != Some(libc::ENOSYS) {
        return Err(failed(FDS_CLOSED, format!("close_range: {error}")));
    }
    close_listed_in_proc()
}

/// Kernels before 5.9 lack close_range: list `/proc/self/fd` instead.
fn close_listed_in_proc() -> Result<LayerState, ConfineError> {
    let entries = std::fs::read_dir("/proc/self/fd").map_err(|e| {
        failed(
            FDS_CLOSED,
            format!("close_range is missing and /proc/self/fd unreadable: {e}"),
        )
    })?;
    // Collect first: the directory's own descriptor is in the listing and is closed by the
    // time we close the others (closing it again only yields EBADF).
    let fds: Vec<i32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for fd in fds {
        // SAFETY: see close_inherited.
        unsafe { libc::close(fd) };
    }
    Ok(LayerState::Active)
}
