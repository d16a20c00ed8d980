//! The JavaScript heap's allocator: the C allocator, with a hard cap and a peak gauge.
//!
//! QuickJS's own memory limit cannot report a peak, and a peak per execution is what the
//! memory target is measured by, so the accounting lives here.

use std::cell::Cell;
use std::rc::Rc;

use rquickjs::allocator::Allocator;

/// Shared view of the heap's accounting, readable after the runtime is gone.
#[derive(Debug)]
pub(crate) struct HeapGauge {
    /// Bytes the heap and the host bytes may take together. Unbounded while the sandbox
    /// prepares its own runtime and prelude; the execution's limit once its job arrives.
    pub limit: Cell<usize>,
    pub used: Cell<usize>,
    pub peak: Cell<usize>,
    /// Bytes the execution holds outside the heap, on the Rust side of the bridge (tool
    /// call arguments queued or in flight): they count against the same limit.
    pub host: Cell<usize>,
    /// Set when an allocation was refused: the snippet ran out of memory.
    pub refused: Cell<bool>,
}

impl Default for HeapGauge {
    fn default() -> Self {
        HeapGauge {
            limit: Cell::new(usize::MAX),
            used: Cell::default(),
            peak: Cell::default(),
            host: Cell::default(),
            refused: Cell::default(),
        }
    }
}

pub(crate) struct LimitedAllocator {
    gauge: Rc<HeapGauge>,
}

impl LimitedAllocator {
    pub fn new(gauge: Rc<HeapGauge>) -> Self {
        LimitedAllocator { gauge }
    }

    fn admit(&self, extra: usize) -> bool {
        let wanted = self
            .gauge
            .used
            .get()
            .saturating_add(self.gauge.host.get())
            .saturating_add(extra);
        if wanted > self.gauge.limit.get() {
            self.gauge.refused.set(true);
            return false;
        }
        true
    }

    fn record(&self, before: usize, after: usize) {
        let used = self.gauge.used.get() - before + after;
        self.gauge.used.set(used);
        self.gauge.note_peak();
    }
}

impl HeapGauge {
    /// Takes `bytes` held outside the heap out of the budget `limit`; false (nothing taken)
    /// when heap and host bytes together would pass it.
    pub fn reserve_host(&self, bytes: usize, limit: usize) -> bool {
        if !self.fits(bytes, limit) {
            return false;
        }
        self.host.set(self.host.get() + bytes);
        self.note_peak();
        true
    }

    /// Whether `bytes` more would stay within `limit`, heap and host bytes together.
    pub fn fits(&self, bytes: usize, limit: usize) -> bool {
        self.used
            .get()
            .saturating_add(self.host.get())
            .saturating_add(bytes)
            <= limit
    }

    /// Gives back what [`Self::reserve_host`] took.
    pub fn release_host(&self, bytes: usize) {
        self.host.set(self.host.get().saturating_sub(bytes));
    }

    fn note_peak(&self) {
        let total = self.used.get() + self.host.get();
        if total > self.peak.get() {
            self.peak.set(total);
        }
    }
}

// SAFETY: every pointer handed out comes from the C allocator, which aligns to at least
// `usize`; sizes are tracked with `malloc_usable_size`, the same figure QuickJS uses.
unsafe impl Allocator for LimitedAllocator {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        if !self.admit(size) {
            return std::ptr::null_mut();
        }
        // SAFETY: plain C allocation; a null result is passed on to QuickJS as OOM.
        let ptr = unsafe { libc::malloc(size.max(1)) } as *mut u8;
        if !ptr.is_null() {
            // SAFETY: `ptr` was just returned by malloc.
            self.record(0, unsafe { Self::usable_size(ptr) });
        }
        ptr
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let Some(total) = count.checked_mul(size) else {
            return std::ptr::null_mut();
        };
        if !self.admit(total) {
            return std::ptr::null_mut();
        }
        // SAFETY: plain C allocation.
        let ptr = unsafe { libc::calloc(count.max(1), size.max(1)) } as *mut u8;
        if !ptr.is_null() {
            // SAFETY: `ptr` was just returned by calloc.
            self.record(0, unsafe { Self::usable_size(ptr) });
        }
        ptr
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        if ptr.is_null() {
            return;
        }
        // SAFETY: the caller guarantees `ptr` came from this allocator.
        let size = unsafe { Self::usable_size(ptr) };
        self.record(size, 0);
        // SAFETY: as above.
        unsafe { libc::free(ptr as *mut libc::c_void) };
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        if ptr.is_null() {
            return self.alloc(new_size);
        }
        // SAFETY: the caller guarantees `ptr` came from this allocator.
        let old = unsafe { Self::usable_size(ptr) };
        if new_size > old && !self.admit(new_size - old) {
            return std::ptr::null_mut();
        }
        // SAFETY: as above; on failure the old block stays valid and accounted.
        let new_ptr =
            unsafe { libc::realloc(ptr as *mut libc::c_void, new_size.max(1)) } as *mut u8;
        if !new_ptr.is_null() {
            // SAFETY: `new_ptr` was just returned by realloc.
            self.record(old, unsafe { Self::usable_size(new_ptr) });
        }
        new_ptr
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        // SAFETY: the caller guarantees `ptr` is a live C allocation.
        unsafe { libc::malloc_usable_size(ptr as *mut libc::c_void) }
    }
}
