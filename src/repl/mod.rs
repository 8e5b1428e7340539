//! Replication, master side: one ordered stream with global offsets (R1-R7).
//!
//! Shards push their write records through the `Sequencer`; the coordinator thread merges
//! them by GSN into RESP bytes (adding SELECT when the db changes, MULTI/EXEC around atomic
//! groups), appends them to the backlog and hands the same chunk to every replica's writer. A
//! replica connection is taken over from its core by two plain threads (writer, ACK reader).

pub mod backlog;
pub mod coordinator;
pub mod full_sync;
pub mod link;
pub mod replica;
pub mod replica_link;
pub mod sequencer;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_channel::Sender;

pub use backlog::Backlog;
pub use link::ReplicaLink;
pub use sequencer::Sequencer;

/// Messages to the coordinator thread.
pub enum Ctl {
    /// Emit every batch below `upto`, register `links` to receive the stream from there, and
    /// answer the offset at that point (the cut of a full sync, R6).
    FullSync {
        upto: u64,
        links: Vec<Arc<ReplicaLink>>,
        reply: Sender<i64>,
    },
}

/// What the stream, the backlog and the replicas share, behind one lock taken by the
/// coordinator per emitted chunk and by PSYNC / INFO.
pub struct ReplInner {
    pub replid: String,
    pub replid2: String,
    pub second_offset: i64,
    pub backlog: Option<Backlog>,
    pub replicas: Vec<Arc<ReplicaLink>>,
    /// Replicas between their PSYNC and their full-sync cut (INFO lists them as wait_bgsave).
    pub waiting: Vec<Arc<ReplicaLink>>,
    /// Last db named by SELECT in the stream (-1: next write gets a SELECT).
    pub last_db: i64,
}

pub struct ReplState {
    pub seq: Sequencer,
    /// `master_repl_offset`: stream bytes produced under the current replid.
    pub offset: AtomicI64,
    inner: Mutex<ReplInner>,
    ctl: Sender<Ctl>,
    /// Replica side: the master we follow, if any (`replica`).
    pub replica: replica::Shared,
    /// Every batch with a GSN below this is in the stream (WAIT waits for it).
    pub published: std::sync::atomic::AtomicU64,
    /// INFO stats: full syncs served, partial resyncs accepted and refused.
    pub sync_full: std::sync::atomic::AtomicU64,
    pub sync_partial_ok: std::sync::atomic::AtomicU64,
    pub sync_partial_err: std::sync::atomic::AtomicU64,
    /// Replicas waiting for a full-sync snapshot.
    pub full_syncs: Mutex<full_sync::Queue>,
}

impl ReplState {
    pub fn lock(&self) -> MutexGuard<'_, ReplInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn master_offset(&self) -> i64 {
        self.offset.load(Ordering::SeqCst)
    }

    pub fn send(&self, msg: Ctl) {
        let _ = self.ctl.send(msg);
    }

    /// Replicas that are online and whose last ACK is at most `max_lag` seconds old.
    pub fn good_replicas(&self, max_lag_s: u64) -> usize {
        let now = crate::shard::unix_ms();
        self.lock()
            .replicas
            .iter()
            .filter(|r| r.is_online() && now.saturating_sub(r.last_ack_ms()) <= max_lag_s * 1000)
            .count()
    }
}

/// INFO stats `total_net_repl_output_bytes`: bytes sent to replicas (snapshots and the
/// stream), added by the link threads. One server runs per process.
pub static NET_OUTPUT_BYTES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// INFO stats `total_net_repl_input_bytes`: bytes read from the master, as a replica.
pub static NET_INPUT_BYTES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Stream bytes queued for the slowest replica (the chunks are shared, so the slowest link
/// holds them all), as of the coordinator's last round. Not counted against `maxmemory`, as
/// redis-server does not count replica output buffers: otherwise a slow replica would make
/// the master evict, and every eviction's DEL would queue more for it.
pub static BUFFERED_FOR_REPLICAS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub fn buffered_for_replicas() -> u64 {
    BUFFERED_FOR_REPLICAS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Adds `n` bytes to one of the replication byte counters.
pub fn count_bytes(counter: &std::sync::atomic::AtomicU64, n: usize) {
    counter.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
}

/// Creates the replication state and starts the coordinator thread.
pub fn start(cores: usize, state: Arc<crate::server::ServerState>) -> Arc<ReplState> {
    let (seq, queues) = Sequencer::new(cores);
    let (ctl_tx, ctl_rx) = crossbeam_channel::unbounded();
    let repl = Arc::new(ReplState {
        seq,
        offset: AtomicI64::new(0),
        published: std::sync::atomic::AtomicU64::new(0),
        sync_full: std::sync::atomic::AtomicU64::new(0),
        sync_partial_ok: std::sync::atomic::AtomicU64::new(0),
        sync_partial_err: std::sync::atomic::AtomicU64::new(0),
        full_syncs: Mutex::default(),
        inner: Mutex::new(ReplInner {
            replid: crate::server::random_hex40(),
            replid2: "0".repeat(40),
            second_offset: -1,
            backlog: None,
            replicas: Vec::new(),
            waiting: Vec::new(),
            last_db: -1,
        }),
        ctl: ctl_tx,
        replica: Default::default(),
    });
    let r = repl.clone();
    crate::runtime::spawn_thread("shoal-coordinator", move || coordinator::run(r, queues, ctl_rx, state))
        .expect("start the coordinator thread");
    repl
}
