//! BZPOPMIN, BZPOPMAX and BZMPOP compared with redis-server 7.0: the immediate forms, errors,
//! MULTI, timeouts, and waiters served by writes from other connections (with four shards,
//! from other cores), in RESP2 and RESP3.

mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;

/// Fresh redis + Shoal pairs for 1 and 4 shards, `conns` connection pairs each.
fn pairs(conns: usize, f: impl Fn(&mut [Pair])) {
    for shards in [1, 4] {
        let redis = TestServer::redis();
        let shoal = TestServer::shoal(shards);
        let mut ps: Vec<Pair> = (0..conns).map(|_| Pair::new(&redis, &shoal)).collect();
        f(&mut ps);
    }
}

#[test]
fn immediate_pops_errors_and_multi_match_redis() {
    for proto in ["2", "3"] {
        diff(|p| {
            p.s(&format!("HELLO {proto}"));
            p.lines(&[
                "ZADD za 1 a 2 b 3 c",
                "ZADD zb 5 x",
                "BZPOPMIN za 0",
                "BZPOPMAX za zb 0",
                "BZPOPMAX nokey zb 0",
                "BZPOPMIN nokey za 0.01",
                "ZADD zb 6 y 7 z",
                "BZMPOP 0 2 nokey zb MIN",
                "ZADD zc 1 p 2 q 3 r",
                "BZMPOP 0 1 zc MAX COUNT 2",
                "BZMPOP 0 1 zc MIN COUNT 10",
                "EXISTS zc",
                "BZPOPMIN nokey 0.01",
                "BZMPOP 0.01 2 nokey other MIN",
                "SET s v",
                "BZPOPMIN s 0",
                "BZPOPMIN nokey s 0",
                "BZMPOP 0 1 s MIN",
                "BZPOPMIN za x",
                "BZPOPMIN za -1",
                "BZPOPMIN za",
                "BZMPOP 0 0 za MIN",
                "BZMPOP 0 1 za SIDEWAYS",
                "BZMPOP 0 1 za MIN COUNT 0",
                "BZMPOP 0 1 za MIN COUNT 1 COUNT 2",
                "BZMPOP x 1 za MIN",
                "MULTI",
                "BZPOPMIN empty 0",
                "BZMPOP 0 1 empty MAX",
                "ZADD full 1 m",
                "BZPOPMAX full 0",
                "EXEC",
                "EXISTS full",
            ]);
        });
    }
}

#[test]
fn waiters_are_served_by_writes_from_other_connections() {
    pairs(3, |ps| {
        let [waiter, second, writer] = ps else { unreachable!() };
        for (i, proto) in ["2", "3"].iter().enumerate() {
            waiter.s(&format!("HELLO {proto}"));
            let (k1, k2) = (format!("w{i}a"), format!("w{i}b"));
            // BZPOPMIN on two keys, served by a ZADD to the second.
            let line = format!("BZPOPMIN {k1} {k2} 5");
            waiter.redis.send(&c(&line));
            waiter.shoal.send(&c(&line));
            sleep(Duration::from_millis(50));
            writer.s(&format!("ZADD {k2} 3 c 1 a 2 b"));
            let (r, s) = (waiter.redis.read_reply(), waiter.shoal.read_reply());
            assert_eq!(lossy(&s), lossy(&r), "BZPOPMIN served (left: shoal, right: redis)");
            writer.s(&format!("ZRANGE {k2} 0 -1 WITHSCORES"));
            // Two waiters: first come, first served; BZMPOP takes up to its count.
            let mp = format!("BZMPOP 5 1 {k1} MAX COUNT 2");
            let one = format!("BZPOPMAX {k1} 5");
            for (conn, line) in [(&mut *waiter, &mp), (&mut *second, &one)] {
                conn.redis.send(&c(line));
                conn.shoal.send(&c(line));
                sleep(Duration::from_millis(50));
            }
            writer.s(&format!("ZADD {k1} 1 x 2 y 3 z"));
            for (conn, what) in [(&mut *waiter, "BZMPOP"), (&mut *second, "BZPOPMAX")] {
                let (r, s) = (conn.redis.read_reply(), conn.shoal.read_reply());
                assert_eq!(lossy(&s), lossy(&r), "{what} served (left: shoal, right: redis)");
            }
            writer.s(&format!("EXISTS {k1} {k2}"));
            // A STORE command that creates the waited key serves it too.
            let line = format!("BZPOPMIN {k1} 5");
            waiter.redis.send(&c(&line));
            waiter.shoal.send(&c(&line));
            sleep(Duration::from_millis(50));
            writer.s(&format!("ZADD {k2} 7 m"));
            writer.s(&format!("ZUNIONSTORE {k1} 1 {k2}"));
            let (r, s) = (waiter.redis.read_reply(), waiter.shoal.read_reply());
            assert_eq!(
                lossy(&s),
                lossy(&r),
                "BZPOPMIN served by ZUNIONSTORE (left: shoal, right: redis)"
            );
        }
    });
}

#[test]
fn a_timeout_answers_null_and_the_waiter_takes_nothing_later() {
    for shards in [1, 4] {
        let shoal = TestServer::shoal(shards);
        let mut c1 = shoal.conn();
        let mut c2 = shoal.conn();
        let start = Instant::now();
        assert_eq!(c1.raw(&cmd!("BZPOPMIN", "q1", "q2", "0.2")), b"*-1\r\n");
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(190) && took < Duration::from_secs(3),
            "{took:?}"
        );
        assert_eq!(c1.raw(&cmd!("BZMPOP", "0.05", "1", "q1", "MIN")), b"*-1\r\n");
        c2.raw(&cmd!("ZADD", "q1", "1", "a"));
        assert_eq!(c2.raw(&cmd!("ZCARD", "q1")), b":1\r\n");
        // A waiter whose connection goes away never takes a member.
        c1.send(&cmd!("BZPOPMAX", "q3", "0"));
        sleep(Duration::from_millis(50));
        drop(c1);
        sleep(Duration::from_millis(50));
        c2.raw(&cmd!("ZADD", "q3", "1", "a"));
        assert_eq!(c2.raw(&cmd!("ZCARD", "q3")), b":1\r\n");
    }
}
