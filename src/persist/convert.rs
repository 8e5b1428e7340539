//! Between the store's values and the RDB codec's: borrowed views for writing (no copy of the
//! dataset), and building store values from loaded entries.

use crate::rdb::{Elements, Pairs, RdbValue, Scored, ValueRef};
use crate::store::hash::Hash;
use crate::store::list::List;
use crate::store::set::Set;
use crate::store::zset::ZSet;
use crate::store::{EncodingLimits, Value, ValueRef as StoreRef};

struct ListView<'a>(&'a List);
struct SetView<'a>(&'a Set);
struct HashView<'a>(&'a Hash);
struct ZSetView<'a>(&'a ZSet);

impl Elements for ListView<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn for_each(&self, f: &mut dyn FnMut(&[u8])) {
        self.0.iter().for_each(f);
    }
}

impl Elements for SetView<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn for_each(&self, f: &mut dyn FnMut(&[u8])) {
        self.0.iter().for_each(|m| m.with_bytes(&mut *f));
    }
}

impl Pairs for HashView<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn for_each(&self, f: &mut dyn FnMut(&[u8], &[u8])) {
        self.0.iter().for_each(|(k, v)| f(k, v));
    }
}

impl Scored for ZSetView<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn for_each(&self, f: &mut dyn FnMut(&[u8], f64)) {
        self.0.iter().for_each(|(m, s)| f(m, s));
    }
}

/// Calls `f` with a borrowed RDB view of `value`.
pub fn with_value_ref<T>(value: StoreRef<'_>, f: impl FnOnce(ValueRef<'_>) -> T) -> T {
    match value {
        StoreRef::Int(n) => f(ValueRef::Int(n)),
        StoreRef::Str(s) => f(ValueRef::String(s)),
        StoreRef::List(l) => f(ValueRef::List(&ListView(l))),
        StoreRef::Set(s) => f(ValueRef::Set(&SetView(s))),
        StoreRef::Hash(h) => f(ValueRef::Hash(&HashView(h))),
        StoreRef::ZSet(z) => f(ValueRef::ZSet(&ZSetView(z))),
    }
}

/// Builds a store value from a loaded one, with the encodings the thresholds pick.
pub fn from_rdb(value: RdbValue, limits: &EncodingLimits) -> Value {
    match value {
        RdbValue::String(s) => Value::string(&s),
        RdbValue::List(items) => Value::List(Box::new(List::from_elements(
            items.iter().map(Vec::as_slice),
            limits.list_max_listpack_size,
        ))),
        RdbValue::Set(members) => {
            let mut set = Set::new();
            for m in &members {
                set.add(m, limits);
            }
            Value::Set(Box::new(set))
        }
        RdbValue::Hash(pairs) => {
            let mut h = Hash::new();
            for (k, v) in &pairs {
                h.set(k, v, limits);
            }
            Value::Hash(Box::new(h))
        }
        RdbValue::ZSet(mut pairs) => {
            pairs.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
            pairs.dedup_by(|a, b| a.0 == b.0);
            let items = pairs.into_iter().map(|(m, s)| (m.into_boxed_slice(), s)).collect();
            Value::ZSet(Box::new(ZSet::from_sorted(items, limits)))
        }
    }
}
