//! Commands over the whole keyspace or over two keys that may live on different shards:
//! KEYS, SCAN, RANDOMKEY, DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, RENAME, RENAMENX, COPY.
//!
//! They go through `txn::Txn`, so a KEYS or DBSIZE never sees half of a cross-shard MSET and a
//! RENAME between shards is one step for every observer. Whole-keyspace writes (FLUSHALL,
//! SWAPDB) are logged once, by shard 0, inside the locked hop.

use bytes::Bytes;

use super::args::{is, parse_int};
use super::*;
use crate::resp::Arg;
use crate::shard::{Shard, ShardCx, key_hash, shard_of, unix_ms};
use crate::store::{Entry, Kind};
use crate::util::glob::glob_match;

const G: &str = "generic";

pub const SPECS: &[CommandSpec] = &[
    CommandSpec::new("keys", 2, READONLY, KeySpan::NONE, Run::Conn(keys)).doc(
        G,
        "1.0.0",
        "Returns all key names that match a pattern.",
        "pattern",
    ),
    CommandSpec::new("scan", -2, READONLY, KeySpan::NONE, Run::Conn(scan)).doc(
        G,
        "2.8.0",
        "Iterates over the key names in the database.",
        "cursor [MATCH pattern] [COUNT count] [TYPE type]",
    ),
    CommandSpec::new("randomkey", 1, READONLY, KeySpan::NONE, Run::Conn(randomkey)).doc(
        G,
        "1.0.0",
        "Returns a random key name from the database.",
        "",
    ),
    CommandSpec::new("dbsize", 1, READONLY.union(FAST), KeySpan::NONE, Run::Conn(dbsize)).doc(
        "server",
        "1.0.0",
        "Returns the number of keys in the database.",
        "",
    ),
    CommandSpec::new("flushdb", -1, WRITE, KeySpan::NONE, Run::Conn(flushdb)).doc(
        "server",
        "1.0.0",
        "Removes all keys from the current database.",
        "[ASYNC|SYNC]",
    ),
    CommandSpec::new("flushall", -1, WRITE, KeySpan::NONE, Run::Conn(flushall)).doc(
        "server",
        "1.0.0",
        "Removes all keys from all databases.",
        "[ASYNC|SYNC]",
    ),
    CommandSpec::new("swapdb", 3, WRITE.union(FAST), KeySpan::NONE, Run::Conn(swapdb)).doc(
        "server",
        "4.0.0",
        "Swaps two Redis databases.",
        "index1 index2",
    ),
    CommandSpec::new("rename", 3, WRITE, KeySpan::range(1, 2, 1), Run::Conn(rename)).doc(
        G,
        "1.0.0",
        "Renames a key and overwrites the destination.",
        "key newkey",
    ),
    CommandSpec::new(
        "renamenx",
        3,
        WRITE.union(FAST),
        KeySpan::range(1, 2, 1),
        Run::Conn(renamenx),
    )
    .doc(
        G,
        "1.0.0",
        "Renames a key only when the target key name doesn't exist.",
        "key newkey",
    ),
    CommandSpec::new(
        "copy",
        -3,
        WRITE.union(DENYOOM),
        KeySpan::range(1, 2, 1),
        Run::Conn(copy),
    )
    .doc(
        G,
        "6.2.0",
        "Copies the value of a key to a new key.",
        "source destination [DB destination-db] [REPLACE]",
    ),
];

/// True when `e` is alive at `now` (expired entries are invisible until removed).
fn alive(e: &Entry, now: u64) -> bool {
    e.expire_at() == 0 || e.expire_at() > now
}

fn keys(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let pattern = argv[1].clone();
        let db = cx.session.db;
        let mut txn = cx.txn_all(1);
        let found = txn
            .hop(move |shard| {
                let now = unix_ms();
                let all = &pattern[..] == b"*";
                shard.dbs[db]
                    .iter()
                    .filter(|e| alive(e, now) && (all || glob_match(&pattern, e.key(), false)))
                    .map(|e| e.key().to_vec())
                    .collect::<Vec<_>>()
            })
            .await;
        txn.finish();
        let n = found.iter().map(|(_, v)| v.len()).sum();
        cx.out.array(n);
        for k in found.iter().flat_map(|(_, v)| v) {
            cx.out.bulk(k);
        }
        Ok(())
    })
}

/// SCAN's cursor: the low bits name the shard, the rest the segment inside its table.
const SHARD_BITS: u32 = 10;

fn scan(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let cursor = parse_cursor(&argv[1]).ok_or_else(|| CmdError::other("ERR invalid cursor"))?;
        let mut args = Args::new(&argv);
        args.next()?;
        let (mut pattern, mut count, mut kind) = (None, 10usize, None::<Option<Kind>>);
        while let Some(opt) = args.next_opt() {
            if is(opt, "match") && args.remaining() > 0 {
                pattern = Some(Bytes::copy_from_slice(args.next()?));
            } else if is(opt, "count") && args.remaining() > 0 {
                let n = parse_int(args.next()?)?;
                if n < 1 {
                    return Err(CmdError::Syntax);
                }
                count = n as usize;
            } else if is(opt, "type") && args.remaining() > 0 {
                kind = Some(Kind::from_name(args.next()?));
            } else {
                return Err(CmdError::Syntax);
            }
        }
        let mut shard = (cursor & ((1 << SHARD_BITS) - 1)) as usize;
        let mut seg = (cursor >> SHARD_BITS) as usize;
        let shards = cx.core.shards;
        let db = cx.session.db;
        let mut keys = Vec::new();
        // Walk on to the next shard while this call still has room, as one Redis table would:
        // an empty or small keyspace then finishes in one call with cursor 0.
        let next = loop {
            if shard >= shards {
                break 0;
            }
            let (pattern, want) = (pattern.clone(), count.saturating_sub(keys.len()));
            let (found, next_seg) = cx
                .core
                .run_on(shard, cx.lock_mode(), move |s: &mut Shard| {
                    let now = unix_ms();
                    let table = &s.dbs[db];
                    let mut keys = Vec::new();
                    let mut scanned = 0;
                    while seg < table.segment_count() && scanned < want {
                        for e in table.segment(seg) {
                            scanned += 1;
                            let type_ok = kind.is_none_or(|k| Some(e.kind()) == k);
                            let match_ok = pattern
                                .as_ref()
                                .is_none_or(|p| &p[..] == b"*" || glob_match(p, e.key(), false));
                            if alive(e, now) && type_ok && match_ok {
                                keys.push(e.key().to_vec());
                            }
                        }
                        seg += 1;
                    }
                    (keys, (seg < table.segment_count()).then_some(seg))
                })
                .await;
            keys.extend(found);
            match next_seg {
                Some(seg) => break ((seg as u64) << SHARD_BITS) | shard as u64,
                None if shard + 1 < shards && keys.len() < count => {
                    shard += 1;
                    seg = 0;
                }
                None if shard + 1 < shards => break (shard + 1) as u64,
                None => break 0,
            }
        };
        cx.out.array(2);
        cx.out.bulk(next.to_string().as_bytes());
        cx.out.array(keys.len());
        for k in &keys {
            cx.out.bulk(k);
        }
        Ok(())
    })
}

/// A SCAN cursor read as C's `strtoul` reads it (Redis 7.0 does): optional sign, a negative
/// value wraps, an empty string is 0; leading spaces, trailing junk or overflow are invalid.
fn parse_cursor(raw: &[u8]) -> Option<u64> {
    let (neg, digits) = match raw.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, raw),
    };
    if digits.is_empty() {
        return raw.is_empty().then_some(0);
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

fn randomkey(cx: &mut ConnCx, _argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let db = cx.session.db;
        let mut txn = cx.txn_all(1);
        // Each shard offers one live key and how many keys it has; pick weighted by size.
        let offers = txn
            .hop(move |s: &mut Shard| {
                let now = unix_ms();
                let len = s.dbs[db].len();
                let mut key = None;
                for _ in 0..100 {
                    let r = s.rand_below(usize::MAX);
                    let mut draws = [r, r.rotate_left(17)].into_iter();
                    let pick = s.dbs[db].random(|n| draws.next().unwrap_or(0) % n.max(1));
                    if let Some(e) = pick.filter(|e| alive(e, now)) {
                        key = Some(e.key().to_vec());
                        break;
                    }
                    if pick.is_none() {
                        break;
                    }
                }
                (len, key)
            })
            .await;
        txn.finish();
        let total: usize = offers
            .iter()
            .filter(|(_, (_, k))| k.is_some())
            .map(|(_, (n, _))| n)
            .sum();
        if total == 0 {
            cx.out.null();
            return Ok(());
        }
        let mut r = cx.core.shard.borrow_mut().rand_below(total);
        for (_, (n, key)) in offers {
            if let Some(k) = key {
                if r < n {
                    cx.out.bulk(&k);
                    return Ok(());
                }
                r -= n;
            }
        }
        cx.out.null();
        Ok(())
    })
}

fn dbsize(cx: &mut ConnCx, _argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let db = cx.session.db;
        let mut txn = cx.txn_all(1);
        let sizes = txn.hop(move |s: &mut Shard| s.dbs[db].len()).await;
        txn.finish();
        cx.out.int(sizes.iter().map(|(_, n)| *n as i64).sum());
        Ok(())
    })
}

/// FLUSHDB and FLUSHALL take an optional ASYNC or SYNC (both free memory at once here).
fn flush_mode(argv: &[Arg]) -> Result<(), CmdError> {
    match argv.len() {
        1 => Ok(()),
        2 if is(&argv[1], "async") || is(&argv[1], "sync") => Ok(()),
        _ => Err(CmdError::Syntax),
    }
}

/// Runs `f` on every shard under one lock; shard 0 logs `record` once.
async fn all_shards_write(cx: &mut ConnCx, record: Vec<Arg>, f: fn(&mut Shard, usize)) {
    let db = cx.session.db;
    let mut txn = cx.txn_all(1);
    let all_dbs = record[0].eq_ignore_ascii_case(b"flushall");
    txn.hop(move |s: &mut Shard| {
        s.touch_whole_db(if all_dbs { None } else { Some(db) });
        f(s, db);
        if s.id == 0 {
            let argv: Vec<&[u8]> = record.iter().map(|b| &b[..]).collect();
            s.record(db, &argv);
        }
    })
    .await;
    txn.finish();
}

fn flushdb(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        flush_mode(&argv)?;
        all_shards_write(cx, vec![Arg::from_static(b"FLUSHDB")], |s, db| s.dbs[db].clear()).await;
        cx.out.ok();
        Ok(())
    })
}

fn flushall(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        flush_mode(&argv)?;
        all_shards_write(cx, vec![Arg::from_static(b"FLUSHALL")], |s, _| {
            s.dbs.iter_mut().for_each(|d| d.clear())
        })
        .await;
        cx.out.ok();
        Ok(())
    })
}

fn swapdb(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let a = parse_int(&argv[1]).map_err(|_| CmdError::other("ERR invalid first DB index"))?;
        let b = parse_int(&argv[2]).map_err(|_| CmdError::other("ERR invalid second DB index"))?;
        let dbs = cx.core.shard.borrow().dbs.len() as i64;
        if !(0..dbs).contains(&a) || !(0..dbs).contains(&b) {
            return Err(CmdError::DbIndexOutOfRange);
        }
        let (a, b) = (a as usize, b as usize);
        let mut txn = cx.txn_all(1);
        let record = argv.clone();
        txn.hop(move |s: &mut Shard| {
            s.touch_whole_db(Some(a));
            s.touch_whole_db(Some(b));
            s.dbs.swap(a, b);
            if s.id == 0 {
                let argv: Vec<&[u8]> = record.iter().map(|b| &b[..]).collect();
                s.record(a, &argv);
            }
        })
        .await;
        txn.finish();
        cx.out.ok();
        Ok(())
    })
}

/// What to do with the source entry once found: RENAME moves it, COPY clones it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Transfer {
    Move,
    Clone,
}

/// Takes (or clones) the live entry under `key` in `db` of `shard`.
fn take_source(s: &mut Shard, db: usize, key: &[u8], how: Transfer) -> Option<(Entry, bool)> {
    let now = unix_ms();
    let mut cx = ShardCx::new(s, db, now);
    cx.lookup(key)?;
    let hash = key_hash(key);
    match how {
        Transfer::Move => cx.db().remove(hash, key).map(|e| (e, true)),
        Transfer::Clone => {
            let e = cx.db().entry(hash, key)?;
            let mut copy = Entry::new(key, e.to_value());
            copy.set_expire_at(e.expire_at());
            Some((copy, true))
        }
    }
}

/// RENAME, RENAMENX and COPY: `src` in the client's db to `dst` in `dst_db`.
/// `nx` refuses to overwrite; the reply is 1/0 (RENAMENX, COPY) or +OK (RENAME).
async fn transfer(cx: &mut ConnCx, argv: Vec<Arg>, dst_db: usize, nx: bool, how: Transfer) -> Result<bool, CmdError> {
    let (src, dst) = (argv[1].clone(), argv[2].clone());
    let src_db = cx.session.db;
    let shards = cx.core.shards;
    let (s_src, s_dst) = (shard_of(&src, shards), shard_of(&dst, shards));
    let mut txn = cx.txn(vec![s_src, s_dst], 2);
    // Hop 1: on every involved shard, check the source exists and whether dst is taken.
    let (src2, dst2) = (src.clone(), dst.clone());
    let checks = txn
        .hop(move |s: &mut Shard| {
            let now = unix_ms();
            let src_ok = s.id == s_src && ShardCx::new(s, src_db, now).lookup(&src2).is_some();
            let dst_taken = s.id == s_dst && ShardCx::new(s, dst_db, now).lookup(&dst2).is_some();
            (src_ok, dst_taken)
        })
        .await;
    let src_ok = checks.iter().any(|(_, (ok, _))| *ok);
    let dst_taken = checks.iter().any(|(_, (_, taken))| *taken);
    if !src_ok {
        txn.finish();
        return Err(CmdError::NoSuchKey);
    }
    let same = src == dst && src_db == dst_db;
    if same || (nx && dst_taken) {
        txn.finish();
        return Ok(same && !nx);
    }
    // Hop 2: take the source, then place it; both shards stay locked throughout.
    let record = argv.clone();
    let taken = std::sync::Mutex::new(None::<Entry>);
    let moved = std::sync::Arc::new(taken);
    let moved2 = moved.clone();
    let src3 = src.clone();
    txn.hop(move |s: &mut Shard| {
        if s.id == s_src
            && let Some((e, _)) = take_source(s, src_db, &src3, how)
        {
            *moved2.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
        }
    })
    .await;
    let entry = moved.lock().unwrap_or_else(|p| p.into_inner()).take();
    let Some(entry) = entry else {
        txn.finish();
        return Err(CmdError::NoSuchKey);
    };
    let slot = std::sync::Mutex::new(Some(entry));
    txn.hop(move |s: &mut Shard| {
        if s.id != s_dst {
            return;
        }
        if let Some(e) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
            s.dbs[dst_db].put_entry(e.rekeyed(&dst));
            let argv: Vec<&[u8]> = record.iter().map(|b| &b[..]).collect();
            s.record(src_db, &argv);
            // All three told from here, in redis-server's order, whichever shard holds `src`.
            s.notices.push(class::NEW, dst_db, "new", &dst);
            match how {
                Transfer::Move => {
                    s.notices.push(class::GENERIC, src_db, "rename_from", &src);
                    s.notices.push(class::GENERIC, dst_db, "rename_to", &dst);
                }
                Transfer::Clone => s.notices.push(class::GENERIC, dst_db, "copy_to", &dst),
            }
        }
    })
    .await;
    txn.finish();
    Ok(true)
}

fn rename(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let db = cx.session.db;
        transfer(cx, argv, db, false, Transfer::Move).await?;
        cx.out.ok();
        Ok(())
    })
}

fn renamenx(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let db = cx.session.db;
        let done = transfer(cx, argv, db, true, Transfer::Move).await?;
        cx.out.int(done as i64);
        Ok(())
    })
}

fn copy(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let mut dst_db = cx.session.db;
        let mut replace = false;
        let mut args = Args::new(&argv);
        args.next()?;
        args.next()?;
        while let Some(opt) = args.next_opt() {
            if is(opt, "replace") {
                replace = true;
            } else if is(opt, "db") && args.remaining() > 0 {
                let n = parse_int(args.next()?)?;
                let dbs = cx.core.shard.borrow().dbs.len() as i64;
                if !(0..dbs).contains(&n) {
                    return Err(CmdError::DbIndexOutOfRange);
                }
                dst_db = n as usize;
            } else {
                return Err(CmdError::Syntax);
            }
        }
        if argv[1] == argv[2] && dst_db == cx.session.db {
            return Err(CmdError::SameObject);
        }
        let done = match transfer(cx, argv, dst_db, !replace, Transfer::Clone).await {
            Err(CmdError::NoSuchKey) => false,
            other => other?,
        };
        cx.out.int(done as i64);
        Ok(())
    })
}
