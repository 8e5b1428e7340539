//! Global ordering of the shards' write records (R1-R4).
//!
//! Each shard job that wrote something pushes its records as one batch, stamped with a global
//! sequence number (GSN) from one shared counter, onto its core's own queue. The coordinator
//! merges the queues by GSN. It may emit GSN `g` only when no core can still push a smaller one:
//! a core announces, before it takes a GSN, a lower bound of what it will take (`pending`), and
//! clears it after the push. The coordinator reads the counter first, then every `pending`, so
//! any batch not yet visible has a GSN at least the minimum of those.
//!
//! A batch is contiguous in the stream by construction (one GSN), which is how cross-shard
//! transactions and EXEC stay atomic (R4): their records are gathered and pushed as one batch.
//! With replication off, `push` is one relaxed load and a branch.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_channel::{Receiver, Sender, unbounded};

use crate::shard::WriteRecords;

/// Records of one job, in order; `group` asks for MULTI/EXEC around them.
pub struct Batch {
    pub gsn: u64,
    pub records: WriteRecords,
    pub group: bool,
}

#[repr(align(128))]
struct Pending(AtomicU64);

pub struct Sequencer {
    enabled: AtomicBool,
    counter: AtomicU64,
    pending: Vec<Pending>,
    queues: Vec<Sender<Batch>>,
}

impl Sequencer {
    /// A sequencer for `cores` cores, and the receiving ends for the coordinator.
    pub fn new(cores: usize) -> (Sequencer, Vec<Receiver<Batch>>) {
        let (tx, rx): (Vec<_>, Vec<_>) = (0..cores).map(|_| unbounded()).unzip();
        let seq = Sequencer {
            enabled: AtomicBool::new(false),
            counter: AtomicU64::new(1),
            pending: (0..cores).map(|_| Pending(AtomicU64::new(u64::MAX))).collect(),
            queues: tx,
        };
        (seq, rx)
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    pub fn enable(&self) {
        self.enabled.store(true, Ordering::SeqCst);
    }

    /// Stops generating the stream (the server became a replica: it relays its master's).
    pub fn disable(&self) {
        self.enabled.store(false, Ordering::SeqCst);
    }

    /// Stamps `records` with the next GSN and queues them for the coordinator.
    pub fn push(&self, core: usize, records: WriteRecords, group: bool) {
        if records.is_empty() || !self.is_enabled() {
            return;
        }
        let slot = &self.pending[core].0;
        slot.store(self.counter.load(Ordering::SeqCst), Ordering::SeqCst);
        let gsn = self.counter.fetch_add(1, Ordering::SeqCst);
        let _ = self.queues[core].send(Batch { gsn, records, group });
        slot.store(u64::MAX, Ordering::SeqCst);
    }

    /// The GSN below which every batch is already queued (see the module comment).
    pub fn safe_bound(&self) -> u64 {
        let c = self.counter.load(Ordering::SeqCst);
        self.pending
            .iter()
            .map(|p| p.0.load(Ordering::SeqCst))
            .fold(c, u64::min)
    }

    /// The next GSN to be handed out (a barrier: everything before it is pushed once no core
    /// is pending).
    pub fn next_gsn(&self) -> u64 {
        self.counter.load(Ordering::SeqCst)
    }
}
