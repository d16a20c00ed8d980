//! Hands memory freed by a catalogue rebuild back to the system.
//!
//! A rebuild drops the previous declarations and whatever its sources parsed on the way;
//! glibc keeps such freed pages in its per-thread arenas, so the gateway's resident size would
//! stay at the rebuild's peak. After each rebuild they are returned
//! ([`release_free_memory`]).

use codemode_catalog::memory::release_free_memory;
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
    let _ = tokio::task::spawn_blocking(release_free_memory).await;
}
