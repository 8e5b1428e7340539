//! Per-core counters for INFO. Each core writes only its own cache-line-aligned slot, so the
//! counters cost an uncontended relaxed add; INFO sums the slots.

use std::sync::atomic::{AtomicU64, Ordering};

#[repr(align(128))]
#[derive(Default)]
pub struct CoreCounters {
    pub connections_received: AtomicU64,
    pub connected_clients: AtomicU64,
    pub commands_processed: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub expired_keys: AtomicU64,
    pub keyspace_hits: AtomicU64,
    pub keyspace_misses: AtomicU64,
}

impl CoreCounters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Ordering::Relaxed);
    }
}

/// Sums one counter over all cores.
pub fn total(cores: &[CoreCounters], pick: impl Fn(&CoreCounters) -> &AtomicU64) -> u64 {
    cores.iter().map(|c| pick(c).load(Ordering::Relaxed)).sum()
}
