//! New user, network and mount namespaces: the worker sees no network interface but a
//! downed loopback, its mounts are its own, and its capabilities mean nothing outside.
//! Whether the kernel allows them depends on its configuration (user namespaces are often
//! disabled for unprivileged users), so a refusal is reported, not fatal.

use std::io;

use super::failed;
use crate::layer::{MOUNT_NAMESPACE, NETWORK_NAMESPACE, USER_NAMESPACE};
use crate::{ConfineError, LayerState};

/// The user namespace comes first: inside it the process holds the capabilities the other
/// two need even when it is unprivileged outside.
pub(super) const ORDER: [(&str, libc::c_int); 3] = [
    (USER_NAMESPACE, libc::CLONE_NEWUSER),
    (NETWORK_NAMESPACE, libc::CLONE_NEWNET),
    (MOUNT_NAMESPACE, libc::CLONE_NEWNS),
];

pub(super) fn enter() -> Result<Vec<(&'static str, LayerState)>, ConfineError> {
    let mut layers = Vec::with_capacity(ORDER.len());
    for (layer, flag) in ORDER {
        // SAFETY: unshare takes flags only; the caller checked the process is single-threaded.
        let rc = unsafe { libc::unshare(flag) };
        let state = if rc == 0 {
            if flag == libc::CLONE_NEWNS {
                make_mounts_private()?;
            }
            LayerState::Active
        } else {
            refusal(layer, io::Error::last_os_error())?
        };
        layers.push((layer, state));
    }
    Ok(layers)
}

/// Turns an unshare error into "the kernel does not offer this" or a real failure.
pub(super) fn refusal(layer: &'static str, error: io::Error) -> Result<LayerState, ConfineError> {
    match error.raw_os_error() {
        // EPERM: not privileged (and no user namespace); EINVAL/ENOSYS: not built in;
        // ENOSPC/EUSERS: the namespace count limit (0 when an administrator disabled them).
        Some(libc::EPERM | libc::EINVAL | libc::ENOSYS | libc::ENOSPC | libc::EUSERS) => Ok(
            LayerState::Unavailable(format!("the kernel refused unshare: {error}")),
        ),
        _ => Err(failed(layer, format!("unshare: {error}"))),
    }
}

/// A new mount namespace still shares propagation with the parent's mounts; making every
/// mount private keeps anything that happens in the worker's view from leaking back out.
fn make_mounts_private() -> Result<(), ConfineError> {
    // SAFETY: a propagation change on "/" with static C strings; no data argument.
    let rc = unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(failed(
            MOUNT_NAMESPACE,
            format!("making mounts private: {}", io::Error::last_os_error()),
        ))
    }
}
