//! MULTI / EXEC / DISCARD / WATCH / UNWATCH, as redis-server 7.0 behaves, over any shards.
//!
//! EXEC locks every shard its queue may touch (the shards of its keys and of the watched keys;
//! all shards when a queued command works on the whole keyspace) in ascending order, checks
//! the watches in that first hop, then runs the queue through the normal dispatcher with the
//! locks held (`ConnCx::scope`), so no other client observes half of the transaction. A queue
//! of shard commands whose keys (and watched keys) all live on one shard needs no lock: it runs
//! there as one job (`dispatch::exec_on_one_shard`). Errors inside EXEC do not roll back, as
//! in Redis.

use super::conn::Multi;
use super::*;
use crate::resp::Arg;
use crate::shard::{Shard, ShardId, key_hash, shard_of, unix_ms};
use crate::txn::Lock;

const T: &str = "transactions";

pub const SPECS: &[CommandSpec] = &[
    CommandSpec::new(
        "multi",
        1,
        NOSCRIPT.union(LOADING).union(STALE).union(FAST).union(ALLOW_BUSY),
        KeySpan::NONE,
        Run::Conn(multi),
    )
    .doc(T, "1.2.0", "Starts a transaction.", ""),
    CommandSpec::new(
        "exec",
        1,
        NOSCRIPT.union(LOADING).union(STALE),
        KeySpan::NONE,
        Run::Conn(exec),
    )
    .doc(T, "1.2.0", "Executes all commands in a transaction.", ""),
    CommandSpec::new(
        "discard",
        1,
        NOSCRIPT.union(LOADING).union(STALE).union(FAST).union(ALLOW_BUSY),
        KeySpan::NONE,
        Run::Conn(discard),
    )
    .doc(T, "2.0.0", "Discards a transaction.", ""),
    CommandSpec::new(
        "watch",
        -2,
        NOSCRIPT
            .union(LOADING)
            .union(STALE)
            .union(FAST)
            .union(NO_MULTI)
            .union(ALLOW_BUSY),
        KeySpan::range(1, -1, 1),
        Run::Conn(watch),
    )
    .doc(
        T,
        "2.2.0",
        "Monitors changes to keys to determine the execution of a transaction.",
        "key [key ...]",
    ),
    CommandSpec::new(
        "unwatch",
        1,
        NOSCRIPT.union(LOADING).union(STALE).union(FAST).union(ALLOW_BUSY),
        KeySpan::NONE,
        Run::Conn(unwatch),
    )
    .doc(T, "2.2.0", "Forgets about watched keys of a transaction.", ""),
];

/// Commands that act at once even while a transaction is being queued.
pub fn runs_inside_multi(spec: &CommandSpec) -> bool {
    matches!(spec.name, "exec" | "discard" | "multi" | "watch" | "quit" | "reset")
}

/// Commands that only touch the connection: they need no shard inside EXEC.
fn connection_only(spec: &CommandSpec) -> bool {
    matches!(
        spec.name,
        "ping" | "echo" | "select" | "time" | "unwatch" | "client" | "hello" | "auth" | "command"
    )
}

fn multi(cx: &mut ConnCx, _argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        if cx.session.multi.is_some() {
            return Err(CmdError::other("ERR MULTI calls can not be nested"));
        }
        cx.session.multi = Some(Multi::default());
        cx.out.ok();
        Ok(())
    })
}

fn discard(cx: &mut ConnCx, _argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        if cx.session.multi.take().is_none() {
            return Err(CmdError::other("ERR DISCARD without MULTI"));
        }
        unwatch_all(cx).await;
        cx.out.ok();
        Ok(())
    })
}

fn watch(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        if cx.session.multi.is_some() {
            return Err(CmdError::other("ERR WATCH inside MULTI is not allowed"));
        }
        let db = cx.session.db;
        let client = cx.session.id;
        for key in &argv[1..] {
            if cx.session.watched.iter().any(|(d, k)| *d == db && k[..] == key[..]) {
                continue;
            }
            let shard = shard_of(key, cx.core.shards);
            let k = key.clone();
            cx.core
                .run_on(shard, Lock::Pass, move |s: &mut Shard| s.watches.watch(db, &k, client))
                .await;
            cx.session.watched.push((db, key.to_vec()));
        }
        cx.out.ok();
        Ok(())
    })
}

fn unwatch(cx: &mut ConnCx, _argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        unwatch_all(cx).await;
        cx.out.ok();
        Ok(())
    })
}

/// Watched (db, key) pairs.
type Watched = Vec<(usize, Vec<u8>)>;

/// Watched keys grouped by owning shard.
fn watched_by_shard(cx: &ConnCx) -> Vec<(ShardId, Watched)> {
    let mut groups: Vec<(ShardId, Watched)> = Vec::new();
    for (db, key) in &cx.session.watched {
        let s = shard_of(key, cx.core.shards);
        match groups.iter_mut().find(|(g, _)| *g == s) {
            Some((_, v)) => v.push((*db, key.clone())),
            None => groups.push((s, vec![(*db, key.clone())])),
        }
    }
    groups
}

/// Forgets every watch of this client (UNWATCH, DISCARD, EXEC, disconnect).
pub async fn unwatch_all(cx: &mut ConnCx) {
    let client = cx.session.id;
    for (shard, keys) in watched_by_shard(cx) {
        cx.core
            .run_on(shard, Lock::Free, move |s: &mut Shard| {
                s.watches.unwatch(client, &keys);
            })
            .await;
    }
    cx.session.watched.clear();
}

/// The shards an EXEC must hold for `queued` (plus the watched keys' shards).
fn shards_for(cx: &ConnCx, queued: &[Arg], all: &mut bool, out: &mut Vec<ShardId>) {
    let Some(spec) = lookup(&queued[0]) else { return };
    if connection_only(spec) {
        return;
    }
    match spec.run {
        Run::Conn(_) if spec.keys.first == 0 || !matches!(spec.name, "rename" | "renamenx" | "copy") => *all = true,
        _ => out.extend(
            spec.keys
                .positions(queued.len())
                .map(|p| shard_of(&queued[p], cx.core.shards)),
        ),
    }
}

/// Whether a watched key on `s` changed (or expired) since WATCH; the client's watches there
/// end either way.
fn watch_dirty(s: &mut Shard, client: u64, watched: &hashbrown::HashMap<ShardId, Vec<(usize, Vec<u8>)>>) -> bool {
    let now = unix_ms();
    let mine = watched.get(&s.id).cloned().unwrap_or_default();
    // A watched key that has expired since counts as changed, as in 7.0.
    let expired = mine.iter().any(|(db, k)| {
        s.dbs[*db]
            .entry(key_hash(k), k)
            .is_some_and(|e| e.expire_at() != 0 && e.expire_at() <= now)
    });
    let touched = s.watches.unwatch(client, &mine);
    touched || expired
}

/// The one shard a queue runs on, with each command's table index and spec, when
/// every queued command is a shard command (a split one counts) that the dispatcher would run
/// as it stands, and all their keys and the watched keys live on that shard (`shards` lists
/// them all).
fn one_shard(
    cx: &ConnCx,
    queued: &[Vec<Arg>],
    all: bool,
    shards: &[ShardId],
) -> Option<(ShardId, Vec<super::dispatch::Planned>)> {
    let first = *shards.first()?;
    if all || shards.iter().any(|&s| s != first) {
        return None;
    }
    let plan = |argv: &Vec<Arg>| {
        let (idx, spec) = lookup_indexed(&argv[0])?;
        // A key-less form (a HELP) runs on the client's own shard, not on `first`.
        spec.keys.positions(argv.len()).next()?;
        let on_one_shard = match spec.run {
            Run::Shard(_) => true,
            Run::Split(..) => crate::txn::split::check_layout(spec, argv.len()).is_ok(),
            Run::Conn(_) => false,
        };
        (on_one_shard && super::dispatch::passes_checks(cx, spec, argv.len())).then_some((idx, spec))
    };
    let planned = queued.iter().map(plan).collect::<Option<Vec<_>>>()?;
    Some((first, planned))
}

fn exec(cx: &mut ConnCx, _argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let Some(mut multi) = cx.session.multi.take() else {
            return Err(CmdError::other("ERR EXEC without MULTI"));
        };
        if multi.aborted {
            unwatch_all(cx).await;
            return Err(CmdError::other(
                "EXECABORT Transaction discarded because of previous errors.",
            ));
        }
        let mut all = false;
        let mut shards: Vec<ShardId> = watched_by_shard(cx).into_iter().map(|(s, _)| s).collect();
        for q in &multi.queued {
            shards_for(cx, q, &mut all, &mut shards);
        }
        if all {
            shards = (0..cx.core.shards).collect();
        }
        let client = cx.session.id;
        let watched: hashbrown::HashMap<ShardId, Vec<(usize, Vec<u8>)>> = watched_by_shard(cx).into_iter().collect();
        let watched = std::sync::Arc::new(watched);
        cx.session.watched.clear();
        if let Some((shard, planned)) = one_shard(cx, &multi.queued, all, &shards) {
            let queued = std::mem::take(&mut multi.queued);
            let dirty = move |s: &mut Shard| watch_dirty(s, client, &watched);
            if !super::dispatch::exec_on_one_shard(cx, shard, queued, planned, dirty).await {
                cx.out.null_array();
            }
            return Ok(());
        }
        // A second hop always follows, so this locks even a single shard.
        let mut txn = crate::txn::Txn::new(&cx.core, shards, 2);
        let checks = txn.hop(move |s: &mut Shard| watch_dirty(s, client, &watched)).await;
        if checks.iter().any(|(_, dirty)| *dirty) {
            txn.finish();
            cx.out.null_array();
            return Ok(());
        }
        cx.scope = Some(txn.id());
        cx.out.array(multi.queued.len());
        super::dispatch::execute(cx, &mut multi.queued).await;
        cx.scope = None;
        // The whole EXEC goes to the stream as one MULTI ... EXEC group (R4).
        let records = cx.core.take_stash(txn.id());
        cx.core.push_group(records);
        txn.finish();
        Ok(())
    })
}
