//! The codec's own value types: owned ones produced by the reader, borrowed views consumed by
//! the writer.
//!
//! Why borrowed views are traits with a visitor: a snapshot must not copy the dataset (S1
//! keeps peak memory small), and the store's collections are not `Vec`s. The store implements
//! [`Elements`] / [`Pairs`] / [`Scored`] on its own types; the writer may call `for_each`
//! twice (once to choose an encoding, once to write), so it must visit the same items in the
//! same order both times.

/// A decoded value, in the order the file holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum RdbValue {
    String(Vec<u8>),
    /// Head to tail.
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    /// Member, score. Order is whatever the file held (ascending for listpacks).
    ZSet(Vec<(Vec<u8>, f64)>),
}

/// One key as loaded: its db, value and absolute expiry (unix ms), if any.
#[derive(Debug, Clone, PartialEq)]
pub struct RdbEntry {
    pub db: usize,
    pub key: Vec<u8>,
    pub value: RdbValue,
    pub expire_ms: Option<i64>,
}

/// A collection of single elements (list items head to tail, or set members).
pub trait Elements {
    /// Number of items `for_each` visits.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Visits every item; must visit the same items in the same order on every call.
    fn for_each(&self, f: &mut dyn FnMut(&[u8]));
}

/// A hash: field/value pairs.
pub trait Pairs {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn for_each(&self, f: &mut dyn FnMut(&[u8], &[u8]));
}

/// A sorted set: member/score pairs, any order (the writer sorts where the format needs it).
pub trait Scored {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn for_each(&self, f: &mut dyn FnMut(&[u8], f64));
}

/// A borrowed value to encode. `Int` lets the store save integer-encoded strings without
/// formatting them first.
#[derive(Clone, Copy)]
pub enum ValueRef<'a> {
    String(&'a [u8]),
    Int(i64),
    List(&'a dyn Elements),
    Set(&'a dyn Elements),
    Hash(&'a dyn Pairs),
    ZSet(&'a dyn Scored),
}

impl Elements for Vec<Vec<u8>> {
    fn len(&self) -> usize {
        <[Vec<u8>]>::len(self)
    }
    fn for_each(&self, f: &mut dyn FnMut(&[u8])) {
        self.iter().for_each(|item| f(item));
    }
}

impl Pairs for Vec<(Vec<u8>, Vec<u8>)> {
    fn len(&self) -> usize {
        <[(Vec<u8>, Vec<u8>)]>::len(self)
    }
    fn for_each(&self, f: &mut dyn FnMut(&[u8], &[u8])) {
        self.iter().for_each(|(k, v)| f(k, v));
    }
}

impl Scored for Vec<(Vec<u8>, f64)> {
    fn len(&self) -> usize {
        <[(Vec<u8>, f64)]>::len(self)
    }
    fn for_each(&self, f: &mut dyn FnMut(&[u8], f64)) {
        self.iter().for_each(|(m, s)| f(m, *s));
    }
}

impl RdbValue {
    /// A borrowed view for [`crate::rdb::encode_entry`].
    pub fn as_value_ref(&self) -> ValueRef<'_> {
        match self {
            RdbValue::String(s) => ValueRef::String(s),
            RdbValue::List(items) => ValueRef::List(items),
            RdbValue::Set(items) => ValueRef::Set(items),
            RdbValue::Hash(pairs) => ValueRef::Hash(pairs),
            RdbValue::ZSet(pairs) => ValueRef::ZSet(pairs),
        }
    }
}
