//! The small-zset encoding: `(score, member)` elements packed end to end in one buffer, the
//! job Redis's listpack does for small sorted sets.
//!
//! Each element is its score, then its member as an LEB128 length and the bytes (the varint
//! helpers of `store::packed`). A score that is a whole number (most are: ranks, counters,
//! timestamps) is one LEB128 number, `zigzag(n) << 1`, of one to nine bytes; any other score
//! is the marker byte 1 and then its 8 little-endian bytes, as a listpack keeps integers
//! compact too. A member of 10 bytes with score 42 thus costs 12 bytes and no allocation of its
//! own, where a `(f64, Box<[u8]>)` slot cost 24 bytes plus a heap block. Elements stay in ascending `(score, member)` order (`tree::before`), so a rank is a
//! position and every lookup is a linear scan, as fast as any index at the at most
//! `zset-max-listpack-entries` elements this holds.

use super::tree::before;
use crate::store::packed::{get_len, put_len, varint_len};

/// The marker of a score stored as 8 bytes of f64 (an odd first byte; whole numbers are even).
const FLOAT_MARK: u8 = 1;
/// Whole scores below this magnitude are stored as integers (`zigzag(n) << 1` fits a u64).
const INT_LIMIT: f64 = (1u64 << 61) as f64;

/// A new member did not fit: the set must change encoding first.
#[derive(Debug, PartialEq)]
pub struct NoRoom;

/// Sorted elements in one allocation sized exactly. The value is the boxed slice alone, so a
/// set's box is 16 bytes (small sets are many; every byte of their box counts): the element
/// count is not kept but counted, and the operations that need it scan the buffer anyway.
#[derive(Clone, Debug, Default)]
pub struct Pack {
    buf: Box<[u8]>,
}

/// One decoded element: where it starts and ends in the buffer, and where its member lies.
#[derive(Clone, Copy)]
struct Elem {
    start: usize,
    member: (usize, usize),
    score: f64,
}

impl Elem {
    fn end(&self) -> usize {
        self.member.1
    }
}

/// The score as an integer when it is a whole number small enough to store as one.
fn whole(score: f64) -> Option<i64> {
    (score.fract() == 0.0 && score.abs() < INT_LIMIT).then_some(score as i64)
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// Bytes the score takes.
fn score_len(score: f64) -> usize {
    match whole(score) {
        Some(n) => varint_len((zigzag(n) << 1) as usize),
        None => 1 + 8,
    }
}

fn encode_score(out: &mut Vec<u8>, score: f64) {
    match whole(score) {
        Some(n) => put_len(out, (zigzag(n) << 1) as usize),
        None => {
            out.push(FLOAT_MARK);
            out.extend_from_slice(&score.to_le_bytes());
        }
    }
}

/// Reads the score at `pos`; returns it and where the member's length starts.
fn score_at(buf: &[u8], pos: usize) -> (f64, usize) {
    let (v, at) = get_len(buf, pos);
    if v & 1 == 0 {
        return (unzigzag((v >> 1) as u64) as f64, at);
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[pos + 1..pos + 9]);
    (f64::from_le_bytes(b), pos + 9)
}

/// Decodes the element starting at `pos`.
fn elem_at(buf: &[u8], pos: usize) -> Elem {
    let (score, member_at) = score_at(buf, pos);
    let (n, at) = get_len(buf, member_at);
    Elem {
        start: pos,
        member: (at, at + n),
        score,
    }
}

/// Bytes one element takes.
fn encoded_len(member: &[u8], score: f64) -> usize {
    score_len(score) + varint_len(member.len()) + member.len()
}

fn encode(out: &mut Vec<u8>, member: &[u8], score: f64) {
    encode_score(out, score);
    put_len(out, member.len());
    out.extend_from_slice(member);
}

/// The room rule of a member that was there already: it may always come back.
fn always_room(_: usize) -> bool {
    true
}

/// A listpack stores an integral score as an integer, so -0 comes back as 0.
fn normal(score: f64) -> f64 {
    if score == 0.0 { 0.0 } else { score }
}

impl Pack {
    /// Bytes of the buffer (`MEMORY USAGE`).
    pub fn heap_bytes(&self) -> usize {
        crate::store::footprint::alloc_bytes(self.buf.len())
    }

    /// The element count, by a scan of the buffer.
    pub fn len(&self) -> usize {
        self.elems().count()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Runs `f` on the buffer as a `Vec`, then keeps it sized to fit (no copy when it already
    /// is: growth reserves exactly).
    fn edit<R>(&mut self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let mut v = std::mem::take(&mut self.buf).into_vec();
        let r = f(&mut v);
        self.buf = v.into_boxed_slice();
        r
    }

    /// Builds from elements in ascending `(score, member)` order with distinct members.
    pub fn from_sorted(items: Vec<(Box<[u8]>, f64)>) -> Self {
        let bytes = items.iter().map(|(m, s)| encoded_len(m, normal(*s))).sum();
        let mut buf = Vec::with_capacity(bytes);
        for (m, s) in &items {
            encode(&mut buf, m, normal(*s));
        }
        Pack {
            buf: buf.into_boxed_slice(),
        }
    }

    /// Every element in ascending order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { buf: &self.buf, pos: 0 }
    }

    fn elems(&self) -> Elems<'_> {
        Elems { buf: &self.buf, pos: 0 }
    }

    fn member(&self, e: &Elem) -> &[u8] {
        &self.buf[e.member.0..e.member.1]
    }

    /// The element holding `member`, with its rank.
    fn find(&self, member: &[u8]) -> Option<(usize, Elem)> {
        self.elems().enumerate().find(|(_, e)| self.member(e) == member)
    }

    /// The byte offset of rank `rank` (the buffer's end when `rank == len`).
    fn offset_of(&self, rank: usize) -> usize {
        self.elems().nth(rank).map_or(self.buf.len(), |e| e.start)
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.find(member).map(|(_, e)| e.score)
    }

    /// 0-based ascending rank of `member`, with its score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        self.find(member).map(|(i, e)| (i, e.score))
    }

    /// Finds `member` and the byte offset of the first element not ordered before
    /// `(score, member)`, in one pass; also how many elements it looked at (all of them when
    /// `member` is not there).
    fn locate(&self, member: &[u8], score: f64) -> (Option<Elem>, usize, usize) {
        let (mut found, mut slot, mut seen) = (None, None, 0);
        for e in self.elems() {
            seen += 1;
            let m = self.member(&e);
            if slot.is_none() && !before(e.score, m, score, member) {
                slot = Some(e.start);
            }
            if found.is_none() && m == member {
                found = Some(e);
            }
            if found.is_some() && slot.is_some() {
                break;
            }
        }
        (found, slot.unwrap_or(self.buf.len()), seen)
    }

    /// Adds `member` or changes its score; returns the previous score. A new member is added
    /// only when `room(count)` allows one more beside the `count` there are; otherwise
    /// nothing changes and the caller switches encodings.
    pub fn insert(
        &mut self,
        member: &[u8],
        score: f64,
        room: impl FnOnce(usize) -> bool,
    ) -> Result<Option<f64>, NoRoom> {
        let score = normal(score);
        let (found, slot, count) = self.locate(member, score);
        let Some(e) = found else {
            if !room(count) {
                return Err(NoRoom);
            }
            // Appended, then rotated into place: no staging buffer.
            let size = encoded_len(member, score);
            self.edit(|buf| {
                buf.reserve_exact(size);
                encode(buf, member, score);
            });
            self.buf[slot..].rotate_right(size);
            return Ok(None);
        };
        if e.score == score {
            return Ok(Some(e.score));
        }
        let size = e.end() - e.start;
        if score_len(score) != score_len(e.score) {
            // The element changes size: take it out, then insert it anew.
            self.edit(|buf| buf.drain(e.start..e.end()).for_each(drop));
            self.insert(member, score, always_room)?;
            return Ok(Some(e.score));
        }
        // Same size: moving it is one rotation of the bytes between its old and its new
        // place, then the new score written over the old. `slot` is at or before the element
        // when the score drops, past it when the score rises.
        let to = if slot <= e.start {
            self.buf[slot..e.end()].rotate_right(size);
            slot
        } else {
            self.buf[e.start..slot].rotate_left(size);
            slot - size
        };
        let mut score_bytes = Vec::with_capacity(9);
        encode_score(&mut score_bytes, score);
        self.buf[to..to + score_bytes.len()].copy_from_slice(&score_bytes);
        Ok(Some(e.score))
    }

    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (_, e) = self.find(member)?;
        self.edit(|buf| buf.drain(e.start..e.end()).for_each(drop));
        Some(e.score)
    }

    /// How many leading elements satisfy `pred` (monotone: true, then false).
    pub fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        self.iter().take_while(|&(m, s)| pred(s, m)).count()
    }

    /// The element at `rank`.
    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        self.iter().nth(rank)
    }

    /// Visits ranks `start..end` ascending, or descending when `rev`; `f` returns false to stop.
    pub fn walk(&self, start: usize, end: usize, rev: bool, mut f: impl FnMut(&[u8], f64) -> bool) {
        let end = end.min(self.len());
        if start >= end {
            return;
        }
        let from = self.offset_of(start);
        let mut it = Elems {
            buf: &self.buf,
            pos: from,
        };
        if !rev {
            for e in it.take(end - start) {
                if !f(self.member(&e), e.score) {
                    return;
                }
            }
            return;
        }
        // Elements can only be decoded forwards: note where each one starts, then go back.
        let mut starts = [0u16; 128];
        if self.buf.len() <= usize::from(u16::MAX) && end - start <= starts.len() {
            for slot in starts.iter_mut().take(end - start) {
                *slot = it.pos as u16;
                it.next();
            }
            for &at in starts[..end - start].iter().rev() {
                let e = elem_at(&self.buf, at.into());
                if !f(self.member(&e), e.score) {
                    return;
                }
            }
        } else {
            let all: Vec<Elem> = it.take(end - start).collect();
            for e in all.iter().rev() {
                if !f(self.member(e), e.score) {
                    return;
                }
            }
        }
    }

    /// Removes ranks `start..end`; returns them in ascending order.
    pub fn remove_ranks(&mut self, start: usize, end: usize) -> Vec<(Box<[u8]>, f64)> {
        let end = end.min(self.len());
        if start >= end {
            return Vec::new();
        }
        let from = self.offset_of(start);
        let mut it = Iter {
            buf: &self.buf,
            pos: from,
        };
        let out: Vec<_> = (&mut it).take(end - start).map(|(m, s)| (Box::from(m), s)).collect();
        let to = it.pos;
        self.edit(|buf| buf.drain(from..to).for_each(drop));
        out
    }

    /// Empties the buffer, handing back its elements in ascending order (encoding switch).
    pub fn take_all(&mut self) -> Vec<(Box<[u8]>, f64)> {
        let out = self.iter().map(|(m, s)| (Box::from(m), s)).collect();
        *self = Pack::default();
        out
    }
}

/// Decoded element positions, ascending.
struct Elems<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Iterator for Elems<'_> {
    type Item = Elem;

    fn next(&mut self) -> Option<Elem> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let e = elem_at(self.buf, self.pos);
        self.pos = e.end();
        Some(e)
    }
}

/// Ascending iterator over a pack.
pub struct Iter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let e = elem_at(self.buf, self.pos);
        self.pos = e.end();
        Some((&self.buf[e.member.0..e.member.1], e.score))
    }
}
