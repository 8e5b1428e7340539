//! Values and their in-memory encodings. Knows nothing about commands.

pub mod hash;
pub mod list;
pub mod packed;
pub mod set;
pub mod table;
pub mod zset;

pub use table::{Hashed, SegTable};

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

/// A collection type stored in a `Value`: lets command families share typed access code.
pub trait Collection: Default {
    const KIND: Kind;
    fn of(v: &Value) -> Option<&Self>;
    fn of_mut(v: &mut Value) -> Option<&mut Self>;
    fn into_value(self: Box<Self>) -> Value;
    fn is_empty_collection(&self) -> bool;
}

macro_rules! collection {
    ($ty:ty, $variant:ident, $kind:ident) => {
        impl Collection for $ty {
            const KIND: Kind = Kind::$kind;
            fn of(v: &Value) -> Option<&Self> {
                match v {
                    Value::$variant(c) => Some(c),
                    _ => None,
                }
            }
            fn of_mut(v: &mut Value) -> Option<&mut Self> {
                match v {
                    Value::$variant(c) => Some(c),
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

    pub fn kind(&self) -> Kind {
        match self {
            Value::Int(_) | Value::Str(_) => Kind::String,
            Value::List(_) => Kind::List,
            Value::Hash(_) => Kind::Hash,
            Value::Set(_) => Kind::Set,
            Value::ZSet(_) => Kind::ZSet,
        }
    }

    /// What `OBJECT ENCODING` reports for this value.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Str(s) if s.len() <= EMBSTR_MAX => "embstr",
            Value::Str(_) => "raw",
            Value::List(l) => l.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
        }
    }

    /// The bytes of a string value (formatting integers); `None` for other types.
    pub fn string_bytes(&self) -> Option<std::borrow::Cow<'_, [u8]>> {
        match self {
            Value::Int(n) => Some(std::borrow::Cow::Owned(
                itoa::Buffer::new().format(*n).as_bytes().to_vec(),
            )),
            Value::Str(s) => Some(std::borrow::Cow::Borrowed(s)),
            _ => None,
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

/// One key and its value in a keyspace.
#[derive(Debug)]
pub struct Entry {
    hash: u64,
    key: Box<[u8]>,
    pub value: Value,
    /// Absolute expiry in unix milliseconds; 0 when the key is persistent.
    pub expire_at: u64,
    /// Last access, in seconds of the server clock, for `OBJECT IDLETIME`.
    pub touched: u32,
    /// The last snapshot that has this entry saved (or that began before it was inserted);
    /// maintained by `shard::Db`. Fits in what was padding.
    pub(crate) saved_in: u32,
}

impl Entry {
    pub fn new(hash: u64, key: &[u8], value: Value) -> Entry {
        Entry {
            hash,
            key: key.into(),
            value,
            expire_at: 0,
            touched: 0,
            saved_in: 0,
        }
    }

    pub fn key(&self) -> &[u8] {
        &self.key
    }

    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The same value under another name (RENAME, COPY, MOVE build entries with this).
    pub fn rekeyed(self, hash: u64, key: &[u8]) -> Entry {
        Entry {
            hash,
            key: key.into(),
            ..self
        }
    }
}

impl Hashed for Entry {
    fn hash(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_mark_costs_no_space() {
        assert_eq!(std::mem::size_of::<Entry>(), 64);
    }

    #[test]
    fn int_encoding_only_for_canonical_forms() {
        assert!(matches!(Value::string(b"123"), Value::Int(123)));
        assert!(matches!(Value::string(b"-9223372036854775808"), Value::Int(i64::MIN)));
        for s in [&b"01"[..], b"-0", b"+1", b" 1", b"9223372036854775808", b""] {
            assert!(matches!(Value::string(s), Value::Str(_)), "{s:?}");
        }
    }
}
