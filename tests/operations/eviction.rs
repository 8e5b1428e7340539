//! `maxmemory` and its policies: writes refused or keys evicted once the data passes the
//! limit, LRU and LFU marks (`OBJECT IDLETIME` / `FREQ`), and evictions reaching a stock
//! replica. Replies are compared with redis-server 7.0 wherever both servers can be put in
//! the same state; a limit of one byte puts any server over it.

use std::time::Duration;

use super::{SHOAL, common};
use common::{Conn, Flavor, Pair, Reply, TestServer, c, wait_for};

fn int_field(conn: &mut Conn, section: &str, name: &str) -> u64 {
    conn.info(section)
        .get(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("INFO {section} has no {name}"))
}

/// Writes `count` keys `prefix:i` with `size`-byte values, pipelined.
fn fill(conn: &mut Conn, prefix: &str, count: usize, size: usize) -> Vec<Vec<u8>> {
    let value = vec![b'v'; size];
    let cmds: Vec<Vec<Vec<u8>>> = (0..count)
        .map(|i| vec![b"SET".to_vec(), format!("{prefix}:{i}").into_bytes(), value.clone()])
        .collect();
    common::dataset::pipeline(conn, &cmds)
}

/// DBSIZE and `evicted_keys` once eviction has settled: the last write may leave the server a
/// little over its limit, and the background cycle then evicts once more (within 100 ms).
fn settled_counts(conn: &mut Conn) -> (u64, u64) {
    let mut read = || (conn.q("DBSIZE").int() as u64, int_field(conn, "stats", "evicted_keys"));
    let mut last = read();
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(150));
        let now = read();
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("eviction did not settle: {last:?}");
}

fn both_servers() -> (TestServer, TestServer) {
    (TestServer::redis(), TestServer::start(SHOAL))
}

#[test]
fn noeviction_refuses_what_may_grow_memory_and_serves_the_rest() {
    let (redis, shoal) = both_servers();
    let mut p = Pair::new(&redis, &shoal);
    p.lines(&[
        "SET kept value",
        "RPUSH list a b",
        "CONFIG SET maxmemory-samples 0",
        "CONFIG SET maxmemory-samples 7",
        "CONFIG GET maxmemory-samples",
        "CONFIG SET lfu-log-factor -1",
        "CONFIG SET maxmemory-policy noeviction",
        "CONFIG SET maxmemory 1",
        // Commands that may grow memory are refused, one-shard or spread over shards.
        "SET a b",
        "APPEND kept more",
        "MSET x 1 y 2 z 3",
        "RPUSH list c",
        "SUNIONSTORE dest list",
        // Reads, deletes and commands that cannot grow memory still run.
        "GET kept",
        "LPOP list",
        "INCR counter",
        "EXPIRE kept 100",
        "PERSIST kept",
        "DEL list",
        "EXISTS list",
        // In a transaction every queued command is refused, and EXEC then fails.
        "MULTI",
        "GET kept",
        "SET a b",
        "EXEC",
        "DBSIZE",
        "CONFIG SET maxmemory 0",
        "SET a b",
        "GET a",
    ]);
}

#[test]
fn exec_of_a_queue_that_may_grow_memory_is_discarded_once_over_the_limit() {
    let (redis, shoal) = both_servers();
    let mut p = Pair::new(&redis, &shoal);
    let mut admins = [redis.conn(), shoal.conn()];
    let mut limit = |value: &str| {
        for admin in admins.iter_mut() {
            assert_eq!(
                admin.q(&format!("CONFIG SET maxmemory {value}")),
                Reply::Simple("OK".into())
            );
        }
    };
    p.lines(&["MULTI", "SET a 1", "GET a"]);
    limit("1");
    p.lines(&["EXEC", "EXEC", "GET a"]);
    // A queue of reads still runs over the limit: only queueing was checked.
    limit("0");
    p.lines(&["MULTI", "GET a"]);
    limit("1");
    p.lines(&["EXEC", "MULTI", "DISCARD", "PING"]);
}

/// Each shard evicts its own keys: one that a write does not reach gives way from the
/// background cycle (every 100 ms), as redis-server's eviction also goes on between commands.
/// Waits until `line` answers `want` on both servers.
fn until_both(p: &mut Pair, line: &str, want: i64) {
    for conn in [&mut p.redis, &mut p.shoal] {
        wait_for(line, Duration::from_secs(10), || conn.q(line).int() == want);
    }
}

#[test]
fn volatile_policies_evict_only_keys_with_a_deadline() {
    let (redis, shoal) = both_servers();
    let mut p = Pair::new(&redis, &shoal);
    p.lines(&[
        "SET plain 1",
        "SET volatile 1 EX 1000",
        "CONFIG SET maxmemory-policy volatile-lru",
        "CONFIG SET maxmemory 1",
        // The one key with a deadline goes, then there is nothing left to evict.
        "SET more 1",
    ]);
    until_both(&mut p, "EXISTS volatile", 0);
    p.lines(&[
        "EXISTS volatile",
        "EXISTS plain",
        "CONFIG SET maxmemory-policy allkeys-random",
    ]);
    // Now every key may go: all do, and the server is still over one byte.
    p.lines(&["SET more 1"]);
    until_both(&mut p, "DBSIZE", 0);
    p.lines(&["DBSIZE", "CONFIG SET maxmemory 0"]);
    for conn in [&mut p.redis, &mut p.shoal] {
        assert_eq!(int_field(conn, "stats", "evicted_keys"), 2);
    }
}

/// Under volatile-lru, fills `server` with 8000 keys that have a deadline, sets the limit 1 MB
/// above what it then holds, and grows one list until a write is refused. Returns the
/// refusals that came while keys that could have been evicted were left, the keys left at the
/// end, and how far over the limit the server was at its highest reading.
fn grow_one_list(server: &TestServer) -> (usize, i64, i64) {
    let mut conn = server.conn();
    conn.q("CONFIG SET maxmemory-policy volatile-lru");
    let value = vec![b'v'; 500];
    let cmds: Vec<Vec<Vec<u8>>> = (0..8000)
        .map(|i| {
            let key = format!("cached:{i}").into_bytes();
            vec![b"SET".to_vec(), key, value.clone(), b"EX".to_vec(), b"100000".to_vec()]
        })
        .collect();
    common::dataset::pipeline(&mut conn, &cmds);
    let limit = int_field(&mut conn, "memory", "used_memory") + (1 << 20);
    conn.q(&format!("CONFIG SET maxmemory {limit}"));
    let element = "e".repeat(1000);
    let (mut early, mut highest) = (0, 0);
    for n in 0..40_000 {
        let reply = conn.q(&format!("RPUSH growing {element}"));
        if n % 16 == 0 {
            highest = highest.max(int_field(&mut conn, "memory", "used_memory") as i64 - limit as i64);
        }
        if matches!(&reply, Reply::Error(e) if e.starts_with("OOM")) {
            if conn.q("DBSIZE").int() == 1 {
                break;
            }
            early += 1;
        }
    }
    (early, conn.q("DBSIZE").int(), highest)
}

/// Keys are spread over the shards but writes need not be: one list takes them all, on one
/// shard, while the keys that may be evicted sit on every shard. As redis-server evicts all
/// of those before it refuses a write, so must Shoal: a shard with nothing left to evict has
/// the others give way for it. Without that, the list's shard refused every RPUSH once its
/// own share of the keys was gone, while the others still held three quarters of them.
#[test]
fn a_shard_with_nothing_left_to_evict_has_the_others_give_way() {
    for flavor in [Flavor::Redis, Flavor::Shoal { shards: 4 }] {
        let server = TestServer::start(flavor);
        let (early, keys, highest) = grow_one_list(&server);
        eprintln!("{flavor:?}: {early} early refusals, {keys} keys left, at most {highest} bytes over");
        assert!(
            early <= 20,
            "{flavor:?}: {early} writes refused while keys could still go"
        );
        assert_eq!(keys, 1, "{flavor:?}: only the list is left when writes are refused");
        // Writes run while other shards evict, up to a sixteenth of the limit over it.
        assert!(highest < (1 << 20), "{flavor:?}: {highest} bytes over the limit");
    }
}

/// Under allkeys-lru: 8000 keys written, left idle for three seconds, then one list grows by
/// 4000 elements of 1 KB past a limit 1 MB above what the server held. Returns the list's
/// length and the keys left besides it.
fn grow_a_hot_list(server: &TestServer) -> (i64, i64) {
    let mut conn = server.conn();
    conn.q("CONFIG SET maxmemory-policy allkeys-lru");
    fill(&mut conn, "idle", 8000, 500);
    std::thread::sleep(Duration::from_millis(3100));
    let limit = int_field(&mut conn, "memory", "used_memory") + (1 << 20);
    conn.q(&format!("CONFIG SET maxmemory {limit}"));
    // A cache sits near its limit for a while before the writes that pass it.
    std::thread::sleep(Duration::from_millis(300));
    let element = "e".repeat(1000);
    for _ in 0..4000 {
        let reply = conn.q(&format!("RPUSH hot {element}"));
        assert!(matches!(reply, Reply::Int(_)), "RPUSH: {reply:?}");
    }
    (conn.q("LLEN hot").int(), conn.q("DBSIZE").int() - 1)
}

/// The idlest keys go first whichever shard holds them. The list that takes every write sits
/// on one shard; once that shard's share of the idle keys is gone, its own best candidate is
/// the list, busier than the idle keys the other shards hold, so they evict for it. Before,
/// that shard evicted the list (it sampled only its own keys), which redis-server never does
/// while idler keys remain.
#[test]
fn the_idlest_keys_go_first_whichever_shard_holds_them() {
    for flavor in [Flavor::Redis, Flavor::Shoal { shards: 4 }] {
        let server = TestServer::start(flavor);
        let (len, others) = grow_a_hot_list(&server);
        eprintln!("{flavor:?}: list of {len}, {others} idle keys left");
        assert_eq!(len, 4000, "{flavor:?}: the list lost elements to eviction");
        assert!((1000..7000).contains(&others), "{flavor:?}: {others} idle keys left");
    }
}

/// Fills `server` past an 8 MB allowance under allkeys-lru after reading a third of the first
/// keys again; returns how many keys were evicted, and how many of them were idle ones.
fn lru_evictions(server: &TestServer) -> (u64, u64) {
    let mut conn = server.conn();
    let base = int_field(&mut conn, "memory", "used_memory");
    let limit = base + (8 << 20);
    conn.q("CONFIG SET maxmemory-policy allkeys-lru");
    conn.q(&format!("CONFIG SET maxmemory {limit}"));
    // 3000 keys of 1 KB fit; two seconds later the first 1000 are read again.
    fill(&mut conn, "old", 3000, 1000);
    assert_eq!(conn.q("DBSIZE").int(), 3000);
    std::thread::sleep(Duration::from_millis(2100));
    for i in 0..1000 {
        assert!(conn.q(&format!("GET old:{i}")).bulk().is_some());
    }
    // 5500 more keys of 1 KB do not fit: about 1500 keys have to go, fewer than the idle
    // ones, so an exact LRU would evict idle keys only (however long the writes take).
    let replies = fill(&mut conn, "new", 5500, 1000);
    assert!(
        replies.iter().all(|r| r == b"+OK\r\n"),
        "every SET evicts rather than fails"
    );
    // Room is made before each write, so the last one may pass the limit by its own size.
    let used = int_field(&mut conn, "memory", "used_memory");
    assert!(used <= limit + (64 << 10), "used_memory {used} over maxmemory {limit}");
    let (keys, evicted) = settled_counts(&mut conn);
    assert!(evicted > 200, "evicted {evicted}");
    assert_eq!(keys + evicted, 8500);
    let idle_gone = (1000..3000)
        .filter(|i| conn.q(&format!("EXISTS old:{i}")).int() == 0)
        .count();
    (evicted, idle_gone as u64)
}

#[test]
fn allkeys_lru_stays_under_the_limit_and_keeps_the_keys_in_use() {
    let (redis, shoal) = both_servers();
    for server in [&redis, &shoal] {
        let (evicted, idle) = lru_evictions(server);
        eprintln!("{:?}: {idle} of {evicted} evicted keys were idle ones", server.flavor);
        // The idle keys are under a quarter of all; sampled LRU with a pool of candidates
        // takes them first (redis-server here: over 90 % of its evictions).
        assert!(
            idle * 10 >= evicted * 8,
            "{:?}: {idle} of {evicted} evicted keys were idle ones",
            server.flavor
        );
    }
}

#[test]
fn access_marks_follow_the_policy_as_in_redis() {
    let (redis, shoal) = both_servers();
    let mut p = Pair::new(&redis, &shoal);
    // Not integers: redis-server shares small integer values among keys, and their marks.
    p.lines(&[
        "SET read r",
        "SET looked l",
        "OBJECT FREQ read",
        "CONFIG SET maxmemory-policy allkeys-lfu",
        "OBJECT IDLETIME read",
        "SET fresh f",
        "OBJECT FREQ fresh",
        "CONFIG SET maxmemory-policy allkeys-lru",
    ]);
    std::thread::sleep(Duration::from_millis(2100));
    for conn in [&mut p.redis, &mut p.shoal] {
        // A read marks the key as used; EXISTS, TYPE and TTL only look.
        conn.q("GET read");
        for line in ["EXISTS looked", "TYPE looked", "TTL looked"] {
            conn.q(line);
        }
        // 0, or 1 when a second boundary falls between the GET and this (1 s resolution).
        assert!(conn.q("OBJECT IDLETIME read").int() <= 1);
        assert!(conn.q("OBJECT IDLETIME looked").int() >= 2);
    }
    // Under LFU, reads raise the counter (logarithmically: 100 reads give a few steps).
    p.lines(&["CONFIG SET maxmemory-policy allkeys-lfu", "SET hot h"]);
    for conn in [&mut p.redis, &mut p.shoal] {
        for _ in 0..100 {
            conn.q("GET hot");
        }
        let freq = conn.q("OBJECT FREQ hot").int();
        assert!((6..=20).contains(&freq), "OBJECT FREQ after 100 reads: {freq}");
    }
}

#[test]
fn evictions_reach_a_stock_replica_as_dels() {
    let master = TestServer::start(SHOAL);
    let mut conn = master.conn();
    let base = int_field(&mut conn, "memory", "used_memory");
    let replica = TestServer::start_with(
        Flavor::Redis,
        None,
        &["--replicaof", "127.0.0.1", &master.port.to_string()],
    );
    let mut rconn = replica.conn();
    wait_for("the replica's link", Duration::from_secs(20), || {
        rconn.info("replication").get("master_link_status").map(String::as_str) == Some("up")
    });
    conn.q("CONFIG SET maxmemory-policy allkeys-random");
    conn.q(&format!("CONFIG SET maxmemory {}", base + (4 << 20)));
    fill(&mut conn, "k", 8000, 1000);
    let (keys, evicted) = settled_counts(&mut conn);
    assert!(evicted > 0);
    assert_eq!(keys + evicted, 8000);
    wait_for("the replica to apply the evictions", Duration::from_secs(20), || {
        rconn.q("DBSIZE").int() as u64 == keys
    });
    // The replica holds exactly the master's keys.
    let mut sample = common::scan_all(&mut conn, &[]);
    sample.truncate(200);
    for key in sample {
        assert_eq!(rconn.call(&[b"EXISTS".to_vec(), key]).int(), 1);
    }
    assert_eq!(
        rconn.call(&c("GET k:0")).bulk().is_some(),
        conn.q("GET k:0").bulk().is_some()
    );
}

/// `replica-ignore-maxmemory`: a replica leaves `maxmemory` to its master's DELs by default,
/// and evicts by itself when told not to ignore it, as a redis-server replica does. The
/// master here has no limit; each replica has 4 MB and gets 8 MB of keys.
#[test]
fn a_replica_evicts_only_when_told_to() {
    let master = TestServer::start(SHOAL);
    let port = master.port.to_string();
    let limit = 4 << 20;
    let replica_args = |ignore: &'static str| {
        vec![
            "--replicaof".to_string(),
            "127.0.0.1".to_string(),
            port.clone(),
            "--maxmemory".to_string(),
            limit.to_string(),
            "--maxmemory-policy".to_string(),
            "allkeys-random".to_string(),
            "--replica-ignore-maxmemory".to_string(),
            ignore.to_string(),
        ]
    };
    let start = |flavor: Flavor, ignore: &'static str| {
        let args = replica_args(ignore);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        TestServer::start_with(flavor, None, &args)
    };
    let replicas = [
        (start(SHOAL, "yes"), false),
        (start(SHOAL, "no"), true),
        (start(Flavor::Redis, "no"), true),
    ];
    for (replica, _) in &replicas {
        let mut conn = replica.conn();
        wait_for("the replica's link", Duration::from_secs(20), || {
            conn.info("replication").get("master_link_status").map(String::as_str) == Some("up")
        });
    }
    fill(&mut master.conn(), "k", 8000, 1000);
    for (replica, evicts) in &replicas {
        let mut conn = replica.conn();
        let what = format!("{:?} evicting {evicts}", replica.flavor);
        if *evicts {
            wait_for(&what, Duration::from_secs(20), || {
                int_field(&mut conn, "stats", "evicted_keys") > 0
            });
            let (keys, evicted) = settled_counts(&mut conn);
            assert!(keys < 8000 && evicted > 0, "{what}: {keys} keys, {evicted} evicted");
            let used = int_field(&mut conn, "memory", "used_memory");
            assert!(used <= limit + (1 << 20), "{what}: used_memory {used}");
        } else {
            wait_for(&what, Duration::from_secs(20), || conn.q("DBSIZE").int() == 8000);
            assert_eq!(int_field(&mut conn, "stats", "evicted_keys"), 0, "{what}");
        }
    }
}
