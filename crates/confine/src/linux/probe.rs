//! What this machine offers, found without confining the caller: feature-detection system
//! calls in this process, and a forked child for the namespaces (entering one is
//! irreversible, and impossible for a user namespace in a multi-threaded process).

use std::io;

use super::namespaces;
use crate::layer;
use crate::{LayerState, Report};

const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
const SECCOMP_GET_ACTION_AVAIL: libc::c_uint = 2;
const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;

pub(crate) fn probe() -> Report {
    let mut layers = vec![
        (layer::FDS_CLOSED, close_range_state()),
        (layer::ENV_CLEARED, LayerState::Active),
    ];
    layers.extend(namespace_states());
    layers.extend([
        (layer::CAPABILITIES_DROPPED, LayerState::Active),
        (layer::NO_NEW_PRIVS, LayerState::Active),
        (layer::RLIMITS, LayerState::Active),
        (layer::LANDLOCK, landlock_state()),
        (layer::SECCOMP, seccomp_state()),
    ]);
    Report { layers }
}

/// close_range over an empty range closes nothing but tells whether the call exists; without
/// it lock_down lists /proc/self/fd instead, which works as well.
fn close_range_state() -> LayerState {
    // SAFETY: first > last: the kernel closes nothing (EINVAL) or, if absent, says ENOSYS.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, u32::MAX, u32::MAX, 0u32) };
    if rc != 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
        return match std::fs::metadata("/proc/self/fd") {
            Ok(_) => LayerState::Active,
            Err(e) => LayerState::Failed(format!("no close_range and no /proc/self/fd: {e}")),
        };
    }
    LayerState::Active
}

fn landlock_state() -> LayerState {
    // SAFETY: the version query takes no ruleset and creates nothing.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if abi >= 1 {
        return LayerState::Active;
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::ENOSYS) => {
            LayerState::Unavailable("the kernel is built without Landlock".into())
        }
        Some(libc::EOPNOTSUPP) => {
            LayerState::Unavailable("Landlock is not enabled at boot (lsm=)".into())
        }
        _ => LayerState::Failed(format!("landlock_create_ruleset: {error}")),
    }
}

fn seccomp_state() -> LayerState {
    let action = SECCOMP_RET_KILL_PROCESS;
    // SAFETY: asks whether an action is supported; reads one u32.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_GET_ACTION_AVAIL,
            0u32,
            &action as *const u32,
        )
    };
    if rc == 0 {
        return LayerState::Active;
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP) => LayerState::Unavailable(format!(
            "seccomp filters with SECCOMP_RET_KILL_PROCESS are not supported: {error}"
        )),
        _ => LayerState::Failed(format!("seccomp: {error}")),
    }
}

/// Forks a child that tries each namespace in lock_down's order and sends back the errno of
/// each attempt (0 for success) over a pipe.
fn namespace_states() -> Vec<(&'static str, LayerState)> {
    let results = match try_in_child() {
        Ok(results) => results,
        Err(e) => {
            return namespaces::ORDER
                .iter()
                .map(|(name, _)| (*name, LayerState::Failed(format!("probe child: {e}"))))
                .collect()
        }
    };
    namespaces::ORDER
        .iter()
        .zip(results)
        .map(|((name, _), errno)| {
            let state = if errno == 0 {
                LayerState::Active
            } else {
                namespaces::refusal(name, io::Error::from_raw_os_error(errno))
                    .unwrap_or_else(|e| LayerState::Failed(e.to_string()))
            };
            (*name, state)
        })
        .collect()
}

fn try_in_child() -> io::Result<[i32; 3]> {
    let mut fds = [0; 2];
    // SAFETY: fds is a live two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let [read_end, write_end] = fds;
    // SAFETY: the child only makes raw system calls (no allocation, no locks), which is
    // what is allowed after fork in a multi-threaded process, then _exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let mut errnos = [0i32; 3];
        for (slot, (_, flag)) in errnos.iter_mut().zip(namespaces::ORDER) {
            // SAFETY: see above.
            if unsafe { libc::unshare(flag) } != 0 {
                *slot = io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EIO);
            }
        }
        // SAFETY: writes 12 bytes from a live array, then leaves without running destructors.
        unsafe {
            libc::write(
                write_end,
                errnos.as_ptr().cast(),
                std::mem::size_of_val(&errnos),
            );
            libc::_exit(0);
        }
    }
    // SAFETY: closing our copy of the write end so that read sees EOF if the child dies.
    unsafe { libc::close(write_end) };
    if pid < 0 {
        let error = io::Error::last_os_error();
        // SAFETY: our own descriptor.
        unsafe { libc::close(read_end) };
        return Err(error);
    }
    let mut errnos = [0i32; 3];
    let wanted = std::mem::size_of_val(&errnos);
    // SAFETY: reads at most `wanted` bytes into a live array of that size.
    let got = unsafe { libc::read(read_end, errnos.as_mut_ptr().cast(), wanted) };
    let read_error = io::Error::last_os_error();
    // SAFETY: our own descriptor and our own child.
    unsafe {
        libc::close(read_end);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    match usize::try_from(got) {
        Ok(n) if n == wanted => Ok(errnos),
        Ok(_) => Err(io::Error::other("the probe child died before answering")),
        Err(_) => Err(read_error),
    }
}
