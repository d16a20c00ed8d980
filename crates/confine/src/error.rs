//! Why a lock-down failed. Every variant means: the worker is NOT confined as promised and
//! must refuse to run code.

/// A confinement layer that was available could not be applied, or lock-down was called at a
/// point where it cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    /// OS confinement is implemented for Linux only.
    #[error("OS confinement is only implemented for Linux")]
    Unsupported,
    /// The process already runs other threads, which the confinement would not cover.
    #[error(
        "lock_down must run before any other thread starts (found {threads} threads); \
         call it before building the tokio runtime"
    )]
    Threaded { threads: usize },
    /// A layer the kernel offers failed to apply.
    #[error("the {layer} layer failed to apply: {reason}")]
    LayerFailed { layer: &'static str, reason: String },
}
