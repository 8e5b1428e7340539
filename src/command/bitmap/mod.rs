//! The bitmap family, as redis-server 7.0 behaves: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP,
//! BITFIELD and BITFIELD_RO over string values.
//!
//! Bit 0 is the most significant bit of the first byte. A write changes the stored string in
//! place (`Entry::string_mut`), zero-extending it as far as the write reaches, so setting one
//! bit of a long bitmap copies nothing. SETBIT and BITFIELD replicate verbatim, and only when
//! they changed something (a bit flipped, or the string was created or grew); BITOP replicates
//! verbatim. BITOP's keys may live on several shards: one locked transaction reads the
//! sources and stores the result.

mod field;

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use super::args::{is, parse_int};
use super::string::{MAX_STRING, read_string};
use super::*;
use crate::resp::Arg;
use crate::shard::{Shard, ShardCx, shard_of, unix_ms};
use crate::store::{Kind, Value};

const B: &str = "bitmap";

pub static SPECS: &[CommandSpec] = &[
    CommandSpec::new("setbit", 4, WRITE.union(DENYOOM), KeySpan::single(1), Run::Shard(setbit)).doc(
        B,
        "2.2.0",
        "Sets or clears the bit at offset in the string value stored at key",
        "key offset value",
    ),
    CommandSpec::new("getbit", 3, READONLY.union(FAST), KeySpan::single(1), Run::Shard(getbit)).doc(
        B,
        "2.2.0",
        "Returns the bit value at offset in the string value stored at key",
        "key offset",
    ),
    CommandSpec::new("bitcount", -2, READONLY, KeySpan::single(1), Run::Shard(bitcount)).doc(
        B,
        "2.6.0",
        "Count set bits in a string",
        "key [start end [BYTE|BIT]]",
    ),
    CommandSpec::new("bitpos", -3, READONLY, KeySpan::single(1), Run::Shard(bitpos)).doc(
        B,
        "2.8.7",
        "Find first bit set or clear in a string",
        "key bit [start [end [BYTE|BIT]]]",
    ),
    CommandSpec::new("bitop", -4, WRITE.union(DENYOOM), KeySpan::range(2, -1, 1), Run::Conn(bitop)).doc(
        B,
        "2.6.0",
        "Perform bitwise operations between strings",
        "operation destkey key [key ...]",
    ),
    CommandSpec::new("bitfield", -2, WRITE.union(DENYOOM), KeySpan::single(1), Run::Shard(field::bitfield)).doc(
        B,
        "3.2.0",
        "Perform arbitrary bitfield integer operations on strings",
        "key [GET encoding offset] [SET encoding offset value] [INCRBY encoding offset increment] [OVERFLOW WRAP|SAT|FAIL]",
    ),
    CommandSpec::new("bitfield_ro", -2, READONLY.union(FAST), KeySpan::single(1), Run::Shard(field::bitfield_ro)).doc(
        B,
        "6.0.0",
        "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD",
        "key GET encoding offset [encoding offset ...]",
    ),
];

const OFFSET_ERR: &str = "ERR bit offset is not an integer or out of range";

/// A bit offset: an integer below the largest string's bits; with `width` (BITFIELD), `#n`
/// means n fields of that width.
fn bit_offset(arg: &[u8], width: Option<u32>) -> Result<u64, CmdError> {
    let err = || CmdError::other(OFFSET_ERR);
    let (digits, unit) = match (arg.first(), width) {
        (Some(b'#'), Some(w)) => (&arg[1..], i64::from(w)),
        _ => (arg, 1),
    };
    let n = parse_int(digits)
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(err)?;
    if n < 0 || (n >> 3) as usize >= MAX_STRING {
        return Err(err());
    }
    Ok(n as u64)
}

/// Bit `at` of `bytes` (0 past the end).
fn bit_at(bytes: &[u8], at: u64) -> u64 {
    bytes
        .get((at >> 3) as usize)
        .map_or(0, |b| u64::from((b >> (7 - (at & 7))) & 1))
}

/// The string under `key` for a bit write that reaches byte `min_len - 1`: created
/// zero-filled when missing, zero-extended when shorter; WRONGTYPE for another type. Also
/// says whether it was created or grew.
fn bits_for_write<'a>(cx: &'a mut ShardCx, key: &[u8], min_len: usize) -> Result<(&'a mut [u8], bool), CmdError> {
    let created = cx.lookup_typed(key, Kind::String)?.is_none();
    if created {
        cx.put_string(key, &vec![0; min_len], false);
    }
    let entry = cx.lookup(key).ok_or(CmdError::WrongType)?;
    let (bytes, grew) = entry.string_mut(min_len);
    Ok((bytes, created || grew))
}

fn setbit(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let offset = bit_offset(args.next()?, None)?;
    let on = match parse_int(args.next()?) {
        Ok(v @ (0 | 1)) => v == 1,
        _ => return Err(CmdError::other("ERR bit is not an integer or out of range")),
    };
    let byte = (offset >> 3) as usize;
    let mask = 0x80u8 >> (offset & 7);
    let (bytes, grew) = bits_for_write(cx, key, byte + 1)?;
    let was = bytes[byte] & mask != 0;
    if was != on {
        bytes[byte] ^= mask;
    }
    if grew || was != on {
        cx.notify(class::STRING, "setbit", key);
        cx.emit_argv(args.all());
    }
    out.int(i64::from(was));
    Ok(())
}

fn getbit(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let offset = bit_offset(args.next()?, None)?;
    let bit = read_string(cx, key)?.map_or(0, |b| bit_at(&b, offset));
    out.int(bit as i64);
    Ok(())
}

/// BITCOUNT's and BITPOS's range over a string of `len` bytes, in bits `[first, last]`
/// (`None`: empty). Negative indexes count from the end; `bits` says the indexes are bits,
/// not bytes. BITCOUNT answers 0 at once for two negative indexes in reverse order.
fn bit_range(start: i64, end: i64, len: usize, bits: bool, reversed_is_empty: bool) -> Option<(u64, u64)> {
    if reversed_is_empty && start < 0 && end < 0 && start > end {
        return None;
    }
    let total = if bits { len as i64 * 8 } else { len as i64 };
    let from_end = |i: i64| if i < 0 { (total + i).max(0) } else { i };
    let (start, end) = (from_end(start), from_end(end).min(total - 1));
    if start > end {
        return None;
    }
    Some(if bits {
        (start as u64, end as u64)
    } else {
        (start as u64 * 8, end as u64 * 8 + 7)
    })
}

/// The BYTE|BIT word of BITCOUNT and BITPOS.
fn unit_is_bit(arg: &[u8]) -> Result<bool, CmdError> {
    if is(arg, "bit") {
        Ok(true)
    } else if is(arg, "byte") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// Set bits of `bytes` within bits `[first, last]`.
fn count_ones(bytes: &[u8], first: u64, last: u64) -> u64 {
    let (a, b) = ((first >> 3) as usize, (last >> 3) as usize);
    let edge = |byte: u8, lo: u64, hi: u64| {
        let keep = (0xFFu8 >> lo) & (0xFFu8 << (7 - hi));
        u64::from((byte & keep).count_ones())
    };
    if a == b {
        return edge(bytes[a], first & 7, last & 7);
    }
    let middle: u64 = bytes[a + 1..b].iter().map(|x| u64::from(x.count_ones())).sum();
    edge(bytes[a], first & 7, 7) + middle + edge(bytes[b], 0, last & 7)
}

/// The first bit equal to `wanted` within bits `[first, last]` of `bytes`; aligned runs of
/// 64 bits that cannot hold it are skipped whole.
fn find_bit(bytes: &[u8], first: u64, last: u64, wanted: u64) -> Option<u64> {
    let other = if wanted == 1 { 0x00 } else { 0xFF };
    let mut at = first;
    while at <= last {
        if at & 63 == 0 && at + 63 <= last {
            let i = (at >> 3) as usize;
            if bytes[i..i + 8].iter().all(|&b| b == other) {
                at += 64;
                continue;
            }
        }
        if bit_at(bytes, at) == wanted {
            return Some(at);
        }
        at += 1;
    }
    None
}

fn bitcount(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    // redis-server looks the key up before it reads the range: a missing key is 0 whatever
    // follows.
    let Some(bytes) = read_string(cx, key)? else {
        out.int(0);
        return Ok(());
    };
    let range = match args.rest() {
        [] => bit_range(0, -1, bytes.len(), false, false),
        [start, end, unit @ ..] if unit.len() <= 1 => {
            let (start, end) = (parse_int(start)?, parse_int(end)?);
            let bits = match unit.first() {
                Some(u) => unit_is_bit(u)?,
                None => false,
            };
            bit_range(start, end, bytes.len(), bits, true)
        }
        _ => return Err(CmdError::Syntax),
    };
    out.int(range.map_or(0, |(a, b)| count_ones(&bytes, a, b)) as i64);
    Ok(())
}

fn bitpos(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let wanted = args.int()?;
    if wanted != 0 && wanted != 1 {
        return Err(CmdError::other("ERR The bit argument must be 1 or 0."));
    }
    let wanted = wanted as u64;
    // A missing key is an endless run of zeros.
    let Some(bytes) = read_string(cx, key)? else {
        out.int(if wanted == 1 { -1 } else { 0 });
        return Ok(());
    };
    let len = bytes.len();
    let (range, end_given) = match args.rest() {
        [] => (bit_range(0, -1, len, false, false), false),
        [start, rest @ ..] if rest.len() <= 2 => {
            let start = parse_int(start)?;
            let bits = match rest.get(1) {
                Some(u) => unit_is_bit(u)?,
                None => false,
            };
            match rest.first() {
                Some(end) => (bit_range(start, parse_int(end)?, len, bits, false), true),
                None => (bit_range(start, -1, len, bits, false), false),
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    let Some((first, last)) = range else {
        out.int(-1);
        return Ok(());
    };
    let found = find_bit(&bytes, first, last, wanted);
    let pos = match found {
        Some(at) => at as i64,
        // Without an end the string counts as followed by zeros: the first clear bit is
        // the one past it.
        None if wanted == 0 && !end_given => len as i64 * 8,
        None => -1,
    };
    out.int(pos);
    Ok(())
}

/// BITOP's operation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// The result of BITOP over `sources` (a missing key is an empty string).
fn combine(op: BitOp, sources: &[Option<Vec<u8>>]) -> Vec<u8> {
    let len = sources
        .iter()
        .map(|s| s.as_ref().map_or(0, Vec::len))
        .max()
        .unwrap_or(0);
    let byte = |s: &Option<Vec<u8>>, i: usize| s.as_ref().and_then(|s| s.get(i)).copied().unwrap_or(0);
    (0..len)
        .map(|i| {
            let first = byte(&sources[0], i);
            let rest = sources[1..].iter().map(|s| byte(s, i));
            match op {
                BitOp::Not => !first,
                BitOp::And => rest.fold(first, |a, b| a & b),
                BitOp::Or => rest.fold(first, |a, b| a | b),
                BitOp::Xor => rest.fold(first, |a, b| a ^ b),
            }
        })
        .collect()
}

/// Stores BITOP's result under `dst` (an empty one deletes it) and logs the command.
fn store_result(cx: &mut ShardCx, dst: &[u8], result: &[u8], argv: &[Arg]) {
    if !result.is_empty() {
        cx.put(dst, Value::Str(result.to_vec()), false);
        cx.notify(class::STRING, "set", dst);
        cx.emit_argv(argv);
    } else if cx.remove(dst).is_some() {
        cx.notify(class::GENERIC, "del", dst);
        cx.emit_argv(argv);
    }
}

/// The copies of this shard's sources among `keys` (argument index, bytes if present).
type Copies = Vec<(usize, Option<Vec<u8>>)>;

/// What BITOP's first hop gives back: the sources' copies, or (all keys on one shard) the
/// stored result's length.
enum HopOne {
    Copies(Copies),
    Stored(usize),
}

fn read_sources(cx: &mut ShardCx, keys: &[Arg], shards: usize) -> Result<Copies, CmdError> {
    let me = cx.shard.id;
    let mut got = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        if shard_of(key, shards) == me {
            got.push((i, read_string(cx, key)?.map(Cow::into_owned)));
        }
    }
    Ok(got)
}

fn bitop(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let op = match &argv[1] {
            a if is(a, "and") => BitOp::And,
            a if is(a, "or") => BitOp::Or,
            a if is(a, "xor") => BitOp::Xor,
            a if is(a, "not") => BitOp::Not,
            _ => return Err(CmdError::Syntax),
        };
        if op == BitOp::Not && argv.len() != 4 {
            return Err(CmdError::other(
                "ERR BITOP NOT must be called with a single source key.",
            ));
        }
        let db = cx.session.db;
        let shards = cx.core.shards;
        let argv = Arc::new(argv);
        let dst_shard = shard_of(&argv[2], shards);
        let involved = crate::txn::shards_of(argv[2..].iter(), shards);
        let mut txn = cx.txn(involved.clone(), 2);
        // Hop 1: every shard copies its sources (type-checked); with one shard it also stores.
        let single = involved.len() == 1;
        let a = argv.clone();
        let firsts = txn
            .hop(move |s: &mut Shard| {
                let mut cx = ShardCx::new(s, db, unix_ms());
                let got = read_sources(&mut cx, &a[3..], shards)?;
                if !single {
                    return Ok(HopOne::Copies(got));
                }
                let sources: Vec<Option<Vec<u8>>> = got.into_iter().map(|(_, b)| b).collect();
                let result = combine(op, &sources);
                store_result(&mut cx, &a[2], &result, &a);
                Ok::<_, CmdError>(HopOne::Stored(result.len()))
            })
            .await;
        let mut sources: Vec<Option<Vec<u8>>> = vec![None; argv.len() - 3];
        let mut stored = 0;
        for (_, first) in firsts {
            match first {
                Err(e) => {
                    txn.finish();
                    return Err(e);
                }
                Ok(HopOne::Stored(len)) => stored = len,
                Ok(HopOne::Copies(list)) => list.into_iter().for_each(|(i, b)| sources[i] = b),
            }
        }
        let len = if single {
            stored
        } else {
            // Hop 2: the destination's shard stores the result and logs the command.
            let result = combine(op, &sources);
            let len = result.len();
            let slot = Mutex::new(Some(result));
            let a = argv.clone();
            txn.hop(move |s: &mut Shard| {
                if s.id != dst_shard {
                    return;
                }
                if let Some(result) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    store_result(&mut ShardCx::new(s, db, unix_ms()), &a[2], &result, &a);
                }
            })
            .await;
            len
        };
        txn.finish();
        cx.out.int(len as i64);
        Ok(())
    })
}
