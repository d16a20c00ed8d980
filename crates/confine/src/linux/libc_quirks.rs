//! Files the C library would open lazily, long after lock-down, when seccomp makes any open()
//! fatal: do the reading now, or make it unnecessary.

/// Call after the environment is cleared and before seccomp is installed, single-threaded.
pub(super) fn settle() {
    // glibc's mktime (QuickJS calls it for local time) re-reads /etc/localtime on every call
    // while TZ is unset. With TZ set, and loaded once here, glibc keeps the zone. Local time
    // in a worker is therefore UTC, whatever the host's zone is.
    // SAFETY: single-threaded (checked by lock_down); static C strings.
    unsafe {
        libc::setenv(c"TZ".as_ptr(), c"UTC".as_ptr(), 1);
        tzset();
    }
    // glibc gives threads their own malloc arenas, and the first time one of them shrinks it
    // reads /proc/sys/vm/overcommit_memory. A single arena (the main one, grown with brk)
    // never does; the worker has few threads, so the shared lock costs little.
    #[cfg(target_env = "gnu")]
    // SAFETY: a plain tunable; no arena but the main one exists yet (single-threaded).
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

extern "C" {
    fn tzset();
}
