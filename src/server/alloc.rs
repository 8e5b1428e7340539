//! The process's allocator: mimalloc, counting the bytes the process holds.
//!
//! Why: `maxmemory` and INFO's `used_memory` are about what the data takes, as redis-server
//! counts it with its allocator, not about the resident size, which lags every free by the
//! allocator's purge delay and counts pages only partly used. Each thread adds and subtracts
//! on a counter of its own (a plain load and store, no shared cache line written by two
//! cores), and a reader sums them. A block freed on another thread than the one that made it
//! lowers that other thread's counter: single counters can go below zero, their sum cannot.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

use mimalloc::MiMalloc;

/// Threads with a counter of their own; later threads share the last one (atomically).
const COUNTERS: usize = 256;
const SHARED: usize = COUNTERS - 1;

/// One thread's counter, alone on its cache lines.
#[repr(align(128))]
struct Counter(AtomicIsize);

static HELD: [Counter; COUNTERS] = [const { Counter(AtomicIsize::new(0)) }; COUNTERS];
/// Counters handed out so far.
static CLAIMED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's counter (`usize::MAX` until its first allocation). A const, drop-free
    /// thread-local: reading it never allocates, so the allocator may use it.
    static MINE: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// mimalloc with a byte count (install it as the `#[global_allocator]`).
pub struct CountingMimalloc;

#[inline]
fn count(delta: isize) {
    let index = MINE
        .try_with(|mine| {
            let index = mine.get();
            if index != usize::MAX {
                return index;
            }
            let index = CLAIMED.fetch_add(1, Ordering::Relaxed).min(SHARED);
            mine.set(index);
            index
        })
        // A thread's last frees, after its thread-locals are gone, go to the shared counter.
        .unwrap_or(SHARED);
    let counter = &HELD[index].0;
    if index == SHARED {
        counter.fetch_add(delta, Ordering::Relaxed);
    } else {
        // Only this thread writes its own counter: no read-modify-write needed.
        counter.store(counter.load(Ordering::Relaxed) + delta, Ordering::Relaxed);
    }
}

// SAFETY: every call is passed to mimalloc unchanged; only the byte count is added.
unsafe impl GlobalAlloc for CountingMimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { MiMalloc.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { MiMalloc.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { MiMalloc.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { MiMalloc.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Bytes the process holds from the allocator now (0 in a program that does not install
/// [`CountingMimalloc`]). Each counter is read once, so a reader running alongside busy
/// threads sees a sum a few allocations old, which is all INFO and eviction need.
pub fn used_bytes() -> u64 {
    let own = CLAIMED.load(Ordering::Relaxed).min(SHARED);
    let sum: isize = HELD[..own]
        .iter()
        .chain(std::iter::once(&HELD[SHARED]))
        .map(|c| c.0.load(Ordering::Relaxed))
        .sum();
    sum.max(0) as u64
}

/// The net bytes this thread has allocated (what it freed of others' included): its own
/// counter, read without touching any other core's cache line. A thread sharing the last
/// counter (past the first 255) reads the shared sum.
pub fn this_thread_bytes() -> isize {
    let index = MINE.try_with(Cell::get).unwrap_or(SHARED);
    HELD[index.min(SHARED)].0.load(Ordering::Relaxed)
}
