//! A hash table that grows by linear hashing over fixed-size segments.
//!
//! Why not one big `HashMap`: a whole-table rehash is a long pause, and its iteration order
//! changes when it grows, so a cursor (SCAN now, incremental snapshots later) could miss
//! entries. Here the table is a directory of small `hashbrown` segments. Growing splits one
//! segment at a time, moving part of its entries into a segment **appended at the end**; so a
//! cursor that walks segment indexes in order never misses an entry that lived in the table for
//! the whole walk (it may see one twice, which SCAN allows).
//!
//! Addressing: with `level` L and split pointer `p`, a hash `h` lives in segment `h mod 2^L`,
//! or `h mod 2^(L+1)` when that is below `p` (already split this round).

use hashbrown::HashTable;

/// One segment: a small `hashbrown` table.
type Segment<E> = HashTable<E>;

/// Average entries per segment that triggers a split. Small enough that SCAN, which returns
/// whole segments, stays close to its COUNT; large enough that the directory stays small.
const SPLIT_LOAD: usize = 48;

/// What the table needs from an entry: its hash, recomputed when entries move.
pub trait Hashed {
    fn hash(&self) -> u64;
}

/// The hash a segment's `hashbrown` table sees. A segment is picked by the low bits of the
/// key's hash, and a shard by bits 32 and up, so inside one segment of one shard those bits are
/// the same for every entry. `hashbrown` starts its probe at the low bits and filters by the
/// top seven: handed the raw hash, every entry of a segment would start at the same bucket.
/// Rotated, both come from bits that still differ (48 and up, and 41..48).
#[inline]
fn in_segment(hash: u64) -> u64 {
    hash.rotate_left(16)
}

fn rehash<E: Hashed>(e: &E) -> u64 {
    in_segment(e.hash())
}

/// How many lookups one `prefetch_many` call prepares; a batch's hashes wait on the stack.
pub const PREFETCH_BATCH: usize = 32;

/// Up to `PREFETCH_BATCH` hashes of a batch's keys or members, for `prefetch_many`.
pub struct BatchHashes {
    hashes: [u64; PREFETCH_BATCH],
    len: usize,
}

impl BatchHashes {
    pub fn new() -> Self {
        BatchHashes {
            hashes: [0; PREFETCH_BATCH],
            len: 0,
        }
    }

    /// Adds a hash; false (and nothing added) when full.
    pub fn push(&mut self, hash: u64) -> bool {
        if self.len == PREFETCH_BATCH {
            return false;
        }
        self.hashes[self.len] = hash;
        self.len += 1;
        true
    }

    pub fn is_full(&self) -> bool {
        self.len == PREFETCH_BATCH
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl Default for BatchHashes {
    fn default() -> Self {
        Self::new()
    }
}

impl std::ops::Deref for BatchHashes {
    type Target = [u64];
    fn deref(&self) -> &[u64] {
        &self.hashes[..self.len]
    }
}

/// The hashes of the first `PREFETCH_BATCH` of `items`.
pub fn hashes_of(items: &[&[u8]], hash: impl Fn(&[u8]) -> u64) -> BatchHashes {
    let mut out = BatchHashes::new();
    for item in items {
        if !out.push(hash(item)) {
            break;
        }
    }
    out
}

/// The address of the control bytes of the table holding `entry` in `bucket`.
///
/// Why it matters: a lookup reads the segment's header, then the control bytes at the key's
/// probe position, then the slot there, each a cache miss on a big keyspace and each needing
/// the one before, so a prefetch that walks the probe stalls on all three. `hashbrown` lays a
/// table out as slots counted down from the control bytes (bucket `i` at `ctrl - (i + 1) *
/// size`) and reports an entry's bucket, so an entry and its bucket give the address.
fn ctrl_from<E>(entry: &E, bucket: usize) -> usize {
    entry as *const E as usize + (bucket + 1) * size_of::<E>()
}

/// The header words `header_word` reads are `hashbrown` 0.17's four: the control-byte
/// pointer, the bucket mask, the growth left and the item count, with no padding between. A
/// `hashbrown` release whose header differs stops the build here, to be checked again.
const _: () = assert!(size_of::<HashTable<u64>>() == 4 * size_of::<usize>());

/// Word `k` of a segment's header (the `hashbrown` table struct, all pointer-sized fields).
fn header_word<E>(table: &Segment<E>, k: usize) -> usize {
    debug_assert!(k < size_of::<Segment<E>>() / size_of::<usize>());
    // SAFETY: `k` is within the struct, whose words are all initialized integers or pointers;
    // the value is only compared and used for prefetch hints, never dereferenced.
    unsafe { (table as *const Segment<E>).cast::<usize>().add(k).read_unaligned() }
}

/// Which header word holds `ctrl`, the control-byte address an insert just showed: the
/// header keeps it, and reading it there costs no memory per segment and no extra miss (the
/// first prefetch pass brings the header in). None when no word matches (a `hashbrown`
/// layout this does not expect), and the prefetch then skips that pass.
fn ctrl_word_of<E>(table: &Segment<E>, ctrl: usize) -> Option<u8> {
    (0..size_of::<Segment<E>>() / size_of::<usize>())
        .find(|&k| header_word(table, k) == ctrl)
        .map(|k| k as u8)
}

/// What [`SegTable::find_mut_or_remove_if`] found.
pub enum Probe<'a, E> {
    Found(&'a mut E),
    Removed(E),
    Missing,
}

pub struct SegTable<E> {
    segments: Vec<Segment<E>>,
    /// Which word of a segment's `hashbrown` header holds the address of its control bytes,
    /// once an insert has shown it (for `prefetch_many`; see `ctrl_word_of`).
    ctrl_word: Option<u8>,
    level: u32,
    split: usize,
    len: usize,
}

impl<E: Hashed> Default for SegTable<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Hashed> SegTable<E> {
    pub fn new() -> Self {
        SegTable {
            segments: vec![HashTable::new()],
            ctrl_word: None,
            level: 0,
            split: 0,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of segments: the exclusive upper bound of a segment cursor.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// The segment that holds (or would hold) an entry with `hash`.
    pub fn segment_of(&self, hash: u64) -> usize {
        let low = (hash & ((1u64 << self.level) - 1)) as usize;
        if low < self.split {
            (hash & ((1u64 << (self.level + 1)) - 1)) as usize
        } else {
            low
        }
    }

    pub fn find(&self, hash: u64, eq: impl FnMut(&E) -> bool) -> Option<&E> {
        self.segments[self.segment_of(hash)].find(in_segment(hash), eq)
    }

    /// Walks the probe of `hash` without comparing keys, handing each candidate to `touch`
    /// (which prefetches what it points to). Run over a batch's keys before the batch runs, it
    /// brings the probes' slots and the candidates' memory into the cache together.
    pub fn prefetch(&self, hash: u64, mut touch: impl FnMut(&E)) {
        let _ = self.find(hash, |e| {
            touch(e);
            false
        });
    }

    /// Prefetches, in three passes over a batch's hashes, what looking each of them up will
    /// read: the segments' headers, then the control bytes and first slots of each probe,
    /// then (walking the probes, cached by now) each candidate through `touch`. Each pass
    /// issues all its loads before the next pass waits on any of them.
    pub fn prefetch_many(&self, hashes: &[u64], mut touch: impl FnMut(&E)) {
        if hashes.len() < 2 {
            if let Some(&h) = hashes.first() {
                self.prefetch(h, touch);
            }
            return;
        }
        for &h in hashes {
            crate::util::prefetch(&self.segments[self.segment_of(h)]);
        }
        if let Some(word) = self.ctrl_word {
            for &h in hashes {
                let seg = &self.segments[self.segment_of(h)];
                if seg.num_buckets() > 1 {
                    let ctrl = header_word(seg, word.into());
                    let pos = in_segment(h) as usize & (seg.num_buckets() - 1);
                    crate::util::prefetch((ctrl + pos) as *const u8);
                    // A key sits at or a few buckets after its probe position.
                    let slot = ctrl.wrapping_sub((pos + 1) * size_of::<E>());
                    crate::util::prefetch(slot as *const u8);
                    crate::util::prefetch(slot.wrapping_sub(4 * size_of::<E>()) as *const u8);
                }
            }
        }
        for &h in hashes {
            self.prefetch(h, &mut touch);
        }
    }

    pub fn find_mut(&mut self, hash: u64, eq: impl FnMut(&E) -> bool) -> Option<&mut E> {
        let seg = self.segment_of(hash);
        self.segments[seg].find_mut(in_segment(hash), eq)
    }

    /// Inserts an entry known not to be present.
    pub fn insert_new(&mut self, hash: u64, entry: E) -> &mut E {
        self.grow_for_one_more();
        let seg = self.segment_of(hash);
        self.len += 1;
        let inserted = self.segments[seg].insert_unique(in_segment(hash), entry, rehash);
        Self::settle(&mut self.ctrl_word, inserted)
    }

    /// The entry `eq` selects, or a new one from `create` when there is none, in one probe
    /// (an update of an existing key would otherwise look it up twice). True when inserted.
    pub fn find_or_insert_with(
        &mut self,
        hash: u64,
        eq: impl FnMut(&E) -> bool,
        create: impl FnOnce() -> E,
    ) -> (&mut E, bool) {
        // Growing first keeps the absent slot valid; for a key that turns out to be there it
        // only splits one insert early.
        self.grow_for_one_more();
        let seg = self.segment_of(hash);
        match self.segments[seg].find_entry(in_segment(hash), eq) {
            Ok(found) => (found.into_mut(), false),
            Err(absent) => {
                self.len += 1;
                let inserted = absent.into_table().insert_unique(in_segment(hash), create(), rehash);
                (Self::settle(&mut self.ctrl_word, inserted), true)
            }
        }
    }

    /// The entry `eq` selects, taken out of the table when `remove_if` says so, in one probe
    /// (a lookup that drops an expired key on the way).
    pub fn find_mut_or_remove_if(
        &mut self,
        hash: u64,
        eq: impl FnMut(&E) -> bool,
        remove_if: impl FnOnce(&E) -> bool,
    ) -> Probe<'_, E> {
        let seg = self.segment_of(hash);
        match self.segments[seg].find_entry(in_segment(hash), eq) {
            Err(_) => Probe::Missing,
            Ok(found) if remove_if(found.get()) => {
                self.len -= 1;
                Probe::Removed(found.remove().0)
            }
            Ok(found) => Probe::Found(found.into_mut()),
        }
    }

    /// Splits a segment when one more entry would pass the load that triggers a split.
    fn grow_for_one_more(&mut self) {
        if self.len + 1 > SPLIT_LOAD * self.segments.len() {
            self.split_one();
        }
    }

    /// The entry just inserted; the first insert also records which header word holds the
    /// control bytes (`ctrl_word_of`).
    fn settle<'a>(ctrl_word: &mut Option<u8>, inserted: hashbrown::hash_table::OccupiedEntry<'a, E>) -> &'a mut E {
        if ctrl_word.is_none() {
            let ctrl = ctrl_from(inserted.get(), inserted.bucket_index());
            let bucket = inserted.bucket_index();
            let table = inserted.into_table();
            *ctrl_word = ctrl_word_of(table, ctrl);
            return table.get_bucket_mut(bucket).expect("just inserted");
        }
        inserted.into_mut()
    }

    pub fn remove(&mut self, hash: u64, eq: impl FnMut(&E) -> bool) -> Option<E> {
        let seg = self.segment_of(hash);
        let removed = match self.segments[seg].find_entry(in_segment(hash), eq) {
            Ok(occupied) => Some(occupied.remove().0),
            Err(_) => None,
        };
        if removed.is_some() {
            self.len -= 1;
        }
        removed
    }

    /// Splits the segment under the split pointer into itself and a new last segment.
    fn split_one(&mut self) {
        let from = self.split;
        let high_bit = 1u64 << self.level;
        let old = &mut self.segments[from];
        let mut moved = HashTable::with_capacity(old.len() / 2);
        for e in old.extract_if(|e| e.hash() & high_bit != 0) {
            moved.insert_unique(rehash(&e), e, rehash);
        }
        // The half that stays would otherwise keep the buckets sized for both halves.
        old.shrink_to_fit(rehash);
        self.segments.push(moved);
        self.split += 1;
        if self.split == (1usize << self.level) {
            self.level += 1;
            self.split = 0;
        }
    }

    /// The entries of one segment; `seg` must be below `segment_count()`.
    pub fn segment(&self, seg: usize) -> impl Iterator<Item = &E> {
        self.segments[seg].iter()
    }

    /// How many entries one segment holds; `seg` must be below `segment_count()`.
    pub fn segment_len(&self, seg: usize) -> usize {
        self.segments[seg].len()
    }

    /// Mutable entries of one segment (a snapshot marks what it saved).
    pub fn segment_mut(&mut self, seg: usize) -> impl Iterator<Item = &mut E> {
        self.segments[seg].iter_mut()
    }

    /// Removes the entries of one segment that `drop_it` selects, returning them.
    pub fn extract_from_segment(&mut self, seg: usize, mut drop_it: impl FnMut(&mut E) -> bool) -> Vec<E> {
        let out: Vec<E> = self.segments[seg].extract_if(|e| drop_it(e)).collect();
        self.len -= out.len();
        out
    }

    pub fn iter(&self) -> impl Iterator<Item = &E> {
        self.segments.iter().flat_map(|s| s.iter())
    }

    /// Bytes of the table's own structure: its segments' slots and control bytes, and the
    /// list of segments (not what the entries point to).
    pub fn structure_bytes(&self) -> usize {
        let segments: usize = self.segments.iter().map(super::footprint::hash_table_bytes).sum();
        segments + super::footprint::alloc_bytes(self.segments.capacity() * size_of::<Segment<E>>())
    }

    /// Estimated bytes of the table and what its entries hold (`entry_bytes` of each), from
    /// the first `samples` entries (see `footprint::sampled`).
    pub fn footprint(&self, samples: usize, entry_bytes: impl Fn(&E) -> usize) -> usize {
        self.structure_bytes() + super::footprint::sampled(self.iter(), self.len, samples, entry_bytes)
    }

    /// A pseudo-random entry picked from a random non-empty segment, then a random slot.
    pub fn random(&self, mut rand: impl FnMut(usize) -> usize) -> Option<&E> {
        if self.len == 0 {
            return None;
        }
        let n = self.segments.len();
        let start = rand(n);
        for i in 0..n {
            let seg = &self.segments[(start + i) % n];
            if !seg.is_empty() {
                return seg.iter().nth(rand(seg.len()));
            }
        }
        None
    }

    pub fn clear(&mut self) {
        *self = Self::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct E(u64);
    impl Hashed for E {
        fn hash(&self) -> u64 {
            // Spread the low bits like a real hash would.
            self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        }
    }

    /// A table holding the entries `0..n`.
    fn filled(n: u64) -> SegTable<E> {
        let mut t = SegTable::new();
        for i in 0..n {
            let e = E(i);
            t.insert_new(e.hash(), e);
        }
        t
    }

    #[test]
    fn grows_and_finds_everything() {
        let mut t = filled(10_000);
        assert_eq!(t.len(), 10_000);
        assert!(t.segment_count() > 100);
        for i in 0..10_000u64 {
            let h = E(i).hash();
            assert!(t.find(h, |e| e.0 == i).is_some());
        }
        assert!(t.remove(E(5).hash(), |e| e.0 == 5).is_some());
        assert!(t.find(E(5).hash(), |e| e.0 == 5).is_none());
        assert_eq!(t.len(), 9_999);
    }

    #[test]
    fn find_or_insert_with_probes_once_and_counts_inserts() {
        let mut t = filled(1_000);
        let segments = t.segment_count();
        for i in 0..2_000u64 {
            let h = E(i).hash();
            let (e, inserted) = t.find_or_insert_with(h, |e| e.0 == i, || E(i));
            assert_eq!(e.0, i);
            assert_eq!(inserted, i >= 1_000, "key {i}");
        }
        assert_eq!(t.len(), 2_000);
        assert!(t.segment_count() > segments, "inserts through it grow the table");
        assert!((0..2_000u64).all(|i| t.find(E(i).hash(), |e| e.0 == i).is_some()));
    }

    #[test]
    fn find_mut_or_remove_if_takes_out_only_what_it_is_told() {
        let mut t = filled(1_000);
        for i in 0..1_100u64 {
            let probe = t.find_mut_or_remove_if(E(i).hash(), |e| e.0 == i, |e| e.0 % 2 == 0);
            match probe {
                Probe::Found(e) => assert!(i < 1_000 && e.0 == i && i % 2 == 1),
                Probe::Removed(e) => assert!(i < 1_000 && e.0 == i && i % 2 == 0),
                Probe::Missing => assert!(i >= 1_000),
            }
        }
        assert_eq!(t.len(), 500);
        assert!((0..1_000u64).all(|i| t.find(E(i).hash(), |e| e.0 == i).is_some() == (i % 2 == 1)));
    }

    /// Checks the layout `prefetch_many` assumes against `hashbrown` itself: the header word
    /// found on the first insert holds every segment's control-byte address, every entry sits
    /// in a bucket counted down from it, near its probe position, with its hash's tag there.
    #[test]
    fn recorded_control_bytes_match_hashbrown() {
        let t = filled(10_000);
        let word = t.ctrl_word.expect("no header word holds the control-byte address");
        for seg in 0..t.segment_count() {
            let table = &t.segments[seg];
            let ctrl = header_word(table, word.into());
            let mask = table.num_buckets() - 1;
            for bucket in table.iter_buckets() {
                let entry = table.get_bucket(bucket).unwrap();
                assert_eq!(ctrl_from(entry, bucket), ctrl, "segment {seg}: wrong header word");
                let hash = in_segment(entry.hash());
                let distance = bucket.wrapping_sub(hash as usize & mask) & mask;
                assert!(distance < 8 * 16, "bucket {bucket} is far from its probe");
                // SAFETY: `bucket <= mask`: its control byte lies inside the table's block.
                let tag = unsafe { *((ctrl + bucket) as *const u8) };
                assert_eq!(tag, (hash >> 57) as u8, "the control byte is not the entry's tag");
            }
        }
    }

    #[test]
    fn cursor_survives_growth() {
        let mut t = filled(1_000);
        let mut seen = std::collections::HashSet::new();
        let mut seg = 0;
        let mut next = 1_000u64;
        while seg < t.segment_count() {
            seen.extend(t.segment(seg).map(|e| e.0));
            seg += 1;
            // Grow between steps of the walk (slower than the walk advances, so it ends).
            for _ in 0..20 {
                let e = E(next);
                t.insert_new(e.hash(), e);
                next += 1;
            }
        }
        assert!((0..1_000).all(|i| seen.contains(&i)), "an original entry was missed");
    }
}
