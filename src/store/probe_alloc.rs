//! The allocator of a table segment, which remembers where the segment's buckets are so that a
//! batch can prefetch a key's probe before it reads anything of the table.
//!
//! Why: looking a key up reads three things one after another (the segment's header in the
//! directory, the control bytes at the key's probe position, the slot there), and each is a
//! cache miss on a big keyspace. `hashbrown` does not tell where its control bytes are, but its
//! one allocation holds the slots followed by the control bytes, so the allocator that handed
//! out the block can compute both addresses from the block and its size. A batch then issues
//! those prefetches for all of its keys before it walks any probe.
//!
//! Only prefetch hints are computed from this: if a `hashbrown` release laid its block out
//! differently the hints would miss (`layout_matches_hashbrown` would fail), nothing else.

use std::alloc::Layout;
use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr::NonNull;

use allocator_api2::alloc::{AllocError, Allocator, Global};

/// `hashbrown`'s control group width on x86_64 (SSE2); the control bytes end with one
/// group's worth of padding past the last bucket.
const GROUP_WIDTH: usize = 16;

/// A segment's allocator: the global one, plus where the current block's control bytes start
/// and the bucket mask (both 0 while the segment has no block).
pub struct ProbeAlloc<E> {
    ctrl: Cell<usize>,
    mask: Cell<usize>,
    slot: PhantomData<fn() -> E>,
}

impl<E> Default for ProbeAlloc<E> {
    fn default() -> Self {
        ProbeAlloc {
            ctrl: Cell::new(0),
            mask: Cell::new(0),
            slot: PhantomData,
        }
    }
}

/// A clone starts out knowing nothing: it belongs to another table, whose block it will
/// record when that table allocates.
impl<E> Clone for ProbeAlloc<E> {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl<E> ProbeAlloc<E> {
    const SLOT: usize = size_of::<E>();

    /// Prefetches the control bytes and the first slots a lookup of `hash` (the hash
    /// `hashbrown` sees) probes first.
    #[inline]
    pub fn prefetch_probe(&self, hash: u64) {
        let ctrl = self.ctrl.get();
        if ctrl == 0 {
            return;
        }
        let pos = hash as usize & self.mask.get();
        crate::util::prefetch((ctrl + pos) as *const u8);
        // Slots lie below the control bytes, bucket i at `ctrl - (i + 1) * SLOT`; a key sits
        // at or a few buckets after its probe position.
        let first = ctrl.wrapping_sub((pos + 1) * Self::SLOT);
        crate::util::prefetch(first as *const u8);
        crate::util::prefetch(first.wrapping_sub(4 * Self::SLOT) as *const u8);
    }

    /// The bucket count of a block of `size` bytes laid out as `hashbrown` does:
    /// slots (rounded up to the group width), then one control byte per bucket plus a group.
    fn buckets_in(size: usize) -> Option<usize> {
        let mut buckets = 1usize;
        while buckets <= size {
            let ctrl_offset = (buckets * Self::SLOT).next_multiple_of(GROUP_WIDTH);
            if ctrl_offset + buckets + GROUP_WIDTH == size {
                return Some(buckets);
            }
            buckets *= 2;
        }
        None
    }
}

// SAFETY: every block comes from, and goes back to, the global allocator unchanged; the
// cells only record addresses.
unsafe impl<E> Allocator for ProbeAlloc<E> {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let block = Global.allocate(layout)?;
        match Self::buckets_in(layout.size()) {
            Some(buckets) => {
                let ctrl_offset = (buckets * Self::SLOT).next_multiple_of(GROUP_WIDTH);
                self.ctrl.set(block.as_ptr() as *mut u8 as usize + ctrl_offset);
                self.mask.set(buckets - 1);
            }
            None => self.ctrl.set(0),
        }
        Ok(block)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // A table that grows allocates its new block before it frees the old one; only the
        // block the addresses point into is forgotten.
        let start = ptr.as_ptr() as usize;
        if (start..start + layout.size()).contains(&self.ctrl.get()) {
            self.ctrl.set(0);
        }
        // SAFETY: the block came from `Global.allocate` with this layout (see `allocate`).
        unsafe { Global.deallocate(ptr, layout) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hashbrown::HashTable;

    /// Checks the layout assumption against `hashbrown` itself: every entry must sit in a
    /// bucket reached from its hash's probe position, with its hash's tag in the control byte.
    #[test]
    fn layout_matches_hashbrown() {
        let hash = |v: u64| v.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut t: HashTable<u64, ProbeAlloc<u64>> = HashTable::new_in(ProbeAlloc::default());
        assert_eq!(t.allocator().ctrl.get(), 0);
        for v in 0..1000u64 {
            t.insert_unique(hash(v), v, |v| hash(*v));
            let (ctrl, mask) = (t.allocator().ctrl.get(), t.allocator().mask.get());
            assert_ne!(ctrl, 0, "growing to {} entries left no block recorded", v + 1);
            assert!(mask + 1 >= t.len());
        }
        let (ctrl, mask) = (t.allocator().ctrl.get(), t.allocator().mask.get());
        for slot in t.iter() {
            let bucket = (ctrl - slot as *const u64 as usize) / 8 - 1;
            assert!(bucket <= mask);
            let h = hash(*slot);
            // The probe visits groups from `h & mask`; with this load the first few do.
            let distance = bucket.wrapping_sub(h as usize & mask) & mask;
            assert!(distance < 8 * GROUP_WIDTH, "bucket {bucket} is far from its probe");
            // SAFETY: `bucket <= mask`, so its control byte lies inside the table's block.
            let tag = unsafe { *((ctrl + bucket) as *const u8) };
            assert_eq!(tag, (h >> 57) as u8, "control byte is not the entry's tag");
        }
        t.clear();
        t.shrink_to_fit(|v| hash(*v));
        assert_eq!(t.allocator().ctrl.get(), 0, "a freed block is still recorded");
    }

    #[test]
    fn bucket_counts_from_block_sizes() {
        for buckets in [4usize, 8, 16, 128, 1 << 20] {
            let size = (buckets * 8).next_multiple_of(16) + buckets + 16;
            assert_eq!(ProbeAlloc::<u64>::buckets_in(size), Some(buckets));
        }
        assert_eq!(ProbeAlloc::<u64>::buckets_in(100), None);
    }
}
