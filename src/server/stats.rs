//! Per-core counters for INFO. Each core writes only its own cache-line-aligned slot, from its
//! own thread, so an update is a plain load and store (no locked instruction); INFO sums the
//! slots.

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
    /// Socket reads that returned (data, end of stream or error) and reply writes.
    pub reads_processed: AtomicU64,
    pub writes_processed: AtomicU64,
}

impl CoreCounters {
    /// Adds `n` to a counter of this core's own slot. Only the owning core's thread may call
    /// it (every caller runs on that core): with one writer, a load and a store lose nothing,
    /// where a `fetch_add` would cost a locked instruction per command.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.store(counter.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// Subtracts `n`; the same single-writer rule as [`CoreCounters::add`].
    pub fn sub(counter: &AtomicU64, n: u64) {
        counter.store(counter.load(Ordering::Relaxed).wrapping_sub(n), Ordering::Relaxed);
    }

    /// CONFIG RESETSTAT: zeroes the cumulative counters (not the connected-clients gauge).
    /// Runs on the owning core, like every other write.
    pub fn reset(&self) {
        for c in [
            &self.connections_received,
            &self.commands_processed,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.rejected_connections,
            &self.reads_processed,
            &self.writes_processed,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// Sums one counter over all cores.
pub fn total(cores: &[CoreCounters], pick: impl Fn(&CoreCounters) -> &AtomicU64) -> u64 {
    cores.iter().map(|c| pick(c).load(Ordering::Relaxed)).sum()
}
