//! Full resyncs that share a snapshot (issue 7): replicas that arrive together get one cut and
//! one walk of the shards, `repl-diskless-sync-delay` and `repl-diskless-sync-max-replicas`
//! decide when a diskless batch starts, a replica that needs a `$<len>` payload starts its
//! batch at once, and a replica arriving after a batch started gets the next snapshot. Real
//! redis-server 7.0 replicas and `redis-cli --rdb` are the peers.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::dataset::{assert_same_data, populate, snapshot};
use common::{Conn, Flavor, TempDir, TestServer, require_tool, wait_for};

const DBS: &[usize] = &[0, 3];

fn master(extra: &[&str]) -> TestServer {
    let server = TestServer::start_with(Flavor::Shoal { shards: 2 }, None, extra);
    populate(&mut server.conn(), 3000, DBS, 7);
    server
}

fn redis_replica_of(master: &TestServer) -> TestServer {
    let port = master.port.to_string();
    TestServer::start_with(Flavor::Redis, None, &["--replicaof", "127.0.0.1", &port])
}

fn int_field(conn: &mut Conn, section: &str, name: &str) -> i64 {
    let info = conn.info(section);
    let value = info.get(name).unwrap_or_else(|| panic!("INFO {section} has no {name}"));
    value
        .parse()
        .unwrap_or_else(|_| panic!("{name}:{value} is not a number"))
}

/// Waits until `replica`'s link is up and it applied everything the master produced, then
/// compares every key, value and TTL.
fn assert_replica_equal(master: &TestServer, replica: &TestServer, limit: Duration) {
    let (mut m, mut r) = (master.conn(), replica.conn());
    wait_for("the replica to catch up", limit, || {
        let info = r.info("replication");
        let offset = int_field(&mut m, "replication", "master_repl_offset").to_string();
        info.get("master_link_status").map(String::as_str) == Some("up")
            && info.get("slave_repl_offset") == Some(&offset)
    });
    assert_same_data(&snapshot(&mut r, DBS), &snapshot(&mut m, DBS), "replica vs master");
}

/// Counts the replicas INFO lists in `state`.
fn replicas_in_state(conn: &mut Conn, state: &str) -> usize {
    let info = conn.info("replication");
    info.iter()
        .filter(|(k, v)| k.starts_with("slave") && v.contains(&format!("state={state},")))
        .count()
}

#[test]
fn replicas_arriving_together_share_one_snapshot() {
    // No delay to wait out: the batch starts when the third replica arrives.
    let master = master(&[
        "--repl-diskless-sync-delay",
        "60",
        "--repl-diskless-sync-max-replicas",
        "3",
    ]);
    let started = Instant::now();
    let replicas: Vec<TestServer> = (0..3).map(|_| redis_replica_of(&master)).collect();
    for r in &replicas {
        assert_replica_equal(&master, r, Duration::from_secs(40));
    }
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "the batch waited out the delay"
    );
    let mut m = master.conn();
    assert_eq!(int_field(&mut m, "stats", "sync_full"), 3);
    assert_eq!(
        int_field(&mut m, "persistence", "rdb_saves"),
        1,
        "one snapshot for the three"
    );
    assert!(master.log().contains("one snapshot for 3 replicas"), "{}", master.log());
    // Writes after the sync reach all three through the one stream.
    m.q("SET after:sync 1");
    for r in &replicas {
        assert_replica_equal(&master, r, Duration::from_secs(20));
    }
    // A replica arriving now gets a snapshot of its own, after the (shorter) delay.
    assert_eq!(m.q("CONFIG SET repl-diskless-sync-delay 1").text(), "OK");
    let late = redis_replica_of(&master);
    assert_replica_equal(&master, &late, Duration::from_secs(40));
    assert_eq!(int_field(&mut m, "persistence", "rdb_saves"), 2);
    assert_eq!(int_field(&mut m, "replication", "connected_slaves"), 4);
}

#[test]
fn diskless_delay_holds_the_sync_and_info_lists_the_waiting_replica() {
    let master = master(&["--repl-diskless-sync-delay", "3"]);
    let replica = redis_replica_of(&master);
    let mut m = master.conn();
    // The replica is listed as waiting while the delay runs (as redis-server lists it).
    wait_for("the replica to be listed as waiting", Duration::from_secs(10), || {
        replicas_in_state(&mut m, "wait_bgsave") == 1
    });
    let listed = Instant::now();
    assert_eq!(int_field(&mut m, "replication", "connected_slaves"), 1);
    assert_eq!(
        int_field(&mut m, "persistence", "rdb_saves"),
        0,
        "the snapshot started early"
    );
    assert_replica_equal(&master, &replica, Duration::from_secs(40));
    // Listed after it arrived, so at least most of the 3 s had yet to run.
    assert!(
        listed.elapsed() >= Duration::from_millis(1500),
        "synced {:?} after being listed",
        listed.elapsed()
    );
    assert_eq!(replicas_in_state(&mut m, "online"), 1);
    assert!(
        master
            .log()
            .contains("Delay next full sync for diskless replicas by 3 s")
    );
}

#[test]
fn a_disk_style_replica_starts_the_batch_for_everyone_waiting() {
    let master = master(&["--repl-diskless-sync-delay", "60"]);
    let replica = redis_replica_of(&master);
    let mut m = master.conn();
    wait_for("the replica to be listed as waiting", Duration::from_secs(10), || {
        replicas_in_state(&mut m, "wait_bgsave") == 1
    });
    // redis-cli --rdb asks with SYNC: a `$<len>` payload, which needs no delay.
    let dir = TempDir::new("full-sync-rdb");
    let file = dir.path().join("copy.rdb");
    let out = Command::new(require_tool("redis-cli"))
        .args(["-p", &master.port.to_string(), "--rdb"])
        .arg(&file)
        .output()
        .expect("redis-cli --rdb");
    assert!(
        out.status.success(),
        "redis-cli --rdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rdb = std::fs::read(&file).expect("the copied rdb");
    assert!(rdb.starts_with(b"REDIS0010"), "not an RDB file");
    // The waiting replica was served by the same snapshot, long before its delay ran out.
    assert_replica_equal(&master, &replica, Duration::from_secs(30));
    assert_eq!(int_field(&mut m, "persistence", "rdb_saves"), 1);
    assert_eq!(int_field(&mut m, "stats", "sync_full"), 2);
    assert!(master.log().contains("one snapshot for 2 replicas"), "{}", master.log());
}

#[test]
fn backlog_is_freed_after_repl_backlog_ttl_without_replicas() {
    let master = master(&["--repl-backlog-ttl", "1"]);
    let replica = redis_replica_of(&master);
    assert_replica_equal(&master, &replica, Duration::from_secs(30));
    let mut m = master.conn();
    let replid = m.info("replication")["master_replid"].clone();
    // Kept however long a replica stays attached.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(int_field(&mut m, "replication", "repl_backlog_active"), 1);
    drop(replica);
    wait_for("the backlog to be freed", Duration::from_secs(10), || {
        int_field(&mut m, "replication", "repl_backlog_active") == 0
    });
    let info = m.info("replication");
    assert_ne!(
        info["master_replid"], replid,
        "a freed backlog ends the history: new replid"
    );
    assert_eq!(info["master_replid2"], "0".repeat(40));
    assert!(master.log().contains("Replication backlog freed"), "{}", master.log());
    // Writes meanwhile go nowhere; a new replica starts the new history with a full sync.
    m.q("SET while:alone 1");
    let again = redis_replica_of(&master);
    assert_replica_equal(&master, &again, Duration::from_secs(30));
    assert_eq!(int_field(&mut m, "stats", "sync_full"), 2);
    assert_eq!(int_field(&mut m, "replication", "repl_backlog_active"), 1);
}

#[test]
fn sub_replicas_of_a_shoal_replica_share_its_snapshot_too() {
    let top = master(&[]);
    let mid_args = [
        "--repl-diskless-sync-delay",
        "60",
        "--repl-diskless-sync-max-replicas",
        "2",
    ];
    let mid = TestServer::start_with(Flavor::Shoal { shards: 2 }, None, &mid_args);
    let mut mi = mid.conn();
    assert_eq!(mi.q(&format!("REPLICAOF 127.0.0.1 {}", top.port)).text(), "OK");
    assert_replica_equal(&top, &mid, Duration::from_secs(30));
    let subs: Vec<TestServer> = (0..2).map(|_| redis_replica_of(&mid)).collect();
    for s in &subs {
        assert_replica_equal(&mid, s, Duration::from_secs(40));
    }
    assert_eq!(
        int_field(&mut mi, "persistence", "rdb_saves"),
        1,
        "one snapshot for both"
    );
    // The chain carries the top's writes, once each, to the end.
    let mut t = top.conn();
    t.q("RPUSH chain:list a b c");
    t.q("INCR chain:counter");
    for s in &subs {
        assert_replica_equal(&top, s, Duration::from_secs(20));
    }
}
