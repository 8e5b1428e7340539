//! The compact containers that RDB stores as one string: listpack, ziplist, intset and the
//! zipmap of hashes saved before Redis 2.6.
//!
//! Why every read is checked: these blobs come straight from files and replicas' sockets, so a
//! bad length must yield an error with its position, never a panic or an out-of-bounds slice
//! (invariant S2). Elements come back as bytes; integers as their decimal text, which is
//! what Redis returns for them.

use crate::util::num::{parse_i64, write_i64};

/// A failure inside a blob: byte position within the blob and what was wrong.
#[derive(Debug)]
pub(crate) struct BlobError {
    pub at: usize,
    pub msg: &'static str,
}

type BlobResult<T> = Result<T, BlobError>;

/// A bounds-checked little cursor over a blob.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> BlobResult<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(BlobError {
                at: self.pos,
                msg: what,
            });
        };
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn byte(&mut self, what: &'static str) -> BlobResult<u8> {
        Ok(self.take(1, what)?[0])
    }

    fn le(&mut self, n: usize, what: &'static str) -> BlobResult<u64> {
        let bytes = self.take(n, what)?;
        Ok(bytes.iter().rev().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn be(&mut self, n: usize, what: &'static str) -> BlobResult<u64> {
        let bytes = self.take(n, what)?;
        Ok(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }
}

/// Sign-extends the low `bits` bits of `v`.
fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

fn int_text(v: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(20);
    write_i64(v, &mut out);
    out
}

// ---------------------------------------------------------------------------------------
// Listpack (spec 8.6)
// ---------------------------------------------------------------------------------------

/// Bytes the backlen field takes for an entry whose encoding+data is `len` bytes.
fn backlen_size(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..16383 => 2,
        16383..2097151 => 3,
        2097151..268435455 => 4,
        _ => 5,
    }
}

/// Decodes a listpack into its elements, checking header, entries and terminator.
pub(crate) fn listpack_decode(buf: &[u8]) -> BlobResult<Vec<Vec<u8>>> {
    let mut c = Cursor { buf, pos: 0 };
    let total = c.le(4, "listpack header truncated")?;
    let count = c.le(2, "listpack header truncated")?;
    if total != buf.len() as u64 {
        return Err(BlobError {
            at: 0,
            msg: "listpack total bytes differ from its size",
        });
    }
    let mut out = Vec::with_capacity((count as usize).min(4096));
    loop {
        let start = c.pos;
        let first = c.byte("listpack missing terminator")?;
        if first == 0xFF {
            break;
        }
        let item = match first {
            0x00..=0x7F => int_text(i64::from(first)),
            0x80..=0xBF => c.take(usize::from(first & 0x3F), "listpack string truncated")?.to_vec(),
            0xC0..=0xDF => {
                let v = (u64::from(first & 0x1F) << 8) | u64::from(c.byte("listpack int truncated")?);
                int_text(sign_extend(v, 13))
            }
            0xE0..=0xEF => {
                let len = (usize::from(first & 0x0F) << 8) | usize::from(c.byte("listpack length truncated")?);
                c.take(len, "listpack string truncated")?.to_vec()
            }
            0xF0 => {
                let len = c.le(4, "listpack length truncated")? as usize;
                c.take(len, "listpack string truncated")?.to_vec()
            }
            0xF1 => int_text(sign_extend(c.le(2, "listpack int truncated")?, 16)),
            0xF2 => int_text(sign_extend(c.le(3, "listpack int truncated")?, 24)),
            0xF3 => int_text(sign_extend(c.le(4, "listpack int truncated")?, 32)),
            0xF4 => int_text(c.le(8, "listpack int truncated")? as i64),
            _ => {
                return Err(BlobError {
                    at: start,
                    msg: "bad listpack entry encoding",
                });
            }
        };
        c.take(backlen_size(c.pos - start), "listpack backlen truncated")?;
        out.push(item);
    }
    if c.pos != buf.len() {
        return Err(BlobError {
            at: c.pos,
            msg: "bytes after listpack terminator",
        });
    }
    if count != 0xFFFF && count as usize != out.len() {
        return Err(BlobError {
            at: 4,
            msg: "listpack entry count mismatch",
        });
    }
    Ok(out)
}

/// Builds a listpack incrementally, as Redis 7.0 would encode each element.
pub(crate) struct ListpackBuilder {
    buf: Vec<u8>,
    count: usize,
}

impl ListpackBuilder {
    pub fn new() -> Self {
        ListpackBuilder {
            buf: vec![0; 6],
            count: 0,
        }
    }

    /// Bytes the finished listpack would take now.
    pub fn size(&self) -> usize {
        self.buf.len() + 1
    }

    pub fn count(&self) -> usize {
        self.count
    }

    pub fn push(&mut self, item: &[u8]) {
        let start = self.buf.len();
        match parse_i64(item) {
            Some(v) => push_lp_int(&mut self.buf, v),
            None => push_lp_str(&mut self.buf, item),
        }
        let len = self.buf.len() - start;
        push_backlen(&mut self.buf, len);
        self.count += 1;
    }

    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        push_lp_int(&mut self.buf, v);
        let len = self.buf.len() - start;
        push_backlen(&mut self.buf, len);
        self.count += 1;
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(0xFF);
        let total = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        let count = u16::try_from(self.count).unwrap_or(0xFFFF);
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

fn push_lp_int(buf: &mut Vec<u8>, v: i64) {
    if (0..=127).contains(&v) {
        buf.push(v as u8);
    } else if (-4096..=4095).contains(&v) {
        let u = (v as u64) & 0x1FFF;
        buf.extend_from_slice(&[0xC0 | (u >> 8) as u8, u as u8]);
    } else if i16::try_from(v).is_ok() {
        buf.push(0xF1);
        buf.extend_from_slice(&(v as i16).to_le_bytes());
    } else if (-(1 << 23)..(1 << 23)).contains(&v) {
        buf.push(0xF2);
        buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
    } else if i32::try_from(v).is_ok() {
        buf.push(0xF3);
        buf.extend_from_slice(&(v as i32).to_le_bytes());
    } else {
        buf.push(0xF4);
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

fn push_lp_str(buf: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 64 {
        buf.push(0x80 | len as u8);
    } else if len < 4096 {
        buf.extend_from_slice(&[0xE0 | (len >> 8) as u8, len as u8]);
    } else {
        buf.push(0xF0);
        buf.extend_from_slice(&(len as u32).to_le_bytes());
    }
    buf.extend_from_slice(s);
}

/// Appends the backwards-readable length: 7 bits per byte, most significant group first,
/// every byte but the first flagged with bit 7.
fn push_backlen(buf: &mut Vec<u8>, len: usize) {
    let n = backlen_size(len);
    for i in (0..n).rev() {
        let group = ((len >> (7 * i)) & 0x7F) as u8;
        buf.push(if i == n - 1 { group } else { group | 0x80 });
    }
}

// ---------------------------------------------------------------------------------------
// Ziplist (spec 8.8, load only)
// ---------------------------------------------------------------------------------------

/// Decodes a ziplist (types 10, 12, 13 and quicklist-1 nodes).
pub(crate) fn ziplist_decode(buf: &[u8]) -> BlobResult<Vec<Vec<u8>>> {
    let mut c = Cursor { buf, pos: 0 };
    let total = c.le(4, "ziplist header truncated")?;
    let _tail = c.le(4, "ziplist header truncated")?;
    let count = c.le(2, "ziplist header truncated")?;
    if total != buf.len() as u64 {
        return Err(BlobError {
            at: 0,
            msg: "ziplist total bytes differ from its size",
        });
    }
    let mut out = Vec::with_capacity((count as usize).min(4096));
    loop {
        let start = c.pos;
        let first = c.byte("ziplist missing terminator")?;
        if first == 0xFF {
            break;
        }
        // prevlen: one byte, or 0xFE + u32 LE. Forward readers only skip it.
        if first == 0xFE {
            c.take(4, "ziplist prevlen truncated")?;
        }
        let enc = c.byte("ziplist entry truncated")?;
        let item = match enc >> 6 {
            0 => c.take(usize::from(enc & 0x3F), "ziplist string truncated")?.to_vec(),
            1 => {
                let len = (usize::from(enc & 0x3F) << 8) | usize::from(c.byte("ziplist length truncated")?);
                c.take(len, "ziplist string truncated")?.to_vec()
            }
            2 if enc == 0x80 => {
                let len = c.be(4, "ziplist length truncated")? as usize;
                c.take(len, "ziplist string truncated")?.to_vec()
            }
            2 => {
                return Err(BlobError {
                    at: start,
                    msg: "bad ziplist string encoding",
                });
            }
            _ => match enc {
                0xC0 => int_text(sign_extend(c.le(2, "ziplist int truncated")?, 16)),
                0xD0 => int_text(sign_extend(c.le(4, "ziplist int truncated")?, 32)),
                0xE0 => int_text(c.le(8, "ziplist int truncated")? as i64),
                0xF0 => int_text(sign_extend(c.le(3, "ziplist int truncated")?, 24)),
                0xFE => int_text(sign_extend(c.le(1, "ziplist int truncated")?, 8)),
                0xF1..=0xFD => int_text(i64::from(enc & 0x0F) - 1),
                _ => {
                    return Err(BlobError {
                        at: start,
                        msg: "bad ziplist int encoding",
                    });
                }
            },
        };
        out.push(item);
    }
    if c.pos != buf.len() {
        return Err(BlobError {
            at: c.pos,
            msg: "bytes after ziplist terminator",
        });
    }
    if count != 0xFFFF && count as usize != out.len() {
        return Err(BlobError {
            at: 8,
            msg: "ziplist entry count mismatch",
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Intset (spec 8.7)
// ---------------------------------------------------------------------------------------

/// Decodes an intset, requiring a valid width, exact size and strictly ascending members.
pub(crate) fn intset_decode(buf: &[u8]) -> BlobResult<Vec<Vec<u8>>> {
    let mut c = Cursor { buf, pos: 0 };
    let width = c.le(4, "intset header truncated")? as usize;
    let count = c.le(4, "intset header truncated")? as usize;
    if !matches!(width, 2 | 4 | 8) {
        return Err(BlobError {
            at: 0,
            msg: "bad intset width",
        });
    }
    if count.checked_mul(width).and_then(|n| n.checked_add(8)) != Some(buf.len()) {
        return Err(BlobError {
            at: 4,
            msg: "intset size does not match its count",
        });
    }
    let mut out = Vec::with_capacity(count);
    let mut prev: Option<i64> = None;
    for _ in 0..count {
        let at = c.pos;
        let v = sign_extend(c.le(width, "intset truncated")?, (width * 8) as u32);
        if prev.is_some_and(|p| p >= v) {
            return Err(BlobError {
                at,
                msg: "intset not strictly ascending",
            });
        }
        prev = Some(v);
        out.push(int_text(v));
    }
    Ok(out)
}

/// Encodes sorted, distinct integers as an intset of the smallest width that fits them all.
pub(crate) fn intset_encode(sorted: &[i64]) -> Vec<u8> {
    let fits = |lo: i64, hi: i64| sorted.iter().all(|v| (lo..=hi).contains(v));
    let width: usize = if fits(i16::MIN.into(), i16::MAX.into()) {
        2
    } else if fits(i32::MIN.into(), i32::MAX.into()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + sorted.len() * width);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    for v in sorted {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

// ---------------------------------------------------------------------------------------
// Zipmap (hashes written by Redis before 2.6)
// ---------------------------------------------------------------------------------------

/// A zipmap length: one byte below 254, or 254 followed by a 4-byte little-endian length.
fn zipmap_len(c: &mut Cursor<'_>) -> BlobResult<Option<usize>> {
    match c.byte("zipmap truncated")? {
        255 => Ok(None),
        254 => Ok(Some(c.le(4, "zipmap length truncated")? as usize)),
        253.. => Err(BlobError {
            at: c.pos - 1,
            msg: "bad zipmap length byte",
        }),
        n => Ok(Some(n as usize)),
    }
}

/// Decodes a zipmap into field, value, field, value...: a count byte (informative only),
/// then `len key len free value [free padding bytes]` pairs up to the 255 end marker.
pub(crate) fn zipmap_decode(buf: &[u8]) -> BlobResult<Vec<Vec<u8>>> {
    let mut c = Cursor { buf, pos: 0 };
    c.byte("zipmap header truncated")?;
    let mut out = Vec::new();
    while let Some(klen) = zipmap_len(&mut c)? {
        out.push(c.take(klen, "zipmap field truncated")?.to_vec());
        let Some(vlen) = zipmap_len(&mut c)? else {
            return Err(BlobError {
                at: c.pos - 1,
                msg: "zipmap field without a value",
            });
        };
        let free = c.byte("zipmap value truncated")? as usize;
        out.push(c.take(vlen, "zipmap value truncated")?.to_vec());
        c.take(free, "zipmap padding truncated")?;
    }
    if c.pos != buf.len() {
        return Err(BlobError {
            at: c.pos,
            msg: "bytes after the zipmap end marker",
        });
    }
    Ok(out)
}

#[cfg(test)]
mod zipmap_tests {
    use super::zipmap_decode;

    #[test]
    fn decodes_pairs_with_padding_and_long_lengths() {
        let long = vec![b'x'; 300];
        let mut z = vec![2u8, 3];
        z.extend_from_slice(b"foo");
        z.extend_from_slice(&[3, 2]);
        z.extend_from_slice(b"bar\0\0");
        z.push(254);
        z.extend_from_slice(&300u32.to_le_bytes());
        z.extend_from_slice(&long);
        z.extend_from_slice(&[1, 0, b'v', 255]);
        let got = zipmap_decode(&z).expect("valid zipmap");
        assert_eq!(got, vec![b"foo".to_vec(), b"bar".to_vec(), long, b"v".to_vec()]);
    }

    #[test]
    fn refuses_truncated_and_dangling() {
        assert!(zipmap_decode(&[1, 3, b'f', b'o']).is_err());
        assert!(zipmap_decode(&[1, 1, b'f', 255]).is_err());
        assert!(zipmap_decode(&[0, 255, 7]).is_err());
        assert!(zipmap_decode(&[0]).is_err());
    }
}
