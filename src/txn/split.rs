//! Variadic-key commands (DEL, EXISTS, MGET, MSET...) whose keys live on several shards.
//!
//! Each shard runs the family's own handler on a sub-command holding only its keys (and the
//! arguments that follow each key, like MSET's values), inside one locked hop, so the command
//! stays atomic; the per-shard replies are merged as the command table says.

use std::sync::Arc;

use hashbrown::HashMap;

use crate::command::{CmdError, CommandSpec, ConnCx, Merge, ShardHandler, run_on_shard};
use crate::resp::Arg;
use crate::resp::Out;
use crate::resp::scan::array_items;
use crate::shard::{ShardCx, ShardId, shard_of, unix_ms};

/// One split command, planned: its sub-command per shard and where each shard's keys sit in
/// the original key order.
pub struct SplitPlan {
    handler: ShardHandler,
    merge: Merge,
    nkeys: usize,
    /// Per shard the command touches (a handful): its sub-command and its keys' orders.
    parts: Vec<Part>,
}

struct Part {
    shard: ShardId,
    sub: Vec<Arg>,
    orders: Vec<usize>,
}

impl SplitPlan {
    pub fn new(spec: &'static CommandSpec, handler: ShardHandler, merge: Merge, argv: &[Arg], shards: usize) -> Self {
        let step = spec.keys.step.max(1) as usize;
        let positions: Vec<usize> = spec.keys.positions(argv.len()).collect();
        let first = positions.first().copied().unwrap_or(argv.len());
        let mut parts: Vec<Part> = Vec::new();
        let mut tail_start = argv.len();
        for (order, &p) in positions.iter().enumerate() {
            let s = shard_of(&argv[p], shards);
            let part = match parts.iter().position(|part| part.shard == s) {
                Some(at) => &mut parts[at],
                None => {
                    parts.push(Part {
                        shard: s,
                        sub: argv[..first].to_vec(),
                        orders: Vec::new(),
                    });
                    parts.last_mut().expect("just pushed")
                }
            };
            let end = (p + step).min(argv.len());
            part.sub.extend_from_slice(&argv[p..end]);
            part.orders.push(order);
            tail_start = end;
        }
        for part in &mut parts {
            part.sub.extend_from_slice(&argv[tail_start..]);
        }
        SplitPlan {
            handler,
            merge,
            nkeys: positions.len(),
            parts,
        }
    }
}

/// Runs consecutive split commands of one pipeline atomically, then writes their merged
/// replies in order. Inside EXEC they run at once under the held gates. Otherwise they join
/// this core's next combined round (`combiner`): one transaction over the union of the shards
/// of every connection's waiting batch, so a core pays one lock round per round instead of one
/// per connection. Each command stays atomic, and so does each batch.
pub async fn run_splits(cx: &mut ConnCx, plans: Vec<SplitPlan>) {
    if plans.is_empty() {
        return;
    }
    let batch = SplitBatch {
        db: cx.session.db,
        proto: cx.out.proto(),
        plans,
    };
    let replies = match cx.scope {
        Some(_) => {
            let txn = cx.txn(batch.shards(), 1);
            run_batches(txn, vec![batch]).await.pop().unwrap_or_default()
        }
        None => combiner::join(&cx.core, batch).await,
    };
    cx.out.raw(&replies);
}

/// One connection's consecutive split commands, with what their replies need.
struct SplitBatch {
    db: usize,
    proto: crate::resp::Proto,
    plans: Vec<SplitPlan>,
}

impl SplitBatch {
    fn shards(&self) -> Vec<ShardId> {
        self.plans
            .iter()
            .flat_map(|p| p.parts.iter().map(|part| part.shard))
            .collect()
    }
}

/// Runs `batches` in one hop of `txn` (which covers all their shards), then finishes it.
/// Returns each batch's merged replies, in order.
async fn run_batches(mut txn: crate::txn::Txn, batches: Vec<SplitBatch>) -> Vec<Vec<u8>> {
    // What each shard runs: (batch, plan, db, proto, handler, sub-command), in order.
    type Work = Vec<(usize, usize, usize, crate::resp::Proto, ShardHandler, Vec<Arg>)>;
    let mut work: HashMap<ShardId, Work> = HashMap::new();
    for (b, batch) in batches.iter().enumerate() {
        for (i, p) in batch.plans.iter().enumerate() {
            for part in &p.parts {
                work.entry(part.shard)
                    .or_default()
                    .push((b, i, batch.db, batch.proto, p.handler, part.sub.clone()));
            }
        }
    }
    let work = Arc::new(work);
    let replies = txn
        .hop(move |shard| {
            let mut out: Vec<(usize, usize, Vec<u8>)> = Vec::new();
            if let Some(items) = work.get(&shard.id) {
                let now = unix_ms();
                for (b, i, db, proto, h, sub) in items {
                    let mut scx = ShardCx::new(shard, *db, now);
                    let mut o = Out::new(*proto);
                    run_on_shard(&mut scx, *h, sub, &mut o);
                    out.push((*b, *i, o.take()));
                }
            }
            out
        })
        .await;
    txn.finish();
    // Each plan's replies, found in one pass: plan (b, i) sits at firsts[b] + i.
    let firsts: Vec<usize> = batches
        .iter()
        .scan(0, |next, batch| {
            let first = *next;
            *next += batch.plans.len();
            Some(first)
        })
        .collect();
    let total = batches.iter().map(|b| b.plans.len()).sum();
    let mut per_plan: Vec<Vec<(ShardId, &[u8])>> = (0..total).map(|_| Vec::new()).collect();
    for (s, rs) in &replies {
        for (b, i, r) in rs {
            per_plan[firsts[*b] + i].push((*s, r.as_slice()));
        }
    }
    let mut per_plan = per_plan.into_iter();
    batches
        .iter()
        .map(|batch| {
            let mut out = Out::new(batch.proto);
            for (plan, mine) in batch.plans.iter().zip(per_plan.by_ref()) {
                merge_replies(plan.merge, plan.nkeys, &mine, &plan.parts, &mut out);
            }
            out.take()
        })
        .collect()
}

/// Combining of split batches per core: a connection queues its batch and waits; one task per
/// core takes everything queued, runs it as one transaction, hands each connection its
/// replies, and goes again while more is queued. A connection that goes away leaves its
/// batch to run (it was received) and its replies unread.
mod combiner {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::task::{Poll, Waker};

    use super::{SplitBatch, run_batches};
    use crate::txn::{CoreCx, Txn};

    /// Where a waiting connection's replies arrive.
    #[derive(Default)]
    struct Slot {
        replies: Option<Vec<u8>>,
        waker: Option<Waker>,
    }

    #[derive(Default)]
    struct Queue {
        waiting: Vec<(SplitBatch, Rc<RefCell<Slot>>)>,
        /// The round task is alive (it drains `waiting` before it ends).
        running: bool,
    }

    thread_local! {
        static QUEUE: RefCell<Queue> = RefCell::new(Queue::default());
    }

    /// Queues `batch` for the core's next round and waits for its replies.
    pub(super) async fn join(core: &Rc<CoreCx>, batch: SplitBatch) -> Vec<u8> {
        let slot = Rc::new(RefCell::new(Slot::default()));
        let start = QUEUE.with(|q| {
            let mut q = q.borrow_mut();
            q.waiting.push((batch, slot.clone()));
            !std::mem::replace(&mut q.running, true)
        });
        if start {
            crate::runtime::spawn(rounds(core.clone()));
        }
        std::future::poll_fn(|cx| {
            let mut s = slot.borrow_mut();
            match s.replies.take() {
                Some(r) => Poll::Ready(r),
                None => {
                    s.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Runs rounds until nothing is queued.
    async fn rounds(core: Rc<CoreCx>) {
        loop {
            let round = QUEUE.with(|q| {
                let mut q = q.borrow_mut();
                let round = std::mem::take(&mut q.waiting);
                q.running = !round.is_empty();
                round
            });
            if round.is_empty() {
                return;
            }
            let (batches, slots): (Vec<SplitBatch>, Vec<_>) = round.into_iter().unzip();
            let shards = batches.iter().flat_map(SplitBatch::shards).collect();
            let replies = run_batches(Txn::new(&core, shards, 1), batches).await;
            for (slot, r) in slots.into_iter().zip(replies) {
                let mut s = slot.borrow_mut();
                s.replies = Some(r);
                if let Some(w) = s.waker.take() {
                    w.wake();
                }
            }
        }
    }
}

fn merge_replies(merge: Merge, nkeys: usize, replies: &[(ShardId, &[u8])], parts: &[Part], out: &mut Out) {
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
                let Some(part) = parts.iter().find(|p| p.shard == *s) else {
                    continue;
                };
                for (item, &order) in items.into_iter().zip(&part.orders) {
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
