//! The hash family, as redis-server 7.0 behaves.
//!
//! Replication (R5): HSET, HMSET, HSETNX, HDEL and HINCRBY replicate as sent, and only when they
//! changed something (HSET and HMSET always do); HINCRBYFLOAT is logged as `HSET key field
//! <new value>` so replicas never redo the long double arithmetic; HRANDFIELD and reads log
//! nothing. A hash left without fields is deleted, as Redis deletes it.

use super::args::{is, parse_int};
use super::collection::{PickRng, ScanOptions, distinct_positions, parse_rand_count, parse_scan_cursor, scan_reply};
use super::*;
use crate::resp::Proto;
use crate::store::EncodingLimits;
use crate::store::hash::{Hash, SetOutcome};
use crate::util::num::hincr_by_float;

const H: &str = "hash";

pub const SPECS: &[CommandSpec] = &[
    CommandSpec::new(
        "hset",
        -4,
        WRITE.union(DENYOOM).union(FAST),
        KeySpan::single(1),
        Run::Shard(hset),
    )
    .member_at(2)
    .doc(
        H,
        "2.0.0",
        "Creates or modifies the value of a field in a hash.",
        "key field value [field value ...]",
    ),
    CommandSpec::new(
        "hsetnx",
        4,
        WRITE.union(DENYOOM).union(FAST),
        KeySpan::single(1),
        Run::Shard(hsetnx),
    )
    .member_at(2)
    .doc(
        H,
        "2.0.0",
        "Sets the value of a field in a hash only when the field doesn't exist.",
        "key field value",
    ),
    CommandSpec::new(
        "hmset",
        -4,
        WRITE.union(DENYOOM).union(FAST),
        KeySpan::single(1),
        Run::Shard(hmset),
    )
    .member_at(2)
    .doc(
        H,
        "2.0.0",
        "Sets the values of multiple fields.",
        "key field value [field value ...]",
    ),
    CommandSpec::new("hget", 3, READONLY.union(FAST), KeySpan::single(1), Run::Shard(hget))
        .member_at(2)
        .doc(H, "2.0.0", "Returns the value of a field in a hash.", "key field"),
    CommandSpec::new("hmget", -3, READONLY.union(FAST), KeySpan::single(1), Run::Shard(hmget)).doc(
        H,
        "2.0.0",
        "Returns the values of all fields in a hash.",
        "key field [field ...]",
    ),
    CommandSpec::new("hdel", -3, WRITE.union(FAST), KeySpan::single(1), Run::Shard(hdel))
        .member_at(2)
        .doc(
            H,
            "2.0.0",
            "Deletes one or more fields and their values from a hash.",
            "key field [field ...]",
        ),
    CommandSpec::new(
        "hexists",
        3,
        READONLY.union(FAST),
        KeySpan::single(1),
        Run::Shard(hexists),
    )
    .member_at(2)
    .doc(H, "2.0.0", "Determines whether a field exists in a hash.", "key field"),
    CommandSpec::new("hlen", 2, READONLY.union(FAST), KeySpan::single(1), Run::Shard(hlen)).doc(
        H,
        "2.0.0",
        "Returns the number of fields in a hash.",
        "key",
    ),
    CommandSpec::new(
        "hstrlen",
        3,
        READONLY.union(FAST),
        KeySpan::single(1),
        Run::Shard(hstrlen),
    )
    .member_at(2)
    .doc(H, "3.2.0", "Returns the length of the value of a field.", "key field"),
    CommandSpec::new("hkeys", 2, READONLY, KeySpan::single(1), Run::Shard(hkeys)).doc(
        H,
        "2.0.0",
        "Returns all fields in a hash.",
        "key",
    ),
    CommandSpec::new("hvals", 2, READONLY, KeySpan::single(1), Run::Shard(hvals)).doc(
        H,
        "2.0.0",
        "Returns all values in a hash.",
        "key",
    ),
    CommandSpec::new("hgetall", 2, READONLY, KeySpan::single(1), Run::Shard(hgetall)).doc(
        H,
        "2.0.0",
        "Returns all fields and values in a hash.",
        "key",
    ),
    CommandSpec::new(
        "hincrby",
        4,
        WRITE.union(DENYOOM).union(FAST),
        KeySpan::single(1),
        Run::Shard(hincrby),
    )
    .member_at(2)
    .doc(
        H,
        "2.0.0",
        "Increments the integer value of a field in a hash by a number.",
        "key field increment",
    ),
    CommandSpec::new(
        "hincrbyfloat",
        4,
        WRITE.union(DENYOOM).union(FAST),
        KeySpan::single(1),
        Run::Shard(hincrbyfloat),
    )
    .member_at(2)
    .doc(
        H,
        "2.6.0",
        "Increments the floating point value of a field by a number.",
        "key field increment",
    ),
    CommandSpec::new("hrandfield", -2, READONLY, KeySpan::single(1), Run::Shard(hrandfield)).doc(
        H,
        "6.2.0",
        "Returns one or more random fields from a hash.",
        "key [count [WITHVALUES]]",
    ),
    CommandSpec::new("hscan", -3, READONLY, KeySpan::single(1), Run::Shard(hscan)).doc(
        H,
        "2.8.0",
        "Iterates over fields and values of a hash.",
        "key cursor [MATCH pattern] [COUNT count]",
    ),
];

/// The hash under `key` for reading: `None` when missing, WRONGTYPE for another type.
fn read_hash<'a>(cx: &'a mut ShardCx, key: &[u8]) -> Result<Option<&'a Hash>, CmdError> {
    super::collection::read_typed(cx, key)
}

/// Runs `f` on the hash under `key`, creating an empty one first when `create` (and the key is
/// missing). A hash that `f` leaves empty is deleted. `Ok(None)`: missing and not created.
/// `event` names what a successful `f` did, for keyspace subscribers.
fn with_hash<R>(
    cx: &mut ShardCx,
    key: &[u8],
    create: bool,
    event: impl FnOnce(&R) -> Option<&'static str>,
    f: impl FnOnce(&mut Hash, &EncodingLimits) -> Result<R, CmdError>,
) -> Result<Option<R>, CmdError> {
    let event = |r: &Result<R, CmdError>| r.as_ref().ok().and_then(event);
    super::collection::with_typed(cx, key, create, (class::HASH, event), f)?.transpose()
}

/// HSET and HMSET: `key f v [f v ...]`; returns how many fields were new.
fn set_pairs(cx: &mut ShardCx, args: &mut Args, name: &str) -> Result<i64, CmdError> {
    let key = args.next()?;
    let pairs = args.rest();
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity(name.into()));
    }
    let added = with_hash(
        cx,
        key,
        true,
        |_| Some("hset"),
        |h, limits| {
            Ok(pairs
                .chunks_exact(2)
                .filter(|p| h.set(&p[0], &p[1], limits) == SetOutcome::Inserted)
                .count())
        },
    )?;
    cx.emit_argv(args.all());
    Ok(added.unwrap_or(0) as i64)
}

fn hset(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let added = set_pairs(cx, args, "hset")?;
    out.int(added);
    Ok(())
}

fn hmset(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    set_pairs(cx, args, "hmset")?;
    out.ok();
    Ok(())
}

fn hsetnx(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let (key, field, value) = (args.next()?, args.next()?, args.next()?);
    let added = with_hash(
        cx,
        key,
        true,
        |added: &bool| added.then_some("hset"),
        |h, limits| Ok(!h.contains(field) && h.set(field, value, limits) == SetOutcome::Inserted),
    )?
    .unwrap_or(false);
    if added {
        cx.emit_argv(args.all());
    }
    out.int(added as i64);
    Ok(())
}

fn hget(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let (key, field) = (args.next()?, args.next()?);
    match read_hash(cx, key)?.and_then(|h| h.get(field)) {
        Some(v) => out.bulk(v),
        None => out.null(),
    }
    Ok(())
}

fn hmget(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let fields = args.rest();
    let h = read_hash(cx, key)?;
    out.array(fields.len());
    for f in fields {
        match h.and_then(|h| h.get(f)) {
            Some(v) => out.bulk(v),
            None => out.null(),
        }
    }
    Ok(())
}

fn hdel(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let fields = args.rest();
    let removed = with_hash(
        cx,
        key,
        false,
        |n: &usize| (*n > 0).then_some("hdel"),
        |h, _| Ok(fields.iter().filter(|f| h.remove(f)).count()),
    )?
    .unwrap_or(0);
    if removed > 0 {
        cx.emit_argv(args.all());
    }
    out.int(removed as i64);
    Ok(())
}

fn hexists(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let (key, field) = (args.next()?, args.next()?);
    let found = read_hash(cx, key)?.is_some_and(|h| h.contains(field));
    out.int(found as i64);
    Ok(())
}

fn hlen(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let n = read_hash(cx, key)?.map_or(0, Hash::len);
    out.int(n as i64);
    Ok(())
}

fn hstrlen(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let (key, field) = (args.next()?, args.next()?);
    let n = read_hash(cx, key)?.and_then(|h| h.get(field)).map_or(0, <[u8]>::len);
    out.int(n as i64);
    Ok(())
}

/// What HKEYS / HVALS / HGETALL list of each pair.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Fields,
    Values,
    Both,
}

fn list_hash(cx: &mut ShardCx, args: &mut Args, out: &mut Out, part: Part) -> Result<(), CmdError> {
    let key = args.next()?;
    let h = read_hash(cx, key)?;
    let n = h.map_or(0, Hash::len);
    if part == Part::Both {
        out.map(n);
    } else {
        out.array(n);
    }
    for (f, v) in h.into_iter().flat_map(Hash::iter) {
        if part != Part::Values {
            out.bulk(f);
        }
        if part != Part::Fields {
            out.bulk(v);
        }
    }
    Ok(())
}

fn hkeys(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    list_hash(cx, args, out, Part::Fields)
}

fn hvals(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    list_hash(cx, args, out, Part::Values)
}

fn hgetall(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    list_hash(cx, args, out, Part::Both)
}

fn hincrby(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let (key, field) = (args.next()?, args.next()?);
    let incr = args.int()?;
    let new = with_hash(
        cx,
        key,
        true,
        |_| Some("hincrby"),
        |h, limits| {
            let current = match h.get(field) {
                None => 0,
                Some(v) => parse_int(v).map_err(|_| CmdError::other("ERR hash value is not an integer"))?,
            };
            let new = current.checked_add(incr).ok_or(CmdError::Overflow)?;
            h.set(field, itoa::Buffer::new().format(new).as_bytes(), limits);
            Ok(new)
        },
    )?
    .unwrap_or(0);
    cx.emit_argv(args.all());
    out.int(new);
    Ok(())
}

fn hincrbyfloat(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let (key, field, incr) = (args.next()?, args.next()?, args.next()?);
    // Redis rejects a bad increment before it looks at the key (so before WRONGTYPE).
    hincr_by_float(None, incr).map_err(|e| CmdError::other(e.message()))?;
    let new = with_hash(
        cx,
        key,
        true,
        |_| Some("hincrbyfloat"),
        |h, limits| {
            let new = hincr_by_float(h.get(field), incr).map_err(|e| CmdError::other(e.message()))?;
            h.set(field, &new, limits);
            Ok(new)
        },
    )?
    .unwrap_or_default();
    cx.emit(&[b"HSET", key, field, &new]);
    out.bulk(&new);
    Ok(())
}

fn hrandfield(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let Some(count_arg) = args.next_opt() else {
        let seed = cx.shard.rand_below(usize::MAX);
        let mut rng = PickRng::new(seed);
        match read_hash(cx, key)?.and_then(|h| h.random(|n| rng.below(n))) {
            Some((f, _)) => out.bulk(f),
            None => out.null(),
        }
        return Ok(());
    };
    let (count, distinct) = parse_rand_count(count_arg)?;
    let with_values = match args.next_opt() {
        None => false,
        Some(w) if is(w, "withvalues") && args.remaining() == 0 => true,
        Some(_) => return Err(CmdError::Syntax),
    };
    if with_values && count > (i64::MAX / 2) as usize {
        return Err(CmdError::other("ERR value is out of range"));
    }
    let seed = cx.shard.rand_below(usize::MAX);
    let mut rng = PickRng::new(seed);
    let Some(h) = read_hash(cx, key)? else {
        out.array(0);
        return Ok(());
    };
    let picks: Vec<(&[u8], &[u8])> = if !distinct {
        (0..count).filter_map(|_| h.random(|n| rng.below(n))).collect()
    } else if count >= h.len() {
        h.iter().collect()
    } else {
        let all: Vec<_> = h.iter().collect();
        distinct_positions(all.len(), count, &mut rng)
            .into_iter()
            .map(|i| all[i])
            .collect()
    };
    reply_pairs(out, &picks, with_values);
    Ok(())
}

/// HRANDFIELD's reply: fields, or (RESP3) an array of [field, value] pairs, or (RESP2) the
/// pairs flattened.
fn reply_pairs(out: &mut Out, picks: &[(&[u8], &[u8])], with_values: bool) {
    let resp3 = out.proto() == Proto::Resp3;
    match (with_values, resp3) {
        (false, _) => out.array(picks.len()),
        (true, true) => out.array(picks.len()),
        (true, false) => out.array(picks.len() * 2),
    }
    for (f, v) in picks {
        if with_values && resp3 {
            out.array(2);
        }
        out.bulk(f);
        if with_values {
            out.bulk(v);
        }
    }
}

fn hscan(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let cursor = parse_scan_cursor(args.next()?)?;
    let Some(h) = read_hash(cx, key)? else {
        scan_reply(out, 0, &[]);
        return Ok(());
    };
    let opts = ScanOptions::parse(args.rest())?;
    let mut items = Vec::new();
    let next = h.scan_step(cursor, opts.count, |f, v| {
        if opts.matches(f) {
            items.push(f.to_vec());
            items.push(v.to_vec());
        }
    });
    scan_reply(out, next, &items);
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::shard::Shard;

    fn run(shard: &mut Shard, line: &str) -> Vec<u8> {
        crate::command::test_support::run_line(shard, line)
    }

    #[test]
    fn replication_rewrites() {
        let mut shard = Shard::new(0, 1);
        shard.log.set_enabled(true);
        run(&mut shard, "HSET h a 1");
        assert_eq!(run(&mut shard, "HINCRBYFLOAT h a 1.5"), b"$3\r\n2.5\r\n");
        run(&mut shard, "HDEL h zz");
        run(&mut shard, "HSETNX h a 3");
        run(&mut shard, "HRANDFIELD h 3");
        let logged: Vec<Vec<u8>> = shard.log.drain().iter().map(|r| r.resp.to_vec()).collect();
        assert_eq!(
            logged,
            [
                b"*4\r\n$4\r\nHSET\r\n$1\r\nh\r\n$1\r\na\r\n$1\r\n1\r\n".to_vec(),
                b"*4\r\n$4\r\nHSET\r\n$1\r\nh\r\n$1\r\na\r\n$3\r\n2.5\r\n".to_vec(),
            ]
        );
    }

    #[test]
    fn failed_writes_leave_no_empty_hash() {
        let mut shard = Shard::new(0, 1);
        let reply = run(&mut shard, "HINCRBYFLOAT h f nan");
        assert!(reply.starts_with(b"-ERR"));
        assert!(shard.dbs[0].is_empty());
    }
}
