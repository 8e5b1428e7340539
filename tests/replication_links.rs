//! Replication links under trouble (issue 7): a Shoal master with stock redis-server 7.0
//! replicas whose links are cut mid-stream and mid-RDB by a loopback proxy, killed from the
//! master, held down past the backlog; several replicas attached at different times; and a
//! concurrent mixed load whose atomicity and per-client order are checked on the replica while
//! it runs. `tests/replication.rs` covers the protocol bytes and the simple cases.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::dataset::{Rng, assert_same_data, dbsizes, pipeline, populate, snapshot};
use common::{Conn, Flavor, Reply, TempDir, TestServer, c, free_port, require_tool};

const PASS: &str = "s3cret-pass";
const DBS: &[usize] = &[0, 3];

// ---------------------------------------------------------------------------------------------
// A proxy the test can cut
// ---------------------------------------------------------------------------------------------

/// A loopback TCP proxy between replicas and their master: `cut` closes every live
/// connection, `hold` keeps closing new ones until `release`, and `cut_next_after` cuts the
/// next connection once that many bytes went from the master to the replica.
struct Proxy {
    port: u16,
    shared: Arc<ProxyShared>,
}

struct ProxyShared {
    upstream: u16,
    /// Both sockets of every live connection.
    live: Mutex<Vec<TcpStream>>,
    held: AtomicBool,
    cut_next_after: AtomicU64,
    /// Times a byte trigger fired.
    byte_cuts: AtomicU64,
    stop: AtomicBool,
}

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("proxy addr").port();
        let shared = Arc::new(ProxyShared {
            upstream,
            live: Mutex::new(Vec::new()),
            held: AtomicBool::new(false),
            cut_next_after: AtomicU64::new(0),
            byte_cuts: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let sh = shared.clone();
        std::thread::spawn(move || {
            while !sh.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((down, _)) => accept_one(&sh, down),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Proxy { port, shared }
    }

    fn cut(&self) {
        for s in self.shared.live.lock().expect("proxy lock").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn hold(&self) {
        self.shared.held.store(true, Ordering::SeqCst);
        self.cut();
    }

    fn release(&self) {
        self.shared.held.store(false, Ordering::SeqCst);
    }

    fn cut_next_after(&self, bytes: u64) {
        self.shared.cut_next_after.store(bytes, Ordering::SeqCst);
    }

    fn byte_cuts(&self) -> u64 {
        self.shared.byte_cuts.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.cut();
    }
}

fn accept_one(sh: &Arc<ProxyShared>, down: TcpStream) {
    let _ = down.set_nonblocking(false);
    if sh.held.load(Ordering::SeqCst) {
        let _ = down.shutdown(Shutdown::Both);
        return;
    }
    let Ok(up) = TcpStream::connect(("127.0.0.1", sh.upstream)) else {
        let _ = down.shutdown(Shutdown::Both);
        return;
    };
    let limit = sh.cut_next_after.swap(0, Ordering::SeqCst);
    let (Ok(d2), Ok(u2)) = (down.try_clone(), up.try_clone()) else {
        return;
    };
    {
        let mut live = sh.live.lock().expect("proxy lock");
        live.extend(down.try_clone().ok());
        live.extend(up.try_clone().ok());
    }
    let sh2 = sh.clone();
    std::thread::spawn(move || pump(up, down, limit, &sh2));
    std::thread::spawn(move || pump(d2, u2, 0, &ProxyShared::noop()));
}

impl ProxyShared {
    /// Counters for the replica-to-master direction, which never cuts.
    fn noop() -> ProxyShared {
        ProxyShared {
            upstream: 0,
            live: Mutex::new(Vec::new()),
            held: AtomicBool::new(false),
            cut_next_after: AtomicU64::new(0),
            byte_cuts: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        }
    }
}

/// Copies `from` to `to` until either side closes; with `limit`, closes both once that many
/// bytes went through.
fn pump(mut from: TcpStream, mut to: TcpStream, limit: u64, sh: &ProxyShared) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0u64;
    loop {
        let want = if limit > 0 {
            buf.len().min((limit - total) as usize)
        } else {
            buf.len()
        };
        match from.read(&mut buf[..want]) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                total += n as u64;
                if limit > 0 && total >= limit {
                    sh.byte_cuts.fetch_add(1, Ordering::SeqCst);
                    break;
                }
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

// ---------------------------------------------------------------------------------------------
// A redis-server replica started from a config file, as a user would
// ---------------------------------------------------------------------------------------------

struct ConfReplica {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl ConfReplica {
    /// A redis-server 7.0 replica of 127.0.0.1:`master_port`, `masterauth` when given.
    fn start(master_port: u16, masterauth: Option<&str>) -> ConfReplica {
        let program = require_tool("redis-server");
        let mut last = String::new();
        for _ in 0..5 {
            let dir = TempDir::new("conf-replica");
            let port = free_port();
            let conf = dir.path().join("replica.conf");
            let mut text = format!(
                "# Replica of the Shoal master (through the test proxy).\n\
                 port {port}\nbind 127.0.0.1\ndir {d}\nlogfile {d}/replica.log\n\
                 save \"\"\nappendonly no\n\
                 replicaof 127.0.0.1 {master_port}\n",
                d = dir.path().display()
            );
            if let Some(pass) = masterauth {
                text += &format!("masterauth {pass}\n");
            }
            std::fs::write(&conf, text).expect("write replica.conf");
            let child = Command::new(&program)
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            let mut r = ConfReplica { child, port, dir };
            if r.wait_ready() {
                return r;
            }
            last = r.log();
        }
        panic!("replica did not start; last log:\n{last}");
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 7];
                if s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n" {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("replica.log")).unwrap_or_default()
    }

    fn conn(&self) -> Conn {
        Conn::connect(self.port)
    }
}

impl Drop for ConfReplica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A connection, authenticated when `pass` is given.
fn connect(port: u16, pass: Option<&str>) -> Conn {
    let mut conn = Conn::connect(port);
    if let Some(p) = pass {
        assert_eq!(conn.q(&format!("AUTH {p}")), Reply::Simple("OK".into()));
    }
    conn
}

fn stat(conn: &mut Conn, name: &str) -> i64 {
    conn.info("all")
        .get(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("INFO has no numeric {name}"))
}

/// Polls `cond` every 50 ms up to `limit`; panics with `what` on timeout.
fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the replica's link is up and its applied offset equals the master's.
fn wait_in_sync(master: &mut Conn, replica: &mut Conn, limit: Duration, log: impl Fn() -> String) {
    let deadline = Instant::now() + limit;
    loop {
        let ri = replica.info("replication");
        let mo = master
            .info("replication")
            .remove("master_repl_offset")
            .unwrap_or_default();
        let up = ri.get("master_link_status").map(String::as_str) == Some("up");
        let ro = ri.get("slave_repl_offset").cloned().unwrap_or_default();
        if up && ro == mo {
            return;
        }
        if Instant::now() > deadline {
            let text = log();
            let lines: Vec<&str> = text.lines().collect();
            panic!(
                "replica not in sync after {limit:?}: up {up}, replica offset {ro}, master offset {mo}\n{}",
                lines[lines.len().saturating_sub(20)..].join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `n` string keys of `len` random letters (little to compress: a payload that takes time).
fn bulk_values(conn: &mut Conn, n: usize, len: usize, seed: u64) {
    bulk_values_from(conn, 0, n, len, seed);
}

/// `bulk_values` for the keys `bulk:<from>..bulk:<from + n>`.
fn bulk_values_from(conn: &mut Conn, from: usize, n: usize, len: usize, seed: u64) {
    let mut rng = Rng(seed | 1);
    let cmds: Vec<Vec<Vec<u8>>> = (from..from + n)
        .map(|i| vec![b"SET".to_vec(), format!("bulk:{i}").into_bytes(), rng.word(len)])
        .collect();
    pipeline(conn, &cmds);
}

/// Writer threads sending pipelined mixed writes (no short TTLs, so datasets compare
/// exactly) until `stop`; they return how many commands they sent.
fn write_load(
    port: u16,
    pass: Option<&'static str>,
    threads: u64,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<u64>> {
    (0..threads)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut conn = connect(port, pass);
                let mut rng = Rng(0x5151 + w * 7919);
                let mut sent = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let cmds: Vec<Vec<Vec<u8>>> = (0..40)
                        .map(|i| {
                            let k = rng.below(2000);
                            match (sent + i) % 8 {
                                0 => c(&format!("SET load:s{k} w{w}-{sent}")),
                                1 => c(&format!("INCR load:i{k}")),
                                2 => c(&format!("HSET load:h{} f{} {k}", k % 50, rng.below(30))),
                                3 => c(&format!("RPUSH load:l{} {k}", k % 40)),
                                4 => c(&format!("SADD load:z{} m{}", k % 40, rng.below(100))),
                                5 => c(&format!("SET load:t{k} v EX {}", 1000 + rng.below(1000))),
                                6 => c(&format!("MSET load:a{k} 1 load:b{} 2", rng.below(2000))),
                                _ => c(&format!("ZADD load:o{} {} m{}", k % 30, rng.below(1000), rng.below(50))),
                            }
                        })
                        .collect();
                    pipeline(&mut conn, &cmds);
                    sent += cmds.len() as u64;
                }
                sent
            })
        })
        .collect()
}

fn stop_load(stop: &AtomicBool, load: Vec<std::thread::JoinHandle<u64>>) -> u64 {
    stop.store(true, Ordering::SeqCst);
    load.into_iter().map(|h| h.join().expect("writer")).sum()
}

// ---------------------------------------------------------------------------------------------
// Links cut by a proxy
// ---------------------------------------------------------------------------------------------

/// Cut mid-RDB, cut mid-stream under load (partial resync), forced full resync cut mid-RDB
/// under load: the replica (from a config file, `masterauth` against `requirepass`) ends equal.
#[test]
fn proxy_cuts_mid_stream_and_mid_rdb() {
    let master = TestServer::start_with(Flavor::Shoal { shards: 4 }, None, &["--repl-backlog-size", "64mb"]);
    assert_eq!(
        master.conn().q(&format!("CONFIG SET requirepass {PASS}")),
        Reply::Simple("OK".into())
    );
    let mut m = connect(master.port, Some(PASS));
    populate(&mut m, 3000, DBS, 21);
    bulk_values(&mut m, 3000, 1000, 5);
    let proxy = Proxy::start(master.port);
    // 1. The first transfer is cut once 512 KB of the ~3.5 MB payload went through.
    proxy.cut_next_after(512 * 1024);
    let replica = ConfReplica::start(proxy.port, Some(PASS));
    let mut r = replica.conn();
    wait_in_sync(&mut m, &mut r, Duration::from_secs(60), || replica.log());
    assert_eq!(proxy.byte_cuts(), 1, "the first transfer was not cut");
    assert_eq!(stat(&mut m, "sync_full"), 2, "a cut transfer, then a complete one");
    assert_same_data(
        &snapshot(&mut r, DBS),
        &snapshot(&mut m, DBS),
        "after the cut full sync",
    );

    // 2. Cut mid-stream under a write load: the replica continues from its offset.
    let stop = Arc::new(AtomicBool::new(false));
    let load = write_load(master.port, Some(PASS), 2, stop.clone());
    std::thread::sleep(Duration::from_millis(700));
    proxy.cut();
    wait_for(Duration::from_secs(20), "a partial resync", || {
        stat(&mut m, "sync_partial_ok") == 1
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(stat(&mut m, "sync_full"), 2, "the mid-stream cut caused a full sync");
    let log = replica.log();
    assert!(
        log.contains("Successful partial resynchronization with master"),
        "no partial resync in the replica log:\n{log}"
    );

    // 3. Force a full resync (the replica forgets its master) and cut it mid-RDB, still under
    //    load: the replica retries with a full resync.
    proxy.cut_next_after(256 * 1024);
    assert_eq!(r.q("REPLICAOF NO ONE"), Reply::Simple("OK".into()));
    assert_eq!(
        r.q(&format!("REPLICAOF 127.0.0.1 {}", proxy.port)),
        Reply::Simple("OK".into())
    );
    wait_for(Duration::from_secs(30), "the second byte cut", || {
        proxy.byte_cuts() == 2
    });
    wait_for(Duration::from_secs(60), "the full resync after the cut", || {
        stat(&mut m, "sync_full") == 4 && r.info("replication")["master_link_status"] == "up"
    });
    std::thread::sleep(Duration::from_millis(500));
    let sent = stop_load(&stop, load);
    eprintln!("proxy cuts: {sent} writes under load");
    wait_in_sync(&mut m, &mut r, Duration::from_secs(60), || replica.log());
    assert_same_data(&snapshot(&mut r, DBS), &snapshot(&mut m, DBS), "after cuts under load");
    assert_eq!(dbsizes(&mut r, DBS), dbsizes(&mut m, DBS));
    assert_eq!(stat(&mut m, "sync_partial_ok"), 1);
}

/// A Shoal master (`shards`, extra args), a proxy in front of it and a replica through the
/// proxy, in sync, with a small dataset.
fn attached_through_proxy(shards: usize, extra: &[&str]) -> (TestServer, Proxy, ConfReplica) {
    let master = TestServer::start_with(Flavor::Shoal { shards }, None, extra);
    populate(&mut master.conn(), 500, DBS, 31);
    let proxy = Proxy::start(master.port);
    let replica = ConfReplica::start(proxy.port, None);
    wait_in_sync(&mut master.conn(), &mut replica.conn(), Duration::from_secs(30), || {
        replica.log()
    });
    assert_eq!(stat(&mut master.conn(), "sync_full"), 1);
    (master, proxy, replica)
}

/// `n` writes of about `size` bytes each.
fn gap_writes(m: &mut Conn, tag: &str, n: usize, size: usize) {
    let value = "x".repeat(size);
    let cmds: Vec<Vec<Vec<u8>>> = (0..n).map(|i| c(&format!("SET {tag}{i} {value}{i}"))).collect();
    pipeline(m, &cmds);
}

/// CLIENT KILL TYPE replica on the master: the replica comes back with `+CONTINUE`.
#[test]
fn client_kill_type_replica_continues() {
    let (master, _proxy, replica) = attached_through_proxy(2, &[]);
    let (mut m, mut r) = (master.conn(), replica.conn());
    assert_eq!(
        m.q("CLIENT KILL TYPE replica"),
        Reply::Int(1),
        "CLIENT KILL TYPE replica must reach the replica links"
    );
    gap_writes(&mut m, "gap", 50, 10);
    wait_for(Duration::from_secs(20), "a partial resync", || {
        stat(&mut m, "sync_partial_ok") == 1
    });
    wait_in_sync(&mut m, &mut r, Duration::from_secs(30), || replica.log());
    assert_eq!(stat(&mut m, "sync_full"), 1, "CLIENT KILL caused a full sync");
    assert_same_data(&snapshot(&mut r, DBS), &snapshot(&mut m, DBS), "after CLIENT KILL");
}

/// With a 16 KB backlog: a short outage with a few writes continues; an outage with about
/// 1 MB of writes is answered with a full resync. Both end equal.
#[test]
fn outage_past_a_tiny_backlog_full_resyncs() {
    let (master, proxy, replica) = attached_through_proxy(2, &["--repl-backlog-size", "16kb"]);
    let (mut m, mut r) = (master.conn(), replica.conn());
    proxy.hold();
    gap_writes(&mut m, "gap", 50, 10);
    proxy.release();
    wait_for(Duration::from_secs(20), "a partial resync", || {
        stat(&mut m, "sync_partial_ok") == 1
    });
    wait_in_sync(&mut m, &mut r, Duration::from_secs(30), || replica.log());
    assert_eq!(stat(&mut m, "sync_full"), 1, "a short outage caused a full sync");
    assert_same_data(&snapshot(&mut r, DBS), &snapshot(&mut m, DBS), "after a short outage");

    proxy.hold();
    gap_writes(&mut m, "big", 2000, 500);
    // Let the replica fail a reconnect or two against the held proxy.
    std::thread::sleep(Duration::from_millis(1200));
    proxy.release();
    wait_for(Duration::from_secs(30), "a full resync", || {
        stat(&mut m, "sync_full") == 2
    });
    wait_in_sync(&mut m, &mut r, Duration::from_secs(30), || replica.log());
    assert!(stat(&mut m, "sync_partial_err") >= 1, "the PSYNC was not refused");
    assert_eq!(stat(&mut m, "sync_partial_ok"), 1);
    assert_same_data(&snapshot(&mut r, DBS), &snapshot(&mut m, DBS), "after the long outage");
}

// ---------------------------------------------------------------------------------------------
// Several replicas
// ---------------------------------------------------------------------------------------------

/// Two replicas attached at different times hold the same data at the same offsets (R1), and
/// WAIT counts both.
#[test]
fn two_replicas_attached_at_different_times() {
    let master = TestServer::shoal(3);
    let mut m = master.conn();
    populate(&mut m, 1000, DBS, 41);
    let first = ConfReplica::start(master.port, None);
    let mut r1 = first.conn();
    wait_in_sync(&mut m, &mut r1, Duration::from_secs(30), || first.log());
    populate(&mut m, 1000, DBS, 42);
    let second = ConfReplica::start(master.port, None);
    let mut r2 = second.conn();
    populate(&mut m, 500, DBS, 43);
    for i in 0..200 {
        m.q(&format!("INCRBYFLOAT fl{} 0.5", i % 7));
    }
    assert_eq!(m.q("WAIT 2 10000"), Reply::Int(2));
    wait_in_sync(&mut m, &mut r1, Duration::from_secs(30), || first.log());
    wait_in_sync(&mut m, &mut r2, Duration::from_secs(30), || second.log());
    let offsets: Vec<String> = [&mut r1, &mut r2]
        .into_iter()
        .map(|r| r.info("replication")["slave_repl_offset"].clone())
        .collect();
    let mi = m.info("replication");
    assert_eq!(offsets[0], offsets[1], "replicas at different offsets");
    assert_eq!(offsets[0], mi["master_repl_offset"]);
    assert_eq!(mi["connected_slaves"], "2");
    let want = snapshot(&mut m, DBS);
    assert_same_data(&snapshot(&mut r1, DBS), &want, "first replica");
    assert_same_data(&snapshot(&mut r2, DBS), &want, "second replica");
    // One more write: WAIT 2 covers it on both.
    m.q("SET last 1");
    assert_eq!(m.q("WAIT 2 10000"), Reply::Int(2));
    assert_eq!(r1.q("GET last"), Reply::Bulk(b"1".to_vec()));
    assert_eq!(r2.q("GET last"), Reply::Bulk(b"1".to_vec()));
}

// ---------------------------------------------------------------------------------------------
// Concurrent mixed load, checked on the replica while it runs
// ---------------------------------------------------------------------------------------------

const ACCOUNTS: usize = 8;
const WRITERS: usize = 6;
const START_BALANCE: i64 = 1000;

fn ints(r: &Reply) -> Vec<i64> {
    r.items()
        .iter()
        .map(|x| {
            x.bulk()
                .map_or(0, |b| String::from_utf8_lossy(&b).parse().expect("integer"))
        })
        .collect()
}

/// Writers on every shard (single-key writes, cross-shard MSET, MULTI/EXEC transfers between
/// counters on different shards, SET EX, INCRBYFLOAT, SPOP), each bumping its own sequence key
/// after every reply; readers on the replica check that the counters' total never changes
/// (R4: MGET on redis-server is atomic) and that no sequence goes backwards (R2, R3).
#[test]
fn mixed_load_keeps_atomicity_and_order_on_the_replica() {
    let master = TestServer::shoal(4);
    let mut m = master.conn();
    let accounts: Vec<String> = (0..ACCOUNTS).map(|i| format!("acct:{i}")).collect();
    let mut mset = vec!["MSET".to_string()];
    for a in &accounts {
        mset.extend([a.clone(), START_BALANCE.to_string()]);
    }
    m.q(&mset.join(" "));
    let replica = ConfReplica::start(master.port, None);
    let mut r = replica.conn();
    wait_in_sync(&mut m, &mut r, Duration::from_secs(30), || replica.log());

    let stop = Arc::new(AtomicBool::new(false));
    let port = master.port;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut conn = Conn::connect(port);
                let mut rng = Rng(0xabcd + w as u64 * 104_729);
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let k = rng.below(500);
                    match rng.below(7) {
                        0 => {
                            conn.q(&format!("SET one:{k} w{w}n{n}"));
                        }
                        1 => {
                            conn.q(&format!(
                                "MSET ms:{k} {n} ms:{} {n} ms:{} {n}",
                                rng.below(500),
                                rng.below(500)
                            ));
                        }
                        2 | 3 => {
                            let from = rng.below(ACCOUNTS as u64);
                            let to = (from + 1 + rng.below(ACCOUNTS as u64 - 1)) % ACCOUNTS as u64;
                            let amount = 1 + rng.below(20);
                            conn.q("MULTI");
                            conn.q(&format!("DECRBY acct:{from} {amount}"));
                            conn.q(&format!("INCRBY acct:{to} {amount}"));
                            let done = conn.q("EXEC").items();
                            assert_eq!(done.len(), 2, "transfer failed: {done:?}");
                        }
                        4 => {
                            conn.q(&format!("SET ex:{k} {n} EX {}", 500 + rng.below(500)));
                        }
                        5 => {
                            conn.q(&format!("INCRBYFLOAT fl:{} 0.125", k % 20));
                        }
                        _ => {
                            conn.q(&format!("SADD pool:{} a b c d", k % 10));
                            conn.q(&format!("SPOP pool:{}", k % 10));
                        }
                    }
                    n += 1;
                    assert_eq!(conn.q(&format!("INCR seq:{w}")), Reply::Int(n as i64));
                }
                n
            })
        })
        .collect();
    let rport = replica.port;
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            let accounts = accounts.clone();
            std::thread::spawn(move || {
                let mut conn = Conn::connect(rport);
                let mut last = [0i64; WRITERS];
                let mut reads = 0u64;
                let balances = format!("MGET {}", accounts.join(" "));
                let seqs = format!(
                    "MGET {}",
                    (0..WRITERS).map(|w| format!("seq:{w}")).collect::<Vec<_>>().join(" ")
                );
                while !stop.load(Ordering::SeqCst) {
                    let b = ints(&conn.q(&balances));
                    let total: i64 = b.iter().sum();
                    assert_eq!(
                        total,
                        START_BALANCE * ACCOUNTS as i64,
                        "a transfer seen half-applied: {b:?}"
                    );
                    let s = ints(&conn.q(&seqs));
                    for (w, (&now, before)) in s.iter().zip(last.iter_mut()).enumerate() {
                        assert!(now >= *before, "writer {w}'s sequence went back from {before} to {now}");
                        *before = now;
                    }
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(6));
    stop.store(true, Ordering::SeqCst);
    let writes: u64 = writers.into_iter().map(|h| h.join().expect("writer")).sum();
    let reads: u64 = readers.into_iter().map(|h| h.join().expect("reader")).sum();
    eprintln!("mixed load: {writes} operations, {reads} checked reads on the replica");
    assert!(
        writes > 500 && reads > 50,
        "too little load: {writes} writes, {reads} reads"
    );
    wait_in_sync(&mut m, &mut r, Duration::from_secs(30), || replica.log());
    let want = snapshot(&mut m, &[0]);
    assert_same_data(&snapshot(&mut r, &[0]), &want, "after the mixed load");
    let seqs: Vec<i64> = (0..WRITERS)
        .map(|w| r.q(&format!("GET seq:{w}")).text().parse().expect("seq"))
        .collect();
    assert!(seqs.iter().all(|&s| s > 0), "a writer's sequence is missing: {seqs:?}");
}

// ---------------------------------------------------------------------------------------------
// Keep-alives while a full sync's snapshot is prepared
// ---------------------------------------------------------------------------------------------

/// A scripted replica without `capa eof` asks for a full sync of a dataset whose snapshot takes
/// seconds (a disk-style `$<len>` payload is complete before it is sent; a diskless one
/// streams at once): until the payload is ready it receives one bare `\n` per second and
/// nothing else, as from redis-server, so its `repl-timeout` never fires. How long a snapshot
/// takes depends on the machine, so the dataset doubles until one takes over 1.2 s.
#[test]
fn newlines_keep_a_waiting_replica_alive() {
    let master = TestServer::shoal(2);
    let mut m = master.conn();
    let mut values = 0;
    let mut batch = 2000;
    let (waited, newlines) = loop {
        bulk_values_from(&mut m, values, batch, 16 * 1024, 9 + values as u64);
        values += batch;
        let (waited, newlines) = wait_for_full_resync(master.port);
        eprintln!("keep-alives: {values} values, snapshot took {waited:?}, newlines at {newlines:?}");
        if waited >= Duration::from_millis(1200) {
            break (waited, newlines);
        }
        assert!(
            values < 16_000,
            "even {values} values of 16 KiB were saved in {waited:?}"
        );
        batch = values;
    };
    let whole = waited.as_secs();
    assert!(
        !newlines.is_empty() && newlines.len() as u64 >= whole.saturating_sub(1) && newlines.len() as u64 <= whole + 1,
        "about one newline per second expected over {waited:?}, got {}",
        newlines.len()
    );
    assert!(
        newlines[0] >= Duration::from_millis(800),
        "first newline too early: {newlines:?}"
    );
}

/// Handshakes as a replica without `capa eof`, asks for a full sync, and reads byte by byte
/// until `+FULLRESYNC`: returns how long that took and when each keep-alive newline came.
fn wait_for_full_resync(port: u16) -> (Duration, Vec<Duration>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let hello = [c("PING"), c("REPLCONF listening-port 9999"), c("REPLCONF capa psync2")];
    for cmd in &hello {
        s.write_all(&common::encode(cmd)).expect("write");
    }
    let mut got = Vec::new();
    let want = b"+PONG\r\n+OK\r\n+OK\r\n";
    while got.len() < want.len() {
        let mut b = [0u8; 64];
        let n = s.read(&mut b).expect("handshake replies");
        assert!(n > 0, "closed during the handshake");
        got.extend_from_slice(&b[..n]);
    }
    assert_eq!(&got[..], &want[..]);
    let asked = Instant::now();
    s.write_all(&common::encode(&c("PSYNC ? -1"))).expect("write PSYNC");
    let mut newlines = Vec::new();
    let first = loop {
        let mut b = [0u8; 1];
        assert_eq!(s.read(&mut b).expect("read while waiting"), 1, "closed while waiting");
        if b[0] != b'\n' {
            break b[0];
        }
        newlines.push(asked.elapsed());
    };
    let waited = asked.elapsed();
    assert_eq!(first, b'+', "the reply after the keep-alives");
    let mut line = vec![first];
    while !line.ends_with(b"\r\n") {
        let mut b = [0u8; 1];
        assert_eq!(s.read(&mut b).expect("read"), 1);
        line.push(b[0]);
    }
    assert!(line.starts_with(b"+FULLRESYNC "), "{:?}", common::lossy(&line));
    (waited, newlines)
}
