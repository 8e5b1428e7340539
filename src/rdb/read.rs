//! RDB decoder: a streaming reader over `std::io::Read`, one item at a time.
//!
//! Why streaming and unbuffered: a full sync's payload can be larger than memory allows to
//! hold twice, and in diskless mode (`$EOF:<mark>`) the replication stream follows the RDB on
//! the same socket. The reader therefore never reads a byte past the CRC trailer: give it a
//! `BufReader` and take it back with [`RdbReader::into_inner`] to continue with the stream.
//!
//! Invariant S2: every length is checked against what the source really holds (allocation
//! grows with the bytes read, never with a length claimed by the file), every failure is an
//! [`RdbError`] with the byte offset, and end of input is accepted only after the EOF opcode
//! and a matching CRC64 (a zero trailer means "checksum disabled", as in 7.0).

use std::io::{ErrorKind, Read};

use super::blob::{BlobError, intset_decode, listpack_decode, ziplist_decode, zipmap_decode};
use super::error::{RdbError, RdbErrorKind};
use super::value::{RdbEntry, RdbValue};
use super::{CRC64, RDB_VERSION, kind, opcode};
use crate::util::num::parse_f64;

/// One top-level construct of the file, in file order.
#[derive(Debug, Clone, PartialEq)]
pub enum RdbItem {
    /// An AUX field (`redis-ver`, `repl-id`...). Unknown names are normal.
    Aux {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    /// SELECTDB: the following entries belong to `db`.
    SelectDb(usize),
    /// RESIZEDB hint for the current db: key count and keys-with-TTL count.
    ResizeDb {
        db: usize,
        keys: u64,
        expires: u64,
    },
    Entry(RdbEntry),
}

/// Length-or-special-encoding prefix (spec 8.3).
enum Len {
    Len(u64),
    /// `11xxxxxx`: 0 INT8, 1 INT16, 2 INT32, 3 LZF.
    Special(u8),
}

/// Streaming decoder; see the module docs.
pub struct RdbReader<R> {
    src: R,
    /// Offset of the next byte to read, from the start of the file.
    pos: u64,
    digest: crc::Digest<'static, u64, crc::Table<16>>,
    version: u32,
    db: usize,
    aux: Vec<(Vec<u8>, Vec<u8>)>,
    /// The code of each function library (FUNCTION2), in file order.
    functions: Vec<Vec<u8>>,
    warnings: Vec<String>,
    finished: bool,
    failed: bool,
}

/// Decodes a container blob into its flat elements.
type BlobDecoder = fn(&[u8]) -> Result<Vec<Vec<u8>>, BlobError>;
/// Field/value pairs of a hash.
type FieldPairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Reads never preallocate more than this for a length the file claims.
const PREALLOC_LIMIT: usize = 1 << 16;

impl<R: Read> RdbReader<R> {
    /// Reads and checks the `REDIS00NN` magic (versions 1 to 10).
    pub fn new(src: R) -> Result<Self, RdbError> {
        let mut r = Self::headless(src, 0);
        let mut magic = [0u8; 9];
        r.read_exact(&mut magic)?;
        let version = std::str::from_utf8(&magic[5..])
            .ok()
            .and_then(|v| v.parse::<u32>().ok());
        match version {
            Some(v) if &magic[..5] == b"REDIS" && (1..=RDB_VERSION).contains(&v) => r.version = v,
            Some(v) if &magic[..5] == b"REDIS" => {
                return Err(RdbError::new(
                    RdbErrorKind::Unsupported,
                    5,
                    format!("can't handle RDB format version {v}"),
                ));
            }
            _ => return Err(RdbError::corrupt(0, "wrong signature, not an RDB file")),
        }
        Ok(r)
    }

    /// A reader of `version`'s encodings positioned after the magic.
    fn headless(src: R, version: u32) -> Self {
        RdbReader {
            src,
            pos: 0,
            digest: CRC64.digest(),
            version,
            db: 0,
            aux: Vec::new(),
            functions: Vec::new(),
            warnings: Vec::new(),
            finished: false,
            failed: false,
        }
    }

    /// The format version from the magic.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.pos
    }

    /// AUX fields seen so far, in file order.
    pub fn aux(&self) -> &[(Vec<u8>, Vec<u8>)] {
        &self.aux
    }

    /// One AUX field's value, if seen (e.g. `repl-id`, `repl-offset`).
    pub fn aux_value(&self, key: &str) -> Option<&[u8]> {
        self.aux
            .iter()
            .rev()
            .find(|(k, _)| k == key.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// The code of the function libraries read so far (FUNCTION2), in file order.
    pub fn functions(&self) -> &[Vec<u8>] {
        &self.functions
    }

    /// Things skipped on purpose (checksum disabled), for the log.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// True once EOF and the checksum were read and verified.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Gives the source back, positioned right after the CRC trailer once finished.
    pub fn into_inner(self) -> R {
        self.src
    }

    /// The next key, skipping AUX/SELECTDB/RESIZEDB (AUX stays in [`aux`](Self::aux)).
    /// `Ok(None)` only after a verified EOF.
    pub fn next_entry(&mut self) -> Result<Option<RdbEntry>, RdbError> {
        loop {
            match self.next_item()? {
                Some(RdbItem::Entry(e)) => return Ok(Some(e)),
                Some(_) => continue,
                None => return Ok(None),
            }
        }
    }

    /// The next top-level item. `Ok(None)` only after a verified EOF; after an error every
    /// later call fails too, so a partial result can never pass for a whole one.
    pub fn next_item(&mut self) -> Result<Option<RdbItem>, RdbError> {
        if self.failed {
            return Err(RdbError::corrupt(self.pos, "reader already failed"));
        }
        if self.finished {
            return Ok(None);
        }
        let result = self.read_item();
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn read_item(&mut self) -> Result<Option<RdbItem>, RdbError> {
        let mut expire_ms: Option<i64> = None;
        loop {
            let at = self.pos;
            let op = self.read_u8()?;
            match op {
                opcode::EXPIRETIME_MS => {
                    let mut b = [0u8; 8];
                    self.read_exact(&mut b)?;
                    expire_ms = Some(i64::from_le_bytes(b));
                }
                opcode::EXPIRETIME => {
                    let mut b = [0u8; 4];
                    self.read_exact(&mut b)?;
                    expire_ms = Some(i64::from(i32::from_le_bytes(b)) * 1000);
                }
                opcode::IDLE => {
                    self.read_len()?;
                }
                opcode::FREQ => {
                    self.read_u8()?;
                }
                opcode::SELECTDB => {
                    let db = self.read_len()?;
                    self.db = usize::try_from(db).map_err(|_| RdbError::corrupt(at, "SELECTDB out of range"))?;
                    return Ok(Some(RdbItem::SelectDb(self.db)));
                }
                opcode::RESIZEDB => {
                    let keys = self.read_len()?;
                    let expires = self.read_len()?;
                    return Ok(Some(RdbItem::ResizeDb {
                        db: self.db,
                        keys,
                        expires,
                    }));
                }
                opcode::AUX => {
                    let key = self.read_string()?;
                    let value = self.read_string()?;
                    self.aux.push((key.clone(), value.clone()));
                    return Ok(Some(RdbItem::Aux { key, value }));
                }
                opcode::FUNCTION2 => {
                    // A library's code; the loader registers the libraries once it is done.
                    let code = self.read_string()?;
                    self.functions.push(code);
                }
                opcode::FUNCTION_PRE_GA => {
                    return Err(RdbError::new(
                        RdbErrorKind::Unsupported,
                        at,
                        "unsupported RDB opcode FUNCTION (7.0 release candidate)",
                    ));
                }
                opcode::MODULE_AUX => {
                    return Err(RdbError::new(
                        RdbErrorKind::Unsupported,
                        at,
                        "unsupported RDB opcode MODULE_AUX: modules are not supported",
                    ));
                }
                opcode::EOF => {
                    self.check_trailer(at)?;
                    self.finished = true;
                    return Ok(None);
                }
                t => {
                    let key = self.read_string()?;
                    let value = self.read_value(t, at).map_err(|e| e.with_key(&key))?;
                    match value {
                        Some(value) => {
                            return Ok(Some(RdbItem::Entry(RdbEntry {
                                db: self.db,
                                key,
                                value,
                                expire_ms,
                            })));
                        }
                        // Empty collections are skipped, as 7.0 does; modifiers die with them.
                        None => expire_ms = None,
                    }
                }
            }
        }
    }

    fn check_trailer(&mut self, at: u64) -> Result<(), RdbError> {
        if self.version < 5 {
            return Ok(());
        }
        let computed = std::mem::replace(&mut self.digest, CRC64.digest()).finalize();
        let mut b = [0u8; 8];
        self.read_raw(&mut b)?;
        let stored = u64::from_le_bytes(b);
        if stored == 0 {
            self.warnings
                .push("RDB file was saved with checksum disabled: no check performed".into());
        } else if stored != computed {
            return Err(RdbError::new(
                RdbErrorKind::Checksum,
                at + 1,
                format!("wrong RDB checksum: stored {stored:016x}, computed {computed:016x}"),
            ));
        }
        Ok(())
    }

    /// Decodes one value as a DUMP payload holds it: its type, then the value, with no key
    /// (this version's encodings). `None` for an empty collection; what follows the value is
    /// left unread.
    pub fn lone_value(src: R) -> Result<Option<RdbValue>, RdbError> {
        let mut r = Self::headless(src, RDB_VERSION);
        let t = r.read_u8()?;
        r.read_value(t, 0)
    }

    /// Decodes a value of type `t` (type byte at `at`); `None` for an empty collection.
    fn read_value(&mut self, t: u8, at: u64) -> Result<Option<RdbValue>, RdbError> {
        let value = match t {
            kind::STRING => RdbValue::String(self.read_string()?),
            kind::LIST => RdbValue::List(self.read_strings()?),
            kind::SET => RdbValue::Set(self.read_strings()?),
            kind::HASH => {
                let n = self.read_len()?;
                let mut pairs = Vec::with_capacity(cap(n));
                for _ in 0..n {
                    pairs.push((self.read_string()?, self.read_string()?));
                }
                RdbValue::Hash(pairs)
            }
            kind::ZSET | kind::ZSET_2 => {
                let n = self.read_len()?;
                let mut pairs = Vec::with_capacity(cap(n));
                for _ in 0..n {
                    let member = self.read_string()?;
                    let score_at = self.pos;
                    let score = if t == kind::ZSET_2 {
                        self.read_binary_double()?
                    } else {
                        self.read_text_double()?
                    };
                    if score.is_nan() {
                        return Err(RdbError::corrupt(score_at, "zset with NaN score"));
                    }
                    pairs.push((member, score));
                }
                RdbValue::ZSet(pairs)
            }
            kind::SET_INTSET => RdbValue::Set(self.read_blob(intset_decode, "intset")?),
            kind::SET_LISTPACK => RdbValue::Set(self.read_blob(listpack_decode, "listpack")?),
            kind::LIST_ZIPLIST => RdbValue::List(self.read_blob(ziplist_decode, "ziplist")?),
            kind::HASH_ZIPLIST => RdbValue::Hash(pairs_of(self.read_blob(ziplist_decode, "ziplist")?, self.pos)?),
            kind::HASH_LISTPACK => RdbValue::Hash(pairs_of(self.read_blob(listpack_decode, "listpack")?, self.pos)?),
            kind::ZSET_ZIPLIST => RdbValue::ZSet(scored_of(self.read_blob(ziplist_decode, "ziplist")?, self.pos)?),
            kind::ZSET_LISTPACK => RdbValue::ZSet(scored_of(self.read_blob(listpack_decode, "listpack")?, self.pos)?),
            kind::LIST_QUICKLIST => {
                let n = self.read_len()?;
                let mut items = Vec::new();
                for _ in 0..n {
                    items.extend(self.read_blob(ziplist_decode, "ziplist")?);
                }
                RdbValue::List(items)
            }
            kind::LIST_QUICKLIST_2 => RdbValue::List(self.read_quicklist_2()?),
            kind::HASH_ZIPMAP => RdbValue::Hash(pairs_of(self.read_blob(zipmap_decode, "zipmap")?, self.pos)?),
            kind::MODULE | kind::MODULE_2 => return Err(self.unsupported(t, at, " (module value)")),
            kind::STREAM_LISTPACKS | kind::STREAM_LISTPACKS_2 => return Err(self.unsupported(t, at, " (stream)")),
            _ => return Err(RdbError::corrupt(at, format!("unknown RDB value type {t}"))),
        };
        let empty = match &value {
            RdbValue::String(_) => false,
            RdbValue::List(v) | RdbValue::Set(v) => v.is_empty(),
            RdbValue::Hash(v) => v.is_empty(),
            RdbValue::ZSet(v) => v.is_empty(),
        };
        Ok((!empty).then_some(value))
    }

    fn unsupported(&self, t: u8, at: u64, what: &str) -> RdbError {
        RdbError::new(RdbErrorKind::Unsupported, at, format!("unsupported RDB type {t}{what}"))
    }

    fn read_quicklist_2(&mut self) -> Result<Vec<Vec<u8>>, RdbError> {
        let n = self.read_len()?;
        let mut items = Vec::new();
        for _ in 0..n {
            let at = self.pos;
            match self.read_len()? {
                1 => items.push(self.read_string()?),
                2 => items.extend(self.read_blob(listpack_decode, "listpack")?),
                c => return Err(RdbError::corrupt(at, format!("bad quicklist node container {c}"))),
            }
        }
        Ok(items)
    }

    fn read_strings(&mut self) -> Result<Vec<Vec<u8>>, RdbError> {
        let n = self.read_len()?;
        let mut items = Vec::with_capacity(cap(n));
        for _ in 0..n {
            items.push(self.read_string()?);
        }
        Ok(items)
    }

    /// Reads a string holding a container and decodes it; errors point at the string.
    fn read_blob(&mut self, decode: BlobDecoder, what: &str) -> Result<Vec<Vec<u8>>, RdbError> {
        let at = self.pos;
        let blob = self.read_string()?;
        decode(&blob).map_err(|e| RdbError::corrupt(at, format!("bad {what} (at byte {} inside it): {}", e.at, e.msg)))
    }

    fn read_binary_double(&mut self) -> Result<f64, RdbError> {
        let mut b = [0u8; 8];
        self.read_exact(&mut b)?;
        Ok(f64::from_le_bytes(b))
    }

    /// Old-style double: 1-byte length + ASCII, with 253/254/255 for nan/inf/-inf.
    fn read_text_double(&mut self) -> Result<f64, RdbError> {
        let at = self.pos;
        match self.read_u8()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let text = self.read_bytes(u64::from(n))?;
                parse_f64(&text).ok_or_else(|| RdbError::corrupt(at, "bad double value"))
            }
        }
    }

    /// String encoding (spec 8.4): raw, INT8/16/32 (as decimal text) or LZF.
    fn read_string(&mut self) -> Result<Vec<u8>, RdbError> {
        let at = self.pos;
        match self.read_len_or_special()? {
            Len::Len(n) => self.read_bytes(n),
            Len::Special(enc @ 0..=2) => {
                let width = 1usize << enc;
                let mut b = [0u8; 4];
                self.read_exact(&mut b[..width])?;
                let v = match enc {
                    0 => i64::from(b[0] as i8),
                    1 => i64::from(i16::from_le_bytes([b[0], b[1]])),
                    _ => i64::from(i32::from_le_bytes(b)),
                };
                Ok(v.to_string().into_bytes())
            }
            Len::Special(3) => {
                let clen = self.read_len()?;
                let ulen = self.read_len()?;
                // An LZF back-reference of 3 bytes expands to at most 264: anything claiming
                // more is corrupt, and refusing it early bounds the allocation.
                if clen == 0 || ulen > clen.saturating_mul(90) {
                    return Err(RdbError::corrupt(
                        at,
                        format!("bad LZF lengths: {clen} compressed, {ulen} plain"),
                    ));
                }
                let packed = self.read_bytes(clen)?;
                lzf_rust::decompress_into_vec(&packed, ulen as usize)
                    .map_err(|e| RdbError::corrupt(at, format!("invalid LZF compressed string: {e}")))
            }
            Len::Special(e) => Err(RdbError::corrupt(at, format!("unknown string encoding {e}"))),
        }
    }

    fn read_len(&mut self) -> Result<u64, RdbError> {
        let at = self.pos;
        match self.read_len_or_special()? {
            Len::Len(n) => Ok(n),
            Len::Special(_) => Err(RdbError::corrupt(at, "expected a length, found a string encoding")),
        }
    }

    fn read_len_or_special(&mut self) -> Result<Len, RdbError> {
        let at = self.pos;
        let first = self.read_u8()?;
        Ok(match first >> 6 {
            0 => Len::Len(u64::from(first & 0x3F)),
            1 => Len::Len((u64::from(first & 0x3F) << 8) | u64::from(self.read_u8()?)),
            3 => Len::Special(first & 0x3F),
            _ => match first {
                0x80 => {
                    let mut b = [0u8; 4];
                    self.read_exact(&mut b)?;
                    Len::Len(u64::from(u32::from_be_bytes(b)))
                }
                0x81 => {
                    let mut b = [0u8; 8];
                    self.read_exact(&mut b)?;
                    Len::Len(u64::from_be_bytes(b))
                }
                _ => return Err(RdbError::corrupt(at, format!("unknown length encoding 0x{first:02x}"))),
            },
        })
    }

    /// Reads `n` bytes, growing the buffer with the data actually read.
    fn read_bytes(&mut self, n: u64) -> Result<Vec<u8>, RdbError> {
        let n = usize::try_from(n).map_err(|_| RdbError::corrupt(self.pos, "string too long"))?;
        let mut out = Vec::with_capacity(n.min(PREALLOC_LIMIT));
        while out.len() < n {
            let old = out.len();
            let step = (n - old).min(1 << 20);
            out.resize(old + step, 0);
            self.read_exact(&mut out[old..])?;
        }
        Ok(out)
    }

    fn read_u8(&mut self) -> Result<u8, RdbError> {
        let mut b = [0u8; 1];
        self.read_exact(&mut b)?;
        Ok(b[0])
    }

    /// Reads exactly `buf.len()` bytes and adds them to the running CRC.
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), RdbError> {
        self.read_raw(buf)?;
        self.digest.update(buf);
        Ok(())
    }

    fn read_raw(&mut self, buf: &mut [u8]) -> Result<(), RdbError> {
        let at = self.pos;
        let mut done = 0;
        while done < buf.len() {
            match self.src.read(&mut buf[done..]) {
                Ok(0) => {
                    return Err(RdbError::new(
                        RdbErrorKind::Truncated,
                        at + done as u64,
                        "unexpected end of file (truncated RDB)",
                    ));
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(RdbError::new(
                        RdbErrorKind::Io,
                        at + done as u64,
                        format!("read failed: {e}"),
                    ));
                }
            }
        }
        self.pos += buf.len() as u64;
        Ok(())
    }
}

impl<R: Read> Iterator for RdbReader<R> {
    type Item = Result<RdbEntry, RdbError>;

    /// Entries until a verified EOF; the first error is yielded once, then iteration stops.
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        self.next_entry().transpose()
    }
}

fn cap(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX).min(PREALLOC_LIMIT)
}

/// Pairs up a flat field/value (or member/score) list; an odd count is corrupt.
fn pairs_of(flat: Vec<Vec<u8>>, at: u64) -> Result<FieldPairs, RdbError> {
    if !flat.len().is_multiple_of(2) {
        return Err(RdbError::corrupt(
            at,
            "odd number of elements in a hash or zset container",
        ));
    }
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        out.push((a, b));
    }
    Ok(out)
}

fn scored_of(flat: Vec<Vec<u8>>, at: u64) -> Result<Vec<(Vec<u8>, f64)>, RdbError> {
    pairs_of(flat, at)?
        .into_iter()
        .map(|(m, s)| match parse_f64(&s) {
            Some(score) if !score.is_nan() => Ok((m, score)),
            _ => Err(RdbError::corrupt(at, "bad zset score in container")),
        })
        .collect()
}

impl<'a> RdbReader<&'a [u8]> {
    /// Decodes a FUNCTION DUMP payload's body: FUNCTION2 records, each a library's code, up
    /// to the end of `body`.
    pub fn lone_functions(body: &'a [u8]) -> Result<Vec<Vec<u8>>, RdbError> {
        let mut r = Self::headless(body, RDB_VERSION);
        let mut codes = Vec::new();
        while (r.pos as usize) < body.len() {
            let at = r.pos;
            if r.read_u8()? != crate::rdb::opcode::FUNCTION2 {
                return Err(RdbError::corrupt(at, "not a function library"));
            }
            codes.push(r.read_string()?);
        }
        Ok(codes)
    }
}
