//! The small-zset encoding: `(score, member)` elements packed end to end in one buffer, the
//! job Redis's listpack does for small sorted sets.
//!
//! Each element is its score as 8 little-endian bytes, then its member as an LEB128 length and
//! the bytes (the varint helpers of `store::packed`). A member of 10 bytes thus costs 19 bytes
//! and no allocation of its own, where a `(f64, Box<[u8]>)` slot cost 24 bytes plus a heap
//! block. Elements stay in ascending `(score, member)` order (`tree::before`), so a rank is a
//! position and every lookup is a linear scan, as fast as any index at the at most
//! `zset-max-listpack-entries` elements this holds.

use super::tree::before;
use crate::store::packed::{get_len, put_len};

const SCORE: usize = 8;

/// A new member did not fit: the set must change encoding first.
#[derive(Debug, PartialEq)]
pub struct NoRoom;

/// Sorted elements in one allocation sized to fit.
#[derive(Clone, Debug, Default)]
pub struct Pack {
    buf: Vec<u8>,
    len: usize,
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

fn score_at(buf: &[u8], pos: usize) -> f64 {
    let mut b = [0u8; SCORE];
    b.copy_from_slice(&buf[pos..pos + SCORE]);
    f64::from_le_bytes(b)
}

/// Decodes the element starting at `pos`.
fn elem_at(buf: &[u8], pos: usize) -> Elem {
    let score = score_at(buf, pos);
    let (n, at) = get_len(buf, pos + SCORE);
    Elem {
        start: pos,
        member: (at, at + n),
        score,
    }
}

/// Bytes one element takes.
fn encoded_len(member: &[u8]) -> usize {
    let mut n = member.len();
    let mut prefix = 1;
    while n >= 0x80 {
        n >>= 7;
        prefix += 1;
    }
    SCORE + prefix + member.len()
}

fn encode(out: &mut Vec<u8>, member: &[u8], score: f64) {
    out.extend_from_slice(&score.to_le_bytes());
    put_len(out, member.len());
    out.extend_from_slice(member);
}

/// A listpack stores an integral score as an integer, so -0 comes back as 0.
fn normal(score: f64) -> f64 {
    if score == 0.0 { 0.0 } else { score }
}

impl Pack {
    pub fn len(&self) -> usize {
        self.len
    }

    /// Builds from elements in ascending `(score, member)` order with distinct members.
    pub fn from_sorted(items: Vec<(Box<[u8]>, f64)>) -> Self {
        let bytes = items.iter().map(|(m, _)| encoded_len(m)).sum();
        let mut buf = Vec::with_capacity(bytes);
        for (m, s) in &items {
            encode(&mut buf, m, normal(*s));
        }
        Pack { buf, len: items.len() }
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
    /// `(score, member)`, in one pass.
    fn locate(&self, member: &[u8], score: f64) -> (Option<Elem>, usize) {
        let (mut found, mut slot) = (None, None);
        for e in self.elems() {
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
        (found, slot.unwrap_or(self.buf.len()))
    }

    /// Adds `member` or changes its score; returns the previous score. A new member is added
    /// only when `room`; otherwise nothing changes and the caller switches encodings.
    pub fn insert(&mut self, member: &[u8], score: f64, room: bool) -> Result<Option<f64>, NoRoom> {
        let score = normal(score);
        let (found, slot) = self.locate(member, score);
        let Some(e) = found else {
            if !room {
                return Err(NoRoom);
            }
            // Appended, then rotated into place: no staging buffer.
            let size = encoded_len(member);
            self.buf.reserve_exact(size);
            encode(&mut self.buf, member, score);
            self.buf[slot..].rotate_right(size);
            self.len += 1;
            return Ok(None);
        };
        if e.score == score {
            return Ok(Some(e.score));
        }
        // The element keeps its size, so moving it is one rotation of the bytes between its
        // old and its new place, then the new score written over the old. `slot` is at or
        // before the element when the score drops, past it when the score rises.
        let size = e.end() - e.start;
        let to = if slot <= e.start {
            self.buf[slot..e.end()].rotate_right(size);
            slot
        } else {
            self.buf[e.start..slot].rotate_left(size);
            slot - size
        };
        self.buf[to..to + SCORE].copy_from_slice(&score.to_le_bytes());
        Ok(Some(e.score))
    }

    /// Releases spare capacity once the buffer is much smaller than its allocation.
    fn maybe_shrink(&mut self) {
        if self.buf.capacity() > 2 * self.buf.len() + 64 {
            self.buf.shrink_to_fit();
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (_, e) = self.find(member)?;
        self.buf.drain(e.start..e.end());
        self.len -= 1;
        self.maybe_shrink();
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
        let end = end.min(self.len);
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
        let end = end.min(self.len);
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
        self.buf.drain(from..to);
        self.len -= end - start;
        self.maybe_shrink();
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
