//! The write commands added with bitmaps, HyperLogLog, GEO, SORT ... STORE, DUMP/RESTORE and
//! MSETNX reach replicas as redis-server propagates them: a Shoal master with four shards
//! feeds a stock redis-server replica and a Shoal replica, and after the writes every key of
//! the three servers holds the same data and deadline.

mod common;

use common::dataset::{assert_same_data, snapshot};
use common::{Flavor, Reply, TestServer, c, wait_in_sync};

const WRITES: &[&str] = &[
    "MSETNX a 1 b 2 c 3",
    "MSETNX a 9 z 9",
    "SETBIT bits 7 1",
    "SETBIT bits 1000 1",
    "BITFIELD bf SET u8 0 200 INCRBY i16 8 -300 OVERFLOW SAT INCRBY u4 30 99",
    "SET s1 foobar",
    "SET s2 abcdef",
    "BITOP XOR bx s1 s2",
    "BITOP NOT bn s1",
    "PFADD h1 a b c d e f g",
    "PFADD h2 e f g h i",
    "PFCOUNT h1",
    "PFMERGE h3 h1 h2",
    "PFCOUNT h3",
    "GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania 12.758489 38.788135 Edge",
    "GEORADIUS g 15 37 200 km STORE near",
    "GEOSEARCHSTORE near2 g FROMLONLAT 15 37 BYBOX 400 400 km STOREDIST",
    "RPUSH nums 3 1 2",
    "MSET w_1 5 w_2 4 w_3 6",
    "SORT nums BY w_* STORE sorted",
    "SORT nums DESC STORE sorted2",
    "SADD set c a b",
    "SORT set BY nosort STORE fromset",
    "ZADD zz 1 x 2 y",
    "ZADD zz2 1 a",
];

#[test]
fn new_write_commands_replicate_to_redis_and_shoal_replicas() {
    let master = TestServer::start_with(Flavor::Shoal { shards: 4 }, None, &[]);
    let port = master.port.to_string();
    let replica_args = ["--replicaof", "127.0.0.1", port.as_str()];
    let redis = TestServer::start_with(Flavor::Redis, None, &replica_args);
    let shoal = TestServer::start_with(Flavor::Shoal { shards: 2 }, None, &replica_args);
    let mut m = master.conn();
    for line in WRITES {
        let reply = Reply::parse(&m.raw(&c(line)));
        assert!(!matches!(reply, Reply::Error(_)), "{line}: {reply:?}");
    }
    // RESTORE with a relative TTL reaches the replicas with the absolute deadline.
    let payload = Reply::parse(&m.raw(&c("DUMP zz"))).bulk().expect("a payload");
    m.raw(&[
        b"RESTORE".to_vec(),
        b"restored".to_vec(),
        b"100000".to_vec(),
        payload.clone(),
    ]);
    m.raw(&[
        b"RESTORE".to_vec(),
        b"zz2".to_vec(),
        b"0".to_vec(),
        payload,
        b"REPLACE".to_vec(),
    ]);
    for replica in [&redis, &shoal] {
        wait_in_sync(&master, replica);
    }
    let want = snapshot(&mut master.conn(), &[0]);
    assert!(want.len() >= 25, "{} keys", want.len());
    assert_same_data(&snapshot(&mut redis.conn(), &[0]), &want, "redis-server replica");
    assert_same_data(&snapshot(&mut shoal.conn(), &[0]), &want, "Shoal replica");
}

/// The same writes made on a redis-server master reach a Shoal replica (4 shards) as
/// redis-server propagates them, with the same result.
#[test]
fn new_write_commands_from_a_redis_master_apply_on_a_shoal_replica() {
    let master = TestServer::start_with(Flavor::Redis, None, &[]);
    let port = master.port.to_string();
    let shoal = TestServer::start_with(
        Flavor::Shoal { shards: 4 },
        None,
        &["--replicaof", "127.0.0.1", port.as_str()],
    );
    wait_in_sync(&master, &shoal);
    let mut m = master.conn();
    for line in WRITES {
        let reply = Reply::parse(&m.raw(&c(line)));
        assert!(!matches!(reply, Reply::Error(_)), "{line}: {reply:?}");
    }
    let payload = Reply::parse(&m.raw(&c("DUMP zz"))).bulk().expect("a payload");
    m.raw(&[b"RESTORE".to_vec(), b"restored".to_vec(), b"100000".to_vec(), payload]);
    wait_in_sync(&master, &shoal);
    let want = snapshot(&mut master.conn(), &[0]);
    assert_same_data(
        &snapshot(&mut shoal.conn(), &[0]),
        &want,
        "Shoal replica of redis-server",
    );
}
