//! A name and a value packed into one heap block behind an 8-byte pointer: one field of a
//! hash in its table form.
//!
//! Why: a big hash holds a pair per field. As two boxed slices it cost a 32-byte table slot
//! and two allocations per field (about 1.45x redis-server's memory per field). One block
//! makes the slot 8 bytes and the allocator overhead one rounding instead of two.
//!
//! Block layout (byte-aligned; nothing in it needs alignment):
//!
//! | bytes | field |
//! |---|---|
//! | 0.. | name length (LEB128), then the name |
//! | .. | value length (LEB128), then the value |
//!
//! The name comes first so that replacing the value keeps the block's prefix in place and
//! needs one `realloc`. Lengths are not stored elsewhere: the block's size is recomputed from
//! its two varints when it is reallocated or freed. All unsafe code of the layout is here.

use std::alloc::{self, Layout};
use std::ptr::{self, NonNull};

use super::entry::{get_varint, put_varint};
use super::packed::varint_len;

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 1).expect("pair size fits a layout")
}

/// An owning pointer to a packed (name, value) block.
pub(super) struct PairBlock {
    block: NonNull<u8>,
}

// SAFETY: a PairBlock owns its block exclusively, like a Box<[u8]>, and has no interior
// mutability: `&self` only reads it.
unsafe impl Send for PairBlock {}
unsafe impl Sync for PairBlock {}

/// Where the parts of a block lie.
struct Spots {
    name_len: usize,
    name: usize,
    /// Start of the value's length varint: the end of the part a value change keeps.
    value_at: usize,
}

impl PairBlock {
    pub(super) fn new(name: &[u8], value: &[u8]) -> PairBlock {
        let value_at = varint_len(name.len()) + name.len();
        let size = value_at + varint_len(value.len()) + value.len();
        // SAFETY: `size` is at least 2 (two varints), so the layout is not zero-sized; every
        // byte of the block is written below, within `size`.
        unsafe {
            let p = alloc::alloc(layout(size));
            let Some(block) = NonNull::new(p) else {
                alloc::handle_alloc_error(layout(size));
            };
            let n = put_varint(p, name.len());
            ptr::copy_nonoverlapping(name.as_ptr(), p.add(n), name.len());
            write_value(p.add(value_at), value);
            PairBlock { block }
        }
    }

    fn ptr(&self) -> *mut u8 {
        self.block.as_ptr()
    }

    fn spots(&self) -> Spots {
        // SAFETY: every block starts with the name's length varint.
        let (name_len, n) = unsafe { get_varint(self.ptr()) };
        Spots {
            name_len,
            name: n,
            value_at: n + name_len,
        }
    }

    /// The value's length and the size of its varint.
    fn value_head(&self, value_at: usize) -> (usize, usize) {
        // SAFETY: the value's length varint starts right after the name.
        unsafe { get_varint(self.ptr().add(value_at)) }
    }

    /// The block's size in bytes, as it was allocated.
    pub(super) fn size(&self) -> usize {
        let at = self.spots().value_at;
        let (len, n) = self.value_head(at);
        at + n + len
    }

    /// Starts loading the block (its name first) into the cache.
    #[inline]
    pub(super) fn prefetch(&self) {
        crate::util::prefetch(self.ptr());
    }

    pub(super) fn name(&self) -> &[u8] {
        let s = self.spots();
        // SAFETY: the name's bytes lie at `s.name` for `s.name_len` bytes, borrowed with `&self`.
        unsafe { std::slice::from_raw_parts(self.ptr().add(s.name), s.name_len) }
    }

    pub(super) fn value(&self) -> &[u8] {
        let at = self.spots().value_at;
        let (len, n) = self.value_head(at);
        // SAFETY: the value's bytes follow its varint for `len` bytes, borrowed with `&self`.
        unsafe { std::slice::from_raw_parts(self.ptr().add(at + n), len) }
    }

    /// Replaces the value in place: the block is reallocated to its new size, keeping the name.
    pub(super) fn set_value(&mut self, value: &[u8]) {
        let at = self.spots().value_at;
        let old = self.size();
        let new = at + varint_len(value.len()) + value.len();
        // SAFETY: `old` is the block's size; the prefix up to `at` (the name) is kept by the
        // realloc and the value is rewritten whole within `new`. `value` cannot point into the
        // block: `&mut self` excludes any borrow of it.
        unsafe {
            self.resize(old, new);
            write_value(self.ptr().add(at), value);
        }
    }

    /// Reallocates the block from `old` to `new` bytes, keeping the common prefix.
    ///
    /// # Safety
    /// `old` must be the block's current size; `new` must not be zero.
    unsafe fn resize(&mut self, old: usize, new: usize) {
        if old == new {
            return;
        }
        // SAFETY: the block was allocated with `layout(old)`.
        let p = unsafe { alloc::realloc(self.ptr(), layout(old), new) };
        match NonNull::new(p) {
            Some(block) => self.block = block,
            None => alloc::handle_alloc_error(layout(new)),
        }
    }
}

/// Writes `value`'s length varint and bytes at `p`.
///
/// # Safety
/// `p` must be valid for `varint_len(value.len()) + value.len()` bytes of writes, none of
/// them overlapping `value`.
unsafe fn write_value(p: *mut u8, value: &[u8]) {
    unsafe {
        let n = put_varint(p, value.len());
        ptr::copy_nonoverlapping(value.as_ptr(), p.add(n), value.len());
    }
}

impl Clone for PairBlock {
    /// A deep copy: a new block with the same bytes (COPY and snapshots clone whole hashes).
    fn clone(&self) -> Self {
        let size = self.size();
        // SAFETY: a fresh allocation of the same non-zero size, filled with a copy of all
        // `size` bytes of this block; the two never overlap.
        unsafe {
            let p = alloc::alloc(layout(size));
            let Some(block) = NonNull::new(p) else {
                alloc::handle_alloc_error(layout(size));
            };
            ptr::copy_nonoverlapping(self.ptr(), p, size);
            PairBlock { block }
        }
    }
}

impl Drop for PairBlock {
    fn drop(&mut self) {
        let size = self.size();
        // SAFETY: the block was allocated (or last reallocated) with `layout(size)`; this is
        // its last use.
        unsafe { alloc::dealloc(self.ptr(), layout(size)) };
    }
}

impl std::fmt::Debug for PairBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PairBlock")
            .field("name", &String::from_utf8_lossy(self.name()))
            .field("value", &String::from_utf8_lossy(self.value()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_short_pair_is_one_small_block() {
        let p = PairBlock::new(b"f:00000001", b"v:00000001");
        // 1 + 10 + 1 + 10: mimalloc's 24-byte class, behind an 8-byte pointer.
        assert_eq!(p.size(), 22);
        assert_eq!(size_of::<PairBlock>(), 8);
        assert_eq!(size_of::<Option<PairBlock>>(), 8);
        let empty = PairBlock::new(b"", b"");
        assert_eq!((empty.name(), empty.value(), empty.size()), (&b""[..], &b""[..], 2));
    }

    /// What a test step does to the pairs under test.
    #[derive(Clone, Debug)]
    enum Step {
        /// Replaces the value of the pair at this index.
        Set(usize, Vec<u8>),
        /// Appends a clone of the pair at this index.
        Clone(usize),
        /// Drops the pair at this index (when more than one is left).
        Drop(usize),
    }

    /// Byte strings around the one- and two-byte varint limit (127/128) and a few beyond.
    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..20),
            proptest::collection::vec(any::<u8>(), 120..140),
            proptest::collection::vec(any::<u8>(), 0..400),
            (16_380usize..16_390).prop_map(|n| vec![b'x'; n]),
        ]
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (any::<usize>(), bytes()).prop_map(|(i, v)| Step::Set(i, v)),
            1 => any::<usize>().prop_map(Step::Clone),
            1 => any::<usize>().prop_map(Step::Drop),
        ]
    }

    proptest! {
        /// Pairs and their clones behave as independent (name, value) vectors.
        #[test]
        fn pairs_match_a_plain_model(
            name in bytes(),
            value in bytes(),
            steps in proptest::collection::vec(step(), 1..30),
        ) {
            let mut pairs = vec![PairBlock::new(&name, &value)];
            let mut model = vec![(name, value)];
            for s in steps {
                match s {
                    Step::Set(i, v) => {
                        let i = i % pairs.len();
                        pairs[i].set_value(&v);
                        model[i].1 = v;
                    }
                    Step::Clone(i) => {
                        let i = i % pairs.len();
                        pairs.push(pairs[i].clone());
                        model.push(model[i].clone());
                    }
                    Step::Drop(i) if pairs.len() > 1 => {
                        let i = i % pairs.len();
                        pairs.remove(i);
                        model.remove(i);
                    }
                    Step::Drop(_) => {}
                }
                prop_assert_eq!(pairs.len(), model.len());
                for (p, (n, v)) in pairs.iter().zip(&model) {
                    prop_assert_eq!(p.name(), &n[..]);
                    prop_assert_eq!(p.value(), &v[..]);
                    prop_assert_eq!(p.size(), varint_len(n.len()) + n.len() + varint_len(v.len()) + v.len());
                }
            }
        }
    }
}
