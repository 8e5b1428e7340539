//! Keyspace notifications (`notify-keyspace-events`) compared with redis-server 7.0: a script
//! of writes of every family runs on both servers, and after each command a subscriber's
//! notifications (a `__key*__:*` pattern) are collected up to a marker the writer publishes.
//! With one shard the two lists must be identical; with four, the notifications of each key
//! must come in the same order (a command over keys of several shards tells each shard's
//! keys from that shard, so the order between keys may differ).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;

/// One notification: (channel, message).
type Note = (String, String);

/// A server under test: a writer and a subscriber connection.
struct Side {
    writer: Conn,
    listener: Conn,
    marks: usize,
}

impl Side {
    fn new(server: &TestServer, pattern: &str) -> Side {
        let writer = server.conn();
        let mut listener = server.conn();
        listener.send(&cmd!("PSUBSCRIBE", pattern));
        listener.read_reply();
        listener.send(&cmd!("SUBSCRIBE", "mark"));
        listener.read_reply();
        Side {
            writer,
            listener,
            marks: 0,
        }
    }

    /// Runs `args`, then collects every notification that came before the marker.
    fn run(&mut self, args: &[Vec<u8>]) -> (Vec<u8>, Vec<Note>) {
        let reply = self.writer.raw(args);
        (reply, self.collect())
    }

    /// Publishes a marker and reads the subscriber's messages up to it.
    fn collect(&mut self) -> Vec<Note> {
        self.marks += 1;
        let mark = self.marks.to_string();
        self.writer.raw(&cmd!("PUBLISH", "mark", mark.as_str()));
        let mut notes = Vec::new();
        loop {
            let msg = Reply::parse(&self.listener.read_reply()).items();
            let text: Vec<String> = msg.iter().map(|r| lossy(&r.bulk().unwrap_or_default())).collect();
            match text[0].as_str() {
                "message" if text[1] == "mark" => {
                    assert_eq!(text[2], mark, "markers out of order");
                    return notes;
                }
                "pmessage" => notes.push((text[2].clone(), text[3].clone())),
                other => panic!("unexpected message kind {other}: {text:?}"),
            }
        }
    }
}

/// The key a notification is about: the channel's tail on `__keyspace@`, the message on
/// `__keyevent@`.
fn key_of(note: &Note) -> String {
    if note.0.starts_with("__keyspace@") {
        note.0.split_once("__:").map(|(_, k)| k.to_string()).unwrap_or_default()
    } else {
        note.1.clone()
    }
}

fn by_key(notes: &[Note]) -> BTreeMap<String, Vec<Note>> {
    let mut m: BTreeMap<String, Vec<Note>> = BTreeMap::new();
    for n in notes {
        m.entry(key_of(n)).or_default().push(n.clone());
    }
    m
}

/// Compares one step on both sides (replies in normal form, then notifications).
fn step(redis: &mut Side, shoal: &mut Side, shards: usize, args: &[Vec<u8>]) {
    let (r_reply, r_notes) = redis.run(args);
    let (s_reply, s_notes) = shoal.run(args);
    compare(shards, &show(args), (&r_reply, &r_notes), (&s_reply, &s_notes), args);
}

fn compare(shards: usize, what: &str, r: (&[u8], &[Note]), s: (&[u8], &[Note]), args: &[Vec<u8>]) {
    // SPOP picks at random: only its notifications are compared (the script never lets
    // which members it took decide what follows).
    if !args[0].eq_ignore_ascii_case(b"spop") {
        assert_eq!(
            lossy(&normal_form(args, s.0)),
            lossy(&normal_form(args, r.0)),
            "[shards {shards}] reply to `{what}` differs (left: shoal, right: redis)"
        );
    }
    if shards == 1 {
        assert_eq!(
            s.1, r.1,
            "[shards 1] notifications of `{what}` differ (left: shoal, right: redis)"
        );
    } else {
        assert_eq!(
            by_key(s.1),
            by_key(r.1),
            "[shards {shards}] notifications of `{what}` differ per key (left: shoal, right: redis)"
        );
    }
}

/// Writes of every family, each followed by its notifications. Lines that must not add a
/// notification (a failed NX, a no-op removal) are part of the script too.
const SCRIPT: &[&str] = &[
    // Strings.
    "SET s1 v",
    "SET s1 v2",
    "SET s1 v EX 100",
    "SET s1 v NX",
    "SET s1 w XX GET",
    "SET s2 v PX 100000",
    "SET s2 v KEEPTTL",
    "SETNX s3 v",
    "SETNX s3 v",
    "SETEX s4 100 v",
    "PSETEX s5 100000 v",
    "GETSET s1 x",
    "MSET m1 a m2 b m3 c",
    "MSETNX m4 a m5 b",
    "MSETNX m4 a m6 b",
    "INCR n1",
    "INCRBY n1 5",
    "DECR n1",
    "DECRBY n1 2",
    "INCRBYFLOAT n2 1.5",
    "APPEND s6 abc",
    "APPEND s6 d",
    "SETRANGE s7 2 xx",
    "SETRANGE s7 0 y",
    "GET nosuch",
    "GET s1",
    "MGET s1 nosuch m1",
    "GETDEL s6",
    "GETDEL nosuch",
    "GETEX s1 EX 100",
    "GETEX s1 PERSIST",
    "GETEX s1 PERSIST",
    "GETEX s1 PXAT 1",
    "STRLEN s7",
    // Keys.
    "DEL m1 m2 nosuch",
    "UNLINK m3",
    "EXPIRE s2 100",
    "EXPIRE s2 100 NX",
    "PEXPIRE s2 100000",
    "EXPIREAT s2 200000000000",
    "PEXPIREAT s2 1",
    "PERSIST s4",
    "PERSIST s4",
    "RENAME s5 s5b",
    "RENAME s5b s5b",
    "RENAMENX s5b s4",
    "RENAMENX s5b s8",
    "RENAME s8 s4",
    "COPY s4 s9",
    "COPY s4 s9",
    "COPY s4 s9 REPLACE",
    "MOVE s9 1",
    "MOVE s4 1",
    "SELECT 1",
    "DEL s9",
    "SELECT 0",
    "EXISTS s4 nosuch",
    "TYPE nosuch",
    // Lists.
    "LPUSH l1 a b c",
    "RPUSH l1 d",
    "LPUSHX l1 e",
    "RPUSHX nolist x",
    "LPOP l1",
    "RPOP l1 2",
    "LINSERT l1 BEFORE b z",
    "LINSERT l1 BEFORE nosuch z",
    "LSET l1 0 q",
    "LREM l1 1 q",
    "LREM l1 1 nosuch",
    "LRANGE l1 0 -1",
    "LTRIM l1 0 0",
    "LPOP l1",
    "LPOP l1",
    "RPUSH l2 a b c d e",
    "LMOVE l2 l3 LEFT RIGHT",
    "RPOPLPUSH l2 l3",
    "LMOVE l2 l2 LEFT RIGHT",
    "LMPOP 2 nolist l2 RIGHT COUNT 1",
    "BLPOP l2 0",
    "RPUSH l3 p q r",
    "BRPOP l3 0",
    "BLMOVE l3 l4 RIGHT LEFT 0",
    "BRPOPLPUSH l3 l4 0",
    "LTRIM l4 0 -1",
    "BLMPOP 0 1 l4 LEFT COUNT 5",
    "LTRIM l2 1 0",
    "RPUSH l5 a",
    "RPOPLPUSH l5 l6",
    "LMOVE l6 l6 RIGHT LEFT",
    "LPOP l6 5",
    // Hashes.
    "HSET h1 f v g w",
    "HSET h1 f v2",
    "HSETNX h1 f x",
    "HSETNX h1 n x",
    "HMSET h1 a b",
    "HINCRBY h1 c 5",
    "HINCRBYFLOAT h1 d 1.5",
    "HGET h1 f",
    "HGET nohash f",
    "HDEL h1 nosuch",
    "HDEL h1 f g",
    "HDEL h1 n a c d",
    // Sets.
    "SADD t1 a b c d e",
    "SADD t1 a",
    "SREM t1 a",
    "SREM t1 zz",
    "SPOP t1",
    "SPOP t1 0",
    "SPOP t1 10",
    "SADD t2 a b",
    "SADD t3 b c",
    "SMOVE t2 t3 a",
    "SMOVE t2 t3 zz",
    "SMOVE t2 t3 b",
    "SADD t4 x",
    "SINTERSTORE d1 t3 t4",
    "SUNIONSTORE d1 t3 t4",
    "SDIFFSTORE d1 t3 t4",
    "SINTERSTORE d1 t3 t4",
    "SMEMBERS nosuch",
    // Sorted sets.
    "ZADD z1 1 a 2 b",
    "ZADD z1 1 a",
    "ZADD z1 INCR 5 a",
    "ZADD z1 XX 9 c",
    "ZADD z1 GT CH 1 a",
    "ZINCRBY z1 1 b",
    "ZREM z1 nosuch",
    "ZREM z1 a",
    "ZADD z1 1 x 2 y 3 z",
    "ZREMRANGEBYSCORE z1 1 1",
    "ZREMRANGEBYSCORE z1 100 200",
    "ZREMRANGEBYRANK z1 0 0",
    "ZADD z7 0 a 0 b 0 c",
    "ZREMRANGEBYLEX z7 [a [b",
    "ZREMRANGEBYLEX z7 - +",
    "ZPOPMIN z1",
    "ZPOPMAX z1 10",
    "ZADD z2 1 a 2 b 3 c",
    "ZADD z3 1 b",
    "ZUNIONSTORE z4 2 z2 z3",
    "ZINTERSTORE z4 2 z2 z3",
    "ZDIFFSTORE z4 2 z2 z3",
    "ZRANGESTORE z5 z2 0 -1",
    "ZRANGESTORE z5 z2 5 10",
    "ZINTERSTORE z4 2 z2 nosuch",
    "ZMPOP 1 z2 MIN",
    "BZPOPMIN z2 0",
    "BZPOPMAX z2 0",
    "BZMPOP 0 1 z3 MAX",
    "ZSCORE nosuch a",
    // SORT ... STORE.
    "RPUSH tosort 3 1 2",
    "SORT tosort STORE sorted",
    "SORT nosuch STORE sorted",
    // GEO (a GEOADD is a ZADD).
    "GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
    "GEORADIUS g 15 37 200 km STORE g2",
    "GEOSEARCHSTORE g3 g FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST",
    "GEOSEARCHSTORE g3 g FROMLONLAT 15 37 BYRADIUS 1 m",
    // HyperLogLog.
    "PFADD hl a b",
    "PFADD hl a",
    "PFCOUNT hl",
    "PFMERGE hl2 hl nosuch",
    // Bitmaps.
    "SETBIT bm 7 1",
    "SETBIT bm 7 1",
    "SETBIT bm 100 0",
    "BITFIELD bm SET u8 0 255 INCRBY u8 0 0",
    "BITFIELD bm GET u8 0",
    "BITFIELD bm2 OVERFLOW FAIL SET u8 0 1000",
    "BITOP NOT bm3 bm",
    "BITOP AND bm3 nosuch other",
    "GETBIT nosuch 3",
    // Whole databases: no key events.
    "SET f1 v",
    "FLUSHDB",
];

fn run_script(shards: usize, flags: &str) {
    let redis = TestServer::start_with(Flavor::Redis, None, &["--notify-keyspace-events", flags]);
    let shoal = TestServer::start_with(Flavor::Shoal { shards }, None, &["--notify-keyspace-events", flags]);
    let mut r = Side::new(&redis, "__key*__:*");
    let mut s = Side::new(&shoal, "__key*__:*");
    for line in SCRIPT {
        step(&mut r, &mut s, shards, &c(line));
    }
    // Transactions: the notifications of EXEC's commands, in the commands' order (the marker
    // is published after EXEC: inside MULTI it would only be queued).
    for line in ["MULTI", "SET x1 1", "LPUSH x2 a", "INCR x1", "DEL x2"] {
        let args = c(line);
        assert_eq!(
            lossy(&s.writer.raw(&args)),
            lossy(&r.writer.raw(&args)),
            "reply to `{line}`"
        );
    }
    step(&mut r, &mut s, shards, &c("EXEC"));
    // RESTORE of a payload redis-server dumped: "new", then "restore".
    step(&mut r, &mut s, shards, &c("SET dumped v"));
    let payload = Reply::parse(&r.writer.raw(&c("DUMP dumped")))
        .bulk()
        .expect("a payload");
    let restore = |ttl: &str, extra: &[&str]| {
        let mut args = vec![
            b"RESTORE".to_vec(),
            b"restored".to_vec(),
            ttl.as_bytes().to_vec(),
            payload.clone(),
        ];
        args.extend(extra.iter().map(|a| a.as_bytes().to_vec()));
        args
    };
    step(&mut r, &mut s, shards, &restore("0", &[]));
    step(&mut r, &mut s, shards, &restore("100000", &["REPLACE"]));
    // A deadline already past: the replaced key is deleted ("del") and nothing stored.
    step(&mut r, &mut s, shards, &restore("1", &["REPLACE", "ABSTTL"]));
    // Expiry: a key found expired by a read (or by the active cycle meanwhile) is "expired".
    step(&mut r, &mut s, shards, &c("SET e1 v PX 100"));
    std::thread::sleep(Duration::from_millis(300));
    step(&mut r, &mut s, shards, &c("GET e1"));
}

#[test]
fn notifications_match_redis_with_one_shard() {
    run_script(1, "KEA");
    run_script(1, "KEAnm");
}

#[test]
fn notifications_match_redis_per_key_with_four_shards() {
    run_script(4, "KEAnm");
}

/// Only the configured classes and channels are published, CONFIG SET changes them at once,
/// and a server without the setting publishes nothing.
#[test]
fn classes_and_channels_follow_the_setting() {
    for flavor in [Flavor::Redis, Flavor::Shoal { shards: 4 }] {
        let server = TestServer::start(flavor);
        let mut side = Side::new(&server, "__key*__:*");
        side.run(&c("SET a 1"));
        assert_eq!(side.collect(), vec![], "{flavor:?}: notifications are off by default");
        let mut admin = server.conn();
        assert_eq!(
            admin.q("CONFIG SET notify-keyspace-events Kl"),
            Reply::Simple("OK".into())
        );
        assert_eq!(admin.q("CONFIG GET notify-keyspace-events").items()[1].text(), "lK");
        let (_, notes) = side.run(&c("SET a 2"));
        assert_eq!(notes, vec![], "{flavor:?}: strings are not configured");
        let (_, notes) = side.run(&c("RPUSH li x"));
        assert_eq!(
            notes,
            vec![("__keyspace@0__:li".to_string(), "rpush".to_string())],
            "{flavor:?}"
        );
        admin.q("CONFIG SET notify-keyspace-events Ex");
        admin.q("SET gone v PX 50");
        std::thread::sleep(Duration::from_millis(150));
        let (_, notes) = side.run(&c("GET gone"));
        assert_eq!(
            notes,
            vec![("__keyevent@0__:expired".to_string(), "gone".to_string())],
            "{flavor:?}"
        );
    }
}

/// A subscriber to one exact keyspace channel gets only that key's events, on whichever core
/// it and the key live.
#[test]
fn a_keyspace_channel_hears_its_key_only() {
    let shoal = TestServer::start_with(Flavor::Shoal { shards: 4 }, None, &["--notify-keyspace-events", "K$"]);
    let mut listener = shoal.conn();
    listener.send(&cmd!("SUBSCRIBE", "__keyspace@0__:watched"));
    listener.read_reply();
    let mut writer = shoal.conn();
    for i in 0..50 {
        writer.q(&format!("SET other{i} v"));
    }
    writer.q("SET watched v");
    writer.q("APPEND watched w");
    let first = Reply::parse(&listener.read_reply()).items();
    assert_eq!(first[1].bulk(), Some(b"__keyspace@0__:watched".to_vec()));
    assert_eq!(first[2].bulk(), Some(b"set".to_vec()));
    let second = Reply::parse(&listener.read_reply()).items();
    assert_eq!(second[2].bulk(), Some(b"append".to_vec()));
}

/// Every key evicted under `maxmemory` is told as "evicted", and every key the active expiry
/// cycle removes as "expired": as many events as INFO counts, on both servers.
#[test]
fn evictions_and_active_expiry_are_told_one_by_one() {
    let limits = [
        "--notify-keyspace-events",
        "Eex",
        "--maxmemory",
        "4mb",
        "--maxmemory-policy",
        "allkeys-lru",
    ];
    for flavor in [Flavor::Redis, Flavor::Shoal { shards: 4 }] {
        let server = TestServer::start_with(flavor, None, &limits);
        let mut side = Side::new(&server, "__keyevent@0__:*");
        let value = "x".repeat(1000);
        for i in 0..10_000 {
            side.writer
                .raw(&cmd!("SET", format!("big:{i}").as_str(), value.as_str()));
        }
        for i in 0..50 {
            side.writer
                .raw(&cmd!("SET", format!("short:{i}").as_str(), "v", "PX", "30"));
        }
        std::thread::sleep(Duration::from_millis(800));
        // No more evictions from here (redis-server evicts before any command while over).
        side.writer.raw(&cmd!("CONFIG", "SET", "maxmemory", "0"));
        let notes = side.collect();
        let stats = side.writer.info("stats");
        let count = |event: &str| {
            notes
                .iter()
                .filter(|n| n.0 == format!("__keyevent@0__:{event}"))
                .count()
        };
        let evicted: usize = stats["evicted_keys"].parse().unwrap();
        let expired: usize = stats["expired_keys"].parse().unwrap();
        assert!(evicted > 1000, "{flavor:?}: only {evicted} evictions");
        assert_eq!(count("evicted"), evicted, "{flavor:?}");
        assert_eq!(count("expired"), expired, "{flavor:?}");
        assert!(expired > 0, "{flavor:?}: the active cycle removed no short-lived key");
    }
}
