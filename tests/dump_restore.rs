//! DUMP and RESTORE against redis-server 7.0: payloads cross both ways for every type and
//! encoding, errors and options answer as redis-server answers them.

mod common;

use common::*;

/// Builds values of every type and encoding with `lines` on a connection.
const VALUES: &[&str] = &[
    "SET str hello",
    "SET int 12345",
    "SET long xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "RPUSH small a b c 1 2 3",
    "SADD ints 1 2 3 -7 100000",
    "SADD words a b c",
    "HSET h f v g 12",
    "ZADD z 1 a 2.5 b -3 c",
];

/// Big collections past the compact encodings.
fn fill_big(conn: &mut Conn) {
    for i in 0..300 {
        conn.raw(&cmd!("RPUSH", "biglist", format!("item-{i}").as_str()));
        conn.raw(&cmd!("SADD", "bigset", format!("m{i}").as_str()));
        conn.raw(&cmd!(
            "HSET",
            "bighash",
            format!("f{i}").as_str(),
            format!("v{i}").as_str()
        ));
        conn.raw(&cmd!("ZADD", "bigz", i.to_string().as_str(), format!("m{i}").as_str()));
    }
}

const KEYS: &[&str] = &[
    "str", "int", "long", "small", "ints", "words", "h", "z", "biglist", "bigset", "bighash", "bigz",
];

/// The key's whole value in a comparable, order-independent form.
fn contents(conn: &mut Conn, key: &str) -> String {
    let kind = conn.q(&format!("TYPE {key}")).text();
    let read = match kind.as_str() {
        "string" => format!("GET {key}"),
        "list" => format!("LRANGE {key} 0 -1"),
        "set" => format!("SMEMBERS {key}"),
        "hash" => format!("HGETALL {key}"),
        "zset" => format!("ZRANGE {key} 0 -1 WITHSCORES"),
        other => panic!("{key}: type {other}"),
    };
    let raw = conn.raw(&c(&read));
    let body = if kind == "set" || kind == "hash" {
        sorted_form(&raw)
    } else {
        raw
    };
    format!("{kind} {}", lossy(&body))
}

fn dump_of(conn: &mut Conn, key: &str) -> Vec<u8> {
    Reply::parse(&conn.raw(&cmd!("DUMP", key))).bulk().expect("a payload")
}

#[test]
fn payloads_cross_between_the_servers_both_ways() {
    for shards in [1, 4] {
        let (redis, shoal) = (TestServer::redis(), TestServer::shoal(shards));
        for (from_server, to_server, from_name) in [(&redis, &shoal, "redis"), (&shoal, &redis, "shoal")] {
            let (from, to) = (&mut from_server.conn(), &mut to_server.conn());
            for line in VALUES {
                from.raw(&c(line));
            }
            fill_big(from);
            for key in KEYS {
                let payload = dump_of(from, key);
                let target = format!("copy:{key}");
                let reply = to.raw(&[b"RESTORE".to_vec(), target.clone().into_bytes(), b"0".to_vec(), payload]);
                assert_eq!(lossy(&reply), "+OK\r\n", "[{shards}] {key} dumped by {from_name}");
                assert_eq!(
                    contents(to, &target),
                    contents(from, key),
                    "[{shards}] {key} dumped by {from_name}"
                );
                assert_eq!(
                    to.q(&format!("OBJECT ENCODING {target}")),
                    from.q(&format!("OBJECT ENCODING {key}")),
                    "[{shards}] encoding of {key} dumped by {from_name}"
                );
            }
            from.q("FLUSHALL");
            to.q("FLUSHALL");
        }
    }
}

#[test]
fn restore_errors_and_options_match_redis() {
    diff(|p| {
        p.s("SET src hello");
        let payload = Reply::parse(&p.redis.raw(&cmd!("DUMP", "src")))
            .bulk()
            .expect("payload");
        let restore = |key: &str, ttl: &str, opts: &[&str]| {
            let mut args = vec![
                b"RESTORE".to_vec(),
                key.as_bytes().to_vec(),
                ttl.as_bytes().to_vec(),
                payload.clone(),
            ];
            args.extend(opts.iter().map(|o| o.as_bytes().to_vec()));
            args
        };
        p.s("DUMP nokey");
        p.same(&restore("src", "0", &[]));
        p.same(&restore("dst", "x", &[]));
        p.same(&restore("dst", "-1", &[]));
        p.same(&restore("dst", "0", &["BOGUS"]));
        p.same(&restore("dst", "0", &["IDLETIME", "-1"]));
        p.same(&restore("dst", "0", &["IDLETIME", "x"]));
        p.same(&restore("dst", "0", &["FREQ", "256"]));
        p.same(&restore("dst", "0", &["FREQ", "10", "IDLETIME", "5"]));
        p.same(&restore("dst", "0", &["IDLETIME"]));
        // A payload from the other server restores as well; a damaged one does not.
        let mut damaged = payload.clone();
        damaged[2] ^= 0x20;
        p.same(&[b"RESTORE".to_vec(), b"dst".to_vec(), b"0".to_vec(), damaged]);
        p.same(&[b"RESTORE".to_vec(), b"dst".to_vec(), b"0".to_vec(), b"short".to_vec()]);
        let mut newer = payload.clone();
        let n = newer.len();
        newer[n - 10] = 11;
        p.same(&[b"RESTORE".to_vec(), b"dst".to_vec(), b"0".to_vec(), newer]);
        p.same(&restore("dst", "0", &["IDLETIME", "1000"]));
        p.s("GET dst");
        p.close(&c("OBJECT IDLETIME dst"), 2);
        p.same(&restore("dst", "0", &["REPLACE", "ABSTTL"]));
        p.same(&restore("dst", "5000", &["REPLACE"]));
        p.close(&c("PTTL dst"), 200);
        p.same(&restore("dst", "1", &["REPLACE", "ABSTTL"]));
        p.s("EXISTS dst");
        p.same(&restore("dst2", "1", &["ABSTTL"]));
        p.s("EXISTS dst2");
        p.s("LPUSH l a");
        p.same(&restore("l", "0", &["REPLACE"]));
        p.s("TYPE l");
        p.s("DUMP");
        p.s("RESTORE k 0");
    });
}

/// A restored list serves a client blocked on its key.
#[test]
fn a_restored_list_serves_a_blocked_client() {
    let shoal = TestServer::shoal(4);
    let mut c1 = shoal.conn();
    let mut c2 = shoal.conn();
    c2.q("RPUSH src x y");
    let payload = dump_of(&mut c2, "src");
    c1.send(&cmd!("BLPOP", "waited", "5"));
    std::thread::sleep(std::time::Duration::from_millis(50));
    c2.raw(&[b"RESTORE".to_vec(), b"waited".to_vec(), b"0".to_vec(), payload]);
    assert_eq!(lossy(&c1.read_reply()), "*2\r\n$6\r\nwaited\r\n$1\r\nx\r\n");
}
