//! OS confinement for sandbox worker processes: the walls *around* the QuickJS engine, so
//! that even a bug in the engine or our bindings reaches nothing.
//!
//! [`lock_down`] is called once, first thing, in a freshly spawned worker process. It closes
//! inherited file descriptors, empties the environment, enters new user, network and mount
//! namespaces where the kernel allows, drops capabilities, sets `PR_SET_NO_NEW_PRIVS` and
//! rlimits, denies all file and network access with Landlock, and finally installs a
//! seccomp-bpf allowlist whose default action kills the process. [`probe`] reports what this
//! machine offers without confining the caller (for `codemode doctor` and the gateway's
//! start-up log line).
//!
//! This crate must never confine a process partially and pretend otherwise: a layer the kernel
//! lacks is reported as unavailable, but a layer that was available and failed to apply is an
//! error, and the worker must then refuse to run code. It must never know about MCP, the
//! worker protocol or the sandbox's API.

mod error;
mod report;

#[cfg(target_os = "linux")]
mod linux;

pub use error::ConfineError;
pub use report::{LayerState, Policy, Report, Template};

/// Names of the layers a [`Report`] lists, in the order [`lock_down`] applies them.
pub mod layer {
    pub const FDS_CLOSED: &str = "fds_closed";
    pub const ENV_CLEARED: &str = "env_cleared";
    pub const USER_NAMESPACE: &str = "user_namespace";
    pub const NETWORK_NAMESPACE: &str = "network_namespace";
    pub const MOUNT_NAMESPACE: &str = "mount_namespace";
    pub const CAPABILITIES_DROPPED: &str = "capabilities_dropped";
    pub const NO_NEW_PRIVS: &str = "no_new_privs";
    pub const RLIMITS: &str = "rlimits";
    pub const LANDLOCK: &str = "landlock";
    pub const SECCOMP: &str = "seccomp";
    /// Every layer, in order.
    pub const ALL: [&str; 10] = [
        FDS_CLOSED,
        ENV_CLEARED,
        USER_NAMESPACE,
        NETWORK_NAMESPACE,
        MOUNT_NAMESPACE,
        CAPABILITIES_DROPPED,
        NO_NEW_PRIVS,
        RLIMITS,
        LANDLOCK,
        SECCOMP,
    ];
}

/// Confines the calling process for good and reports what is active.
///
/// Call it FIRST THING in the worker process: before any other thread exists (before a tokio
/// runtime is built), because a user namespace cannot be entered, nor Landlock and seccomp
/// applied to every thread, once the process has several. Only file descriptors 0, 1 and 2
/// survive. Afterwards the process may compute, allocate, start threads and read and write
/// the descriptors it holds; opening files, sockets, running programs, signalling other
/// processes and the like kill it with `SIGSYS` (the exact allowlist, and why each call is
/// on it, is documented in `src/linux/seccomp.rs`). Local time becomes UTC (`TZ=UTC` is the
/// only variable left in the environment), and glibc is held to one malloc arena: both spare
/// the C library a lazy `open()` that seccomp would punish.
///
/// RLIMIT_FSIZE is 0, so descriptors 0-2 must be pipes (or `/dev/null`), never regular
/// files: a write to a file kills the worker with SIGXFSZ.
///
/// A layer the kernel lacks is reported as [`LayerState::Unavailable`]; a layer that was
/// available but failed to apply is returned as an error, and the caller must not run code.
pub fn lock_down(policy: &Policy) -> Result<Report, ConfineError> {
    #[cfg(target_os = "linux")]
    {
        linux::lock_down(policy)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = policy;
        Err(ConfineError::Unsupported)
    }
}

/// What this machine offers, found without confining the caller (feature-detection syscalls
/// and a forked child that tries the namespaces). Safe to call from a multi-threaded process.
/// The first half of [`lock_down`], for a fork server's template process: closes every
/// inherited descriptor beyond the standard streams, clears the environment and enters the
/// namespaces, all of which its children inherit. It must be single-threaded.
pub fn prepare_template() -> Result<Template, ConfineError> {
    #[cfg(target_os = "linux")]
    {
        linux::prepare_template()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(ConfineError::Unsupported)
    }
}

/// The template's own seccomp filter, installed last before it forks its first child: the
/// workers' allowlist plus exactly what the template (its control socket, `fork`, `wait4`,
/// `kill`) and a child before its lock-down need. Each child's [`lock_down_forked`] then
/// narrows it to the workers' allowlist instead of installing that whole, which spares the
/// kernel most of the work per child. The template stays under the filter for its life: it
/// can no longer open a file or a socket. Must be called single-threaded.
pub fn filter_template(template: &mut Template, policy: &Policy) -> Result<(), ConfineError> {
    #[cfg(target_os = "linux")]
    {
        linux::filter_template(template, policy)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (template, policy);
        Err(ConfineError::Unsupported)
    }
}

/// The second half, in a child forked from a [`prepare_template`] process, before it reads
/// any code: closes what the fork brought beyond the standard streams, then drops
/// capabilities and applies no_new_privs, the rlimits, Landlock and seccomp. The report
/// covers every layer, the template's included, as [`lock_down`]'s does.
pub fn lock_down_forked(policy: &Policy, template: &Template) -> Result<Report, ConfineError> {
    #[cfg(target_os = "linux")]
    {
        linux::lock_down_forked(policy, template)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (policy, template);
        Err(ConfineError::Unsupported)
    }
}

pub fn probe() -> Report {
    #[cfg(target_os = "linux")]
    {
        linux::probe()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Report {
            layers: layer::ALL
                .iter()
                .map(|name| {
                    (
                        *name,
                        LayerState::Unavailable("only Linux is supported".into()),
                    )
                })
                .collect(),
        }
    }
}
