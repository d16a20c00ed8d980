//! How a worker process ended, in words an agent (and an operator) can act on: one function,
//! [`describe_end`], from what the gateway actually knows (the exit status, whether the
//! gateway itself killed the worker and why, the worker's RLIMIT_CPU, its last stderr lines),
//! never from a guess about the root cause.
//!
//! A signal is named for what it is. SIGKILL is a limit only when the gateway sent it (its
//! CPU watchdog or its wall-clock kill, which it records before signalling); SIGXCPU is the
//! kernel's RLIMIT_CPU backstop. Other signals say what happened, not why: a worker that
//! overflows its stack, say, can die by SIGSEGV, by SIGABRT (Rust's overflow handler), or by
//! SIGSYS (when that abort path makes a call outside the seccomp allowlist), so the worker's
//! own last words on stderr are attached when there are any.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use codemode_sandbox::ErrorKind;

/// Why the gateway killed a worker (with SIGKILL), when it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kill {
    /// The CPU watchdog: the worker's CPU clock passed the execution's CPU limit plus the
    /// watchdog's grace; `used` is what the clock read (since the execution started).
    Cpu { limit: Duration, used: Duration },
    /// The wall-clock limit (plus grace) passed and the worker had not answered.
    Wall { limit: Duration },
}

/// What the gateway knows about a worker that ended.
#[derive(Debug, Clone, Copy)]
pub(crate) struct End<'a> {
    /// Its exit status, if it was reaped in time.
    pub status: Option<ExitStatus>,
    /// The gateway's own kill, if it sent one.
    pub killed: Option<Kill>,
    /// Whether it had been given an execution (else it ended before greeting).
    pub running: bool,
    /// Its RLIMIT_CPU, in seconds.
    pub cpu_backstop_seconds: u64,
    /// The last lines it wrote to stderr (empty if none).
    pub stderr: &'a str,
}

/// An ended worker as an execution error: its kind and its message (without the
/// `WorkerError: ` prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ending {
    pub kind: ErrorKind,
    pub message: String,
}

/// How a worker ended. See the module documentation for what each signal is taken to mean.
pub(crate) fn describe_end(end: &End<'_>) -> Ending {
    let signal = end.status.and_then(|status| status.signal());
    // The gateway's kill explains the end only if nothing else ended the worker first.
    let ours = end
        .killed
        .filter(|_| end.status.is_none() || signal == Some(libc::SIGKILL));
    let (kind, message) = match ours {
        Some(Kill::Cpu { limit, used }) => (
            ErrorKind::Timeout,
            format!(
                "CPU time limit exceeded: the snippet computed for more than {}, inside a native \
                 operation the sandbox's own check cannot interrupt (one huge BigInt, string, \
                 array or regular-expression operation, or compiling the snippet), so the gateway \
                 killed its worker (SIGKILL) after {} of CPU",
                seconds(limit),
                seconds(used)
            ),
        ),
        Some(Kill::Wall { limit }) => (
            ErrorKind::Timeout,
            format!(
                "wall-clock time limit exceeded: the snippet did not finish within the {} \
                 wall-clock limit and its worker stopped answering (stuck in native code?), so \
                 the gateway killed it (SIGKILL)",
                seconds(limit)
            ),
        ),
        None => {
            let how = match (signal, end.status.and_then(|status| status.code())) {
                (Some(libc::SIGXCPU), _) => format!(
                    "reached its CPU backstop (SIGXCPU: the kernel's RLIMIT_CPU of {} s for the \
                     whole process)",
                    end.cpu_backstop_seconds
                ),
                (Some(signal), _) => signalled(signal),
                (None, Some(101)) => "exited with code 101 (a Rust panic)".to_string(),
                (None, Some(code)) => format!("exited with code {code}"),
                (None, None) if end.status.is_some() => "ended".to_string(),
                (None, None) => "closed its pipe (and was still running)".to_string(),
            };
            match (end.running, signal) {
                (true, Some(libc::SIGXCPU)) => (
                    ErrorKind::Timeout,
                    format!(
                        "CPU time limit exceeded: the worker process running this snippet {how}"
                    ),
                ),
                (true, _) => (
                    ErrorKind::Internal,
                    format!(
                        "the worker process running this snippet ended before the snippet \
                         finished: it {how}"
                    ),
                ),
                (false, _) => (
                    ErrorKind::Internal,
                    format!("the worker process ended before greeting: it {how}"),
                ),
            }
        }
    };
    Ending {
        kind,
        message: with_stderr(message, end.stderr),
    }
}

/// A worker's death by `signal`, when the gateway did not send it (SIGXCPU aside).
fn signalled(signal: libc::c_int) -> String {
    match signal {
        libc::SIGSYS => "was killed by SIGSYS: a system call outside the sandbox's allowlist \
                         (the worker may have been crashing)"
            .into(),
        libc::SIGKILL => "was killed by SIGKILL, which the gateway did not send (the kernel's \
                          out-of-memory killer, or something outside the gateway)"
            .into(),
        libc::SIGSEGV => "crashed (SIGSEGV), possibly a stack overflow".into(),
        libc::SIGBUS => "crashed (SIGBUS), possibly a stack overflow".into(),
        libc::SIGABRT => "aborted (SIGABRT)".into(),
        libc::SIGILL => "crashed (SIGILL)".into(),
        libc::SIGFPE => "crashed (SIGFPE)".into(),
        libc::SIGXFSZ => "exceeded its file size limit (SIGXFSZ)".into(),
        libc::SIGTERM => "was terminated by SIGTERM, which the gateway did not send".into(),
        libc::SIGPIPE => "was killed by SIGPIPE (a pipe to the gateway closed)".into(),
        other => format!("was killed by signal {other}"),
    }
}

fn with_stderr(message: String, stderr: &str) -> String {
    if stderr.is_empty() {
        message
    } else {
        format!("{message}; its last stderr lines: {stderr}")
    }
}

/// `1 s`, `1.5 s`, `300 ms`.
pub(crate) fn seconds(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        format!("{millis} ms")
    } else if millis.is_multiple_of(1000) {
        format!("{} s", millis / 1000)
    } else {
        let text = format!("{:.2}", duration.as_secs_f64());
        format!("{} s", text.trim_end_matches('0').trim_end_matches('.'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_signal(signal: libc::c_int) -> ExitStatus {
        ExitStatus::from_raw(signal)
    }

    fn by_code(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    fn running(status: Option<ExitStatus>, killed: Option<Kill>) -> Ending {
        describe_end(&End {
            status,
            killed,
            running: true,
            cpu_backstop_seconds: 15,
            stderr: "",
        })
    }

    const CPU_KILL: Kill = Kill::Cpu {
        limit: Duration::from_secs(10),
        used: Duration::from_millis(11_050),
    };
    const WALL_KILL: Kill = Kill::Wall {
        limit: Duration::from_millis(300),
    };

    #[test]
    fn sigkill_from_the_cpu_watchdog_is_the_cpu_limit() {
        let ending = running(Some(by_signal(libc::SIGKILL)), Some(CPU_KILL));
        assert_eq!(ending.kind, ErrorKind::Timeout);
        assert!(
            ending
                .message
                .starts_with("CPU time limit exceeded: the snippet computed for more than 10 s"),
            "{}",
            ending.message
        );
        assert!(ending.message.contains("native"), "{}", ending.message);
        assert!(
            ending.message.contains("(SIGKILL) after 11.05 s of CPU"),
            "{}",
            ending.message
        );
        // Not reaped in time: the kill the gateway sent is still the only explanation.
        assert_eq!(running(None, Some(CPU_KILL)), ending);
    }

    #[test]
    fn sigkill_from_the_wall_clock_kill_is_the_wall_limit() {
        let ending = running(Some(by_signal(libc::SIGKILL)), Some(WALL_KILL));
        assert_eq!(ending.kind, ErrorKind::Timeout);
        assert!(
            ending.message.starts_with(
                "wall-clock time limit exceeded: the snippet did not finish within the 300 ms"
            ),
            "{}",
            ending.message
        );
        assert!(
            ending.message.contains("killed it (SIGKILL)"),
            "{}",
            ending.message
        );
    }

    #[test]
    fn sigkill_the_gateway_did_not_send_is_no_limit() {
        let ending = running(Some(by_signal(libc::SIGKILL)), None);
        assert_eq!(ending.kind, ErrorKind::Internal);
        assert_eq!(
            ending.message,
            "the worker process running this snippet ended before the snippet finished: it was \
             killed by SIGKILL, which the gateway did not send (the kernel's out-of-memory \
             killer, or something outside the gateway)"
        );
    }

    #[test]
    fn a_worker_that_died_on_its_own_before_the_gateways_kill_is_described_by_its_signal() {
        let ending = running(Some(by_signal(libc::SIGSEGV)), Some(CPU_KILL));
        assert_eq!(ending.kind, ErrorKind::Internal);
        assert!(ending.message.contains("SIGSEGV"), "{}", ending.message);
    }

    #[test]
    fn sigxcpu_is_the_cpu_backstop() {
        let ending = running(Some(by_signal(libc::SIGXCPU)), None);
        assert_eq!(ending.kind, ErrorKind::Timeout);
        assert_eq!(
            ending.message,
            "CPU time limit exceeded: the worker process running this snippet reached its CPU \
             backstop (SIGXCPU: the kernel's RLIMIT_CPU of 15 s for the whole process)"
        );
    }

    #[test]
    fn sigsys_is_a_call_outside_the_allowlist_without_blaming_the_snippet() {
        let ending = running(Some(by_signal(libc::SIGSYS)), None);
        assert_eq!(ending.kind, ErrorKind::Internal);
        assert_eq!(
            ending.message,
            "the worker process running this snippet ended before the snippet finished: it was \
             killed by SIGSYS: a system call outside the sandbox's allowlist (the worker may \
             have been crashing)"
        );
    }

    #[test]
    fn sigsegv_is_a_crash_possibly_a_stack_overflow() {
        let ending = running(Some(by_signal(libc::SIGSEGV)), None);
        assert_eq!(ending.kind, ErrorKind::Internal);
        assert_eq!(
            ending.message,
            "the worker process running this snippet ended before the snippet finished: it \
             crashed (SIGSEGV), possibly a stack overflow"
        );
    }

    #[test]
    fn sigbus_is_a_crash_possibly_a_stack_overflow() {
        let ending = running(Some(by_signal(libc::SIGBUS)), None);
        assert!(
            ending
                .message
                .contains("crashed (SIGBUS), possibly a stack overflow"),
            "{}",
            ending.message
        );
    }

    #[test]
    fn sigabrt_is_an_abort_and_no_more() {
        let ending = running(Some(by_signal(libc::SIGABRT)), None);
        assert_eq!(ending.kind, ErrorKind::Internal);
        assert_eq!(
            ending.message,
            "the worker process running this snippet ended before the snippet finished: it \
             aborted (SIGABRT)"
        );
    }

    #[test]
    fn a_core_dump_does_not_hide_the_signal() {
        // WCOREFLAG: the kernel dumped core (SIGABRT, SIGSEGV, SIGSYS... do by default).
        let ending = running(Some(ExitStatus::from_raw(libc::SIGABRT | 0x80)), None);
        assert!(
            ending.message.contains("aborted (SIGABRT)"),
            "{}",
            ending.message
        );
    }

    #[test]
    fn other_signals_are_named_or_numbered() {
        for (signal, words) in [
            (libc::SIGXFSZ, "exceeded its file size limit (SIGXFSZ)"),
            (libc::SIGILL, "crashed (SIGILL)"),
            (libc::SIGTERM, "was terminated by SIGTERM"),
            (
                libc::SIGUSR1,
                &format!("was killed by signal {}", libc::SIGUSR1),
            ),
        ] {
            let ending = running(Some(by_signal(signal)), None);
            assert_eq!(ending.kind, ErrorKind::Internal);
            assert!(ending.message.contains(words), "{}", ending.message);
        }
    }

    #[test]
    fn exit_codes_and_closed_pipes() {
        assert_eq!(
            running(Some(by_code(74)), None).message,
            "the worker process running this snippet ended before the snippet finished: it \
             exited with code 74"
        );
        assert!(running(Some(by_code(101)), None)
            .message
            .contains("exited with code 101 (a Rust panic)"));
        assert_eq!(
            running(None, None).message,
            "the worker process running this snippet ended before the snippet finished: it \
             closed its pipe (and was still running)"
        );
    }

    #[test]
    fn the_stderr_tail_follows_and_a_worker_that_never_greeted_is_named_as_such() {
        let ending = describe_end(&End {
            status: Some(by_signal(libc::SIGSYS)),
            killed: None,
            running: false,
            cpu_backstop_seconds: 15,
            stderr: "thread 'codemode-snippet' has overflowed its stack | fatal runtime error: stack overflow",
        });
        assert_eq!(
            ending.message,
            "the worker process ended before greeting: it was killed by SIGSYS: a system call \
             outside the sandbox's allowlist (the worker may have been crashing); its last \
             stderr lines: thread 'codemode-snippet' has overflowed its stack | fatal runtime error: \
             stack overflow"
        );
    }

    #[test]
    fn durations_read_as_seconds_or_milliseconds() {
        assert_eq!(seconds(Duration::from_millis(300)), "300 ms");
        assert_eq!(seconds(Duration::from_secs(10)), "10 s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(seconds(Duration::from_millis(2104)), "2.1 s");
        assert_eq!(seconds(Duration::from_millis(11_050)), "11.05 s");
    }
}
