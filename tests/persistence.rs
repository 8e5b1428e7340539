//! RDB persistence of a running server (issue 6): SAVE / BGSAVE / LASTSAVE, save points,
//! SHUTDOWN, loading `dir/dbfilename` at start-up under any shard count, refusal of damaged
//! dumps, and dump interchange with a real redis-server 7.0 in both directions.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::dataset::{assert_same_data, dbsizes, populate, snapshot};
use common::{Flavor, Reply, TempDir, TestServer};

const DBS: &[usize] = &[0, 3];

fn shoal_in(dir: &Path, shards: usize, extra: &[&str]) -> TestServer {
    TestServer::start_with(Flavor::Shoal { shards }, Some(dir), extra)
}

fn redis_in(dir: &Path, extra: &[&str]) -> TestServer {
    TestServer::start_with(Flavor::Redis, Some(dir), extra)
}

/// `name:value` lines of one INFO section.
fn info_fields(server: &TestServer, section: &str) -> Vec<(String, String)> {
    let text = server.conn().q(&format!("INFO {section}")).text();
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains(':'))
        .filter_map(|l| {
            l.split_once(':')
                .map(|(a, b)| (a.to_string(), b.trim_end().to_string()))
        })
        .collect()
}

fn info_field(server: &TestServer, section: &str, name: &str) -> String {
    info_fields(server, section)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("INFO {section} has no {name}"))
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

#[test]
fn save_and_restart_keeps_everything_under_any_shard_count() {
    let dir = TempDir::new("persist-restart");
    let (want, sizes) = {
        let s = shoal_in(dir.path(), 4, &[]);
        let mut c = s.conn();
        populate(&mut c, 4000, DBS, 11);
        // Keys that must not survive: already expired by the time of the restart.
        c.q("SET soon v PX 400");
        assert_eq!(c.q("SAVE"), Reply::Simple("OK".into()));
        let want = snapshot(&mut c, DBS);
        let sizes = dbsizes(&mut c, DBS);
        (want, sizes)
    };
    assert!(dir.path().join("dump.rdb").is_file(), "SAVE wrote no dump.rdb");
    std::thread::sleep(Duration::from_millis(500));
    let want: std::collections::BTreeMap<_, _> = want.into_iter().filter(|(k, _)| k.1 != b"soon").collect();
    // DBSIZE taken after the snapshot: `soon` may already be gone from it, never counted.
    assert!(!want.is_empty() && sizes[1] == 2000 && (sizes[0] == 2000 || sizes[0] == 2001));
    let sizes = vec![2000, 2000];
    for shards in [1, 3, 4] {
        let s = shoal_in(dir.path(), shards, &[]);
        let mut c = s.conn();
        assert_same_data(
            &snapshot(&mut c, DBS),
            &want,
            &format!("reloaded with --shards {shards}"),
        );
        assert_eq!(dbsizes(&mut c, DBS), sizes, "DBSIZE of dbs 0, 3 with --shards {shards}");
        assert_eq!(c.q("EXISTS soon"), Reply::Int(0), "an expired key was loaded");
    }
}

#[test]
fn loads_a_dump_written_by_redis() {
    let dir = TempDir::new("persist-from-redis");
    let (want, sizes) = {
        let r = redis_in(dir.path(), &[]);
        let mut c = r.conn();
        populate(&mut c, 4000, DBS, 22);
        // Long-run encodings Redis picks on its own: INT strings and LZF-compressed ones.
        c.q("SET lzf aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        c.q("SET intstr 12345678901");
        assert_eq!(c.q("SAVE"), Reply::Simple("OK".into()));
        (snapshot(&mut c, DBS), dbsizes(&mut c, DBS))
    };
    for shards in [1, 3] {
        let s = shoal_in(dir.path(), shards, &[]);
        let mut c = s.conn();
        assert_same_data(
            &snapshot(&mut c, DBS),
            &want,
            &format!("redis dump in shoal --shards {shards}"),
        );
        assert_eq!(dbsizes(&mut c, DBS), sizes);
    }
}

#[test]
fn redis_loads_a_dump_written_by_shoal() {
    let dir = TempDir::new("persist-to-redis");
    let (want, sizes) = {
        let s = shoal_in(dir.path(), 4, &[]);
        let mut c = s.conn();
        populate(&mut c, 4000, DBS, 33);
        c.q("SET lzf aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        assert_eq!(c.q("SAVE"), Reply::Simple("OK".into()));
        (snapshot(&mut c, DBS), dbsizes(&mut c, DBS))
    };
    // Deep sanitization makes redis validate every listpack / intset / ziplist it loads.
    let r = redis_in(dir.path(), &["--sanitize-dump-payload", "yes"]);
    let mut c = r.conn();
    assert_same_data(&snapshot(&mut c, DBS), &want, "shoal dump in redis-server");
    assert_eq!(dbsizes(&mut c, DBS), sizes);
}

/// Starts Shoal on a damaged dump: it must exit non-zero and say why.
fn assert_refused(bytes: &[u8], what: &str) {
    let dir = TempDir::new("persist-damaged");
    std::fs::write(dir.path().join("dump.rdb"), bytes).expect("write dump");
    match TestServer::try_start_with(Flavor::Shoal { shards: 2 }, Some(dir.path()), &[]) {
        Ok(_) => panic!("{what}: Shoal started on a damaged dump"),
        Err(e) => {
            assert!(e.starts_with("server exited with"), "{what}: {e}");
            assert!(!e.contains("exit status: 0"), "{what}: exited with status 0: {e}");
            assert!(
                e.contains("Fatal error loading the DB") || e.contains("Bad file format"),
                "{what}: no message about the dump in the log: {e}"
            );
        }
    }
}

#[test]
fn damaged_dumps_stop_start_up() {
    let dir = TempDir::new("persist-damage-src");
    {
        let s = shoal_in(dir.path(), 2, &[]);
        let mut c = s.conn();
        populate(&mut c, 500, DBS, 44);
        assert_eq!(c.q("SAVE"), Reply::Simple("OK".into()));
    }
    let good = std::fs::read(dir.path().join("dump.rdb")).expect("dump written");
    assert!(good.len() > 1000);
    assert_refused(&good[..good.len() / 2], "truncated in the middle");
    assert_refused(&good[..good.len() - 3], "truncated in the CRC");
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x10;
    assert_refused(&flipped, "one flipped bit");
    // The intact file still loads (the test's damage is what is refused).
    let s = shoal_in(dir.path(), 2, &[]);
    assert!(s.conn().q("DBSIZE").int() > 0);
}

#[test]
fn bgsave_then_lastsave_advances() {
    let s = TestServer::shoal(2);
    let mut c = s.conn();
    let before = c.q("LASTSAVE").int();
    c.q("SET a 1");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(c.raw(&common::c("BGSAVE")), b"+Background saving started\r\n");
    let advanced = wait_until(Duration::from_secs(5), || c.q("LASTSAVE").int() > before);
    assert!(advanced, "LASTSAVE stayed at {before} after BGSAVE");
    assert!(s.dir.join("dump.rdb").is_file(), "BGSAVE wrote no dump.rdb");
    assert_eq!(info_field(&s, "persistence", "rdb_bgsave_in_progress"), "0");
    assert_eq!(info_field(&s, "persistence", "rdb_last_bgsave_status"), "ok");
    assert_eq!(info_field(&s, "persistence", "rdb_changes_since_last_save"), "0");
    // BGSAVE SCHEDULE with nothing running starts one at once, like Redis.
    assert_eq!(c.raw(&common::c("BGSAVE SCHEDULE")), b"+Background saving started\r\n");
}

#[test]
fn save_point_fires_after_a_write() {
    let s = TestServer::start_with(Flavor::Shoal { shards: 2 }, None, &["--save", "1 1"]);
    let mut c = s.conn();
    assert_eq!(
        c.q("CONFIG GET save"),
        Reply::Array(vec![Reply::Bulk(b"save".to_vec()), Reply::Bulk(b"1 1".to_vec())])
    );
    let dump = s.dir.join("dump.rdb");
    assert!(!dump.exists());
    let before = c.q("LASTSAVE").int();
    std::thread::sleep(Duration::from_millis(1100));
    c.q("SET x 1");
    let t = Instant::now();
    // Redis fires within about a second; the margin is for a loaded CI machine.
    let saved = wait_until(Duration::from_secs(10), || {
        dump.is_file() && c.q("LASTSAVE").int() > before
    });
    assert!(saved, "`save 1 1`: no dump within 10 s of a write");
    eprintln!("save point fired after {:?}", t.elapsed());
    assert!(wait_until(Duration::from_secs(2), || info_field(
        &s,
        "persistence",
        "rdb_changes_since_last_save"
    ) == "0"));
}

#[test]
fn shutdown_with_save_points_writes_the_dump() {
    let dir = TempDir::new("persist-shutdown");
    {
        let mut s = shoal_in(dir.path(), 3, &["--save", "3600 1"]);
        let mut c = s.conn();
        populate(&mut c, 300, DBS, 55);
        c.send(&common::c("SHUTDOWN"));
        assert!(c.try_read_reply().is_none(), "SHUTDOWN replied instead of closing");
        let status = s
            .wait_exit(Duration::from_secs(10))
            .expect("Shoal still running 10 s after SHUTDOWN");
        assert!(status.success(), "SHUTDOWN exit status {status}");
    }
    assert!(
        dir.path().join("dump.rdb").is_file(),
        "SHUTDOWN with save points wrote no dump"
    );
    let s = shoal_in(dir.path(), 2, &[]);
    assert_eq!(dbsizes(&mut s.conn(), DBS), vec![150, 150]);
}

#[test]
fn shutdown_nosave_and_no_save_points_write_nothing() {
    for (extra, cmd) in [(&["--save", "3600 1"][..], "SHUTDOWN NOSAVE"), (&[][..], "SHUTDOWN")] {
        let mut s = TestServer::start_with(Flavor::Shoal { shards: 2 }, None, extra);
        let mut c = s.conn();
        c.q("SET a 1");
        c.send(&common::c(cmd));
        assert!(c.try_read_reply().is_none());
        assert!(
            s.wait_exit(Duration::from_secs(10)).is_some(),
            "`{cmd}` did not stop Shoal"
        );
        assert!(!s.dir.join("dump.rdb").exists(), "`{cmd}` with {extra:?} wrote a dump");
    }
}

#[test]
fn info_persistence_field_names_match_redis() {
    let r = TestServer::redis();
    let s = TestServer::shoal(2);
    let names = |srv: &TestServer| {
        info_fields(srv, "persistence")
            .into_iter()
            .map(|(k, _)| k)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&s),
        names(&r),
        "INFO persistence field names and order (left shoal)"
    );
}

#[test]
fn info_persistence_values_follow_writes_and_saves() {
    let r = TestServer::redis();
    let s = TestServer::shoal(2);
    for srv in [&r, &s] {
        let mut c = srv.conn();
        c.q("SET a 1");
        c.q("SET b 2");
        c.q("GET a");
        assert_eq!(
            info_field(srv, "persistence", "rdb_changes_since_last_save"),
            "2",
            "{:?}",
            srv.flavor
        );
        assert_eq!(info_field(srv, "persistence", "loading"), "0");
        assert_eq!(info_field(srv, "persistence", "rdb_last_bgsave_status"), "ok");
        c.q("SAVE");
        assert_eq!(
            info_field(srv, "persistence", "rdb_changes_since_last_save"),
            "0",
            "{:?}",
            srv.flavor
        );
        let last = info_field(srv, "persistence", "rdb_last_save_time");
        assert_eq!(
            last,
            c.q("LASTSAVE").int().to_string(),
            "rdb_last_save_time vs LASTSAVE"
        );
    }
}
