//! The kernel's limits on a worker process ([`Backstop`]), derived from the sandbox
//! [`Limits`] its execution runs with, in one place: [`Backstop::for_limits`].
//!
//! The sandbox enforces its own limits and reports them clearly (a CPU-limit or memory-limit
//! error the agent can act on). A long native call never reaches the sandbox's CPU check;
//! the gateway's CPU watchdog (`crate::cpu`) ends it at the CPU limit plus one second. The
//! rlimits are the hard stop behind both, for what neither catches (a gateway that cannot
//! read the worker's CPU clock or is itself stalled, memory outside the JavaScript heap). So
//! they must sit a little *above* those limits: below, the kernel would cut an execution
//! short with SIGXCPU or a failed allocation; far above, they would hold back nothing.
//!
//! The pool computes the backstop once from [`crate::PoolOptions::limits`] and passes it to
//! each worker on its command line (`__worker --cpu-seconds N --address-space-bytes B`); the
//! worker puts it in the [`codemode_confine::Policy`] it locks itself down with. A worker
//! started without them uses [`codemode_confine::Policy::default`] (1 GiB, 60 s).

use std::ffi::OsString;
use std::time::Duration;

use codemode_sandbox::Limits;

const MIB: u64 = 1024 * 1024;

/// The rlimits of one worker process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backstop {
    /// RLIMIT_CPU (soft; the hard limit, SIGKILL, is one second later).
    pub cpu_seconds: u64,
    /// RLIMIT_AS.
    pub address_space_bytes: u64,
}

impl Backstop {
    /// CPU seconds a worker may spend beyond its execution's CPU limit. The sandbox counts only
    /// the snippet's thread; the process also spends CPU starting up, warming up, and reading
    /// tool answers from the pipe on another thread. The sandbox's interrupt, or else the
    /// gateway's CPU watchdog (one second past the limit, counted from the execution's start),
    /// must fire first.
    pub const CPU_MARGIN_SECONDS: u64 = 5;

    /// RLIMIT_AS per byte of JavaScript heap limit. The heap limit counts the bytes QuickJS asks
    /// for; the process also pays the allocator's per-block overhead and fragmentation, and holds
    /// tool answers as parsed JSON outside the heap while they are converted into it.
    pub const HEAP_MULTIPLE: u64 = 2;

    /// RLIMIT_AS for everything that does not grow with the heap: the binary and its libraries,
    /// thread stacks (the sandbox thread's 16 MiB, the main and pipe threads), the allocator's
    /// arena, and a pipe frame (up to 64 MiB) in flight.
    pub const FIXED_OVERHEAD_BYTES: u64 = 256 * MIB;

    /// RLIMIT_AS is never below this (the fixed 1 GiB workers had before limits reached them):
    /// a small heap limit must not make the runtime's own overhead the first thing to fail.
    pub const MIN_ADDRESS_SPACE_BYTES: u64 = 1024 * MIB;

    /// The backstop for executions running with `limits`:
    ///
    /// - RLIMIT_CPU = ⌈`cpu_time` in seconds⌉ + [`Self::CPU_MARGIN_SECONDS`]
    /// - RLIMIT_AS = max([`Self::MIN_ADDRESS_SPACE_BYTES`],
    ///   [`Self::HEAP_MULTIPLE`] × `memory_bytes` + [`Self::FIXED_OVERHEAD_BYTES`])
    ///
    /// (saturating: a limit too large to express means no limit).
    pub fn for_limits(limits: &Limits) -> Backstop {
        let heap = u64::try_from(limits.memory_bytes).unwrap_or(u64::MAX);
        Backstop {
            cpu_seconds: ceil_seconds(limits.cpu_time).saturating_add(Self::CPU_MARGIN_SECONDS),
            address_space_bytes: heap
                .saturating_mul(Self::HEAP_MULTIPLE)
                .saturating_add(Self::FIXED_OVERHEAD_BYTES)
                .max(Self::MIN_ADDRESS_SPACE_BYTES),
        }
    }

    /// Whether a worker with this backstop can run an execution that needs `needed`.
    pub fn covers(&self, needed: &Backstop) -> bool {
        self.cpu_seconds >= needed.cpu_seconds
            && self.address_space_bytes >= needed.address_space_bytes
    }

    /// The worker's command-line arguments that carry it.
    pub(crate) fn args(&self) -> [OsString; 4] {
        [
            "--cpu-seconds".into(),
            self.cpu_seconds.to_string().into(),
            "--address-space-bytes".into(),
            self.address_space_bytes.to_string().into(),
        ]
    }
}

fn ceil_seconds(duration: Duration) -> u64 {
    duration
        .as_secs()
        .saturating_add(u64::from(duration.subsec_nanos() > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1024 * MIB;

    fn limits(cpu_time: Duration, memory_bytes: usize) -> Limits {
        Limits {
            cpu_time,
            memory_bytes,
            ..Limits::default()
        }
    }

    #[test]
    fn cpu_is_the_limit_rounded_up_plus_the_margin() {
        let of = |cpu| Backstop::for_limits(&limits(cpu, 0)).cpu_seconds;
        assert_eq!(of(Duration::ZERO), Backstop::CPU_MARGIN_SECONDS);
        assert_eq!(
            of(Duration::from_millis(500)),
            1 + Backstop::CPU_MARGIN_SECONDS
        );
        assert_eq!(of(Duration::from_secs(1)), 1 + Backstop::CPU_MARGIN_SECONDS);
        assert_eq!(
            of(Duration::from_millis(1001)),
            2 + Backstop::CPU_MARGIN_SECONDS
        );
        assert_eq!(
            of(Duration::from_secs(120)),
            120 + Backstop::CPU_MARGIN_SECONDS
        );
        assert_eq!(of(Duration::MAX), u64::MAX);
    }

    #[test]
    fn address_space_is_a_multiple_of_the_heap_plus_overhead_but_never_below_1_gib() {
        let of = |heap| Backstop::for_limits(&limits(Duration::ZERO, heap)).address_space_bytes;
        assert_eq!(of(0), GIB);
        assert_eq!(of(128 * MIB as usize), GIB);
        assert_eq!(of(1536 * MIB as usize), 3 * GIB + 256 * MIB);
        assert_eq!(of(2 * GIB as usize), 4 * GIB + 256 * MIB);
        assert_eq!(of(usize::MAX), u64::MAX);
    }

    #[test]
    fn the_default_limits_get_a_tighter_cpu_backstop_than_the_old_fixed_one() {
        let backstop = Backstop::for_limits(&Limits::default());
        assert_eq!(
            backstop,
            Backstop {
                cpu_seconds: 10 + Backstop::CPU_MARGIN_SECONDS,
                address_space_bytes: GIB,
            }
        );
    }

    #[test]
    fn a_backstop_covers_only_what_fits_in_both_limits() {
        let pool = Backstop::for_limits(&Limits::default());
        let smaller = Backstop::for_limits(&limits(Duration::from_secs(1), 0));
        let more_cpu = Backstop::for_limits(&limits(Duration::from_secs(120), 0));
        let more_heap = Backstop::for_limits(&limits(Duration::from_secs(1), 2 << 30));
        assert!(pool.covers(&pool));
        assert!(pool.covers(&smaller));
        assert!(!pool.covers(&more_cpu));
        assert!(!pool.covers(&more_heap));
    }

    #[test]
    fn the_arguments_name_both_numbers() {
        let backstop = Backstop {
            cpu_seconds: 6,
            address_space_bytes: 1 << 30,
        };
        let args: Vec<String> = backstop
            .args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            ["--cpu-seconds", "6", "--address-space-bytes", "1073741824"]
        );
    }
}
