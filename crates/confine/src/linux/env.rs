//! Empties the environment, so no credential the gateway holds in its variables reaches the
//! worker even if the worker was spawned with them.

use std::ffi::c_char;

use crate::LayerState;

extern "C" {
    static mut environ: *mut *mut c_char;
}

pub(super) fn clear() -> LayerState {
    // SAFETY: the process is single-threaded (checked by lock_down), so nothing reads the
    // environment concurrently. The strings are the kernel's initial block on the stack or
    // copies glibc made for setenv, both writable.
    unsafe {
        // clearenv only forgets the pointers: wipe the bytes too, so that a memory
        // disclosure bug in the engine cannot find them on the initial stack either.
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            let text = *entry;
            std::ptr::write_bytes(text, 0, libc::strlen(text));
            entry = entry.add(1);
        }
        libc::clearenv();
    }
    LayerState::Active
}
