//! The worker's C heap, faulted in ahead while a worker that nobody wanted yet waits.
//!
//! A fresh process pays a page fault for every heap page it first touches: for a snippet
//! that parses 700 KB of orders and builds 10,000 objects, a tenth of its CPU time. A
//! worker forked from the fork server's template shares its template's heap, the sandbox
//! the template built included, and would pay a copy for every page of it the execution
//! first writes: a waiting worker copies those at once ([`copy_shared_until`]; the
//! template's heap is under a megabyte). A warm worker that has waited 20 ms without being
//! taken ([`idle`]) is on a machine with time to spare, so it also faults a stretch of free
//! heap in then, a piece at a time, and stops at once when its code arrives
//! ([`fault_in_until`]). A worker taken at once (a busy pool) never does: it costs
//! throughput nothing. The free stretch is marked for transparent huge pages where the
//! kernel offers them (`MADV_HUGEPAGE`): faulting 12 MiB in then takes about 1.2 ms instead
//! of 5.5 ms on a 2-core VM, so a worker warming up beside a running execution takes that
//! much less from it (100 sequential tool calls, which hand the CPU between three
//! processes, were 10-25% slower beside the small-page version), and the snippet's heap
//! then misses the TLB less.
//!
//! Runs on the execution's own thread, before it reads the code: that thread's malloc
//! arena is the one the snippet will allocate from, and no other thread holds the memory
//! map's lock meanwhile. This must never change what memory holds: `MADV_POPULATE_WRITE`
//! maps pages as a write would, without writing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How much of the heap a waiting worker faults in: a little over what the seed example's
/// execution uses at its peak (8 MiB of JavaScript heap and its answers' JSON text).
const FAULT_IN_BYTES: usize = 12 * 1024 * 1024;
/// Populated between two looks at the pipe: at most this much (or the one huge page it
/// begins, 2 MiB) delays a snippet's start.
const PIECE_BYTES: usize = 256 * 1024;
/// A worker not taken within this long is on a machine with time to spare. Longer than
/// short executions run back to back (a pool of two has each spare wait through one of
/// them): code that arrives while a piece is being faulted in waits for that piece, and at
/// 5 ms trivial executions 5 ms apart were 5-10% slower for it. A long execution (the
/// seed's 50 ms) still has the spare fault its heap in before it is taken.
const IDLE_FIRST: Duration = Duration::from_millis(20);
const PAGE_BYTES: usize = 4096;
const HUGE_PAGE_BYTES: usize = 2 * 1024 * 1024;

/// Malloc settings for a worker (before it allocates much): blocks up to twice
/// [`FAULT_IN_BYTES`] come from the thread's heap, not from a mapping of their own, and
/// freed memory stays in the heap. A worker lives for one execution, so keeping what it
/// freed costs nothing, and it is what lets the stretch faulted in ahead be the memory the
/// snippet later gets.
pub(crate) fn tune_malloc() {
    // SAFETY: mallopt only changes the allocator's parameters; a refused one stays as it was.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, (FAULT_IN_BYTES * 2) as libc::c_int);
        libc::mallopt(libc::M_TRIM_THRESHOLD, (FAULT_IN_BYTES * 8) as libc::c_int);
    }
}

/// Where the template's heap (the main arena, grown with `brk`) begins, as the template
/// read it before forking: a forked worker can no longer read `/proc`. Zero: unknown.
static HEAP_START: AtomicUsize = AtomicUsize::new(0);

/// In the fork server's template, before it forks: notes where its heap begins.
pub(crate) fn note_heap_start() {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    let start = maps
        .lines()
        .find(|line| line.ends_with("[heap]"))
        .and_then(|line| line.split('-').next())
        .and_then(|start| usize::from_str_radix(start, 16).ok());
    if let Some(start) = start {
        HEAP_START.store(start, Ordering::Relaxed);
    }
}

/// Waits up to [`IDLE_FIRST`] for `arrived`; whether nothing came, so that the worker has
/// time to spare for [`fault_in_until`].
pub(crate) fn idle(arrived: impl Fn(Duration) -> bool) -> bool {
    !arrived(IDLE_FIRST)
}

/// Copies the heap pages a forked worker shares with its template, piece by piece, until
/// `arrived` says the code is in: each would otherwise be copied when the execution first
/// writes it. The template's heap is small (under a megabyte, its sandbox included), so a
/// waiting worker does this at once.
pub(crate) fn copy_shared_until(arrived: impl Fn(Duration) -> bool) {
    let start = HEAP_START.load(Ordering::Relaxed);
    // SAFETY: sbrk(0) only reads the current end of the heap.
    let end = unsafe { libc::sbrk(0) } as usize;
    if start != 0 && end > start {
        let (start, end) = whole_pages(start, end - start, PAGE_BYTES);
        // SAFETY: the heap's own pages; populating writes nothing to them.
        unsafe { populate(start, end, &arrived) };
    }
}

/// Faults [`FAULT_IN_BYTES`] of free heap in, piece by piece, until `arrived` says the code
/// is in, in huge pages where it can. Best effort: on a kernel without
/// `MADV_POPULATE_WRITE` (before 5.14) nothing is faulted in, and without transparent huge
/// pages the pages stay small.
pub(crate) fn fault_in_until(arrived: impl Fn(Duration) -> bool) {
    // SAFETY: a block of our own, given back at once (it stays in this thread's heap, see
    // `tune_malloc`); populating free heap writes nothing to it.
    unsafe {
        let block = libc::malloc(FAULT_IN_BYTES);
        if block.is_null() {
            return;
        }
        libc::free(block);
        let (start, end) = whole_pages(block as usize, FAULT_IN_BYTES, PAGE_BYTES);
        let (huge_start, huge_end) = whole_pages(block as usize, FAULT_IN_BYTES, HUGE_PAGE_BYTES);
        if huge_end > huge_start {
            // Refused where transparent huge pages are off: then the pages stay small.
            libc::madvise(
                huge_start as *mut libc::c_void,
                huge_end - huge_start,
                libc::MADV_HUGEPAGE,
            );
        }
        populate(start, end, &arrived);
    }
}

/// Maps `[start, end)` (whole pages of this process's heap) writable, piece by piece,
/// until `arrived`.
///
/// # Safety
/// The range must be mapped private memory of this process.
unsafe fn populate(start: usize, end: usize, arrived: &impl Fn(Duration) -> bool) {
    let mut piece = start;
    while piece < end && !arrived(Duration::ZERO) {
        let length = PIECE_BYTES.min(end - piece);
        if libc::madvise(
            piece as *mut libc::c_void,
            length,
            libc::MADV_POPULATE_WRITE,
        ) != 0
        {
            return;
        }
        piece += length;
    }
}

/// The start and end of the whole `page`-sized pages within `bytes` from `from`.
fn whole_pages(from: usize, bytes: usize, page: usize) -> (usize, usize) {
    (from.div_ceil(page) * page, (from + bytes) / page * page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn populates() -> bool {
        let page = vec![0u8; 2 * PAGE_BYTES];
        let start = (page.as_ptr() as usize).div_ceil(PAGE_BYTES) * PAGE_BYTES;
        // SAFETY: one page inside a live buffer; populating writes nothing.
        unsafe {
            libc::madvise(
                start as *mut libc::c_void,
                PAGE_BYTES,
                libc::MADV_POPULATE_WRITE,
            ) == 0
        }
    }

    #[test]
    fn faulting_in_leaves_memory_as_it_was_and_stops_when_the_code_comes() {
        tune_malloc();
        let kept: Vec<u64> = (0..1 << 16).collect();
        let looks = Cell::new(0);
        fault_in_until(|_| {
            looks.set(looks.get() + 1);
            false
        });
        // One look per piece until the stretch is in (on a kernel that can populate; an
        // older one stops after the first piece).
        if populates() {
            assert!(
                looks.get() > FAULT_IN_BYTES / PIECE_BYTES / 2,
                "{}",
                looks.get()
            );
        }
        assert!(kept.iter().enumerate().all(|(i, &v)| v == i as u64));

        let looks = Cell::new(0);
        fault_in_until(|_| {
            looks.set(looks.get() + 1);
            looks.get() > 2
        });
        assert_eq!(looks.get(), 3, "stops at the first look that sees the code");
    }

    #[test]
    fn copying_the_shared_heap_stops_when_the_code_comes() {
        note_heap_start();
        assert_ne!(
            HEAP_START.load(Ordering::Relaxed),
            0,
            "no [heap] in /proc/self/maps"
        );
        let looks = Cell::new(0);
        copy_shared_until(|_| {
            looks.set(looks.get() + 1);
            false
        });
        assert!(looks.get() >= 1);
        let looks = Cell::new(0);
        copy_shared_until(|_| {
            looks.set(looks.get() + 1);
            true
        });
        assert_eq!(looks.get(), 1, "stops at the first look that sees the code");
    }

    #[test]
    fn only_a_worker_left_waiting_is_idle() {
        let waited = Cell::new(Duration::ZERO);
        assert!(idle(|wait| {
            waited.set(wait);
            false
        }));
        assert_eq!(waited.get(), IDLE_FIRST);
        assert!(!idle(|_| true), "a worker taken at once faults nothing in");
    }
}
