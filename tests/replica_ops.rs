//! Shoal as a replica, the way operators set it up and run it: the SLAVEOF + masterauth
//! walk-through against a password-protected redis-server master, the same from a config file
//! as a daemon, a killed link resuming with +CONTINUE, a restart resuming from the dump, stale
//! reads while the master is away, promotion with a redis-server replica re-pointed to the
//! promoted Shoal, chains in both directions, and writes racing the full sync.
//! (`tests/replica.rs` covers the protocol details: handshake bytes, GETACK, ROLE fields.)

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::dataset::{Rng, assert_same_data, dbsizes, pipeline, populate, snapshot};
use common::*;

const DBS: &[usize] = &[0, 3];

fn ok() -> Reply {
    Reply::Simple("OK".into())
}

fn stat(conn: &mut Conn, name: &str) -> i64 {
    conn.info("stats").get(name).and_then(|v| v.parse().ok()).unwrap_or(-1)
}

/// Waits until `replica` is linked and has applied everything `master` produced.
fn wait_synced(master: &mut Conn, replica: &mut Conn) {
    let (mut m, mut r) = (HashMap::new(), HashMap::new());
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        r = replica.info("replication");
        m = master.info("replication");
        // The master's view too: a redis-server master moves a diskless replica out of
        // `wait_bgsave` only when it reaps the snapshot child (its cron, every 100 ms), which
        // under load came after the replica had loaded the data and caught up.
        let replicas_online = m
            .iter()
            .filter(|(k, _)| k.strip_prefix("slave").is_some_and(|n| n.parse::<u32>().is_ok()))
            .all(|(_, v)| v.contains("state=online"));
        if r.get("master_link_status").map(String::as_str) == Some("up")
            && r.contains_key("slave_repl_offset")
            && r.get("slave_repl_offset") == m.get("master_repl_offset")
            && replicas_online
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("replica not in sync:\nmaster {m:?}\nreplica {r:?}");
}

/// A redis-server master that starts a full sync at once.
fn redis_master(extra: &[&str]) -> TestServer {
    let mut args = vec!["--repl-diskless-sync-delay", "0"];
    args.extend_from_slice(extra);
    TestServer::start_with(Flavor::Redis, None, &args)
}

fn shoal(shards: usize, extra: &[&str]) -> TestServer {
    let mut args = vec!["--repl-diskless-sync-delay", "0"];
    args.extend_from_slice(extra);
    TestServer::start_with(Flavor::Shoal { shards }, None, &args)
}

fn authed(server: &TestServer, pass: &str) -> Conn {
    let mut conn = server.conn();
    assert_eq!(conn.q(&format!("AUTH {pass}")), ok());
    conn
}

fn sorted_keys(conn: &mut Conn) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = conn.q("KEYS *").items().iter().filter_map(Reply::bulk).collect();
    keys.sort();
    keys
}

/// Every key of `DBS` on both sides, compared key by key (type, value, PEXPIRETIME).
fn assert_equal(master: &mut Conn, replica: &mut Conn, label: &str) {
    let want = snapshot(master, DBS);
    assert!(!want.is_empty(), "{label}: empty dataset");
    assert_same_data(&snapshot(replica, DBS), &want, label);
    assert_eq!(dbsizes(replica, DBS), dbsizes(master, DBS), "{label}: DBSIZE");
}

/// `batches` × 50 mixed writes of every type over a small key space (dbs 0 and 3), pipelined;
/// TTLs are long so that no key expires between the two sides' reads. (A count, not a
/// duration: a Shoal replica in a debug build on a loaded CI machine applies a few thousand
/// commands a second, and the suite must not depend on the machine's speed.)
fn churn(port: u16, pass: Option<&str>, seed: u64, batches: u64) -> u64 {
    let mut conn = Conn::connect(port);
    if let Some(p) = pass {
        assert_eq!(conn.q(&format!("AUTH {p}")), ok());
    }
    let mut rng = Rng(seed | 1);
    let mut n = 0u64;
    for _ in 0..batches {
        let mut batch = Vec::new();
        for _ in 0..50 {
            let k = rng.below(200);
            let line = match rng.below(16) {
                0 => format!("SET s{k} v{n}"),
                1 => format!("INCRBY i{k} {}", rng.below(100)),
                2 => format!("INCRBYFLOAT f{k} 0.25"),
                3 => format!("APPEND s{k} x"),
                4 => format!("DEL s{k} l{k} h{k}"),
                5 => format!("RPUSH l{k} a{n} {}", rng.below(1000)),
                6 => format!("LPOP l{k}"),
                7 => format!("SADD z{k} m{} {}", rng.below(40), rng.below(40)),
                8 => format!("SREM z{k} m{}", rng.below(40)),
                9 => format!("HSET h{k} f{} {n}", rng.below(20)),
                10 => format!("HINCRBYFLOAT h{k} g 1.5"),
                11 => format!("ZADD o{k} {} m{}", rng.below(100), rng.below(30)),
                12 => format!("ZINCRBY o{k} 2 m{}", rng.below(30)),
                13 => format!("EXPIRE l{k} {}", 1000 + rng.below(1000)),
                14 => format!("SETEX e{k} {} v", 5000 + rng.below(100)),
                _ => format!("MSET s{k} a s{} b", rng.below(200)),
            };
            let mut cmd = c(&line);
            if rng.below(8) == 0 {
                // The same command in db 3.
                batch.push(c("SELECT 3"));
                batch.push(std::mem::take(&mut cmd));
                batch.push(c("SELECT 0"));
            } else {
                batch.push(cmd);
            }
        }
        let raw: Vec<u8> = batch.iter().flat_map(|a| encode(a)).collect();
        conn.send_raw(&raw);
        for _ in &batch {
            // WRONGTYPE replies are part of the mix.
            conn.read_reply();
        }
        n += batch.len() as u64;
    }
    n
}

fn temp_rdbs(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("temp-") && n.ends_with(".rdb"))
                .collect()
        })
        .unwrap_or_default()
}

/// The text of an RDB file's AUX field (string or integer encoded), by a plain scan.
fn rdb_aux(rdb: &[u8], name: &str) -> Option<String> {
    let mut pat = vec![0xfa, name.len() as u8];
    pat.extend_from_slice(name.as_bytes());
    let at = rdb.windows(pat.len()).position(|w| w == pat)? + pat.len();
    let (first, rest) = (rdb[at], &rdb[at + 1..]);
    match first {
        0xc0 => Some((rest[0] as i8).to_string()),
        0xc1 => Some(i16::from_le_bytes([rest[0], rest[1]]).to_string()),
        0xc2 => Some(i32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]).to_string()),
        n if n < 64 => Some(String::from_utf8_lossy(&rest[..n as usize]).into_owned()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// The operator's walk-through
// ---------------------------------------------------------------------------------------------

/// Command for command: a password-protected redis-server master, a plain Shoal told
/// `SLAVEOF` and then `CONFIG SET masterauth`, INFO on both sides, KEYS on the replica, a
/// refused write, and `SLAVEOF NO ONE` keeping the data.
#[test]
fn slaveof_then_masterauth_walkthrough() {
    let master = redis_master(&["--requirepass", "123456"]);
    let replica = shoal(2, &[]);
    let mut m = authed(&master, "123456");
    for line in [
        "SET name shoal",
        "SET counter 10",
        "RPUSH queue a b c",
        "HSET user:1 name ann age 30",
    ] {
        assert!(!matches!(m.q(line), Reply::Error(_)), "{line}");
    }
    let mut r = replica.conn();
    assert_eq!(r.q(&format!("SLAVEOF 127.0.0.1 {}", master.port)), ok());
    assert_eq!(r.q("CONFIG SET masterauth 123456"), ok());
    wait_synced(&mut m, &mut r);

    let mi = m.info("replication");
    assert_eq!(mi["role"], "master");
    assert_eq!(mi["connected_slaves"], "1");
    assert!(
        mi["slave0"].contains(&format!("port={}", replica.port)) && mi["slave0"].contains("state=online"),
        "{}",
        mi["slave0"]
    );
    let ri = r.info("replication");
    assert_eq!(ri["role"], "slave");
    assert_eq!(ri["master_host"], "127.0.0.1");
    assert_eq!(ri["master_port"], master.port.to_string());
    assert_eq!(ri["master_link_status"], "up");
    assert_eq!(ri["master_replid"], mi["master_replid"]);
    assert_eq!(ri["master_repl_offset"], mi["master_repl_offset"]);
    assert_eq!(ri["slave_repl_offset"], mi["master_repl_offset"]);

    assert_eq!(sorted_keys(&mut r), sorted_keys(&mut m));
    assert_eq!(r.q("GET name").bulk(), Some(b"shoal".to_vec()));
    assert_eq!(
        r.q("SET name other"),
        Reply::Error("READONLY You can't write against a read only replica.".into())
    );
    // A write on the master arrives.
    m.q("INCR counter");
    wait_synced(&mut m, &mut r);
    assert_eq!(r.q("GET counter").bulk(), Some(b"11".to_vec()));

    assert_eq!(r.q("SLAVEOF NO ONE"), ok());
    assert_eq!(r.info("replication")["role"], "master");
    assert_eq!(sorted_keys(&mut r), sorted_keys(&mut m));
    assert_eq!(r.q("SET name other"), ok());
    assert_eq!(r.q("GET name").bulk(), Some(b"other".to_vec()));
    wait_for("master drops the replica", Duration::from_secs(10), || {
        m.info("replication")["connected_slaves"] == "0"
    });
}

/// Kills exactly `pid` (read from the pidfile of a daemon this test started).
fn kill_pid(pid: i32, sig: &str) {
    let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
}

fn pid_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// Stops a daemon by its pid whatever happens in the test.
struct Daemon(i32);

impl Drop for Daemon {
    fn drop(&mut self) {
        if pid_alive(self.0) {
            kill_pid(self.0, "-9");
        }
    }
}

/// The same set-up from a config file, started as a daemon (two bind addresses, pidfile,
/// logfile, save points); it ends equal to the master and stops on SIGTERM to its pid.
#[test]
fn replica_from_config_file_as_daemon() {
    let master = redis_master(&["--requirepass", "123456"]);
    let mut m = authed(&master, "123456");
    populate(&mut m, 600, DBS, 11);
    let dir = TempDir::new("replica-daemon");
    let d = dir.path();
    let port = free_port();
    let conf = format!(
        "bind 127.0.0.1 ::1\nport {port}\ndaemonize yes\npidfile {pid}\nlogfile {log}\ndir {dir}\n\
         dbfilename replica.rdb\nsave 2 1\nrequirepass 123456\nslaveof 127.0.0.1 {mport}\n\
         masterauth 123456\nslave-read-only yes\n",
        pid = d.join("shoal.pid").display(),
        log = d.join("shoal.log").display(),
        dir = d.display(),
        mport = master.port,
    );
    let conf_path = d.join("replica.conf");
    std::fs::write(&conf_path, conf).expect("write config");
    let status = Command::new(env!("CARGO_BIN_EXE_shoal-server"))
        .arg(&conf_path)
        .args(["--shards", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("launch");
    assert!(status.success(), "launcher: {status}");
    let mut pid = 0;
    wait_for("pidfile", Duration::from_secs(10), || {
        pid = std::fs::read_to_string(d.join("shoal.pid"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        pid > 0
    });
    let _daemon = Daemon(pid);
    wait_for("daemon listening", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let mut r = Conn::connect(port);
    assert_eq!(r.q("SET x 1"), Reply::Error("NOAUTH Authentication required.".into()));
    assert_eq!(r.q("AUTH 123456"), ok());
    wait_synced(&mut m, &mut r);
    churn(master.port, Some("123456"), 5, 20);
    wait_synced(&mut m, &mut r);
    assert_equal(&mut m, &mut r, "daemon replica");
    // Both bind addresses serve.
    let mut v6 = std::net::TcpStream::connect(("::1", port)).expect("connect over ::1");
    v6.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    std::io::Write::write_all(&mut v6, b"AUTH 123456\r\nGET name:v6\r\n").expect("write");
    let mut got = [0u8; 10];
    std::io::Read::read_exact(&mut v6, &mut got).expect("read over ::1");
    assert_eq!(&got, b"+OK\r\n$-1\r\n");
    let ri = r.info("replication");
    assert_eq!(ri["role"], "slave");
    assert_eq!(ri["slave_read_only"], "1");
    // The master's snapshot became the replica's dump (since rewritten by `save 2 1`).
    assert!(d.join("replica.rdb").exists(), "replica.rdb not written");
    assert!(temp_rdbs(d).is_empty(), "temp files left: {:?}", temp_rdbs(d));
    drop(r);
    kill_pid(pid, "-15");
    wait_for("daemon exit", Duration::from_secs(10), || !pid_alive(pid));
    assert!(!d.join("shoal.pid").exists(), "pidfile left behind");
    let log = std::fs::read_to_string(d.join("shoal.log")).unwrap_or_default();
    assert!(log.contains("MASTER <-> REPLICA sync: Finished with success"), "{log}");
}

// ---------------------------------------------------------------------------------------------
// Link loss, restart, stale reads
// ---------------------------------------------------------------------------------------------

/// The master kills the replica's link in the middle of writes: the replica comes back with
/// +CONTINUE (the master counts a partial sync, no second full one) and converges. The
/// payload here is the `$<len>` form (the master writes its RDB to disk first).
#[test]
fn killed_link_resumes_with_continue() {
    let master = redis_master(&["--repl-diskless-sync", "no"]);
    let replica = shoal(2, &[]);
    let (mut m, mut r) = (master.conn(), replica.conn());
    populate(&mut m, 800, DBS, 21);
    assert_eq!(r.q(&format!("REPLICAOF 127.0.0.1 {}", master.port)), ok());
    wait_synced(&mut m, &mut r);
    assert_eq!(stat(&mut m, "sync_full"), 1);
    let port = master.port;
    let writer = std::thread::spawn(move || churn(port, None, 22, 60));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(m.q("CLIENT KILL TYPE replica"), Reply::Int(1));
    let written = writer.join().expect("writer");
    assert!(written > 0);
    // The replica may still show the old link as up with equal offsets until it notices the
    // close: wait for it to come back before comparing.
    wait_for("the replica to resync", Duration::from_secs(20), || {
        stat(&mut m, "sync_partial_ok") + stat(&mut m, "sync_full") > 1
    });
    wait_synced(&mut m, &mut r);
    assert_eq!(
        stat(&mut m, "sync_partial_ok"),
        1,
        "{}\n{}",
        replica.log(),
        master.log()
    );
    assert_eq!(stat(&mut m, "sync_full"), 1);
    assert!(
        replica
            .log()
            .contains("Successful partial resynchronization with master.")
    );
    assert_equal(&mut m, &mut r, "after the link was killed");
}

/// A replica restarted with `replicaof` set continues from its dump's `repl-id` /
/// `repl-offset` with PSYNC and gets only what it missed (+CONTINUE), as redis-server does.
/// `save`: the dump is the replica's own SAVE (7.0 writes the master's id and the replica's
/// offset into it) rather than the snapshot received from the master.
fn restart_resumes(save: bool) {
    let master = redis_master(&[]);
    let mut m = master.conn();
    populate(&mut m, 800, DBS, 31);
    let dir = TempDir::new("replica-restart");
    let of = ["--replicaof", "127.0.0.1", &master.port.to_string()].map(String::from);
    let args: Vec<&str> = of.iter().map(String::as_str).collect();
    {
        let replica = TestServer::start_with(Flavor::Shoal { shards: 2 }, Some(dir.path()), &args);
        let mut r = replica.conn();
        wait_synced(&mut m, &mut r);
        churn(master.port, None, 32, 10);
        wait_synced(&mut m, &mut r);
        assert!(dir.path().join("dump.rdb").exists(), "no dump.rdb after the sync");
        if save {
            assert_eq!(r.q("SAVE"), ok());
            let rdb = std::fs::read(dir.path().join("dump.rdb")).expect("dump.rdb");
            let mi = m.info("replication");
            assert_eq!(rdb_aux(&rdb, "repl-id"), mi.get("master_replid").cloned());
            assert_eq!(rdb_aux(&rdb, "repl-offset"), mi.get("master_repl_offset").cloned());
        }
    }
    // Written while the replica is down.
    churn(master.port, None, 33, 10);
    assert_eq!(stat(&mut m, "sync_full"), 1);
    let replica = TestServer::start_with(Flavor::Shoal { shards: 2 }, Some(dir.path()), &args);
    let mut r = replica.conn();
    wait_synced(&mut m, &mut r);
    assert_eq!(stat(&mut m, "sync_partial_ok"), 1, "{}", replica.log());
    assert_eq!(stat(&mut m, "sync_full"), 1);
    assert_equal(&mut m, &mut r, "after the restart");
    assert_eq!(
        r.info("replication")["master_replid"],
        m.info("replication")["master_replid"]
    );
}

#[test]
fn restart_resumes_from_the_received_dump_with_psync() {
    restart_resumes(false);
}

#[test]
fn restart_resumes_from_its_own_save_with_psync() {
    restart_resumes(true);
}

/// With the master gone, reads keep being served (`replica-serve-stale-data yes`, the
/// default, also known as `slave-serve-stale-data`).
#[test]
fn stale_reads_are_served_while_the_master_is_down() {
    let master = redis_master(&[]);
    let replica = shoal(2, &[]);
    let (mut m, mut r) = (master.conn(), replica.conn());
    m.q("SET k v");
    assert_eq!(r.q(&format!("REPLICAOF 127.0.0.1 {}", master.port)), ok());
    wait_synced(&mut m, &mut r);
    drop(m);
    drop(master);
    wait_for("link down", Duration::from_secs(10), || {
        r.info("replication")["master_link_status"] == "down"
    });
    assert_eq!(r.q("GET k").bulk(), Some(b"v".to_vec()));
    for name in ["replica-serve-stale-data", "slave-serve-stale-data"] {
        let got = r.q(&format!("CONFIG GET {name}")).items();
        assert_eq!(got[0].bulk(), Some(name.as_bytes().to_vec()));
        assert_eq!(got[1].bulk(), Some(b"yes".to_vec()));
    }
    assert_eq!(r.q("CONFIG SET slave-serve-stale-data no"), ok());
    assert_eq!(
        r.q("CONFIG GET replica-serve-stale-data").items()[1].bulk(),
        Some(b"no".to_vec())
    );
}

/// `replica-serve-stale-data no`: with the link down, commands not flagged `stale` get
/// -MASTERDOWN, those flagged (INFO, CONFIG, REPLICAOF...) still run; writes still get
/// -READONLY first, as in redis-server 7.0.
#[test]
fn masterdown_when_stale_data_is_not_served() {
    let replica = shoal(2, &["--replica-serve-stale-data", "no"]);
    let mut r = replica.conn();
    // Nobody listens there: the link stays down.
    assert_eq!(r.q(&format!("REPLICAOF 127.0.0.1 {}", free_port())), ok());
    let down = Reply::Error("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.".into());
    assert_eq!(r.q("GET k"), down);
    assert_eq!(r.q("DBSIZE"), down);
    assert_eq!(
        r.q("SET k v"),
        Reply::Error("READONLY You can't write against a read only replica.".into())
    );
    assert_eq!(r.info("replication")["master_link_status"], "down");
    assert_eq!(r.q("CONFIG SET replica-serve-stale-data yes"), ok());
    assert_eq!(r.q("GET k"), Reply::Nil);
}

// ---------------------------------------------------------------------------------------------
// Promotion, chains, writes racing the sync
// ---------------------------------------------------------------------------------------------

/// Shoal and a redis-server replica follow one redis-server master; Shoal is promoted, the
/// redis-server replica is re-pointed to it and continues with a partial resync.
#[test]
fn promoted_shoal_takes_over_a_redis_replica_with_psync() {
    let master = redis_master(&[]);
    let shoal_r = shoal(2, &[]);
    let other = TestServer::start_with(
        Flavor::Redis,
        None,
        &["--replicaof", "127.0.0.1", &master.port.to_string()],
    );
    let (mut m, mut s, mut o) = (master.conn(), shoal_r.conn(), other.conn());
    populate(&mut m, 500, DBS, 41);
    assert_eq!(s.q(&format!("REPLICAOF 127.0.0.1 {}", master.port)), ok());
    churn(master.port, None, 42, 10);
    wait_synced(&mut m, &mut s);
    wait_synced(&mut m, &mut o);
    // Nothing more from the master: both replicas are at the same offset.
    assert_eq!(s.q("REPLICAOF NO ONE"), ok());
    assert_eq!(s.q("CONFIG SET repl-diskless-sync-delay 0"), ok());
    assert_eq!(o.q(&format!("REPLICAOF 127.0.0.1 {}", shoal_r.port)), ok());
    wait_synced(&mut s, &mut o);
    assert_eq!(stat(&mut s, "sync_partial_ok"), 1, "{}", other.log());
    assert_eq!(stat(&mut s, "sync_full"), 0);
    // Writes on the new master reach the re-pointed replica.
    churn(shoal_r.port, None, 43, 10);
    wait_synced(&mut s, &mut o);
    assert_equal(&mut s, &mut o, "redis replica of the promoted shoal");
    let (si, oi) = (s.info("replication"), o.info("replication"));
    assert_eq!(oi["master_replid"], si["master_replid"]);
}

/// Waits until every hop of a chain has what its upstream has, then compares each hop with
/// the top.
fn assert_chain_equal(servers: &[&TestServer]) {
    let mut conns: Vec<Conn> = servers.iter().map(|s| s.conn()).collect();
    for i in 1..conns.len() {
        let (up, down) = conns.split_at_mut(i);
        wait_synced(&mut up[i - 1], &mut down[0]);
    }
    let want = snapshot(&mut conns[0], DBS);
    assert!(want.len() > 100, "only {} keys", want.len());
    for (i, conn) in conns.iter_mut().enumerate().skip(1) {
        assert_same_data(&snapshot(conn, DBS), &want, &format!("hop {i}"));
    }
}

/// redis-server -> Shoal (4 shards) -> redis-server, with writes of every type before and
/// after the links come up.
#[test]
fn chain_redis_to_shoal_to_redis() {
    let top = redis_master(&[]);
    let mid = shoal(4, &[]);
    let tail = TestServer::redis();
    let (mut t, mut mi, mut ta) = (top.conn(), mid.conn(), tail.conn());
    populate(&mut t, 1500, DBS, 51);
    assert_eq!(mi.q(&format!("REPLICAOF 127.0.0.1 {}", top.port)), ok());
    assert_eq!(mi.q("CONFIG SET repl-diskless-sync-delay 0"), ok());
    assert_eq!(ta.q(&format!("REPLICAOF 127.0.0.1 {}", mid.port)), ok());
    churn(top.port, None, 52, 40);
    assert_chain_equal(&[&top, &mid, &tail]);
    let ids: Vec<String> = [&mut t, &mut mi, &mut ta]
        .into_iter()
        .map(|c| c.info("replication")["master_replid"].clone())
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one history down the chain: {ids:?}"
    );
}

/// Shoal -> Shoal -> Shoal likewise.
#[test]
fn chain_shoal_to_shoal_to_shoal() {
    let top = shoal(2, &[]);
    let mid = shoal(4, &[]);
    let tail = shoal(2, &[]);
    let (mut t, mut mi, mut ta) = (top.conn(), mid.conn(), tail.conn());
    populate(&mut t, 1500, DBS, 61);
    assert_eq!(mi.q(&format!("REPLICAOF 127.0.0.1 {}", top.port)), ok());
    assert_eq!(ta.q(&format!("REPLICAOF 127.0.0.1 {}", mid.port)), ok());
    churn(top.port, None, 62, 40);
    assert_chain_equal(&[&top, &mid, &tail]);
    let (ti, tai) = (t.info("replication"), ta.info("replication"));
    assert_eq!(tai["master_replid"], ti["master_replid"]);
    assert_eq!(tai["master_repl_offset"], ti["master_repl_offset"]);
}

/// Writes keep coming while the master produces and sends the payload, and after: the
/// replica ends equal, the payload went through a temp file (none left) into the dump.
#[test]
fn writes_during_and_after_the_full_sync() {
    let master = redis_master(&[]);
    let replica = shoal(4, &[]);
    let (mut m, mut r) = (master.conn(), replica.conn());
    populate(&mut m, 6000, DBS, 71);
    let port = master.port;
    let writers: Vec<_> = (0..2)
        .map(|w| std::thread::spawn(move || churn(port, None, 72 + w, 60)))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(r.q(&format!("REPLICAOF 127.0.0.1 {port}")), ok());
    // A burst of big values while the payload is being sent.
    let big: Vec<Vec<Vec<u8>>> = (0..200)
        .map(|i| c(&format!("SET big{i} {}", "x".repeat(5000 + i))))
        .collect();
    pipeline(&mut m, &big);
    for w in writers {
        assert!(w.join().expect("writer") > 0);
    }
    churn(port, None, 79, 10);
    wait_synced(&mut m, &mut r);
    assert_equal(&mut m, &mut r, "writes racing the sync");
    // The master's snapshot became the replica's dump, with the master's history in it.
    let rdb = std::fs::read(replica.dir.join("dump.rdb")).expect("the payload kept as dump.rdb");
    assert_eq!(
        rdb_aux(&rdb, "repl-id"),
        m.info("replication").get("master_replid").cloned()
    );
    assert!(
        temp_rdbs(&replica.dir).is_empty(),
        "temp files left: {:?}",
        temp_rdbs(&replica.dir)
    );
    let log = replica.log();
    assert!(
        log.contains("receiving streamed RDB from master with EOF to disk"),
        "{log}"
    );
}
