//! The coordinator thread: merges the shards' batches by GSN into the replication stream.
//!
//! Each round it takes the safe bound from the sequencer, drains every core's queue into a
//! min-heap, and emits the batches below the bound in GSN order: SELECT when the db changes,
//! MULTI/EXEC around a group of several records. The chunk goes to the backlog and to every
//! replica under the state lock, so a PSYNC that reads the backlog and registers a replica in
//! the same lock can never miss or repeat a byte (R6, R7).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select};

use super::sequencer::Batch;
use super::{Ctl, ReplInner, ReplState};
use crate::server::ServerState;
use crate::shard::writelog::encode_command;

/// Heap entries ordered by GSN only (public for the merge benchmark).
pub struct ByGsn(pub Batch);

impl PartialEq for ByGsn {
    fn eq(&self, o: &Self) -> bool {
        self.0.gsn == o.0.gsn
    }
}
impl Eq for ByGsn {}
impl PartialOrd for ByGsn {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for ByGsn {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.gsn.cmp(&o.0.gsn)
    }
}

const MULTI_RECORD: &[u8] = b"*1\r\n$5\r\nMULTI\r\n";
const EXEC_RECORD: &[u8] = b"*1\r\n$4\r\nEXEC\r\n";

/// Appends one batch to `out` as stream bytes.
fn encode_batch(inner: &mut ReplInner, batch: &Batch, out: &mut Vec<u8>) {
    let wrap = batch.group && batch.records.len() > 1;
    if wrap {
        // As Redis does, a needed SELECT goes before MULTI (the group's first db).
        if let Some(r) = batch.records.iter().find(|r| r.db != crate::shard::NO_DB)
            && inner.last_db != r.db as i64
        {
            encode_command(out, &[b"SELECT", r.db.to_string().as_bytes()]);
            inner.last_db = r.db as i64;
        }
        encode_command(out, &[b"MULTI"]);
    }
    for r in batch.records.iter() {
        // A command's own MULTI/EXEC (SPOP with a count) is dropped inside a wrapped group:
        // the group's MULTI/EXEC already makes it atomic, and they cannot nest.
        if wrap && (r.resp == MULTI_RECORD || r.resp == EXEC_RECORD) {
            continue;
        }
        if r.db != crate::shard::NO_DB && inner.last_db != r.db as i64 {
            let db = r.db.to_string();
            encode_command(out, &[b"SELECT", db.as_bytes()]);
            inner.last_db = r.db as i64;
        }
        out.extend_from_slice(r.resp);
    }
    if wrap {
        encode_command(out, &[b"EXEC"]);
    }
}

/// `repl-backlog-ttl`: a master that has had no replica for that many seconds frees its
/// backlog and stops the stream; like redis-server it takes a new replication id, since the
/// history it could continue is gone. 0 keeps the backlog forever; a replica never frees it.
fn free_idle_backlog(repl: &ReplState, inner: &mut ReplInner, since: &mut Option<Instant>, state: &ServerState) {
    let attached = inner.replicas.iter().chain(&inner.waiting).any(|r| r.is_alive());
    if attached || inner.backlog.is_none() || repl.replica.is_active() {
        *since = None;
        return;
    }
    let ttl = state.config().repl_backlog_ttl;
    let idle = since.get_or_insert_with(Instant::now).elapsed();
    if ttl == 0 || idle < Duration::from_secs(ttl) {
        return;
    }
    inner.backlog = None;
    inner.replid = crate::server::random_hex40();
    inner.replid2 = "0".repeat(40);
    inner.second_offset = -1;
    repl.seq.disable();
    *since = None;
    crate::server::log::notice(&format!(
        "Replication backlog freed: no replica for {ttl} seconds (repl-backlog-ttl)."
    ));
}

/// Publishes `chunk` to the backlog and to every live replica.
pub(crate) fn publish(repl: &ReplState, inner: &mut ReplInner, chunk: Vec<u8>) {
    if chunk.is_empty() {
        return;
    }
    if let Some(b) = inner.backlog.as_mut() {
        b.append(&chunk);
    }
    repl.offset
        .fetch_add(chunk.len() as i64, std::sync::atomic::Ordering::SeqCst);
    inner.replicas.retain(|r| r.is_alive());
    if inner.replicas.is_empty() {
        return;
    }
    // A chunk may wait in a slow replica's queue for a long time: keep only its bytes, not
    // the spare room of the vector that grew to hold them (up to as much again).
    let chunk = if chunk.capacity() > chunk.len() + chunk.len() / 8 {
        Arc::new(chunk.as_slice().to_vec())
    } else {
        Arc::new(chunk)
    };
    for r in &inner.replicas {
        r.feed(chunk.clone());
    }
}

pub fn run(repl: Arc<ReplState>, queues: Vec<Receiver<Batch>>, ctl: Receiver<Ctl>, state: Arc<ServerState>) {
    let mut heap: BinaryHeap<Reverse<ByGsn>> = BinaryHeap::new();
    let mut waiting: Vec<(u64, Vec<Arc<super::ReplicaLink>>, crossbeam_channel::Sender<i64>)> = Vec::new();
    let mut last_ping = Instant::now();
    let mut no_replicas_since: Option<Instant> = None;
    loop {
        // Wait for work, but wake at least every 100 ms for pings and barriers.
        let idle = heap.is_empty() && waiting.is_empty();
        if idle {
            let mut sel = Select::new();
            for q in &queues {
                sel.recv(q);
            }
            sel.recv(&ctl);
            let _ = sel.ready_timeout(Duration::from_millis(100));
        }
        while let Ok(msg) = ctl.try_recv() {
            match msg {
                Ctl::FullSync { upto, links, reply } => waiting.push((upto, links, reply)),
            }
        }
        let bound = repl.seq.safe_bound();
        for q in &queues {
            while let Ok(b) = q.try_recv() {
                heap.push(Reverse(ByGsn(b)));
            }
        }
        let mut chunk = Vec::new();
        let mut inner = repl.lock();
        while heap.peek().is_some_and(|Reverse(ByGsn(b))| b.gsn < bound) {
            let Some(Reverse(ByGsn(b))) = heap.pop() else { break };
            encode_batch(&mut inner, &b, &mut chunk);
        }
        publish(&repl, &mut inner, std::mem::take(&mut chunk));
        // Full-sync cuts whose GSN has been reached: everything below is in the stream now.
        let lowest_left = heap.peek().map_or(u64::MAX, |Reverse(ByGsn(b))| b.gsn);
        repl.published
            .store(bound.min(lowest_left), std::sync::atomic::Ordering::SeqCst);
        waiting.retain(|(upto, links, reply)| {
            if bound >= *upto && lowest_left >= *upto {
                inner.last_db = -1;
                inner.replicas.extend(links.iter().cloned());
                inner
                    .waiting
                    .retain(|w| w.is_alive() && !links.iter().any(|l| Arc::ptr_eq(l, w)));
                let _ = reply.send(repl.master_offset());
                false
            } else {
                true
            }
        });
        let period = state.config().repl_ping_replica_period.max(1) as u64;
        if last_ping.elapsed() >= Duration::from_secs(period) {
            last_ping = Instant::now();
            // A replica relays its master's pings instead of making its own.
            if inner.replicas.iter().any(|r| r.is_alive()) && !repl.replica.is_active() {
                let mut ping = Vec::new();
                encode_command(&mut ping, &[b"ping"]);
                publish(&repl, &mut inner, ping);
            }
        }
        free_idle_backlog(&repl, &mut inner, &mut no_replicas_since, &state);
        let slowest = inner.replicas.iter().map(|r| r.queued_bytes()).max().unwrap_or(0);
        super::BUFFERED_FOR_REPLICAS.store(slowest as u64, std::sync::atomic::Ordering::Relaxed);
        drop(inner);
        if !heap.is_empty() || !waiting.is_empty() {
            // A core is between taking a GSN and queueing its batch: give it a moment.
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}
