//! Full resyncs on the master: replicas that need one wait in a queue, and every replica
//! waiting when a snapshot starts shares it (one cut, one walk of the shards).
//!
//! As in redis-server 7.0, a batch of replicas that all take a diskless (`$EOF:`) payload waits
//! `repl-diskless-sync-delay` seconds from the first arrival, or until
//! `repl-diskless-sync-max-replicas` are waiting, so that replicas arriving together share one
//! transfer; the RDB is streamed to all of them as the shards produce it. A batch with a
//! replica that needs a disk-style payload (`$<len>`: no `capa eof`, SYNC, or
//! `repl-diskless-sync no`) starts at once and is built in memory, then framed for each
//! replica. Replicas that arrive while a snapshot runs wait for the next one.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::ReplicaLink;
use super::link::{LinkSink, Payload};
use crate::persist::snapshot::RdbSink;
use crate::txn::CoreCx;

/// A replica waiting for a full resync.
pub struct Waiter {
    pub link: Arc<ReplicaLink>,
    /// Where its payload goes (the link's writer sends keep-alives until the first message).
    pub payload: Sender<Payload>,
    /// SYNC: no `+FULLRESYNC` line before the payload.
    pub legacy: bool,
    /// The replica takes an EOF-marked payload.
    pub diskless: bool,
    pub since: Instant,
}

/// The replicas waiting for the next full-sync snapshot.
#[derive(Default)]
pub struct Queue {
    waiting: Vec<Waiter>,
    /// A task is already running batches.
    scheduled: bool,
}

/// How often a waiting batch checks whether it may start.
const POLL: Duration = Duration::from_millis(50);

/// Queues a replica for the next full-sync snapshot, starting the batch task on this core if
/// none runs.
pub fn enqueue(core: &Rc<CoreCx>, waiter: Waiter) {
    let repl = core.server.repl();
    let start = {
        let mut q = repl.full_syncs.lock().unwrap_or_else(|e| e.into_inner());
        if waiter.diskless && q.waiting.is_empty() {
            let delay = core.server.config().repl_diskless_sync_delay;
            if delay > 0 {
                crate::server::log::notice(&format!("Delay next full sync for diskless replicas by {delay} s"));
            }
        }
        q.waiting.push(waiter);
        !std::mem::replace(&mut q.scheduled, true)
    };
    if start {
        crate::runtime::spawn(run_batches(core.clone()));
    }
}

/// Whether the waiting replicas may start their snapshot now.
fn due(waiting: &[Waiter], delay: Duration, max_replicas: usize) -> bool {
    let oldest = waiting.iter().map(|w| w.since).min();
    waiting.iter().any(|w| !w.diskless)
        || oldest.is_some_and(|t| t.elapsed() >= delay)
        || (max_replicas > 0 && waiting.len() >= max_replicas)
}

/// Runs batches until nobody waits.
async fn run_batches(core: Rc<CoreCx>) {
    let repl = core.server.repl().clone();
    loop {
        loop {
            let cfg = core.server.config();
            let delay = Duration::from_secs(cfg.repl_diskless_sync_delay.into());
            let max_replicas = cfg.repl_diskless_sync_max_replicas as usize;
            drop(cfg);
            let start_now = {
                let mut q = repl.full_syncs.lock().unwrap_or_else(|e| e.into_inner());
                q.waiting.retain(|w| w.link.is_alive());
                if q.waiting.is_empty() {
                    q.scheduled = false;
                    return;
                }
                due(&q.waiting, delay, max_replicas)
            };
            if start_now {
                break;
            }
            crate::runtime::sleep(POLL).await;
        }
        crate::persist::snapshot::acquire_slot(&core).await;
        // Whoever arrived while the slot was busy joins this snapshot too.
        let batch: Vec<Waiter> = {
            let mut q = repl.full_syncs.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut q.waiting)
                .into_iter()
                .filter(|w| w.link.is_alive())
                .collect()
        };
        if batch.is_empty() {
            core.server.persist.release_slot();
            continue;
        }
        run_batch(&core, batch).await;
    }
}

/// One snapshot for every replica of `batch`; the caller holds the snapshot slot.
async fn run_batch(core: &Rc<CoreCx>, batch: Vec<Waiter>) {
    let txn = crate::txn::Txn::new(core, (0..core.shards).collect(), 2);
    let links: Vec<Arc<ReplicaLink>> = batch.iter().map(|w| w.link.clone()).collect();
    if batch.iter().all(|w| w.diskless) {
        let (sinks, bodies): (Vec<LinkSink>, Vec<_>) = links.iter().map(|l| LinkSink::new(l.clone())).unzip();
        let running = crate::persist::snapshot::start(core, txn, links.clone(), FanOut(sinks)).await;
        let replid = running
            .replid
            .clone()
            .unwrap_or_else(|| core.server.repl().lock().replid.clone());
        for (w, body) in batch.iter().zip(bodies) {
            let mark = crate::server::random_hex40();
            let mut head = Vec::new();
            put_fullresync(&mut head, &replid, running.offset, w.legacy);
            head.extend_from_slice(format!("$EOF:{mark}\r\n").as_bytes());
            log_full_sync(&w.link, running.offset, batch.len(), "diskless, streamed");
            for msg in [
                Payload::Bytes(head),
                Payload::Body(body),
                Payload::Bytes(mark.into_bytes()),
                Payload::End,
            ] {
                let _ = w.payload.send(msg);
            }
        }
        if let Err(e) = running.finished().await {
            crate::server::log::warning(&format!("Diskless full sync failed: {e}"));
            links.iter().for_each(|l| l.kill());
        }
        return;
    }
    let snap = crate::persist::snapshot_with(core, txn, links.clone()).await;
    if snap.rdb.is_empty() {
        // The snapshot failed (logged by persist): the links end.
        links.iter().for_each(|l| l.kill());
        return;
    }
    let replid = core.server.repl().lock().replid.clone();
    for w in &batch {
        log_full_sync(
            &w.link,
            snap.offset,
            batch.len(),
            &format!("{} bytes from memory", snap.rdb.len()),
        );
        let _ = w
            .payload
            .send(Payload::Bytes(memory_payload(&replid, &snap, w.legacy, w.diskless)));
        let _ = w.payload.send(Payload::End);
    }
}

/// The `+FULLRESYNC <id> <offset>` line that opens a full sync; SYNC (`legacy`) gets none.
fn put_fullresync(out: &mut Vec<u8>, replid: &str, offset: i64, legacy: bool) {
    if !legacy {
        out.extend_from_slice(format!("+FULLRESYNC {replid} {offset}\r\n").as_bytes());
    }
}

/// A whole payload built from an in-memory snapshot: `+FULLRESYNC <id> <offset>` (not for
/// SYNC), then the RDB framed as `$EOF:<mark>` ... `<mark>` or `$<len>`.
fn memory_payload(replid: &str, snap: &crate::persist::Snapshot, legacy: bool, diskless: bool) -> Vec<u8> {
    let mut first = Vec::with_capacity(snap.rdb.len() + 128);
    put_fullresync(&mut first, replid, snap.offset, legacy);
    if diskless {
        let mark = crate::server::random_hex40();
        first.extend_from_slice(format!("$EOF:{mark}\r\n").as_bytes());
        first.extend_from_slice(&snap.rdb);
        first.extend_from_slice(mark.as_bytes());
    } else {
        first.extend_from_slice(format!("${}\r\n", snap.rdb.len()).as_bytes());
        first.extend_from_slice(&snap.rdb);
    }
    first
}

fn log_full_sync(link: &ReplicaLink, offset: i64, together: usize, how: &str) {
    let shared = if together > 1 {
        format!(", one snapshot for {together} replicas")
    } else {
        String::new()
    };
    crate::server::log::notice(&format!(
        "Replica {}:{} asks for synchronization: full resync at offset {offset} ({how}{shared})",
        link.ip, link.listening_port
    ));
}

/// One RDB stream copied to several replicas' links. A link that fails drops out (its
/// writer sees the body stop early and ends that link); the stream fails only when none is
/// left.
struct FanOut(Vec<LinkSink>);

impl RdbSink for FanOut {
    type Output = ();

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.0.retain_mut(|sink| sink.write(bytes).is_ok());
        if self.0.is_empty() {
            return Err(std::io::Error::other("every replica link closed"));
        }
        Ok(())
    }

    fn finish(self) -> std::io::Result<()> {
        let total = self.0.len();
        let failed = self.0.into_iter().map(RdbSink::finish).filter(Result::is_err).count();
        if failed == total {
            return Err(std::io::Error::other("every replica link closed"));
        }
        Ok(())
    }

    fn abandon(self) {}
}
