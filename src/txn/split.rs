//! Variadic-key commands (DEL, EXISTS, MGET, MSET...) whose keys live on several shards.
//!
//! Each shard runs the family's own handler on a sub-command holding only its keys (and the
//! arguments that follow each key, like MSET's values), inside one locked hop, so the command
//! stays atomic; the per-shard replies are merged as the command table says.

use std::sync::Arc;

use bytes::Bytes;
use hashbrown::HashMap;

use crate::command::{CmdError, CommandSpec, ConnCx, Merge, ShardHandler, run_on_shard};
use crate::resp::scan::array_items;
use crate::resp::Out;
use crate::shard::{ShardCx, ShardId, shard_of, unix_ms};

/// Runs a split command and writes the merged reply to `out`.
pub async fn run_split(cx: &mut ConnCx, spec: &'static CommandSpec, handler: ShardHandler, merge: Merge, argv: Vec<Bytes>) {
    let core = cx.core.clone();
    let db = cx.session.db;
    let step = spec.keys.step.max(1) as usize;
    let positions: Vec<usize> = spec.keys.positions(argv.len()).collect();
    let first = positions.first().copied().unwrap_or(argv.len());
    let tail_start = positions.last().map_or(argv.len(), |&p| (p + step).min(argv.len()));

    // Sub-commands per shard, and for each shard the original key order of its keys.
    let mut subs: HashMap<ShardId, (Vec<Bytes>, Vec<usize>)> = HashMap::new();
    for (order, &p) in positions.iter().enumerate() {
        let s = shard_of(&argv[p], core.shards);
        let (sub, orders) = subs.entry(s).or_insert_with(|| (argv[..first].to_vec(), Vec::new()));
        sub.extend_from_slice(&argv[p..(p + step).min(argv.len())]);
        orders.push(order);
    }
    for (sub, _) in subs.values_mut() {
        sub.extend_from_slice(&argv[tail_start..]);
    }
    let shard_list: Vec<ShardId> = subs.keys().copied().collect();
    let orders: HashMap<ShardId, Vec<usize>> = subs.iter().map(|(s, (_, o))| (*s, o.clone())).collect();
    let subs: Arc<HashMap<ShardId, Vec<Bytes>>> = Arc::new(subs.into_iter().map(|(s, (a, _))| (s, a)).collect());

    let proto = cx.out.proto();
    let mut txn = cx.txn(shard_list, 1);
    let replies = txn
        .hop(move |shard| {
            let now = unix_ms();
            let mut o = Out::new(proto);
            if let Some(sub) = subs.get(&shard.id) {
                let mut cx = ShardCx::new(shard, db, now);
                run_on_shard(&mut cx, handler, sub, &mut o);
            }
            o.take()
        })
        .await;
    txn.finish();
    merge_replies(merge, positions.len(), &replies, &orders, &mut cx.out);
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
