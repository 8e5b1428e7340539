//! Memory an idle server holds: what a deleted big key freed goes back to the system once the
//! server is quiet, as redis-server's allocator gives it back from its background threads.

use std::time::{Duration, Instant};

use super::common;
use common::TestServer;

/// The server's resident size, read from /proc (not from INFO, so the test does not depend
/// on what INFO reports).
fn rss_of(server: &TestServer) -> u64 {
    let statm = std::fs::read_to_string(format!("/proc/{}/statm", server.pid())).expect("statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("rss");
    pages * 4096
}

#[test]
fn an_idle_server_returns_what_a_deleted_key_freed() {
    let server = TestServer::shoal(2);
    let mut conn = server.conn();
    let before = rss_of(&server);
    // 400k members of 24 bytes: a big sorted set (skip list and dict in redis-server, a
    // tree and an index here) of a few tens of megabytes.
    let members = 400_000;
    let cmds: Vec<Vec<Vec<u8>>> = (0..members / 1000)
        .map(|chunk| {
            let mut c = vec![b"ZADD".to_vec(), b"big".to_vec()];
            for i in chunk * 1000..(chunk + 1) * 1000 {
                c.push(format!("{i}").into_bytes());
                c.push(format!("member:{i:017}").into_bytes());
            }
            c
        })
        .collect();
    common::dataset::pipeline(&mut conn, &cmds);
    assert_eq!(conn.q("ZCARD big").int(), members as i64);
    let loaded = rss_of(&server);
    let grown = loaded.saturating_sub(before);
    assert!(
        grown > 16 << 20,
        "the set took {grown} bytes; expected tens of megabytes"
    );

    assert_eq!(conn.q("DEL big").int(), 1);
    // Quiet from here: within a few seconds at least half of what the set took must be back
    // with the system. (Without the collection none of it came back: 80.5 MB stayed resident
    // after growing from 29.1 MB. With it a release build keeps about 2 MB of the growth; this
    // debug build, under the parallel suite, has kept up to 12 MB of 44.)
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut now = rss_of(&server);
    while now > before + grown / 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        now = rss_of(&server);
    }
    assert!(
        now <= before + grown / 2,
        "resident size before {before}, with the set {loaded}, 8 s after deleting it {now}"
    );
    // INFO tells the two apart: what the server holds now (its allocator's count, as
    // redis-server reports it), and the most it ever held.
    let memory = conn.info("memory");
    let field = |name: &str| -> u64 { memory.get(name).and_then(|v| v.parse().ok()).expect(name) };
    assert!(field("used_memory") < grown / 2, "{memory:?}");
    assert!(field("used_memory_rss") <= now + (4 << 20), "{memory:?}");
    // The peak is sampled every 100 ms; the DEL came right after the load. The set's blocks
    // take most of what it made resident.
    assert!(
        field("used_memory_peak") >= field("used_memory") + grown / 2,
        "{memory:?}"
    );
}

/// MEMORY's replies that do not depend on how each server lays out its data are redis-server's
/// byte for byte: errors, arity, options, missing and expired keys, PURGE.
#[test]
fn memory_errors_and_options_match_redis() {
    let redis = TestServer::redis();
    let shoal = TestServer::start(super::SHOAL);
    let mut p = common::Pair::new(&redis, &shoal);
    p.lines(&[
        "SET s hello",
        "MEMORY",
        "MEMORY foo",
        "MEMORY usage",
        "MEMORY usage missing",
        "MEMORY usage s samples -1",
        "MEMORY usage s samples x",
        "MEMORY usage s samples",
        "MEMORY usage s foo",
        "MEMORY help extra",
        "MEMORY purge x",
        "MEMORY stats x",
        "MEMORY doctor x",
        "MEMORY malloc-stats x",
        "MEMORY purge",
    ]);
    // Both answer a number for a live key, with or without samples (the last option counts).
    for line in [
        "MEMORY usage s",
        "MEMORY usage s samples 0",
        "MEMORY usage s SAMPLES 1 samples 2",
    ] {
        let (r, s) = p.both(&common::c(line));
        assert!(
            matches!((&r, &s), (common::Reply::Int(_), common::Reply::Int(_))),
            "{line}: {r:?} / {s:?}"
        );
    }
}

/// The field names MEMORY STATS gives, in order, with a database's nested fields flattened.
fn stats_fields(conn: &mut common::Conn) -> (Vec<String>, std::collections::HashMap<String, common::Reply>) {
    let common::Reply::Array(items) = conn.q("MEMORY STATS") else {
        panic!("MEMORY STATS is an array")
    };
    let mut names = Vec::new();
    let mut values = std::collections::HashMap::new();
    for pair in items.chunks(2) {
        let name = pair[0].text();
        if let common::Reply::Array(nested) = &pair[1] {
            names.extend(nested.chunks(2).map(|n| format!("{name}/{}", n[0].text())));
        }
        names.push(name.clone());
        values.insert(name, pair[1].clone());
    }
    (names, values)
}

/// MEMORY STATS has redis-server's fields in redis-server's order; its counts are Shoal's own
/// and add up. USAGE of big collections, read whole, is within a fifth of what building each
/// one added to `used_memory`; the default five samples stay near it.
#[test]
fn memory_stats_and_usage_add_up() {
    let redis = TestServer::redis();
    let shoal = TestServer::start(super::SHOAL);
    for server in [&redis, &shoal] {
        server.conn().q("SET k v");
    }
    let (redis_names, _) = stats_fields(&mut redis.conn());
    let mut conn = shoal.conn();
    let (names, values) = stats_fields(&mut conn);
    assert_eq!(names, redis_names);
    let int = |name: &str| match &values[name] {
        common::Reply::Int(n) => *n,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(int("keys.count"), 1);
    assert!(int("total.allocated") <= int("peak.allocated"));
    assert!(int("startup.allocated") > 0 && int("startup.allocated") < int("total.allocated"));
    // The dataset is what the overhead leaves of the total; none when start-up memory freed
    // since (a shrunk buffer) puts the overhead above the total, which happens under load.
    assert_eq!(
        int("dataset.bytes"),
        (int("total.allocated") - int("overhead.total")).max(0)
    );
    assert!(conn.q("MEMORY DOCTOR").text().contains("too little"));
    assert!(!conn.q("MEMORY MALLOC-STATS").text().is_empty());

    let used = |conn: &mut common::Conn| -> i64 { conn.info("memory")["used_memory"].parse().unwrap() };
    for (key, build) in [
        ("h", "HSET h field:{i} value:{i}"),
        ("s", "SADD s member:{i}"),
        ("z", "ZADD z {i} member:{i}"),
        ("l", "RPUSH l element:{i}"),
    ] {
        let before = used(&mut conn);
        let cmds: Vec<Vec<Vec<u8>>> = (0..20_000)
            .map(|i| common::c(&build.replace("{i}", &i.to_string())))
            .collect();
        common::dataset::pipeline(&mut conn, &cmds);
        let added = used(&mut conn) - before;
        let whole = conn.q(&format!("MEMORY USAGE {key} SAMPLES 0")).int();
        let sampled = conn.q(&format!("MEMORY USAGE {key}")).int();
        for (what, n) in [("whole", whole), ("sampled", sampled)] {
            let share = n as f64 / added as f64;
            assert!(
                (0.8..1.25).contains(&share),
                "{key}: {what} estimate {n} for {added} added"
            );
        }
    }
}

/// INFO memory has redis-server 7.0's fields in its order, and its parts add up: the overhead
/// and the dataset make up `used_memory`, as in MEMORY STATS.
#[test]
fn info_memory_has_redis_fields_in_order() {
    let redis = TestServer::redis();
    let shoal = TestServer::start(super::SHOAL);
    let names = |server: &TestServer| -> Vec<String> {
        let text = server.conn().q("INFO memory").text();
        text.lines()
            .filter_map(|l| l.split_once(':').map(|(name, _)| name.to_string()))
            .collect()
    };
    assert_eq!(names(&shoal), names(&redis));
    let mut conn = shoal.conn();
    conn.q("SET k v");
    let info = conn.info("memory");
    let int = |name: &str| -> i64 { info[name].parse().unwrap_or_else(|_| panic!("{name}: {}", info[name])) };
    assert_eq!(
        int("used_memory_dataset"),
        (int("used_memory") - int("used_memory_overhead")).max(0)
    );
    assert!(int("used_memory_startup") > 0 && int("used_memory_startup") <= int("used_memory_overhead"));
    assert_eq!(info["mem_allocator"], "mimalloc");
    assert_eq!(
        int("mem_fragmentation_bytes"),
        int("used_memory_rss") - int("used_memory")
    );
}
