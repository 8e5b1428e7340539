//! The list value: a deque of compact nodes, each node one contiguous byte buffer holding
//! several elements, as Redis's quicklist of listpacks.
//!
//! Why nodes: a heap allocation per element would cost more than the element for the short
//! strings lists usually hold. An element is stored as `len | bytes | len reversed` (both
//! lengths LEB128), so a node can be walked from either end, which LPOP/RPOP, LRANGE and
//! negative-index reads need. A node keeps a free gap at its front (`start`), so LPUSH and
//! LPOP cost O(1) amortized instead of shifting the node.
//!
//! A node grows up to the size `list-max-listpack-size` allows (negative: a byte budget of
//! 4..64 KB; positive: an entry count, capped at 8 KB as Redis caps it); a single larger
//! element gets a node of its own. Redis 7.0 reports every list as `quicklist` in
//! `OBJECT ENCODING` (the small-list `listpack` encoding came in 7.2), and so does this type.

use std::collections::VecDeque;

use super::packed::varint_len;

/// Which end of a list (LPUSH/RPUSH, LPOP/RPOP, LMOVE's LEFT/RIGHT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

impl End {
    pub fn flip(self) -> End {
        match self {
            End::Left => End::Right,
            End::Right => End::Left,
        }
    }
}

/// A list value (never empty while stored: the key is deleted with its last element).
#[derive(Clone, Debug, Default)]
pub struct List {
    nodes: VecDeque<Node>,
    len: usize,
}

/// Contiguous encoded elements; bytes before `start` are a free gap for front pushes.
#[derive(Clone, Debug, Default)]
struct Node {
    buf: Vec<u8>,
    start: usize,
    count: usize,
}

/// Redis's cap on a node's bytes when the fill is an entry count.
const SIZE_SAFETY_LIMIT: usize = 8192;

/// The byte budget of one node for a fill setting (`list-max-listpack-size`).
fn node_budget(fill: i32) -> (usize, usize) {
    match fill {
        f if f > 0 => (f as usize, SIZE_SAFETY_LIMIT),
        -1 => (usize::MAX, 4096),
        -2 | 0 => (usize::MAX, 8192),
        -3 => (usize::MAX, 16384),
        -4 => (usize::MAX, 32768),
        _ => (usize::MAX, 65536),
    }
}

/// Bytes an element of `len` bytes takes in a node.
fn entry_size(len: usize) -> usize {
    2 * varint_len(len) + len
}

/// Writes one encoded element into `dst`, which is exactly `entry_size(data.len())` long.
fn write_entry(dst: &mut [u8], data: &[u8]) {
    let h = varint_len(data.len());
    let mut n = data.len();
    for i in 0..h {
        let more = if i + 1 < h { 0x80 } else { 0 };
        let b = (n & 0x7f) as u8 | more;
        dst[i] = b;
        dst[dst.len() - 1 - i] = b;
        n >>= 7;
    }
    dst[h..h + data.len()].copy_from_slice(data);
}

/// The element starting at `pos`: (data start, data end = next element's start - trailer).
fn entry_at(buf: &[u8], pos: usize) -> (usize, usize, usize) {
    let (mut n, mut shift, mut p) = (0usize, 0, pos);
    loop {
        let b = buf[p];
        p += 1;
        n |= ((b & 0x7f) as usize) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    let h = p - pos;
    (p, p + n, p + n + h)
}

/// The element ending at `end`: (element start, data start, data end).
fn entry_before(buf: &[u8], end: usize) -> (usize, usize, usize) {
    let (mut n, mut shift, mut p) = (0usize, 0, end);
    loop {
        p -= 1;
        let b = buf[p];
        n |= ((b & 0x7f) as usize) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    let h = end - p;
    (p - n - h, p - n, p)
}

impl Node {
    fn with(data: &[u8]) -> Node {
        let mut n = Node::default();
        n.push_back(data);
        n
    }

    fn bytes(&self) -> usize {
        self.buf.len() - self.start
    }

    fn accepts(&self, len: usize, fill: i32) -> bool {
        if self.count == 0 {
            return true;
        }
        let (max_count, max_bytes) = node_budget(fill);
        self.count < max_count && self.bytes() + entry_size(len) <= max_bytes
    }

    fn push_back(&mut self, data: &[u8]) {
        let at = self.buf.len();
        self.buf.resize(at + entry_size(data.len()), 0);
        write_entry(&mut self.buf[at..], data);
        self.count += 1;
    }

    fn push_front(&mut self, data: &[u8]) {
        let sz = entry_size(data.len());
        if self.start < sz {
            // Re-open a gap in front, sized to the node so repeated LPUSHes stay amortized.
            let gap = sz + self.bytes().clamp(16, 1024);
            let mut buf = Vec::with_capacity(gap + self.bytes());
            buf.resize(gap, 0);
            buf.extend_from_slice(&self.buf[self.start..]);
            self.buf = buf;
            self.start = gap;
        }
        self.start -= sz;
        let s = self.start;
        write_entry(&mut self.buf[s..s + sz], data);
        self.count += 1;
    }

    fn pop_front(&mut self) -> Vec<u8> {
        let (ds, de, next) = entry_at(&self.buf, self.start);
        let v = self.buf[ds..de].to_vec();
        self.start = next;
        self.count -= 1;
        if self.start > 4096 && self.start > self.bytes() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        v
    }

    fn pop_back(&mut self) -> Vec<u8> {
        let (es, ds, de) = entry_before(&self.buf, self.buf.len());
        let v = self.buf[ds..de].to_vec();
        self.buf.truncate(es);
        self.count -= 1;
        v
    }

    fn iter(&self) -> NodeIter<'_> {
        NodeIter {
            buf: &self.buf,
            front: self.start,
            back: self.buf.len(),
        }
    }

    fn elements(&self) -> Vec<Vec<u8>> {
        self.iter().map(|e| e.to_vec()).collect()
    }
}

/// Elements of one node, from either end.
#[derive(Clone)]
struct NodeIter<'a> {
    buf: &'a [u8],
    front: usize,
    back: usize,
}

impl<'a> Iterator for NodeIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.front >= self.back {
            return None;
        }
        let (ds, de, next) = entry_at(self.buf, self.front);
        self.front = next;
        Some(&self.buf[ds..de])
    }
}

impl<'a> DoubleEndedIterator for NodeIter<'a> {
    fn next_back(&mut self) -> Option<&'a [u8]> {
        if self.front >= self.back {
            return None;
        }
        let (es, ds, de) = entry_before(self.buf, self.back);
        self.back = es;
        Some(&self.buf[ds..de])
    }
}

impl List {
    pub fn new() -> List {
        List::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Estimated bytes the list holds, from `samples` of its nodes (`MEMORY USAGE`).
    pub fn heap_bytes(&self, samples: usize) -> usize {
        use super::footprint::{alloc_bytes, sampled};
        let nodes = alloc_bytes(self.nodes.capacity() * size_of::<Node>());
        nodes
            + sampled(self.nodes.iter(), self.nodes.len(), samples, |n| {
                alloc_bytes(n.buf.capacity())
            })
    }

    /// What `OBJECT ENCODING` reports (Redis 7.0: always `quicklist`).
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// How many nodes the list has (DEBUG-style introspection and tests).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn push(&mut self, end: End, data: &[u8], fill: i32) {
        match end {
            End::Left => match self.nodes.front_mut() {
                Some(n) if n.accepts(data.len(), fill) => n.push_front(data),
                _ => self.nodes.push_front(Node::with(data)),
            },
            End::Right => match self.nodes.back_mut() {
                Some(n) if n.accepts(data.len(), fill) => n.push_back(data),
                _ => self.nodes.push_back(Node::with(data)),
            },
        }
        self.len += 1;
    }

    pub fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        let v = match end {
            End::Left => {
                let n = self.nodes.front_mut()?;
                let v = n.pop_front();
                if n.count == 0 {
                    self.nodes.pop_front();
                }
                v
            }
            End::Right => {
                let n = self.nodes.back_mut()?;
                let v = n.pop_back();
                if n.count == 0 {
                    self.nodes.pop_back();
                }
                v
            }
        };
        self.len -= 1;
        Some(v)
    }

    /// The node holding element `index` and the element's position inside it.
    fn locate(&self, index: usize) -> Option<(usize, usize)> {
        if index >= self.len {
            return None;
        }
        if index < self.len / 2 {
            let mut skipped = 0;
            for (ni, n) in self.nodes.iter().enumerate() {
                if index < skipped + n.count {
                    return Some((ni, index - skipped));
                }
                skipped += n.count;
            }
        } else {
            let mut after = self.len;
            for (ni, n) in self.nodes.iter().enumerate().rev() {
                after -= n.count;
                if index >= after {
                    return Some((ni, index - after));
                }
            }
        }
        None
    }

    pub fn get(&self, index: usize) -> Option<&[u8]> {
        let (ni, i) = self.locate(index)?;
        let n = &self.nodes[ni];
        if i < n.count / 2 {
            n.iter().nth(i)
        } else {
            n.iter().rev().nth(n.count - 1 - i)
        }
    }

    /// Replaces element `index` (LSET); false when out of range.
    pub fn set(&mut self, index: usize, data: &[u8], fill: i32) -> bool {
        let Some((ni, i)) = self.locate(index) else {
            return false;
        };
        let mut elems = self.nodes[ni].elements();
        elems[i] = data.to_vec();
        self.rebuild(ni, elems, fill);
        true
    }

    /// Replaces node `ni` by nodes holding `elems` (none when empty), splitting by `fill`.
    fn rebuild(&mut self, ni: usize, elems: Vec<Vec<u8>>, fill: i32) {
        let old = self.nodes.remove(ni).map_or(0, |n| n.count);
        self.len = self.len - old + elems.len();
        let mut fresh: Vec<Node> = Vec::new();
        for e in &elems {
            match fresh.last_mut() {
                Some(n) if n.accepts(e.len(), fill) => n.push_back(e),
                _ => fresh.push(Node::with(e)),
            }
        }
        for (k, n) in fresh.into_iter().enumerate() {
            self.nodes.insert(ni + k, n);
        }
    }

    /// Elements from the head.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        self.nodes.iter().flat_map(|n| n.iter())
    }

    /// Elements `start..=stop` (indexes already clamped into range), skipping whole nodes.
    pub fn range(&self, start: usize, stop: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let mut skip = start;
        let mut first = 0;
        for n in &self.nodes {
            if skip < n.count {
                break;
            }
            skip -= n.count;
            first += 1;
        }
        let take = if stop >= start { stop - start + 1 } else { 0 };
        self.nodes
            .iter()
            .skip(first)
            .flat_map(|n| n.iter())
            .skip(skip)
            .take(take)
    }

    /// Removes up to `count` elements equal to `value` (LREM: > 0 from the head, < 0 from the
    /// tail, 0 all). Returns how many went.
    pub fn remove_matching(&mut self, value: &[u8], count: i64) -> usize {
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs() as usize
        };
        let mut removed = 0;
        let order: Vec<usize> = if count < 0 {
            (0..self.nodes.len()).rev().collect()
        } else {
            (0..self.nodes.len()).collect()
        };
        for ni in order {
            if removed == limit {
                break;
            }
            if !self.nodes[ni].iter().any(|e| e == value) {
                continue;
            }
            let mut elems = self.nodes[ni].elements();
            let mut keep = vec![true; elems.len()];
            let idx: Vec<usize> = if count < 0 {
                (0..elems.len()).rev().collect()
            } else {
                (0..elems.len()).collect()
            };
            for i in idx {
                if removed < limit && elems[i] == value {
                    keep[i] = false;
                    removed += 1;
                }
            }
            let mut k = keep.iter();
            elems.retain(|_| k.next().copied().unwrap_or(true));
            // Rebuilding in place keeps later node indexes valid only when the node count
            // does not change, so rebuild into one node (it only shrank).
            let old = self.nodes[ni].count;
            let mut node = Node::default();
            for e in &elems {
                node.push_back(e);
            }
            self.len = self.len - old + node.count;
            self.nodes[ni] = node;
        }
        self.nodes.retain(|n| n.count > 0);
        removed
    }

    /// Keeps only elements `start..=stop` (LTRIM; indexes clamped; start > stop empties).
    pub fn trim(&mut self, start: usize, stop: usize) {
        if start > stop || start >= self.len {
            self.nodes.clear();
            self.len = 0;
            return;
        }
        let stop = stop.min(self.len - 1);
        let mut drop_tail = self.len - 1 - stop;
        while drop_tail > 0 {
            let Some(n) = self.nodes.back() else { break };
            if n.count <= drop_tail {
                drop_tail -= n.count;
                self.len -= n.count;
                self.nodes.pop_back();
            } else {
                for _ in 0..drop_tail {
                    self.pop(End::Right);
                }
                drop_tail = 0;
            }
        }
        let mut drop_head = start;
        while drop_head > 0 {
            let Some(n) = self.nodes.front() else { break };
            if n.count <= drop_head {
                drop_head -= n.count;
                self.len -= n.count;
                self.nodes.pop_front();
            } else {
                for _ in 0..drop_head {
                    self.pop(End::Left);
                }
                drop_head = 0;
            }
        }
    }

    /// Inserts `data` before or after the first element equal to `pivot` (LINSERT). False
    /// when the pivot is absent.
    pub fn insert(&mut self, pivot: &[u8], data: &[u8], before: bool, fill: i32) -> bool {
        let Some(ni) = self.nodes.iter().position(|n| n.iter().any(|e| e == pivot)) else {
            return false;
        };
        let mut elems = self.nodes[ni].elements();
        let Some(i) = elems.iter().position(|e| e == pivot) else {
            return false;
        };
        elems.insert(if before { i } else { i + 1 }, data.to_vec());
        self.rebuild(ni, elems, fill);
        true
    }

    /// Builds a list from elements in head-to-tail order.
    pub fn from_elements<'a>(elems: impl IntoIterator<Item = &'a [u8]>, fill: i32) -> List {
        let mut l = List::new();
        for e in elems {
            l.push(End::Right, e, fill);
        }
        l
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_check(l: &List, m: &VecDeque<Vec<u8>>) {
        assert_eq!(l.len(), m.len());
        let got: Vec<&[u8]> = l.iter().collect();
        let want: Vec<&[u8]> = m.iter().map(|v| &v[..]).collect();
        assert_eq!(got, want);
        let rev: Vec<&[u8]> = l.iter().rev().collect();
        assert_eq!(rev, want.iter().rev().copied().collect::<Vec<_>>());
        assert_eq!(l.nodes.iter().map(|n| n.count).sum::<usize>(), l.len);
    }

    #[test]
    fn entries_round_trip_at_every_length_class() {
        for len in [0usize, 1, 127, 128, 300, 16383, 16384, 70000] {
            let data = vec![b'x'; len];
            let mut buf = vec![0; entry_size(len)];
            write_entry(&mut buf, &data);
            let (ds, de, next) = entry_at(&buf, 0);
            assert_eq!((de - ds, next), (len, buf.len()));
            let (es, ds2, de2) = entry_before(&buf, buf.len());
            assert_eq!((es, ds2, de2), (0, ds, de));
        }
    }

    #[test]
    fn pushes_pops_and_reads_match_a_deque() {
        let mut l = List::new();
        let mut m = VecDeque::new();
        let mut seed = 7u64;
        for step in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let v = format!("v{}-{}", step, "y".repeat((seed % 200) as usize)).into_bytes();
            match seed % 7 {
                0 | 1 => {
                    l.push(End::Left, &v, -2);
                    m.push_front(v);
                }
                2 | 3 => {
                    l.push(End::Right, &v, 5);
                    m.push_back(v);
                }
                4 => assert_eq!(l.pop(End::Left), m.pop_front()),
                5 => assert_eq!(l.pop(End::Right), m.pop_back()),
                _ => {
                    if !m.is_empty() {
                        let i = (seed as usize / 7) % m.len();
                        assert_eq!(l.get(i), Some(&m[i][..]));
                    }
                }
            }
        }
        model_check(&l, &m);
    }

    #[test]
    fn edits_keep_order_and_counts() {
        let items: Vec<Vec<u8>> = (0..500).map(|i| format!("{}", i % 10).into_bytes()).collect();
        let mut l = List::from_elements(items.iter().map(|v| &v[..]), 16);
        let mut m: VecDeque<Vec<u8>> = items.into_iter().collect();
        assert_eq!(l.remove_matching(b"3", 7), 7);
        let mut n = 0;
        m.retain(|v| {
            !(v == b"3" && {
                n += 1;
                n <= 7
            })
        });
        model_check(&l, &m);
        assert_eq!(l.remove_matching(b"4", -3), 3);
        let mut n = 0;
        let mut r: Vec<_> = m.into_iter().rev().collect();
        r.retain(|v| {
            !(v == b"4" && {
                n += 1;
                n <= 3
            })
        });
        let mut m: VecDeque<_> = r.into_iter().rev().collect();
        model_check(&l, &m);
        assert!(l.insert(b"5", b"new", true, 16));
        let p = m.iter().position(|v| v == b"5").unwrap_or(0);
        m.insert(p, b"new".to_vec());
        model_check(&l, &m);
        assert!(l.set(100, b"set", 16));
        m[100] = b"set".to_vec();
        model_check(&l, &m);
        l.trim(37, 300);
        let m: VecDeque<_> = m.into_iter().skip(37).take(264).collect();
        model_check(&l, &m);
        let got: Vec<&[u8]> = l.range(10, 19).collect();
        let want: Vec<&[u8]> = m.iter().skip(10).take(10).map(|v| &v[..]).collect();
        assert_eq!(got, want);
    }
}
