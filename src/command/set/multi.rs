//! Set commands whose keys may live on different shards: SMOVE, SINTER, SINTERCARD, SUNION,
//! SDIFF and the *STORE forms.
//!
//! When every key is on one shard the whole command runs there in one job. Otherwise a
//! `Txn` locks the shards involved; the first hop type-checks the keys and copies the source
//! sets, the connection computes, and a second hop writes the destination and logs the
//! command once, as sent (Redis 7.0 replicates SMOVE and the *STORE commands verbatim, and
//! only when they changed the dataset).

use std::sync::{Arc, Mutex};

use super::super::args::is;
use super::super::*;
use crate::resp::Arg;
use crate::shard::{Shard, ShardCx, shard_of, unix_ms};
use crate::store::set::{Elem, Set};
use crate::store::{EncodingLimits, Kind, Value, ValueMut, ValueRef};
use crate::txn::keys_by_shard;

/// Which set algebra a command computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetOp {
    Inter,
    Union,
    Diff,
}

impl SetOp {
    /// The keyspace event of the command that stores this algebra's result.
    fn store_event(self) -> &'static str {
        match self {
            SetOp::Inter => "sinterstore",
            SetOp::Union => "sunionstore",
            SetOp::Diff => "sdiffstore",
        }
    }
}

/// The set under `key` on a shard: `Ok(None)` when missing, WRONGTYPE for another type.
fn peek_set<'a>(cx: &'a mut ShardCx, key: &[u8]) -> Result<Option<&'a Set>, CmdError> {
    match cx.lookup(key) {
        None => Ok(None),
        Some(e) => match e.value() {
            ValueRef::Set(s) => Ok(Some(s)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// SINTER / SUNION / SDIFF over `sets` (`None` = missing key = empty set). The result is built
/// from an empty intset, as Redis builds it, so its encoding matches 7.0's.
fn combine(op: SetOp, sets: &[Option<&Set>], limits: &EncodingLimits) -> Set {
    let mut result = Set::new();
    match op {
        SetOp::Inter => {
            for e in inter_iter(sets, usize::MAX) {
                e.with_bytes(|b| result.add(b, limits));
            }
        }
        SetOp::Union => {
            for e in sets.iter().flatten().flat_map(|s| s.iter()) {
                e.with_bytes(|b| result.add(b, limits));
            }
        }
        SetOp::Diff => {
            let Some(Some(first)) = sets.first() else { return result };
            for e in first.iter() {
                let elsewhere = e.with_bytes(|b| sets[1..].iter().flatten().any(|s| s.contains(b)));
                if !elsewhere {
                    e.with_bytes(|b| result.add(b, limits));
                }
            }
        }
    }
    result
}

/// The members of the intersection, walking the smallest set (in its order, as Redis replies),
/// stopping after `limit`.
fn inter_iter<'a>(sets: &'a [Option<&'a Set>], limit: usize) -> impl Iterator<Item = Elem<'a>> + 'a {
    let all: Option<Vec<&Set>> = sets.iter().copied().collect();
    let mut all = all.unwrap_or_default();
    all.sort_by_key(|s| s.len());
    let (first, rest) = match all.split_first() {
        Some((f, r)) => (Some(*f), r.to_vec()),
        None => (None, Vec::new()),
    };
    first
        .into_iter()
        .flat_map(|s| s.iter())
        .filter(move |e| e.with_bytes(|b| rest.iter().all(|s| s.contains(b))))
        .take(limit)
}

/// What a set-algebra command does with its result.
#[derive(Clone)]
enum Target {
    /// Reply with the members (SINTER, SUNION, SDIFF).
    Reply,
    /// Reply with the size of the intersection, counting up to the limit (0 = none).
    Card(usize),
    /// Store in this key and reply with its size; logs `argv`.
    Store(Arg, Arc<Vec<Arg>>),
}

/// What came back to the connection.
enum Outcome {
    Members(Set),
    Count(usize),
}

/// Runs the whole command on one shard (every key lives there).
fn algebra_local(cx: &mut ShardCx, op: SetOp, keys: &[Arg], target: &Target) -> Result<Outcome, CmdError> {
    let limits = cx.shard.limits;
    // Copy-free: type-check every key first, then borrow the sets together.
    for k in keys {
        peek_set(cx, k)?;
    }
    let db = &cx.shard.dbs[cx.db];
    let sets: Vec<Option<&Set>> = keys
        .iter()
        .map(|k| match db.entry(crate::shard::key_hash(k), k).map(|e| e.value()) {
            Some(ValueRef::Set(s)) => Some(s),
            _ => None,
        })
        .collect();
    let result = match target {
        Target::Card(limit) => return Ok(Outcome::Count(inter_count(&sets, *limit))),
        _ => combine(op, &sets, &limits),
    };
    match target {
        Target::Store(dst, argv) => Ok(Outcome::Count(store(cx, op, dst, result, argv))),
        _ => Ok(Outcome::Members(result)),
    }
}

fn inter_count(sets: &[Option<&Set>], limit: usize) -> usize {
    inter_iter(sets, if limit == 0 { usize::MAX } else { limit }).count()
}

/// Writes a *STORE result of `op` (an empty one deletes `dst`) and logs the command if
/// anything changed. Returns the stored size.
fn store(cx: &mut ShardCx, op: SetOp, dst: &[u8], result: Set, argv: &[Arg]) -> usize {
    let n = result.len();
    if n > 0 {
        cx.put(dst, Value::Set(Box::new(result)), false);
        cx.notify(class::SET, op.store_event(), dst);
        cx.emit_argv(argv);
    } else if cx.remove(dst).is_some() {
        cx.notify(class::GENERIC, "del", dst);
        cx.emit_argv(argv);
    }
    n
}

async fn algebra(cx: &mut ConnCx, op: SetOp, keys: Vec<Arg>, target: Target) -> Result<Outcome, CmdError> {
    let db = cx.session.db;
    let shards = cx.core.shards;
    let groups = keys_by_shard(&keys, shards);
    let dst_shard = match &target {
        Target::Store(dst, _) => Some(shard_of(dst, shards)),
        _ => None,
    };
    let mut involved: Vec<usize> = groups.iter().map(|(s, _)| *s).collect();
    involved.extend(dst_shard);
    involved.sort_unstable();
    involved.dedup();
    let keys = Arc::new(keys);
    if involved.len() == 1 {
        let (keys, target) = (keys.clone(), target.clone());
        let mut txn = cx.txn(involved, 1);
        let mut res = txn
            .hop(move |s: &mut Shard| algebra_local(&mut ShardCx::new(s, db, unix_ms()), op, &keys, &target))
            .await;
        txn.finish();
        return res.pop().map(|(_, r)| r).unwrap_or(Ok(Outcome::Count(0)));
    }
    let hops = if dst_shard.is_some() { 2 } else { 1 };
    let mut txn = cx.txn(involved, hops);
    // Hop 1: each shard type-checks and copies its source sets.
    let (k1, groups1) = (keys.clone(), Arc::new(groups));
    let copies = txn
        .hop(move |s: &mut Shard| {
            let mut cx = ShardCx::new(s, db, unix_ms());
            let mine = groups1.iter().find(|(g, _)| *g == cx.shard.id).map(|(_, v)| v.clone());
            let mut got = Vec::new();
            for i in mine.unwrap_or_default() {
                got.push((i, peek_set(&mut cx, &k1[i])?.cloned()));
            }
            Ok::<_, CmdError>(got)
        })
        .await;
    let mut sets: Vec<Option<Set>> = vec![None; keys.len()];
    for (_, got) in copies {
        for (i, s) in got? {
            sets[i] = s;
        }
    }
    let refs: Vec<Option<&Set>> = sets.iter().map(Option::as_ref).collect();
    let limits = cx.core.shard.borrow().limits;
    let (dst, argv) = match target {
        Target::Card(limit) => return Ok(Outcome::Count(inter_count(&refs, limit))),
        Target::Reply => return Ok(Outcome::Members(combine(op, &refs, &limits))),
        Target::Store(dst, argv) => (dst, argv),
    };
    // Hop 2: the destination's shard stores the result and logs the command.
    let result = combine(op, &refs, &limits);
    let n = result.len();
    let slot = Mutex::new(Some(result));
    txn.hop(move |s: &mut Shard| {
        if Some(s.id) != dst_shard {
            return;
        }
        if let Some(result) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
            store(&mut ShardCx::new(s, db, unix_ms()), op, &dst, result, &argv);
        }
    })
    .await;
    txn.finish();
    Ok(Outcome::Count(n))
}

/// Replies to SINTER / SUNION / SDIFF / *STORE.
fn reply(out: &mut Out, outcome: Outcome) {
    match outcome {
        Outcome::Count(n) => out.int(n as i64),
        Outcome::Members(s) => {
            out.set(s.len());
            for e in s.iter() {
                match e {
                    Elem::Int(n) => out.bulk_int(n),
                    Elem::Bytes(b) => out.bulk(b),
                }
            }
        }
    }
}

/// The shared body of the six algebra commands.
async fn run_algebra(cx: &mut ConnCx, argv: Vec<Arg>, op: SetOp, store: bool) -> Result<(), CmdError> {
    let (target, keys) = if store {
        let argv = Arc::new(argv);
        (Target::Store(argv[1].clone(), argv.clone()), argv[2..].to_vec())
    } else {
        (Target::Reply, argv[1..].to_vec())
    };
    let outcome = algebra(cx, op, keys, target).await?;
    reply(&mut cx.out, outcome);
    Ok(())
}

pub fn sinter(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(run_algebra(cx, argv, SetOp::Inter, false))
}

pub fn sinterstore(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(run_algebra(cx, argv, SetOp::Inter, true))
}

pub fn sunion(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(run_algebra(cx, argv, SetOp::Union, false))
}

pub fn sunionstore(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(run_algebra(cx, argv, SetOp::Union, true))
}

pub fn sdiff(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(run_algebra(cx, argv, SetOp::Diff, false))
}

pub fn sdiffstore(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(run_algebra(cx, argv, SetOp::Diff, true))
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]: the keys are found by numkeys, not by the
/// table's key span.
pub fn sintercard(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let numkeys = crate::util::num::parse_i64(&argv[1])
            .filter(|n| *n >= 1)
            .ok_or_else(|| CmdError::other("ERR numkeys should be greater than 0"))?;
        if numkeys as u64 > (argv.len() - 2) as u64 {
            return Err(CmdError::other(
                "ERR Number of keys can't be greater than number of args",
            ));
        }
        let numkeys = numkeys as usize;
        let mut limit = 0usize;
        let mut i = 2 + numkeys;
        while i < argv.len() {
            if is(&argv[i], "limit") && i + 1 < argv.len() {
                let n = crate::util::num::parse_i64(&argv[i + 1])
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| CmdError::other("ERR LIMIT can't be negative"))?;
                limit = n as usize;
                i += 2;
            } else {
                return Err(CmdError::Syntax);
            }
        }
        let keys = argv[2..2 + numkeys].to_vec();
        let outcome = algebra(cx, SetOp::Inter, keys, Target::Card(limit)).await?;
        reply(&mut cx.out, outcome);
        Ok(())
    })
}

/// SMOVE on one shard: Redis 7.0's order of checks (missing source first, then types).
fn smove_local(cx: &mut ShardCx, src: &[u8], dst: &[u8], member: &[u8], argv: &[Arg]) -> Result<bool, CmdError> {
    let Some(s) = peek_set(cx, src)? else { return Ok(false) };
    let has = s.contains(member);
    peek_set(cx, dst)?;
    if src == dst || !has {
        return Ok(has);
    }
    let limits = cx.shard.limits;
    remove_member(cx, src, member);
    add_member(cx, dst, member, &limits);
    cx.emit_argv(argv);
    Ok(true)
}

/// Removes `member` from the set under `key`, deleting the set when it empties; tells
/// subscribers "srem" (and "del").
fn remove_member(cx: &mut ShardCx, key: &[u8], member: &[u8]) {
    let empty = match cx.lookup_typed(key, Kind::Set) {
        Ok(Some(e)) => match e.value_mut() {
            ValueMut::Set(s) => {
                s.remove(member);
                s.is_empty()
            }
            _ => false,
        },
        _ => false,
    };
    cx.notify(class::SET, "srem", key);
    if empty {
        cx.remove(key);
        cx.notify(class::GENERIC, "del", key);
    }
}

/// Adds `member` to the set under `key`, creating it; tells subscribers "sadd" when the
/// member is new there.
fn add_member(cx: &mut ShardCx, key: &[u8], member: &[u8], limits: &EncodingLimits) {
    if !matches!(cx.lookup_typed(key, Kind::Set), Ok(Some(_))) {
        cx.put(key, Value::Set(Box::default()), false);
    }
    if let Ok(Some(e)) = cx.lookup_typed(key, Kind::Set)
        && let ValueMut::Set(s) = e.value_mut()
        && s.add(member, limits)
    {
        cx.notify(class::SET, "sadd", key);
    }
}

pub fn smove(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let db = cx.session.db;
        let shards = cx.core.shards;
        let (s_src, s_dst) = (shard_of(&argv[1], shards), shard_of(&argv[2], shards));
        let argv = Arc::new(argv);
        if s_src == s_dst {
            let a = argv.clone();
            let mut txn = cx.txn(vec![s_src], 1);
            let mut res = txn
                .hop(move |s: &mut Shard| smove_local(&mut ShardCx::new(s, db, unix_ms()), &a[1], &a[2], &a[3], &a))
                .await;
            txn.finish();
            let moved = res.pop().map(|(_, r)| r).unwrap_or(Ok(false))?;
            cx.out.int(moved as i64);
            return Ok(());
        }
        let mut txn = cx.txn(vec![s_src, s_dst], 2);
        // Hop 1: the source reports whether it holds the member; both type-check.
        let a = argv.clone();
        let checks = txn
            .hop(move |s: &mut Shard| {
                let mut cx = ShardCx::new(s, db, unix_ms());
                if cx.shard.id == s_src {
                    peek_set(&mut cx, &a[1]).map(|s| s.map(|s| s.contains(&a[3])))
                } else {
                    peek_set(&mut cx, &a[2]).map(|_| None)
                }
            })
            .await;
        let (mut src_state, mut dst_err) = (Ok(None), Ok(None));
        for (id, r) in checks {
            if id == s_src {
                src_state = r;
            } else {
                dst_err = r;
            }
        }
        // Missing source answers 0 before any type error of the destination, as in Redis.
        let has = match src_state? {
            None => {
                txn.finish();
                cx.out.int(0);
                return Ok(());
            }
            Some(has) => has,
        };
        dst_err?;
        if !has {
            txn.finish();
            cx.out.int(0);
            return Ok(());
        }
        // Hop 2: remove on the source's shard, add on the destination's, log once there.
        let a = argv.clone();
        txn.hop(move |s: &mut Shard| {
            let mut cx = ShardCx::new(s, db, unix_ms());
            if cx.shard.id == s_src {
                remove_member(&mut cx, &a[1], &a[3]);
                // The command is logged once, on the destination's shard; WATCHes of the
                // source key live here and must still see the change.
                cx.shard.watches.touch(db, &a[1]);
            } else {
                let limits = cx.shard.limits;
                add_member(&mut cx, &a[2], &a[3], &limits);
                cx.emit_argv(&a);
            }
        })
        .await;
        txn.finish();
        cx.out.int(1);
        Ok(())
    })
}
