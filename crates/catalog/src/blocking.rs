//! CPU work on the gateway's side of a call (`tools.$search`, in-process tools, large JSON)
//! kept off the async runtime: on a small, bounded pool of blocking threads, so hostile
//! snippets can slow each other down but never stall the tasks that answer other clients.
//!
//! Outside a tokio task (a snippet's own thread, where the sandbox polls an in-process call
//! first) the work runs inline: that thread blocks nobody else, and the call costs no hop.

use std::future::Future;
use std::pin::Pin;

use tokio::sync::Semaphore;

/// Blocking jobs running at once across the process; more wait their turn.
pub const MAX_BLOCKING_JOBS: usize = 4;

static PERMITS: Semaphore = Semaphore::const_new(MAX_BLOCKING_JOBS);

/// Runs `job` on the bounded blocking pool (or inline, outside a tokio task) and resolves
/// with its value. A panic in `job` resolves with `on_panic`.
pub fn run<T, F>(job: F, on_panic: T) -> Pin<Box<dyn Future<Output = T> + Send>>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    if tokio::task::try_id().is_none() {
        return Box::pin(std::future::ready(job()));
    }
    Box::pin(async move {
        // The semaphore is static and never closed.
        let Ok(_permit) = PERMITS.acquire().await else {
            return on_panic;
        };
        tokio::task::spawn_blocking(job).await.unwrap_or(on_panic)
    })
}
