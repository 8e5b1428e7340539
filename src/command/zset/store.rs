//! Commands over several keys that may live on different shards: ZUNION / ZINTER / ZDIFF and
//! their STORE forms, ZINTERCARD, ZRANGESTORE and ZMPOP.
//!
//! Each runs as a `txn::Txn` over the shards of its keys: hop 1 reads (copies) the sources,
//! the connection computes, hop 2 writes the destination on its shard and logs the command
//! verbatim (what 7.0 propagates), all while every involved shard stays locked. An empty
//! result deletes the destination, and is logged only if a key was actually deleted.
//! Plain sets are valid sources with every score 1, as in Redis.

use std::sync::{Arc, Mutex};

use super::pop::{MpopArgs, mpop_local, parse_mpop};
use super::range::RangeQuery;
use super::*;
use crate::command::args::{is, parse_int};
use crate::resp::Arg;
use crate::shard::{Shard, ShardId, shard_of, unix_ms};
use crate::txn::Txn;
use crate::util::num::parse_f64;

type Items = Vec<(Box<[u8]>, f64)>;

/// Member -> score, for membership tests and aggregation.
type ScoreMap = hashbrown::HashMap<Box<[u8]>, f64>;

/// A source key as read in hop 1.
enum Source {
    Missing,
    WrongType,
    Items(Items),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// Parsed options of the set operations.
struct SetOpts {
    weights: Vec<f64>,
    aggregate: Aggregate,
    withscores: bool,
    /// ZINTERCARD's LIMIT (0 = none).
    limit: usize,
}

/// Reads `numkeys` at `argv[at]` and returns the source keys, with 7.0's errors.
fn parse_numkeys(argv: &[Arg], at: usize, name: &str) -> Result<Vec<Arg>, CmdError> {
    let n = parse_int(&argv[at])?;
    if n < 1 {
        return Err(CmdError::other(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    if n > (argv.len() - at - 1) as i64 {
        return Err(CmdError::Syntax);
    }
    Ok(argv[at + 1..at + 1 + n as usize].to_vec())
}

/// Parses the options after the keys, in Redis's order. `store`: a destination exists (no
/// WITHSCORES); `card`: ZINTERCARD (LIMIT only).
fn parse_opts(rest: &[Arg], nkeys: usize, op: Op, store: bool, card: bool) -> Result<SetOpts, CmdError> {
    let mut o = SetOpts {
        weights: vec![1.0; nkeys],
        aggregate: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let mut j = 0;
    while j < rest.len() {
        let remaining = rest.len() - j;
        let a = &rest[j];
        if op != Op::Diff && !card && remaining > nkeys && is(a, "weights") {
            for (i, w) in rest[j + 1..j + 1 + nkeys].iter().enumerate() {
                o.weights[i] = parse_f64(w).ok_or_else(|| CmdError::other("ERR weight value is not a float"))?;
            }
            j += 1 + nkeys;
        } else if op != Op::Diff && !card && remaining >= 2 && is(a, "aggregate") {
            let v = &rest[j + 1];
            o.aggregate = match () {
                _ if is(v, "sum") => Aggregate::Sum,
                _ if is(v, "min") => Aggregate::Min,
                _ if is(v, "max") => Aggregate::Max,
                _ => return Err(CmdError::Syntax),
            };
            j += 2;
        } else if !store && !card && is(a, "withscores") {
            o.withscores = true;
            j += 1;
        } else if card && remaining >= 2 && is(a, "limit") {
            let n = parse_int(&rest[j + 1])
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| CmdError::other("ERR LIMIT can't be negative"))?;
            o.limit = n as usize;
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(o)
}

/// Copies the value under `key` for a set operation.
fn read_source(s: &mut Shard, db: usize, key: &[u8]) -> Source {
    let mut cx = ShardCx::new(s, db, unix_ms());
    match cx.lookup_read(key).map(|e| e.value()) {
        None => Source::Missing,
        Some(ValueRef::ZSet(z)) => Source::Items(z.iter().map(|(m, s)| (m.into(), s)).collect()),
        Some(ValueRef::Set(set)) => Source::Items(
            set.to_members()
                .into_iter()
                .map(|m| (m.into_boxed_slice(), 1.0))
                .collect(),
        ),
        Some(_) => Source::WrongType,
    }
}

/// Hop 1 of a multi-key command: reads every key on its shard. Results in key order.
async fn read_sources(txn: &mut Txn, keys: &[Arg], db: usize, shards: usize) -> Vec<Source> {
    let keys = Arc::new(keys.to_vec());
    let k2 = keys.clone();
    let per_shard = txn
        .hop(move |s: &mut Shard| {
            let me = s.id;
            k2.iter()
                .enumerate()
                .filter(|(_, k)| shard_of(k, shards) == me)
                .map(|(i, k)| (i, read_source(s, db, k)))
                .collect::<Vec<_>>()
        })
        .await;
    let mut out: Vec<Source> = keys.iter().map(|_| Source::Missing).collect();
    for (_, found) in per_shard {
        for (i, src) in found {
            out[i] = src;
        }
    }
    out
}

/// Adds `v` into `acc` as Redis's aggregation does (a NaN sum becomes 0).
fn aggregate(acc: &mut f64, v: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *acc += v;
            if acc.is_nan() {
                *acc = 0.0;
            }
        }
        Aggregate::Min => {
            if v < *acc {
                *acc = v;
            }
        }
        Aggregate::Max => {
            if v > *acc {
                *acc = v;
            }
        }
    }
}

fn weighted(score: f64, weight: f64) -> f64 {
    let v = score * weight;
    if v.is_nan() { 0.0 } else { v }
}

/// Computes a set operation over the sources (all of them zsets, sets or missing); the result
/// is in ascending `(score, member)` order. `limit` stops an intersection early (ZINTERCARD).
fn compute(srcs: Vec<Source>, o: &SetOpts, op: Op, limit: usize) -> Items {
    let mut srcs: Vec<(Items, f64, bool)> = srcs
        .into_iter()
        .zip(&o.weights)
        .map(|(s, &w)| match s {
            Source::Items(v) => (v, w, true),
            _ => (Vec::new(), w, false),
        })
        .collect();
    let mut result: Items = match op {
        Op::Union => {
            // Smallest first, as Redis iterates them: it fixes the order of aggregation.
            srcs.sort_by_key(|s| s.0.len());
            let mut acc = ScoreMap::new();
            for (items, w, _) in srcs {
                for (m, s) in items {
                    let v = weighted(s, w);
                    match acc.get_mut(&m) {
                        Some(cur) => aggregate(cur, v, o.aggregate),
                        None => {
                            acc.insert(m, v);
                        }
                    }
                }
            }
            acc.into_iter().collect()
        }
        Op::Inter => {
            if srcs.iter().any(|s| !s.2) {
                return Vec::new();
            }
            srcs.sort_by_key(|s| s.0.len());
            let mut rest = srcs.split_off(1);
            let (first, w0, _) = srcs.pop().unwrap_or_default();
            let maps: Vec<(ScoreMap, f64)> = rest
                .drain(..)
                .map(|(items, w, _)| (items.into_iter().collect(), w))
                .collect();
            let mut out = Vec::new();
            'each: for (m, s) in first {
                let mut score = weighted(s, w0);
                for (map, w) in &maps {
                    match map.get(&m) {
                        Some(v) => aggregate(&mut score, v * w, o.aggregate),
                        None => continue 'each,
                    }
                }
                out.push((m, score));
                if limit > 0 && out.len() >= limit {
                    break;
                }
            }
            out
        }
        Op::Diff => {
            let mut it = srcs.into_iter();
            let Some((first, _, _)) = it.next() else {
                return Vec::new();
            };
            let others: Vec<hashbrown::HashSet<Box<[u8]>>> = it
                .map(|(items, _, _)| items.into_iter().map(|(m, _)| m).collect())
                .collect();
            first
                .into_iter()
                .filter(|(m, _)| !others.iter().any(|o| o.contains(m)))
                .collect()
        }
    };
    result.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    result
}

/// Hop 2 of a STORE command: replaces `dst` with `items` (or deletes it when empty), logs
/// `record` when something changed. Returns the stored length.
async fn store_result(
    txn: &mut Txn,
    dst: Arg,
    db: usize,
    shards: usize,
    items: Items,
    record: Vec<Arg>,
    event: &'static str,
) -> usize {
    let n = items.len();
    let dst_shard: ShardId = shard_of(&dst, shards);
    let slot = Mutex::new(Some(items));
    txn.hop(move |s: &mut Shard| {
        if s.id != dst_shard {
            return;
        }
        let Some(items) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let limits = s.limits;
        let mut cx = ShardCx::new(s, db, unix_ms());
        if items.is_empty() {
            if cx.remove(&dst).is_some() {
                cx.notify(class::GENERIC, "del", &dst);
                cx.emit_argv(&record);
            }
            return;
        }
        let z = crate::store::zset::ZSet::from_sorted(items, &limits);
        cx.put(&dst, Value::ZSet(Box::new(z)), false);
        cx.notify(class::ZSET, event, &dst);
        cx.emit_argv(&record);
        cx.shard.blocking.signal(db, &dst);
    })
    .await;
    n
}

/// ZUNION / ZINTER / ZDIFF / ZINTERCARD and the STORE forms. `dst`: whether argv[1] is a
/// destination (numkeys then at 2).
async fn setop(cx: &mut ConnCx, argv: Vec<Arg>, op: Op, store: bool, card: bool) -> Result<(), CmdError> {
    let at = if store { 2 } else { 1 };
    let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
    let keys = parse_numkeys(&argv, at, &name)?;
    let opts = parse_opts(&argv[at + 1 + keys.len()..], keys.len(), op, store, card);
    let (db, shards) = (cx.session.db, cx.core.shards);
    let mut involved = crate::txn::shards_of(keys.iter(), shards);
    if store {
        involved.push(shard_of(&argv[1], shards));
    }
    let hops = if store { 2 } else { 1 };
    let mut txn = cx.txn(involved, hops);
    let srcs = read_sources(&mut txn, &keys, db, shards).await;
    // WRONGTYPE (found while reading) wins over option errors, as in Redis.
    if srcs.iter().any(|s| matches!(s, Source::WrongType)) {
        txn.finish();
        return Err(CmdError::WrongType);
    }
    let opts = match opts {
        Ok(o) => o,
        Err(e) => {
            txn.finish();
            return Err(e);
        }
    };
    let result = compute(srcs, &opts, op, if card { opts.limit } else { 0 });
    if card {
        txn.finish();
        cx.out.int(result.len() as i64);
    } else if store {
        let event = match op {
            Op::Union => "zunionstore",
            Op::Inter => "zinterstore",
            Op::Diff => "zdiffstore",
        };
        let n = store_result(&mut txn, argv[1].clone(), db, shards, result, argv.clone(), event).await;
        txn.finish();
        cx.out.int(n as i64);
    } else {
        txn.finish();
        reply_elements(&mut cx.out, &result, opts.withscores);
    }
    Ok(())
}

pub fn zunion(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(setop(cx, argv, Op::Union, false, false))
}

pub fn zinter(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(setop(cx, argv, Op::Inter, false, false))
}

pub fn zdiff(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(setop(cx, argv, Op::Diff, false, false))
}

pub fn zunionstore(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(setop(cx, argv, Op::Union, true, false))
}

pub fn zinterstore(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(setop(cx, argv, Op::Inter, true, false))
}

pub fn zdiffstore(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(setop(cx, argv, Op::Diff, true, false))
}

pub fn zintercard(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(setop(cx, argv, Op::Inter, false, true))
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
pub fn zrangestore(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let q = RangeQuery::parse(&argv[3..], None, None, true)?;
        let (db, shards) = (cx.session.db, cx.core.shards);
        let (dst, src) = (argv[1].clone(), argv[2].clone());
        let src_shard = shard_of(&src, shards);
        let mut txn = cx.txn(vec![src_shard, shard_of(&dst, shards)], 2);
        let q2 = q.clone();
        let read = txn
            .hop(move |s: &mut Shard| {
                if s.id != src_shard {
                    return None;
                }
                let mut scx = ShardCx::new(s, db, unix_ms());
                Some(match read_zset(&mut scx, &src) {
                    Err(e) => Err(e),
                    Ok(None) => Ok(Vec::new()),
                    Ok(Some(z)) => Ok(q2.collect(z)),
                })
            })
            .await;
        let found = read.into_iter().find_map(|(_, r)| r).unwrap_or(Ok(Vec::new()));
        let mut items = match found {
            Ok(items) => items,
            Err(e) => {
                txn.finish();
                return Err(e);
            }
        };
        if q.rev {
            items.reverse();
        }
        let n = store_result(&mut txn, dst, db, shards, items, argv.clone(), "zrangestore").await;
        txn.finish();
        cx.out.int(n as i64);
        Ok(())
    })
}

/// What a shard says about one ZMPOP key in hop 1.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyState {
    Missing,
    WrongType,
    Present,
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]: pops from the first key that exists.
/// Logged as `ZPOPMIN|ZPOPMAX key <popped>`.
pub fn zmpop(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let a = Arc::new(parse_mpop(&argv, 1)?);
        let (db, shards) = (cx.session.db, cx.core.shards);
        let proto = cx.out.proto();
        let involved = crate::txn::shards_of(a.keys.iter(), shards);
        let single = involved.iter().all(|s| *s == involved[0]);
        if single {
            // Every key on one shard: one hop does it all.
            let mut txn = cx.txn(involved, 1);
            let a2 = a.clone();
            let res = txn
                .hop(move |s: &mut Shard| {
                    let mut scx = ShardCx::new(s, db, unix_ms());
                    let mut out = Out::new(proto);
                    mpop_local(&mut scx, &a2, &mut out).map(|popped| popped.then(|| out.take()))
                })
                .await;
            txn.finish();
            return write_mpop(cx, res.into_iter().next().map(|(_, r)| r));
        }
        let mut txn = cx.txn(involved, 2);
        let a2 = a.clone();
        let states = txn
            .hop(move |s: &mut Shard| {
                let me = s.id;
                let mut scx = ShardCx::new(s, db, unix_ms());
                a2.keys
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| shard_of(k, shards) == me)
                    .map(|(i, k)| {
                        let st = match write_zset(&mut scx, k) {
                            Err(_) => KeyState::WrongType,
                            Ok(None) => KeyState::Missing,
                            Ok(Some(_)) => KeyState::Present,
                        };
                        (i, st)
                    })
                    .collect::<Vec<_>>()
            })
            .await;
        let mut by_key = vec![KeyState::Missing; a.keys.len()];
        for (i, st) in states.into_iter().flat_map(|(_, v)| v) {
            by_key[i] = st;
        }
        let Some(i) = by_key.iter().position(|s| *s != KeyState::Missing) else {
            txn.finish();
            cx.out.null_array();
            return Ok(());
        };
        if by_key[i] == KeyState::WrongType {
            txn.finish();
            return Err(CmdError::WrongType);
        }
        let key = a.keys[i].clone();
        let key_shard = shard_of(&key, shards);
        let one = Arc::new(MpopArgs {
            keys: vec![key],
            side: a.side,
            count: a.count,
        });
        let res = txn
            .hop(move |s: &mut Shard| {
                if s.id != key_shard {
                    return None;
                }
                let mut scx = ShardCx::new(s, db, unix_ms());
                let mut out = Out::new(proto);
                Some(mpop_local(&mut scx, &one, &mut out).map(|popped| popped.then(|| out.take())))
            })
            .await;
        txn.finish();
        write_mpop(cx, res.into_iter().find_map(|(_, r)| r))
    })
}

/// Writes ZMPOP's reply from a shard's answer (encoded bytes, or nothing popped).
fn write_mpop(cx: &mut ConnCx, res: Option<Result<Option<Vec<u8>>, CmdError>>) -> Result<(), CmdError> {
    match res {
        Some(Ok(Some(bytes))) => cx.out.raw(&bytes),
        Some(Err(e)) => return Err(e),
        _ => cx.out.null_array(),
    }
    Ok(())
}
