//! MULTI/EXEC across shards: a randomized stress test that checks isolation of concurrent
//! transfers and cross-shard MSET for concurrent readers, and WATCH / DISCARD / EXECABORT
//! semantics compared byte for byte with redis-server 7.0 under one and four shards.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const ACCOUNTS: usize = 16;
const START_BALANCE: i64 = 1000;
const MARKERS: usize = 8;
const WRITERS: usize = 8;
const READERS: usize = 2;
const RUN_FOR: Duration = Duration::from_secs(4);
/// Upper bound on operations per writer, so a very fast machine still ends early.
const MAX_OPS_PER_WRITER: u64 = 50_000;

/// A tiny deterministic generator (xorshift) so a failure can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn account(i: usize) -> String {
    format!("acct:{i}")
}

fn mget_accounts() -> Vec<Vec<u8>> {
    let mut args = cmd!("MGET");
    args.extend((0..ACCOUNTS).map(|i| account(i).into_bytes()));
    args
}

fn mget_markers() -> Vec<Vec<u8>> {
    let mut args = cmd!("MGET");
    args.extend((0..MARKERS).map(|i| format!("m:{i}").into_bytes()));
    args
}

fn mset_markers(v: &str) -> Vec<Vec<u8>> {
    let mut args = cmd!("MSET");
    for i in 0..MARKERS {
        args.push(format!("m:{i}").into_bytes());
        args.push(v.as_bytes().to_vec());
    }
    args
}

fn sum_of(items: &[Reply]) -> i64 {
    items
        .iter()
        .map(|r| {
            let b = r.bulk().expect("every account exists");
            lossy(&b).parse::<i64>().expect("balance is an integer")
        })
        .sum()
}

/// Every marker value of one MGET must come from the same MSET.
fn assert_one_marker(items: &[Reply], context: &str) {
    let vals: Vec<Option<Vec<u8>>> = items.iter().map(Reply::bulk).collect();
    assert!(
        vals.iter().all(|v| *v == vals[0]),
        "{context}: MGET saw a mix of MSETs: {:?}",
        vals.iter().map(|v| v.as_deref().map(lossy)).collect::<Vec<_>>()
    );
}

#[test]
fn concurrent_transfers_and_msets_are_isolated() {
    let shoal = Arc::new(TestServer::shoal(4));
    let mut setup = shoal.conn();
    for i in 0..ACCOUNTS {
        assert_eq!(setup.raw(&cmd!("SET", account(i), START_BALANCE)), b"+OK\r\n");
    }
    assert_eq!(setup.raw(&mset_markers("init")), b"+OK\r\n");
    let total = START_BALANCE * ACCOUNTS as i64;

    let stop = Arc::new(AtomicBool::new(false));
    let transfers = Arc::new(AtomicU64::new(0));
    let msets = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(Barrier::new(WRITERS + READERS));
    let mut handles = Vec::new();

    for w in 0..WRITERS {
        let (shoal, stop, transfers, msets, barrier) = (
            shoal.clone(),
            stop.clone(),
            transfers.clone(),
            msets.clone(),
            barrier.clone(),
        );
        handles.push(thread::spawn(move || {
            let mut conn = shoal.conn();
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((w as u64 + 1) * 0x1000_0001));
            barrier.wait();
            let mut ops = 0u64;
            while !stop.load(Ordering::Relaxed) && ops < MAX_OPS_PER_WRITER {
                ops += 1;
                if rng.below(4) == 0 {
                    let v = format!("w{w}-{ops}");
                    assert_eq!(conn.raw(&mset_markers(&v)), b"+OK\r\n");
                    msets.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let a = rng.below(ACCOUNTS as u64) as usize;
                let b = (a + 1 + rng.below(ACCOUNTS as u64 - 1) as usize) % ACCOUNTS;
                let x = 1 + rng.below(50) as i64;
                // Pipelined: the whole transaction goes out in one write.
                let mut bytes = encode(&cmd!("MULTI"));
                bytes.extend(encode(&cmd!("DECRBY", account(a), x)));
                bytes.extend(encode(&cmd!("INCRBY", account(b), x)));
                bytes.extend(encode(&cmd!("EXEC")));
                conn.send_raw(&bytes);
                assert_eq!(conn.read_reply(), b"+OK\r\n");
                assert_eq!(conn.read_reply(), b"+QUEUED\r\n");
                assert_eq!(conn.read_reply(), b"+QUEUED\r\n");
                let exec = Reply::parse(&conn.read_reply()).items();
                assert_eq!(exec.len(), 2, "EXEC runs both commands");
                assert!(matches!(exec[0], Reply::Int(_)) && matches!(exec[1], Reply::Int(_)));
                transfers.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for r in 0..READERS {
        let (shoal, stop, reads, barrier) = (shoal.clone(), stop.clone(), reads.clone(), barrier.clone());
        handles.push(thread::spawn(move || {
            let mut conn = shoal.conn();
            barrier.wait();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) && n < MAX_OPS_PER_WRITER * 4 {
                n += 1;
                let mut bytes = encode(&cmd!("MULTI"));
                bytes.extend(encode(&mget_accounts()));
                bytes.extend(encode(&cmd!("EXEC")));
                conn.send_raw(&bytes);
                assert_eq!(conn.read_reply(), b"+OK\r\n");
                assert_eq!(conn.read_reply(), b"+QUEUED\r\n");
                let exec = Reply::parse(&conn.read_reply()).items();
                assert_eq!(exec.len(), 1);
                let sum = sum_of(&exec[0].items());
                assert_eq!(sum, total, "reader {r}: MULTI/MGET/EXEC saw a half-done transfer");
                // Plain MGET of the markers (no MULTI) must be atomic against MSET too.
                assert_one_marker(&conn.call(&mget_markers()).items(), &format!("reader {r} MGET"));
                // And the same inside a transaction.
                let mut bytes = encode(&cmd!("MULTI"));
                bytes.extend(encode(&mget_markers()));
                bytes.extend(encode(&cmd!("EXEC")));
                conn.send_raw(&bytes);
                assert_eq!(conn.read_reply(), b"+OK\r\n");
                assert_eq!(conn.read_reply(), b"+QUEUED\r\n");
                let exec = Reply::parse(&conn.read_reply()).items();
                assert_one_marker(&exec[0].items(), &format!("reader {r} MULTI MGET"));
                reads.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    let started = Instant::now();
    while started.elapsed() < RUN_FOR && !handles.iter().any(|h| h.is_finished()) {
        thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().expect("client thread panicked");
    }
    let (t, m, r) = (
        transfers.load(Ordering::Relaxed),
        msets.load(Ordering::Relaxed),
        reads.load(Ordering::Relaxed),
    );
    eprintln!(
        "stress: {t} transfers, {m} msets, {r} reader rounds in {:?}",
        started.elapsed()
    );
    assert!(t > 100 && m > 10 && r > 10, "too little work done: {t} {m} {r}");

    let items = setup.call(&mget_accounts()).items();
    assert_eq!(sum_of(&items), total, "final total");
    assert_one_marker(&setup.call(&mget_markers()).items(), "final MGET");
}

// ---------------------------------------------------------------------------------------------
// WATCH and friends against redis-server 7.0
// ---------------------------------------------------------------------------------------------

/// Runs `f(main, other)` on fresh servers for 1 and 4 shards: `main` is the transaction's
/// connection pair, `other` a second client pair that interferes.
fn watch_diff(f: impl Fn(&mut Pair, &mut Pair)) {
    for shards in [1, 4] {
        let redis = TestServer::redis();
        let shoal = TestServer::shoal(shards);
        let mut main = Pair::new(&redis, &shoal);
        let mut other = Pair::new(&redis, &shoal);
        other.label = format!("{} other client", other.label);
        f(&mut main, &mut other);
    }
}

#[test]
fn watch_change_by_another_client_aborts() {
    watch_diff(|p, o| {
        p.lines(&["SET k 1", "WATCH k"]);
        o.s("SET k 2");
        p.lines(&["MULTI", "SET k 3", "EXEC", "GET k"]);
        // Watching a missing key that another client then creates.
        p.lines(&["WATCH nokey"]);
        o.s("SET nokey x");
        p.lines(&["MULTI", "GET nokey", "EXEC"]);
        // A write that changes nothing (DEL of a missing key) does not touch the key.
        p.lines(&["WATCH ghost"]);
        o.s("DEL ghost");
        p.lines(&["MULTI", "GET ghost", "EXEC"]);
        // EXPIRE by another client counts as a change.
        p.lines(&["SET e v", "WATCH e"]);
        o.s("EXPIRE e 100");
        p.lines(&["MULTI", "TTL e", "EXEC"]);
        // The watching client's own write outside MULTI also aborts.
        p.lines(&["WATCH k", "SET k mine", "MULTI", "GET k", "EXEC"]);
        // A write to an unrelated key does not.
        p.lines(&["WATCH k"]);
        o.s("SET unrelated 1");
        p.lines(&["MULTI", "GET k", "EXEC"]);
    });
}

#[test]
fn watch_expired_key_aborts() {
    watch_diff(|p, _o| {
        p.lines(&["SET t v PX 100", "WATCH t"]);
        thread::sleep(Duration::from_millis(250));
        p.lines(&["MULTI", "GET t", "EXEC"]);
        // A key already expired when WATCHed does not abort when it stays missing.
        p.lines(&["SET t2 v PX 50"]);
        thread::sleep(Duration::from_millis(150));
        p.lines(&["WATCH t2", "MULTI", "GET t2", "EXEC"]);
    });
}

#[test]
fn watch_and_flushall() {
    watch_diff(|p, o| {
        p.lines(&["SET f 1", "WATCH f"]);
        o.s("FLUSHALL");
        p.lines(&["MULTI", "SET f 2", "EXEC", "GET f"]);
        p.lines(&["SET f 1", "WATCH f"]);
        o.s("FLUSHDB");
        p.lines(&["MULTI", "PING", "EXEC"]);
    });
}

/// With four shards a FLUSHALL from another client does not invalidate these watched keys.
#[test]
fn watch_several_keys_and_flushall() {
    watch_diff(|p, o| {
        p.lines(&["MSET f 1 g 2 h 3", "WATCH g h"]);
        o.s("FLUSHALL");
        p.lines(&["MULTI", "PING", "EXEC"]);
    });
}

/// Redis 7.0 only invalidates watched keys that existed in the flushed database
/// (`touchAllWatchedKeysInDb` checks the key against the emptied dict).
#[test]
fn watch_missing_key_survives_flush() {
    watch_diff(|p, o| {
        p.lines(&["WATCH absent"]);
        o.s("FLUSHALL");
        p.lines(&["MULTI", "PING", "EXEC"]);
        p.lines(&["SET other 1", "WATCH absent"]);
        o.s("FLUSHDB");
        p.lines(&["MULTI", "PING", "EXEC"]);
    });
}

#[test]
fn watch_keys_on_several_shards() {
    watch_diff(|p, o| {
        let keys: Vec<String> = (0..12).map(|i| format!("w:{i}")).collect();
        for k in &keys {
            p.s(&format!("SET {k} 0"));
        }
        let all = keys.join(" ");
        // No interference: the transaction touching every shard commits.
        p.s(&format!("WATCH {all}"));
        p.lines(&["MULTI", "INCR w:0", "INCR w:5", "INCR w:11", "EXEC"]);
        // A change to any one watched key, whichever shard holds it, aborts.
        for k in ["w:3", "w:7", "w:10"] {
            p.s(&format!("WATCH {all}"));
            o.s(&format!("INCR {k}"));
            p.lines(&["MULTI", "INCR w:0", "EXEC"]);
        }
        // WATCH in several calls accumulates.
        p.lines(&["WATCH w:1", "WATCH w:2", "WATCH w:9"]);
        o.s("SET w:9 x");
        p.lines(&["MULTI", "MGET w:0 w:1 w:2 w:9", "EXEC", "MGET w:0 w:1 w:2 w:9"]);
    });
}

#[test]
fn unwatch_discard_and_exec_clear_watches() {
    watch_diff(|p, o| {
        p.lines(&["SET k 1", "WATCH k"]);
        o.s("SET k 2");
        p.lines(&["UNWATCH", "MULTI", "GET k", "EXEC"]);
        // EXEC forgets the watches.
        p.lines(&["WATCH k", "MULTI", "EXEC"]);
        o.s("SET k 3");
        p.lines(&["MULTI", "GET k", "EXEC"]);
        // DISCARD forgets them too.
        p.lines(&["WATCH k", "MULTI", "SET k 9", "DISCARD", "GET k"]);
        o.s("SET k 4");
        p.lines(&["MULTI", "GET k", "EXEC"]);
        // An aborted EXEC forgets them as well.
        p.lines(&["WATCH k"]);
        o.s("SET k 5");
        p.lines(&["MULTI", "EXEC", "MULTI", "GET k", "EXEC", "UNWATCH"]);
    });
}

#[test]
fn transaction_errors_match_redis() {
    watch_diff(|p, _o| {
        p.lines(&[
            "DISCARD",
            "EXEC",
            "UNWATCH",
            "MULTI",
            "MULTI",
            "WATCH k",
            "DISCARD",
            // A queueing error (unknown command, wrong arity) fails EXEC as a whole.
            "MULTI",
            "SET x 1",
            "NOSUCHCMD a",
            "SET y",
            "EXEC",
            "GET x",
            // Errors at run time do not roll back the other commands.
            "SET s str",
            "MULTI",
            "SET a 1",
            "INCR s",
            "LPUSH s x",
            "SET b 2",
            "INCRBY a notanumber",
            "EXEC",
            "MGET a b s",
            // Empty transaction, and one with reads on several shards.
            "MULTI",
            "EXEC",
            "MULTI",
            "MSET p1 1 p2 2 p3 3 p4 4",
            "MGET p1 p2 p3 p4 missing",
            "DEL p1 p3 missing",
            "EXISTS p1 p2 p3 p4",
            "EXEC",
            // DISCARD throws the queue away.
            "MULTI",
            "SET d 1",
            "DISCARD",
            "GET d",
        ]);
    });
}

/// Multi-key set and sorted-set commands queued in MULTI run inside EXEC's hold on the shards
/// (they once took their own locks and waited forever on shards EXEC already held).
#[test]
fn multi_key_collection_commands_inside_exec() {
    watch_diff(|p, _o| {
        p.lines(&[
            "SADD sa 1 2 3 4",
            "SADD sb 3 4 5",
            "SADD sc 4 5 6",
            "ZADD za 1 x 2 y",
            "ZADD zb 3 y 4 z",
            "MULTI",
            "SINTERSTORE sdst sa sb sc",
            "SUNION sa sb sc",
            "SDIFFSTORE sdiff sa sb",
            "SMOVE sa sc 1",
            "SINTERCARD 2 sa sb",
            "ZUNIONSTORE zdst 2 za zb",
            "ZINTERSTORE zint 2 za zb WEIGHTS 2 3",
            "ZDIFF 2 za zb",
            "ZRANGESTORE zr za 0 -1",
            "EXEC",
            "SMEMBERS sdst",
            "SMEMBERS sc",
            "ZRANGE zdst 0 -1 WITHSCORES",
            "ZRANGE zint 0 -1 WITHSCORES",
        ]);
    });
}

/// Commands that reach every core without keys (PUBLISH, INFO, CLIENT LIST, SLOWLOG, BGSAVE)
/// run inside an EXEC that holds shards: they must not wait for the gates EXEC itself holds.
#[test]
fn keyless_fan_out_commands_inside_exec() {
    let shoal = TestServer::shoal(4);
    let mut conn = shoal.conn();
    conn.call(&cmd!("MULTI"));
    for line in [
        "SET a 1",
        "SET b 2",
        "PUBLISH ch m",
        "INFO keyspace",
        "CLIENT LIST",
        "SLOWLOG LEN",
        "BGSAVE",
        "DBSIZE",
    ] {
        assert_eq!(conn.call(&c(line)).text(), "QUEUED", "{line}");
    }
    let items = conn.call(&cmd!("EXEC")).items();
    assert_eq!(items.len(), 8);
    assert_eq!(items[2].int(), 0);
    assert!(items[3].text().contains("db0:keys=2"), "{}", items[3].text());
    assert_eq!(items[7].int(), 2);
}

// ---------------------------------------------------------------------------------------------
// Routing premises of this file and of perf/cross_shard.sh
// ---------------------------------------------------------------------------------------------

/// The stress test only exercises cross-shard transactions if its keys really spread, and
/// `perf/cross_shard.sh` hard-codes a key pair that must sit on different shards of a
/// two-shard server (and a hash-tagged pair that must not).
#[test]
fn key_placement_premises() {
    use shoal::shard::route::shard_of;
    let mut used = [false; 4];
    for i in 0..ACCOUNTS {
        used[shard_of(account(i).as_bytes(), 4)] = true;
    }
    assert_eq!(used, [true; 4], "acct:0..15 cover all four shards");
    let mut used = [false; 4];
    for i in 0..MARKERS {
        used[shard_of(format!("m:{i}").as_bytes(), 4)] = true;
    }
    assert!(used.iter().filter(|u| **u).count() >= 3, "m:0..7 spread over shards");
    let (a, b) = PERF_CROSS_PAIR;
    assert_ne!(
        shard_of(a.as_bytes(), 2),
        shard_of(b.as_bytes(), 2),
        "perf/cross_shard.sh: {a} and {b} must be on different shards of 2; first key:N that is: {:?}",
        (1..100).find(|i| shard_of(format!("key:{i}").as_bytes(), 2) != shard_of(b"key:0", 2))
    );
    assert_eq!(shard_of(b"{t}a", 2), shard_of(b"{t}b", 2));
}

/// Kept in step with `CROSS_A` / `CROSS_B` in perf/cross_shard.sh.
const PERF_CROSS_PAIR: (&str, &str) = ("key:0", "key:6");
