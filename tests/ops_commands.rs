//! Operator commands against Shoal with 1 and 4 shards (and redis-server 7.0 as the oracle
//! where replies are deterministic): INFO commandstats/errorstats/shoal, CLIENT PAUSE and
//! UNPAUSE, CLIENT REPLY, SLOWLOG, LATENCY and MONITOR. CLIENT LIST, INFO and KILL are in
//! client_commands.rs.
//!
//! Connections are spread over the cores by the kernel, so every multi-connection check opens
//! many connections: with 4 shards they land on several cores.

mod common;

use std::time::{Duration, Instant};

use common::{Conn, Flavor, Reply, TestServer, c, encode};

const SHARDS: [usize; 2] = [1, 4];
const CONNS: usize = 12;

/// INFO `section` as `field -> value` lines.
fn info(conn: &mut Conn, section: &str) -> Vec<(String, String)> {
    let text = conn.q(&format!("INFO {section}")).text();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

fn field(lines: &[(String, String)], name: &str) -> Option<String> {
    lines.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// A commandstats value without the timing fields (they differ run to run).
fn without_timing(v: &str) -> String {
    v.split(',')
        .filter(|p| !p.starts_with("usec=") && !p.starts_with("usec_per_call="))
        .collect::<Vec<_>>()
        .join(",")
}

/// The same mixed workload, with errors and rejections, for Redis and Shoal.
fn workload(server: &TestServer) {
    let mut conns: Vec<Conn> = (0..CONNS).map(|_| server.conn()).collect();
    for (i, conn) in conns.iter_mut().enumerate() {
        assert_eq!(conn.q(&format!("SET k{i} v")).text(), "OK");
        assert_eq!(conn.q(&format!("GET k{i}")).text(), "v");
    }
    let a = &mut conns[0];
    a.q("SET onlykey");
    a.q("NOSUCHCMD x");
    a.q("LPUSH k0 x");
    a.q("CLIENT ID");
    a.q("CLIENT NOSUCH");
}

#[test]
fn commandstats_and_errorstats_sum_every_core() {
    let redis = TestServer::redis();
    workload(&redis);
    let mut r = redis.conn();
    let want_cmds = info(&mut r, "commandstats");
    let want_errs = info(&mut r, "errorstats");
    for shards in SHARDS {
        let shoal = TestServer::shoal(shards);
        workload(&shoal);
        let mut s = shoal.conn();
        let cmds = info(&mut s, "commandstats");
        for name in ["cmdstat_set", "cmdstat_get", "cmdstat_lpush", "cmdstat_client|id"] {
            let want = field(&want_cmds, name).map(|v| without_timing(&v));
            let got = field(&cmds, name).map(|v| without_timing(&v));
            assert_eq!(got, want, "{name} with {shards} shards");
        }
        assert_eq!(info(&mut s, "errorstats"), want_errs, "errorstats, {shards} shards");
        let stats = info(&mut s, "stats");
        assert_eq!(field(&stats, "total_error_replies").as_deref(), Some("4"));
        assert_eq!(field(&stats, "unexpected_error_replies").as_deref(), Some("0"));
        // The # Shoal section: per-shard lines whose calls add up to every call made.
        let shoal_lines = info(&mut s, "shoal");
        assert_eq!(shoal_lines.len(), shards);
        let calls: Vec<u64> = shoal_lines
            .iter()
            .map(|(_, v)| {
                let p = v.split(',').find(|p| p.starts_with("calls=")).expect("calls field");
                p["calls=".len()..].parse().expect("number")
            })
            .collect();
        assert!(calls.iter().sum::<u64>() >= 2 * CONNS as u64 + 2, "{calls:?}");
        if shards > 1 {
            assert!(
                calls.iter().filter(|&&n| n > 0).count() > 1,
                "one core took all: {calls:?}"
            );
        }
        let keys: usize = shoal_lines
            .iter()
            .map(|(_, v)| {
                v.split(',')
                    .next()
                    .and_then(|p| p.strip_prefix("keys="))
                    .expect("keys")
                    .parse::<usize>()
                    .expect("n")
            })
            .sum();
        assert_eq!(keys, CONNS);
        // Which sections INFO shows by default, and what RESETSTAT clears.
        let default = s.q("INFO").text();
        assert!(!default.contains("# Commandstats") && default.contains("# Errorstats"));
        assert!(default.contains("# Shoal"));
        let all = s.q("INFO all").text();
        assert!(all.contains("# Commandstats") && all.contains("# Errorstats"));
        assert!(s.q("INFO everything").text().contains("cmdstat_set:"));
        assert_eq!(s.q("CONFIG RESETSTAT").text(), "OK");
        assert!(field(&info(&mut s, "commandstats"), "cmdstat_set").is_none());
        assert!(info(&mut s, "errorstats").is_empty());
    }
}

#[test]
fn client_pause_write_delays_writes_not_reads() {
    for shards in SHARDS {
        let shoal = TestServer::shoal(shards);
        let mut admin = shoal.conn();
        let mut others: Vec<Conn> = (0..CONNS / 2).map(|_| shoal.conn()).collect();
        assert_eq!(admin.q("CLIENT PAUSE 600 WRITE").text(), "OK");
        let t = Instant::now();
        for o in others.iter_mut() {
            assert_eq!(o.q("GET x"), Reply::Nil);
        }
        assert!(t.elapsed() < Duration::from_millis(500), "reads waited");
        assert_eq!(others[0].q("SET x 1").text(), "OK");
        assert!(t.elapsed() >= Duration::from_millis(550), "write not delayed");

        // UNPAUSE lets a waiting write through at once; CLIENT LIST shows it as blocked.
        assert_eq!(admin.q("CLIENT PAUSE 20000 WRITE").text(), "OK");
        let t = Instant::now();
        for o in others.iter_mut() {
            o.send(&c("SET y 2"));
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let list = admin.q("CLIENT LIST").text();
            if list
                .lines()
                .filter(|l| l.contains("flags=b") && l.contains("cmd=set"))
                .count()
                == others.len()
            {
                break;
            }
            assert!(Instant::now() < deadline, "paused clients not flagged: {list}");
            std::thread::sleep(Duration::from_millis(20));
        }
        let blocked = field(&info(&mut admin, "clients"), "blocked_clients");
        assert_eq!(blocked, Some(others.len().to_string()));
        assert_eq!(admin.q("CLIENT UNPAUSE").text(), "OK");
        for o in others.iter_mut() {
            assert_eq!(o.read_reply(), b"+OK\r\n");
        }
        assert!(t.elapsed() < Duration::from_secs(10));

        // ALL pauses reads too.
        assert_eq!(admin.q("CLIENT PAUSE 300 ALL").text(), "OK");
        let t = Instant::now();
        assert_eq!(others[1].q("GET y").text(), "2");
        assert!(t.elapsed() >= Duration::from_millis(250), "read not delayed by ALL");
    }
}

/// EXEC of a queue with a write waits out CLIENT PAUSE WRITE (and then runs whole); a
/// read-only queue does not wait, as with redis-server. Both queues sit on one shard, where
/// Shoal's EXEC runs as one job.
#[test]
fn client_pause_write_holds_an_exec_of_writes() {
    let servers = std::iter::once(TestServer::redis()).chain(SHARDS.iter().map(|&n| TestServer::shoal(n)));
    for shoal in servers {
        let mut admin = shoal.conn();
        let mut c = shoal.conn();
        assert_eq!(c.q("MULTI").text(), "OK");
        assert_eq!(c.q("SET x 1").text(), "QUEUED");
        assert_eq!(c.q("INCR x").text(), "QUEUED");
        assert_eq!(admin.q("CLIENT PAUSE 500 WRITE").text(), "OK");
        let t = Instant::now();
        assert_eq!(c.raw(&common::c("EXEC")), b"*2\r\n+OK\r\n:2\r\n");
        assert!(t.elapsed() >= Duration::from_millis(450), "EXEC of writes not delayed");
        assert_eq!(admin.q("CLIENT PAUSE 500 WRITE").text(), "OK");
        let t = Instant::now();
        assert_eq!(c.q("MULTI").text(), "OK");
        assert_eq!(c.q("GET x").text(), "QUEUED");
        assert_eq!(c.raw(&common::c("EXEC")), b"*1\r\n$1\r\n2\r\n");
        assert!(t.elapsed() < Duration::from_millis(400), "read-only EXEC waited");
    }
}

#[test]
fn client_pause_errors_match_redis() {
    let redis = TestServer::redis();
    let shoal = TestServer::shoal(4);
    common::assert_same(
        &redis,
        &shoal,
        &[
            c("CLIENT PAUSE -1"),
            c("CLIENT PAUSE abc"),
            c("CLIENT PAUSE 10 foo"),
            c("CLIENT PAUSE 1 write x"),
            c("CLIENT UNPAUSE x"),
            c("CLIENT UNPAUSE"),
            c("CLIENT REPLY maybe"),
            c("CLIENT NO-EVICT maybe"),
            c("CLIENT NO-EVICT on"),
        ],
    );
}

/// Sends a pipeline and returns everything that came back before a final PING's reply.
fn pipeline_until_ping(conn: &mut Conn, lines: &[&str]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for l in lines {
        bytes.extend(encode(&c(l)));
    }
    bytes.extend(encode(&c("PING")));
    conn.send_raw(&bytes);
    let mut got = Vec::new();
    loop {
        let r = conn.read_reply();
        if r == b"+PONG\r\n" {
            return got;
        }
        got.extend(r);
    }
}

#[test]
fn client_reply_off_and_skip_match_redis() {
    let script: &[&str] = &[
        "CLIENT REPLY OFF",
        "SET a 1",
        "GET a",
        "NOSUCH",
        "CLIENT REPLY SKIP",
        "CLIENT REPLY ON",
        "GET a",
        "CLIENT REPLY SKIP",
        "SET b 2",
        "GET b",
        "MGET a b c d e f",
        "CLIENT REPLY SKIP",
        "MSET a 3 b 4 c 5 d 6",
        "CLIENT REPLY OFF",
        "CLIENT REPLY ON",
    ];
    let redis = TestServer::redis();
    let want = pipeline_until_ping(&mut redis.conn(), script);
    for shards in SHARDS {
        let shoal = TestServer::shoal(shards);
        let got = pipeline_until_ping(&mut shoal.conn(), script);
        assert_eq!(common::lossy(&got), common::lossy(&want), "{shards} shards");
        // One command per read too (no batching): separate writes, a pause between them.
        let mut conn = shoal.conn();
        assert_eq!(conn.q("FLUSHALL").text(), "OK");
        for l in script {
            conn.send(&c(l));
            std::thread::sleep(Duration::from_millis(5));
        }
        let got = pipeline_until_ping(&mut conn, &[]);
        assert_eq!(common::lossy(&got), common::lossy(&want), "{shards} shards, unbatched");
    }
}

#[test]
fn slowlog_records_commands_of_every_core() {
    for shards in SHARDS {
        let shoal = TestServer::shoal(shards);
        let mut admin = shoal.conn();
        assert_eq!(admin.q("CONFIG SET slowlog-log-slower-than 0").text(), "OK");
        assert_eq!(admin.q("SLOWLOG RESET").text(), "OK");
        let mut conns: Vec<Conn> = (0..CONNS).map(|_| shoal.conn()).collect();
        let mut peers = Vec::new();
        for (i, conn) in conns.iter_mut().enumerate() {
            conn.q(&format!("CLIENT SETNAME n{i}"));
            conn.q(&format!("SET slow{i} v"));
            let info = conn.q("CLIENT INFO").text();
            let addr = info
                .split(' ')
                .find_map(|f| f.strip_prefix("addr="))
                .expect("addr")
                .to_string();
            peers.push(addr);
        }
        let entries = admin.q("SLOWLOG GET -1").items();
        let mut last_id = i64::MAX;
        for e in &entries {
            let id = e.items()[0].int();
            assert!(id < last_id, "ids not unique and decreasing");
            last_id = id;
        }
        for (i, peer) in peers.iter().enumerate() {
            let found = entries.iter().any(|e| {
                let f = e.items();
                f[3].items().iter().map(|a| a.text()).collect::<Vec<_>>() == ["SET", &format!("slow{i}"), "v"]
                    && f[4].text() == *peer
                    && f[5].text() == format!("n{i}")
            });
            assert!(found, "SET slow{i} from {peer} not logged ({shards} shards)");
        }
        assert!(admin.q("SLOWLOG LEN").int() >= 2 * CONNS as i64);
        assert_eq!(admin.q("SLOWLOG GET").items().len(), 10);
        assert_eq!(admin.q("SLOWLOG GET 2").items().len(), 2);
        assert_eq!(admin.q("SLOWLOG RESET").text(), "OK");
        assert!(admin.q("SLOWLOG LEN").int() <= 1);
        assert_eq!(admin.q("CONFIG SET slowlog-log-slower-than -1").text(), "OK");
        admin.q("SLOWLOG RESET");
        admin.q("SET x y");
        assert_eq!(admin.q("SLOWLOG LEN").int(), 0);
    }
}

#[test]
fn slowlog_entry_shape_matches_redis() {
    let long = "x".repeat(200);
    let many: String = (0..40).map(|i| format!(" e{i}")).collect();
    let run = |server: &TestServer| -> Vec<Reply> {
        let mut conn = server.conn();
        conn.q("CONFIG SET slowlog-log-slower-than 0");
        conn.q("SLOWLOG RESET");
        conn.q(&format!("RPUSH list{many}"));
        conn.q(&format!("SET key {long}"));
        let mut entries = conn.q("SLOWLOG GET 2").items();
        entries.iter_mut().map(|e| e.items()[3].clone()).collect()
    };
    let redis = TestServer::redis();
    let want = run(&redis);
    let shoal = TestServer::shoal(4);
    assert_eq!(run(&shoal), want);
    let mut conn = shoal.conn();
    let mut rc = redis.conn();
    for l in ["SLOWLOG GET -2", "SLOWLOG GET a b", "SLOWLOG NOPE", "SLOWLOG GET x"] {
        assert_eq!(conn.raw(&c(l)), rc.raw(&c(l)), "{l}");
    }
}

#[test]
fn latency_monitor_is_truthful() {
    for shards in SHARDS {
        let shoal = TestServer::start_with(Flavor::Shoal { shards }, None, &["--enable-debug-command", "local"]);
        let mut conn = shoal.conn();
        assert_eq!(conn.q("LATENCY LATEST").items().len(), 0);
        assert!(conn.q("LATENCY DOCTOR").text().contains("disabled"));
        assert_eq!(conn.q("LATENCY RESET").int(), 0);
        assert!(!conn.q("LATENCY HELP").items().is_empty());
        assert_eq!(conn.q("CONFIG SET latency-monitor-threshold 100").text(), "OK");
        // A slow command on each of several connections (and so cores).
        for _ in 0..3 {
            let mut other = shoal.conn();
            assert_eq!(other.q("DEBUG SLEEP 0.15").text(), "OK");
        }
        let latest = conn.q("LATENCY LATEST").items();
        assert_eq!(latest.len(), 1);
        let row = latest[0].items();
        assert_eq!(row[0].text(), "command");
        assert!(row[2].int() >= 150 && row[3].int() >= 150, "{row:?}");
        let history = conn.q("LATENCY HISTORY command").items();
        assert!(!history.is_empty() && history.len() <= 3);
        assert!(!conn.q("LATENCY DOCTOR").text().contains("disabled"));
        assert_eq!(conn.q("LATENCY RESET command").int(), 1);
        assert_eq!(conn.q("LATENCY LATEST").items().len(), 0);
    }
}

/// Reads monitor lines until `pred` holds for the lines seen so far.
fn monitor_until(mon: &mut Conn, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pred(&lines) {
        assert!(Instant::now() < deadline, "monitor saw only {lines:?}");
        let r = mon.read_reply();
        lines.push(String::from_utf8_lossy(&r).trim_end().to_string());
    }
    lines
}

#[test]
fn monitor_sees_commands_from_every_core() {
    for shards in SHARDS {
        let shoal = TestServer::shoal(shards);
        let mut mon = shoal.conn();
        assert_eq!(mon.q("MONITOR").text(), "OK");
        let mut conns: Vec<Conn> = (0..CONNS).map(|_| shoal.conn()).collect();
        let mut peers = Vec::new();
        for (i, conn) in conns.iter_mut().enumerate() {
            let info = conn.q("CLIENT INFO").text();
            peers.push(
                info.split(' ')
                    .find_map(|f| f.strip_prefix("addr="))
                    .expect("addr")
                    .to_string(),
            );
            conn.q(&format!("SELECT {}", i % 2));
            conn.q(&format!("SET m{i} 'a b'"));
        }
        let lines = monitor_until(&mut mon, |l| {
            (0..CONNS).all(|i| l.iter().any(|x| x.contains(&format!("\"m{i}\""))))
        });
        for (i, peer) in peers.iter().enumerate() {
            let want = format!(" [{} {peer}] \"SET\" \"m{i}\" \"a b\"", i % 2);
            let line = lines
                .iter()
                .find(|l| l.ends_with(&want))
                .unwrap_or_else(|| panic!("{want} in {lines:?}"));
            let stamp = line
                .strip_prefix('+')
                .and_then(|l| l.split(' ').next())
                .expect("timestamp");
            let (secs, micros) = stamp.split_once('.').expect("secs.micros");
            assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{line}");
        }
        // Admin commands are not shown (CLIENT INFO is not one); EXEC follows its commands.
        assert!(!lines.iter().any(|l| l.contains("\"CLIENT\" \"LIST\"")));
        assert!(lines.iter().any(|l| l.contains("\"CLIENT\" \"INFO\"")));
        let tx = &mut conns[0];
        tx.q("MULTI");
        tx.q("SET tx 1");
        tx.q("GET tx");
        assert_eq!(tx.q("EXEC").items().len(), 2);
        tx.q("CLIENT LIST");
        let lines = monitor_until(&mut mon, |l| l.iter().any(|x| x.ends_with("\"EXEC\"")));
        let tail: Vec<&str> = lines
            .iter()
            .map(|l| l.split_once("] ").map_or("", |(_, cmd)| cmd))
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(
            tail[tail.len() - 4..],
            ["\"MULTI\"", "\"SET\" \"tx\" \"1\"", "\"GET\" \"tx\"", "\"EXEC\""]
        );
    }
}

/// Every container command answers HELP with its subcommands, as redis-server does (in
/// Shoal's own words), and a HELP with arguments is an arity error.
#[test]
fn container_commands_answer_help() {
    let shoal = TestServer::start_with(Flavor::Shoal { shards: 2 }, None, &["--enable-debug-command", "yes"]);
    let mut conn = shoal.conn();
    for name in [
        "CLIENT", "CONFIG", "COMMAND", "PUBSUB", "DEBUG", "MEMORY", "SLOWLOG", "LATENCY", "OBJECT",
    ] {
        let lines = conn.q(&format!("{name} HELP")).items();
        assert!(lines.len() > 4, "{name} HELP: {lines:?}");
        // redis-server's framing: the same first and last lines around each container's own.
        assert_eq!(
            lines[0].text(),
            format!("{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"),
            "{name}"
        );
        assert_eq!(
            lines.last().map(|l| l.text()),
            Some("    Prints this help.".to_string()),
            "{name}"
        );
        let err = conn.q(&format!("{name} HELP extra")).text();
        assert!(err.starts_with("ERR"), "{name} HELP extra: {err}");
    }
}

/// DEBUG is refused unless `enable-debug-command` allows it, as redis-server 7.0 refuses it
/// by default; `local` allows it from loopback; the directive cannot change at run time.
#[test]
fn debug_follows_enable_debug_command() {
    let (redis, shoal) = (TestServer::redis(), TestServer::shoal(2));
    for line in [
        "DEBUG SLEEP 0",
        "DEBUG HELP",
        "DEBUG NOPE",
        "DEBUG",
        "CONFIG GET enable-debug-command",
        "CONFIG SET enable-debug-command yes",
    ] {
        assert_eq!(shoal.conn().raw(&c(line)), redis.conn().raw(&c(line)), "{line}");
    }
    let local = TestServer::start_with(Flavor::Shoal { shards: 2 }, None, &["--enable-debug-command", "local"]);
    assert_eq!(local.conn().q("DEBUG SLEEP 0").text(), "OK");
    // `enable-protected-configs local` lets a loopback client move `dir`, as on redis-server.
    for flavor in [Flavor::Redis, Flavor::Shoal { shards: 2 }] {
        let server = TestServer::start_with(flavor, None, &["--enable-protected-configs", "local"]);
        let mut conn = server.conn();
        let dir = conn.q("CONFIG GET dir").items()[1].text();
        assert_eq!(conn.raw(&c(&format!("CONFIG SET dir {dir}"))), b"+OK\r\n", "{flavor:?}");
    }
}
