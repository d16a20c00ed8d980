//! A worker's CPU clock as the gateway reads it, and the watchdog that holds an execution to
//! its CPU limit from outside the worker.
//!
//! The sandbox's own CPU limit is an interrupt handler inside QuickJS, which never runs while
//! the engine is in one long native call (a BigInt power turned into a string, a join of a
//! huge array, a regular expression compiled from megabytes of pattern, a Proxy trap listing
//! a million keys). The watchdog does not depend on the engine: it reads the worker process's
//! CPU time (user + system, all its threads; its CPU-time clock, else `/proc/<pid>/stat`)
//! every [`POLL`], counted
//! from the moment the execution started, and ends the execution once it passes the CPU limit
//! plus [`GRACE`]. The grace lets the sandbox's own, better message win whenever JavaScript is
//! running (the process also spends some CPU outside the snippet's thread: compiling the
//! snippet, the pipe thread parsing tool answers).

use std::sync::OnceLock;
use std::time::Duration;

/// How often the watchdog reads the worker's CPU clock.
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// CPU time beyond the execution's CPU limit before the watchdog kills the worker.
pub(crate) const GRACE: Duration = Duration::from_secs(1);

/// The CPU time one process has used since the clock was started.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuClock {
    pid: u32,
    /// The process's CPU time when the clock started; `None` if it could not be read.
    start: Option<Duration>,
}

impl CpuClock {
    /// Starts counting now (a worker waiting in the pool has spent CPU starting up).
    pub fn start(pid: u32) -> CpuClock {
        CpuClock {
            pid,
            start: process_cpu_time(pid),
        }
    }

    /// CPU time used since [`CpuClock::start`]; `None` if the clock cannot be read (the
    /// process was reaped, or `/proc` is not readable).
    pub fn used(&self) -> Option<Duration> {
        Some(process_cpu_time(self.pid)?.saturating_sub(self.start?))
    }

    /// Resolves (with the CPU time used) once more than `limit` + [`GRACE`] has been used,
    /// reading the clock every [`POLL`]; never resolves if the clock cannot be read at all.
    pub async fn exceeded(&self, limit: Duration) -> Duration {
        if self.start.is_none() {
            tracing::warn!(
                worker = self.pid,
                "the worker's CPU clock cannot be read from /proc; only the wall-clock limit \
                 and the RLIMIT_CPU backstop hold native code to its limits"
            );
            return std::future::pending().await;
        }
        let budget = limit.saturating_add(GRACE);
        loop {
            tokio::time::sleep(POLL).await;
            if let Some(used) = self.used() {
                if used > budget {
                    return used;
                }
            }
        }
    }
}

/// The CPU time (user + system, all threads) process `pid` has used, from `/proc/<pid>/stat`.
pub(crate) fn process_cpu_time(pid: u32) -> Option<Duration> {
    cpu_clock_time(pid).or_else(|| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat_cpu_time(&stat, clock_ticks_per_second())
    })
}

/// The process's CPU-time clock (`clock_getcpuclockid`), to the nanosecond: `/proc`'s clock
/// ticks are 10 ms, so a short execution would report no CPU at all.
fn cpu_clock_time(pid: u32) -> Option<Duration> {
    let pid = libc::pid_t::try_from(pid).ok()?;
    let mut clock: libc::clockid_t = 0;
    // SAFETY: writes one clockid_t into `clock`, which outlives the call.
    if unsafe { libc::clock_getcpuclockid(pid, &mut clock) } != 0 {
        return None;
    }
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes one timespec into `now`, which outlives the call.
    if unsafe { libc::clock_gettime(clock, &mut now) } != 0 {
        return None;
    }
    Some(Duration::new(
        u64::try_from(now.tv_sec).ok()?,
        u32::try_from(now.tv_nsec).ok()?,
    ))
}

/// utime + stime (fields 14 and 15 of `/proc/<pid>/stat`, in clock ticks). The command name
/// (field 2) is in parentheses and may hold spaces and parentheses itself, so fields are
/// counted from the last `)`.
fn stat_cpu_time(stat: &str, ticks_per_second: u64) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Field 3 (the state) is the first after the name.
    let mut fields = after_name.split_whitespace().skip(14 - 3);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime.saturating_add(stime);
    let ticks_per_second = ticks_per_second.max(1);
    let whole = ticks / ticks_per_second;
    let nanos = (ticks % ticks_per_second) * 1_000_000_000 / ticks_per_second;
    Some(Duration::new(whole, nanos as u32))
}

/// `sysconf(_SC_CLK_TCK)`: the unit of `/proc/<pid>/stat`'s times (100 on Linux).
fn clock_ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        // SAFETY: sysconf takes a constant and has no other effect.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn utime_and_stime_are_read_past_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (codemode (x) y) S 1 4242 4242 0 -1 4194560 1200 0 3 0 \
                    250 37 0 0 20 0 3 0 1234 56789 300 18446744073709551615";
        assert_eq!(stat_cpu_time(stat, 100), Some(Duration::from_millis(2870)));
        assert_eq!(stat_cpu_time(stat, 1000), Some(Duration::from_millis(287)));
        assert_eq!(stat_cpu_time("4242 (cut", 100), None);
        assert_eq!(stat_cpu_time("4242 (short) S 1 2 3", 100), None);
    }

    #[test]
    fn this_process_clock_advances_with_work() {
        let clock = CpuClock::start(std::process::id());
        assert!(clock.used().is_some(), "/proc/self/stat is readable");
        let started = Instant::now();
        let mut x = 0u64;
        while clock.used().unwrap_or_default() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the clock never advanced"
            );
        }
    }

    #[test]
    fn the_clock_sees_less_than_a_tick_of_work() {
        let pid = std::process::id();
        let before = cpu_clock_time(pid).expect("this process's CPU clock");
        let started = Instant::now();
        let mut x = 0u64;
        while started.elapsed() < Duration::from_millis(2) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let used = cpu_clock_time(pid)
            .expect("still readable")
            .saturating_sub(before);
        assert!(used > Duration::ZERO, "2 ms of work read as nothing");
    }

    #[test]
    fn an_unknown_process_has_no_clock() {
        // Above the largest pid Linux hands out (2^22).
        assert_eq!(process_cpu_time(u32::MAX), None);
        assert_eq!(CpuClock::start(u32::MAX).used(), None);
    }
}
