//! Heap allocations per request on the GET / SET hot path, and its speed.
//!
//! Run with `cargo bench --bench alloc` (add `-- --quick` for a short run). A counting global
//! allocator (mimalloc, as `shoal-server` uses, behind a per-thread counter) measures what one
//! request costs in allocations at each step a connection takes, on a real one-core runtime:
//!
//! 1. read + parse: the bytes are appended to the connection's read buffer and
//!    `RequestParser::next` splits the request off into the batch, as `net/conn.rs` does;
//! 2. dispatch: `command::dispatch::execute`, the function the connection loop calls per read:
//!    table lookup, routing, the shard job (`with_local_shard`), the handler, INFO
//!    commandstats, slow log and latency checks, replies into the connection's `Out`;
//!    the handler alone (`run_on_shard` on a `ShardCx`) is counted separately so the
//!    dispatch overhead is the difference;
//! 3. reply: the `Out` buffer is written and cleared (the socket write is left out).
//!
//! It prints the counts and asserts nothing: allocations are reported, speed is measured.
//! What each step does to stay at zero (as read from the code):
//! - parse: a request is a `Vec<Arg>` (`resp::Request`); an argument of up to 23 bytes is
//!   copied into its `Arg`, a longer one is a zero-copy slice of the read buffer. The vector comes from a per-core pool (`resp::argv`) that the
//!   dispatcher refills with each executed request's emptied vector. The batch vector of a
//!   read is reused from read to read, as is the connection's CLIENT LIST `cmd=` label.
//! - dispatch: nothing once warm. The pending-commands and reply-end vectors come from a small
//!   per-core pool and go back to it after the batch.
//! - SET handler: the value is stored inside the key's own block (`store::entry`), so an
//!   overwrite with a value of the same length changes it in place and another length is one
//!   `realloc` (the bench overwrites existing keys; a new key costs its block).
//! - reply: zero once `Out` has grown to the largest batch's replies (it is reused).
//!
//! Measured (2-CPU VM, `--quick`, 2026-11-26): 0.000 per request for GET and SET at depths 1
//! and 16 (SET of an integer: 0.009 at depth 1). Before the argument pool: 1 per request (the
//! vector); before the buffers were reused: GET 4 unpipelined and 1.44 at depth 16, SET 5 and
//! 2.44, plus a `cmd=` label String per read in the server.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::BytesMut;
use criterion::{Criterion, Throughput};
use mimalloc::MiMalloc;
use shoal::command::{ConnCx, Run, conn::new_session, dispatch, lookup, run_on_shard};
use shoal::config::Config;
use shoal::resp::{Arg, Out, ParseLimits, Proto, Request, RequestParser};
use shoal::runtime::{Mesh, run_cores};
use shoal::server::ServerState;
use shoal::shard::{Shard, ShardCx};
use shoal::store::Value;
use shoal::txn::{CoreCx, CoreMsg};

/// Counts allocations (and reallocations) made by the current thread, then defers to
/// mimalloc. Per thread, so the coordinator thread and criterion's own bookkeeping on other
/// threads never show up in a request's count.
struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
    let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
}

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

// SAFETY: every call is forwarded unchanged to mimalloc; the counter only reads and writes a
// const-initialised thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: the caller's contract is passed on as is.
        unsafe { MiMalloc.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: as above.
        unsafe { MiMalloc.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: as above.
        unsafe { MiMalloc.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Keys that exist before the first request (GET hits, SET overwrites).
const KEYS: usize = 1000;
/// Requests per counting run; large enough that one-off growth rounds to nothing.
const ROUNDS: usize = 100_000;

/// `cmd key:N [value]` as a client library sends it.
fn request(cmd: &str, i: usize, value: Option<&str>) -> Vec<u8> {
    let key = format!("key:{i:06}");
    let mut words = vec![cmd, key.as_str()];
    words.extend(value);
    let mut buf = format!("*{}\r\n", words.len()).into_bytes();
    for w in words {
        buf.extend_from_slice(format!("${}\r\n{w}\r\n", w.len()).as_bytes());
    }
    buf
}

/// One read's worth of bytes: `depth` pipelined requests on consecutive keys.
fn read_of(cmd: &str, value: Option<&str>, depth: usize, at: usize) -> Vec<u8> {
    (0..depth).flat_map(|d| request(cmd, (at + d) % KEYS, value)).collect()
}

/// Polls a future once: the local GET/SET path never waits (no other core, no transaction
/// holding the shard), so it must be ready; anything else would be a bench bug.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the local request path waited; the bench expects it not to"),
    }
}

/// A connection's state as `net/conn.rs` keeps it, minus the socket.
struct Conn {
    cx: ConnCx,
    rbuf: BytesMut,
    parser: RequestParser,
    limits: ParseLimits,
    /// The requests of one read, reused from read to read as `net/conn.rs` does.
    batch: Vec<Request>,
}

impl Conn {
    fn new(core: &Rc<CoreCx>) -> Conn {
        let session = new_session(core, "127.0.0.1:50000".into(), "127.0.0.1:6379".into());
        Conn {
            cx: ConnCx::new(core.clone(), session),
            rbuf: BytesMut::with_capacity(16 * 1024),
            parser: RequestParser::new(),
            limits: ParseLimits::default(),
            batch: Vec::new(),
        }
    }

    fn parse(&mut self, bytes: &[u8]) {
        self.rbuf.extend_from_slice(bytes);
        while let Ok(Some(req)) = self.parser.next(&mut self.rbuf, &self.limits) {
            self.batch.push(req);
        }
    }

    /// One read, start to finish; returns the reply length.
    fn serve(&mut self, bytes: &[u8]) -> usize {
        self.parse(bytes);
        ready(dispatch::execute(&mut self.cx, &mut self.batch));
        let n = self.cx.out.len();
        self.cx.out.clear();
        n
    }
}

/// Allocations per request of each step, averaged over `ROUNDS` requests.
#[derive(Default)]
struct Steps {
    parse: u64,
    dispatch: u64,
    reply: u64,
}

fn count_steps(conn: &mut Conn, reads: &[Vec<u8>], depth: usize) -> Steps {
    let mut s = Steps::default();
    // Warm up: the reply buffer, the batch capacity and the stats tables reach their size.
    for r in reads.iter().take(64) {
        conn.serve(r);
    }
    for i in 0..ROUNDS / depth {
        let bytes = &reads[i % reads.len()];
        let t0 = allocs();
        conn.parse(bytes);
        let t1 = allocs();
        ready(dispatch::execute(&mut conn.cx, &mut conn.batch));
        let t2 = allocs();
        black_box(conn.cx.out.len());
        conn.cx.out.clear();
        let t3 = allocs();
        s.parse += t1 - t0;
        s.dispatch += t2 - t1;
        s.reply += t3 - t2;
    }
    s
}

/// Allocations per request of the handler alone (`run_on_shard` on a `ShardCx`).
fn count_handler(argv_of: impl Fn(usize) -> Request) -> u64 {
    let mut shard = Shard::new(0, 16);
    fill(&mut shard);
    let argvs: Vec<Request> = (0..KEYS).map(argv_of).collect();
    let Some(Run::Shard(handler)) = lookup(&argvs[0][0]).map(|s| s.run) else {
        panic!("not a shard command")
    };
    let mut out = Out::new(Proto::Resp2);
    let mut cx = ShardCx::new(&mut shard, 0, 1_700_000_000_000);
    for argv in &argvs {
        run_on_shard(&mut cx, handler, argv, &mut out);
        out.clear();
    }
    let t0 = allocs();
    for i in 0..ROUNDS {
        run_on_shard(&mut cx, handler, &argvs[i % KEYS], &mut out);
        out.clear();
    }
    allocs() - t0
}

fn fill(shard: &mut Shard) {
    let mut cx = ShardCx::new(shard, 0, 1_700_000_000_000);
    for i in 0..KEYS {
        cx.put(format!("key:{i:06}").as_bytes(), Value::string(b"value"), false);
    }
}

fn argv(words: &[&str]) -> Request {
    words.iter().map(|w| Arg::from(*w)).collect()
}

/// The commands measured: name, command word, value (None for GET).
const CASES: &[(&str, &str, Option<&str>)] = &[
    ("get", "GET", None),
    ("set", "SET", Some("value")),
    ("set_int", "SET", Some("12345")),
];

fn report(core: &Rc<CoreCx>) {
    println!("\nallocations per request (mimalloc, counted on the core's thread, {ROUNDS} requests)");
    println!(
        "{:<9} {:>5} {:>8} {:>9} {:>8} {:>7} {:>8}",
        "command", "depth", "parse", "dispatch", "handler", "reply", "total"
    );
    for &(name, cmd, value) in CASES {
        let handler = count_handler(|i| {
            let key = format!("key:{i:06}");
            match value {
                Some(v) => argv(&[cmd, &key, v]),
                None => argv(&[cmd, &key]),
            }
        });
        for depth in [1, 16] {
            let reads: Vec<Vec<u8>> = (0..KEYS / depth)
                .map(|r| read_of(cmd, value, depth, r * depth))
                .collect();
            let mut conn = Conn::new(core);
            let s = count_steps(&mut conn, &reads, depth);
            let per = |n: u64| n as f64 / ROUNDS as f64;
            println!(
                "{name:<9} {depth:>5} {:>8.3} {:>9.3} {:>8.3} {:>7.3} {:>8.3}",
                per(s.parse),
                per(s.dispatch),
                per(handler),
                per(s.reply),
                per(s.parse + s.dispatch + s.reply),
            );
        }
    }
    println!("(dispatch includes the handler)\n");
}

fn bench(core: &Rc<CoreCx>) {
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    for &(name, cmd, value) in CASES {
        let mut g = c.benchmark_group(format!("hot_path/{name}"));
        for depth in [1, 16] {
            let reads: Vec<Vec<u8>> = (0..KEYS / depth)
                .map(|r| read_of(cmd, value, depth, r * depth))
                .collect();
            let mut conn = Conn::new(core);
            let mut i = 0;
            g.throughput(Throughput::Elements(depth as u64));
            g.bench_function(format!("depth_{depth}"), |b| {
                b.iter(|| {
                    i += 1;
                    black_box(conn.serve(&reads[i % reads.len()]))
                })
            });
        }
        g.finish();
    }
    c.final_summary();
}

fn main() {
    let state = Arc::new(ServerState::new(Config::default(), 1, None));
    state.refresh_cached_config();
    // As at start-up: the replication state exists (its sequencer stays off without replicas).
    let _ = state.repl.set(shoal::repl::start(1, state.clone()));
    shoal::shard::set_written_keys(shoal::command::written_keys);
    let result = run_cores(&[0], 64, std::time::Duration::ZERO, move |_, mesh: Mesh<CoreMsg>| {
        let state = state.clone();
        async move {
            let mut shard = Shard::new(0, 16);
            fill(&mut shard);
            let core = CoreCx::new(shard, mesh, state);
            report(&core);
            bench(&core);
        }
    });
    if let Err(e) = result {
        eprintln!("cannot start the runtime: {e}");
        std::process::exit(1);
    }
}
