//! Pub/sub across cores: publishers and subscribers on different connections (with four
//! shards they land on different cores), replies and message order compared byte for byte
//! with redis-server 7.0, RESP3 pushes, and a slow subscriber cut off by its output limit.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::*;

/// Sends `line` to both servers of `p`, reads `n` replies from each and asserts they are
/// byte-identical (a (UN)SUBSCRIBE of several channels answers once per channel).
fn same_n(p: &mut Pair, line: &str, n: usize) {
    let args = c(line);
    p.redis.send(&args);
    p.shoal.send(&args);
    for i in 0..n {
        let r = p.redis.read_reply();
        let s = p.shoal.read_reply();
        assert_eq!(
            lossy(&s),
            lossy(&r),
            "[{}] reply {i} to `{line}` differs (left: shoal, right: redis)",
            p.label
        );
    }
}

/// Reads one pending reply (a message) from both and asserts they are identical.
fn same_message(p: &mut Pair, what: &str) -> Vec<u8> {
    let r = p.redis.read_reply();
    let s = p.shoal.read_reply();
    assert_eq!(
        lossy(&s),
        lossy(&r),
        "[{}] {what} differs (left: shoal, right: redis)",
        p.label
    );
    s
}

/// Fresh redis + Shoal pairs for 1 and 4 shards; `f` gets `conns` pairs per flavor.
fn pubsub_diff(conns: usize, f: impl Fn(&mut [Pair])) {
    for shards in [1, 4] {
        let redis = TestServer::redis();
        let shoal = TestServer::shoal(shards);
        let mut pairs: Vec<Pair> = (0..conns)
            .map(|i| {
                let mut p = Pair::new(&redis, &shoal);
                p.label = format!("{} conn {i}", p.label);
                p
            })
            .collect();
        f(&mut pairs);
    }
}

#[test]
fn subscribe_publish_and_message_order() {
    pubsub_diff(4, |ps| {
        let [publisher, s1, s2, s3] = ps else { unreachable!() };
        same_n(s1, "SUBSCRIBE news sport", 2);
        same_n(s2, "SUBSCRIBE news", 1);
        same_n(s3, "PSUBSCRIBE n* *t", 2);
        // news: s1, s2, s3 (n*) = 3 receivers; sport: s1 and s3 (*t) = 2.
        publisher.s("PUBLISH news hello");
        publisher.s("PUBLISH sport goal");
        publisher.s("PUBLISH nothing x");
        publisher.s("PUBLISH nobody x");
        // s1: news hello, sport goal.
        same_message(s1, "message 1 on s1");
        same_message(s1, "message 2 on s1");
        same_message(s2, "message on s2");
        // s3: pmessage n* news, pmessage *t sport, pmessage n* nothing.
        for i in 0..3 {
            same_message(s3, &format!("pmessage {i} on s3"));
        }
        // A subscriber to a channel and a matching pattern gets both, channel first.
        same_n(s2, "PSUBSCRIBE new?", 1);
        publisher.s("PUBLISH news again");
        same_message(s2, "message on s2");
        same_message(s2, "pmessage on s2");
        same_message(s1, "news again on s1");
        same_message(s3, "news again on s3");
        // Many messages arrive in publishing order.
        for i in 0..500 {
            publisher.same(&cmd!("PUBLISH", "sport", format!("m{i}")));
        }
        for i in 0..500 {
            let m = same_message(s1, "ordered message");
            assert!(
                lossy(&m).ends_with(&format!("\r\nm{i}\r\n")),
                "message {i} out of order"
            );
        }
        for i in 0..500 {
            same_message(s3, &format!("ordered pmessage {i}"));
        }
    });
}

#[test]
fn shard_channels() {
    pubsub_diff(3, |ps| {
        let [publisher, s1, s2] = ps else { unreachable!() };
        same_n(s1, "SSUBSCRIBE orders", 1);
        same_n(s2, "SSUBSCRIBE orders payments", 2);
        same_n(s2, "SUBSCRIBE orders", 1);
        publisher.s("SPUBLISH orders o1");
        publisher.s("PUBLISH orders o2");
        publisher.s("SPUBLISH payments p1");
        publisher.s("SPUBLISH nobody x");
        same_message(s1, "smessage on s1");
        same_message(s2, "smessage orders on s2");
        same_message(s2, "message orders on s2");
        same_message(s2, "smessage payments on s2");
        publisher.lines(&[
            "PUBSUB SHARDNUMSUB orders payments nobody",
            "PUBSUB SHARDCHANNELS pay*",
            "PUBSUB NUMSUB orders",
        ]);
        let line = c("PUBSUB SHARDCHANNELS");
        let (r, s) = (publisher.redis.raw(&line), publisher.shoal.raw(&line));
        assert_eq!(lossy(&sorted_form(&s)), lossy(&sorted_form(&r)), "PUBSUB SHARDCHANNELS");
        same_n(s2, "SUNSUBSCRIBE payments", 1);
        same_n(s1, "SUNSUBSCRIBE", 1);
        publisher.s("PUBSUB SHARDNUMSUB orders payments");
    });
}

#[test]
fn pubsub_introspection() {
    pubsub_diff(4, |ps| {
        let [q, s1, s2, s3] = ps else { unreachable!() };
        q.lines(&["PUBSUB CHANNELS", "PUBSUB NUMPAT", "PUBSUB NUMSUB", "PUBSUB NUMSUB a b"]);
        same_n(s1, "SUBSCRIBE a b c", 3);
        same_n(s2, "SUBSCRIBE a abc", 2);
        same_n(s3, "PSUBSCRIBE a* b* a*", 3);
        // CHANNELS comes back in hash order: compare as sets.
        for line in ["PUBSUB CHANNELS", "PUBSUB CHANNELS a*", "PUBSUB CHANNELS z*"] {
            let (r, s) = (q.redis.raw(&c(line)), q.shoal.raw(&c(line)));
            assert_eq!(lossy(&sorted_form(&s)), lossy(&sorted_form(&r)), "{line}");
        }
        q.lines(&[
            "PUBSUB NUMSUB a b c abc zz",
            "PUBSUB NUMPAT",
            "PUBSUB",
            "PUBSUB NOSUCH",
            "PUBSUB NUMPAT extra",
            "PUBLISH a",
        ]);
        same_n(s3, "PUNSUBSCRIBE b*", 1);
        q.s("PUBSUB NUMPAT");
        // Unsubscribing one at a time is deterministic.
        same_n(s2, "UNSUBSCRIBE abc a", 2);
        same_n(s2, "UNSUBSCRIBE", 1);
        same_n(s2, "PUNSUBSCRIBE", 1);
        q.s("PUBSUB NUMSUB a abc");
        // UNSUBSCRIBE with no arguments: one reply per channel, in hash order.
        for (conn, who) in [(&mut s1.redis, "redis"), (&mut s1.shoal, "shoal")] {
            conn.send(&c("UNSUBSCRIBE"));
            let mut names = Vec::new();
            let mut counts = Vec::new();
            for _ in 0..3 {
                let r = conn.call_pending();
                let items = r.items();
                assert_eq!(items[0], Reply::Bulk(b"unsubscribe".to_vec()), "{who}");
                names.push(items[1].text());
                counts.push(items[2].int());
            }
            names.sort();
            assert_eq!(names, ["a", "b", "c"], "{who}");
            assert_eq!(counts, [2, 1, 0], "{who}");
        }
        q.lines(&["PUBSUB NUMSUB a b c", "PUBSUB CHANNELS"]);
        // Now out of subscribed mode: normal commands work again.
        s1.lines(&["SET k v", "GET k"]);
    });
}

/// Parsing a reply that was already requested.
trait PendingReply {
    fn call_pending(&mut self) -> Reply;
}

impl PendingReply for Conn {
    fn call_pending(&mut self) -> Reply {
        Reply::parse(&self.read_reply())
    }
}

#[test]
fn resp2_subscribed_mode_restrictions() {
    pubsub_diff(1, |ps| {
        let p = &mut ps[0];
        p.lines(&["UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE", "UNSUBSCRIBE x"]);
        same_n(p, "SUBSCRIBE ch", 1);
        p.lines(&["GET k", "SET k v", "PING", "PING hello", "MULTI"]);
        same_n(p, "PSUBSCRIBE p*", 1);
        p.lines(&["DBSIZE"]);
        same_n(p, "UNSUBSCRIBE", 1);
        // Still subscribed to a pattern: still restricted.
        p.lines(&["GET k"]);
        same_n(p, "PUNSUBSCRIBE", 1);
        p.lines(&["GET k", "PING"]);
        // SSUBSCRIBE alone also enters subscribed mode.
        same_n(p, "SSUBSCRIBE s", 1);
        p.lines(&["GET k"]);
        same_n(p, "SUNSUBSCRIBE", 1);
        p.lines(&["GET k"]);
        // SUBSCRIBE queued inside MULTI, as Redis 7.0 does it.
        p.lines(&["MULTI", "SUBSCRIBE x", "EXEC"]);
    });
}

#[test]
fn resp3_pushes_and_normal_commands() {
    pubsub_diff(2, |ps| {
        let [publisher, sub] = ps else { unreachable!() };
        for conn in [&mut sub.redis, &mut sub.shoal] {
            let hello = conn.call(&c("HELLO 3"));
            assert!(matches!(hello, Reply::Map(_)), "HELLO 3 answers a map: {hello:?}");
        }
        same_n(sub, "SUBSCRIBE ch other", 2);
        same_n(sub, "PSUBSCRIBE c*", 1);
        // Normal commands still work while subscribed.
        sub.lines(&["SET k v", "GET k", "GET missing", "PING", "PING x", "HGETALL nohash"]);
        publisher.s("PUBLISH ch hi");
        same_message(sub, "message push");
        same_message(sub, "pmessage push");
        // A message published before a command is sent arrives before that command's reply.
        publisher.s("PUBLISH other o");
        same_n(sub, "INCR n", 2);
        same_n(sub, "UNSUBSCRIBE ch", 1);
        same_n(sub, "PUNSUBSCRIBE", 1);
        same_n(sub, "UNSUBSCRIBE", 1);
        publisher.s("PUBLISH ch gone");
        sub.s("PING");
    });
}

/// Reads from `conn` until the server closes it or `limit` passes; returns (bytes, closed).
fn drain_until_closed(conn: &mut Conn, limit: Duration) -> (usize, bool) {
    let deadline = Instant::now() + limit;
    let _ = conn.stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut chunk = vec![0u8; 256 * 1024];
    let mut total = 0;
    while Instant::now() < deadline {
        match conn.stream.read(&mut chunk) {
            Ok(0) => return (total, true),
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (total, true),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("reading from the slow subscriber: {e}"),
        }
    }
    (total, false)
}

/// A subscriber that never reads while ~50 MB is published is disconnected, and the server
/// keeps serving everyone else. Run against Shoal (4 shards) and, as a check of the test
/// itself, against redis-server with the same limit.
#[test]
fn slow_subscriber_is_disconnected() {
    let limit = ["--client-output-buffer-limit", "pubsub 1mb 512kb 5"];
    for flavor in [Flavor::Redis, Flavor::Shoal { shards: 4 }] {
        let server = TestServer::start_with(flavor, None, &limit);
        let mut slow = server.conn();
        assert_eq!(
            slow.raw(&c("SUBSCRIBE firehose")),
            b"*3\r\n$9\r\nsubscribe\r\n$8\r\nfirehose\r\n:1\r\n"
        );
        let mut fast = server.conn();
        fast.raw(&c("SUBSCRIBE firehose"));
        let mut publisher = server.conn();
        let payload = vec![b'x'; 64 * 1024];
        let mut args = cmd!("PUBLISH", "firehose");
        args.push(payload);
        let one = encode(&args);
        // 800 x 64 KiB = 50 MiB, sent 4 at a time so the fast subscriber never holds more
        // than a few hundred KiB unread.
        let mut receivers = Vec::new();
        let mut fast_got = 0usize;
        let started = Instant::now();
        for _ in 0..200 {
            let mut batch = Vec::with_capacity(one.len() * 4);
            for _ in 0..4 {
                batch.extend_from_slice(&one);
            }
            publisher.send_raw(&batch);
            for _ in 0..4 {
                receivers.push(publisher.call_pending().int());
                // Keep the well-behaved subscriber drained so only the slow one overflows.
                let m = fast.read_reply();
                fast_got += m.len();
            }
        }
        let elapsed = started.elapsed();
        assert!(fast_got > 800 * 64 * 1024, "fast subscriber got every message");
        assert_eq!(receivers[0], 2, "{flavor:?}: both subscribers counted at first");
        let (read, closed) = drain_until_closed(&mut slow, Duration::from_secs(20));
        assert!(
            closed,
            "{flavor:?}: slow subscriber still connected after reading {read} bytes"
        );
        assert!(
            read < 20 * 1024 * 1024,
            "{flavor:?}: slow subscriber got {read} bytes before the cut"
        );
        // Still responsive, for old and new connections.
        let mut fresh = server.conn();
        assert_eq!(fresh.raw(&c("PING")), b"+PONG\r\n");
        assert_eq!(fresh.raw(&c("SET after ok")), b"+OK\r\n");
        assert_eq!(
            fresh.raw(&c("PUBSUB NUMSUB firehose")),
            b"*2\r\n$8\r\nfirehose\r\n:1\r\n"
        );
        assert_eq!(publisher.raw(&c("PUBLISH firehose end")), b":1\r\n");
        let m = fast.read_reply();
        assert!(lossy(&m).ends_with("$3\r\nend\r\n"));
        eprintln!("{flavor:?}: 50 MiB published in {elapsed:?}; slow subscriber read {read} bytes then was closed");
    }
}
