//! Fork-free point-in-time snapshots (ARCHITECTURE.md, S1), from the instant to the last byte.
//!
//! 1. **Instant.** Under a transaction over every shard (a short barrier), each shard starts a
//!    `DbSnapshot` on its non-empty dbs (`shard::snapshot`) and hands this core's driver its
//!    job. When the snapshot is also a replication cut, the cut is taken inside the same barrier.
//! 2. **Serializing.** Each core's `driver` task saves its shard bit by bit between ordinary
//!    work; writes save what they are about to change first. Pieces of encoded entries travel
//!    over a channel to the writer thread, with a cap on the bytes in flight so a slow sink
//!    slows the walk instead of filling memory.
//! 3. **Assembling.** One writer thread (`write_stream`) frames the pieces into one RDB stream:
//!    header and AUX, SELECTDB (+RESIZEDB the first time) whenever the db changes, EOF and
//!    CRC64, and hands it to a sink (a temp file renamed into place, or memory).
//!
//! One snapshot runs at a time; others wait for the slot (`acquire_slot`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Poll, Waker};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use crate::rdb::{AuxValue, RdbWriter, ReplAux, encode_entry, standard_aux};
use crate::shard::snapshot::EntryEncoder;
use crate::shard::{Shard, unix_ms};
use crate::store::Entry;
use crate::txn::CoreCx;

/// Bytes a driver encodes per slice of a turn; it checks the clock between slices.
const SLICE_BYTES: usize = 16 * 1024;
/// How long one turn of a driver may keep the core before the core's other tasks run.
const TURN: Duration = Duration::from_micros(250);
/// Encoded bytes allowed between the shards and the sink before the walk pauses.
const IN_FLIGHT_LIMIT: usize = 4 * 1024 * 1024;
/// The writer thread runs at a low CPU priority (nice 10) while the bytes waiting for it stay
/// below this, so a save takes little from busy cores; above it (writes saving old values
/// faster than it drains them) it runs at normal priority until it is back under half.
const WRITER_BOOST_AT: usize = 32 * 1024 * 1024;

/// What shards send the writer thread.
enum Piece {
    Data {
        db: usize,
        bytes: Vec<u8>,
    },
    /// This shard has saved everything.
    Done,
}

/// Emptied piece buffers, sent back by the writer for the drivers to fill again: freeing them
/// on the writer's thread instead left tens of MB of a save's memory in the allocator's
/// cross-thread free lists.
pub struct Spares {
    tx: Sender<Vec<u8>>,
    rx: crossbeam_channel::Receiver<Vec<u8>>,
}

/// Capacity of a fresh piece buffer: one slice of the walk, so it rarely regrows by copies.
const PIECE_CAPACITY: usize = 32 * 1024;
/// Pieces grown much larger than that (by big values) are freed instead of kept.
const SPARE_MAX_CAPACITY: usize = 8 * PIECE_CAPACITY;

impl Default for Spares {
    fn default() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(64);
        Spares { tx, rx }
    }
}

impl Spares {
    fn take(&self) -> Vec<u8> {
        self.rx
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(PIECE_CAPACITY))
    }

    fn give_back(&self, mut buf: Vec<u8>) {
        if buf.capacity() <= SPARE_MAX_CAPACITY {
            buf.clear();
            let _ = self.tx.try_send(buf);
        }
    }
}

/// What one snapshot shares between its drivers, its writer and INFO.
#[derive(Default)]
pub struct Flow {
    /// Encoded bytes not yet handed to the sink: the extra memory the save costs, Shoal's
    /// counterpart of a fork's copy-on-write pages.
    pub in_flight: AtomicUsize,
    pub peak_in_flight: AtomicUsize,
    /// Keys at the instant, and keys encoded so far.
    pub keys_total: AtomicU64,
    pub keys_done: AtomicU64,
    pub started_ms: AtomicU64,
    /// Set by the writer when the sink failed: drivers drop their state and stop.
    aborted: AtomicBool,
    spares: Spares,
    /// A dump (not a replica's payload, which a replica waits for): its drivers give way to
    /// clients (`REST_PER_TURN`).
    paced: AtomicBool,
}

/// A core's part of the running snapshot, held by its driver.
struct CoreJob {
    tx: Sender<Piece>,
    flow: Arc<Flow>,
}

thread_local! {
    static JOB: RefCell<Option<CoreJob>> = const { RefCell::new(None) };
    static DRIVER: RefCell<Option<Waker>> = const { RefCell::new(None) };
}

/// Where an RDB stream goes.
pub trait RdbSink: Send + 'static {
    type Output: Send + 'static;
    fn write(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Called after the last byte.
    fn finish(self) -> io::Result<Self::Output>;
    /// Called instead of `finish` when the stream could not be completed.
    fn abandon(self);
}

/// The whole stream in memory (full resync payloads).
impl RdbSink for Vec<u8> {
    type Output = Vec<u8>;
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.extend_from_slice(bytes);
        Ok(())
    }
    fn finish(self) -> io::Result<Vec<u8>> {
        Ok(self)
    }
    fn abandon(self) {}
}

/// A dump file written crash-safely (S2): a temp name, fsync, rename, fsync of the directory.
/// Until the rename, the previous dump stays whole.
pub struct FileSink {
    dir: std::path::PathBuf,
    tmp: std::path::PathBuf,
    name: String,
    file: io::BufWriter<std::fs::File>,
}

impl FileSink {
    pub fn create(dir: &str, name: &str) -> io::Result<FileSink> {
        let dir = std::path::PathBuf::from(dir);
        let tmp = dir.join(format!("temp-{}-{}.rdb", std::process::id(), unix_ms()));
        let file = std::fs::File::create(&tmp)?;
        Ok(FileSink {
            dir,
            tmp,
            name: name.to_string(),
            file: io::BufWriter::with_capacity(1 << 20, file),
        })
    }
}

impl RdbSink for FileSink {
    type Output = ();
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)
    }
    fn finish(self) -> io::Result<()> {
        let (dir, tmp, name) = (self.dir.clone(), self.tmp.clone(), self.name.clone());
        let result = (|| {
            let file = self.file.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            std::fs::rename(&tmp, dir.join(&name))?;
            if let Ok(d) = std::fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
    fn abandon(self) {
        let tmp = self.tmp.clone();
        drop(self.file);
        let _ = std::fs::remove_file(tmp);
    }
}

/// The header facts of a snapshot, fixed at its instant.
struct Frame {
    shards: usize,
    /// Keys and keys-with-TTL per non-empty db (RESIZEDB hints).
    sizes: BTreeMap<usize, (u64, u64)>,
    /// Replid, offset and `repl-stream-db` of a replication cut.
    repl: Option<(String, i64, usize)>,
    checksum: bool,
}

/// A started snapshot: its replication offset, and the sink's result when it is complete.
pub struct Running<T> {
    pub offset: i64,
    pub replid: Option<String>,
    done: Receiver<io::Result<T>>,
}

impl<T> Running<T> {
    /// Waits (without blocking the core) until the stream is complete.
    pub async fn finished(self) -> io::Result<T> {
        loop {
            match self.done.try_recv() {
                Ok(r) => return r,
                Err(crossbeam_channel::TryRecvError::Empty) => crate::runtime::sleep(Duration::from_millis(1)).await,
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    return Err(io::Error::other("snapshot writer stopped"));
                }
            }
        }
    }
}

/// Waits until no other snapshot runs, then claims the slot (released by the writer thread).
pub async fn acquire_slot(core: &Rc<CoreCx>) {
    let busy = &core.server.persist.snapshot_busy;
    while busy
        .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        crate::runtime::sleep(Duration::from_millis(2)).await;
    }
}

/// The encoder shards use: RDB entries, skipping keys already expired at the instant.
fn entry_encoder(now_ms: u64, compress: bool, flow: Arc<Flow>) -> EntryEncoder {
    Box::new(move |e: &Entry, out: &mut Vec<u8>| {
        if e.expire_at() != 0 && e.expire_at() <= now_ms {
            return;
        }
        flow.keys_done.fetch_add(1, Ordering::Relaxed);
        let expire = (e.expire_at() != 0).then_some(e.expire_at() as i64);
        super::convert::with_value_ref(e.value(), |v| encode_entry(e.key(), v, expire, compress, out));
    })
}

/// Inside the barrier, on each shard: fixes the shard's contents as of now and wakes the driver.
/// Returns the sizes of its non-empty dbs.
fn begin_on_shard(
    s: &mut Shard,
    tx: Sender<Piece>,
    flow: Arc<Flow>,
    now_ms: u64,
    compress: bool,
) -> Vec<(usize, u64, u64)> {
    let mut sizes = Vec::new();
    // One epoch for every db of the shard, newer than any before, so entries moved between
    // dbs (MOVE, SWAPDB) compare against the same numbers.
    let epoch = s.dbs.iter().map(|db| db.snapshot_epoch()).max().unwrap_or(0) + 1;
    for (number, db) in s.dbs.iter_mut().enumerate() {
        // Leftovers of an abandoned snapshot are dropped; this one starts clean.
        db.end_snapshot();
        if !db.is_empty() {
            sizes.push((number, db.len() as u64, db.volatile_len() as u64));
        }
        db.begin_snapshot(number, epoch, entry_encoder(now_ms, compress, flow.clone()));
    }
    JOB.with(|j| *j.borrow_mut() = Some(CoreJob { tx, flow }));
    if let Some(w) = DRIVER.with(|d| d.borrow_mut().take()) {
        w.wake();
    }
    sizes
}

/// Starts a snapshot of every shard under `txn` (which must span all shards and not be
/// finished), streaming it into `sink`. With links in `cut`, the instant is also the
/// replication cut: the coordinator emits everything written before it and attaches those
/// links from that offset (R6); several replicas share one snapshot this way.
/// The caller must hold the snapshot slot (`acquire_slot`); the writer releases it.
pub async fn start<S: RdbSink>(
    core: &Rc<CoreCx>,
    mut txn: crate::txn::Txn,
    cut: Vec<Arc<crate::repl::ReplicaLink>>,
    sink: S,
) -> Running<S::Output> {
    let cfg = core.server.config();
    let (compress, checksum) = (cfg.rdbcompression, cfg.rdbchecksum);
    drop(cfg);
    let replicating = !cut.is_empty();
    let repl_state = core.server.repl().clone();
    // A replica's own save records its place in the master's stream (as redis-server's does),
    // so a restart from it can continue with PSYNC; once it has synced, that is.
    let own_place = !replicating && repl_state.replica.is_active() && repl_state.replica.lock().can_continue;
    // On a replica, the cut must fall between two applied steps of the master's stream
    // (see repl::replica::ApplyGate); taken before any shard is locked.
    let cut_pass = if replicating || own_place {
        Some(repl_state.replica.enter_cut().await)
    } else {
        None
    };
    // From here on every shard logs its writes for the stream (a no-op when already on).
    txn.hop(move |s: &mut Shard| {
        if replicating {
            s.log.set_enabled(true);
        }
    })
    .await;
    let mut offset = 0;
    let mut replid = None;
    let mut stream_db = 0;
    if replicating {
        let repl = core.server.repl().clone();
        let (tx, rx) = crossbeam_channel::bounded(1);
        let upto = repl.seq.next_gsn();
        repl.send(crate::repl::Ctl::FullSync {
            upto,
            links: cut,
            reply: tx,
        });
        offset = loop {
            if let Ok(o) = rx.try_recv() {
                break o;
            }
            crate::runtime::sleep(Duration::from_micros(100)).await;
        };
        replid = Some(repl.lock().replid.clone());
        stream_db = repl.replica.stream_db();
    } else if own_place {
        replid = Some(repl_state.lock().replid.clone());
        offset = repl_state.master_offset();
        stream_db = repl_state.replica.stream_db();
    }
    drop(cut_pass);
    let (tx, rx) = crossbeam_channel::unbounded();
    let flow = Arc::new(Flow::default());
    flow.started_ms.store(unix_ms(), Ordering::Relaxed);
    flow.paced.store(!replicating, Ordering::Relaxed);
    *core.server.persist.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(flow.clone());
    let (tx2, flow2) = (tx.clone(), flow.clone());
    let now = unix_ms();
    let parts = txn
        .hop(move |s: &mut Shard| begin_on_shard(s, tx2.clone(), flow2.clone(), now, compress))
        .await;
    txn.finish();
    drop(tx);
    let mut sizes = BTreeMap::new();
    for (number, keys, expires) in parts.into_iter().flat_map(|(_, v)| v) {
        let e: &mut (u64, u64) = sizes.entry(number).or_default();
        e.0 += keys;
        e.1 += expires;
        flow.keys_total.fetch_add(keys, Ordering::Relaxed);
    }
    let frame = Frame {
        shards: core.shards,
        sizes,
        repl: replid.clone().map(|id| (id, offset, stream_db)),
        checksum,
    };
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    let server = core.server.clone();
    let spawned = crate::runtime::spawn_thread("shoal-rdb", move || {
        let result = write_stream(frame, &rx, &flow, sink);
        if result.is_err() {
            flow.aborted.store(true, Ordering::SeqCst);
        }
        server.persist.finished(&flow, result.is_ok());
        let _ = done_tx.send(result);
    });
    if let Err(e) = spawned {
        core.server.persist.snapshot_busy.store(false, Ordering::SeqCst);
        crate::server::log::warning(&format!("Can't start the snapshot writer: {e}"));
    }
    Running {
        offset,
        replid,
        done: done_rx,
    }
}

/// The writer thread: frames the shards' pieces into one RDB stream in `sink`.
fn write_stream<S: RdbSink>(frame: Frame, rx: &Receiver<Piece>, flow: &Flow, mut sink: S) -> io::Result<S::Output> {
    let mut w = RdbWriter::new(frame.checksum);
    let ctime = (unix_ms() / 1000) as i64;
    let aux = standard_aux(
        ctime,
        crate::server::rss_bytes(),
        frame.repl.as_ref().map(|(id, off, db)| ReplAux {
            stream_db: *db as i64,
            replid: id,
            offset: *off,
        }),
    );
    let aux: Vec<(&str, AuxValue<'_>)> = aux.iter().map(|(k, v)| (*k, *v)).collect();
    w.header(&aux);
    for code in crate::command::script::library::codes() {
        w.function(&code);
    }
    let mut started = std::collections::BTreeSet::new();
    let mut current = None;
    let mut done = 0;
    // A dump file is background work; a replica's payload is awaited (repl-timeout runs on
    // the other side), so it keeps normal priority throughout.
    let background = frame.repl.is_none();
    let mut boosted = !background;
    crate::runtime::set_thread_low_priority(background);
    let result = (|| {
        while done < frame.shards {
            let piece = rx
                .recv()
                .map_err(|_| io::Error::other("a shard stopped before finishing its snapshot"))?;
            match piece {
                Piece::Done => done += 1,
                Piece::Data { db, bytes } => {
                    let held = bytes.capacity();
                    if current != Some(db) {
                        if started.insert(db) {
                            let (keys, expires) = frame.sizes.get(&db).copied().unwrap_or_default();
                            w.select_db(db, keys, expires);
                        } else {
                            w.switch_db(db);
                        }
                        current = Some(db);
                    }
                    w.append(&bytes);
                    sink.write(&w.take())?;
                    flow.spares.give_back(bytes);
                    let waiting = flow.in_flight.fetch_sub(held, Ordering::SeqCst) - held;
                    if background
                        && boosted != (waiting > WRITER_BOOST_AT / 2 && (boosted || waiting > WRITER_BOOST_AT))
                    {
                        boosted = !boosted;
                        crate::runtime::set_thread_low_priority(!boosted);
                    }
                }
            }
        }
        w.finish();
        sink.write(&w.take())
    })();
    match result {
        Ok(()) => sink.finish(),
        Err(e) => {
            sink.abandon();
            Err(e)
        }
    }
}

/// Waits until this core's shard has a snapshot job.
async fn job_ready() {
    std::future::poll_fn(|cx| {
        if JOB.with(|j| j.borrow().is_some()) {
            Poll::Ready(())
        } else {
            DRIVER.with(|d| *d.borrow_mut() = Some(cx.waker().clone()));
            Poll::Pending
        }
    })
    .await
}

/// After a turn during which this core served clients, a dump's driver rests this many times
/// the turn's length, so that the save takes at most about a seventh of a loaded core: it runs
/// longer (still well under redis-server's forked save) and the clients keep their throughput.
/// On a core without clients the driver only yields between turns and saves at full speed.
/// A replica's payload is not paced: the replica waits for it, and the backlog fills meanwhile.
const REST_PER_TURN: u32 = 6;

/// One per core: saves the shard's part of each snapshot between the core's other work.
pub async fn driver(core: Rc<CoreCx>) {
    let served = || core.counters().commands_processed.load(Ordering::Relaxed);
    loop {
        job_ready().await;
        let mut seen = served();
        loop {
            let started = std::time::Instant::now();
            let (finished, idle) = loop {
                let (finished, idle) = match core.shard.try_borrow_mut() {
                    Ok(mut shard) => step(&mut shard),
                    // Someone holds the shard across an await point; try again shortly.
                    Err(_) => (false, true),
                };
                if finished || idle || started.elapsed() >= TURN {
                    break (finished, idle);
                }
            };
            if finished {
                JOB.with(|j| *j.borrow_mut() = None);
                break;
            }
            let now = served();
            if idle {
                // The sink is behind (or the shard is busy): wait for it without spinning.
                crate::runtime::sleep(Duration::from_millis(1)).await;
            } else if now != seen
                && JOB.with(|j| {
                    j.borrow()
                        .as_ref()
                        .is_some_and(|j| j.flow.paced.load(Ordering::Relaxed))
                })
            {
                crate::runtime::sleep(started.elapsed() * REST_PER_TURN).await;
            } else {
                crate::runtime::yield_to_io().await;
            }
            seen = now;
        }
    }
}

/// One slice of a driver's turn: ships what writes saved, saves more unless too much is in
/// flight. Returns (complete or abandoned, nothing to do now because the sink is behind).
fn step(shard: &mut Shard) -> (bool, bool) {
    JOB.with(|j| {
        let job = j.borrow();
        let Some(job) = job.as_ref() else {
            return (true, false);
        };
        if job.flow.aborted.load(Ordering::SeqCst) {
            shard.dbs.iter_mut().for_each(|db| db.end_snapshot());
            return (true, false);
        }
        let behind = job.flow.in_flight.load(Ordering::SeqCst) > IN_FLIGHT_LIMIT;
        let mut budget = if behind { 0 } else { SLICE_BYTES };
        let mut complete = true;
        for db in shard.dbs.iter_mut() {
            let Some((number, bytes, done)) = db.snapshot_step(budget, || job.flow.spares.take()) else {
                continue;
            };
            complete &= done;
            budget = budget.saturating_sub(bytes.len());
            if bytes.is_empty() {
                continue;
            }
            // Counted by capacity: that is the memory the piece holds until it is written.
            let held = bytes.capacity();
            let now = job.flow.in_flight.fetch_add(held, Ordering::SeqCst) + held;
            job.flow.peak_in_flight.fetch_max(now, Ordering::Relaxed);
            if job.tx.send(Piece::Data { db: number, bytes }).is_err() {
                // The writer is gone: nothing will read the rest.
                shard.dbs.iter_mut().for_each(|db| db.end_snapshot());
                return (true, false);
            }
        }
        if complete {
            let _ = job.tx.send(Piece::Done);
        }
        (complete, behind)
    })
}
