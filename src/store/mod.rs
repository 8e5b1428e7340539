//! Values and their in-memory encodings. Knows nothing about commands.

mod entry;
pub mod footprint;
pub mod hash;
pub mod list;
pub mod packed;
mod pair_block;
pub mod set;
pub mod table;
pub mod zset;

pub use entry::Entry;
pub use table::{Hashed, Probe, SegTable};

use std::borrow::Cow;
use std::sync::OnceLock;

/// Hash of a whole key, with fixed seeds so that every core computes the same one: what a
/// shard's table indexes by and (through `shard::route`) what picks a key's shard.
pub fn key_hash(key: &[u8]) -> u64 {
    static STATE: OnceLock<ahash::RandomState> = OnceLock::new();
    STATE
        .get_or_init(|| {
            ahash::RandomState::with_seeds(
                0x5e0a_1c0d_e5ba_5e11,
                0x243f_6a88_85a3_08d3,
                0x1319_8a2e_0370_7344,
                0xa409_3822_299f_31d0,
            )
        })
        .hash_one(key)
}

/// A stored value. Strings that are canonical decimal integers are kept as `Int`, as Redis
/// keeps its "int" encoding: INCR then needs no parse and the value costs no allocation.
/// Collections are boxed so that a string entry stays small.
#[derive(Clone, Debug)]
pub enum Value {
    Int(i64),
    Str(Vec<u8>),
    List(Box<list::List>),
    Hash(Box<hash::Hash>),
    Set(Box<set::Set>),
    ZSet(Box<zset::ZSet>),
}

/// A stored value, borrowed from its entry (where strings live inline, see `entry.rs`).
#[derive(Clone, Copy, Debug)]
pub enum ValueRef<'a> {
    Int(i64),
    Str(&'a [u8]),
    List(&'a list::List),
    Hash(&'a hash::Hash),
    Set(&'a set::Set),
    ZSet(&'a zset::ZSet),
}

/// A stored collection, borrowed for change in place. Strings are replaced whole
/// (`Entry::set_value`, `Entry::set_string`), so they appear here only as `String`.
pub enum ValueMut<'a> {
    String,
    List(&'a mut list::List),
    Hash(&'a mut hash::Hash),
    Set(&'a mut set::Set),
    ZSet(&'a mut zset::ZSet),
}

/// A collection type stored in a `Value`: lets command families share typed access code.
pub trait Collection: Default {
    const KIND: Kind;
    fn of(v: ValueRef<'_>) -> Option<&Self>;
    fn of_mut(v: ValueMut<'_>) -> Option<&mut Self>;
    fn into_value(self: Box<Self>) -> Value;
    fn is_empty_collection(&self) -> bool;
}

macro_rules! collection {
    ($ty:ty, $variant:ident, $kind:ident) => {
        impl Collection for $ty {
            const KIND: Kind = Kind::$kind;
            fn of(v: ValueRef<'_>) -> Option<&Self> {
                match v {
                    ValueRef::$variant(c) => Some(c),
                    _ => None,
                }
            }
            fn of_mut(v: ValueMut<'_>) -> Option<&mut Self> {
                match v {
                    ValueMut::$variant(c) => Some(c),
                    _ => None,
                }
            }
            fn into_value(self: Box<Self>) -> Value {
                Value::$variant(self)
            }
            fn is_empty_collection(&self) -> bool {
                self.len() == 0
            }
        }
    };
}

collection!(hash::Hash, Hash, Hash);
collection!(set::Set, Set, Set);

/// Size thresholds that pick compact encodings (the `*-max-listpack-*` directives).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodingLimits {
    /// `list-max-listpack-size`: positive = entries per node, negative = -1..-5 size class.
    pub list_max_listpack_size: i32,
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub set_max_listpack_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
}

impl Default for EncodingLimits {
    /// Redis 7.0's defaults.
    fn default() -> Self {
        EncodingLimits {
            list_max_listpack_size: -2,
            hash_max_listpack_entries: 128,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            set_max_listpack_entries: 128,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
        }
    }
}

/// The Redis type name of a value, as TYPE and `SCAN ... TYPE` spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    String,
    List,
    Hash,
    Set,
    ZSet,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::List => "list",
            Kind::Hash => "hash",
            Kind::Set => "set",
            Kind::ZSet => "zset",
        }
    }

    pub fn from_name(name: &[u8]) -> Option<Kind> {
        [Kind::String, Kind::List, Kind::Hash, Kind::Set, Kind::ZSet]
            .into_iter()
            .find(|k| k.name().as_bytes().eq_ignore_ascii_case(name))
    }
}

/// Longest string Redis stores "embstr" (one allocation with its object header).
const EMBSTR_MAX: usize = 44;

impl Value {
    /// Builds a string value, choosing the integer form when the bytes are canonical.
    pub fn string(bytes: &[u8]) -> Value {
        if bytes.len() <= 20
            && let Some(n) = canonical_int(bytes)
        {
            return Value::Int(n);
        }
        Value::Str(bytes.to_vec())
    }

    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Int(n) => ValueRef::Int(*n),
            Value::Str(s) => ValueRef::Str(s),
            Value::List(l) => ValueRef::List(l),
            Value::Hash(h) => ValueRef::Hash(h),
            Value::Set(s) => ValueRef::Set(s),
            Value::ZSet(z) => ValueRef::ZSet(z),
        }
    }

    pub fn kind(&self) -> Kind {
        self.as_ref().kind()
    }

    /// The bytes of a string value (formatting integers); `None` for other types.
    pub fn string_bytes(&self) -> Option<Cow<'_, [u8]>> {
        self.as_ref().string_bytes()
    }
}

impl<'a> ValueRef<'a> {
    /// Prefetches what looking up each of `members` in this collection will read (big forms
    /// only).
    pub fn prefetch_members(&self, members: &[&[u8]]) {
        match self {
            ValueRef::Hash(h) => h.prefetch(members),
            ValueRef::Set(s) => s.prefetch(members),
            ValueRef::ZSet(z) => members.iter().for_each(|m| z.prefetch(m)),
            _ => {}
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            ValueRef::Int(_) | ValueRef::Str(_) => Kind::String,
            ValueRef::List(_) => Kind::List,
            ValueRef::Hash(_) => Kind::Hash,
            ValueRef::Set(_) => Kind::Set,
            ValueRef::ZSet(_) => Kind::ZSet,
        }
    }

    /// What `OBJECT ENCODING` reports for this value.
    pub fn encoding(self) -> &'static str {
        match self {
            ValueRef::Int(_) => "int",
            ValueRef::Str(s) if s.len() <= EMBSTR_MAX => "embstr",
            ValueRef::Str(_) => "raw",
            ValueRef::List(l) => l.encoding(),
            ValueRef::Hash(h) => h.encoding(),
            ValueRef::Set(s) => s.encoding(),
            ValueRef::ZSet(z) => z.encoding(),
        }
    }

    /// The bytes of a string value (formatting integers); `None` for other types.
    pub fn string_bytes(self) -> Option<Cow<'a, [u8]>> {
        match self {
            ValueRef::Int(n) => Some(Cow::Owned(itoa::Buffer::new().format(n).as_bytes().to_vec())),
            ValueRef::Str(s) => Some(Cow::Borrowed(s)),
            _ => None,
        }
    }

    /// An owned copy.
    pub fn to_owned(self) -> Value {
        match self {
            ValueRef::Int(n) => Value::Int(n),
            ValueRef::Str(s) => Value::Str(s.to_vec()),
            ValueRef::List(l) => Value::List(Box::new(l.clone())),
            ValueRef::Hash(h) => Value::Hash(Box::new(h.clone())),
            ValueRef::Set(s) => Value::Set(Box::new(s.clone())),
            ValueRef::ZSet(z) => Value::ZSet(Box::new(z.clone())),
        }
    }
}

/// Parses bytes that are exactly the canonical decimal form of an i64 ("-0", "01", "+1" are not).
pub fn canonical_int(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if digits[0] == b'0' && (digits.len() > 1 || neg) {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        let d = (d - b'0') as i64;
        v = v.checked_mul(10)?;
        v = if neg { v.checked_sub(d)? } else { v.checked_add(d)? };
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_encoding_only_for_canonical_forms() {
        assert!(matches!(Value::string(b"123"), Value::Int(123)));
        assert!(matches!(Value::string(b"-9223372036854775808"), Value::Int(i64::MIN)));
        for s in [&b"01"[..], b"-0", b"+1", b" 1", b"9223372036854775808", b""] {
            assert!(matches!(Value::string(s), Value::Str(_)), "{s:?}");
        }
    }
}
