//! The large-zset encoding: an order-statistic treap over `(score, member)` plus a hash index
//! from member to node.
//!
//! Why a treap: every sorted-set command reduces to "how many elements come before this
//! bound" (rank) and "walk ranks a..b" (range), so each node counts its subtree. Split and
//! merge keep the code short and each operation O(log n) expected. Nodes live in one arena
//! (`Vec<Node>`, `u32` links, a free list), so there is one allocation per member (its bytes)
//! and the member is stored once: the index is a `HashTable<u32>` of node ids hashed by the
//! node's member. Every type is `Send`, so a whole set can travel between cores in a hop.

use hashbrown::HashTable;

use crate::util::bytes_eq;

const NIL: u32 = u32::MAX;

/// Fixed seeds: the index is rebuilt, never shared, so per-set random keys buy nothing.
const HASHER: ahash::RandomState = ahash::RandomState::with_seeds(
    0x243F_6A88_85A3_08D3,
    0x1319_8A2E_0370_7344,
    0xA409_3822_299F_31D0,
    0x082E_FA98_EC4E_6C89,
);

fn hash_of(member: &[u8]) -> u64 {
    HASHER.hash_one(member)
}

#[derive(Clone, Debug)]
struct Node {
    member: Box<[u8]>,
    score: f64,
    left: u32,
    right: u32,
    /// Nodes in this subtree, this one included.
    size: u32,
    prio: u32,
}

/// `(score, member)` order: scores numerically (never NaN), ties by member bytes.
pub fn before(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> bool {
    a_score < b_score || (a_score == b_score && a_member < b_member)
}

#[derive(Clone, Debug)]
pub struct Tree {
    nodes: Vec<Node>,
    free: Vec<u32>,
    root: u32,
    index: HashTable<u32>,
    rng: u64,
}

impl Default for Tree {
    fn default() -> Self {
        Tree {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NIL,
            index: HashTable::new(),
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

impl Tree {
    /// Estimated bytes the tree holds: its node array, free list and index, and the members
    /// of its first `samples` elements (all when 0) standing for every member.
    pub fn heap_bytes(&self, samples: usize) -> usize {
        use crate::store::footprint::{alloc_bytes, hash_table_bytes, sampled};
        let arrays = alloc_bytes(self.nodes.capacity() * size_of::<Node>())
            + alloc_bytes(self.free.capacity() * size_of::<u32>())
            + hash_table_bytes(&self.index);
        let members = sampled(self.iter(), self.len(), samples, |(member, _)| {
            alloc_bytes(member.len())
        });
        alloc_bytes(size_of::<Tree>()) + arrays + members
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn size(&self, t: u32) -> usize {
        if t == NIL {
            0
        } else {
            self.nodes[t as usize].size as usize
        }
    }

    fn fix(&mut self, t: u32) {
        let n = &self.nodes[t as usize];
        let size = 1 + self.size(n.left) + self.size(n.right);
        self.nodes[t as usize].size = size as u32;
    }

    fn next_prio(&mut self) -> u32 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 32) as u32
    }

    fn node_id(&self, member: &[u8]) -> Option<u32> {
        let nodes = &self.nodes;
        self.index
            .find(hash_of(member), |&id| bytes_eq(&nodes[id as usize].member, member))
            .copied()
    }

    /// Walks the index probe of `member` without comparing, prefetching each candidate node.
    pub fn prefetch(&self, member: &[u8]) {
        let _ = self.index.find(hash_of(member), |&id| {
            crate::util::prefetch(self.nodes.as_ptr().wrapping_add(id as usize));
            false
        });
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.node_id(member).map(|id| self.nodes[id as usize].score)
    }

    /// Splits `t` into the prefix of nodes for which `pred` holds and the rest.
    /// `pred` must be monotone over the order (true, then false).
    fn split(&mut self, t: u32, pred: &dyn Fn(f64, &[u8]) -> bool) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        let n = &self.nodes[t as usize];
        if pred(n.score, &n.member) {
            let (l, r) = self.split(n.right, pred);
            self.nodes[t as usize].right = l;
            self.fix(t);
            (t, r)
        } else {
            let (l, r) = self.split(n.left, pred);
            self.nodes[t as usize].left = r;
            self.fix(t);
            (l, t)
        }
    }

    /// Splits `t` into its first `k` nodes and the rest.
    fn split_at(&mut self, t: u32, k: usize) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        let left = self.nodes[t as usize].left;
        let ls = self.size(left);
        if k <= ls {
            let (l, r) = self.split_at(left, k);
            self.nodes[t as usize].left = r;
            self.fix(t);
            (l, t)
        } else {
            let right = self.nodes[t as usize].right;
            let (l, r) = self.split_at(right, k - ls - 1);
            self.nodes[t as usize].right = l;
            self.fix(t);
            (t, r)
        }
    }

    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.nodes[a as usize].prio > self.nodes[b as usize].prio {
            let r = self.nodes[a as usize].right;
            let m = self.merge(r, b);
            self.nodes[a as usize].right = m;
            self.fix(a);
            a
        } else {
            let l = self.nodes[b as usize].left;
            let m = self.merge(a, l);
            self.nodes[b as usize].left = m;
            self.fix(b);
            b
        }
    }

    fn alloc(&mut self, member: Box<[u8]>, score: f64) -> u32 {
        let prio = self.next_prio();
        let node = Node {
            member,
            score,
            left: NIL,
            right: NIL,
            size: 1,
            prio,
        };
        match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    /// Links node `id` (alone, holding its score and priority) into the ordered tree: walks
    /// down from the root, counting it into every subtree it enters, to the first node of
    /// lower priority, then splits that node's subtree around it and takes its place. A
    /// treap's expected split there is a couple of nodes, so one descent does the work (a
    /// split of the whole tree would also read every path node's other child to recount).
    /// `member` is the node's member, passed in so that no copy is needed.
    fn link(&mut self, id: u32, member: &[u8]) {
        let (score, prio) = {
            let n = &self.nodes[id as usize];
            (n.score, n.prio)
        };
        let (mut parent, mut went_left) = (NIL, false);
        let mut t = self.root;
        while t != NIL && self.nodes[t as usize].prio >= prio {
            let n = &mut self.nodes[t as usize];
            n.size += 1;
            parent = t;
            went_left = before(score, member, n.score, &n.member);
            t = if went_left { n.left } else { n.right };
        }
        let (l, r) = self.split(t, &|s, m| before(s, m, score, member));
        let n = &mut self.nodes[id as usize];
        n.left = l;
        n.right = r;
        self.fix(id);
        self.set_child(parent, went_left, id);
    }

    /// Unlinks node `id` from the ordered tree (it stays in the arena and the index): walks
    /// down to it, counting it out of every subtree on the way, and puts the merge of its
    /// children in its place.
    fn unlink(&mut self, id: u32, member: &[u8]) {
        let score = self.nodes[id as usize].score;
        let (mut parent, mut went_left) = (NIL, false);
        let mut t = self.root;
        while t != id {
            assert!(t != NIL, "zset tree: a node in the index is missing from the tree");
            let n = &mut self.nodes[t as usize];
            n.size -= 1;
            parent = t;
            went_left = before(score, member, n.score, &n.member);
            t = if went_left { n.left } else { n.right };
        }
        let (l, r) = (self.nodes[id as usize].left, self.nodes[id as usize].right);
        let joined = self.merge(l, r);
        self.set_child(parent, went_left, joined);
    }

    /// Makes `child` the root (no parent) or the given child of `parent`.
    fn set_child(&mut self, parent: u32, left: bool, child: u32) {
        if parent == NIL {
            self.root = child;
        } else if left {
            self.nodes[parent as usize].left = child;
        } else {
            self.nodes[parent as usize].right = child;
        }
    }

    /// Inserts or re-scores `member`; returns the previous score.
    pub fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        if let Some(id) = self.node_id(member) {
            let old = self.nodes[id as usize].score;
            // An equal score (0 against -0 included) changes nothing, as in Redis.
            if old != score {
                self.unlink(id, member);
                let n = &mut self.nodes[id as usize];
                n.score = score;
                n.left = NIL;
                n.right = NIL;
                n.size = 1;
                self.link(id, member);
            }
            return Some(old);
        }
        let id = self.alloc(member.into(), score);
        let nodes = &self.nodes;
        self.index
            .insert_unique(hash_of(member), id, |&i| hash_of(&nodes[i as usize].member));
        self.link(id, member);
        None
    }

    /// Appends a member known to sort after every present one (bulk building).
    pub fn push_max(&mut self, member: Box<[u8]>, score: f64) {
        let hash = hash_of(&member);
        let id = self.alloc(member, score);
        let nodes = &self.nodes;
        self.index
            .insert_unique(hash, id, |&i| hash_of(&nodes[i as usize].member));
        let root = self.root;
        self.root = self.merge(root, id);
    }

    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let id = self.node_id(member)?;
        self.unlink(id, member);
        Some(self.release(id).1)
    }

    /// Drops node `id` from the index and frees its slot.
    fn release(&mut self, id: u32) -> (Box<[u8]>, f64) {
        let nodes = &self.nodes;
        let member = &nodes[id as usize].member;
        if let Ok(e) = self.index.find_entry(hash_of(member), |&i| i == id) {
            e.remove();
        }
        let n = &mut self.nodes[id as usize];
        let member = std::mem::take(&mut n.member);
        self.free.push(id);
        (member, n.score)
    }

    /// How many leading elements satisfy `pred` (monotone: true, then false).
    pub fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut t = self.root;
        let mut count = 0;
        while t != NIL {
            let n = &self.nodes[t as usize];
            if pred(n.score, &n.member) {
                count += self.size(n.left) + 1;
                t = n.right;
            } else {
                t = n.left;
            }
        }
        count
    }

    /// The element at ascending rank `k`.
    pub fn get(&self, mut k: usize) -> Option<(&[u8], f64)> {
        let mut t = self.root;
        while t != NIL {
            let n = &self.nodes[t as usize];
            let ls = self.size(n.left);
            if k < ls {
                t = n.left;
            } else if k == ls {
                return Some((&n.member, n.score));
            } else {
                k -= ls + 1;
                t = n.right;
            }
        }
        None
    }

    /// 0-based ascending rank of `member` and its score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        let score = self.score(member)?;
        Some((self.count_while(|s, m| before(s, m, score, member)), score))
    }

    /// Visits ranks `start..end` in ascending order, or descending (`end-1` down to `start`)
    /// when `rev`. Stops early when `f` returns false.
    pub fn walk(&self, start: usize, end: usize, rev: bool, f: &mut dyn FnMut(&[u8], f64) -> bool) {
        let end = end.min(self.len());
        if start >= end {
            return;
        }
        // A reverse walk is a forward walk of the mirrored tree.
        let first = |n: &Node| if rev { n.right } else { n.left };
        let second = |n: &Node| if rev { n.left } else { n.right };
        let mut k = if rev { self.len() - end } else { start };
        let mut left = end - start;
        let mut stack = Vec::with_capacity(48);
        let mut t = self.root;
        while t != NIL {
            let n = &self.nodes[t as usize];
            let fs = self.size(first(n));
            if k < fs {
                stack.push(t);
                t = first(n);
            } else if k == fs {
                stack.push(t);
                break;
            } else {
                k -= fs + 1;
                t = second(n);
            }
        }
        while let Some(t) = stack.pop() {
            let n = &self.nodes[t as usize];
            if !f(&n.member, n.score) {
                return;
            }
            left -= 1;
            if left == 0 {
                return;
            }
            let mut c = second(n);
            while c != NIL {
                stack.push(c);
                c = first(&self.nodes[c as usize]);
            }
        }
    }

    /// Removes ranks `start..end`; returns the removed elements in ascending order.
    pub fn remove_ranks(&mut self, start: usize, end: usize) -> Vec<(Box<[u8]>, f64)> {
        let end = end.min(self.len());
        if start >= end {
            return Vec::new();
        }
        let root = self.root;
        let (l, r) = self.split_at(root, start);
        let (mid, r2) = self.split_at(r, end - start);
        self.root = self.merge(l, r2);
        let mut ids = Vec::with_capacity(end - start);
        self.collect(mid, &mut ids);
        ids.into_iter().map(|id| self.release(id)).collect()
    }

    fn collect(&self, t: u32, ids: &mut Vec<u32>) {
        let mut stack = Vec::new();
        let mut c = t;
        loop {
            while c != NIL {
                stack.push(c);
                c = self.nodes[c as usize].left;
            }
            let Some(top) = stack.pop() else { return };
            ids.push(top);
            c = self.nodes[top as usize].right;
        }
    }
}

/// Ascending iterator over a tree (RDB encoding, conversions, whole-set reads).
pub struct Iter<'a> {
    tree: &'a Tree,
    stack: Vec<u32>,
}

impl<'a> Iter<'a> {
    fn push_left(&mut self, mut c: u32) {
        while c != NIL {
            self.stack.push(c);
            c = self.tree.nodes[c as usize].left;
        }
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        let t = self.stack.pop()?;
        let n = &self.tree.nodes[t as usize];
        self.push_left(n.right);
        Some((&n.member, n.score))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.tree.len()))
    }
}

impl Tree {
    pub fn iter(&self) -> Iter<'_> {
        let mut it = Iter {
            tree: self,
            stack: Vec::with_capacity(48),
        };
        it.push_left(self.root);
        it
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_rank_walk_remove() {
        let mut t = Tree::default();
        for i in (0..100).rev() {
            assert_eq!(t.insert(format!("m{i:03}").as_bytes(), i as f64), None);
        }
        assert_eq!(t.rank(b"m042"), Some((42, 42.0)));
        let mut seen = Vec::new();
        t.walk(95, 200, true, &mut |m, _| {
            seen.push(m.to_vec());
            true
        });
        assert_eq!(seen.len(), 5);
        assert_eq!(seen[0], b"m099");
        assert_eq!(t.insert(b"m000", 1000.0), Some(0.0));
        assert_eq!(t.rank(b"m000"), Some((99, 1000.0)));
        let gone = t.remove_ranks(0, 10);
        assert_eq!(gone.len(), 10);
        assert_eq!(&*gone[0].0, b"m001");
        assert_eq!(t.len(), 90);
        assert_eq!(t.remove(b"m050"), Some(50.0));
        assert_eq!(t.score(b"m050"), None);
        assert_eq!(t.count_while(|s, _| s < 50.0), 39);
    }
}
