//! Byte-string pairs packed end to end in one buffer: the job Redis's listpack does for small
//! hashes. Each string is its length as an LEB128 varint, then its bytes, so a pair of short
//! strings costs two or three bytes of overhead instead of two allocations and two slices.
//! Lookups are linear, which for the few short entries this holds (at most
//! `hash-max-listpack-entries`) is as fast as hashing.

/// Pairs in insertion order, in one allocation sized to fit. The value is the boxed slice
/// alone, so a small hash's box is 16 bytes: the pair count is not kept but counted, by the
/// scans that the writes make anyway.
#[derive(Clone, Debug, Default)]
pub struct PackedPairs {
    buf: Box<[u8]>,
}

/// Where one pair lies in the buffer: the pair's start, where its value's length prefix
/// starts, and its value's bytes (which end the pair).
struct Spot {
    start: usize,
    value_prefix: usize,
    value: std::ops::Range<usize>,
}

pub(crate) fn put_len(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Bytes `n` takes as an LEB128 varint (what `put_len` writes).
pub(crate) fn varint_len(n: usize) -> usize {
    ((usize::BITS - (n | 1).leading_zeros()) as usize).div_ceil(7)
}

/// Reads a length at `pos`; returns it and where its bytes begin.
pub(crate) fn get_len(buf: &[u8], mut pos: usize) -> (usize, usize) {
    let (mut n, mut shift) = (0usize, 0);
    loop {
        let b = buf[pos];
        pos += 1;
        n |= ((b & 0x7f) as usize) << shift;
        if b < 0x80 {
            return (n, pos);
        }
        shift += 7;
    }
}

/// Reads the string at `pos`; returns its bytes' range.
fn get_str(buf: &[u8], pos: usize) -> std::ops::Range<usize> {
    let (n, at) = get_len(buf, pos);
    at..at + n
}

fn encoded(field: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len() + value.len() + 4);
    put_len(&mut out, field.len());
    out.extend_from_slice(field);
    put_len(&mut out, value.len());
    out.extend_from_slice(value);
    out
}

impl PackedPairs {
    /// Bytes of the buffer (`MEMORY USAGE`).
    pub fn heap_bytes(&self) -> usize {
        super::footprint::alloc_bytes(self.buf.len())
    }

    /// The pair count, by a scan of the buffer.
    pub fn len(&self) -> usize {
        self.iter().count()
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

    /// Every pair, in insertion order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { buf: &self.buf, pos: 0 }
    }

    fn find(&self, field: &[u8]) -> Option<Spot> {
        self.find_counting(field, false).0
    }

    /// `find`; with `count_all` it also goes on to the end and returns how many pairs there
    /// are (otherwise only how many it passed).
    fn find_counting(&self, field: &[u8], count_all: bool) -> (Option<Spot>, usize) {
        let (mut pos, mut seen, mut spot) = (0, 0, None);
        while pos < self.buf.len() {
            let name = get_str(&self.buf, pos);
            let value = get_str(&self.buf, name.end);
            seen += 1;
            if spot.is_none() && &self.buf[name.clone()] == field {
                spot = Some(Spot {
                    start: pos,
                    value_prefix: name.end,
                    value: value.clone(),
                });
                if !count_all {
                    break;
                }
            }
            pos = value.end;
        }
        (spot, seen)
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.find(field).map(|s| &self.buf[s.value])
    }

    /// Sets `field` to `value` in place, or appends the pair; returns whether it was appended
    /// and how many pairs there are now.
    pub fn set(&mut self, field: &[u8], value: &[u8]) -> (bool, usize) {
        match self.find_counting(field, true) {
            (Some(spot), count) => {
                let mut new_value = Vec::with_capacity(value.len() + 4);
                put_len(&mut new_value, value.len());
                new_value.extend_from_slice(value);
                self.edit(|buf| {
                    buf.splice(spot.value_prefix..spot.value.end, new_value);
                });
                (false, count)
            }
            (None, count) => {
                let pair = encoded(field, value);
                self.edit(|buf| {
                    buf.reserve_exact(pair.len());
                    buf.extend_from_slice(&pair);
                });
                (true, count + 1)
            }
        }
    }

    /// Removes `field`; true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self.find(field) {
            Some(spot) => {
                self.edit(|buf| buf.drain(spot.start..spot.value.end).for_each(drop));
                true
            }
            None => false,
        }
    }

    /// The pair at position `i` (insertion order).
    pub fn nth(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.iter().nth(i)
    }
}

pub struct Iter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let name = get_str(self.buf, self.pos);
        let value = get_str(self.buf, name.end);
        self.pos = value.end;
        Some((&self.buf[name], &self.buf[value]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lengths_of_every_size_round_trip() {
        for n in [0usize, 1, 127, 128, 300, 16_383, 16_384, 1 << 21] {
            let mut out = Vec::new();
            put_len(&mut out, n);
            assert_eq!(get_len(&out, 0), (n, out.len()), "{n}");
        }
    }

    proptest! {
        /// Against a model (an ordered list of pairs): sets, replacements with longer and
        /// shorter values, and removals leave the same pairs in the same order.
        #[test]
        fn behaves_like_an_ordered_list(ops in proptest::collection::vec(
            (0u8..3, 0u8..12, proptest::collection::vec(any::<u8>(), 0..200)), 0..120)) {
            let mut packed = PackedPairs::default();
            let mut model: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            for (op, field, value) in ops {
                let field = vec![b'f'; field as usize];
                match op {
                    0 | 1 => {
                        let (appended, count) = packed.set(&field, &value);
                        match model.iter_mut().find(|(f, _)| *f == field) {
                            Some((_, v)) => { prop_assert!(!appended); *v = value; }
                            None => { prop_assert!(appended); model.push((field, value)); }
                        }
                        prop_assert_eq!(count, model.len());
                    }
                    _ => {
                        let was = model.iter().position(|(f, _)| *f == field);
                        prop_assert_eq!(packed.remove(&field), was.is_some());
                        if let Some(i) = was { model.remove(i); }
                    }
                }
                prop_assert_eq!(packed.len(), model.len());
                let got: Vec<(Vec<u8>, Vec<u8>)> = packed.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
                prop_assert_eq!(&got, &model);
                for (f, v) in &model {
                    prop_assert_eq!(packed.get(f), Some(&v[..]));
                }
                if let Some(last) = model.len().checked_sub(1) {
                    prop_assert_eq!(packed.nth(last).map(|(f, _)| f.to_vec()), Some(model[last].0.clone()));
                }
            }
        }
    }
}
