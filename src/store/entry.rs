//! A keyspace entry: key, value, expiry and bookkeeping packed into one heap block.
//!
//! Why: with a table slot of one pointer and one allocation per key, a short string key costs
//! less than Redis's dict entry, key sds and value object. The earlier layout (a 64-byte struct
//! in the table, a boxed key and a separate value buffer) cost about 1.4x redis-server per key.
//!
//! Block layout (the block is 8-byte aligned; fields after the tag are read unaligned):
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | last access, server-clock seconds (`OBJECT IDLETIME`) |
//! | 4..8 | snapshot epoch marker (see `shard::snapshot`) |
//! | 8 | tag: the payload's form in the low bits, plus `HAS_EXPIRY` |
//! | 9.. | key length (LEB128), then the key |
//! | .. | expiry in unix ms (u64 LE), present only with `HAS_EXPIRY` |
//! | .. | payload: `Int` an i64 LE; `Str` a LEB128 length then the bytes; a collection the raw pointer of its `Box` |
//!
//! The key's hash is not stored: the table recomputes it from the key when it moves entries.
//! All unsafe code of the keyspace's memory layout is in this file.

use std::alloc::{self, Layout};
use std::ptr::{self, NonNull};

use super::hash::Hash;
use super::list::List;
use super::packed::varint_len;
use super::set::Set;
use super::zset::ZSet;
use super::{Kind, Value, ValueMut, ValueRef, key_hash};

const TAG_AT: usize = 8;
const HEAD: usize = 9;
const FORM_BITS: u8 = 0x07;
const HAS_EXPIRY: u8 = 0x08;
const ALIGN: usize = 8;
const PTR: usize = size_of::<usize>();

/// The payload's form, stored in the tag's low bits.
const INT: u8 = 0;
const STR: u8 = 1;
const LIST: u8 = 2;
const HASH: u8 = 3;
const SET: u8 = 4;
const ZSET: u8 = 5;

/// What goes into a block's payload: borrowed bytes are copied, a collection's box is owned
/// by the block from then on.
enum Payload<'a> {
    Int(i64),
    Str(&'a [u8]),
    Boxed(u8, *mut u8),
}

impl Payload<'_> {
    fn form(&self) -> u8 {
        match self {
            Payload::Int(_) => INT,
            Payload::Str(_) => STR,
            Payload::Boxed(form, _) => *form,
        }
    }

    fn size(&self) -> usize {
        match self {
            Payload::Int(_) => 8,
            Payload::Str(s) => varint_len(s.len()) + s.len(),
            Payload::Boxed(..) => PTR,
        }
    }

    /// Writes the payload at `p`, which has room for `self.size()` bytes.
    ///
    /// # Safety
    /// `p` must be valid for `self.size()` bytes of writes.
    unsafe fn write(&self, p: *mut u8) {
        unsafe {
            match self {
                Payload::Int(n) => ptr::copy_nonoverlapping(n.to_le_bytes().as_ptr(), p, 8),
                Payload::Str(s) => {
                    let n = put_varint(p, s.len());
                    ptr::copy_nonoverlapping(s.as_ptr(), p.add(n), s.len());
                }
                Payload::Boxed(_, raw) => ptr::write_unaligned(p.cast::<*mut u8>(), *raw),
            }
        }
    }
}

/// Calls `f` with `value` in payload form: a string is borrowed, a collection's box is handed
/// over as a raw pointer that the block then owns.
fn with_payload<R>(value: Value, f: impl FnOnce(&Payload) -> R) -> R {
    match value {
        Value::Int(n) => f(&Payload::Int(n)),
        Value::Str(s) => f(&Payload::Str(&s)),
        Value::List(b) => f(&Payload::Boxed(LIST, Box::into_raw(b).cast())),
        Value::Hash(b) => f(&Payload::Boxed(HASH, Box::into_raw(b).cast())),
        Value::Set(b) => f(&Payload::Boxed(SET, Box::into_raw(b).cast())),
        Value::ZSet(b) => f(&Payload::Boxed(ZSET, Box::into_raw(b).cast())),
    }
}

/// Writes `n` as LEB128 at `p`; returns the bytes written.
///
/// # Safety
/// `p` must be valid for `varint_len(n)` bytes of writes.
pub(super) unsafe fn put_varint(p: *mut u8, mut n: usize) -> usize {
    let mut i = 0;
    while n >= 0x80 {
        unsafe { p.add(i).write((n as u8 & 0x7f) | 0x80) };
        n >>= 7;
        i += 1;
    }
    unsafe { p.add(i).write(n as u8) };
    i + 1
}

/// Reads a LEB128 number at `p`; returns it and its length in bytes.
///
/// # Safety
/// `p` must point at a complete varint inside one allocation.
pub(super) unsafe fn get_varint(p: *const u8) -> (usize, usize) {
    let (mut n, mut shift, mut i) = (0usize, 0, 0);
    loop {
        let b = unsafe { p.add(i).read() };
        i += 1;
        n |= ((b & 0x7f) as usize) << shift;
        if b < 0x80 {
            return (n, i);
        }
        shift += 7;
    }
}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, ALIGN).expect("entry size fits a layout")
}

/// Where the parts of a block lie.
struct Spots {
    key: usize,
    key_len: usize,
    /// Start of the payload; the expiry, when present, is the 8 bytes before it.
    payload: usize,
}

/// One key and its value in a keyspace: an owning pointer to a packed block.
pub struct Entry {
    block: NonNull<u8>,
}

// SAFETY: an Entry owns its block and the collection boxed in it exclusively, like a Box.
unsafe impl Send for Entry {}
unsafe impl Sync for Entry {}

impl Entry {
    pub fn new(key: &[u8], value: Value) -> Entry {
        with_payload(value, |payload| Entry::build(key, [0; 8], 0, payload))
    }

    /// A string entry straight from bytes (integer form when canonical), with no
    /// intermediate value buffer.
    pub fn new_string(key: &[u8], bytes: &[u8]) -> Entry {
        Entry::build(key, [0; 8], 0, &string_payload(bytes))
    }

    fn build(key: &[u8], meta: [u8; 8], expire_at: u64, payload: &Payload) -> Entry {
        let expiry = if expire_at != 0 { 8 } else { 0 };
        let payload_at = HEAD + varint_len(key.len()) + key.len() + expiry;
        let size = payload_at + payload.size();
        // SAFETY: every byte of the block is written below, within `size`.
        unsafe {
            let p = alloc::alloc(layout(size));
            let Some(block) = NonNull::new(p) else {
                alloc::handle_alloc_error(layout(size));
            };
            ptr::copy_nonoverlapping(meta.as_ptr(), p, 8);
            let tag = payload.form() | if expire_at != 0 { HAS_EXPIRY } else { 0 };
            p.add(TAG_AT).write(tag);
            let n = put_varint(p.add(HEAD), key.len());
            ptr::copy_nonoverlapping(key.as_ptr(), p.add(HEAD + n), key.len());
            if expire_at != 0 {
                ptr::write_unaligned(p.add(payload_at - 8).cast::<[u8; 8]>(), expire_at.to_le_bytes());
            }
            payload.write(p.add(payload_at));
            Entry { block }
        }
    }

    fn ptr(&self) -> *mut u8 {
        self.block.as_ptr()
    }

    fn tag(&self) -> u8 {
        // SAFETY: every block has its tag at TAG_AT.
        unsafe { self.ptr().add(TAG_AT).read() }
    }

    fn form(&self) -> u8 {
        self.tag() & FORM_BITS
    }

    fn spots(&self) -> Spots {
        // SAFETY: the key length varint starts at HEAD in every block.
        let (key_len, n) = unsafe { get_varint(self.ptr().add(HEAD)) };
        let key = HEAD + n;
        let expiry = if self.tag() & HAS_EXPIRY != 0 { 8 } else { 0 };
        Spots {
            key,
            key_len,
            payload: key + key_len + expiry,
        }
    }

    /// The payload's size in bytes at offset `at`.
    fn payload_size(&self, at: usize) -> usize {
        match self.form() {
            INT => 8,
            STR => {
                // SAFETY: a Str payload starts with its length varint.
                let (len, n) = unsafe { get_varint(self.ptr().add(at)) };
                n + len
            }
            _ => PTR,
        }
    }

    fn size(&self) -> usize {
        let at = self.spots().payload;
        at + self.payload_size(at)
    }

    /// The boxed collection's pointer, for collection forms.
    fn boxed(&self) -> *mut u8 {
        debug_assert!(self.form() >= LIST);
        // SAFETY: a collection payload is one pointer.
        unsafe { ptr::read_unaligned(self.ptr().add(self.spots().payload).cast::<*mut u8>()) }
    }

    /// Estimated bytes the entry holds (`MEMORY USAGE`): its block, the slot that points to
    /// it, and a collection's box and contents, from `samples` elements of a big one.
    pub fn footprint(&self, samples: usize) -> usize {
        use super::footprint::alloc_bytes;
        let value = match self.value() {
            ValueRef::Int(_) | ValueRef::Str(_) => 0,
            ValueRef::List(l) => alloc_bytes(size_of::<List>()) + l.heap_bytes(samples),
            ValueRef::Hash(h) => alloc_bytes(size_of::<Hash>()) + h.heap_bytes(samples),
            ValueRef::Set(s) => alloc_bytes(size_of::<Set>()) + s.heap_bytes(samples),
            ValueRef::ZSet(z) => alloc_bytes(size_of::<ZSet>()) + z.heap_bytes(samples),
        };
        size_of::<Entry>() + alloc_bytes(self.size()) + value
    }

    /// The block's address: it tells live entries apart without comparing keys (a freed
    /// block's address may come back for another entry later).
    pub fn id(&self) -> usize {
        self.ptr() as usize
    }

    /// Starts loading the block (its head, key and a short value) into the cache.
    #[inline]
    pub fn prefetch(&self) {
        crate::util::prefetch(self.ptr());
    }

    pub fn key(&self) -> &[u8] {
        let s = self.spots();
        // SAFETY: the key bytes lie at `s.key` for `s.key_len` bytes.
        unsafe { std::slice::from_raw_parts(self.ptr().add(s.key), s.key_len) }
    }

    /// The key's hash (recomputed: it is not stored).
    pub fn hash(&self) -> u64 {
        key_hash(self.key())
    }

    /// Last access in seconds of the server clock, for `OBJECT IDLETIME`.
    pub fn touched(&self) -> u32 {
        // SAFETY: bytes 0..4 of the aligned block.
        unsafe { self.ptr().cast::<u32>().read() }
    }

    pub fn set_touched(&mut self, seconds: u32) {
        // SAFETY: as in `touched`.
        unsafe { self.ptr().cast::<u32>().write(seconds) }
    }

    /// The last snapshot that has this entry saved, or that began before it was inserted
    /// (maintained by `shard::Db`).
    pub(crate) fn saved_in(&self) -> u32 {
        // SAFETY: bytes 4..8 of the aligned block.
        unsafe { self.ptr().add(4).cast::<u32>().read() }
    }

    pub(crate) fn set_saved_in(&mut self, epoch: u32) {
        // SAFETY: as in `saved_in`.
        unsafe { self.ptr().add(4).cast::<u32>().write(epoch) }
    }

    /// Absolute expiry in unix milliseconds; 0 when the key is persistent.
    pub fn expire_at(&self) -> u64 {
        if self.tag() & HAS_EXPIRY == 0 {
            return 0;
        }
        let at = self.spots().payload - 8;
        // SAFETY: with HAS_EXPIRY the 8 bytes before the payload are the expiry.
        u64::from_le_bytes(unsafe { ptr::read_unaligned(self.ptr().add(at).cast::<[u8; 8]>()) })
    }

    /// Sets (or with 0 clears) the expiry. Adding or removing one moves the payload by 8 bytes.
    pub fn set_expire_at(&mut self, at_ms: u64) {
        let had = self.tag() & HAS_EXPIRY != 0;
        let payload = self.spots().payload;
        let size = payload + self.payload_size(payload);
        let moved = size - payload;
        // SAFETY: offsets come from the block's own layout; the block is regrown before the
        // payload moves up and shrunk after it moves down.
        unsafe {
            match (had, at_ms != 0) {
                (true, true) => {
                    ptr::write_unaligned(self.ptr().add(payload - 8).cast::<[u8; 8]>(), at_ms.to_le_bytes());
                }
                (false, false) => {}
                (false, true) => {
                    self.resize(size, size + 8);
                    let p = self.ptr();
                    ptr::copy(p.add(payload), p.add(payload + 8), moved);
                    ptr::write_unaligned(p.add(payload).cast::<[u8; 8]>(), at_ms.to_le_bytes());
                    p.add(TAG_AT).write(self.tag() | HAS_EXPIRY);
                }
                (true, false) => {
                    let p = self.ptr();
                    ptr::copy(p.add(payload), p.add(payload - 8), moved);
                    p.add(TAG_AT).write(self.tag() & !HAS_EXPIRY);
                    self.resize(size, size - 8);
                }
            }
        }
    }

    /// Reallocates the block from `old` to `new` bytes, keeping the common prefix.
    ///
    /// # Safety
    /// `old` must be the block's current size.
    unsafe fn resize(&mut self, old: usize, new: usize) {
        if old == new {
            return;
        }
        // SAFETY: the block was allocated with `layout(old)`.
        let p = unsafe { alloc::realloc(self.ptr(), layout(old), new) };
        match NonNull::new(p) {
            Some(block) => self.block = block,
            None => alloc::handle_alloc_error(layout(new)),
        }
    }

    pub fn kind(&self) -> Kind {
        match self.form() {
            INT | STR => Kind::String,
            LIST => Kind::List,
            HASH => Kind::Hash,
            SET => Kind::Set,
            _ => Kind::ZSet,
        }
    }

    /// The value, borrowed.
    pub fn value(&self) -> ValueRef<'_> {
        let at = self.spots().payload;
        // SAFETY: the payload at `at` has the form the tag says; a boxed collection lives as
        // long as the block, and `&self` keeps both borrowed.
        unsafe {
            let p = self.ptr().add(at);
            match self.form() {
                INT => ValueRef::Int(i64::from_le_bytes(ptr::read_unaligned(p.cast::<[u8; 8]>()))),
                STR => {
                    let (len, n) = get_varint(p);
                    ValueRef::Str(std::slice::from_raw_parts(p.add(n), len))
                }
                LIST => ValueRef::List(&*self.boxed().cast::<List>()),
                HASH => ValueRef::Hash(&*self.boxed().cast::<Hash>()),
                SET => ValueRef::Set(&*self.boxed().cast::<Set>()),
                _ => ValueRef::ZSet(&*self.boxed().cast::<ZSet>()),
            }
        }
    }

    /// The value for in-place changes: collections only (strings are replaced whole).
    pub fn value_mut(&mut self) -> ValueMut<'_> {
        // SAFETY: as in `value`, with `&mut self` making the borrow exclusive.
        unsafe {
            match self.form() {
                INT | STR => ValueMut::String,
                LIST => ValueMut::List(&mut *self.boxed().cast::<List>()),
                HASH => ValueMut::Hash(&mut *self.boxed().cast::<Hash>()),
                SET => ValueMut::Set(&mut *self.boxed().cast::<Set>()),
                _ => ValueMut::ZSet(&mut *self.boxed().cast::<ZSet>()),
            }
        }
    }

    /// Replaces the value, keeping key, expiry and bookkeeping.
    pub fn set_value(&mut self, value: Value) {
        with_payload(value, |payload| self.set_payload(payload));
    }

    /// Replaces the value with a string (integer form when canonical).
    pub fn set_string(&mut self, bytes: &[u8]) {
        self.set_payload(&string_payload(bytes));
    }

    /// Appends to a string value in place (an integer becomes its digits first), growing the
    /// block rather than rebuilding it; returns the new length. Not for collections.
    pub fn append(&mut self, tail: &[u8]) -> usize {
        if self.form() == INT {
            let digits = self.value().string_bytes().expect("a string").into_owned();
            self.set_payload(&Payload::Str(&digits));
        }
        assert_eq!(self.form(), STR, "append to a string");
        let at = self.spots().payload;
        // SAFETY: the Str payload at `at` is its length varint then its bytes; the block is
        // grown first, the bytes moved when the varint widens, then the tail written.
        unsafe {
            let (len, n) = get_varint(self.ptr().add(at));
            let new_len = len + tail.len();
            let new_n = varint_len(new_len);
            self.resize(at + n + len, at + new_n + new_len);
            let p = self.ptr().add(at);
            if new_n != n {
                ptr::copy(p.add(n), p.add(new_n), len);
            }
            put_varint(p, new_len);
            ptr::copy_nonoverlapping(tail.as_ptr(), p.add(new_n + len), tail.len());
            new_len
        }
    }

    /// The bytes of a string value for change in place (an integer becomes its digits
    /// first), zero-extended to at least `min_len` bytes; also says whether it grew. For the
    /// bit commands, which change a few bits of what may be a long string. Not for collections.
    pub fn string_mut(&mut self, min_len: usize) -> (&mut [u8], bool) {
        let len = self.value().string_bytes().expect("a string").len();
        let grow = min_len.saturating_sub(len);
        if grow > 0 || self.form() == INT {
            self.append(&vec![0; grow]);
        }
        let at = self.spots().payload;
        // SAFETY: the Str payload at `at` is its length varint then that many bytes, inside
        // the block; `&mut self` makes the borrow exclusive for the slice's life.
        unsafe {
            let (len, n) = get_varint(self.ptr().add(at));
            (std::slice::from_raw_parts_mut(self.ptr().add(at + n), len), grow > 0)
        }
    }

    fn set_payload(&mut self, payload: &Payload) {
        self.drop_collection();
        let at = self.spots().payload;
        let old = at + self.payload_size(at);
        // SAFETY: the prefix up to `at` is kept by the resize; the payload is rewritten whole.
        unsafe {
            self.resize(old, at + payload.size());
            let p = self.ptr();
            p.add(TAG_AT).write((self.tag() & !FORM_BITS) | payload.form());
            payload.write(p.add(at));
        }
    }

    /// Drops a boxed collection payload (leaving the block's pointer dangling: the caller
    /// rewrites or frees the block next).
    fn drop_collection(&mut self) {
        let raw = match self.form() {
            INT | STR => return,
            _ => self.boxed(),
        };
        // SAFETY: the pointer came from `Box::into_raw` of the type the form names.
        unsafe {
            match self.form() {
                LIST => drop(Box::from_raw(raw.cast::<List>())),
                HASH => drop(Box::from_raw(raw.cast::<Hash>())),
                SET => drop(Box::from_raw(raw.cast::<Set>())),
                _ => drop(Box::from_raw(raw.cast::<ZSet>())),
            }
        }
    }

    /// The value, taken out; the rest of the entry is freed.
    pub fn into_value(self) -> Value {
        let value = match self.form() {
            INT | STR => self.value().to_owned(),
            // SAFETY: the pointer came from `Box::into_raw` of the type the form names, and
            // ownership moves to the returned box (the block is freed without dropping it).
            form => unsafe {
                let raw = self.boxed();
                match form {
                    LIST => Value::List(Box::from_raw(raw.cast())),
                    HASH => Value::Hash(Box::from_raw(raw.cast())),
                    SET => Value::Set(Box::from_raw(raw.cast())),
                    _ => Value::ZSet(Box::from_raw(raw.cast())),
                }
            },
        };
        self.free_block();
        value
    }

    /// A copy of the value.
    pub fn to_value(&self) -> Value {
        self.value().to_owned()
    }

    /// The same value, expiry and access time under another name (RENAME, MOVE).
    pub fn rekeyed(self, key: &[u8]) -> Entry {
        let expire_at = self.expire_at();
        // SAFETY: the first 8 bytes of every block are its bookkeeping.
        let meta = unsafe { ptr::read(self.ptr().cast::<[u8; 8]>()) };
        let at = self.spots().payload;
        let size = self.size();
        let form = self.form();
        let moved = match form {
            // SAFETY: a Str payload's bytes lie in the block from `at` to `size`; the length
            // prefix is rewritten by `Payload::write`, so it is skipped here.
            STR => unsafe {
                let (len, n) = get_varint(self.ptr().add(at));
                debug_assert_eq!(at + n + len, size);
                Entry::build(
                    key,
                    meta,
                    expire_at,
                    &Payload::Str(std::slice::from_raw_parts(self.ptr().add(at + n), len)),
                )
            },
            INT => Entry::build(key, meta, expire_at, &string_or_int(self.value())),
            _ => Entry::build(key, meta, expire_at, &Payload::Boxed(form, self.boxed())),
        };
        // The collection, if any, now belongs to `moved`.
        self.free_block();
        moved
    }

    /// Frees the block without dropping a collection it points to.
    fn free_block(self) {
        let size = self.size();
        let p = self.ptr();
        std::mem::forget(self);
        // SAFETY: the block was allocated with `layout(size)` and is no longer referenced.
        unsafe { alloc::dealloc(p, layout(size)) };
    }
}

fn string_payload(bytes: &[u8]) -> Payload<'_> {
    if bytes.len() <= 20
        && let Some(n) = super::canonical_int(bytes)
    {
        return Payload::Int(n);
    }
    Payload::Str(bytes)
}

fn string_or_int(v: ValueRef<'_>) -> Payload<'_> {
    match v {
        ValueRef::Int(n) => Payload::Int(n),
        ValueRef::Str(s) => Payload::Str(s),
        _ => unreachable!("a string value"),
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.drop_collection();
        let size = self.size();
        // SAFETY: the block was allocated with `layout(size)`; this is its last use.
        unsafe { alloc::dealloc(self.ptr(), layout(size)) };
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("value", &self.value())
            .field("expire_at", &self.expire_at())
            .finish()
    }
}

impl super::Hashed for Entry {
    fn hash(&self) -> u64 {
        Entry::hash(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_short_string_key_fits_one_small_block() {
        let e = Entry::new_string(b"key:000000000001", &[b'x'; 32]);
        // 9 header bytes + 1 + 16 key + 1 + 32 value: mimalloc's 64-byte class.
        assert_eq!(e.size(), 59);
        assert_eq!(size_of::<Entry>(), 8);
        assert_eq!(size_of::<Option<Entry>>(), 8);
    }

    #[test]
    fn collections_move_between_entries_without_copies() {
        let mut set = Set::default();
        set.add(b"a", &Default::default());
        let e = Entry::new(b"k", Value::Set(Box::new(set)));
        let before = match e.value() {
            ValueRef::Set(s) => s as *const Set,
            other => panic!("{other:?}"),
        };
        let e = e.rekeyed(b"other");
        match e.value() {
            ValueRef::Set(s) => assert_eq!(s as *const Set, before),
            other => panic!("{other:?}"),
        }
        match e.into_value() {
            Value::Set(s) => assert_eq!(&*s as *const Set, before),
            other => panic!("{other:?}"),
        }
    }

    /// What a test step does to an entry.
    #[derive(Clone, Debug)]
    enum Step {
        Str(Vec<u8>),
        List(Vec<Vec<u8>>),
        Expire(u64),
        Touch(u32),
        Mark(u32),
        Rekey(Vec<u8>),
        Append(Vec<u8>),
    }

    fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..max),
            (0i64..1000).prop_map(|n| n.to_string().into_bytes()),
        ]
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            bytes(300).prop_map(Step::Str),
            proptest::collection::vec(bytes(8), 0..4).prop_map(Step::List),
            prop_oneof![Just(0u64), any::<u64>()].prop_map(Step::Expire),
            any::<u32>().prop_map(Step::Touch),
            any::<u32>().prop_map(Step::Mark),
            bytes(200).prop_map(Step::Rekey),
            bytes(150).prop_map(Step::Append),
        ]
    }

    fn string_of(v: ValueRef<'_>) -> Option<Vec<u8>> {
        v.string_bytes().map(|b| b.into_owned())
    }

    proptest! {
        /// Every change keeps every other part of the entry intact (checked against plain fields).
        #[test]
        fn entry_matches_a_plain_model(key in bytes(200), steps in proptest::collection::vec(step(), 1..30)) {
            let mut e = Entry::new(&key, Value::Int(7));
            let (mut m_key, mut m_val, mut m_exp, mut m_touch, mut m_mark) =
                (key.clone(), Value::Int(7), 0u64, 0u32, 0u32);
            for s in steps {
                match s {
                    Step::Str(b) => { e.set_string(&b); m_val = Value::string(&b); }
                    Step::List(items) => {
                        let l = List::from_elements(items.iter().map(|i| &i[..]), -2);
                        e.set_value(Value::List(Box::new(l.clone())));
                        m_val = Value::List(Box::new(l));
                    }
                    Step::Expire(at) => { e.set_expire_at(at); m_exp = at; }
                    Step::Touch(t) => { e.set_touched(t); m_touch = t; }
                    Step::Mark(m) => { e.set_saved_in(m); m_mark = m; }
                    Step::Rekey(k) => {
                        e = e.rekeyed(&k);
                        m_key = k;
                    }
                    Step::Append(tail) => {
                        if let Some(mut b) = m_val.string_bytes().map(|b| b.into_owned()) {
                            b.extend_from_slice(&tail);
                            prop_assert_eq!(e.append(&tail), b.len());
                            m_val = Value::Str(b);
                        }
                    }
                }
                prop_assert_eq!(e.key(), &m_key[..]);
                prop_assert_eq!(e.hash(), key_hash(&m_key));
                prop_assert_eq!(e.expire_at(), m_exp);
                prop_assert_eq!(e.touched(), m_touch);
                prop_assert_eq!(e.saved_in(), m_mark);
                prop_assert_eq!(e.kind(), m_val.kind());
                match (&m_val, e.value()) {
                    (Value::List(l), ValueRef::List(got)) => {
                        prop_assert_eq!(l.iter().collect::<Vec<_>>(), got.iter().collect::<Vec<_>>());
                    }
                    (m, got) => prop_assert_eq!(string_of(m.as_ref()), string_of(got)),
                }
            }
            let owned = e.into_value();
            prop_assert_eq!(owned.kind(), m_val.kind());
        }
    }
}
