//! Resource limits: the kernel's backstop behind the sandbox's own limits. Soft and hard
//! limits are lowered together, so the worker cannot raise them again.

use super::failed;
use crate::layer::RLIMITS;
use crate::{ConfineError, LayerState, Policy};

pub(super) fn apply(policy: &Policy) -> Result<LayerState, ConfineError> {
    let limits = [
        (
            libc::RLIMIT_AS,
            "RLIMIT_AS",
            policy.address_space_bytes,
            policy.address_space_bytes,
        ),
        // One second of grace between SIGXCPU and SIGKILL.
        (
            libc::RLIMIT_CPU,
            "RLIMIT_CPU",
            policy.cpu_seconds,
            policy.cpu_seconds.saturating_add(1),
        ),
        (
            libc::RLIMIT_NOFILE,
            "RLIMIT_NOFILE",
            policy.max_open_files,
            policy.max_open_files,
        ),
        // The worker never writes a file; a zero limit makes any attempt fail (SIGXFSZ).
        (libc::RLIMIT_FSIZE, "RLIMIT_FSIZE", 0, 0),
        // No core dump may put the worker's memory on disk.
        (libc::RLIMIT_CORE, "RLIMIT_CORE", 0, 0),
    ];
    for (resource, name, soft, hard) in limits {
        let limit = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: a valid resource constant and a live rlimit.
        if unsafe { libc::setrlimit(resource, &limit) } != 0 {
            return Err(failed(
                RLIMITS,
                format!(
                    "setrlimit({name}, {soft}): {}",
                    std::io::Error::last_os_error()
                ),
            ));
        }
    }
    Ok(LayerState::Active)
}
