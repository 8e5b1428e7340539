//! The hash value type and its two encodings, chosen as redis-server 7.0 chooses them.
//!
//! - `listpack`: while the hash has at most `hash-max-listpack-entries` fields and every field
//!   and value is at most `hash-max-listpack-value` bytes. Kept as a vector of pairs in
//!   insertion order, which is also the order Redis's listpack replies in (HGETALL, HKEYS).
//!   A linear search over at most 128 short fields is as fast as hashing, and costs no table.
//! - `hashtable`: above either limit, for good (Redis never converts back). Kept in a
//!   `SegTable`, whose segment cursor stays valid while the hash grows (HSCAN).

use std::sync::OnceLock;

use super::EncodingLimits;
use super::packed::PackedPairs;
use super::pair_block::PairBlock;
use super::table::{Hashed, SegTable};
use crate::util::bytes_eq;

/// One field of a big hash: its name and value in one block behind an 8-byte table slot
/// (see `pair_block.rs`). The hash is recomputed when the table moves it, not stored: eight
/// bytes per field matter more than a few nanoseconds on a rare split.
#[derive(Clone, Debug)]
pub struct Field(PairBlock);

impl Field {
    pub fn new(name: &[u8], value: &[u8]) -> Field {
        Field(PairBlock::new(name, value))
    }

    pub fn name(&self) -> &[u8] {
        self.0.name()
    }

    pub fn value(&self) -> &[u8] {
        self.0.value()
    }

    /// Replaces the value, keeping the name in place (HSET on an existing field).
    pub fn set_value(&mut self, value: &[u8]) {
        self.0.set_value(value);
    }
}

impl Hashed for Field {
    fn hash(&self) -> u64 {
        member_hash(self.name())
    }
}

/// The hash of a field or set member (one seed per process, like Redis's dict seed).
pub fn member_hash(b: &[u8]) -> u64 {
    static STATE: OnceLock<ahash::RandomState> = OnceLock::new();
    STATE.get_or_init(ahash::RandomState::new).hash_one(b)
}

#[derive(Clone, Debug)]
enum Repr {
    /// Insertion-ordered pairs packed in one buffer (Redis's listpack).
    Pairs(PackedPairs),
    Table(CloneTable<Field>),
}

/// A `SegTable` that can be cloned (COPY, snapshots) and printed by size. A wrapper so that
/// the table type itself stays free to gain its own impls; the set type shares it. Boxed, so
/// that a value in its compact form (most of them) does not carry a table's size in its box.
pub(super) struct CloneTable<E>(pub(super) Box<SegTable<E>>);

impl<E: Hashed + Clone> Clone for CloneTable<E> {
    fn clone(&self) -> Self {
        let mut t = SegTable::new();
        for e in self.0.iter() {
            t.insert_new(e.hash(), e.clone());
        }
        CloneTable(Box::new(t))
    }
}

impl<E: Hashed> std::fmt::Debug for CloneTable<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SegTable({} entries)", self.0.len())
    }
}

/// A hash value.
#[derive(Clone, Debug)]
pub struct Hash {
    repr: Repr,
}

impl Default for Hash {
    fn default() -> Self {
        Hash::new()
    }
}

/// Whether `hset` added a field or replaced a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOutcome {
    Inserted,
    Updated,
}

impl Hash {
    /// Prefetches what looking up each of `fields` will read (a big hash's probes and
    /// candidates; at most 32 fields).
    pub fn prefetch(&self, fields: &[&[u8]]) {
        if let Repr::Table(t) = &self.repr {
            let hashes = super::table::hashes_of(fields, member_hash);
            t.0.prefetch_many(&hashes, |f| f.0.prefetch());
        }
    }

    pub fn new() -> Hash {
        Hash {
            repr: Repr::Pairs(PackedPairs::default()),
        }
    }

    /// What `OBJECT ENCODING` reports.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Pairs(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// True while the compact (listpack) form is used: HSCAN then returns everything at once.
    pub fn is_compact(&self) -> bool {
        matches!(self.repr, Repr::Pairs(_))
    }

    /// Estimated bytes the hash holds, from `samples` fields of a table (`MEMORY USAGE`).
    pub fn heap_bytes(&self, samples: usize) -> usize {
        use super::footprint::alloc_bytes;
        match &self.repr {
            Repr::Pairs(p) => p.heap_bytes(),
            Repr::Table(CloneTable(t)) => {
                alloc_bytes(size_of::<SegTable<Field>>()) + t.footprint(samples, |f| alloc_bytes(f.0.size()))
            }
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Pairs(v) => v.len(),
            Repr::Table(CloneTable(t)) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        match &self.repr {
            Repr::Pairs(p) => p.is_empty(),
            Repr::Table(CloneTable(t)) => t.len() == 0,
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.repr {
            Repr::Pairs(p) => p.get(field),
            Repr::Table(CloneTable(t)) => t
                .find(member_hash(field), |e| bytes_eq(e.name(), field))
                .map(|e| e.value()),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets `field` to `value`, converting to a table when a limit is crossed (as 7.0 checks
    /// both the lengths of what it stores and the field count after every write).
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: &EncodingLimits) -> SetOutcome {
        if let Repr::Pairs(_) = self.repr
            && (field.len() > limits.hash_max_listpack_value || value.len() > limits.hash_max_listpack_value)
        {
            self.convert();
        }
        let mut pairs = 0;
        let outcome = match &mut self.repr {
            Repr::Pairs(p) => {
                let (appended, count) = p.set(field, value);
                pairs = count;
                if appended {
                    SetOutcome::Inserted
                } else {
                    SetOutcome::Updated
                }
            }
            Repr::Table(CloneTable(t)) => {
                let h = member_hash(field);
                match t.find_mut(h, |e| bytes_eq(e.name(), field)) {
                    Some(e) => {
                        e.set_value(value);
                        SetOutcome::Updated
                    }
                    None => {
                        t.insert_new(h, Field::new(field, value));
                        SetOutcome::Inserted
                    }
                }
            }
        };
        if matches!(self.repr, Repr::Pairs(_)) && pairs > limits.hash_max_listpack_entries {
            self.convert();
        }
        outcome
    }

    /// Removes `field`; true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Pairs(p) => p.remove(field),
            Repr::Table(CloneTable(t)) => t.remove(member_hash(field), |e| bytes_eq(e.name(), field)).is_some(),
        }
    }

    /// Moves every pair into the table form (one-way, as in Redis).
    fn convert(&mut self) {
        if let Repr::Pairs(p) = &self.repr {
            let mut t = SegTable::new();
            for (name, value) in p.iter() {
                let f = Field::new(name, value);
                t.insert_new(f.hash(), f);
            }
            self.repr = Repr::Table(CloneTable(Box::new(t)));
        }
    }

    /// Every (field, value), in listpack insertion order or table order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match &self.repr {
            Repr::Pairs(p) => Box::new(p.iter()),
            Repr::Table(CloneTable(t)) => Box::new(t.iter().map(|e| (e.name(), e.value()))),
        }
    }

    /// The pair at a random position: `pick(n)` must return an index below `n`.
    pub fn random(&self, mut pick: impl FnMut(usize) -> usize) -> Option<(&[u8], &[u8])> {
        match &self.repr {
            Repr::Pairs(p) if p.is_empty() => None,
            Repr::Pairs(p) => p.nth(pick(p.len())),
            Repr::Table(CloneTable(t)) => t.random(pick).map(|e| (e.name(), e.value())),
        }
    }

    /// One step of HSCAN over a table: the pairs of segments from `cursor` on until at least
    /// `count` were visited; returns the next cursor (0 when done). Listpacks return all.
    pub fn scan_step(&self, cursor: u64, count: usize, mut each: impl FnMut(&[u8], &[u8])) -> u64 {
        match &self.repr {
            Repr::Pairs(p) => {
                p.iter().for_each(|(f, v)| each(f, v));
                0
            }
            Repr::Table(CloneTable(t)) => {
                let mut seg = cursor as usize;
                let mut seen = 0;
                while seg < t.segment_count() && seen < count {
                    for e in t.segment(seg) {
                        each(e.name(), e.value());
                        seen += 1;
                    }
                    seg += 1;
                }
                if seg < t.segment_count() { seg as u64 } else { 0 }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_hash_box_is_its_packed_buffer() {
        // The table form is boxed, so the compact form (one boxed slice) sets the size.
        assert_eq!(size_of::<Hash>(), 16);
        assert_eq!(size_of::<super::super::set::Set>(), 32);
    }

    #[test]
    fn converts_on_count_and_length() {
        let limits = EncodingLimits::default();
        let mut h = Hash::new();
        for i in 0..128 {
            assert_eq!(h.set(format!("f{i}").as_bytes(), b"v", &limits), SetOutcome::Inserted);
        }
        assert_eq!(h.encoding(), "listpack");
        assert_eq!(h.set(b"f0", b"w", &limits), SetOutcome::Updated);
        h.set(b"extra", b"v", &limits);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 129);
        assert_eq!(h.get(b"f0"), Some(&b"w"[..]));
        assert!(h.remove(b"f0"));
        assert!(!h.contains(b"f0"));

        let mut h = Hash::new();
        h.set(b"f", &[b'x'; 65], &limits);
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn table_values_are_replaced_in_place_and_clones_are_deep() {
        let limits = EncodingLimits::default();
        let mut h = Hash::new();
        for i in 0..200 {
            h.set(format!("f{i}").as_bytes(), b"v", &limits);
        }
        assert_eq!(h.encoding(), "hashtable");
        let long = vec![b'x'; 300];
        assert_eq!(h.set(b"f7", &long, &limits), SetOutcome::Updated);
        let copy = h.clone();
        assert_eq!(h.set(b"f7", b"short", &limits), SetOutcome::Updated);
        assert_eq!(h.get(b"f7"), Some(&b"short"[..]));
        assert_eq!(copy.get(b"f7"), Some(&long[..]));
        assert_eq!(copy.len(), 200);
        drop(h);
        assert_eq!(copy.iter().filter(|(_, v)| *v == b"v").count(), 199);
    }

    #[test]
    fn listpack_keeps_insertion_order() {
        let limits = EncodingLimits::default();
        let mut h = Hash::new();
        for f in [b"c", b"a", b"b"] {
            h.set(f, b"1", &limits);
        }
        h.set(b"a", b"2", &limits);
        let order: Vec<_> = h.iter().map(|(f, _)| f.to_vec()).collect();
        assert_eq!(order, [b"c".to_vec(), b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn scan_visits_all_while_growing() {
        let limits = EncodingLimits::default();
        let mut h = Hash::new();
        for i in 0..1000 {
            h.set(format!("f{i}").as_bytes(), b"v", &limits);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut next = 1000;
        loop {
            cursor = h.scan_step(cursor, 10, |f, _| {
                seen.insert(f.to_vec());
            });
            for _ in 0..20 {
                h.set(format!("f{next}").as_bytes(), b"v", &limits);
                next += 1;
            }
            if cursor == 0 {
                break;
            }
        }
        assert!((0..1000).all(|i| seen.contains(format!("f{i}").as_bytes())));
    }
}
