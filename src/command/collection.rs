//! Helpers shared by the collection families (hashes, sets; sorted sets may use them too):
//! the *SCAN cursor and options, the count argument of the *RAND* commands, and a small
//! random generator for picking members while a value is borrowed from its shard.

use crate::shard::ShardCx;
use crate::store::{Collection, EncodingLimits};

use super::CmdError;
use super::args::{is, parse_int};
use crate::resp::Out;
use crate::util::glob::glob_match;

/// Parses a *SCAN cursor as Redis 7.0 does (`strtoul`): an optional sign, decimal digits,
/// no spaces, no overflow; a negative value wraps like C's `strtoul`, an empty one is 0.
pub fn parse_scan_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let invalid = || CmdError::other("ERR invalid cursor");
    if arg.is_empty() {
        return Ok(0);
    }
    let (neg, digits) = match arg[0] {
        b'-' => (true, &arg[1..]),
        b'+' => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or_else(invalid)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// The MATCH and COUNT options of HSCAN / SSCAN / ZSCAN (no TYPE: that is SCAN's alone).
#[derive(Debug, Clone, Default)]
pub struct ScanOptions<'a> {
    pub pattern: Option<&'a [u8]>,
    pub count: usize,
}

impl<'a> ScanOptions<'a> {
    /// Parses `[MATCH pattern] [COUNT count]` from `opts` (the arguments after the cursor).
    pub fn parse(opts: &'a [crate::resp::Arg]) -> Result<Self, CmdError> {
        let mut o = ScanOptions {
            pattern: None,
            count: 10,
        };
        let mut it = opts.chunks(2);
        for pair in &mut it {
            let [name, value] = pair else {
                return Err(CmdError::Syntax);
            };
            if is(name, "count") {
                let n = parse_int(value)?;
                if n < 1 {
                    return Err(CmdError::Syntax);
                }
                o.count = n as usize;
            } else if is(name, "match") {
                o.pattern = Some(&value[..]).filter(|p| *p != b"*");
            } else {
                return Err(CmdError::Syntax);
            }
        }
        Ok(o)
    }

    /// True when `item` passes the MATCH filter.
    pub fn matches(&self, item: &[u8]) -> bool {
        self.pattern.is_none_or(|p| glob_match(p, item, false))
    }
}

/// Writes a *SCAN reply: the next cursor, then the flat list of items.
pub fn scan_reply(out: &mut Out, cursor: u64, items: &[Vec<u8>]) {
    out.array(2);
    out.bulk(itoa::Buffer::new().format(cursor).as_bytes());
    out.array(items.len());
    for i in items {
        out.bulk(i);
    }
}

/// The count of SRANDMEMBER / HRANDFIELD / ZRANDMEMBER: `(how many, distinct?)`. A negative
/// count asks for that many picks with repetition.
pub fn parse_rand_count(arg: &[u8]) -> Result<(usize, bool), CmdError> {
    let n = parse_int(arg)?;
    if n == i64::MIN {
        return Err(CmdError::other(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    Ok((n.unsigned_abs() as usize, n >= 0))
}

/// A xorshift generator seeded from the shard's, so a handler can draw many numbers while it
/// holds a borrow of the value it samples.
pub struct PickRng(u64);

impl PickRng {
    pub fn new(seed: usize) -> Self {
        PickRng((seed as u64) | 1)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        if n == 0 { 0 } else { (x % n as u64) as usize }
    }
}

/// `count` distinct positions below `len` in random order (`count < len`), by a partial
/// Fisher-Yates shuffle: used when the caller can index its members.
pub fn distinct_positions(len: usize, count: usize, rng: &mut PickRng) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..len).collect();
    for i in 0..count.min(len) {
        let j = i + rng.below(len - i);
        idx.swap(i, j);
    }
    idx.truncate(count);
    idx
}

/// The collection of type `C` under `key` for reading: `None` when missing, WRONGTYPE for
/// another type.
pub fn read_typed<'a, C: Collection>(cx: &'a mut ShardCx, key: &[u8]) -> Result<Option<&'a C>, CmdError> {
    match cx.lookup_read(key) {
        None => Ok(None),
        Some(e) => C::of(e.value()).map(Some).ok_or(CmdError::WrongType),
    }
}

/// Runs `f` on the collection under `key`, creating an empty one first when `create` (and the
/// key is missing). `event` names what `f`'s result did, for keyspace subscribers (`None`:
/// nothing changed). A collection that `f` leaves empty is then deleted, as Redis never keeps
/// empty collections, and "del" told after the command's event, as redis-server tells them.
/// `Ok(None)`: missing and not created.
pub fn with_typed<C: Collection, R>(
    cx: &mut ShardCx,
    key: &[u8],
    create: bool,
    event: (u32, impl FnOnce(&R) -> Option<&'static str>),
    f: impl FnOnce(&mut C, &EncodingLimits) -> R,
) -> Result<Option<R>, CmdError> {
    let limits = cx.shard.limits;
    if cx.lookup_typed(key, C::KIND)?.is_none() {
        if !create {
            return Ok(None);
        }
        cx.put(key, Box::<C>::default().into_value(), false);
    }
    let e = cx.lookup(key).ok_or(CmdError::WrongType)?;
    let c = C::of_mut(e.value_mut()).ok_or(CmdError::WrongType)?;
    let r = f(c, &limits);
    let emptied = c.is_empty_collection();
    let (class, name) = event;
    if let Some(name) = name(&r) {
        cx.notify(class, name, key);
    }
    if emptied {
        cx.remove(key);
        cx.notify(super::class::GENERIC, "del", key);
    }
    Ok(Some(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_like_strtoul() {
        assert_eq!(parse_scan_cursor(b"0"), Ok(0));
        assert_eq!(parse_scan_cursor(b""), Ok(0));
        assert_eq!(parse_scan_cursor(b"+7"), Ok(7));
        assert_eq!(parse_scan_cursor(b"-1"), Ok(u64::MAX));
        for bad in [&b" 1"[..], b"1 ", b"x", b"+", b"18446744073709551616"] {
            assert!(parse_scan_cursor(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn positions_are_distinct() {
        let mut rng = PickRng::new(42);
        let mut p = distinct_positions(10, 7, &mut rng);
        p.sort();
        p.dedup();
        assert_eq!(p.len(), 7);
        assert!(p.iter().all(|&i| i < 10));
    }
}
