//! The set value type, with the encodings redis-server 7.0 reports.
//!
//! - `intset`: every member is a canonical decimal i64 and there are at most
//!   `set-max-intset-entries` of them. Kept as a sorted `Vec<i64>`, which is also the order
//!   Redis replies in (SMEMBERS of an intset is ascending).
//! - small: at most `set-max-listpack-entries` members of at most 64 bytes, not all integers.
//!   Redis 7.0 has no set listpack (7.2 added one), so this form reports `hashtable` as 7.0's
//!   OBJECT ENCODING does; it only saves the memory of a table for small sets.
//! - `hashtable`: anything bigger, in a `SegTable` whose segment cursor stays valid while the
//!   set grows (SSCAN).
//!
//! Conversions are one-way, as in Redis: a set never goes back to a smaller form.

use super::hash::{CloneTable, member_hash};
use super::table::{Hashed, SegTable};
use super::{EncodingLimits, canonical_int};
use crate::util::bytes_eq;

/// Longest member the small form keeps (7.2's `set-max-listpack-value` default).
const SMALL_MAX_MEMBER: usize = 64;

/// One member of a big set; its hash is recomputed when the table moves it.
#[derive(Clone, Debug)]
pub struct Member(pub Box<[u8]>);

impl Hashed for Member {
    fn hash(&self) -> u64 {
        member_hash(&self.0)
    }
}

/// A member as stored: intsets hold numbers, the other forms bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Elem<'_> {
    /// Calls `f` with the member's bytes (formatting a number on the stack).
    pub fn with_bytes<T>(&self, f: impl FnOnce(&[u8]) -> T) -> T {
        match self {
            Elem::Int(n) => f(itoa::Buffer::new().format(*n).as_bytes()),
            Elem::Bytes(b) => f(b),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.with_bytes(<[u8]>::to_vec)
    }
}

#[derive(Clone, Debug)]
enum Repr {
    Ints(Vec<i64>),
    Small(Vec<Box<[u8]>>),
    Table(CloneTable<Member>),
}

/// A set value.
#[derive(Clone, Debug)]
pub struct Set {
    repr: Repr,
}

impl Default for Set {
    fn default() -> Self {
        Set::new()
    }
}

impl Set {
    /// Prefetches what looking up each of `members` will read (a big set's probes and
    /// candidates; at most 32 members).
    pub fn prefetch(&self, members: &[&[u8]]) {
        if let Repr::Table(t) = &self.repr {
            let hashes = super::table::hashes_of(members, member_hash);
            t.0.prefetch_many(&hashes, |m| crate::util::prefetch(m.0.as_ptr()));
        }
    }

    /// An empty set in the intset form (Redis builds SINTERSTORE & co. results this way).
    pub fn new() -> Set {
        Set {
            repr: Repr::Ints(Vec::new()),
        }
    }

    /// What `OBJECT ENCODING` reports.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Ints(_) => "intset",
            Repr::Small(_) | Repr::Table(_) => "hashtable",
        }
    }

    /// True for the forms SSCAN returns whole in one call (as Redis does for its intsets).
    pub fn is_compact(&self) -> bool {
        !matches!(self.repr, Repr::Table(_))
    }

    /// Estimated bytes the set holds, from `samples` members of a table (`MEMORY USAGE`).
    pub fn heap_bytes(&self, samples: usize) -> usize {
        use super::footprint::{alloc_bytes, sampled};
        let member = |m: &[u8]| alloc_bytes(m.len());
        match &self.repr {
            Repr::Ints(v) => alloc_bytes(v.capacity() * size_of::<i64>()),
            Repr::Small(v) => {
                alloc_bytes(v.capacity() * size_of::<Box<[u8]>>()) + sampled(v.iter(), v.len(), samples, |m| member(m))
            }
            Repr::Table(CloneTable(t)) => {
                alloc_bytes(size_of::<SegTable<Member>>()) + t.footprint(samples, |m| member(&m.0))
            }
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Ints(v) => v.len(),
            Repr::Small(v) => v.len(),
            Repr::Table(CloneTable(t)) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match &self.repr {
            Repr::Ints(v) => canonical_int(m).is_some_and(|n| v.binary_search(&n).is_ok()),
            Repr::Small(v) => v.iter().any(|x| bytes_eq(x, m)),
            Repr::Table(CloneTable(t)) => t.find(member_hash(m), |x| bytes_eq(&x.0, m)).is_some(),
        }
    }

    /// Adds `m`; true when it was new. Converts when the intset or small form would overflow.
    pub fn add(&mut self, m: &[u8], limits: &EncodingLimits) -> bool {
        if let Repr::Ints(v) = &mut self.repr {
            if let Some(n) = canonical_int(m) {
                let Err(at) = v.binary_search(&n) else { return false };
                v.insert(at, n);
                if v.len() > limits.set_max_intset_entries {
                    self.convert(limits, 0);
                }
                return true;
            }
            self.convert(limits, m.len());
        }
        if let Repr::Small(v) = &mut self.repr {
            if v.iter().any(|x| bytes_eq(x, m)) {
                return false;
            }
            if v.len() < limits.set_max_listpack_entries && m.len() <= SMALL_MAX_MEMBER {
                v.push(m.into());
                return true;
            }
            self.convert(limits, usize::MAX);
        }
        let Repr::Table(CloneTable(t)) = &mut self.repr else {
            debug_assert!(false, "conversion left a compact set");
            return false;
        };
        let h = member_hash(m);
        if t.find(h, |x| bytes_eq(&x.0, m)).is_some() {
            return false;
        }
        t.insert_new(h, Member(m.into()));
        true
    }

    /// Moves to the next form that can hold the current members plus one of `incoming` bytes
    /// (`usize::MAX` forces the table).
    fn convert(&mut self, limits: &EncodingLimits, incoming: usize) {
        let members: Vec<Box<[u8]>> = match &mut self.repr {
            Repr::Ints(v) => v
                .drain(..)
                .map(|n| itoa::Buffer::new().format(n).as_bytes().into())
                .collect(),
            Repr::Small(v) => std::mem::take(v),
            Repr::Table(_) => return,
        };
        let small = matches!(self.repr, Repr::Ints(_))
            && incoming <= SMALL_MAX_MEMBER
            && members.len() < limits.set_max_listpack_entries;
        self.repr = if small {
            Repr::Small(members)
        } else {
            let mut t = SegTable::new();
            for m in members {
                let m = Member(m);
                t.insert_new(m.hash(), m);
            }
            Repr::Table(CloneTable(Box::new(t)))
        };
    }

    /// Removes `m`; true when it was there.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Ints(v) => match canonical_int(m).map(|n| v.binary_search(&n)) {
                Some(Ok(at)) => {
                    v.remove(at);
                    true
                }
                _ => false,
            },
            Repr::Small(v) => match v.iter().position(|x| bytes_eq(x, m)) {
                Some(at) => {
                    v.swap_remove(at);
                    true
                }
                None => false,
            },
            Repr::Table(CloneTable(t)) => t.remove(member_hash(m), |x| bytes_eq(&x.0, m)).is_some(),
        }
    }

    /// Every member: ascending for intsets, stored order otherwise.
    pub fn iter(&self) -> Box<dyn Iterator<Item = Elem<'_>> + '_> {
        match &self.repr {
            Repr::Ints(v) => Box::new(v.iter().map(|&n| Elem::Int(n))),
            Repr::Small(v) => Box::new(v.iter().map(|m| Elem::Bytes(m))),
            Repr::Table(CloneTable(t)) => Box::new(t.iter().map(|m| Elem::Bytes(&m.0))),
        }
    }

    /// Every member as owned bytes (multi-key operations ship these between shards).
    pub fn to_members(&self) -> Vec<Vec<u8>> {
        self.iter().map(|e| e.to_vec()).collect()
    }

    /// A member at a random position: `pick(n)` must return an index below `n`.
    pub fn random(&self, mut pick: impl FnMut(usize) -> usize) -> Option<Elem<'_>> {
        match &self.repr {
            Repr::Ints(v) if v.is_empty() => None,
            Repr::Ints(v) => v.get(pick(v.len())).map(|&n| Elem::Int(n)),
            Repr::Small(v) if v.is_empty() => None,
            Repr::Small(v) => v.get(pick(v.len())).map(|m| Elem::Bytes(m)),
            Repr::Table(CloneTable(t)) => t.random(pick).map(|m| Elem::Bytes(&m.0)),
        }
    }

    /// Removes and returns a random member.
    pub fn pop_random(&mut self, pick: impl FnMut(usize) -> usize) -> Option<Vec<u8>> {
        let m = self.random(pick)?.to_vec();
        self.remove(&m);
        Some(m)
    }

    /// One step of SSCAN: compact forms return everything with cursor 0; a table returns
    /// whole segments from `cursor` until at least `count` members were visited.
    pub fn scan_step(&self, cursor: u64, count: usize, mut each: impl FnMut(Elem<'_>)) -> u64 {
        match &self.repr {
            Repr::Table(CloneTable(t)) => {
                let mut seg = cursor as usize;
                let mut seen = 0;
                while seg < t.segment_count() && seen < count {
                    for m in t.segment(seg) {
                        each(Elem::Bytes(&m.0));
                        seen += 1;
                    }
                    seg += 1;
                }
                if seg < t.segment_count() { seg as u64 } else { 0 }
            }
            _ => {
                self.iter().for_each(each);
                0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_of(members: &[&str], limits: &EncodingLimits) -> Set {
        let mut s = Set::new();
        for m in members {
            s.add(m.as_bytes(), limits);
        }
        s
    }

    #[test]
    fn intset_until_a_string_or_too_many() {
        let l = EncodingLimits::default();
        let mut s = set_of(&["3", "1", "2", "1"], &l);
        assert_eq!(s.encoding(), "intset");
        assert_eq!(s.len(), 3);
        let order: Vec<_> = s.iter().map(|e| e.to_vec()).collect();
        assert_eq!(order, [b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]);
        assert!(s.contains(b"2") && !s.contains(b"02"));
        s.add(b"a", &l);
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"2") && s.contains(b"a"));
        assert!(s.remove(b"a"));
        assert_eq!(s.encoding(), "hashtable");

        let mut s = Set::new();
        for i in 0..=512 {
            s.add(i.to_string().as_bytes(), &l);
        }
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), 513);
        assert!(s.contains(b"512"));
    }

    #[test]
    fn small_form_grows_into_a_table() {
        let l = EncodingLimits::default();
        let mut s = Set::new();
        for i in 0..200 {
            assert!(s.add(format!("m{i}").as_bytes(), &l));
            assert!(!s.add(format!("m{i}").as_bytes(), &l));
        }
        assert_eq!(s.len(), 200);
        assert!(!s.is_compact());
        assert!((0..200).all(|i| s.contains(format!("m{i}").as_bytes())));
        let mut long = Set::new();
        long.add(b"x", &l);
        long.add(&[b'y'; 65], &l);
        assert!(!long.is_compact());
        assert_eq!(long.len(), 2);
    }

    #[test]
    fn pop_empties() {
        let l = EncodingLimits::default();
        let mut s = set_of(&["a", "1", "b"], &l);
        let mut i = 0;
        while s
            .pop_random(|n| {
                i += 7;
                i % n
            })
            .is_some()
        {}
        assert!(s.is_empty());
    }
}
