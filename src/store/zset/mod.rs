//! The sorted-set value and its two encodings, chosen by size as Redis 7.0 does.
//!
//! - `listpack`: a `Vec` of `(score, member)` kept in `(score, member)` order. Up to
//!   `zset-max-listpack-entries` (128) members of at most `zset-max-listpack-value` (64) bytes,
//!   a linear scan is as fast as any index and costs one allocation per member.
//! - `skiplist`: the order-statistic treap of `tree.rs` with a member index; O(log n) rank,
//!   insert and delete. Redis calls this encoding `skiplist`, so `OBJECT ENCODING` does too.
//!
//! The switch is one-way (a shrinking set keeps its tree), except that the `*STORE` commands
//! build a fresh value and pick the encoding from its final size, as Redis does.
//!
//! Positions are ranks in ascending `(score, member)` order. Range queries are phrased as
//! "how many leading elements satisfy a monotone predicate" (`count_while`) plus a walk over a
//! rank interval, so score and lex bounds share one path.

pub mod tree;

use tree::Tree;
pub use tree::before;

use super::EncodingLimits;

#[derive(Clone, Debug)]
enum Repr {
    Pack(Vec<(f64, Box<[u8]>)>),
    Tree(Tree),
}

/// A sorted set.
#[derive(Clone, Debug)]
pub struct ZSet {
    repr: Repr,
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet {
            repr: Repr::Pack(Vec::new()),
        }
    }
}

impl ZSet {
    pub fn new() -> Self {
        ZSet::default()
    }

    /// An empty set in the encoding Redis picks for a ZADD of `elements` pairs whose longest
    /// member is `max_member` bytes (a large ZADD starts as a skiplist right away).
    pub fn for_elements(elements: usize, max_member: usize, limits: &EncodingLimits) -> Self {
        if elements > limits.zset_max_listpack_entries || max_member > limits.zset_max_listpack_value {
            ZSet {
                repr: Repr::Tree(Tree::default()),
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
                repr: Repr::Pack(
                    items
                        .into_iter()
                        .map(|(m, s)| (if s == 0.0 { 0.0 } else { s }, m))
                        .collect(),
                ),
            };
        }
        let mut t = Tree::default();
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

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Pack(v) => v.len(),
            Repr::Tree(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Pack(v) => v.iter().find(|(_, m)| &**m == member).map(|(s, _)| *s),
            Repr::Tree(t) => t.score(member),
        }
    }

    /// Adds `member` or changes its score; returns the previous score. Converts to the tree
    /// encoding when a new member would exceed the listpack limits.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: &EncodingLimits) -> Option<f64> {
        if let Repr::Pack(v) = &mut self.repr {
            // A listpack stores an integral score as an integer, so -0 comes back as 0.
            let score = if score == 0.0 { 0.0 } else { score };
            if let Some(i) = v.iter().position(|(_, m)| &**m == member) {
                let old = v[i].0;
                let (_, m) = v.remove(i);
                let at = v.partition_point(|(s, x)| before(*s, x, score, member));
                v.insert(at, (score, m));
                return Some(old);
            }
            if v.len() < limits.zset_max_listpack_entries && member.len() <= limits.zset_max_listpack_value {
                let at = v.partition_point(|(s, x)| before(*s, x, score, member));
                v.insert(at, (score, member.into()));
                return None;
            }
            self.convert();
        }
        match &mut self.repr {
            Repr::Tree(t) => t.insert(member, score),
            Repr::Pack(_) => unreachable!("converted above"),
        }
    }

    /// Moves a listpack set into the tree encoding.
    fn convert(&mut self) {
        if let Repr::Pack(v) = &mut self.repr {
            let mut t = Tree::default();
            for (s, m) in std::mem::take(v) {
                t.push_max(m, s);
            }
            self.repr = Repr::Tree(t);
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.repr {
            Repr::Pack(v) => {
                let i = v.iter().position(|(_, m)| &**m == member)?;
                Some(v.remove(i).0)
            }
            Repr::Tree(t) => t.remove(member),
        }
    }

    /// 0-based ascending rank of `member`, with its score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match &self.repr {
            Repr::Pack(v) => v.iter().position(|(_, m)| &**m == member).map(|i| (i, v[i].0)),
            Repr::Tree(t) => t.rank(member),
        }
    }

    /// How many leading elements satisfy `pred`, which must be monotone over the order
    /// (true for a prefix, then false): e.g. "score < min".
    pub fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.repr {
            Repr::Pack(v) => v.partition_point(|(s, m)| pred(*s, m)),
            Repr::Tree(t) => t.count_while(pred),
        }
    }

    /// Visits ranks `start..end` ascending, or descending when `rev`; `f` returns false to stop.
    pub fn walk(&self, start: usize, end: usize, rev: bool, mut f: impl FnMut(&[u8], f64) -> bool) {
        match &self.repr {
            Repr::Pack(v) => {
                let end = end.min(v.len());
                if start >= end {
                    return;
                }
                let slice = &v[start..end];
                if rev {
                    for (s, m) in slice.iter().rev() {
                        if !f(m, *s) {
                            return;
                        }
                    }
                } else {
                    for (s, m) in slice {
                        if !f(m, *s) {
                            return;
                        }
                    }
                }
            }
            Repr::Tree(t) => t.walk(start, end, rev, &mut f),
        }
    }

    /// The element at `rank`.
    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        match &self.repr {
            Repr::Pack(v) => v.get(rank).map(|(s, m)| (&**m, *s)),
            Repr::Tree(t) => t.get(rank),
        }
    }

    /// Removes ranks `start..end`; returns them in ascending order.
    pub fn remove_ranks(&mut self, start: usize, end: usize) -> Vec<(Box<[u8]>, f64)> {
        match &mut self.repr {
            Repr::Pack(v) => {
                let end = end.min(v.len());
                if start >= end {
                    return Vec::new();
                }
                v.drain(start..end).map(|(s, m)| (m, s)).collect()
            }
            Repr::Tree(t) => t.remove_ranks(start, end),
        }
    }

    /// Every element in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> {
        let (pack, tree) = match &self.repr {
            Repr::Pack(v) => (Some(v.iter().map(|(s, m)| (&**m, *s))), None),
            Repr::Tree(t) => (None, Some(t.iter())),
        };
        pack.into_iter().flatten().chain(tree.into_iter().flatten())
    }
}

#[cfg(test)]
mod tests;
