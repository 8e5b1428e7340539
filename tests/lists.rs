//! The list family against redis-server 7.0 (1 and 4 shards, RESP2 and RESP3), and the
//! blocking commands: timeouts, wake-ups from another connection (another core with 4
//! shards), first-come-first-served among waiters, cross-shard BRPOPLPUSH, MULTI.

mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;

const EDGE_CASES: &[&str] = &[
    "LPUSH l a b c",
    "RPUSH l d e f",
    "LPUSHX l z",
    "RPUSHX l y",
    "LPUSHX nol z",
    "RPUSHX nol y",
    "EXISTS nol",
    "LLEN l",
    "LLEN nol",
    "LRANGE l 0 -1",
    "LRANGE l -3 -1",
    "LRANGE l -100 100",
    "LRANGE l 5 2",
    "LRANGE l 100 200",
    "LRANGE l a 1",
    "LRANGE nol 0 -1",
    "LINDEX l 0",
    "LINDEX l -1",
    "LINDEX l 100",
    "LINDEX l x",
    "LINDEX nol 0",
    "LSET l 1 B",
    "LSET l -1 Y",
    "LSET l 100 x",
    "LSET nol 0 x",
    "LSET l x x",
    "LRANGE l 0 -1",
    "RPUSH r a b a c a d a",
    "LREM r 2 a",
    "LRANGE r 0 -1",
    "LREM r -1 a",
    "LRANGE r 0 -1",
    "LREM r 0 a",
    "LREM r 0 zz",
    "LREM nol 0 a",
    "LREM r x a",
    "LINSERT r BEFORE c X",
    "LINSERT r after d Y",
    "LINSERT r BEFORE nope X",
    "LINSERT nol BEFORE c X",
    "LINSERT r middle c X",
    "LRANGE r 0 -1",
    "LTRIM r 1 -2",
    "LRANGE r 0 -1",
    "LTRIM r 5 1",
    "EXISTS r",
    "LTRIM nol 0 1",
    "LTRIM l x 1",
    "RPUSH p a b c 1 2 3 c c",
    "LPOS p c",
    "LPOS p c RANK 2",
    "LPOS p c RANK -1",
    "LPOS p c RANK -2",
    "LPOS p c COUNT 0",
    "LPOS p c COUNT 2",
    "LPOS p c COUNT 0 RANK -1",
    "LPOS p c COUNT 0 MAXLEN 3",
    "LPOS p c RANK -1 MAXLEN 2",
    "LPOS p zz",
    "LPOS p zz COUNT 1",
    "LPOS nol a",
    "LPOS nol a COUNT 1",
    "LPOS p c RANK 0",
    "LPOS p c RANK -9223372036854775808",
    "LPOS p c RANK x",
    "LPOS p c COUNT -1",
    "LPOS p c COUNT x",
    "LPOS p c MAXLEN -1",
    "LPOS p c FOO 1",
    "LPOS p c RANK",
    "LPOP p",
    "RPOP p",
    "LPOP p 2",
    "RPOP p 2",
    "LPOP p 0",
    "LPOP p -1",
    "LPOP p x",
    "LPOP nol",
    "LPOP nol 2",
    "LPOP nol 0",
    "RPOP p 100",
    "EXISTS p",
    "LPOP p 1 2",
    "SET s str",
    "LPUSH s a",
    "RPUSHX s a",
    "LPOP s",
    "LPOP s 2",
    "LLEN s",
    "LRANGE s 0 1",
    "LINDEX s 0",
    "LSET s 0 a",
    "LREM s 0 a",
    "LTRIM s 0 1",
    "LINSERT s BEFORE a b",
    "LPOS s a",
    "RPUSH m1 a b c",
    "LMOVE m1 m2 LEFT RIGHT",
    "LMOVE m1 m2 RIGHT LEFT",
    "LMOVE m1 m1 LEFT RIGHT",
    "LRANGE m1 0 -1",
    "LRANGE m2 0 -1",
    "LMOVE m1 m2 UP LEFT",
    "LMOVE nol m2 LEFT LEFT",
    "LMOVE m1 s LEFT LEFT",
    "LMOVE nol s LEFT LEFT",
    "LMOVE s m1 LEFT LEFT",
    "RPOPLPUSH m2 m3",
    "RPOPLPUSH m2 m3",
    "RPOPLPUSH m2 m3",
    "RPOPLPUSH m2 m3",
    "EXISTS m2",
    "LRANGE m3 0 -1",
    "RPOPLPUSH m3 m3",
    "LRANGE m3 0 -1",
    "RPOPLPUSH m3 s",
    "RPUSH one x",
    "RPOPLPUSH one one",
    "LRANGE one 0 -1",
    "LMPOP 2 nol m3 LEFT",
    "LMPOP 2 nol m3 RIGHT COUNT 10",
    "LMPOP 2 nol m3 RIGHT",
    "LMPOP 1 nol LEFT",
    "LMPOP 0 a LEFT",
    "LMPOP -1 a LEFT",
    "LMPOP x a LEFT",
    "LMPOP 3 a b LEFT",
    "LMPOP 1 a MIDDLE",
    "LMPOP 1 a LEFT COUNT 0",
    "LMPOP 1 a LEFT COUNT x",
    "LMPOP 1 a LEFT COUNT 1 COUNT 2",
    "LMPOP 1 a LEFT FOO",
    "LMPOP 2 s m1 LEFT",
    "LMPOP 2 m1 s LEFT",
    "RPUSH bl a b c d e",
    "BLPOP nol bl 0",
    "BRPOP nol bl 0",
    "BLPOP bl x",
    "BLPOP bl -1",
    "BLPOP bl inf",
    "BLPOP bl -inf",
    "BLPOP bl 1e300",
    "BLPOP bl nan",
    "BLPOP bl ' 1'",
    "BLPOP nol 1e-400",
    "BLPOP nol 0.0001",
    "BLPOP s 0",
    "BLPOP nol s 0",
    "BRPOPLPUSH bl bl2 0",
    "BRPOPLPUSH bl s 0",
    "BRPOPLPUSH bl bl2 -1",
    "BLMOVE bl2 bl LEFT RIGHT 0",
    "BLMOVE bl2 bl LEFT UP 0",
    "BLMOVE bl2 bl LEFT RIGHT x",
    "RPUSH bl x y z",
    "BLMPOP 0 2 nol bl LEFT COUNT 2",
    "BLMPOP 0 1 bl RIGHT",
    "BLMPOP x 1 bl RIGHT",
    "BLMPOP -1 1 bl RIGHT",
    "BLMPOP 0 0 bl RIGHT",
    "BLMPOP 0 1 bl RIGHT COUNT 0",
    "BLPOP nol 0.01",
    "BRPOPLPUSH nol bl 0.01",
    "BLMOVE nol bl LEFT LEFT 0.01",
    "BLMPOP 0.01 2 nol nol2 LEFT",
    "LPUSH",
    "LPOP",
    "LRANGE l 0",
    "LMOVE a b LEFT",
    "BLPOP k",
    "OBJECT ENCODING l",
    "TYPE l",
];

#[test]
fn list_commands_match_redis() {
    diff(|p| {
        p.lines(EDGE_CASES);
        p.s("FLUSHALL");
        p.s("HELLO 3");
        p.lines(EDGE_CASES);
    });
}

#[test]
fn big_lists_and_long_elements_match_redis() {
    diff(|p| {
        for i in 0..700 {
            p.same(&cmd!("RPUSH", "big", format!("element-{i}")));
        }
        let long = "x".repeat(20_000);
        p.same(&cmd!("LPUSH", "big", long.as_str()));
        p.same(&cmd!("RPUSH", "big", long.as_str()));
        p.lines(&[
            "LLEN big",
            "LRANGE big 0 99",
            "LRANGE big 0 599",
            "LRANGE big 100 -100",
            "LRANGE big -600 -1",
            "LINDEX big 350",
            "LINDEX big -350",
            "LSET big 350 changed",
            "LINSERT big AFTER element-500 inserted",
            "LREM big -2 element-7",
            "LPOS big changed",
            "LPOS big inserted RANK -1",
            "LTRIM big 3 -4",
            "LRANGE big 0 -1",
            "OBJECT ENCODING big",
            "LPOP big 250",
            "RPOP big 250",
            "LRANGE big 0 -1",
        ]);
    });
}

#[test]
fn lrange_600_reply_is_fast() {
    let shoal = TestServer::shoal(2);
    let mut c = shoal.conn();
    let mut args = cmd!("RPUSH", "l");
    for i in 0..600 {
        args.push(format!("value-{i:04}").into_bytes());
    }
    c.raw(&args);
    let start = Instant::now();
    for _ in 0..500 {
        let r = c.raw(&cmd!("LRANGE", "l", "0", "599"));
        assert!(r.starts_with(b"*600\r\n"));
    }
    // A debug build answering 500 LRANGEs of 600 elements well within this budget.
    assert!(start.elapsed() < Duration::from_secs(20), "{:?}", start.elapsed());
}

fn shoal_and_conns(shards: usize, n: usize) -> (TestServer, Vec<Conn>) {
    let s = TestServer::shoal(shards);
    let conns = (0..n).map(|_| s.conn()).collect();
    (s, conns)
}

#[test]
fn blpop_times_out_with_a_null_array() {
    for shards in [1, 4] {
        let (_s, mut c) = shoal_and_conns(shards, 1);
        let start = Instant::now();
        let r = c[0].raw(&cmd!("BLPOP", "nokey", "other", "0.2"));
        let took = start.elapsed();
        assert_eq!(r, b"*-1\r\n");
        assert!(
            took >= Duration::from_millis(190) && took < Duration::from_secs(3),
            "{took:?}"
        );
        assert_eq!(c[0].raw(&cmd!("HELLO", "3"))[0], b'%');
        assert_eq!(c[0].raw(&cmd!("BRPOP", "nokey", "0.05")), b"_\r\n");
        assert_eq!(
            c[0].raw(&cmd!("BLMOVE", "nokey", "x", "LEFT", "LEFT", "0.05")),
            b"_\r\n"
        );
        // The connection still works, and a later push is not taken by the stale waiter.
        c[0].raw(&cmd!("RPUSH", "nokey", "v"));
        assert_eq!(c[0].raw(&cmd!("LLEN", "nokey")), b":1\r\n");
    }
}

#[test]
fn blpop_is_served_by_a_push_from_other_connections() {
    for shards in [1, 4] {
        let (_s, mut c) = shoal_and_conns(shards, 8);
        for (i, key) in ["k1", "k2", "k3", "k4", "k5", "k6", "k7"].iter().enumerate() {
            // The waiter is connection 0, the pusher varies (so cores vary with 4 shards).
            c[0].send(&cmd!("BLPOP", "other", *key, "5"));
            sleep(Duration::from_millis(30));
            assert_eq!(c[i + 1].raw(&cmd!("RPUSH", *key, "a", "b")), b":2\r\n");
            let r = c[0].read_reply();
            assert_eq!(lossy(&r), format!("*2\r\n$2\r\n{key}\r\n$1\r\na\r\n"));
            assert_eq!(c[i + 1].raw(&cmd!("LRANGE", *key, "0", "-1")), b"*1\r\n$1\r\nb\r\n");
        }
    }
}

#[test]
fn waiters_are_served_first_come_first_served() {
    for shards in [1, 4] {
        let (_s, mut c) = shoal_and_conns(shards, 4);
        for waiter in c.iter_mut().take(3) {
            waiter.send(&cmd!("BRPOP", "q", "0"));
            sleep(Duration::from_millis(50));
        }
        assert_eq!(c[3].raw(&cmd!("LPUSH", "q", "1", "2", "3", "4")), b":4\r\n");
        for (w, want) in ["1", "2", "3"].iter().enumerate() {
            assert_eq!(lossy(&c[w].read_reply()), format!("*2\r\n$1\r\nq\r\n$1\r\n{want}\r\n"));
        }
        assert_eq!(c[3].raw(&cmd!("LRANGE", "q", "0", "-1")), b"*1\r\n$1\r\n4\r\n");
    }
}

#[test]
fn blocking_moves_across_shards() {
    let (_s, mut c) = shoal_and_conns(4, 3);
    for i in 0..6 {
        let (src, dst) = (format!("src{i}"), format!("dst{i}"));
        c[0].send(&cmd!("BRPOPLPUSH", src.as_str(), dst.as_str(), "5"));
        c[1].send(&cmd!("BLMOVE", src.as_str(), dst.as_str(), "LEFT", "RIGHT", "5"));
        sleep(Duration::from_millis(50));
        assert_eq!(c[2].raw(&cmd!("RPUSH", src.as_str(), "a", "b", "c")), b":3\r\n");
        assert_eq!(c[0].read_reply(), b"$1\r\nc\r\n");
        assert_eq!(c[1].read_reply(), b"$1\r\na\r\n");
        assert_eq!(c[2].raw(&cmd!("LRANGE", src.as_str(), "0", "-1")), b"*1\r\n$1\r\nb\r\n");
        assert_eq!(
            c[2].raw(&cmd!("LRANGE", dst.as_str(), "0", "-1")),
            b"*2\r\n$1\r\nc\r\n$1\r\na\r\n"
        );
    }
    // BLMPOP waiting on keys of several shards is served once, from the key pushed.
    c[0].send(&cmd!("BLMPOP", "5", "3", "m1", "m2", "m3", "RIGHT", "COUNT", "2"));
    sleep(Duration::from_millis(50));
    c[2].raw(&cmd!("RPUSH", "m3", "x", "y", "z"));
    assert_eq!(c[0].read_reply(), b"*2\r\n$2\r\nm3\r\n*2\r\n$1\r\nz\r\n$1\r\ny\r\n");
    c[2].raw(&cmd!("RPUSH", "m1", "q"));
    assert_eq!(c[2].raw(&cmd!("LLEN", "m1")), b":1\r\n");
}

#[test]
fn blocking_to_a_wrong_type_destination_errors_and_keeps_the_element() {
    for shards in [1, 4] {
        let (_s, mut c) = shoal_and_conns(shards, 2);
        c[1].raw(&cmd!("SET", "target", "str"));
        c[0].send(&cmd!("BRPOPLPUSH", "blist", "target", "5"));
        sleep(Duration::from_millis(50));
        c[1].raw(&cmd!("RPUSH", "blist", "foo"));
        assert!(c[0].read_reply().starts_with(b"-WRONGTYPE"));
        assert_eq!(c[1].raw(&cmd!("LRANGE", "blist", "0", "-1")), b"*1\r\n$3\r\nfoo\r\n");
    }
}

#[test]
fn blocking_commands_never_block_inside_multi() {
    diff(|p| {
        p.lines(&[
            "MULTI",
            "BLPOP empty 0",
            "BRPOPLPUSH empty other 0",
            "BLMOVE empty other LEFT LEFT 0",
            "BLMPOP 0 1 empty LEFT",
            "RPUSH full a b",
            "BLPOP full 0",
            "BLMOVE full other LEFT LEFT 0",
            "EXEC",
            "LRANGE other 0 -1",
        ]);
    });
}

#[test]
fn a_list_renamed_onto_a_waited_key_serves_the_waiter() {
    for shards in [1, 4] {
        let (_s, mut c) = shoal_and_conns(shards, 2);
        c[0].send(&cmd!("BLPOP", "target", "5"));
        sleep(Duration::from_millis(50));
        c[1].raw(&cmd!("RPUSH", "source", "a", "b"));
        assert_eq!(c[1].raw(&cmd!("RENAME", "source", "target")), b"+OK\r\n");
        assert_eq!(c[0].read_reply(), b"*2\r\n$6\r\ntarget\r\n$1\r\na\r\n");
        assert_eq!(c[1].raw(&cmd!("LRANGE", "target", "0", "-1")), b"*1\r\n$1\r\nb\r\n");
    }
}

/// Many waiters and pushers on several cores: every pushed element is popped exactly once
/// (by a waiter or left in the list), whatever the races between serving and timeouts.
#[test]
fn concurrent_waiters_and_pushers_lose_and_duplicate_nothing() {
    let shoal = TestServer::shoal(4);
    let port = shoal.port;
    let keys = ["sq1", "sq2", "sq3"];
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut waiters = Vec::new();
    for w in 0..8 {
        let stop = stop.clone();
        waiters.push(std::thread::spawn(move || {
            let mut c = Conn::connect(port);
            let mut got = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let r = if w % 2 == 0 {
                    c.call(&cmd!("BLPOP", "sq1", "sq2", "sq3", "0.05"))
                } else {
                    c.call(&cmd!("BLMPOP", "0.03", "3", "sq3", "sq2", "sq1", "RIGHT", "COUNT", "2"))
                };
                match r {
                    Reply::Array(items) if items.len() == 2 => match &items[1] {
                        Reply::Array(elems) => got.extend(elems.iter().filter_map(|e| e.bulk())),
                        other => got.extend(other.bulk()),
                    },
                    _ => {}
                }
            }
            got
        }));
    }
    let mut pushers = Vec::new();
    for p in 0..3 {
        pushers.push(std::thread::spawn(move || {
            let mut c = Conn::connect(port);
            for i in 0..300 {
                let key = keys[(i + p) % 3];
                c.raw(&cmd!("RPUSH", key, format!("p{p}-{i}")));
                if i % 50 == 0 {
                    sleep(Duration::from_millis(5));
                }
            }
        }));
    }
    pushers.into_iter().for_each(|h| h.join().expect("pusher"));
    sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut all: Vec<Vec<u8>> = waiters.into_iter().flat_map(|h| h.join().expect("waiter")).collect();
    let mut c = shoal.conn();
    for k in keys {
        if let Reply::Array(rest) = c.call(&cmd!("LRANGE", k, "0", "-1")) {
            all.extend(rest.iter().filter_map(|e| e.bulk()));
        }
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "an element was delivered twice");
    assert_eq!(n, 900, "elements lost");
}
