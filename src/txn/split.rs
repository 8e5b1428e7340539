//! Variadic-key commands (DEL, EXISTS, MGET, MSET...) whose keys live on several shards.
//!
//! Each shard runs the family's own handler on a sub-command holding only its keys (and the
//! arguments that follow each key, like MSET's values), inside one locked hop, so the command
//! stays atomic; the per-shard replies are merged as the command table says.

use std::sync::Arc;

use bytes::Bytes;
use hashbrown::HashMap;

use crate::command::{CmdError, CommandSpec, ConnCx, Merge, ShardHandler, run_on_shard};
use crate::resp::Out;
use crate::resp::scan::array_items;
use crate::shard::{ShardCx, ShardId, shard_of, unix_ms};

/// One split command, planned: its sub-command per shard and where each shard's keys sit in
/// the original key order.
pub struct SplitPlan {
    handler: ShardHandler,
    merge: Merge,
    nkeys: usize,
    subs: HashMap<ShardId, Vec<Bytes>>,
    orders: HashMap<ShardId, Vec<usize>>,
}

impl SplitPlan {
    pub fn new(spec: &'static CommandSpec, handler: ShardHandler, merge: Merge, argv: &[Bytes], shards: usize) -> Self {
        let step = spec.keys.step.max(1) as usize;
        let positions: Vec<usize> = spec.keys.positions(argv.len()).collect();
        let first = positions.first().copied().unwrap_or(argv.len());
        let tail_start = positions.last().map_or(argv.len(), |&p| (p + step).min(argv.len()));
        let mut subs: HashMap<ShardId, Vec<Bytes>> = HashMap::new();
        let mut orders: HashMap<ShardId, Vec<usize>> = HashMap::new();
        for (order, &p) in positions.iter().enumerate() {
            let s = shard_of(&argv[p], shards);
            subs.entry(s)
                .or_insert_with(|| argv[..first].to_vec())
                .extend_from_slice(&argv[p..(p + step).min(argv.len())]);
            orders.entry(s).or_default().push(order);
        }
        for sub in subs.values_mut() {
            sub.extend_from_slice(&argv[tail_start..]);
        }
        SplitPlan {
            handler,
            merge,
            nkeys: positions.len(),
            subs,
            orders,
        }
    }
}

/// Runs consecutive split commands of one pipeline under ONE transaction over the union of
/// their shards (one lock round per batch instead of per command; each command stays atomic,
/// and so does the batch), then writes their merged replies in order.
pub async fn run_splits(cx: &mut ConnCx, plans: Vec<SplitPlan>) {
    if plans.is_empty() {
        return;
    }
    let db = cx.session.db;
    let proto = cx.out.proto();
    let mut shard_list: Vec<ShardId> = plans.iter().flat_map(|p| p.subs.keys().copied()).collect();
    shard_list.sort_unstable();
    shard_list.dedup();
    // What each shard runs: (plan index, handler, sub-command), in pipeline order.
    let mut work: HashMap<ShardId, Vec<(usize, ShardHandler, Vec<Bytes>)>> = HashMap::new();
    for (i, p) in plans.iter().enumerate() {
        for (s, sub) in &p.subs {
            work.entry(*s).or_default().push((i, p.handler, sub.clone()));
        }
    }
    let work = Arc::new(work);
    let mut txn = cx.txn(shard_list, 1);
    let replies = txn
        .hop(move |shard| {
            let mut out: Vec<(usize, Vec<u8>)> = Vec::new();
            if let Some(items) = work.get(&shard.id) {
                let mut scx = ShardCx::new(shard, db, unix_ms());
                for (i, h, sub) in items {
                    let mut o = Out::new(proto);
                    run_on_shard(&mut scx, *h, sub, &mut o);
                    out.push((*i, o.take()));
                }
            }
            out
        })
        .await;
    txn.finish();
    for (i, plan) in plans.iter().enumerate() {
        let mine: Vec<(ShardId, Vec<u8>)> = replies
            .iter()
            .flat_map(|(s, rs)| rs.iter().filter(|(j, _)| *j == i).map(move |(_, r)| (*s, r.clone())))
            .collect();
        merge_replies(plan.merge, plan.nkeys, &mine, &plan.orders, &mut cx.out);
    }
}

fn merge_replies(
    merge: Merge,
    nkeys: usize,
    replies: &[(ShardId, Vec<u8>)],
    orders: &HashMap<ShardId, Vec<usize>>,
    out: &mut Out,
) {
    if let Some((_, err)) = replies.iter().find(|(_, r)| r.first() == Some(&b'-')) {
        out.raw(err);
        return;
    }
    match merge {
        Merge::SumInts => {
            let total: i64 = replies
                .iter()
                .filter_map(|(_, r)| {
                    std::str::from_utf8(r.get(1..r.len().saturating_sub(2))?)
                        .ok()?
                        .parse::<i64>()
                        .ok()
                })
                .sum();
            out.int(total);
        }
        Merge::AllOk => out.ok(),
        Merge::KeyOrderArray => {
            let mut slots: Vec<&[u8]> = vec![b"$-1\r\n"; nkeys];
            for (s, r) in replies {
                let Some(items) = array_items(r) else { continue };
                for (item, &order) in items.into_iter().zip(&orders[s]) {
                    slots[order] = item;
                }
            }
            out.array(nkeys);
            for item in slots {
                out.raw(item);
            }
        }
    }
}

/// Checks that a split command's key/argument layout is whole (MSET needs pairs).
pub fn check_layout(spec: &CommandSpec, argc: usize) -> Result<(), CmdError> {
    let step = spec.keys.step.max(1) as usize;
    if step > 1 && spec.keys.last == -1 && !(argc - spec.keys.first as usize).is_multiple_of(step) {
        return Err(CmdError::WrongArity(spec.name.to_string()));
    }
    Ok(())
}
