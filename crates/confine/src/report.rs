//! What a worker may use ([`Policy`]) and what confinement is in force ([`Report`]).

use std::fmt;

/// What a confined worker may use. RLIMIT_FSIZE is always 0 and RLIMIT_CORE always 0 (no
/// core dump may write the worker's memory to disk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// RLIMIT_AS: the JS heap limit plus the runtime's overhead (thread stacks, allocator
    /// arenas, the binary itself).
    pub address_space_bytes: u64,
    /// RLIMIT_CPU, in seconds for the whole process: a hard backstop behind the sandbox's own
    /// per-execution CPU limit. At the limit the kernel sends SIGXCPU, one second later
    /// SIGKILL.
    pub cpu_seconds: u64,
    /// RLIMIT_NOFILE: the worker's pipes plus what the async runtime needs (epoll, eventfd).
    pub max_open_files: u64,
    /// Dry run for finding the allowlist: a forbidden system call is logged by the kernel
    /// (SECCOMP_RET_LOG) and allowed instead of killing the process. Never in production.
    pub audit: bool,
}

/// 1 GiB of address space and 60 s of CPU: a fallback for a caller that knows nothing of its
/// workload. A caller that knows the limits it runs code under should size
/// `address_space_bytes` and `cpu_seconds` a little above them.
impl Default for Policy {
    fn default() -> Self {
        Policy {
            address_space_bytes: 1024 * 1024 * 1024,
            cpu_seconds: 60,
            max_open_files: 64,
            audit: false,
        }
    }
}

/// The state of one confinement layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerState {
    /// In force (for [`crate::probe`]: would be in force after [`crate::lock_down`]).
    Active,
    /// The kernel or its configuration does not offer this layer; why.
    Unavailable(String),
    /// The layer was offered but could not be applied; why. [`crate::lock_down`] never
    /// returns a report with this state (it returns an error instead); [`crate::probe`] may.
    Failed(String),
}

impl LayerState {
    pub fn is_active(&self) -> bool {
        matches!(self, LayerState::Active)
    }
}

/// What a template process for forked workers put in force: the layers every child
/// inherits (see [`crate::prepare_template`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    pub(crate) layers: Vec<(&'static str, LayerState)>,
    /// The template runs under its own seccomp filter ([`crate::filter_template`]), which
    /// each child narrows to the workers' allowlist.
    pub(crate) filtered: bool,
}

/// Which layers are in force (or, from [`crate::probe`], available), in the order they are
/// applied. Names are those in [`crate::layer`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    pub layers: Vec<(&'static str, LayerState)>,
}

impl Report {
    /// The state of the layer called `name`, if the report lists it.
    pub fn state(&self, name: &str) -> Option<&LayerState> {
        self.layers
            .iter()
            .find(|(layer, _)| *layer == name)
            .map(|(_, state)| state)
    }

    /// One line for a log: `active: a, b; unavailable: c (why)`.
    pub fn summary(&self) -> String {
        let active: Vec<&str> = self
            .layers
            .iter()
            .filter(|(_, state)| state.is_active())
            .map(|(name, _)| *name)
            .collect();
        let missing: Vec<String> = self
            .layers
            .iter()
            .filter_map(|(name, state)| match state {
                LayerState::Active => None,
                LayerState::Unavailable(why) => Some(format!("{name} (unavailable: {why})")),
                LayerState::Failed(why) => Some(format!("{name} (FAILED: {why})")),
            })
            .collect();
        if missing.is_empty() {
            format!("all confinement layers active: {}", active.join(", "))
        } else {
            format!(
                "active: {}; missing: {}",
                active.join(", "),
                missing.join("; ")
            )
        }
    }
}

/// One layer per line, aligned, for `codemode doctor`.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, state) in &self.layers {
            match state {
                LayerState::Active => writeln!(f, "  {name:<22} active")?,
                LayerState::Unavailable(why) => writeln!(f, "  {name:<22} unavailable: {why}")?,
                LayerState::Failed(why) => writeln!(f, "  {name:<22} FAILED: {why}")?,
            }
        }
        Ok(())
    }
}
