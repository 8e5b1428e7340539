//! The master as a scripted replica sees it: the exact bytes of the handshake, the sync
//! payload and the command stream.

use super::*;

#[test]
fn handshake_replies_and_silent_acks() {
    let master = shoal(2, &[]);
    let mut raw = Raw::connect(master.port);
    raw.send("PING");
    raw.send("REPLCONF listening-port 9999");
    raw.send("REPLCONF capa eof capa psync2");
    assert_eq!(lossy(&raw.exact(17)), "+PONG\r\n+OK\r\n+OK\r\n");
    // ACK and GETACK from a client that is not a replica: no reply at all.
    raw.send("REPLCONF ACK 5");
    raw.send("REPLCONF GETACK *");
    raw.send("PING");
    assert_eq!(lossy(&raw.exact(7)), "+PONG\r\n");
    assert_eq!(raw.drain(Duration::from_millis(200)), b"");
    raw.send("REPLCONF listening-port");
    assert_eq!(lossy(&raw.exact(19)), "-ERR syntax error\r\n");
    raw.send("REPLCONF foo bar");
    let want = "-ERR Unrecognized REPLCONF option: foo\r\n";
    assert_eq!(lossy(&raw.exact(want.len())), want);
}

#[test]
fn diskless_full_sync_bytes() {
    let master = shoal(2, &[]);
    let mut m = master.conn();
    m.q("SET before 1");
    m.q("SELECT 3");
    m.q("SET indb3 x");
    let mut raw = Raw::connect(master.port);
    let (id, off, rdb, eof) = raw.full_sync("capa eof capa psync2");
    assert!(eof, "capa eof + repl-diskless-sync yes must give an EOF-marked payload");
    assert!(
        rdb.starts_with(b"REDIS0010"),
        "payload is not an RDB v10: {:?}",
        lossy(&rdb[..rdb.len().min(9)])
    );
    let (aux, keys) = rdb_aux(&rdb);
    assert_eq!(keys, 2);
    assert_eq!(
        aux.get("repl-id").map(String::as_str),
        Some(id.as_str()),
        "repl-id AUX vs FULLRESYNC"
    );
    assert_eq!(
        aux.get("repl-offset"),
        Some(&off.to_string()),
        "repl-offset AUX vs FULLRESYNC"
    );
    let mut mi = m.info("replication");
    assert_eq!(mi.remove("master_replid"), Some(id.clone()));
    // First write after the sync: SELECT even for db 0.
    m.q("SELECT 0");
    m.q("SET after 2");
    m.q("SET again 3");
    assert_eq!(show_cmd(&raw.command(true)), "SELECT 0");
    assert_eq!(show_cmd(&raw.command(true)), "SET after 2");
    assert_eq!(show_cmd(&raw.command(true)), "SET again 3");
}

#[test]
fn eof_payload_withholds_stream_until_first_ack() {
    let master = shoal(2, &[]);
    let mut raw = Raw::connect(master.port);
    raw.handshake("capa eof capa psync2");
    raw.send("PSYNC ? -1");
    let l = lossy(&raw.line());
    let off: i64 = l.rsplit(' ').next().and_then(|t| t.parse().ok()).expect("offset");
    let (_, eof) = raw.payload();
    assert!(eof);
    master.conn().q("SET w 1");
    assert_eq!(
        lossy(&raw.drain(Duration::from_millis(400))),
        "",
        "stream bytes before the first ACK"
    );
    raw.send(&format!("REPLCONF ACK {off}"));
    assert_eq!(show_cmd(&raw.command(true)), "SELECT 0");
    assert_eq!(show_cmd(&raw.command(true)), "SET w 1");
}

#[test]
fn disk_style_payload_without_capa_eof_and_with_diskless_off() {
    for (extra, capa) in [
        (&[][..], "capa psync2"),
        (&["--repl-diskless-sync", "no"][..], "capa eof capa psync2"),
    ] {
        let master = shoal(2, extra);
        master.conn().q("SET a 1");
        let mut raw = Raw::connect(master.port);
        let (_, _, rdb, eof) = raw.full_sync(capa);
        assert!(!eof, "{extra:?} {capa}: expected a $<len> payload");
        assert!(rdb.starts_with(b"REDIS0010"));
        assert_eq!(rdb_aux(&rdb).1, 1);
        // No CRLF after the payload: the stream follows at once.
        master.conn().q("SET b 2");
        let bytes = raw.drain(Duration::from_millis(500));
        assert!(
            bytes.starts_with(b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n"),
            "{extra:?}: after the payload got {:?}",
            lossy(&bytes)
        );
    }
}

#[test]
fn legacy_sync_gets_a_bare_payload() {
    let master = shoal(2, &[]);
    master.conn().q("SET a 1");
    let mut raw = Raw::connect(master.port);
    raw.send("SYNC");
    let (rdb, eof) = raw.payload();
    assert!(!eof);
    assert!(rdb.starts_with(b"REDIS0010"));
    assert_eq!(rdb_aux(&rdb).1, 1);
    master.conn().q("SET b 2");
    assert_eq!(show_cmd(&raw.command(true)), "SELECT 0");
    assert_eq!(show_cmd(&raw.command(true)), "SET b 2");
}

/// Runs `cmds` on `conn`, then a marker write; the stream must show exactly `want` (patterns,
/// see `matches`) and then the marker.
fn expect_stream(conn: &mut Conn, raw: &mut Raw, cmds: &[&str], want: &[&str], marker: &mut u32) {
    for cmd in cmds {
        conn.q(cmd);
    }
    *marker += 1;
    conn.q(&format!("SET marker {marker}"));
    let mut got = Vec::new();
    loop {
        let cmd = raw.command(true);
        if show_cmd(&cmd) == format!("SET marker {marker}") {
            break;
        }
        got.push(cmd);
        assert!(
            got.len() <= want.len() + 3,
            "runaway stream after {cmds:?}: {:?}",
            got.iter().map(|c| show_cmd(c)).collect::<Vec<_>>()
        );
    }
    let ok = got.len() == want.len() && got.iter().zip(want).all(|(g, w)| matches(g, w));
    assert!(
        ok,
        "`{}` propagated as {:?}, want {:?}",
        cmds.join("; "),
        got.iter().map(|c| show_cmd(c)).collect::<Vec<_>>(),
        want
    );
}

#[test]
fn writes_are_rewritten_as_redis_propagates_them() {
    let master = shoal(3, &[]);
    let mut raw = Raw::connect(master.port);
    raw.full_sync("capa psync2");
    let mut m = master.conn();
    let mut n = 0;
    let mut t = |cmds: &[&str], want: &[&str]| expect_stream(&mut m, &mut raw, cmds, want, &mut n);
    t(&["SET k1 v1"], &["SELECT 0", "SET k1 v1"]);
    t(&["SET k v EX 100"], &["SET k v PXAT ~100000"]);
    t(&["SET k v PX 100000"], &["SET k v PXAT ~100000"]);
    t(&["SETEX k 100 v"], &["SET k v PXAT ~100000"]);
    t(&["PSETEX k 100000 v"], &["SET k v PXAT ~100000"]);
    t(&["SET k v EX 5 GET"], &["SET k v PXAT ~5000"]);
    t(&["SET x 1 GET"], &["SET x 1"]);
    t(&["SET k v KEEPTTL"], &["SET k v KEEPTTL"]);
    t(&["EXPIRE k 200"], &["PEXPIREAT k ~200000"]);
    t(&["PEXPIRE k 200000"], &["PEXPIREAT k ~200000"]);
    t(&["EXPIREAT k 4000000000"], &["PEXPIREAT k 4000000000000"]);
    t(&["SET n 1", "EXPIRE n 100 NX"], &["SET n 1", "PEXPIREAT n ~100000 NX"]);
    t(&["SET y 1", "EXPIRE y -1"], &["SET y 1", "DEL y"]);
    t(&["GETEX k EX 50"], &["PEXPIREAT k ~50000"]);
    t(&["GETEX k PERSIST"], &["PERSIST k"]);
    t(&["GETDEL x"], &["DEL x"]);
    t(&["INCRBYFLOAT f 1.5"], &["SET f 1.5 KEEPTTL"]);
    t(&["HINCRBYFLOAT h g 2.5"], &["HSET h g 2.5"]);
    t(&["SADD s a", "SPOP s"], &["SADD s a", "SREM s a"]);
    t(&["SADD sp f b c", "SPOP sp 100"], &["SADD sp f b c", "DEL sp"]);
    t(
        &["MULTI", "SET b 2", "INCR b", "EXEC"],
        &["MULTI", "SET b 2", "INCR b", "EXEC"],
    );
    t(&["MULTI", "GET a", "EXEC"], &[]);
    // The trailing SELECT 0 is generated for the marker write, back in db 0.
    t(
        &["SELECT 3", "SET a 1", "SELECT 0"],
        &["SELECT 3", "SET a 1", "SELECT 0"],
    );
    t(&["SET a 1"], &["SET a 1"]);
    t(&["DEL a", "DEL a"], &["DEL a"]);
    t(
        &[
            "SETNX k1 other",
            "PERSIST k1",
            "SADD k1 m",
            "GET k1",
            "PING",
            "SRANDMEMBER s",
        ],
        &[],
    );
    t(&["FLUSHDB"], &["FLUSHDB"]);
    t(&["FLUSHALL"], &["FLUSHALL"]);
}

#[test]
fn multi_effect_spop_is_wrapped() {
    let master = shoal(2, &[]);
    let mut raw = Raw::connect(master.port);
    raw.full_sync("capa psync2");
    let mut m = master.conn();
    let mut n = 0;
    expect_stream(
        &mut m,
        &mut raw,
        &["SADD sp f b c", "SPOP sp 2"],
        &["SELECT 0", "SADD sp f b c", "MULTI", "SREM sp *", "SREM sp *", "EXEC"],
        &mut n,
    );
}

#[test]
fn served_blocking_pops_propagate_as_plain_pops() {
    let master = shoal(2, &[]);
    let mut raw = Raw::connect(master.port);
    raw.full_sync("capa psync2");
    let (mut a, mut b) = (master.conn(), master.conn());
    b.q("SET warm 1");
    assert_eq!(show_cmd(&raw.command(true)), "SELECT 0");
    raw.command(true);
    a.send(&c("BLPOP bl 0"));
    std::thread::sleep(Duration::from_millis(200));
    b.q("RPUSH bl one two");
    assert_eq!(a.read_reply(), b"*2\r\n$2\r\nbl\r\n$3\r\none\r\n");
    assert_eq!(show_cmd(&raw.command(true)), "RPUSH bl one two");
    assert_eq!(show_cmd(&raw.command(true)), "LPOP bl");
    a.send(&c("BRPOPLPUSH bl2 dst 0"));
    std::thread::sleep(Duration::from_millis(200));
    b.q("LPUSH bl2 q");
    a.read_reply();
    assert_eq!(show_cmd(&raw.command(true)), "LPUSH bl2 q");
    assert_eq!(show_cmd(&raw.command(true)), "RPOPLPUSH bl2 dst");
}

#[test]
fn key_expiry_reaches_the_stream_as_del() {
    let master = shoal(2, &[]);
    let mut raw = Raw::connect(master.port);
    raw.full_sync("capa psync2");
    master.conn().q("SET ex1 v PX 100");
    assert_eq!(show_cmd(&raw.command(true)), "SELECT 0");
    assert!(matches(&raw.command(true), "SET ex1 v PXAT ~100"));
    let t = Instant::now();
    assert_eq!(show_cmd(&raw.command(true)), "DEL ex1");
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "expiry DEL after {:?}",
        t.elapsed()
    );
}

#[test]
fn cross_shard_mset_and_exec_are_atomic_groups() {
    let master = shoal(4, &[]);
    let mut raw = Raw::connect(master.port);
    raw.full_sync("capa psync2");
    let mut m = master.conn();
    m.q("SET warm 1");
    raw.command(true);
    raw.command(true);
    let pairs: Vec<(String, String)> = (0..16).map(|i| (format!("mk{i}"), format!("{i}"))).collect();
    let mut line = "MSET".to_string();
    for (k, v) in &pairs {
        line += &format!(" {k} {v}");
    }
    m.q(&line);
    let first = raw.command(true);
    let mut seen: Vec<(String, String)> = Vec::new();
    if show_cmd(&first) == line {
        eprintln!("cross-shard MSET propagated as one MSET");
        seen = pairs.clone();
    } else {
        assert_eq!(
            show_cmd(&first),
            "MULTI",
            "cross-shard MSET not wrapped: first command {:?}",
            show_cmd(&first)
        );
        loop {
            let cmd = raw.command(true);
            if show_cmd(&cmd) == "EXEC" {
                break;
            }
            assert!(cmd[0].eq_ignore_ascii_case(b"MSET"), "inside MULTI: {}", show_cmd(&cmd));
            for p in cmd[1..].chunks(2) {
                seen.push((lossy(&p[0]), lossy(&p[1])));
            }
        }
    }
    seen.sort();
    let mut want = pairs;
    want.sort();
    assert_eq!(seen, want, "MSET pairs in the stream");
    // A transaction over keys of several shards: one MULTI ... EXEC holding its writes.
    let got = exec_over_shards(&master, &mut raw);
    let mut sorted = got.clone();
    sorted.sort();
    let want: Vec<String> = (0..6).map(|i| format!("SET tx{i} {i}")).collect();
    assert_eq!(sorted, want, "EXEC group content");
}

/// Runs a 6-SET transaction over keys of several shards; returns the commands between the
/// stream's MULTI and EXEC.
fn exec_over_shards(master: &TestServer, raw: &mut Raw) -> Vec<String> {
    let mut m = master.conn();
    m.q("MULTI");
    for i in 0..6 {
        m.q(&format!("SET tx{i} {i}"));
    }
    m.q("EXEC");
    // A SELECT the group needs comes before its MULTI, as in Redis.
    let mut first = show_cmd(&raw.command(true));
    if first.starts_with("SELECT") {
        first = show_cmd(&raw.command(true));
    }
    assert_eq!(first, "MULTI");
    let mut got = Vec::new();
    loop {
        let cmd = show_cmd(&raw.command(true));
        if cmd == "EXEC" {
            return got;
        }
        got.push(cmd);
        assert!(got.len() < 10, "no EXEC: {got:?}");
    }
}

#[test]
fn cross_shard_exec_keeps_command_order() {
    let master = shoal(4, &[]);
    let mut raw = Raw::connect(master.port);
    raw.full_sync("capa psync2");
    let got = exec_over_shards(&master, &mut raw);
    let want: Vec<String> = (0..6).map(|i| format!("SET tx{i} {i}")).collect();
    assert_eq!(got, want, "EXEC group order (Redis: execution order)");
}

#[test]
fn psync_edges() {
    let master = shoal(2, &[]);
    let mut m = master.conn();
    let mut first = Raw::connect(master.port);
    first.full_sync("capa psync2");
    for i in 0..5 {
        m.q(&format!("SET p{i} {i}"));
    }
    // Let the coordinator publish them.
    first.command(true);
    for _ in 0..5 {
        first.command(true);
    }
    let mi = m.info("replication");
    let id = mi["master_replid"].clone();
    let off: i64 = mi["master_repl_offset"].parse().expect("offset");
    let fb: i64 = mi["repl_backlog_first_byte_offset"].parse().expect("first byte");
    assert_eq!(
        fb + mi["repl_backlog_histlen"].parse::<i64>().expect("histlen") - 1,
        off,
        "backlog invariant"
    );

    let psync = |capa: &str, arg: &str| {
        let mut r = Raw::connect(master.port);
        r.handshake(capa);
        r.send(&format!("PSYNC {arg}"));
        r
    };
    // From the first byte held: the whole backlog follows.
    let mut r = psync("capa eof capa psync2", &format!("{id} {fb}"));
    assert_eq!(lossy(&r.line()), format!("+CONTINUE {id}"));
    let data = r.exact((off - fb + 1) as usize);
    assert!(
        data.starts_with(b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n"),
        "backlog from F: {:?}",
        lossy(&data)
    );
    assert!(
        data.ends_with(b"*3\r\n$3\r\nSET\r\n$2\r\np4\r\n$1\r\n4\r\n"),
        "backlog end: {:?}",
        lossy(&data)
    );
    // From master_repl_offset + 1: nothing to send.
    let mut r = psync("capa eof capa psync2", &format!("{id} {}", off + 1));
    assert_eq!(lossy(&r.line()), format!("+CONTINUE {id}"));
    assert_eq!(lossy(&r.drain(Duration::from_millis(300))), "");
    // Without psync2: no id on the line.
    let mut r = psync("capa eof", &format!("{id} {}", off + 1));
    assert_eq!(lossy(&r.exact(11)), "+CONTINUE\r\n");
    // Outside the backlog, wrong id, `?`: full resync.
    for arg in [
        format!("{id} 0"),
        format!("{id} {}", off + 2),
        format!("{} {fb}", "f".repeat(40)),
        "? -1".to_string(),
    ] {
        let mut r = psync("capa psync2", &arg);
        let l = lossy(&r.line());
        assert!(l.starts_with("+FULLRESYNC "), "PSYNC {arg}: {l:?}");
    }
    // A non-integer offset.
    let mut r = psync("capa psync2", &format!("{id} abc"));
    assert_eq!(lossy(&r.exact(46)), "-ERR value is not an integer or out of range\r\n");
}

#[test]
fn ping_period_pings_idle_replicas() {
    let master = shoal(2, &["--repl-ping-replica-period", "1"]);
    let mut raw = Raw::connect(master.port);
    raw.full_sync("capa psync2");
    let mut m = master.conn();
    let start: i64 = field(&mut m, "replication", "master_repl_offset")
        .parse()
        .expect("offset");
    let bytes = raw.drain(Duration::from_millis(3300));
    let end: i64 = field(&mut m, "replication", "master_repl_offset")
        .parse()
        .expect("offset");
    let pings = bytes.len() / 14;
    assert_eq!(
        bytes,
        b"*1\r\n$4\r\nping\r\n".repeat(pings),
        "idle stream: {:?}",
        lossy(&bytes)
    );
    assert!((2..=4).contains(&pings), "{pings} pings in 3.3 s");
    assert_eq!(end - start, 14 * pings as i64, "offset growth vs pings seen");
}

#[test]
fn wait_pushes_getack_into_the_stream() {
    let master = shoal(2, &[]);
    let mut raw = Raw::connect(master.port);
    raw.full_sync("capa psync2");
    let mut m = master.conn();
    m.q("SET k v");
    assert_eq!(show_cmd(&raw.command(true)), "SELECT 0");
    assert_eq!(show_cmd(&raw.command(true)), "SET k v");
    let off: i64 = field(&mut m, "replication", "master_repl_offset")
        .parse()
        .expect("offset");
    m.send(&c("WAIT 1 3000"));
    assert_eq!(show_cmd(&raw.command(true)), "REPLCONF GETACK *");
    raw.send(&format!("REPLCONF ACK {off}"));
    assert_eq!(m.read_reply(), b":1\r\n");
}

/// Under `maxmemory`, what waits for a replica that does not read is not counted against the
/// limit (INFO `mem_not_counted_for_evict`), as redis-server does not count replica output
/// buffers: otherwise the master would evict its data to make room for the queue, and each
/// eviction's DEL would queue more.
#[test]
fn a_stalled_replica_does_not_make_the_master_evict_its_data() {
    let master = shoal(1, &["--maxmemory-policy", "allkeys-lru"]);
    let mut raw = Raw::connect(master.port);
    raw.full_sync("capa eof capa psync2");
    // From here the replica reads nothing more.
    let mut m = master.conn();
    let base: u64 = field(&mut m, "memory", "used_memory").parse().unwrap();
    m.q(&format!("CONFIG SET maxmemory {}", base + (16 << 20)));
    // About 20 MB of writes: more than the allowance, all of it queued for the replica
    // (apart from what the sockets' buffers take).
    let value = "v".repeat(500);
    let cmds: Vec<Vec<Vec<u8>>> = (0..40_000).map(|i| c(&format!("SET key:{i} {value}"))).collect();
    pipeline(&mut m, &cmds);
    let not_counted: u64 = field(&mut m, "memory", "mem_not_counted_for_evict").parse().unwrap();
    // Read the two counts with no eviction between them (the background cycle may evict once
    // more after the last write).
    let (keys, evicted) = loop {
        let before: i64 = field(&mut m, "stats", "evicted_keys").parse().unwrap();
        let keys = m.q("DBSIZE").int();
        let after: i64 = field(&mut m, "stats", "evicted_keys").parse().unwrap();
        if before == after {
            break (keys, after);
        }
    };
    // The allowance holds about 26k of these keys; the queue holds most of the stream.
    assert!(not_counted > 8 << 20, "queued for the replica: {not_counted}");
    assert!(keys >= 20_000, "{keys} keys left, {evicted} evicted");
    assert_eq!(keys + evicted, 40_000);
    drop(raw);
}
