//! Replication, master side (issue 7), against real redis-server 7.0 replicas and a scripted
//! replica that checks the exact bytes of the handshake, the sync payload and the stream
//! (spec `replication-and-rdb.md`, sections 2-7 and the checklist in 11).

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::dataset::{Rng, assert_same_data, dbsizes, pipeline, populate, snapshot};
use common::{Conn, Flavor, Reply, TestServer, c, encode, lossy};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn shoal(shards: usize, extra: &[&str]) -> TestServer {
    TestServer::start_with(Flavor::Shoal { shards }, None, extra)
}

/// A real redis-server 7.0 replicating from `master`.
fn redis_replica_of(master: &TestServer, extra: &[&str]) -> TestServer {
    let port = master.port.to_string();
    let mut args = vec!["--replicaof", "127.0.0.1", port.as_str()];
    args.extend_from_slice(extra);
    TestServer::start_with(Flavor::Redis, None, &args)
}

fn field(conn: &mut Conn, section: &str, name: &str) -> String {
    conn.info(section)
        .remove(name)
        .unwrap_or_else(|| panic!("INFO {section} has no {name}"))
}

/// Waits until the replica's link is up and it applied everything the master produced.
fn wait_in_sync(master: &TestServer, replica: &TestServer, limit: Duration) {
    let (mut m, mut r) = (master.conn(), replica.conn());
    let deadline = Instant::now() + limit;
    let mut last = (String::new(), String::new(), String::new());
    while Instant::now() < deadline {
        let ri = r.info("replication");
        let mo = field(&mut m, "replication", "master_repl_offset");
        let up = ri.get("master_link_status").cloned().unwrap_or_default();
        let ro = ri.get("slave_repl_offset").cloned().unwrap_or_default();
        if up == "up" && ro == mo {
            return;
        }
        last = (up, ro, mo);
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "replica not in sync after {limit:?}: link {} replica offset {} master offset {}\nreplica log tail:\n{}\nmaster log tail:\n{}",
        last.0,
        last.1,
        last.2,
        tail(&replica.log()),
        tail(&master.log())
    );
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// A hand-driven replica connection reading exact bytes.
struct Raw {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    fn connect(port: u16) -> Raw {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        Raw { s, buf: Vec::new() }
    }

    fn send(&mut self, line: &str) {
        self.s.write_all(&encode(&c(line))).expect("write");
    }

    /// Reads more bytes; false on timeout or close.
    fn fill(&mut self, limit: Duration) -> bool {
        self.s
            .set_read_timeout(Some(limit.max(Duration::from_millis(1))))
            .expect("timeout");
        let mut chunk = [0u8; 65536];
        match self.s.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let rest = self.buf.split_off(n);
        std::mem::replace(&mut self.buf, rest)
    }

    /// Exactly `n` bytes (waits up to 10 s).
    fn exact(&mut self, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.buf.len() < n {
            assert!(
                Instant::now() < deadline && self.fill(Duration::from_secs(10)),
                "wanted {n} bytes, have {}",
                self.buf.len()
            );
        }
        self.take(n)
    }

    /// One CRLF-terminated line (without CRLF), after skipping bare `\n` keep-alives.
    fn line(&mut self) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            while self.buf.first() == Some(&b'\n') {
                self.take(1);
            }
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let l = self.take(i + 2);
                return l[..i].to_vec();
            }
            assert!(
                Instant::now() < deadline,
                "no complete line; have {:?}",
                lossy(&self.buf)
            );
            self.fill(Duration::from_millis(500));
        }
    }

    /// Everything that arrives within `dur`.
    fn drain(&mut self, dur: Duration) -> Vec<u8> {
        let deadline = Instant::now() + dur;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !self.fill(left) {
                break;
            }
        }
        std::mem::take(&mut self.buf)
    }

    /// The next stream command (a RESP array of bulks), skipping keep-alive `ping`s when asked.
    fn command(&mut self, skip_ping: bool) -> Vec<Vec<u8>> {
        loop {
            let deadline = Instant::now() + Duration::from_secs(10);
            let end = loop {
                if !self.buf.is_empty() {
                    assert_eq!(
                        self.buf[0],
                        b'*',
                        "stream does not start a command: {:?}",
                        lossy(&self.buf)
                    );
                    if let Some(e) = common::reply_end(&self.buf, 0) {
                        break e;
                    }
                }
                assert!(
                    Instant::now() < deadline,
                    "no stream command within 10 s; have {:?}",
                    lossy(&self.buf)
                );
                self.fill(Duration::from_millis(500));
            };
            let raw = self.take(end);
            let cmd: Vec<Vec<u8>> = Reply::parse(&raw)
                .items()
                .iter()
                .map(|x| x.bulk().unwrap_or_default())
                .collect();
            if !(skip_ping && cmd.len() == 1 && cmd[0] == b"ping") {
                return cmd;
            }
        }
    }

    /// PING, listening-port and capabilities, checking the exact replies.
    fn handshake(&mut self, capa: &str) {
        self.send("PING");
        assert_eq!(self.exact(7), b"+PONG\r\n");
        let mut bytes = encode(&c("REPLCONF listening-port 9999"));
        if !capa.is_empty() {
            bytes.extend_from_slice(&encode(&c(&format!("REPLCONF {capa}"))));
        }
        self.s.write_all(&bytes).expect("write");
        let want: &[u8] = if capa.is_empty() { b"+OK\r\n" } else { b"+OK\r\n+OK\r\n" };
        assert_eq!(lossy(&self.exact(want.len())), lossy(want));
    }

    /// Reads a `$EOF:` or `$<len>` payload; returns the RDB bytes and whether it was EOF-marked.
    fn payload(&mut self) -> (Vec<u8>, bool) {
        let head = self.line();
        assert_eq!(head[0], b'$', "payload header {:?}", lossy(&head));
        if let Some(mark) = head.strip_prefix(b"$EOF:") {
            assert_eq!(mark.len(), 40, "EOF mark length");
            assert!(mark.iter().all(|b| b.is_ascii_hexdigit()), "EOF mark {:?}", lossy(mark));
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Some(i) = self.buf.windows(40).position(|w| w == mark) {
                    let body = self.take(i);
                    self.take(40);
                    return (body, true);
                }
                assert!(Instant::now() < deadline, "EOF mark never arrived");
                self.fill(Duration::from_millis(500));
            }
        }
        let len: usize = std::str::from_utf8(&head[1..])
            .ok()
            .and_then(|t| t.parse().ok())
            .expect("payload length");
        (self.exact(len), false)
    }

    /// Handshake, `PSYNC ? -1`, the FULLRESYNC line and the payload; ACKs EOF payloads.
    fn full_sync(&mut self, capa: &str) -> (String, i64, Vec<u8>, bool) {
        self.handshake(capa);
        self.send("PSYNC ? -1");
        let l = lossy(&self.line());
        let parts: Vec<&str> = l.split(' ').collect();
        assert_eq!(parts.len(), 3, "FULLRESYNC line {l:?}");
        assert_eq!(parts[0], "+FULLRESYNC");
        assert!(
            parts[1].len() == 40 && parts[1].bytes().all(|b| b.is_ascii_hexdigit()),
            "replid {l:?}"
        );
        let off: i64 = parts[2].parse().expect("offset");
        let (rdb, eof) = self.payload();
        if eof {
            self.send(&format!("REPLCONF ACK {off}"));
        }
        (parts[1].to_string(), off, rdb, eof)
    }
}

/// The AUX fields and key count of an RDB image.
fn rdb_aux(rdb: &[u8]) -> (HashMap<String, String>, usize) {
    let mut r = shoal::rdb::RdbReader::new(rdb).expect("RDB header");
    let mut keys = 0;
    while r.next_entry().expect("valid RDB").is_some() {
        keys += 1;
    }
    let aux = r.aux().iter().map(|(k, v)| (lossy(k), lossy(v))).collect();
    (aux, keys)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Compares a stream command with a pattern: `*` matches any element, `~N` an absolute unix
/// ms time within 3 s of now + N.
fn matches(cmd: &[Vec<u8>], pattern: &str) -> bool {
    let pat = c(pattern);
    cmd.len() == pat.len()
        && cmd.iter().zip(&pat).all(|(got, want)| {
            if want == b"*" {
                return true;
            }
            if let Some(rel) = want.strip_prefix(b"~") {
                let rel: i64 = lossy(rel).parse().expect("pattern ms");
                let at: i64 = lossy(got).parse().unwrap_or(i64::MIN);
                return (at - (now_ms() + rel)).abs() < 3000;
            }
            got == want
        })
}

fn show_cmd(cmd: &[Vec<u8>]) -> String {
    common::show(cmd)
}

// ---------------------------------------------------------------------------------------------
// Real replicas
// ---------------------------------------------------------------------------------------------

const DBS: &[usize] = &[0, 3];

fn real_replica_full_sync(shards: usize) {
    let master = shoal(shards, &[]);
    let mut m = master.conn();
    populate(&mut m, 10_000, DBS, 7);
    let replica = redis_replica_of(&master, &[]);
    wait_in_sync(&master, &replica, Duration::from_secs(60));
    let mut r = replica.conn();
    assert_same_data(
        &snapshot(&mut r, DBS),
        &snapshot(&mut m, DBS),
        &format!("after full sync (--shards {shards})"),
    );
    // Writes after the attach: new keys, overwrites, deletions, TTL changes, across dbs.
    populate(&mut m, 3000, DBS, 8);
    let mut rng = Rng(99);
    let mut cmds = Vec::new();
    for i in 0..2000 {
        let key = format!("key:7:{}", rng.below(10_000));
        cmds.push(match i % 6 {
            0 => c(&format!("DEL {key}")),
            1 => c(&format!("EXPIRE {key} 5000")),
            2 => c(&format!("PERSIST {key}")),
            3 => c(&format!("SET {key} over{i} EX 900")),
            4 => c(&format!("INCRBYFLOAT fl{} 1.25", i % 50)),
            _ => c(&format!("SELECT {}", [0, 3][i % 2])),
        });
    }
    pipeline(&mut m, &cmds);
    m.q("SELECT 0");
    wait_in_sync(&master, &replica, Duration::from_secs(60));
    let want = snapshot(&mut m, DBS);
    assert_same_data(
        &snapshot(&mut r, DBS),
        &want,
        &format!("after streamed writes (--shards {shards})"),
    );
    assert_eq!(dbsizes(&mut r, DBS), dbsizes(&mut m, DBS), "DBSIZE per db");
    // ROLE lists the replica with its listening port.
    let role = m.q("ROLE").items();
    assert_eq!(role[0], Reply::Bulk(b"master".to_vec()));
    let listed = role[2].items();
    assert_eq!(listed.len(), 1, "ROLE replicas: {role:?}");
    assert_eq!(listed[0].items()[1], Reply::Bulk(replica.port.to_string().into_bytes()));
}

#[test]
fn real_replica_full_sync_then_stream_2_shards() {
    real_replica_full_sync(2);
}

#[test]
fn real_replica_full_sync_then_stream_4_shards() {
    real_replica_full_sync(4);
}

#[test]
fn real_replica_partial_resync_after_link_cut() {
    let master = shoal(3, &[]);
    let mut m = master.conn();
    populate(&mut m, 500, DBS, 3);
    let replica = redis_replica_of(&master, &[]);
    wait_in_sync(&master, &replica, Duration::from_secs(30));
    let mut r = replica.conn();
    let killed = r.q("CLIENT KILL TYPE master").int();
    assert_eq!(killed, 1);
    // Writes while the link is down (redis reconnects about a second later).
    for i in 0..1000 {
        m.call(&c(&format!("SET gap{i} {i}")));
    }
    wait_in_sync(&master, &replica, Duration::from_secs(30));
    assert_same_data(&snapshot(&mut r, DBS), &snapshot(&mut m, DBS), "after partial resync");
    let rlog = replica.log();
    assert!(
        rlog.contains("Master accepted a Partial Resynchronization"),
        "replica did not get a partial resync:\n{}",
        tail(&rlog)
    );
    assert_eq!(
        rlog.matches("Full resync from master").count(),
        1,
        "a second full sync:\n{}",
        tail(&rlog)
    );
}

/// As in Redis, `master_repl_offset` counts every write whose reply came back before INFO (or
/// ROLE) was sent: tools wait for `replica offset == master offset` and then compare data.
/// Shoal merges the stream on another thread, so an INFO read right after a write once showed
/// the offset before it (the last key of a run was missing on a replica deemed in sync).
#[test]
fn master_offset_counts_acknowledged_writes() {
    for master in [TestServer::start_with(Flavor::Redis, None, &[]), shoal(3, &[])] {
        let replica = redis_replica_of(&master, &[]);
        wait_in_sync(&master, &replica, Duration::from_secs(30));
        let mut m = master.conn();
        let mut last = field(&mut m, "replication", "master_repl_offset")
            .parse::<i64>()
            .unwrap_or(-1);
        for i in 0..300 {
            m.call(&c(&format!("SET k{} {i}", i % 7)));
            let offset = if i % 2 == 0 {
                field(&mut m, "replication", "master_repl_offset")
                    .parse::<i64>()
                    .unwrap_or(-1)
            } else {
                m.q("ROLE").items()[1].int()
            };
            assert!(
                offset > last,
                "{:?} round {i}: offset {offset} after {last}",
                master.flavor
            );
            last = offset;
        }
    }
}

#[test]
fn master_counts_full_and_partial_syncs() {
    let master = shoal(2, &[]);
    let replica = redis_replica_of(&master, &[]);
    wait_in_sync(&master, &replica, Duration::from_secs(30));
    replica.conn().q("CLIENT KILL TYPE master");
    std::thread::sleep(Duration::from_millis(200));
    wait_in_sync(&master, &replica, Duration::from_secs(30));
    let mut m = master.conn();
    assert_eq!(field(&mut m, "stats", "sync_full"), "1");
    assert_eq!(field(&mut m, "stats", "sync_partial_ok"), "1");
    // The bytes sent to the replica are counted apart from the clients' traffic, and they
    // reach the replica: a 100 kB value adds at least that much on both sides.
    let sent = |m: &mut Conn| {
        field(m, "stats", "total_net_repl_output_bytes")
            .parse::<u64>()
            .expect("bytes")
    };
    let got = |r: &mut Conn| {
        field(r, "stats", "total_net_repl_input_bytes")
            .parse::<u64>()
            .expect("bytes")
    };
    let mut r = replica.conn();
    let (sent_before, got_before) = (sent(&mut m), got(&mut r));
    assert!(sent_before > 0 && got_before > 0);
    m.q(&format!("SET big {}", "x".repeat(100_000)));
    wait_in_sync(&master, &replica, Duration::from_secs(30));
    assert!(sent(&mut m) >= sent_before + 100_000);
    assert!(got(&mut r) >= got_before + 100_000);
}

#[test]
fn wait_counts_a_real_replica() {
    let master = shoal(2, &[]);
    let replica = redis_replica_of(&master, &[]);
    wait_in_sync(&master, &replica, Duration::from_secs(30));
    let mut m = master.conn();
    m.q("SET k v");
    let t = Instant::now();
    assert_eq!(m.q("WAIT 1 2000"), Reply::Int(1));
    assert!(t.elapsed() < Duration::from_millis(1500), "WAIT took {:?}", t.elapsed());
    // WAIT on the replica itself is refused with Redis's text.
    let e = replica.conn().q("WAIT 1 10");
    assert!(
        matches!(&e, Reply::Error(t) if t.starts_with("ERR WAIT cannot be used with replica instances")),
        "{e:?}"
    );
}

/// WAIT's promise: once it answers :1, the replica has the write.
#[test]
fn wait_covers_the_clients_last_write() {
    let master = shoal(2, &[]);
    let replica = redis_replica_of(&master, &[]);
    wait_in_sync(&master, &replica, Duration::from_secs(30));
    let (mut m, mut r) = (master.conn(), replica.conn());
    for i in 0..40 {
        m.q(&format!("SET k{i} v{i}"));
        assert_eq!(m.q("WAIT 1 2000"), Reply::Int(1));
        assert_eq!(
            r.q(&format!("GET k{i}")),
            Reply::Bulk(format!("v{i}").into_bytes()),
            "round {i}"
        );
    }
}

#[test]
fn wait_without_replicas_times_out_with_zero() {
    let master = shoal(2, &[]);
    let mut m = master.conn();
    m.q("SET k v");
    let t = Instant::now();
    assert_eq!(m.q("WAIT 1 100"), Reply::Int(0));
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(95) && took < Duration::from_secs(2),
        "WAIT 1 100 took {took:?}"
    );
    assert_eq!(m.q("WAIT 0 100"), Reply::Int(0));
}

#[test]
fn min_replicas_to_write_refuses_writes() {
    for server in [
        TestServer::start_with(Flavor::Redis, None, &["--min-replicas-to-write", "1"]),
        shoal(2, &["--min-replicas-to-write", "1"]),
    ] {
        let mut conn = server.conn();
        assert_eq!(
            conn.raw(&c("SET a 1")),
            b"-NOREPLICAS Not enough good replicas to write.\r\n",
            "{:?}",
            server.flavor
        );
        assert_eq!(conn.raw(&c("GET a")), b"$-1\r\n");
        assert_eq!(
            field(&mut conn, "replication", "min_slaves_good_slaves"),
            "0",
            "{:?}",
            server.flavor
        );
    }
    // With a good replica attached, writes go through.
    let master = shoal(2, &["--min-replicas-to-write", "1"]);
    let replica = redis_replica_of(&master, &[]);
    wait_in_sync(&master, &replica, Duration::from_secs(30));
    let mut m = master.conn();
    let ok = (0..40).any(|_| {
        let r = m.raw(&c("SET a 1"));
        std::thread::sleep(Duration::from_millis(50));
        r == b"+OK\r\n"
    });
    assert!(ok, "writes still refused with a replica online");
    assert_eq!(field(&mut m, "replication", "min_slaves_good_slaves"), "1");
}

/// Random writes from several clients over keys on every shard while a real replica is
/// attached; at the end both datasets must be identical.
#[test]
fn stress_random_writes_with_a_real_replica() {
    let master = shoal(4, &[]);
    let replica = redis_replica_of(&master, &[]);
    wait_in_sync(&master, &replica, Duration::from_secs(30));
    let stop = Instant::now() + Duration::from_secs(5);
    let port = master.port;
    let workers: Vec<_> = (0..4u64)
        .map(|w| {
            std::thread::spawn(move || {
                let mut conn = Conn::connect(port);
                let mut rng = Rng(0x9e37_79b9 ^ ((w + 1) * 7919));
                let mut n = 0u64;
                while Instant::now() < stop {
                    let k = rng.below(64);
                    let cmd = match rng.below(22) {
                        0 => format!("SET s{k} v{n}"),
                        1 => format!("INCR i{k}"),
                        2 => format!("INCRBYFLOAT f{k} 0.5"),
                        3 => format!("APPEND s{k} x"),
                        4 => format!("DEL s{k} l{k}"),
                        5 => format!("LPUSH l{k} a{n} b"),
                        6 => format!("RPOP l{k}"),
                        7 => format!("SADD z{k} m{} m{}", rng.below(20), rng.below(20)),
                        8 => format!("SPOP z{k}"),
                        9 => format!("SREM z{k} m{}", rng.below(20)),
                        10 => format!("HSET h{k} f{} {n}", rng.below(10)),
                        11 => format!("HINCRBYFLOAT h{k} g 1.5"),
                        12 => format!("HDEL h{k} f{}", rng.below(10)),
                        13 => format!("ZADD o{k} {} m{}", rng.below(100), rng.below(30)),
                        14 => format!("ZINCRBY o{k} 2 m{}", rng.below(30)),
                        15 => format!("EXPIRE s{k} {}", 100 + rng.below(1000)),
                        16 => format!("MSET s{k} a s{} b i{} 7", rng.below(64), rng.below(64)),
                        17 => format!("SET t{k} v PX {}", 1 + rng.below(300)),
                        18 => format!("RENAME s{k} s{}", rng.below(64)),
                        19 => format!("GETDEL s{k}"),
                        20 => format!("SPOP z{k} 2"),
                        _ => "MULTI".to_string(),
                    };
                    if cmd == "MULTI" {
                        conn.q("MULTI");
                        conn.q(&format!("SET s{k} multi{n}"));
                        conn.q(&format!("INCR i{}", rng.below(64)));
                        conn.q(&format!("LPUSH l{} x", rng.below(64)));
                        conn.q("EXEC");
                    } else {
                        // WRONGTYPE / no-such-key errors are part of the mix.
                        conn.q(&cmd);
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = workers.into_iter().map(|h| h.join().expect("worker")).sum();
    eprintln!("stress: {total} commands");
    // Let short TTLs run out and their DELs reach the replica.
    std::thread::sleep(Duration::from_millis(500));
    wait_in_sync(&master, &replica, Duration::from_secs(30));
    let (mut m, mut r) = (master.conn(), replica.conn());
    let want = snapshot(&mut m, &[0]);
    assert!(want.len() > 100, "stress wrote only {} keys", want.len());
    assert_same_data(&snapshot(&mut r, &[0]), &want, "after random writes");
}

// The scripted replica that checks exact bytes.
#[path = "replication/scripted.rs"]
mod scripted;
