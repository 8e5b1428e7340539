//! Many clients at once on a multi-shard Shoal: shared counters add up, every connection sees
//! one keyspace, and cross-shard MSET and RENAME are atomic for concurrent readers.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const CLIENTS: usize = 200;
const ROUNDS: usize = 50;
const COUNTERS: usize = 8;

#[test]
fn two_hundred_clients_incr_and_set() {
    let shoal = Arc::new(TestServer::shoal(2));
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (shoal, barrier) = (shoal.clone(), barrier.clone());
            thread::spawn(move || {
                let mut conn = shoal.conn();
                barrier.wait();
                let mut last = [0i64; COUNTERS];
                for r in 0..ROUNDS {
                    let ctr = (id + r) % COUNTERS;
                    let n = conn.call(&cmd!("INCR", format!("counter:{ctr}"))).int();
                    assert!(n > last[ctr], "a counter went backwards for one client");
                    last[ctr] = n;
                    let reply = conn.raw(&cmd!("SET", format!("own:{id}:{r}"), format!("{id}-{r}")));
                    assert_eq!(reply, b"+OK\r\n");
                }
                // Pipelined reads of its own keys see its own writes.
                let keys: Vec<Vec<u8>> = (0..ROUNDS).map(|r| format!("own:{id}:{r}").into_bytes()).collect();
                let mut mget = cmd!("MGET");
                mget.extend(keys);
                let vals = conn.call(&mget).items();
                for (r, v) in vals.iter().enumerate() {
                    assert_eq!(v.bulk(), Some(format!("{id}-{r}").into_bytes()));
                }
                conn
            })
        })
        .collect();
    let mut conns: Vec<Conn> = handles.into_iter().map(|h| h.join().expect("client thread")).collect();

    let total: i64 = (0..COUNTERS)
        .map(|c| {
            conns[0]
                .call(&cmd!("GET", format!("counter:{c}")))
                .text()
                .parse::<i64>()
                .unwrap()
        })
        .sum();
    assert_eq!(total, (CLIENTS * ROUNDS) as i64, "INCRs lost or duplicated");
    for c in 0..COUNTERS {
        // Each counter gets exactly CLIENTS*ROUNDS/COUNTERS increments by construction.
        let v = conns[0].call(&cmd!("GET", format!("counter:{c}"))).text();
        assert_eq!(v, ((CLIENTS * ROUNDS / COUNTERS) as i64).to_string(), "counter:{c}");
    }
    let expected_keys = (CLIENTS * ROUNDS + COUNTERS) as i64;
    let mut probe = cmd!("MGET");
    for id in (0..CLIENTS).step_by(17) {
        probe.push(format!("own:{id}:{}", id % ROUNDS).into_bytes());
    }
    probe.push(b"counter:3".to_vec());
    let first = conns[0].raw(&probe);
    for conn in conns.iter_mut() {
        assert_eq!(
            conn.q("DBSIZE").int(),
            expected_keys,
            "every connection sees the same DBSIZE"
        );
        assert_eq!(conn.raw(&probe), first, "every connection sees the same values");
    }
}

/// Keys whose names spread over the shards (the hash decides; 8 names over 4 shards is enough
/// to hit all of them in practice, and the test does not depend on it).
fn marker_keys() -> Vec<String> {
    (0..8).map(|i| format!("marker:{i}:{}", i * 7919)).collect()
}

#[test]
fn cross_shard_mset_is_atomic_for_readers() {
    let shoal = Arc::new(TestServer::shoal(4));
    let keys = marker_keys();
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    {
        let mut c0 = shoal.conn();
        let mut init = cmd!("MSET");
        for k in &keys {
            init.push(k.clone().into_bytes());
            init.push(b"w0-0".to_vec());
        }
        assert_eq!(c0.raw(&init), b"+OK\r\n");
    }
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (shoal, keys) = (shoal.clone(), keys.clone());
            thread::spawn(move || {
                let mut conn = shoal.conn();
                for i in 1..=400 {
                    let marker = format!("w{w}-{i}");
                    let mut mset = cmd!("MSET");
                    for k in &keys {
                        mset.push(k.clone().into_bytes());
                        mset.push(marker.clone().into_bytes());
                    }
                    assert_eq!(conn.raw(&mset), b"+OK\r\n");
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..6)
        .map(|_| {
            let (shoal, keys, stop, reads) = (shoal.clone(), keys.clone(), stop.clone(), reads.clone());
            thread::spawn(move || {
                let mut conn = shoal.conn();
                let mut mget = cmd!("MGET");
                mget.extend(keys.iter().map(|k| k.clone().into_bytes()));
                while !stop.load(Ordering::Relaxed) {
                    let vals: Vec<Vec<u8>> = conn.call(&mget).items().iter().map(|v| v.bulk().unwrap()).collect();
                    assert!(
                        vals.iter().all(|v| v == &vals[0]),
                        "MGET saw a mix of two MSETs: {:?}",
                        vals.iter().map(|v| lossy(v)).collect::<Vec<_>>()
                    );
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("reader (a panic here means a torn MGET)");
    }
    assert!(reads.load(Ordering::Relaxed) > 50, "readers barely ran");
}

#[test]
fn rename_between_shards_under_readers() {
    let shoal = Arc::new(TestServer::shoal(4));
    // Two names; RENAME moves the value back and forth. At any instant exactly one exists.
    let (a, b) = ("ping-pong:a", "ping-pong:b{other}");
    shoal.conn().call(&cmd!("SET", a, "payload"));
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (shoal, stop) = (shoal.clone(), stop.clone());
            thread::spawn(move || {
                let mut conn = shoal.conn();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let r = conn.call(&cmd!("MGET", a, b)).items();
                    let present: Vec<_> = r.iter().filter_map(|v| v.bulk()).collect();
                    assert_eq!(present, vec![b"payload".to_vec()], "RENAME seen half done: {r:?}");
                    assert_eq!(conn.call(&cmd!("EXISTS", a, b)).int(), 1, "EXISTS saw 0 or 2 keys");
                    assert_eq!(conn.q("DBSIZE").int(), 1);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut w = shoal.conn();
    let start = Instant::now();
    let mut renames = 0;
    while start.elapsed() < Duration::from_secs(3) {
        assert_eq!(w.raw(&cmd!("RENAME", a, b)), b"+OK\r\n");
        assert_eq!(w.raw(&cmd!("RENAME", b, a)), b"+OK\r\n");
        renames += 2;
    }
    stop.store(true, Ordering::Relaxed);
    let total_reads: u64 = readers
        .into_iter()
        .map(|r| r.join().expect("reader saw a torn RENAME"))
        .sum();
    assert!(
        renames > 10 && total_reads > 10,
        "renames {renames}, reads {total_reads}"
    );
    assert_eq!(w.call(&cmd!("GET", a)).bulk(), Some(b"payload".to_vec()));
}

#[test]
fn concurrent_renames_never_lose_keys() {
    // Several clients rename disjoint keys across shards concurrently; nothing is lost.
    let shoal = Arc::new(TestServer::shoal(4));
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let shoal = shoal.clone();
            thread::spawn(move || {
                let mut conn = shoal.conn();
                conn.call(&cmd!("SET", format!("rn:{t}:0"), t));
                for i in 0..200 {
                    let r = conn.raw(&cmd!("RENAME", format!("rn:{t}:{i}"), format!("rn:{t}:{}", i + 1)));
                    assert_eq!(r, b"+OK\r\n");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("renamer");
    }
    let mut c = shoal.conn();
    assert_eq!(c.q("DBSIZE").int(), 8);
    for t in 0..8 {
        assert_eq!(c.call(&cmd!("GET", format!("rn:{t}:200"))).text(), t.to_string());
    }
}

/// Cross-shard MSETs and MGETs of many connections at once, each in its own db and half of
/// them speaking RESP3: whatever a core's round puts together, every command lands in its
/// client's db and every reply comes back in its client's protocol and order.
#[test]
fn concurrent_cross_shard_commands_keep_each_clients_db_and_protocol() {
    const CONNS: usize = 12;
    const PER: usize = 300;
    let shoal = Arc::new(TestServer::shoal(2));
    let barrier = Arc::new(Barrier::new(CONNS));
    let handles: Vec<_> = (0..CONNS)
        .map(|id| {
            let (shoal, barrier) = (shoal.clone(), barrier.clone());
            thread::spawn(move || {
                let mut conn = shoal.conn();
                let db = id % 4;
                assert_eq!(conn.raw(&cmd!("SELECT", db.to_string())), b"+OK\r\n");
                let resp3 = id % 2 == 1;
                if resp3 {
                    let _ = conn.raw(&cmd!("HELLO", "3"));
                }
                barrier.wait();
                // Pipelined: MSET of two keys whose hash tags (key:0, key:6) sit on different
                // shards (`key_placement_premises` in transactions.rs), then an MGET of them and
                // of a key nobody writes.
                let (a, b) = (format!("{{key:0}}{id}"), format!("{{key:6}}{id}"));
                let mut cmds = Vec::new();
                for i in 0..PER {
                    let v = format!("{id}-{i}");
                    cmds.push(cmd!("MSET", a.clone(), v.clone(), b.clone(), v));
                    cmds.push(cmd!("MGET", a.clone(), b.clone(), "nobody"));
                }
                let replies = common::dataset::pipeline(&mut conn, &cmds);
                let null: &[u8] = if resp3 { b"_\r\n" } else { b"$-1\r\n" };
                for (i, pair) in replies.chunks(2).enumerate() {
                    assert_eq!(pair[0], b"+OK\r\n", "client {id} MSET {i}");
                    let v = format!("{id}-{i}");
                    let mut want = format!("*3\r\n${}\r\n{v}\r\n${}\r\n{v}\r\n", v.len(), v.len()).into_bytes();
                    want.extend_from_slice(null);
                    assert_eq!(lossy(&pair[1]), lossy(&want), "client {id} MGET {i}");
                }
                db
            })
        })
        .collect();
    let dbs: Vec<usize> = handles.into_iter().map(|h| h.join().expect("client")).collect();
    let mut check = shoal.conn();
    for (id, db) in dbs.into_iter().enumerate() {
        for other in 0..4 {
            assert_eq!(check.raw(&cmd!("SELECT", other.to_string())), b"+OK\r\n");
            let got = check.call(&cmd!("GET", format!("{{key:6}}{id}"))).bulk();
            let want = (other == db).then(|| format!("{id}-{}", PER - 1).into_bytes());
            assert_eq!(got, want, "client {id}'s key in db {other}");
        }
    }
}

/// User plus system CPU time of `pid` so far, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("server stat");
    // Fields after the command name (which is in parentheses): utime and stime are 12th and 13th.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// A busy core learns which sockets have data from non-blocking passes over its epoll set
/// (see `runtime::readiness`). Once every client goes quiet the cores must wait on the ring,
/// not spin: after a pipelined burst on 50 connections, left open and idle, the server uses
/// almost no CPU, and every parked connection still wakes for its next request.
#[test]
fn idle_connections_after_a_burst_cost_no_cpu() {
    let shoal = Arc::new(TestServer::shoal(2));
    let handles: Vec<_> = (0..50)
        .map(|id| {
            let shoal = shoal.clone();
            thread::spawn(move || {
                let mut conn = shoal.conn();
                for round in 0..20 {
                    let batch: Vec<Vec<Vec<u8>>> = (0..16)
                        .map(|i| cmd!("SET", format!("idle:{id}:{i}"), format!("{round}")))
                        .collect();
                    for reply in dataset::pipeline(&mut conn, &batch) {
                        assert_eq!(reply, b"+OK\r\n");
                    }
                }
                conn
            })
        })
        .collect();
    let mut conns: Vec<Conn> = handles.into_iter().map(|h| h.join().expect("client thread")).collect();
    // Let the last replies' bookkeeping settle, then measure two idle seconds.
    thread::sleep(Duration::from_millis(300));
    let before = cpu_ticks(shoal.pid());
    thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(shoal.pid()) - before;
    // SAFETY: sysconf only reads a system constant.
    let ticks_per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    // One spinning core alone would use a full core: 2 s worth of ticks. Allow a quarter of
    // one: an idle server's timers and expiry cycles take 3-5 % of each core in a release
    // build and about twice that in a debug build.
    assert!(
        used * 4 < 2 * ticks_per_sec,
        "idle server used {used} ticks in 2 s (clock ticks per second: {ticks_per_sec})"
    );
    for (id, conn) in conns.iter_mut().enumerate() {
        assert_eq!(conn.call(&cmd!("GET", format!("idle:{id}:15"))).text(), "19");
    }
}
