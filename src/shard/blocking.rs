//! Clients blocked on keys of this shard (BLPOP, BLMOVE, BLMPOP... and any later blocking
//! family), and the serving of them when a key becomes ready.
//!
//! A blocked client registers one `Waiter` per key on the shard owning the key, all sharing
//! one claim flag. Whoever flips the flag first wins: a shard serving the client, or the
//! client itself timing out. So a client waiting on keys of several shards is served at most
//! once, and one that timed out is never served.
//!
//! A write that could satisfy a waiter calls `signal` (a single empty-map check when nobody
//! waits). The core runs `serve_ready` after the job that signalled, once no transaction holds
//! the shard, so a served pop never lands inside another command's atomic group (R4). Waiters
//! of one key are served first come, first served, as Redis does. Replies leave through the
//! `outbox`: the shard has no channels; its core delivers them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hashbrown::{Equivalent, HashMap};

use super::{Shard, ShardCx, ShardId};

/// What a blocked client does when one of its keys can serve it.
pub trait BlockedOp: Send + Sync {
    /// Whether `key` (in the cx's db) can serve the client now.
    fn ready(&self, cx: &mut ShardCx, key: &[u8]) -> bool;
    /// Serves the client from `key` (only called after `ready` and a won claim): performs
    /// the write, emits it, and says what the client gets.
    fn serve(&self, cx: &mut ShardCx, key: &[u8]) -> Delivery;
}

/// The outcome of serving a blocked client.
pub enum Delivery {
    /// Encoded reply bytes for the client.
    Reply(Vec<u8>),
    /// Nothing was taken: the client should retry its command itself now (work that spans
    /// shards, such as BLMOVE to a destination on another shard).
    Wake,
}

/// One blocked client on one key.
#[derive(Clone)]
pub struct Waiter {
    /// The core the client's connection lives on, and the ticket it waits on there.
    pub core: ShardId,
    pub ticket: u64,
    pub claim: Arc<AtomicBool>,
    pub op: Arc<dyn BlockedOp>,
}

/// A served client's result on its way to the client's core.
pub struct Served {
    pub core: ShardId,
    pub ticket: u64,
    /// `None` for a wake-up (retry), else the reply bytes.
    pub reply: Option<Vec<u8>>,
}

#[derive(Hash, PartialEq, Eq, Clone)]
struct WaitKey {
    db: usize,
    key: Box<[u8]>,
}

/// A borrowed `WaitKey` (hashes identically: the same fields in the same order).
#[derive(Hash)]
struct WaitKeyRef<'a> {
    db: usize,
    key: &'a [u8],
}

impl Equivalent<WaitKey> for WaitKeyRef<'_> {
    fn equivalent(&self, k: &WaitKey) -> bool {
        self.db == k.db && *self.key == *k.key
    }
}

/// The shard's registry of blocked clients.
#[derive(Default)]
pub struct Blocking {
    waiters: HashMap<WaitKey, VecDeque<Waiter>>,
    /// Keys written since the last serve that have waiters, in signal order.
    ready: Vec<WaitKey>,
    /// Results for the core to deliver.
    pub outbox: Vec<Served>,
}

impl Blocking {
    /// Queues a blocked client on `key` of `db`.
    pub fn register(&mut self, db: usize, key: &[u8], w: Waiter) {
        self.waiters
            .entry(WaitKey { db, key: key.into() })
            .or_default()
            .push_back(w);
    }

    /// Drops the waiters of client (`core`, `ticket`) on the given keys.
    pub fn unregister(&mut self, db: usize, keys: &[impl AsRef<[u8]>], core: ShardId, ticket: u64) {
        for k in keys {
            let r = WaitKeyRef { db, key: k.as_ref() };
            if let Some(q) = self.waiters.get_mut(&r) {
                q.retain(|w| !(w.core == core && w.ticket == ticket));
                if q.is_empty() {
                    self.waiters.remove(&r);
                }
            }
        }
    }

    /// Notes that `key` of `db` was written and may serve a waiter.
    #[inline]
    pub fn signal(&mut self, db: usize, key: &[u8]) {
        if self.waiters.is_empty() {
            return;
        }
        let r = WaitKeyRef { db, key };
        if self.waiters.contains_key(&r) && !self.ready.iter().any(|k| r.equivalent(k)) {
            self.ready.push(WaitKey { db, key: key.into() });
        }
    }

    /// True when some client blocks on a key of this shard.
    #[inline]
    pub fn has_waiters(&self) -> bool {
        !self.waiters.is_empty()
    }

    /// True when the core has serving or delivering to do after a job.
    #[inline]
    pub fn has_work(&self) -> bool {
        !self.ready.is_empty() || !self.outbox.is_empty()
    }

    /// How many clients wait on this shard (one per key they wait on).
    pub fn waiting(&self) -> usize {
        self.waiters.values().map(|q| q.len()).sum()
    }
}

/// Serves the waiters of every ready key, in FIFO order per key, until each key is drained
/// or out of waiters. Results go to `shard.blocking.outbox`.
pub fn serve_ready(shard: &mut Shard, now_ms: u64) {
    let mut i = 0;
    // Serving may signal more keys (BLMOVE pushing to a key others wait on): loop until none.
    while i < shard.blocking.ready.len() {
        let wk = shard.blocking.ready[i].clone();
        i += 1;
        serve_key(shard, &wk, now_ms);
    }
    shard.blocking.ready.clear();
}

fn serve_key(shard: &mut Shard, wk: &WaitKey, now_ms: u64) {
    loop {
        let Some(q) = shard.blocking.waiters.get_mut(wk) else {
            return;
        };
        let Some(w) = q.pop_front() else {
            shard.blocking.waiters.remove(wk);
            return;
        };
        if w.claim.load(Ordering::Acquire) {
            continue; // served elsewhere or timed out
        }
        let mut cx = ShardCx::new(shard, wk.db, now_ms);
        if !w.op.ready(&mut cx, &wk.key) {
            if let Some(q) = shard.blocking.waiters.get_mut(wk) {
                q.push_front(w);
            } else {
                shard.blocking.register(wk.db, &wk.key, w);
            }
            return;
        }
        if w.claim
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            continue;
        }
        let reply = match w.op.serve(&mut cx, &wk.key) {
            Delivery::Reply(bytes) => Some(bytes),
            Delivery::Wake => None,
        };
        let woke = reply.is_none();
        shard.blocking.outbox.push(Served {
            core: w.core,
            ticket: w.ticket,
            reply,
        });
        if woke {
            // The woken client retries on its own; the next waiter gets its turn on the next
            // write (the retry signals the key again when elements remain).
            return;
        }
    }
}
