//! The worker's C heap, faulted in ahead while a worker that nobody wanted yet waits.
//!
//! A fresh process pays a page fault for every heap page it first touches: for a snippet
//! that parses 700 KB of orders and builds 10,000 objects, a tenth of its CPU time. A warm
//! worker that has waited 20 ms without being taken is on a machine with time
//! to spare, so it faults a stretch of its heap in then, a piece at a time, and stops at
//! once when its code arrives ([`fault_in_until`]). A worker taken at once (a busy pool)
//! never does: it costs throughput nothing. The stretch is marked for transparent huge
//! pages where the kernel offers them (`MADV_HUGEPAGE`): faulting 12 MiB in then takes about
//! 1.2 ms instead of 5.5 ms on a 2-core VM, so a worker warming up beside a running
//! execution takes that much less from it (100 sequential tool calls, which hand the CPU
//! between three processes, were 10-25% slower beside the small-page version), and the
//! snippet's heap then misses the TLB less.
//!
//! Runs on the execution's own thread, before it reads the code: that thread's malloc
//! arena is the one the snippet will allocate from, and no other thread holds the memory
//! map's lock meanwhile. This must never change what memory holds: `MADV_POPULATE_WRITE`
//! maps pages as a write would, without writing.

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

/// Waits up to [`IDLE_FIRST`] for `arrived`; if nothing came, faults [`FAULT_IN_BYTES`]
/// of free heap in, piece by piece, until `arrived` says the code is in, in huge pages where
/// it can. Best effort: on a kernel without `MADV_POPULATE_WRITE` (before 5.14) nothing is
/// faulted in, and without transparent huge pages the pages stay small.
pub(crate) fn fault_in_until(arrived: impl Fn(Duration) -> bool) {
    if arrived(IDLE_FIRST) {
        return;
    }
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
        // The first look waits, then one look per piece until the stretch is in (on a
        // kernel that can populate; an older one stops after the first piece).
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

        let looks = Cell::new(0);
        fault_in_until(|_| {
            looks.set(looks.get() + 1);
            true
        });
        assert_eq!(looks.get(), 1, "a worker taken at once faults nothing in");
    }
}
