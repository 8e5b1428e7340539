//! What the shared parts of the design cost as cores are added: the cross-core message path
//! and the global order of the replication stream.
//!
//! Run with `cargo bench --bench cross_core` (`-- --quick` for a shorter run). It prints
//! tables rather than criterion reports because every figure needs several threads or
//! executors working at once; each figure is the median of three runs.
//!
//! - (a) `CoreCx::run_on` / `submit` + `wait` between real executors started by
//!   `runtime::run_cores`: the round trip of one closure job (one core asks, the other is
//!   idle, so every job includes waking its executor), then all cores at once, each keeping
//!   a window of jobs in flight to its neighbour. (A variant with the peer kept awake by a
//!   `yield_now` loop was dropped: the peer's inbox task never ran, so the bench hung; a
//!   core that spins without awaiting I/O or a timer starves its cross-core inbox.)
//! - (b) the global order: a bare `fetch_add` on one shared counter, `Sequencer::push`
//!   (the GSN reservation and the queue send a shard makes per written batch) from 1..N
//!   threads, `Sequencer::safe_bound` for 1..64 cores (read by the coordinator every round),
//!   a coordinator-style k-way merge of N queues by GSN on one thread, and the real
//!   coordinator thread (`repl::start`) merging what N pushing threads produce.
//!
//! On a machine with fewer CPUs than threads, the extra threads share CPUs: the tables say
//! so, and those rows measure time slicing more than contention.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::unbounded;
use shoal::config::Config;
use shoal::repl::coordinator::ByGsn;
use shoal::repl::sequencer::Batch;
use shoal::repl::{Backlog, Sequencer};
use shoal::runtime::{self, Mesh, run_cores};
use shoal::server::ServerState;
use shoal::shard::{Shard, WriteRecords};
use shoal::txn::{CoreCx, CoreMsg, Lock};

/// Iteration counts, smaller with `--quick`, and tiny when not run by `cargo bench` (which
/// passes `--bench`): `cargo test --benches` only checks that the bench still runs.
struct Sizes {
    round_trips: usize,
    windowed_jobs: usize,
    pushes: usize,
    merge_batches: usize,
}

fn sizes() -> Sizes {
    let args: Vec<String> = std::env::args().collect();
    let f = if !args.iter().any(|a| a == "--bench") {
        return Sizes {
            round_trips: 100,
            windowed_jobs: 500,
            pushes: 1_000,
            merge_batches: 2_000,
        };
    } else if args.iter().any(|a| a == "--quick") {
        1
    } else {
        5
    };
    Sizes {
        round_trips: 10_000 * f,
        windowed_jobs: 50_000 * f,
        pushes: 100_000 * f,
        merge_batches: 200_000 * f,
    }
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn note(threads: usize) -> &'static str {
    if threads > cpus() { "  (oversubscribed)" } else { "" }
}

/// The median of three runs of `f` (each returns nanoseconds per operation).
fn median3(mut f: impl FnMut() -> f64) -> f64 {
    let mut v = [f(), f(), f()];
    v.sort_by(f64::total_cmp);
    v[1]
}

// ---------------------------------------------------------------------------------------
// (a) cross-core messages
// ---------------------------------------------------------------------------------------

/// Jobs each core keeps in flight in the windowed run (a pipelined batch's remote groups).
const WINDOW: usize = 32;

/// How long a waiting core sleeps between looks at a barrier (`CROSS_CORE_PARK_US`, default
/// 200). The idle round trip should not depend on it if a message wakes a parked executor.
fn park() -> Duration {
    let us = std::env::var("CROSS_CORE_PARK_US").ok().and_then(|v| v.parse().ok());
    Duration::from_micros(us.unwrap_or(200))
}

/// Waits until `n` cores have arrived at barrier number `round`, serving messages meanwhile.
async fn arrive(count: &AtomicUsize, n: usize, round: usize) {
    count.fetch_add(1, Ordering::SeqCst);
    while count.load(Ordering::SeqCst) < n * round {
        runtime::sleep(park()).await;
    }
}

/// What one run on N executors measured, in nanoseconds.
#[derive(Clone, Copy, Default)]
struct MsgRun {
    /// Round trip core 0 -> 1 while core 1 has nothing else to do (its executor parks).
    rtt_idle: f64,
    /// Per job, each core keeping `WINDOW` jobs in flight to its neighbour, all at once.
    windowed: f64,
}

/// Core 0 runs `round_trips` jobs on core 1 one after another; ns per round trip.
async fn round_trips(core: &std::rc::Rc<CoreCx>, n: usize) -> f64 {
    let t = Instant::now();
    for _ in 0..n {
        black_box(core.run_on(1, Lock::Pass, |s| s.id).await);
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn messages(cores: usize, s: &Sizes) -> MsgRun {
    let placement: Vec<usize> = (0..cores).map(|i| i % cpus()).collect();
    let state = Arc::new(ServerState::new(Config::default(), cores, None));
    let count = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new(MsgRun::default()));
    let (trips, jobs) = (s.round_trips, s.windowed_jobs);
    let res = results.clone();
    let outcome = run_cores(
        &placement,
        1024,
        std::time::Duration::ZERO,
        move |idx, mesh: Mesh<CoreMsg>| {
            let (state, count, res) = (state.clone(), count.clone(), res.clone());
            async move {
                let core = CoreCx::new(Shard::new(idx, 1), mesh, state);
                core.start_inbox();
                arrive(&count, cores, 1).await;
                if idx == 0 {
                    let ns = round_trips(&core, trips).await;
                    res.lock().unwrap_or_else(|p| p.into_inner()).rtt_idle = ns;
                }
                arrive(&count, cores, 2).await;
                let to = (idx + 1) % cores;
                let t = Instant::now();
                let mut done = 0;
                while done < jobs {
                    let mut inflight = Vec::with_capacity(WINDOW);
                    for _ in 0..WINDOW {
                        inflight.push(core.submit(to, Lock::Pass, |s| s.id).await);
                    }
                    for job in inflight {
                        black_box(core.wait(job).await);
                    }
                    done += WINDOW;
                }
                let ns = t.elapsed().as_nanos() as f64 / done as f64;
                if idx == 0 {
                    res.lock().unwrap_or_else(|p| p.into_inner()).windowed = ns;
                }
                // Keep serving the others until every core is through.
                arrive(&count, cores, 3).await;
            }
        },
    );
    if let Err(e) = outcome {
        panic!("cannot start {cores} executors: {e}");
    }
    *results.lock().unwrap_or_else(|p| p.into_inner())
}

fn report_messages(s: &Sizes) {
    println!("\n(a) cross-core closure jobs, CoreCx::run_on / submit+wait on runtime::run_cores");
    println!("    {} CPUs here; executors beyond that share CPUs", cpus());
    println!(
        "{:>5} {:>18} {:>20} {:>14}",
        "cores", "rtt, peer idle ns", "windowed ns/job/core", "jobs/s (all)"
    );
    for cores in 2..=4 {
        let runs: Vec<MsgRun> = (0..3).map(|_| messages(cores, s)).collect();
        let mid = |f: fn(&MsgRun) -> f64| {
            let mut v: Vec<f64> = runs.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v[1]
        };
        let (idle, windowed) = (mid(|r| r.rtt_idle), mid(|r| r.windowed));
        println!(
            "{cores:>5} {idle:>18.0} {windowed:>20.0} {:>14.0}{}",
            cores as f64 * 1e9 / windowed,
            note(cores)
        );
    }
}

// ---------------------------------------------------------------------------------------
// (b) global order
// ---------------------------------------------------------------------------------------

/// Runs `op(state, i)` `per_thread` times on each of `states.len()` threads started together,
/// each thread owning its state; returns wall nanoseconds per operation per thread.
fn on_threads<S: Send>(states: Vec<S>, per_thread: usize, op: impl Fn(&mut S, usize) + Sync) -> f64 {
    let barrier = Barrier::new(states.len());
    let elapsed = Mutex::new(Duration::ZERO);
    std::thread::scope(|sc| {
        for mut st in states {
            let (barrier, elapsed, op) = (&barrier, &elapsed, &op);
            sc.spawn(move || {
                barrier.wait();
                let start = Instant::now();
                for i in 0..per_thread {
                    op(&mut st, i);
                }
                let d = start.elapsed();
                let mut e = elapsed.lock().unwrap_or_else(|p| p.into_inner());
                *e = (*e).max(d);
            });
        }
    });
    elapsed.into_inner().unwrap_or_else(|p| p.into_inner()).as_nanos() as f64 / per_thread as f64
}

/// Per thread: its core index and its batches, built beforehand so that only the
/// reservation and the send are timed.
fn prepared(threads: usize, per: usize) -> Vec<(usize, Vec<WriteRecords>)> {
    (0..threads).map(|t| (t, (0..per).map(record).collect())).collect()
}

/// A one-record batch as a shard's `SET key value` produces it.
fn record(i: usize) -> WriteRecords {
    let key = format!("key:{i:08}");
    let mut records = WriteRecords::default();
    records.push(0, &[b"SET", key.as_bytes(), b"value"]);
    records
}

fn counter_ns(threads: usize, s: &Sizes) -> f64 {
    let counter = AtomicU64::new(0);
    median3(|| {
        on_threads(vec![(); threads], 20 * s.pushes, |_, _| {
            black_box(counter.fetch_add(1, Ordering::SeqCst));
        })
    })
}

fn push_ns(threads: usize, s: &Sizes) -> f64 {
    median3(|| {
        let (seq, queues) = Sequencer::new(threads);
        seq.enable();
        let ns = on_threads(prepared(threads, s.pushes), s.pushes, |(t, batches), _| {
            seq.push(*t, batches.pop().unwrap_or_default(), false);
        });
        drop(queues);
        ns
    })
}

fn report_sequencer(s: &Sizes) {
    println!(
        "\n(b1) GSN reservation from 1..N threads ({} fetch_adds, {} pushes per thread)",
        20 * s.pushes,
        s.pushes
    );
    println!(
        "{:>7} {:>22} {:>26}",
        "threads", "fetch_add ns/op/thread", "Sequencer::push ns/op/thread"
    );
    for threads in 1..=4 {
        println!(
            "{threads:>7} {:>22.1} {:>26.1}{}",
            counter_ns(threads, s),
            push_ns(threads, s),
            note(threads)
        );
    }
    println!("\n(b2) Sequencer::safe_bound, read by the coordinator once per round");
    println!("{:>6} {:>10}", "cores", "ns/call");
    for cores in [1, 2, 4, 16, 64] {
        let (seq, _queues) = Sequencer::new(cores);
        let n = 1_000_000;
        let ns = median3(|| {
            let t = Instant::now();
            for _ in 0..n {
                black_box(seq.safe_bound());
            }
            t.elapsed().as_nanos() as f64 / n as f64
        });
        println!("{cores:>6} {ns:>10.1}");
    }
}

/// ns per batch for one thread merging `queues` queues of interleaved GSNs, in rounds that
/// each drain every queue and emit what is below the bound, as the coordinator does.
fn merge_ns(queues: usize, s: &Sizes) -> f64 {
    let per_round = 64 * queues;
    median3(|| {
        let (tx, rx): (Vec<_>, Vec<_>) = (0..queues).map(|_| unbounded::<Batch>()).unzip();
        for g in 0..s.merge_batches {
            let batch = Batch {
                gsn: g as u64,
                records: record(g),
                group: false,
            };
            let _ = tx[g % queues].send(batch);
        }
        let mut heap: BinaryHeap<Reverse<ByGsn>> = BinaryHeap::new();
        let mut emitted = 0u64;
        let mut bytes = 0usize;
        let t = Instant::now();
        let mut bound = 0u64;
        while (emitted as usize) < s.merge_batches {
            bound += per_round as u64;
            for q in &rx {
                // A round sees what arrived since the last one: about 64 batches per queue.
                for b in q.try_iter().take(64) {
                    heap.push(Reverse(ByGsn(b)));
                }
            }
            let mut chunk = Vec::with_capacity(64 * per_round);
            while heap.peek().is_some_and(|Reverse(ByGsn(b))| b.gsn < bound) {
                let Some(Reverse(ByGsn(b))) = heap.pop() else { break };
                for r in b.records.iter() {
                    chunk.extend_from_slice(r.resp);
                }
                emitted += 1;
            }
            bytes += black_box(chunk).len();
        }
        black_box(bytes);
        t.elapsed().as_nanos() as f64 / s.merge_batches as f64
    })
}

/// Batches per second through the real coordinator thread while `threads` threads push.
fn coordinator_rate(threads: usize, s: &Sizes) -> (f64, f64) {
    let state = Arc::new(ServerState::new(Config::default(), threads, None));
    let repl = shoal::repl::start(threads, state);
    repl.lock().backlog = Some(Backlog::new(1 << 20, 1));
    repl.seq.enable();
    let per = s.pushes;
    let states = prepared(threads, per);
    let t = Instant::now();
    let push_ns = on_threads(states, per, |(th, batches), _| {
        repl.seq.push(*th, batches.pop().unwrap_or_default(), false);
    });
    let last = repl.seq.next_gsn();
    while repl.published.load(Ordering::SeqCst) < last {
        std::thread::sleep(Duration::from_micros(100));
    }
    let total = (threads * per) as f64;
    repl.seq.disable();
    (total / t.elapsed().as_secs_f64(), push_ns)
}

fn report_merge(s: &Sizes) {
    println!(
        "\n(b3) coordinator-style merge by GSN on one thread ({} one-record batches)",
        s.merge_batches
    );
    println!("{:>7} {:>12} {:>16}", "queues", "ns/batch", "batches/s");
    for queues in [1, 2, 4, 16, 64] {
        let ns = merge_ns(queues, s);
        println!("{queues:>7} {ns:>12.1} {:>16.0}", 1e9 / ns);
    }
    println!("\n(b4) real coordinator thread (repl::start, 1 MB backlog) fed by N pushing threads");
    println!(
        "{:>7} {:>22} {:>26}",
        "threads", "end-to-end batches/s", "push ns/op/thread meanwhile"
    );
    for threads in 1..=4 {
        let mut runs: Vec<(f64, f64)> = (0..3).map(|_| coordinator_rate(threads, s)).collect();
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (rate, push) = runs[1];
        println!("{threads:>7} {rate:>22.0} {push:>26.1}{}", note(threads + 1));
    }
    println!("(the coordinator is one more thread: N pushers + 1 on this machine's CPUs)");
}

fn main() {
    // `cargo bench` passes `--bench`; a filter or other flags are ignored here.
    let s = sizes();
    report_messages(&s);
    report_sequencer(&s);
    report_merge(&s);
}
