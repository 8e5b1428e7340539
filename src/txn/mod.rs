//! Work that spans shards: one mechanism for every multi-key command (and, later, MULTI/EXEC).
//!
//! A `Txn` names the shards it touches. With one shard and one hop it is a plain job: no lock,
//! the same cost as any command. Otherwise it takes the shards' gates in ascending shard order
//! (so two transactions can never wait on each other in a cycle), running its first hop on
//! each shard as it gets there; later hops run on shards it already holds; `finish` releases
//! them. Until then no other job runs on those shards, so no client sees half of the work.
//!
//! Hop closures get the shard and its id, run on the owning core, and never wait on another
//! shard (the rule that keeps hops deadlock-free).

pub mod cores;
pub mod split;

use std::rc::Rc;
use std::sync::Arc;

pub use cores::{CoreCx, CoreMsg, Lock, Submitted, TxnId};

use crate::shard::{Shard, ShardId, shard_of};

pub struct Txn {
    core: Rc<CoreCx>,
    shards: Vec<ShardId>,
    id: TxnId,
    locking: bool,
    locked: bool,
    /// Runs inside an enclosing transaction (EXEC) that already holds the shards.
    nested: bool,
    /// Write records of the locked hops, pushed as one group at `finish` (R4).
    records: crate::shard::WriteRecords,
}

impl Txn {
    /// A transaction over `shards` (any order, duplicates allowed). `hops` is how many hops
    /// the caller will run: more than one needs locks even on a single shard.
    pub fn new(core: &Rc<CoreCx>, mut shards: Vec<ShardId>, hops: usize) -> Txn {
        shards.sort_unstable();
        shards.dedup();
        let locking = shards.len() > 1 || hops > 1;
        Txn {
            id: core.new_txn(),
            core: core.clone(),
            shards,
            locking,
            locked: false,
            nested: false,
            records: Default::default(),
        }
    }

    /// A transaction running inside `scope` (an EXEC that holds every shard it may touch):
    /// its hops use the held gates and `finish` leaves them held.
    pub fn within(core: &Rc<CoreCx>, scope: TxnId, mut shards: Vec<ShardId>) -> Txn {
        shards.sort_unstable();
        shards.dedup();
        Txn {
            id: scope,
            core: core.clone(),
            shards,
            locking: true,
            locked: true,
            nested: true,
            records: Default::default(),
        }
    }

    pub fn id(&self) -> TxnId {
        self.id
    }

    /// A transaction over every shard (FLUSHALL, KEYS, SWAPDB...).
    pub fn all(core: &Rc<CoreCx>, hops: usize) -> Txn {
        Txn::new(core, (0..core.shards).collect(), hops)
    }

    pub fn shards(&self) -> &[ShardId] {
        &self.shards
    }

    /// Runs `f` on every shard of the transaction; results come back in shard order.
    pub async fn hop<T, F>(&mut self, f: F) -> Vec<(ShardId, T)>
    where
        T: Send + 'static,
        F: Fn(&mut Shard) -> T + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let mut out = Vec::with_capacity(self.shards.len());
        if !self.locking {
            for &s in &self.shards {
                let f = f.clone();
                out.push((s, self.core.run_on(s, Lock::Pass, move |sh| f(sh)).await));
            }
        } else if !self.locked {
            // Ascending order, one shard at a time: the deadlock-free acquisition.
            self.locked = true;
            for &s in &self.shards {
                let f = f.clone();
                let (r, recs) = self
                    .core
                    .run_on(s, Lock::Acquire(self.id), move |sh| with_records(sh, &*f))
                    .await;
                self.records.extend(recs);
                out.push((s, r));
            }
        } else {
            let mut started = Vec::with_capacity(self.shards.len());
            for &s in &self.shards {
                let f = f.clone();
                started.push((
                    s,
                    self.core
                        .submit(s, Lock::Held(self.id), move |sh| with_records(sh, &*f))
                        .await,
                ));
            }
            for (s, job) in started {
                let (r, recs) = self.core.wait(job).await;
                self.records.extend(recs);
                out.push((s, r));
            }
        }
        out
    }

    /// Releases every shard the transaction holds.
    pub fn finish(mut self) {
        self.release_all();
    }

    fn release_all(&mut self) {
        let records = std::mem::take(&mut self.records);
        if self.nested {
            self.core.stash(self.id, records);
        } else if !records.is_empty() {
            // Before any shard is released, so nothing can slip in between (R4).
            self.core.push_group(records);
        }
        if self.locked && !self.nested {
            self.locked = false;
            for &s in &self.shards {
                self.core.release(s, self.id);
            }
        }
    }
}

impl Drop for Txn {
    fn drop(&mut self) {
        self.release_all();
    }
}

/// Runs a hop body and takes the records it wrote, so they travel with the result.
fn with_records<T>(shard: &mut Shard, f: &dyn Fn(&mut Shard) -> T) -> (T, crate::shard::WriteRecords) {
    let r = f(shard);
    (r, shard.log.drain())
}

/// The shards that own `keys`, each once, in ascending order (a transaction's shard set).
pub fn shards_of<K: AsRef<[u8]>>(keys: impl IntoIterator<Item = K>, shards: usize) -> Vec<ShardId> {
    let mut v: Vec<ShardId> = keys.into_iter().map(|k| shard_of(k.as_ref(), shards)).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Groups key positions by owning shard: `(shard, [indexes into keys])`, in shard order.
pub fn keys_by_shard<K: AsRef<[u8]>>(keys: &[K], shards: usize) -> Vec<(ShardId, Vec<usize>)> {
    let mut groups: Vec<(ShardId, Vec<usize>)> = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let s = shard_of(k.as_ref(), shards);
        match groups.iter_mut().find(|(g, _)| *g == s) {
            Some((_, v)) => v.push(i),
            None => groups.push((s, vec![i])),
        }
    }
    groups.sort_unstable_by_key(|(s, _)| *s);
    groups
}
