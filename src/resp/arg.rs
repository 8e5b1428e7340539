//! One request argument.
//!
//! Most arguments are short: a key, a field, a small value. Slicing each of them out of the
//! read buffer as a `Bytes` costs an atomic reference-count update when the slice is made and
//! another when it is dropped, plus one pair for the request's frame; for a GET that was six
//! atomic operations, about a tenth of the server's CPU at `-P 16`. An argument of up to
//! [`INLINE_MAX`] bytes is therefore copied into the `Arg` itself, and only longer ones stay
//! zero-copy slices of their request's frame.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use bytes::Bytes;

/// Longest argument kept inline: what fits beside the length byte in the size of a `Bytes`.
pub const INLINE_MAX: usize = 23;

/// A request argument: its bytes, inline when short, a shared slice when long.
#[derive(Clone)]
pub struct Arg(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, data: [u8; INLINE_MAX] },
    Shared(Bytes),
}

// An argument vector costs no more memory than the `Vec<Bytes>` it replaces.
const _: () = assert!(std::mem::size_of::<Arg>() == std::mem::size_of::<Bytes>());

impl Arg {
    /// A copy of `bytes`: inline when short, a new shared buffer otherwise.
    pub fn copy_from_slice(bytes: &[u8]) -> Arg {
        Self::inline(bytes).unwrap_or_else(|| Arg(Repr::Shared(Bytes::copy_from_slice(bytes))))
    }

    /// `bytes` inline, or None when it is longer than [`INLINE_MAX`].
    pub fn inline(bytes: &[u8]) -> Option<Arg> {
        if bytes.len() > INLINE_MAX {
            return None;
        }
        let mut data = [0u8; INLINE_MAX];
        data[..bytes.len()].copy_from_slice(bytes);
        Some(Arg(Repr::Inline {
            len: bytes.len() as u8,
            data,
        }))
    }

    /// The first `len` bytes of `window` inline. The whole window is copied, a fixed-size
    /// copy of a few register moves where a `len`-byte one is a `memcpy` call; the bytes past
    /// `len` are never read.
    pub fn inline_window(window: &[u8; INLINE_MAX], len: usize) -> Arg {
        debug_assert!(len <= INLINE_MAX);
        Arg(Repr::Inline {
            len: len.min(INLINE_MAX) as u8,
            data: *window,
        })
    }

    /// Makes this argument the first `len` bytes of `window`, inline, written in place. A
    /// pushed argument built by value went through a stack copy whose two overlapping stores
    /// (16 + 8 bytes for 23) the reload could not forward: a stall on every argument parsed.
    pub fn set_inline_window(&mut self, window: &[u8; INLINE_MAX], len: usize) {
        debug_assert!(len <= INLINE_MAX);
        match &mut self.0 {
            Repr::Inline { len: l, data } => {
                *l = len.min(INLINE_MAX) as u8;
                *data = *window;
            }
            shared => *shared = Self::inline_window(window, len).0,
        }
    }

    /// `frame[range]`: copied inline when short, else a shared slice (so a short argument
    /// beside a long one costs no reference count either).
    pub fn slice_of(frame: &Bytes, range: std::ops::Range<usize>) -> Arg {
        Self::inline(&frame[range.clone()]).unwrap_or_else(|| Arg(Repr::Shared(frame.slice(range))))
    }

    pub fn from_static(bytes: &'static [u8]) -> Arg {
        Arg::from(Bytes::from_static(bytes))
    }

    /// The argument as a `Bytes`: a reference-count update for a long one, a copy for a short.
    pub fn to_bytes(&self) -> Bytes {
        match &self.0 {
            Repr::Inline { len, data } => Bytes::copy_from_slice(&data[..*len as usize]),
            Repr::Shared(b) => b.clone(),
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, data } => &data[..*len as usize],
            Repr::Shared(b) => b,
        }
    }
}

impl Default for Arg {
    fn default() -> Self {
        Arg(Repr::Inline {
            len: 0,
            data: [0; INLINE_MAX],
        })
    }
}

impl Deref for Arg {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Arg {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for Arg {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

/// A long `Bytes` is kept as it is (no copy); a short one is copied inline.
impl From<Bytes> for Arg {
    fn from(b: Bytes) -> Arg {
        Arg::inline(&b).unwrap_or(Arg(Repr::Shared(b)))
    }
}

impl From<Vec<u8>> for Arg {
    fn from(v: Vec<u8>) -> Arg {
        Arg::inline(&v).unwrap_or_else(|| Arg(Repr::Shared(Bytes::from(v))))
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Arg {
        Arg::from(s.into_bytes())
    }
}

impl From<&[u8]> for Arg {
    fn from(b: &[u8]) -> Arg {
        Arg::copy_from_slice(b)
    }
}

impl<const N: usize> From<&[u8; N]> for Arg {
    fn from(b: &[u8; N]) -> Arg {
        Arg::copy_from_slice(b)
    }
}

impl From<&str> for Arg {
    fn from(s: &str) -> Arg {
        Arg::copy_from_slice(s.as_bytes())
    }
}

impl From<Arg> for Bytes {
    fn from(a: Arg) -> Bytes {
        match a.0 {
            Repr::Inline { len, data } => Bytes::copy_from_slice(&data[..len as usize]),
            Repr::Shared(b) => b,
        }
    }
}

impl From<&Arg> for Bytes {
    fn from(a: &Arg) -> Bytes {
        a.to_bytes()
    }
}

impl PartialEq for Arg {
    fn eq(&self, other: &Arg) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Arg {}

impl PartialEq<[u8]> for Arg {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<&[u8]> for Arg {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_slice() == *other
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Arg {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl PartialEq<str> for Arg {
    fn eq(&self, other: &str) -> bool {
        self.as_slice() == other.as_bytes()
    }
}

impl PartialEq<&str> for Arg {
    fn eq(&self, other: &&str) -> bool {
        self.as_slice() == other.as_bytes()
    }
}

impl PartialEq<Bytes> for Arg {
    fn eq(&self, other: &Bytes) -> bool {
        self.as_slice() == other.as_ref()
    }
}

impl PartialOrd for Arg {
    fn partial_cmp(&self, other: &Arg) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Arg {
    fn cmp(&self, other: &Arg) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

/// Hashes as the byte slice does, so that `Borrow<[u8]>` lookups agree.
impl Hash for Arg {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state)
    }
}

/// Shown as `Bytes` shows itself: `b"..."` with escapes.
impl fmt::Debug for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Shared(b) => fmt::Debug::fmt(b, f),
            Repr::Inline { .. } => fmt::Debug::fmt(&Bytes::copy_from_slice(self), f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_arguments_are_inline_and_long_ones_share_their_buffer() {
        let short = Arg::from(Bytes::from_static(b"key:000000012345"));
        assert!(matches!(short.0, Repr::Inline { len: 16, .. }));
        assert_eq!(&short[..], b"key:000000012345");

        let at_limit = Arg::from(vec![b'x'; INLINE_MAX]);
        assert!(matches!(at_limit.0, Repr::Inline { .. }));

        let frame = Bytes::from(vec![b'v'; 100]);
        let long = Arg::from(frame.slice(10..60));
        match &long.0 {
            Repr::Shared(b) => assert_eq!(b.as_ptr(), frame[10..].as_ptr(), "no copy"),
            Repr::Inline { .. } => panic!("a 50-byte argument is not inline"),
        }
        assert_eq!(long.len(), 50);

        // Out of a frame: the short part inline, the long part a slice of the same buffer.
        assert!(matches!(Arg::slice_of(&frame, 0..16).0, Repr::Inline { len: 16, .. }));
        match Arg::slice_of(&frame, 20..90).0 {
            Repr::Shared(b) => assert_eq!(b.as_ptr(), frame[20..].as_ptr()),
            Repr::Inline { .. } => panic!("a 70-byte argument is not inline"),
        }
    }

    #[test]
    fn equality_hash_and_order_follow_the_bytes() {
        use std::collections::HashSet;
        let a = Arg::from("abc");
        let b = Arg::from(Bytes::from(b"abc".to_vec()));
        let long = Arg::from(vec![b'a'; 40]);
        assert_eq!(a, b);
        assert_eq!(a, "abc");
        assert_eq!(a, &b"abc"[..]);
        let after = Arg::from(vec![b'b']);
        assert!(long < a && a < after);
        let set: HashSet<Arg> = [a.clone(), long.clone()].into_iter().collect();
        assert!(set.contains(&b"abc"[..]));
        assert!(set.contains(&vec![b'a'; 40][..]));
        assert_eq!(Bytes::from(long.clone()), Bytes::from(vec![b'a'; 40]));
        assert_eq!(a.to_bytes(), Bytes::from_static(b"abc"));
    }

    #[test]
    fn debug_output_matches_bytes() {
        let a = Arg::from("a\"b\r\n");
        assert_eq!(format!("{a:?}"), format!("{:?}", Bytes::from_static(b"a\"b\r\n")));
    }
}
