//! Drops every capability (effective, permitted, inheritable). In a new user namespace the
//! worker holds all of them there; run as root without one, it would hold real ones. Neither
//! is needed to compute.

use super::failed;
use crate::layer::CAPABILITIES_DROPPED;
use crate::{ConfineError, LayerState};

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

pub(super) fn drop_all() -> Result<LayerState, ConfineError> {
    let header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    // Version 3 carries 64 capability bits as two 32-bit words.
    let data = [CapData {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: both pointers refer to live, correctly laid out structures.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) };
    if rc == 0 {
        Ok(LayerState::Active)
    } else {
        Err(failed(
            CAPABILITIES_DROPPED,
            format!("capset: {}", std::io::Error::last_os_error()),
        ))
    }
}
