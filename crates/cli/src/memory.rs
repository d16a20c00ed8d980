//! Hands memory freed by a catalogue rebuild back to the system.
//!
//! Loading a large spec or a big `tools/list` parses tens of megabytes into trees that are
//! dropped once the catalogue is built; glibc keeps such freed pages in its per-thread arenas,
//! so the gateway's resident size would stay at the load's peak (the GitHub REST spec: ~270
//! MiB resident for ~120 MiB in use). After each rebuild, `malloc_trim` returns them. Other
//! allocators (musl's, for the static build) give memory back by themselves; there this does
//! nothing.

use codemode_catalog::Catalog;

/// Trims now (a catalogue built after its sources settled may never change again) and after
/// every change, for as long as the catalogue lives. Needs a runtime.
pub fn trim_after_changes(catalog: &Catalog) {
    let mut changes = catalog.changes();
    tokio::spawn(async move {
        trim().await;
        while changes.changed().await.is_ok() {
            trim().await;
        }
    });
}

async fn trim() {
    // Walks every arena: a few milliseconds, off the runtime's threads.
    let _ = tokio::task::spawn_blocking(release_free_pages).await;
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_pages() {
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it takes the
    // allocator's own locks and touches no memory in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_pages() {}
