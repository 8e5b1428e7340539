//! Runs one read's worth of pipelined requests and writes the replies in request order.
//!
//! Consecutive shard commands are collected; at a barrier (a connection-level command, a
//! split over several shards, an error reply) or at the end of the batch they are sent as one
//! job per owning shard, the remote ones first so that every core works at once, and their
//! replies are stitched back together in request order. Commands of one shard run in request
//! order inside their job, so per-key order always holds.

use bytes::Bytes;
use hashbrown::HashMap;

use super::{CmdError, ConnCx, Run, ShardHandler, lookup, run_on_shard};
use crate::resp::{Out, Proto, Request};
use crate::server::stats::CoreCounters;
use crate::shard::{Shard, ShardCx, ShardId, shard_of, unix_ms};
use crate::txn::Lock;
use crate::txn::split::{SplitPlan, check_layout, run_splits};

/// Shard commands waiting to be sent.
#[derive(Default)]
struct Pending {
    items: Vec<(ShardId, ShardHandler, Request)>,
}

/// How a group of shard commands runs (plainly, or inside EXEC keeping its records).
type GroupRunner = fn(&mut Shard, usize, Proto, Vec<(ShardHandler, Request)>) -> GroupReplies;

/// Replies of one shard's job: the bytes, where each reply ends, and (inside EXEC) the write
/// records it produced.
type GroupReplies = (Vec<u8>, Vec<usize>, Vec<crate::shard::WriteRecord>);

fn run_group(shard: &mut Shard, db: usize, proto: Proto, cmds: Vec<(ShardHandler, Request)>) -> GroupReplies {
    let mut cx = ShardCx::new(shard, db, unix_ms());
    let mut out = Out::new(proto);
    let mut ends = Vec::with_capacity(cmds.len());
    for (h, argv) in cmds {
        run_on_shard(&mut cx, h, &argv, &mut out);
        ends.push(out.len());
    }
    (out.take(), ends, Vec::new())
}

/// `run_group` inside EXEC: the records travel back to join the transaction's group.
fn run_group_held(shard: &mut Shard, db: usize, proto: Proto, cmds: Vec<(ShardHandler, Request)>) -> GroupReplies {
    let (bytes, ends, _) = run_group(shard, db, proto, cmds);
    (bytes, ends, shard.log.drain())
}

impl Pending {
    async fn flush(&mut self, cx: &mut ConnCx) {
        if self.items.is_empty() {
            return;
        }
        let items = std::mem::take(&mut self.items);
        let core = cx.core.clone();
        let db = cx.session.db;
        let proto = cx.out.proto();
        let lock = cx.lock_mode();
        let run: GroupRunner = if lock == Lock::Pass { run_group } else { run_group_held };
        let first = items[0].0;
        if items.iter().all(|(s, _, _)| *s == first) {
            if first == core.id && lock == Lock::Pass {
                // The common case: everything is ours. Write replies straight to the client.
                let out = &mut cx.out;
                core.with_local_shard(|shard| {
                    let mut scx = ShardCx::new(shard, db, unix_ms());
                    for (_, h, argv) in &items {
                        run_on_shard(&mut scx, *h, argv, out);
                    }
                })
                .await;
            } else {
                let cmds: Vec<_> = items.into_iter().map(|(_, h, a)| (h, a)).collect();
                let (bytes, _, records) = core.run_on(first, lock, move |shard| run(shard, db, proto, cmds)).await;
                if let Some(scope) = cx.scope {
                    core.stash(scope, records);
                }
                cx.out.raw(&bytes);
            }
            return;
        }
        // Several shards: one job each, then interleave the replies in request order.
        let order: Vec<ShardId> = items.iter().map(|(s, _, _)| *s).collect();
        let mut groups: HashMap<ShardId, Vec<(ShardHandler, Request)>> = HashMap::new();
        for (s, h, a) in items {
            groups.entry(s).or_default().push((h, a));
        }
        let mut local = groups.remove(&core.id);
        let mut started = Vec::with_capacity(groups.len());
        for (s, cmds) in groups {
            started.push((s, core.submit(s, lock, move |shard| run(shard, db, proto, cmds)).await));
        }
        let mut results: HashMap<ShardId, (GroupReplies, usize, usize)> = HashMap::new();
        if let Some(cmds) = local.take() {
            let r = core
                .run_on(core.id, lock, move |shard| run(shard, db, proto, cmds))
                .await;
            results.insert(core.id, (r, 0, 0));
        }
        for (s, job) in started {
            results.insert(s, (core.wait(job).await, 0, 0));
        }
        if let Some(scope) = cx.scope {
            for ((_, _, records), _, _) in results.values_mut() {
                core.stash(scope, std::mem::take(records));
            }
        }
        for s in order {
            let ((bytes, ends, _), next, start) = results.get_mut(&s).expect("every shard answered");
            let end = ends[*next];
            cx.out.raw(&bytes[*start..end]);
            *start = end;
            *next += 1;
        }
    }
}

/// Executes a batch of requests, leaving all replies in `cx.out`.
pub async fn execute(cx: &mut ConnCx, batch: Vec<Request>) {
    let mut pending = Pending::default();
    // Consecutive multi-shard split commands, run together under one transaction.
    let mut splits: Vec<SplitPlan> = Vec::new();
    for argv in batch {
        if cx.session.close_after_reply {
            break;
        }
        if cx.scope.is_some() {
            // Inside EXEC, one command at a time: its effects reach the stream in command order.
            pending.flush(cx).await;
        }
        if !splits.is_empty() && (cx.scope.is_some() || !is_multi_shard_split(&argv, cx.core.shards)) {
            run_splits(cx, std::mem::take(&mut splits)).await;
        }
        CoreCounters::add(&cx.core.counters().commands_processed, 1);
        let Some(spec) = lookup(&argv[0]) else {
            pending.flush(cx).await;
            cx.session.abort_multi();
            cx.out.error(&CmdError::unknown(&argv[0], &argv[1..]).message());
            continue;
        };
        if !spec.arity_ok(argv.len()) {
            pending.flush(cx).await;
            cx.session.abort_multi();
            cx.out.error(&CmdError::WrongArity(spec.name.to_string()).message());
            continue;
        }
        if let Err(e) = cx
            .session
            .may_run(spec)
            .and_then(|_| cx.session.may_run_subscribed(spec, cx.out.proto()))
        {
            pending.flush(cx).await;
            cx.out.error(&e.message());
            continue;
        }
        if let Some(e) = role_refusal(cx, spec) {
            pending.flush(cx).await;
            cx.session.abort_multi();
            cx.out.error(e);
            continue;
        }
        if cx.session.multi.is_some() && !super::txn::runs_inside_multi(spec) {
            pending.flush(cx).await;
            let Some(multi) = cx.session.multi.as_mut() else {
                continue;
            };
            if spec.flags.has(super::NO_MULTI) {
                multi.aborted = true;
                cx.out.error("ERR Command not allowed inside a transaction");
            } else {
                multi.queued.push(argv);
                cx.out.simple(b"QUEUED");
            }
            continue;
        }
        if spec.is_write()
            && !cx.session.master_link
            && let Err(e) = write_allowed(cx)
        {
            pending.flush(cx).await;
            cx.session.abort_multi();
            cx.out.error(&e);
            continue;
        }
        let shards = cx.core.shards;
        match spec.run {
            Run::Shard(h) => {
                // A command whose key position lies past its arguments (e.g. a HELP form) has
                // no key: it runs on this core's shard.
                let owner = argv
                    .get(spec.keys.first as usize)
                    .map_or(cx.core.id, |k| shard_of(k, shards));
                pending.items.push((owner, h, argv));
            }
            Run::Split(h, merge) => {
                if let Err(e) = check_layout(spec, argv.len()) {
                    pending.flush(cx).await;
                    cx.session.abort_multi();
                    cx.out.error(&e.message());
                    continue;
                }
                let mut owners = spec.keys.positions(argv.len()).map(|p| shard_of(&argv[p], shards));
                let first = owners.next().unwrap_or(0);
                if owners.all(|s| s == first) {
                    run_splits(cx, std::mem::take(&mut splits)).await;
                    pending.items.push((first, h, argv));
                } else {
                    pending.flush(cx).await;
                    splits.push(SplitPlan::new(spec, h, merge, &argv, shards));
                }
                continue;
            }
            Run::Conn(h) => {
                pending.flush(cx).await;
                let start = cx.out.len();
                if let Err(e) = h(cx, argv).await {
                    cx.out.truncate(start);
                    cx.out.error(&e.message());
                }
            }
        }
    }
    run_splits(cx, splits).await;
    pending.flush(cx).await;
}

/// True for a split command (DEL, MGET, MSET...) whose keys span several shards: those are
/// gathered and run together.
fn is_multi_shard_split(argv: &Request, shards: usize) -> bool {
    let Some(spec) = lookup(&argv[0]) else { return false };
    if !matches!(spec.run, Run::Split(..)) || !spec.arity_ok(argv.len()) || check_layout(spec, argv.len()).is_err() {
        return false;
    }
    let mut owners = spec.keys.positions(argv.len()).map(|p| shard_of(&argv[p], shards));
    let first = owners.next().unwrap_or(0);
    !owners.all(|s| s == first)
}

/// Refusals that come from being a replica: `-LOADING` while the master's payload loads
/// (except for commands flagged `loading`), `-READONLY` for writes with `replica-read-only`.
/// The master's own link is never refused.
fn role_refusal(cx: &ConnCx, spec: &super::CommandSpec) -> Option<&'static str> {
    let replica = &cx.core.server.repl.get()?.replica;
    if cx.session.master_link || !replica.is_active() {
        return None;
    }
    if replica.is_loading() && !spec.flags.has(super::LOADING) {
        return Some("LOADING Redis is loading the dataset in memory");
    }
    if spec.is_write() && cx.core.server.config.read().is_ok_and(|c| c.replica_read_only) {
        return Some("READONLY You can't write against a read only replica.");
    }
    None
}

/// Refuses writes after a failed save (MISCONF) or without enough good replicas (NOREPLICAS).
fn write_allowed(cx: &ConnCx) -> Result<(), String> {
    let st = &cx.core.server;
    if st.persist.refuses_writes() {
        return Err(crate::persist::save::MISCONF.to_string());
    }
    let min = st.min_replicas_to_write.load(std::sync::atomic::Ordering::Relaxed);
    if min > 0 {
        let lag = st.min_replicas_max_lag.load(std::sync::atomic::Ordering::Relaxed);
        if (st.repl().good_replicas(lag) as u64) < min {
            return Err("NOREPLICAS Not enough good replicas to write.".to_string());
        }
    }
    Ok(())
}

/// Lower-cased copy of a command or option name, for messages.
pub fn lower(name: &Bytes) -> String {
    String::from_utf8_lossy(name).to_ascii_lowercase()
}
