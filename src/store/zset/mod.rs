//! The sorted-set value and its two encodings, chosen by size as Redis 7.0 does.
//!
//! - `listpack`: `(score, member)` elements packed end to end in one buffer, in
//!   `(score, member)` order (`pack.rs`). Up to `zset-max-listpack-entries` (128) members of at
//!   most `zset-max-listpack-value` (64) bytes, a linear scan is as fast as any index, and the
//!   whole set is one allocation.
//! - `skiplist`: the order-statistic treap of `tree.rs` with a member index; O(log n) rank,
//!   insert and delete. Redis calls this encoding `skiplist`, so `OBJECT ENCODING` does too.
//!
//! The switch is one-way (a shrinking set keeps its tree), except that the `*STORE` commands
//! build a fresh value and pick the encoding from its final size, as Redis does.
//!
//! Positions are ranks in ascending `(score, member)` order. Range queries are phrased as
//! "how many leading elements satisfy a monotone predicate" (`count_while`) plus a walk over a
//! rank interval, so score and lex bounds share one path.

mod pack;
pub mod tree;

use pack::Pack;
use tree::Tree;
pub use tree::before;

use super::EncodingLimits;

#[derive(Clone, Debug)]
enum Repr {
    Pack(Pack),
    /// Boxed so that the many small sets pay for a pointer, not for the tree's header.
    Tree(Box<Tree>),
}

/// A sorted set.
#[derive(Clone, Debug)]
pub struct ZSet {
    repr: Repr,
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet {
            repr: Repr::Pack(Pack::default()),
        }
    }
}

impl ZSet {
    /// Prefetches what a lookup of `member` will read (a big set's index probe and node).
    pub fn prefetch(&self, member: &[u8]) {
        if let Repr::Tree(t) = &self.repr {
            t.prefetch(member);
        }
    }

    pub fn new() -> Self {
        ZSet::default()
    }

    /// An empty set in the encoding Redis picks for a ZADD of `elements` pairs whose longest
    /// member is `max_member` bytes (a large ZADD starts as a skiplist right away).
    pub fn for_elements(elements: usize, max_member: usize, limits: &EncodingLimits) -> Self {
        if elements > limits.zset_max_listpack_entries || max_member > limits.zset_max_listpack_value {
            ZSet {
                repr: Repr::Tree(Box::default()),
            }
        } else {
            ZSet::default()
        }
    }

    /// Builds a set from elements in ascending `(score, member)` order with distinct members,
    /// choosing the compact encoding when the result fits (the `*STORE` commands).
    pub fn from_sorted(items: Vec<(Box<[u8]>, f64)>, limits: &EncodingLimits) -> Self {
        let fits = items.len() <= limits.zset_max_listpack_entries
            && items.iter().all(|(m, _)| m.len() <= limits.zset_max_listpack_value);
        if fits {
            return ZSet {
                repr: Repr::Pack(Pack::from_sorted(items)),
            };
        }
        let mut t = Box::<Tree>::default();
        for (m, s) in items {
            t.push_max(m, s);
        }
        ZSet { repr: Repr::Tree(t) }
    }

    /// What `OBJECT ENCODING` reports.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Pack(_) => "listpack",
            Repr::Tree(_) => "skiplist",
        }
    }

    /// Estimated bytes the set holds, from `samples` members of a tree (`MEMORY USAGE`).
    pub fn heap_bytes(&self, samples: usize) -> usize {
        match &self.repr {
            Repr::Pack(p) => p.heap_bytes(),
            Repr::Tree(t) => t.heap_bytes(samples),
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Pack(p) => p.len(),
            Repr::Tree(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        match &self.repr {
            Repr::Pack(p) => p.is_empty(),
            Repr::Tree(t) => t.len() == 0,
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Pack(p) => p.score(member),
            Repr::Tree(t) => t.score(member),
        }
    }

    /// Adds `member` or changes its score; returns the previous score. Converts to the tree
    /// encoding when a new member would exceed the listpack limits.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: &EncodingLimits) -> Option<f64> {
        if let Repr::Pack(p) = &mut self.repr {
            let fits = member.len() <= limits.zset_max_listpack_value;
            match p.insert(member, score, |count| fits && count < limits.zset_max_listpack_entries) {
                Ok(old) => return old,
                Err(pack::NoRoom) => self.convert(),
            }
        }
        match &mut self.repr {
            Repr::Tree(t) => t.insert(member, score),
            Repr::Pack(_) => unreachable!("converted above"),
        }
    }

    /// Moves a listpack set into the tree encoding.
    fn convert(&mut self) {
        if let Repr::Pack(p) = &mut self.repr {
            let mut t = Box::<Tree>::default();
            for (m, s) in p.take_all() {
                t.push_max(m, s);
            }
            self.repr = Repr::Tree(t);
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.repr {
            Repr::Pack(p) => p.remove(member),
            Repr::Tree(t) => t.remove(member),
        }
    }

    /// 0-based ascending rank of `member`, with its score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match &self.repr {
            Repr::Pack(p) => p.rank(member),
            Repr::Tree(t) => t.rank(member),
        }
    }

    /// How many leading elements satisfy `pred`, which must be monotone over the order
    /// (true for a prefix, then false): e.g. "score < min".
    pub fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.repr {
            Repr::Pack(p) => p.count_while(pred),
            Repr::Tree(t) => t.count_while(pred),
        }
    }

    /// Visits ranks `start..end` ascending, or descending when `rev`; `f` returns false to stop.
    pub fn walk(&self, start: usize, end: usize, rev: bool, mut f: impl FnMut(&[u8], f64) -> bool) {
        match &self.repr {
            Repr::Pack(p) => p.walk(start, end, rev, f),
            Repr::Tree(t) => t.walk(start, end, rev, &mut f),
        }
    }

    /// The element at `rank`.
    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        match &self.repr {
            Repr::Pack(p) => p.get(rank),
            Repr::Tree(t) => t.get(rank),
        }
    }

    /// Removes ranks `start..end`; returns them in ascending order.
    pub fn remove_ranks(&mut self, start: usize, end: usize) -> Vec<(Box<[u8]>, f64)> {
        match &mut self.repr {
            Repr::Pack(p) => p.remove_ranks(start, end),
            Repr::Tree(t) => t.remove_ranks(start, end),
        }
    }

    /// Every element in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> {
        let (pack, tree) = match &self.repr {
            Repr::Pack(p) => (Some(p.iter()), None),
            Repr::Tree(t) => (None, Some(t.iter())),
        };
        pack.into_iter().flatten().chain(tree.into_iter().flatten())
    }
}

#[cfg(test)]
mod tests;
