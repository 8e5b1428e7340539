//! The set family, as redis-server 7.0 behaves. Single-key commands live here; the ones whose
//! keys may sit on different shards (SMOVE, SINTER/SUNION/SDIFF and their STORE forms,
//! SINTERCARD) are in `multi`.
//!
//! Replication (R5): SADD, SREM, SMOVE and the *STORE commands replicate as sent, and only when
//! they changed something. SPOP replicates as the concrete effect: `SREM key m` for each popped
//! member, or `DEL key` when the count takes the whole set. SRANDMEMBER and reads log nothing.
//! A set left empty is deleted, as Redis deletes it.

mod multi;

use super::args::parse_int;
use super::collection::{PickRng, ScanOptions, distinct_positions, parse_rand_count, parse_scan_cursor, scan_reply};
use super::*;
use crate::store::set::{Elem, Set};
use crate::store::{EncodingLimits, Kind, ValueRef};

const S: &str = "set";

pub const SPECS: &[CommandSpec] = &[
    CommandSpec::new("sadd", -3, WRITE.union(DENYOOM).union(FAST), KeySpan::single(1), Run::Shard(sadd))
        .member_at(2)
    .doc(S, "1.0.0", "Adds one or more members to a set. Creates the key if it doesn't exist.", "key member [member ...]"),
    CommandSpec::new("srem", -3, WRITE.union(FAST), KeySpan::single(1), Run::Shard(srem))
        .member_at(2)
    .doc(S, "1.0.0", "Removes one or more members from a set. Deletes the set if the last member was removed.", "key member [member ...]"),
    CommandSpec::new("smembers", 2, READONLY, KeySpan::single(1), Run::Shard(smembers))
        .doc(S, "1.0.0", "Returns all members of a set.", "key"),
    CommandSpec::new("sismember", 3, READONLY.union(FAST), KeySpan::single(1), Run::Shard(sismember))
        .member_at(2)
    .doc(S, "1.0.0", "Determines whether a member belongs to a set.", "key member"),
    CommandSpec::new("smismember", -3, READONLY.union(FAST), KeySpan::single(1), Run::Shard(smismember))
        .doc(S, "6.2.0", "Determines whether multiple members belong to a set.", "key member [member ...]"),
    CommandSpec::new("scard", 2, READONLY.union(FAST), KeySpan::single(1), Run::Shard(scard))
        .doc(S, "1.0.0", "Returns the number of members in a set.", "key"),
    CommandSpec::new("spop", -2, WRITE.union(FAST), KeySpan::single(1), Run::Shard(spop))
        .doc(S, "1.0.0", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.", "key [count]"),
    CommandSpec::new("srandmember", -2, READONLY, KeySpan::single(1), Run::Shard(srandmember))
        .doc(S, "1.0.0", "Get one or multiple random members from a set", "key [count]"),
    CommandSpec::new("sscan", -3, READONLY, KeySpan::single(1), Run::Shard(sscan))
        .doc(S, "2.8.0", "Iterates over members of a set.", "key cursor [MATCH pattern] [COUNT count]"),
    CommandSpec::new("smove", 4, WRITE.union(FAST), KeySpan::range(1, 2, 1), Run::Conn(multi::smove))
        .doc(S, "1.0.0", "Moves a member from one set to another.", "source destination member"),
    CommandSpec::new("sinter", -2, READONLY, KeySpan::range(1, -1, 1), Run::Conn(multi::sinter))
        .doc(S, "1.0.0", "Returns the intersect of multiple sets.", "key [key ...]"),
    CommandSpec::new("sintercard", -3, READONLY, KeySpan::NONE, Run::Conn(multi::sintercard)).numkeys_at(1)
        .doc(S, "7.0.0", "Returns the number of members of the intersect of multiple sets.", "numkeys key [key ...] [LIMIT limit]"),
    CommandSpec::new("sinterstore", -3, WRITE.union(DENYOOM), KeySpan::range(1, -1, 1), Run::Conn(multi::sinterstore))
        .doc(S, "1.0.0", "Stores the intersect of multiple sets in a key.", "destination key [key ...]"),
    CommandSpec::new("sunion", -2, READONLY, KeySpan::range(1, -1, 1), Run::Conn(multi::sunion))
        .doc(S, "1.0.0", "Returns the union of multiple sets.", "key [key ...]"),
    CommandSpec::new("sunionstore", -3, WRITE.union(DENYOOM), KeySpan::range(1, -1, 1), Run::Conn(multi::sunionstore))
        .doc(S, "1.0.0", "Stores the union of multiple sets in a key.", "destination key [key ...]"),
    CommandSpec::new("sdiff", -2, READONLY, KeySpan::range(1, -1, 1), Run::Conn(multi::sdiff))
        .doc(S, "1.0.0", "Returns the difference of multiple sets.", "key [key ...]"),
    CommandSpec::new("sdiffstore", -3, WRITE.union(DENYOOM), KeySpan::range(1, -1, 1), Run::Conn(multi::sdiffstore))
        .doc(S, "1.0.0", "Stores the difference of multiple sets in a key.", "destination key [key ...]"),
];

/// The set under `key` for reading: `None` when missing, WRONGTYPE for another type.
fn read_set<'a>(cx: &'a mut ShardCx, key: &[u8]) -> Result<Option<&'a Set>, CmdError> {
    super::collection::read_typed(cx, key)
}

/// Runs `f` on the set under `key`, creating an empty one first when `create` (and the key is
/// missing); `event` names what the result did, for keyspace subscribers. A set that `f`
/// leaves empty is deleted. `Ok(None)`: missing and not created.
fn with_set<R>(
    cx: &mut ShardCx,
    key: &[u8],
    create: bool,
    event: impl FnOnce(&R) -> Option<&'static str>,
    f: impl FnOnce(&mut Set, &EncodingLimits) -> R,
) -> Result<Option<R>, CmdError> {
    super::collection::with_typed(cx, key, create, (class::SET, event), f)
}

/// The event of a command that changed `n` members.
fn when_changed(name: &'static str) -> impl FnOnce(&usize) -> Option<&'static str> {
    move |n| (*n > 0).then_some(name)
}

/// Writes one member as a bulk string.
fn reply_elem(out: &mut Out, e: Elem<'_>) {
    match e {
        Elem::Int(n) => out.bulk_int(n),
        Elem::Bytes(b) => out.bulk(b),
    }
}

/// `count` distinct members picked at random (`count < set.len()`): by shuffling positions
/// when the count is a large share of the set, else by random draws until enough differ.
fn sample_distinct(set: &Set, count: usize, rng: &mut PickRng) -> Vec<Vec<u8>> {
    if count.saturating_mul(3) > set.len() {
        let all: Vec<Elem<'_>> = set.iter().collect();
        return distinct_positions(all.len(), count, rng)
            .into_iter()
            .map(|i| all[i].to_vec())
            .collect();
    }
    let mut seen = hashbrown::HashSet::with_capacity(count);
    let mut picked = Vec::with_capacity(count);
    while picked.len() < count {
        let Some(m) = set.random(|n| rng.below(n)).map(|e| e.to_vec()) else {
            break;
        };
        if seen.insert(m.clone()) {
            picked.push(m);
        }
    }
    picked
}

fn sadd(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let members = args.rest();
    let added = with_set(cx, key, true, when_changed("sadd"), |s, limits| {
        members.iter().filter(|m| s.add(m, limits)).count()
    })?
    .unwrap_or(0);
    if added > 0 {
        cx.emit_argv(args.all());
    }
    out.int(added as i64);
    Ok(())
}

fn srem(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let members = args.rest();
    let removed = with_set(cx, key, false, when_changed("srem"), |s, _| {
        members.iter().filter(|m| s.remove(m)).count()
    })?
    .unwrap_or(0);
    if removed > 0 {
        cx.emit_argv(args.all());
    }
    out.int(removed as i64);
    Ok(())
}

fn smembers(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let s = read_set(cx, key)?;
    out.set(s.map_or(0, Set::len));
    for e in s.into_iter().flat_map(Set::iter) {
        reply_elem(out, e);
    }
    Ok(())
}

fn sismember(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let (key, m) = (args.next()?, args.next()?);
    let found = read_set(cx, key)?.is_some_and(|s| s.contains(m));
    out.int(found as i64);
    Ok(())
}

fn smismember(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let members = args.rest();
    let s = read_set(cx, key)?;
    out.array(members.len());
    for m in members {
        out.int(s.is_some_and(|s| s.contains(m)) as i64);
    }
    Ok(())
}

fn scard(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let n = read_set(cx, key)?.map_or(0, Set::len);
    out.int(n as i64);
    Ok(())
}

fn spop(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    if args.remaining() > 1 {
        return Err(CmdError::Syntax);
    }
    let seed = cx.shard.rand_below(usize::MAX);
    let mut rng = PickRng::new(seed);
    let Some(count_arg) = args.next_opt() else {
        let popped = with_set(
            cx,
            key,
            false,
            |m: &Option<Vec<u8>>| m.as_ref().map(|_| "spop"),
            |s, _| s.pop_random(|n| rng.below(n)),
        )?;
        match popped.flatten() {
            Some(m) => {
                cx.emit(&[b"SREM", key, &m]);
                out.bulk(&m);
            }
            None => out.null(),
        }
        return Ok(());
    };
    // Redis words both a negative and a non-numeric count this way.
    let count = parse_int(count_arg)
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| CmdError::other("ERR value is out of range, must be positive"))? as usize;
    let len = cx
        .lookup_typed(key, Kind::Set)?
        .map_or(0, |e| if let ValueRef::Set(s) = e.value() { s.len() } else { 0 });
    if len == 0 || count == 0 {
        out.set(0);
        return Ok(());
    }
    if count >= len {
        // The whole set goes: reply with it in stored order and replicate one DEL.
        if let Some(e) = cx.remove(key)
            && let ValueRef::Set(s) = e.value()
        {
            out.set(s.len());
            s.iter().for_each(|m| reply_elem(out, m));
        }
        cx.emit(&[b"DEL", key]);
        cx.notify(class::SET, "spop", key);
        cx.notify(class::GENERIC, "del", key);
        return Ok(());
    }
    let popped = with_set(
        cx,
        key,
        false,
        |_| Some("spop"),
        |s, _| {
            let picked = sample_distinct(s, count, &mut rng);
            picked.iter().for_each(|m| {
                s.remove(m);
            });
            picked
        },
    )?
    .unwrap_or_default();
    // Several effects of one command travel as one MULTI/EXEC group, as in Redis 7.0.
    let wrap = popped.len() > 1;
    if wrap {
        cx.emit(&[b"MULTI"]);
    }
    for m in &popped {
        cx.emit(&[b"SREM", key, m]);
    }
    if wrap {
        cx.emit(&[b"EXEC"]);
    }
    out.set(popped.len());
    popped.iter().for_each(|m| out.bulk(m));
    Ok(())
}

fn srandmember(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    if args.remaining() > 1 {
        return Err(CmdError::Syntax);
    }
    let seed = cx.shard.rand_below(usize::MAX);
    let mut rng = PickRng::new(seed);
    let Some(count_arg) = args.next_opt() else {
        match read_set(cx, key)?.and_then(|s| s.random(|n| rng.below(n))) {
            Some(e) => reply_elem(out, e),
            None => out.null(),
        }
        return Ok(());
    };
    let (count, distinct) = parse_rand_count(count_arg)?;
    let Some(s) = read_set(cx, key)? else {
        out.array(0);
        return Ok(());
    };
    if !distinct {
        out.array(count);
        for _ in 0..count {
            match s.random(|n| rng.below(n)) {
                Some(e) => reply_elem(out, e),
                None => out.null(),
            }
        }
    } else if count >= s.len() {
        out.array(s.len());
        s.iter().for_each(|e| reply_elem(out, e));
    } else {
        let picked = sample_distinct(s, count, &mut rng);
        out.array(picked.len());
        picked.iter().for_each(|m| out.bulk(m));
    }
    Ok(())
}

fn sscan(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let cursor = parse_scan_cursor(args.next()?)?;
    let Some(s) = read_set(cx, key)? else {
        scan_reply(out, 0, &[]);
        return Ok(());
    };
    let opts = ScanOptions::parse(args.rest())?;
    let mut items = Vec::new();
    let next = s.scan_step(cursor, opts.count, |e| {
        e.with_bytes(|b| {
            if opts.matches(b) {
                items.push(b.to_vec());
            }
        })
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

    fn logged(shard: &mut Shard) -> Vec<String> {
        shard
            .log
            .drain()
            .iter()
            .map(|r| String::from_utf8_lossy(r.resp).replace("\r\n", " "))
            .collect()
    }

    #[test]
    fn spop_replicates_its_effect() {
        let mut shard = Shard::new(0, 1);
        shard.log.set_enabled(true);
        run(&mut shard, "SADD s a b c d");
        run(&mut shard, "SREM s zz");
        assert_eq!(logged(&mut shard).len(), 1);
        run(&mut shard, "SPOP s");
        run(&mut shard, "SPOP s 2");
        let recs = logged(&mut shard);
        // SPOP s: one SREM; SPOP s 2: MULTI, two SREMs, EXEC (as Redis 7.0 propagates it).
        assert_eq!(recs.len(), 5, "{recs:?}");
        assert_eq!(recs[1], "*1 $5 MULTI ");
        assert_eq!(recs[4], "*1 $4 EXEC ");
        for r in [&recs[0], &recs[2], &recs[3]] {
            assert!(r.starts_with("*3 $4 SREM $1 s "), "{recs:?}");
        }
        run(&mut shard, "SRANDMEMBER s 5");
        run(&mut shard, "SPOP s 0");
        assert!(logged(&mut shard).is_empty());
        run(&mut shard, "SPOP s 5");
        assert_eq!(logged(&mut shard), ["*2 $3 DEL $1 s "]);
        assert!(shard.dbs[0].is_empty());
    }
}
