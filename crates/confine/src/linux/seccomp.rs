//! The seccomp-bpf allowlist: the last layer, and the one that makes a forbidden system call
//! kill the worker (SECCOMP_RET_KILL_PROCESS) instead of failing quietly.
//!
//! What a confined worker may do, and why (found by running the sandbox under `strace -f`):
//! - memory: `brk`, `mmap`/`mprotect` (never with `PROT_EXEC`: QuickJS has no JIT, so no code
//!   is ever made executable), `munmap`, `mremap`, `madvise` — the allocator and thread stacks;
//! - threads: `clone` with `CLONE_THREAD` and no namespace flag (threads, never processes),
//!   `futex`, `set_robust_list`, `rseq`, `set_tid_address`, `sched_yield`,
//!   `sched_getaffinity`, `gettid`, `getpid`, `prctl(PR_SET_NAME/PR_GET_NAME)` (thread
//!   names), `exit`, `exit_group`; `clone3` answers ENOSYS, because its flags sit in memory
//!   where a filter cannot check them, and glibc then falls back to `clone`;
//! - signals: `rt_sigaction`, `rt_sigprocmask`, `rt_sigreturn`, `sigaltstack` (Rust's stack
//!   overflow guard), `tgkill` on this process only (`abort()` raising SIGABRT);
//! - time: `clock_gettime` (CLOCK_THREAD_CPUTIME_ID is a real syscall), `clock_getres`,
//!   `clock_nanosleep`, `nanosleep`, `gettimeofday`;
//! - descriptors the worker already holds: `read`, `write`, `readv`, `writev`, `close`,
//!   `fcntl`, `poll`, `ppoll`, the `epoll_*` family and `eventfd2` (tokio's reactor), `pipe2`;
//! - `getrandom` (hash map seeds), `restart_syscall`.
//!
//! Everything else — `open`/`openat`/`openat2`/`creat`, any socket call, `execve`, `fork`,
//! `ptrace`, `process_vm_*`, `kill` and signals to other processes, `unshare`/`setns`,
//! `mount`, `bpf`, `io_uring_*`, `keyctl`, `userfaultfd`, `perf_event_open`, `seccomp`
//! itself — kills the process.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use super::failed;
use crate::layer::SECCOMP;
use crate::{ConfineError, LayerState};

#[cfg(target_arch = "x86_64")]
const ARCH: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const ARCH: TargetArch = TargetArch::aarch64;

/// Namespace flags a thread-creating `clone` must not carry.
const CLONE_NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWCGROUP) as u64;

/// Installs the filters. With `audit`, forbidden calls are logged and allowed (a dry run to
/// find what a new runtime needs).
pub(super) fn install(audit: bool) -> Result<LayerState, ConfineError> {
    // Filters stack and the strictest verdict wins, so clone3 gets its ENOSYS from a filter
    // of its own. It goes first: the allowlist does not allow seccomp() itself.
    apply(&clone3_enosys()?)?;
    apply(&program(
        allowed_calls(Scope::Worker)?,
        forbidden(audit),
        SeccompAction::Allow,
    )?)?;
    Ok(LayerState::Active)
}

/// The fork server template's filter: the workers' allowlist, plus [`TEMPLATE_ONLY`] and the
/// wider `clone`, `tgkill` and `prctl` the template and a child before its lock-down use.
/// Installed once; each child then only [`narrow`]s it.
pub(super) fn install_template(audit: bool) -> Result<(), ConfineError> {
    apply(&program(
        allowed_calls(Scope::Template)?,
        forbidden(audit),
        SeccompAction::Allow,
    )?)
}

/// In a child of a filtered template: takes back what the template has beyond the workers'
/// allowlist, so that both filters together allow exactly what [`install`] allows.
///
/// Why not install the allowlist itself: the kernel works out, for every system call
/// number, whether a new filter always allows it, by running the filter once per number
/// (seccomp's action cache). The allowlist is a chain of some 270 instructions, so that is
/// ~0.1 ms per worker with interrupts off. A filter stacked on the template's is run only
/// for the ~60 numbers the template allows, and this one is short.
pub(super) fn narrow(audit: bool) -> Result<LayerState, ConfineError> {
    apply(&clone3_enosys()?)?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for &call in TEMPLATE_ONLY {
        rules.insert(call, vec![]);
    }
    // A process, not a thread (the template already refused namespace flags).
    rules.insert(
        libc::SYS_clone,
        vec![rule(vec![condition(
            0,
            SeccompCmpOp::MaskedEq(libc::CLONE_THREAD as u64),
            0,
        )?])?],
    );
    // SAFETY: getpid has no preconditions; this is the child's own number.
    let own_pid = unsafe { libc::getpid() } as u64;
    rules.insert(
        libc::SYS_tgkill,
        vec![rule(vec![condition(0, SeccompCmpOp::Ne, own_pid)?])?],
    );
    rules.insert(
        libc::SYS_prctl,
        vec![rule(vec![
            condition(0, SeccompCmpOp::Ne, libc::PR_SET_NAME as u64)?,
            condition(0, SeccompCmpOp::Ne, libc::PR_GET_NAME as u64)?,
        ])?],
    );
    apply(&program(rules, SeccompAction::Allow, forbidden(audit))?)?;
    Ok(LayerState::Active)
}

/// What the template and a child before its lock-down call that a worker never may: the
/// child's standard streams (`dup2`), its parent check, closing what the fork brought, the
/// other layers' own calls, and the template's control socket, reaping and killing.
const TEMPLATE_ONLY: &[i64] = &[
    libc::SYS_dup2,
    libc::SYS_dup3,
    libc::SYS_getppid,
    libc::SYS_close_range,
    libc::SYS_capset,
    libc::SYS_prlimit64,
    libc::SYS_landlock_create_ruleset,
    libc::SYS_landlock_add_rule,
    libc::SYS_landlock_restrict_self,
    libc::SYS_seccomp,
    libc::SYS_sendmsg,
    libc::SYS_recvmsg,
    libc::SYS_wait4,
    libc::SYS_kill,
];

/// Whose allowlist: a worker's, or the template's (a superset, see [`install_template`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Worker,
    Template,
}

fn forbidden(audit: bool) -> SeccompAction {
    if audit {
        SeccompAction::Log
    } else {
        SeccompAction::KillProcess
    }
}

fn clone3_enosys() -> Result<BpfProgram, ConfineError> {
    program(
        BTreeMap::from([(libc::SYS_clone3, vec![])]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
    )
}

fn apply(program: &BpfProgram) -> Result<(), ConfineError> {
    seccompiler::apply_filter(program).map_err(|e| failed(SECCOMP, e))
}

fn program(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    mismatch: SeccompAction,
    matched: SeccompAction,
) -> Result<BpfProgram, ConfineError> {
    let filter =
        SeccompFilter::new(rules, mismatch, matched, ARCH).map_err(|e| failed(SECCOMP, e))?;
    filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| failed(SECCOMP, e))
}

/// Syscall number -> rules; an empty rule list allows the call whatever its arguments.
fn allowed_calls(scope: Scope) -> Result<BTreeMap<i64, Vec<SeccompRule>>, ConfineError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let unconditional = [
        // memory
        libc::SYS_brk,
        libc::SYS_munmap,
        libc::SYS_mremap,
        libc::SYS_madvise,
        // threads
        libc::SYS_futex,
        libc::SYS_set_robust_list,
        libc::SYS_rseq,
        libc::SYS_set_tid_address,
        libc::SYS_sched_yield,
        libc::SYS_sched_getaffinity,
        libc::SYS_gettid,
        libc::SYS_getpid,
        libc::SYS_exit,
        libc::SYS_exit_group,
        // signals (to this process only: see tgkill below)
        libc::SYS_rt_sigaction,
        libc::SYS_rt_sigprocmask,
        libc::SYS_rt_sigreturn,
        libc::SYS_sigaltstack,
        // time
        libc::SYS_clock_gettime,
        libc::SYS_clock_getres,
        libc::SYS_clock_nanosleep,
        libc::SYS_nanosleep,
        libc::SYS_gettimeofday,
        // descriptors already held
        libc::SYS_read,
        libc::SYS_write,
        libc::SYS_readv,
        libc::SYS_writev,
        libc::SYS_close,
        libc::SYS_fcntl,
        libc::SYS_poll,
        libc::SYS_ppoll,
        libc::SYS_epoll_create1,
        libc::SYS_epoll_ctl,
        libc::SYS_epoll_wait,
        libc::SYS_epoll_pwait,
        libc::SYS_epoll_pwait2,
        libc::SYS_eventfd2,
        libc::SYS_pipe2,
        // misc
        libc::SYS_getrandom,
        libc::SYS_restart_syscall,
    ];
    for call in unconditional {
        rules.insert(call, vec![]);
    }
    // Allowed here only so that the strictest verdict is the ENOSYS of the clone3 filter
    // (kill would win over it otherwise).
    rules.insert(libc::SYS_clone3, vec![]);
    let no_exec = |arg| condition(arg, SeccompCmpOp::MaskedEq(libc::PROT_EXEC as u64), 0);
    rules.insert(libc::SYS_mmap, vec![rule(vec![no_exec(2)?])?]);
    rules.insert(libc::SYS_mprotect, vec![rule(vec![no_exec(2)?])?]);
    if scope == Scope::Template {
        // Forks, never into new namespaces; [`narrow`] keeps a child to threads, its own
        // pid for `tgkill` and thread names for `prctl`.
        for &call in TEMPLATE_ONLY {
            rules.insert(call, vec![]);
        }
        rules.insert(
            libc::SYS_clone,
            vec![rule(vec![condition(
                0,
                SeccompCmpOp::MaskedEq(CLONE_NAMESPACE_FLAGS),
                0,
            )?])?],
        );
        rules.insert(libc::SYS_tgkill, vec![]);
        let options = [
            libc::PR_SET_NAME,
            libc::PR_GET_NAME,
            libc::PR_SET_PDEATHSIG,
            libc::PR_SET_NO_NEW_PRIVS,
        ];
        let mut prctl = Vec::new();
        for option in options {
            prctl.push(rule(vec![condition(0, SeccompCmpOp::Eq, option as u64)?])?);
        }
        rules.insert(libc::SYS_prctl, prctl);
        return Ok(rules);
    }
    rules.insert(
        libc::SYS_clone,
        vec![rule(vec![condition(
            0,
            SeccompCmpOp::MaskedEq(libc::CLONE_THREAD as u64 | CLONE_NAMESPACE_FLAGS),
            libc::CLONE_THREAD as u64,
        )?])?],
    );
    // SAFETY: getpid has no preconditions. The filter is built after the namespaces are
    // entered and there is no new PID namespace, so the number stays this process's.
    let own_pid = unsafe { libc::getpid() } as u64;
    rules.insert(
        libc::SYS_tgkill,
        vec![rule(vec![condition(0, SeccompCmpOp::Eq, own_pid)?])?],
    );
    rules.insert(
        libc::SYS_prctl,
        vec![
            rule(vec![condition(
                0,
                SeccompCmpOp::Eq,
                libc::PR_SET_NAME as u64,
            )?])?,
            rule(vec![condition(
                0,
                SeccompCmpOp::Eq,
                libc::PR_GET_NAME as u64,
            )?])?,
        ],
    );
    Ok(rules)
}

fn condition(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, ConfineError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value).map_err(|e| failed(SECCOMP, e))
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, ConfineError> {
    SeccompRule::new(conditions).map_err(|e| failed(SECCOMP, e))
}
