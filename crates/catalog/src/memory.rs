//! Hands freed heap memory back to the system.
//!
//! A source that loads something large (a 13 MB OpenAPI spec, a big `tools/list`) parses it
//! into trees that are dropped once its tools are made. glibc keeps such freed pages in the
//! arena of the thread that freed them, so they stay resident and a catalogue built on another
//! thread right after adds its own memory on top (the GitHub REST spec: 218 MiB at the peak
//! instead of 157). Other allocators (musl's, for the static build) give memory back by
//! themselves; there this does nothing.

/// Returns the free pages of every arena to the kernel. Walks every arena: a few
/// milliseconds, so call it off an async runtime's threads.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_free_memory() {
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it takes the
    // allocator's own locks and touches no memory in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Returns the free pages of every arena to the kernel (nothing to do with this allocator).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() {}
