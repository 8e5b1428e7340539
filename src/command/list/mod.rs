//! The list family, as redis-server 7.0 behaves: pushes, pops (with COUNT), reads, edits,
//! LPOS, LMOVE/RPOPLPUSH, LMPOP, and the blocking BLPOP/BRPOP/BLMOVE/BRPOPLPUSH/BLMPOP.
//!
//! Single-key commands are shard handlers here. Commands whose keys may live on several
//! shards (LMOVE, LMPOP and every blocking form) are connection handlers in `multi` and
//! `blocking`, built on `txn::Txn`. Propagation follows 7.0: pushes, LPOP/RPOP, LSET, LREM,
//! LTRIM, LINSERT, LMOVE, RPOPLPUSH verbatim (only when they changed something); LMPOP as
//! `LPOP key n`; a served blocking pop as its non-blocking form.

mod blocking;
mod multi;
mod ops;

pub(crate) use blocking::{UNBLOCKED, block_on_pop, parse_timeout};
pub(crate) use ops::How as PopHow;

use super::args::{is, parse_int};
use super::*;
use crate::shard::ShardCx;
use crate::store::list::{End, List};
use crate::store::{Kind, Value, ValueMut, ValueRef};

const L: &str = "list";

pub const SPECS: &[CommandSpec] = &[
    CommandSpec::new("lpush", -3, WRITE.union(DENYOOM).union(FAST), KeySpan::single(1), Run::Shard(lpush))
        .doc(L, "1.0.0", "Prepends one or more elements to a list. Creates the key if it doesn't exist.", "key element [element ...]"),
    CommandSpec::new("rpush", -3, WRITE.union(DENYOOM).union(FAST), KeySpan::single(1), Run::Shard(rpush))
        .doc(L, "1.0.0", "Appends one or more elements to a list. Creates the key if it doesn't exist.", "key element [element ...]"),
    CommandSpec::new("lpushx", -3, WRITE.union(DENYOOM).union(FAST), KeySpan::single(1), Run::Shard(lpushx))
        .doc(L, "2.2.0", "Prepends one or more elements to a list only when the list exists.", "key element [element ...]"),
    CommandSpec::new("rpushx", -3, WRITE.union(DENYOOM).union(FAST), KeySpan::single(1), Run::Shard(rpushx))
        .doc(L, "2.2.0", "Appends an element to a list only when the list exists.", "key element [element ...]"),
    CommandSpec::new("lpop", -2, WRITE.union(FAST), KeySpan::single(1), Run::Shard(lpop))
        .doc(L, "1.0.0", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.", "key [count]"),
    CommandSpec::new("rpop", -2, WRITE.union(FAST), KeySpan::single(1), Run::Shard(rpop))
        .doc(L, "1.0.0", "Returns and removes the last elements of a list. Deletes the list if the last element was popped.", "key [count]"),
    CommandSpec::new("llen", 2, READONLY.union(FAST), KeySpan::single(1), Run::Shard(llen))
        .doc(L, "1.0.0", "Returns the length of a list.", "key"),
    CommandSpec::new("lrange", 4, READONLY, KeySpan::single(1), Run::Shard(lrange))
        .doc(L, "1.0.0", "Returns a range of elements from a list.", "key start stop"),
    CommandSpec::new("lindex", 3, READONLY, KeySpan::single(1), Run::Shard(lindex))
        .doc(L, "1.0.0", "Returns an element from a list by its index.", "key index"),
    CommandSpec::new("lset", 4, WRITE.union(DENYOOM), KeySpan::single(1), Run::Shard(lset))
        .doc(L, "1.0.0", "Sets the value of an element in a list by its index.", "key index element"),
    CommandSpec::new("lrem", 4, WRITE, KeySpan::single(1), Run::Shard(lrem))
        .doc(L, "1.0.0", "Removes elements from a list. Deletes the list if the last element was removed.", "key count element"),
    CommandSpec::new("ltrim", 4, WRITE, KeySpan::single(1), Run::Shard(ltrim))
        .doc(L, "1.0.0", "Removes elements from both ends a list. Deletes the list if all elements were trimmed.", "key start stop"),
    CommandSpec::new("linsert", 5, WRITE.union(DENYOOM), KeySpan::single(1), Run::Shard(linsert))
        .doc(L, "2.2.0", "Inserts an element before or after another element in a list.", "key BEFORE|AFTER pivot element"),
    CommandSpec::new("lpos", -3, READONLY, KeySpan::single(1), Run::Shard(lpos))
        .doc(L, "6.0.6", "Returns the index of matching elements in a list.", "key element [RANK rank] [COUNT num-matches] [MAXLEN len]"),
    CommandSpec::new("lmove", 5, WRITE.union(DENYOOM), KeySpan::range(1, 2, 1), Run::Conn(multi::lmove))
        .doc(L, "6.2.0", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.", "source destination LEFT|RIGHT LEFT|RIGHT"),
    CommandSpec::new("rpoplpush", 3, WRITE.union(DENYOOM), KeySpan::range(1, 2, 1), Run::Conn(multi::rpoplpush))
        .doc(L, "1.2.0", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.", "source destination"),
    CommandSpec::new("lmpop", -4, WRITE, KeySpan::NONE, Run::Conn(multi::lmpop)).numkeys_at(1)
        .doc(L, "7.0.0", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.", "numkeys key [key ...] LEFT|RIGHT [COUNT count]"),
    CommandSpec::new("blpop", -3, WRITE.union(NOSCRIPT).union(BLOCKING), KeySpan::range(1, -2, 1), Run::Conn(blocking::blpop))
        .doc(L, "2.0.0", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "key [key ...] timeout"),
    CommandSpec::new("brpop", -3, WRITE.union(NOSCRIPT).union(BLOCKING), KeySpan::range(1, -2, 1), Run::Conn(blocking::brpop))
        .doc(L, "2.0.0", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "key [key ...] timeout"),
    CommandSpec::new("brpoplpush", 4, WRITE.union(DENYOOM).union(NOSCRIPT).union(BLOCKING), KeySpan::range(1, 2, 1), Run::Conn(blocking::brpoplpush))
        .doc(L, "2.2.0", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.", "source destination timeout"),
    CommandSpec::new("blmove", 6, WRITE.union(DENYOOM).union(NOSCRIPT).union(BLOCKING), KeySpan::range(1, 2, 1), Run::Conn(blocking::blmove))
        .doc(L, "6.2.0", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", "source destination LEFT|RIGHT LEFT|RIGHT timeout"),
    CommandSpec::new("blmpop", -5, WRITE.union(BLOCKING), KeySpan::NONE, Run::Conn(blocking::blmpop)).numkeys_at(2)
        .doc(L, "7.0.0", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]"),
];

/// The list under `key` for a write (`None` when missing).
fn list_write<'a>(cx: &'a mut ShardCx, key: &[u8]) -> Result<Option<&'a mut List>, CmdError> {
    Ok(cx.lookup_typed(key, Kind::List)?.and_then(|e| match e.value_mut() {
        ValueMut::List(l) => Some(l),
        _ => None,
    }))
}

/// The list under `key` for a read (counts keyspace hits and misses).
fn list_read<'a>(cx: &'a mut ShardCx, key: &[u8]) -> Result<Option<&'a List>, CmdError> {
    match cx.lookup_read(key) {
        Some(e) => match e.value() {
            ValueRef::List(l) => Ok(Some(l)),
            _ => Err(CmdError::WrongType),
        },
        None => Ok(None),
    }
}

/// Parses LEFT or RIGHT (LMOVE, LMPOP); anything else is a syntax error.
fn parse_end(arg: &[u8]) -> Result<End, CmdError> {
    if is(arg, "left") {
        Ok(End::Left)
    } else if is(arg, "right") {
        Ok(End::Right)
    } else {
        Err(CmdError::Syntax)
    }
}

/// Pushes `elems` at `end` of `key`; with `only_existing` (LPUSHX/RPUSHX) a missing key stays
/// missing. Returns the new length (0 when nothing was created).
pub(crate) fn push_elems(
    cx: &mut ShardCx,
    key: &[u8],
    elems: &[crate::resp::Arg],
    end: End,
    only_existing: bool,
) -> Result<usize, CmdError> {
    let fill = cx.shard.limits.list_max_listpack_size;
    let len = match list_write(cx, key)? {
        Some(l) => {
            elems.iter().for_each(|e| l.push(end, e, fill));
            l.len()
        }
        None if only_existing => return Ok(0),
        None => {
            let mut l = List::new();
            elems.iter().for_each(|e| l.push(end, e, fill));
            let n = l.len();
            cx.put(key, Value::List(Box::new(l)), false);
            n
        }
    };
    cx.shard.blocking.signal(cx.db, key);
    cx.notify(class::LIST, push_event(end), key);
    Ok(len)
}

/// The keyspace event of a push at `end`.
pub(crate) fn push_event(end: End) -> &'static str {
    match end {
        End::Left => "lpush",
        End::Right => "rpush",
    }
}

fn push(cx: &mut ShardCx, args: &mut Args, out: &mut Out, end: End, only_existing: bool) -> Result<(), CmdError> {
    let key = args.next()?;
    let len = push_elems(cx, key, args.rest(), end, only_existing)?;
    if len > 0 {
        cx.emit_argv(args.all());
    }
    out.int(len as i64);
    Ok(())
}

fn lpush(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    push(cx, args, out, End::Left, false)
}

fn rpush(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    push(cx, args, out, End::Right, false)
}

fn lpushx(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    push(cx, args, out, End::Left, true)
}

fn rpushx(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    push(cx, args, out, End::Right, true)
}

/// LPOP/RPOP key [count]. Without a count: one bulk (or null); with one: an array (a null
/// array for a missing key), `*0` for a count of 0 on an existing list.
fn pop(cx: &mut ShardCx, args: &mut Args, out: &mut Out, end: End) -> Result<(), CmdError> {
    if args.remaining() > 2 {
        let name = if end == End::Left { "lpop" } else { "rpop" };
        return Err(CmdError::WrongArity(name.into()));
    }
    let key = args.next()?;
    let count = match args.next_opt() {
        Some(c) => Some(positive(c, "ERR value is out of range, must be positive")?),
        None => None,
    };
    let Some(list) = list_write(cx, key)? else {
        match count {
            Some(_) => out.null_array(),
            None => out.null(),
        }
        return Ok(());
    };
    match count {
        None => {
            let v = list.pop(end).unwrap_or_default();
            out.bulk(&v);
        }
        Some(0) => {
            out.array(0);
            return Ok(());
        }
        Some(n) => {
            let n = n.min(list.len());
            out.array(n);
            for _ in 0..n {
                out.bulk(&list.pop(end).unwrap_or_default());
            }
        }
    }
    ops::told_then_drop_if_empty(cx, ops::pop_event(end), key);
    cx.emit_argv(args.all());
    Ok(())
}

/// A non-negative integer argument; `msg` for both a non-integer and a negative value (as
/// Redis's `getPositiveLongFromObjectOrReply` with a message).
fn positive(arg: &[u8], msg: &'static str) -> Result<usize, CmdError> {
    match parse_int(arg) {
        Ok(n) if n >= 0 => Ok(n as usize),
        _ => Err(CmdError::other(msg)),
    }
}

fn lpop(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    pop(cx, args, out, End::Left)
}

fn rpop(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    pop(cx, args, out, End::Right)
}

fn llen(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let n = list_read(cx, key)?.map_or(0, |l| l.len());
    out.int(n as i64);
    Ok(())
}

/// Redis's range normalisation (LRANGE, LTRIM): `None` for an empty range.
fn norm_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { (start + len).max(0) } else { start };
    let stop = if stop < 0 { stop + len } else { stop };
    if start > stop || start >= len {
        return None;
    }
    Some((start as usize, stop.min(len - 1) as usize))
}

fn lrange(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let (start, stop) = (args.int()?, args.int()?);
    let Some(list) = list_read(cx, key)? else {
        out.array(0);
        return Ok(());
    };
    match norm_range(start, stop, list.len()) {
        Some((a, b)) => {
            out.array(b - a + 1);
            list.range(a, b).for_each(|e| out.bulk(e));
        }
        None => out.array(0),
    }
    Ok(())
}

/// A possibly negative index into a list of `len`, if in range.
fn index_of(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { i + len as i64 } else { i };
    (0..len as i64).contains(&i).then_some(i as usize)
}

fn lindex(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let i = args.int()?;
    match list_read(cx, key)?.and_then(|l| index_of(i, l.len()).and_then(|i| l.get(i))) {
        Some(v) => out.bulk(v),
        None => out.null(),
    }
    Ok(())
}

fn lset(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let i = args.int()?;
    let v = args.next()?;
    let fill = cx.shard.limits.list_max_listpack_size;
    let list = list_write(cx, key)?.ok_or(CmdError::NoSuchKey)?;
    let i = index_of(i, list.len()).ok_or_else(|| CmdError::other("ERR index out of range"))?;
    list.set(i, v, fill);
    cx.notify(class::LIST, "lset", key);
    cx.emit_argv(args.all());
    out.ok();
    Ok(())
}

fn lrem(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let count = args.int()?;
    let v = args.next()?;
    let removed = match list_write(cx, key)? {
        Some(l) => l.remove_matching(v, count),
        None => 0,
    };
    if removed > 0 {
        ops::told_then_drop_if_empty(cx, "lrem", key);
        cx.emit_argv(args.all());
    }
    out.int(removed as i64);
    Ok(())
}

fn ltrim(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let (start, stop) = (args.int()?, args.int()?);
    if let Some(l) = list_write(cx, key)? {
        let before = l.len();
        match norm_range(start, stop, before) {
            Some((a, b)) => l.trim(a, b),
            None => l.trim(1, 0),
        }
        let changed = l.len() != before;
        // redis-server tells "ltrim" even when nothing was cut (and propagates only a change).
        ops::told_then_drop_if_empty(cx, "ltrim", key);
        if changed {
            cx.emit_argv(args.all());
        }
    }
    out.ok();
    Ok(())
}

fn linsert(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let where_ = args.next()?;
    let before = if is(where_, "before") {
        true
    } else if is(where_, "after") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let (pivot, v) = (args.next()?, args.next()?);
    let fill = cx.shard.limits.list_max_listpack_size;
    let Some(l) = list_write(cx, key)? else {
        out.int(0);
        return Ok(());
    };
    if !l.insert(pivot, v, before, fill) {
        out.int(-1);
        return Ok(());
    }
    let n = l.len();
    cx.notify(class::LIST, "linsert", key);
    cx.emit_argv(args.all());
    out.int(n as i64);
    Ok(())
}

/// LPOS key element [RANK rank] [COUNT num] [MAXLEN len].
fn lpos(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let elem = args.next()?;
    let (mut rank, mut count, mut maxlen) = (1i64, None::<usize>, 0usize);
    while let Some(opt) = args.next_opt() {
        let more = args.remaining() > 0;
        if is(opt, "rank") && more {
            let r = args.int()?;
            if r == 0 {
                return Err(CmdError::other(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
            // 7.0 negates the rank without a range check: LONG_MIN stays negative and then
            // matches from the first element seen (from the tail), like -1.
            rank = if r == i64::MIN { -1 } else { r };
        } else if is(opt, "count") && more {
            count = Some(positive(args.next()?, "ERR COUNT can't be negative")?);
        } else if is(opt, "maxlen") && more {
            maxlen = positive(args.next()?, "ERR MAXLEN can't be negative")?;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let Some(list) = list_read(cx, key)? else {
        match count {
            Some(_) => out.array(0),
            None => out.null(),
        }
        return Ok(());
    };
    let len = list.len();
    let limit = if maxlen == 0 { len } else { maxlen.min(len) };
    let want = match count {
        Some(0) => usize::MAX,
        Some(n) => n,
        None => 1,
    };
    let mut skip = rank.unsigned_abs() - 1;
    let mut found: Vec<usize> = Vec::new();
    let mut scan = |i: usize, e: &[u8]| {
        if e == elem {
            if skip > 0 {
                skip -= 1;
            } else {
                found.push(i);
            }
        }
        found.len() < want
    };
    if rank > 0 {
        for (i, e) in list.iter().take(limit).enumerate() {
            if !scan(i, e) {
                break;
            }
        }
    } else {
        for (k, e) in list.iter().rev().take(limit).enumerate() {
            if !scan(len - 1 - k, e) {
                break;
            }
        }
    }
    match count {
        Some(_) => {
            out.array(found.len());
            found.iter().for_each(|&i| out.int(i as i64));
        }
        None => match found.first() {
            Some(&i) => out.int(i as i64),
            None => out.null(),
        },
    }
    Ok(())
}
