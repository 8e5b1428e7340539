//! Shoal as a replica: of a real redis-server 7.0 master, of a scripted fake master (exact
//! handshake bytes and ACK offsets), of another Shoal; promotion with REPLICAOF NO ONE; and a
//! redis-server replica chained under a Shoal replica.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// Waits until `replica` is linked and has applied everything `master` produced.
fn wait_synced(master: &mut Conn, replica: &mut Conn) {
    wait_for("replica in sync", Duration::from_secs(20), || {
        let r = replica.info("replication");
        let m = master.info("replication");
        r.get("master_link_status").map(String::as_str) == Some("up")
            && r.contains_key("slave_repl_offset")
            && r.get("slave_repl_offset") == m.get("master_repl_offset")
    });
}

/// A text dump of every key in dbs 0 and 3 (type, value in a canonical order, TTL set or not).
fn dataset(conn: &mut Conn) -> Vec<String> {
    let mut out = Vec::new();
    for db in ["0", "3"] {
        conn.q(&format!("SELECT {db}"));
        let mut keys: Vec<Vec<u8>> = conn.q("KEYS *").items().iter().filter_map(|r| r.bulk()).collect();
        keys.sort();
        for k in keys {
            let key = String::from_utf8_lossy(&k).into_owned();
            let kind = conn.q(&format!("TYPE {key}")).text();
            let cmd = match kind.as_str() {
                "string" => format!("GET {key}"),
                "list" => format!("LRANGE {key} 0 -1"),
                "hash" => format!("HGETALL {key}"),
                "set" => format!("SMEMBERS {key}"),
                "zset" => format!("ZRANGE {key} 0 -1 WITHSCORES"),
                other => panic!("unexpected type {other}"),
            };
            let raw = conn.raw(&c(&cmd));
            let value = if kind == "set" || kind == "hash" {
                sorted_form(&raw)
            } else {
                raw
            };
            let has_ttl = conn.q(&format!("PTTL {key}")).int() > 0;
            out.push(format!("{db} {key} {kind} {} ttl={has_ttl}", lossy(&value)));
        }
    }
    conn.q("SELECT 0");
    out
}

fn write_everything(m: &mut Conn, tag: &str) {
    for line in [
        format!("SET s{tag} hello"),
        format!("SET n{tag} 42"),
        format!("SET ttl{tag} v EX 1000"),
        format!("RPUSH l{tag} a b c d"),
        format!("HSET h{tag} f1 v1 f2 v2"),
        format!("SADD st{tag} x y z 1 2"),
        format!("ZADD z{tag} 1 a 2.5 b -3 c"),
        format!("PEXPIRE l{tag} 500000"),
        format!("INCRBYFLOAT n{tag} 1.5"),
    ] {
        let r = m.q(&line);
        assert!(!matches!(r, Reply::Error(_)), "{line}: {r:?}");
    }
    m.q("SELECT 3");
    m.q(&format!("SET db3{tag} x"));
    m.q("SELECT 0");
}

fn fast_master(m: &mut Conn) {
    assert_eq!(m.q("CONFIG SET repl-diskless-sync-delay 0"), Reply::Simple("OK".into()));
}

#[test]
fn replica_of_redis_master() {
    let redis = TestServer::redis();
    let shoal = TestServer::shoal(2);
    let mut m = redis.conn();
    let mut r = shoal.conn();
    fast_master(&mut m);
    write_everything(&mut m, "before");
    assert_eq!(
        r.q(&format!("REPLICAOF 127.0.0.1 {}", redis.port)),
        Reply::Simple("OK".into())
    );
    assert_eq!(
        r.q(&format!("SLAVEOF 127.0.0.1 {}", redis.port)),
        Reply::Simple("OK Already connected to specified master".into())
    );
    wait_synced(&mut m, &mut r);
    // What the replica reads from its master is counted as replication input, not as clients'.
    let got = |r: &mut Conn| {
        r.info("stats")["total_net_repl_input_bytes"]
            .parse::<u64>()
            .expect("bytes")
    };
    let got_before = got(&mut r);
    assert!(got_before > 0);
    m.q(&format!("SET big {}", "x".repeat(100_000)));
    wait_synced(&mut m, &mut r);
    assert!(got(&mut r) >= got_before + 100_000);
    write_everything(&mut m, "after");
    // A transaction from the master arrives as one unit.
    m.q("MULTI");
    m.q("INCR counter");
    m.q("LPUSH lafter zz");
    m.q("DEL safter");
    assert!(matches!(m.q("EXEC"), Reply::Array(_)));
    m.q("SET gone 1 PX 50");
    std::thread::sleep(Duration::from_millis(300));
    m.q("GET gone");
    wait_synced(&mut m, &mut r);
    assert_eq!(dataset(&mut m), dataset(&mut r));
    assert_eq!(
        r.q("SET x 1"),
        Reply::Error("READONLY You can't write against a read only replica.".into())
    );
    let role = r.q("ROLE").items();
    assert_eq!(role[0].bulk(), Some(b"slave".to_vec()));
    assert_eq!(role[2], Reply::Int(redis.port as i64));
    assert_eq!(role[3].bulk(), Some(b"connected".to_vec()));
    let ri = r.info("replication");
    let mi = m.info("replication");
    assert_eq!(ri["role"], "slave");
    assert_eq!(ri["master_replid"], mi["master_replid"]);
    assert_eq!(ri["slave_read_only"], "1");
    assert_eq!(
        r.q("WAIT 0 0"),
        Reply::Error("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.".into())
    );
    assert_eq!(
        r.q("REPLICAOF 127.0.0.1 70000"),
        Reply::Error("ERR Invalid master port".into())
    );

    // Promotion: the ids shift so that others can continue our history.
    let offset: i64 = ri["master_repl_offset"].parse().unwrap();
    assert_eq!(r.q("REPLICAOF NO ONE"), Reply::Simple("OK".into()));
    let p = r.info("replication");
    assert_eq!(p["role"], "master");
    assert_eq!(p["master_replid2"], mi["master_replid"]);
    assert_ne!(p["master_replid"], mi["master_replid"]);
    assert_eq!(p["second_repl_offset"], (offset + 1).to_string());
    assert_eq!(r.q("SET x 1"), Reply::Simple("OK".into()));
}

/// Reads one RESP array of bulk strings from a std socket.
fn read_command(s: &mut TcpStream, buf: &mut Vec<u8>) -> Vec<String> {
    loop {
        if let Some(end) = reply_end(buf, 0) {
            let raw: Vec<u8> = buf.drain(..end).collect();
            return match Reply::parse(&raw) {
                Reply::Array(items) => items.iter().map(|i| lossy(&i.bulk().unwrap_or_default())).collect(),
                other => panic!("expected a command, got {other:?}"),
            };
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).expect("read from replica");
        assert!(n > 0, "replica closed the link");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn handshake_payload_stream_and_getack_against_a_fake_master() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let master_port = listener.local_addr().unwrap().port();
    let port = free_port();
    let dir = TempDir::new("replica-fake");
    let mut child = Command::new(env!("CARGO_BIN_EXE_shoal-server"))
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--shards",
            "2",
            "--save",
            "",
        ])
        .args(["--dir", &dir.path().to_string_lossy()])
        .args([
            "--replicaof",
            "127.0.0.1",
            &master_port.to_string(),
            "--masterauth",
            "pw",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let result = std::panic::catch_unwind(|| {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = Vec::new();
        assert_eq!(read_command(&mut s, &mut buf), ["PING"]);
        s.write_all(b"+PONG\r\n").unwrap();
        assert_eq!(read_command(&mut s, &mut buf), ["AUTH", "pw"]);
        assert_eq!(
            read_command(&mut s, &mut buf),
            ["REPLCONF", "listening-port", &port.to_string()]
        );
        assert_eq!(
            read_command(&mut s, &mut buf),
            ["REPLCONF", "capa", "eof", "capa", "psync2"]
        );
        s.write_all(b"+OK\r\n+OK\r\n+OK\r\n").unwrap();
        assert_eq!(read_command(&mut s, &mut buf), ["PSYNC", "?", "-1"]);
        let id = "d".repeat(40);
        // Keep-alives before the reply and before the payload are tolerated.
        s.write_all(format!("\n\n+FULLRESYNC {id} 1000\r\n\n").as_bytes())
            .unwrap();
        let entries = vec![shoal::rdb::RdbEntry {
            db: 0,
            key: b"loaded".to_vec(),
            value: shoal::rdb::RdbValue::String(b"yes".to_vec()),
            expire_ms: None,
        }];
        let rdb = shoal::rdb::dump(&entries, &[], false, true);
        let mark = "a".repeat(40);
        let mut payload = format!("$EOF:{mark}\r\n").into_bytes();
        payload.extend_from_slice(&rdb);
        payload.extend_from_slice(mark.as_bytes());
        s.write_all(&payload).unwrap();
        assert_eq!(read_command(&mut s, &mut buf), ["REPLCONF", "ACK", "1000"]);
        let stream = [
            "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n",
            "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n",
            "*1\r\n$5\r\nMULTI\r\n",
            "*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n",
            "*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n",
            "*1\r\n$4\r\nEXEC\r\n",
            "*1\r\n$4\r\nping\r\n",
        ]
        .concat();
        s.write_all(stream.as_bytes()).unwrap();
        s.write_all(b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n")
            .unwrap();
        let want = 1000 + stream.len();
        loop {
            let cmd = read_command(&mut s, &mut buf);
            assert_eq!(&cmd[..2], ["REPLCONF", "ACK"]);
            if cmd[2] == want.to_string() {
                break;
            }
            assert_eq!(
                cmd[2], "1000",
                "only the initial offset may be acked before the GETACK answer"
            );
        }
        let mut r = Conn::connect(port);
        assert_eq!(r.q("GET loaded").bulk(), Some(b"yes".to_vec()));
        assert_eq!(r.q("GET k").bulk(), Some(b"v".to_vec()));
        assert_eq!(r.q("GET n").bulk(), Some(b"2".to_vec()));
        let i = r.info("replication");
        assert_eq!(i["master_replid"], id);
        assert_eq!(i["master_repl_offset"], (want + 37).to_string());
        assert_eq!(i["repl_backlog_first_byte_offset"], "1001");
        // The next periodic ACK counts the GETACK too.
        let cmd = read_command(&mut s, &mut buf);
        assert_eq!(cmd, ["REPLCONF", "ACK", &(want + 37).to_string()]);
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn shoal_chain_with_redis_at_the_end() {
    let top = TestServer::shoal(2);
    let mid = TestServer::shoal(2);
    let tail = TestServer::redis();
    let mut m = top.conn();
    let mut r = mid.conn();
    let mut t = tail.conn();
    write_everything(&mut m, "before");
    assert_eq!(
        r.q(&format!("REPLICAOF 127.0.0.1 {}", top.port)),
        Reply::Simple("OK".into())
    );
    wait_synced(&mut m, &mut r);
    assert_eq!(
        t.q(&format!("REPLICAOF 127.0.0.1 {}", mid.port)),
        Reply::Simple("OK".into())
    );
    wait_synced(&mut r, &mut t);
    write_everything(&mut m, "after");
    m.q("MULTI");
    m.q("INCR counter");
    m.q("SET other 1");
    m.q("EXEC");
    wait_synced(&mut m, &mut r);
    wait_synced(&mut r, &mut t);
    let want = dataset(&mut m);
    assert_eq!(dataset(&mut r), want);
    assert_eq!(dataset(&mut t), want);
    // The chain shares one history: same id and offset all the way down.
    let (mi, ri, ti) = (m.info("replication"), r.info("replication"), t.info("replication"));
    assert_eq!(ri["master_replid"], mi["master_replid"]);
    assert_eq!(ti["master_replid"], mi["master_replid"]);
    assert_eq!(ti["master_repl_offset"], mi["master_repl_offset"]);
}
