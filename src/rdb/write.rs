//! RDB v10 encoder: a sans-IO writer for the file frame, and [`encode_entry`] for the keys.
//!
//! Why sans-IO: the same bytes go to a temp file (BGSAVE, S2), to a replica socket diskless
//! or to a `$<len>` payload, from glommio tasks; the writer only buffers bytes and keeps the
//! running CRC64, and the caller moves them with [`RdbWriter::take`]. Shards encode their keys
//! into independent chunks with [`encode_entry`] (no shared state, so it runs on every core
//! at once) and the coordinator feeds the chunks through [`RdbWriter::append`], which is what
//! keeps the checksum covering every byte.
//!
//! Encodings follow what 7.0.15 writes for the same data (spec 8.11): quicklist-2 lists,
//! intset / hashtable sets, listpack / hashtable hashes, listpack / skiplist zsets, with the
//! default thresholds; 7.0.15 re-encodes on load per its own config either way.

use super::blob::{ListpackBuilder, intset_encode};
use super::value::{RdbEntry, ValueRef};
use super::{CRC64, kind, opcode};
use crate::util::num::{format_double, parse_i64, write_i64};

/// `set-max-intset-entries` default.
const INTSET_MAX_ENTRIES: usize = 512;
/// `hash-max-listpack-entries` / `zset-max-listpack-entries` defaults.
const LISTPACK_MAX_ENTRIES: usize = 128;
/// `hash-max-listpack-value` / `zset-max-listpack-value` defaults.
const LISTPACK_MAX_VALUE: usize = 64;
/// `list-max-listpack-size -2`: quicklist nodes of at most 8 KB.
const QUICKLIST_NODE_BYTES: usize = 8192;
/// Quicklist-2 node container: a listpack of several elements.
const QUICKLIST_PACKED: u64 = 2;

/// An AUX field value; integers are written in their compact INT string encoding, as Redis
/// does for `redis-bits`, `ctime`, `used-mem`...
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AuxValue<'a> {
    Str(&'a [u8]),
    Int(i64),
}

/// The replication AUX fields a full-sync payload (or a replica's own dump) carries so that a
/// restarted replica can PSYNC.
#[derive(Debug, Clone, Copy)]
pub struct ReplAux<'a> {
    pub stream_db: i64,
    /// 40 hex characters.
    pub replid: &'a str,
    pub offset: i64,
}

/// The AUX fields 7.0.15 writes, in its order: `redis-ver`, `redis-bits`, `ctime` (unix
/// seconds), `used-mem`, then `repl-stream-db` / `repl-id` / `repl-offset` when in a
/// replication chain, then `aof-base` 0.
pub fn standard_aux<'a>(ctime_s: i64, used_mem: u64, repl: Option<ReplAux<'a>>) -> Vec<(&'static str, AuxValue<'a>)> {
    let mut aux = vec![
        ("redis-ver", AuxValue::Str(b"7.0.15")),
        ("redis-bits", AuxValue::Int(64)),
        ("ctime", AuxValue::Int(ctime_s)),
        ("used-mem", AuxValue::Int(i64::try_from(used_mem).unwrap_or(i64::MAX))),
    ];
    if let Some(r) = repl {
        aux.push(("repl-stream-db", AuxValue::Int(r.stream_db)));
        aux.push(("repl-id", AuxValue::Str(r.replid.as_bytes())));
        aux.push(("repl-offset", AuxValue::Int(r.offset)));
    }
    aux.push(("aof-base", AuxValue::Int(0)));
    aux
}

/// The file frame: magic, AUX, SELECTDB/RESIZEDB, appended chunks, EOF and CRC64.
///
/// Every byte is buffered until [`take`](Self::take); the CRC covers all of them in order, so
/// the caller must write what `take` returns, in order, and nothing else.
pub struct RdbWriter {
    buf: Vec<u8>,
    digest: crc::Digest<'static, u64, crc::Table<16>>,
    checksum: bool,
    /// Bytes already handed out by `take`.
    taken: u64,
    finished: bool,
}

impl RdbWriter {
    /// Starts a file with the `REDIS0010` magic. `checksum` false (`rdbchecksum no`) writes
    /// an all-zero trailer, which loaders take as "not checked".
    pub fn new(checksum: bool) -> Self {
        let mut w = RdbWriter {
            buf: Vec::with_capacity(256),
            digest: CRC64.digest(),
            checksum,
            taken: 0,
            finished: false,
        };
        w.buf.extend_from_slice(b"REDIS0010");
        w
    }

    /// Writes AUX fields (see [`standard_aux`]); unknown names are fine, loaders ignore them.
    pub fn header(&mut self, aux: &[(&str, AuxValue<'_>)]) {
        for (name, value) in aux {
            self.aux(name, *value);
        }
    }

    /// Writes one AUX field.
    pub fn aux(&mut self, name: &str, value: AuxValue<'_>) {
        self.buf.push(opcode::AUX);
        put_string(&mut self.buf, name.as_bytes(), false);
        match value {
            AuxValue::Str(s) => put_string(&mut self.buf, s, false),
            AuxValue::Int(v) => put_int_string(&mut self.buf, v),
        }
    }

    /// Writes a function library's code (FUNCTION2), before the databases.
    pub fn function(&mut self, code: &[u8]) {
        self.buf.push(opcode::FUNCTION2);
        put_string(&mut self.buf, code, false);
    }

    /// Starts db `db`: SELECTDB, then RESIZEDB with the key and with-TTL counts (a sizing
    /// hint for the loader; it need not be exact).
    pub fn select_db(&mut self, db: usize, keys: u64, expires: u64) {
        self.buf.push(opcode::SELECTDB);
        put_len(&mut self.buf, db as u64);
        self.buf.push(opcode::RESIZEDB);
        put_len(&mut self.buf, keys);
        put_len(&mut self.buf, expires);
    }

    /// Switches back to a db already started with [`select_db`](Self::select_db): SELECTDB
    /// alone (snapshots interleave the shards' pieces, so a db may come back).
    pub fn switch_db(&mut self, db: usize) {
        self.buf.push(opcode::SELECTDB);
        put_len(&mut self.buf, db as u64);
    }

    /// Encodes one key directly (the single-threaded path; shards use [`encode_entry`]).
    pub fn entry(&mut self, key: &[u8], value: ValueRef<'_>, expire_ms: Option<i64>, compress: bool) {
        encode_entry(key, value, expire_ms, compress, &mut self.buf);
    }

    /// Appends a chunk produced by [`encode_entry`] calls for keys of the current db.
    pub fn append(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// Ends the file: EOF opcode and the CRC64 of every byte before the trailer (or zeros).
    /// Further calls do nothing.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.buf.push(opcode::EOF);
        self.digest.update(&self.buf);
        let crc = std::mem::replace(&mut self.digest, CRC64.digest()).finalize();
        let trailer = if self.checksum { crc } else { 0 };
        self.buf.extend_from_slice(&trailer.to_le_bytes());
    }

    /// Hands out the bytes buffered so far, in file order, and accounts them in the CRC.
    pub fn take(&mut self) -> Vec<u8> {
        if !self.finished {
            self.digest.update(&self.buf);
        }
        self.taken += self.buf.len() as u64;
        std::mem::take(&mut self.buf)
    }

    /// Bytes buffered and not yet taken.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Total size of the file so far, taken or not.
    pub fn bytes_written(&self) -> u64 {
        self.taken + self.buf.len() as u64
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

/// Writes a whole file in memory: `aux`, then the entries grouped by ascending db. Handy for
/// tests, `DEBUG`-style dumps and small datasets; large ones go through [`RdbWriter`].
pub fn dump(entries: &[RdbEntry], aux: &[(&str, AuxValue<'_>)], compress: bool, checksum: bool) -> Vec<u8> {
    let mut order: Vec<&RdbEntry> = entries.iter().collect();
    order.sort_by_key(|e| e.db);
    let mut w = RdbWriter::new(checksum);
    w.header(aux);
    let mut out = Vec::new();
    for group in order.chunk_by(|a, b| a.db == b.db) {
        let expires = group.iter().filter(|e| e.expire_ms.is_some()).count();
        w.select_db(group[0].db, group.len() as u64, expires as u64);
        for e in group {
            w.entry(&e.key, e.value.as_value_ref(), e.expire_ms, compress);
        }
        out.extend_from_slice(&w.take());
    }
    w.finish();
    out.extend_from_slice(&w.take());
    out
}

/// Appends one key: optional EXPIRETIME_MS, the value type, the key and the value. Needs no
/// writer state, so shards call it in parallel and hand the chunks to [`RdbWriter::append`].
/// `compress` is `rdbcompression`: LZF for strings over 20 bytes when it saves space.
pub fn encode_entry(key: &[u8], value: ValueRef<'_>, expire_ms: Option<i64>, compress: bool, out: &mut Vec<u8>) {
    if let Some(at) = expire_ms {
        out.push(opcode::EXPIRETIME_MS);
        out.extend_from_slice(&at.to_le_bytes());
    }
    encode_typed(Some(key), value, compress, out);
}

/// Appends a value's type and encoding with no key (the body of a DUMP payload).
pub fn encode_value(value: ValueRef<'_>, compress: bool, out: &mut Vec<u8>) {
    encode_typed(None, value, compress, out);
}

/// The value type, then the key when there is one, then the value.
fn head(out: &mut Vec<u8>, kind: u8, key: Option<&[u8]>, compress: bool) {
    out.push(kind);
    if let Some(key) = key {
        put_string(out, key, compress);
    }
}

fn encode_typed(key: Option<&[u8]>, value: ValueRef<'_>, compress: bool, out: &mut Vec<u8>) {
    match value {
        ValueRef::String(s) => {
            head(out, kind::STRING, key, compress);
            put_string(out, s, compress);
        }
        ValueRef::Int(v) => {
            head(out, kind::STRING, key, compress);
            put_int_string(out, v);
        }
        ValueRef::List(items) => {
            head(out, kind::LIST_QUICKLIST_2, key, compress);
            put_quicklist(out, items, compress);
        }
        ValueRef::Set(items) => put_set(out, key, items, compress),
        ValueRef::Hash(pairs) => put_hash(out, key, pairs, compress),
        ValueRef::ZSet(pairs) => put_zset(out, key, pairs, compress),
    }
}

fn put_quicklist(out: &mut Vec<u8>, items: &dyn super::Elements, compress: bool) {
    let mut nodes = Vec::new();
    let mut node = ListpackBuilder::new();
    items.for_each(&mut |item| {
        // Worst-case entry overhead is 5 header + 5 backlen bytes.
        if node.count() > 0 && node.size() + item.len() + 10 > QUICKLIST_NODE_BYTES {
            nodes.push(std::mem::replace(&mut node, ListpackBuilder::new()).finish());
        }
        node.push(item);
    });
    if node.count() > 0 {
        nodes.push(node.finish());
    }
    put_len(out, nodes.len() as u64);
    for lp in nodes {
        put_len(out, QUICKLIST_PACKED);
        put_string(out, &lp, compress);
    }
}

fn put_set(out: &mut Vec<u8>, key: Option<&[u8]>, items: &dyn super::Elements, compress: bool) {
    if items.len() <= INTSET_MAX_ENTRIES {
        let mut ints = Vec::with_capacity(items.len());
        let mut all_ints = true;
        items.for_each(&mut |m| match parse_i64(m) {
            Some(v) if all_ints => ints.push(v),
            _ => all_ints = false,
        });
        if all_ints {
            ints.sort_unstable();
            ints.dedup();
            head(out, kind::SET_INTSET, key, compress);
            put_string(out, &intset_encode(&ints), compress);
            return;
        }
    }
    head(out, kind::SET, key, compress);
    put_counted(out, items.len(), |out| {
        let mut n = 0;
        items.for_each(&mut |m| {
            put_string(out, m, compress);
            n += 1;
        });
        n
    });
}

fn put_hash(out: &mut Vec<u8>, key: Option<&[u8]>, pairs: &dyn super::Pairs, compress: bool) {
    let mut small = pairs.len() <= LISTPACK_MAX_ENTRIES;
    if small {
        pairs.for_each(&mut |f, v| small &= f.len() <= LISTPACK_MAX_VALUE && v.len() <= LISTPACK_MAX_VALUE);
    }
    if small {
        let mut lp = ListpackBuilder::new();
        pairs.for_each(&mut |f, v| {
            lp.push(f);
            lp.push(v);
        });
        head(out, kind::HASH_LISTPACK, key, compress);
        put_string(out, &lp.finish(), compress);
        return;
    }
    head(out, kind::HASH, key, compress);
    put_counted(out, pairs.len(), |out| {
        let mut n = 0;
        pairs.for_each(&mut |f, v| {
            put_string(out, f, compress);
            put_string(out, v, compress);
            n += 1;
        });
        n
    });
}

fn put_zset(out: &mut Vec<u8>, key: Option<&[u8]>, pairs: &dyn super::Scored, compress: bool) {
    let mut small = pairs.len() <= LISTPACK_MAX_ENTRIES;
    if small {
        pairs.for_each(&mut |m, _| small &= m.len() <= LISTPACK_MAX_VALUE);
    }
    if small {
        // A listpack zset is used as-is by the loader, so it must be in (score, member) order.
        let mut sorted: Vec<(Vec<u8>, f64)> = Vec::with_capacity(pairs.len());
        pairs.for_each(&mut |m, s| sorted.push((m.to_vec(), s)));
        sorted.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        let mut lp = ListpackBuilder::new();
        for (m, s) in &sorted {
            lp.push(m);
            push_score(&mut lp, *s);
        }
        head(out, kind::ZSET_LISTPACK, key, compress);
        put_string(out, &lp.finish(), compress);
        return;
    }
    head(out, kind::ZSET_2, key, compress);
    put_counted(out, pairs.len(), |out| {
        let mut n = 0;
        pairs.for_each(&mut |m, s| {
            put_string(out, m, compress);
            out.extend_from_slice(&s.to_le_bytes());
            n += 1;
        });
        n
    });
}

/// A listpack score as 7.0 stores it: integral values within ±2^52 as integers, others as
/// their `%.17g` text (`inf`, `-inf`, `-0` included), which the loader reads with strtod.
fn push_score(lp: &mut ListpackBuilder, s: f64) {
    const MAX: f64 = 4503599627370496.0; // 2^52
    const MIN: f64 = -4503599627370495.0; // -(2^52 - 1)
    if s > MIN && s < MAX && s.fract() == 0.0 && !(s == 0.0 && s.is_sign_negative()) {
        lp.push_int(s as i64);
    } else {
        let mut text = Vec::with_capacity(24);
        format_double(s, &mut text);
        lp.push(&text);
    }
}

/// Writes a count, then the items; if the visitor yielded a different number of items than
/// `declared` (a broken `len()`), rewrites the count so the file stays loadable.
fn put_counted(out: &mut Vec<u8>, declared: usize, body: impl FnOnce(&mut Vec<u8>) -> usize) {
    let at = out.len();
    put_len(out, declared as u64);
    let prefix_len = out.len() - at;
    let actual = body(out);
    if actual != declared {
        debug_assert!(false, "collection len() {declared} but visited {actual} items");
        let mut fixed = Vec::with_capacity(9);
        put_len(&mut fixed, actual as u64);
        out.splice(at..at + prefix_len, fixed);
    }
}

/// Length encoding (spec 8.3), always the shortest form.
pub(crate) fn put_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
    } else if n <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// An integer as an RDB string: INT8/16/32 when it fits, else its decimal text.
fn put_int_string(out: &mut Vec<u8>, v: i64) {
    if let Ok(b) = i8::try_from(v) {
        out.extend_from_slice(&[0xC0, b as u8]);
    } else if let Ok(h) = i16::try_from(v) {
        out.push(0xC1);
        out.extend_from_slice(&h.to_le_bytes());
    } else if let Ok(w) = i32::try_from(v) {
        out.push(0xC2);
        out.extend_from_slice(&w.to_le_bytes());
    } else {
        let mut text = Vec::with_capacity(20);
        write_i64(v, &mut text);
        put_len(out, text.len() as u64);
        out.extend_from_slice(&text);
    }
}

/// Strings shorter than this are stored raw even with `rdbcompression yes` (Redis tries LZF
/// from 21 bytes). Why: lzf-rust zeroes a 256 KiB hash table on every call, which costs more
/// than compressing a few KiB; below this size that fixed cost made a snapshot several times
/// slower for a few percent of file size. Files stay valid RDB either way.
pub const LZF_MIN_LEN: usize = 4096;

/// String encoding (spec 8.4): canonical 32-bit integers as INT forms (as 7.0.15), then LZF
/// when enabled, at least `LZF_MIN_LEN` bytes long and at least 4 bytes smaller, else raw.
pub(crate) fn put_string(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if s.len() <= 11
        && let Some(v) = parse_i64(s)
        && i32::try_from(v).is_ok()
    {
        put_int_string(out, v);
        return;
    }
    if compress && s.len() >= LZF_MIN_LEN && put_lzf(out, s) {
        return;
    }
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Tries the `C3` form; false (nothing written) when it would not save at least 4 bytes.
fn put_lzf(out: &mut Vec<u8>, s: &[u8]) -> bool {
    let mut packed = vec![0u8; s.len() - 4];
    match lzf_rust::compress(s, &mut packed) {
        Ok(n) if n > 0 => {
            out.push(0xC3);
            put_len(out, n as u64);
            put_len(out, s.len() as u64);
            out.extend_from_slice(&packed[..n]);
            true
        }
        _ => false,
    }
}
