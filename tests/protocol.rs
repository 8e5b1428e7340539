//! The wire protocol against redis-server 7.0: inline commands, long pipelines, malformed
//! requests (exact error text, only the offending connection closed), and the connection and
//! server commands (HELLO, PING, ECHO, SELECT, unknown commands, CONFIG GET, TIME).

mod common;

use std::io::Read;
use std::time::Duration;

use common::*;

/// Reads until the server closes the connection (or 3s of silence). Returns the bytes and
/// whether the connection was closed.
fn read_until_close(conn: &mut Conn) -> (Vec<u8>, bool) {
    conn.stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let mut all = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match conn.stream.read(&mut chunk) {
            Ok(0) => return (all, true),
            Ok(n) => all.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (all, true),
            Err(_) => return (all, false),
        }
    }
}

#[test]
fn inline_commands() {
    let redis = TestServer::redis();
    for shards in [1, 4] {
        let shoal = TestServer::shoal(shards);
        let script: &[&[u8]] = &[
            b"PING\r\n",
            b"ping\n",
            b"PING hello\r\n",
            b"SET k \"a b\"\r\n",
            b"GET k\r\n",
            b"SET k2 'it\\'s'\r\n",
            b"GET k2\r\n",
            b"ECHO \"\\x41\\x42\\n\\t\"\r\n",
            b"   \r\n",
            b"\r\n",
            b"SET   spaced    out  \r\n",
            b"GET spaced\r\n",
            b"ECHO \"\"\r\n",
            b"MSET a 1 b 2\r\nMGET a b\r\n",
            b"INCR a\r\n",
            b"NOSUCHCMD x y\r\n",
            b"GET\r\n",
        ];
        let mut r = redis.conn();
        let mut s = shoal.conn();
        r.call(&c("FLUSHALL"));
        for bytes in script {
            r.send_raw(bytes);
            s.send_raw(bytes);
            // A blank line has no reply; PING after it shows nothing was left behind.
            let probe = b"PING probe\r\n";
            r.send_raw(probe);
            s.send_raw(probe);
            loop {
                let (rr, sr) = (r.read_reply(), s.read_reply());
                assert_eq!(lossy(&sr), lossy(&rr), "inline {:?} (shards {shards})", lossy(bytes));
                if rr == b"$5\r\nprobe\r\n" {
                    break;
                }
            }
        }
    }
}

/// Sends `bytes` on a fresh connection to each server and compares everything it gets back
/// before the server closes the connection.
fn compare_malformed(redis: &TestServer, shoal: &TestServer, bytes: &[u8], expect_close: bool) -> Vec<u8> {
    let mut r = redis.conn();
    let mut s = shoal.conn();
    r.send_raw(bytes);
    s.send_raw(bytes);
    let (rb, rclosed) = read_until_close(&mut r);
    let (sb, sclosed) = read_until_close(&mut s);
    let shown = lossy(&bytes[..bytes.len().min(80)]);
    assert_eq!(lossy(&sb), lossy(&rb), "reply to malformed {shown:?}");
    assert_eq!(rclosed, expect_close, "redis close after {shown:?}");
    assert_eq!(
        sclosed, rclosed,
        "shoal closes the connection after {shown:?} like redis"
    );
    sb
}

#[test]
fn malformed_requests_get_redis_errors_and_close_only_that_connection() {
    let redis = TestServer::redis();
    for shards in [1, 4] {
        let shoal = TestServer::shoal(shards);
        let mut keeper = shoal.conn();
        for i in 0..50 {
            keeper.call(&cmd!("SET", format!("keep:{i}"), i));
        }
        let big_inline = vec![b'a'; 70 * 1024];
        // redis-server's newline search stops at a NUL: a line with one never completes and
        // fails only once it is too big. (Shoal's splitter once looped forever on it,
        // allocating until the process died.)
        let mut nul_inline = b"ECHO a\0b\r\nPING\r\n".to_vec();
        nul_inline.resize(70 * 1024, b'x');
        let cases: Vec<(&[u8], &str)> = vec![
            (b"*x\r\n", "-ERR Protocol error: invalid multibulk length\r\n"),
            (b"*1\r\n+a\r\n", "-ERR Protocol error: expected '$', got '+'\r\n"),
            (b"*1\r\n$-5\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
            (b"*1\r\n$abc\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
            (b"*3000000000\r\n", "-ERR Protocol error: invalid multibulk length\r\n"),
            (
                b"*2147483647\r\n$536870913\r\n",
                "-ERR Protocol error: invalid bulk length\r\n",
            ),
            (b"*2\r\n$536870913\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
            (
                b"SET k \"abc\r\n",
                "-ERR Protocol error: unbalanced quotes in request\r\n",
            ),
            (
                b"SET k 'abc\r\n",
                "-ERR Protocol error: unbalanced quotes in request\r\n",
            ),
            (
                b"SET k \"a\"b\r\n",
                "-ERR Protocol error: unbalanced quotes in request\r\n",
            ),
            (
                b"PING\r\n*2\r\n$3\r\nGET\r\nxx\r\n",
                "+PONG\r\n-ERR Protocol error: expected '$', got 'x'\r\n",
            ),
            (
                b"*1\r\n$4\r\nPING\r\n*-\r\n",
                "+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n",
            ),
            (&big_inline, "-ERR Protocol error: too big inline request\r\n"),
            (&nul_inline, "-ERR Protocol error: too big inline request\r\n"),
        ];
        for (bytes, want) in &cases {
            let got = compare_malformed(&redis, &shoal, bytes, true);
            assert_eq!(lossy(&got), *want);
        }
        // Harmless oddities that do not close: empty multibulk, *-1, a blank line.
        for bytes in [&b"*0\r\nPING\r\n"[..], b"*-1\r\nPING\r\n", b"\r\nPING\r\n"] {
            let mut r = redis.conn();
            let mut s = shoal.conn();
            r.send_raw(bytes);
            s.send_raw(bytes);
            assert_eq!(lossy(&s.read_reply()), lossy(&r.read_reply()));
            assert_eq!(s.q("PING").text(), "PONG");
        }
        // The other connection never noticed, and the data is intact.
        assert_eq!(keeper.q("DBSIZE").int(), 50);
        for i in 0..50 {
            let v = keeper.call(&cmd!("GET", format!("keep:{i}"))).bulk();
            assert_eq!(v, Some(i.to_string().into_bytes()));
        }
        assert_eq!(shoal.conn().q("PING").text(), "PONG");
    }
}

/// A request split at every byte boundary still parses.
#[test]
fn requests_split_across_writes() {
    let shoal = TestServer::shoal(2);
    let mut s = shoal.conn();
    let req = encode(&cmd!("SET", "split", "value with\r\nCRLF inside"));
    for b in &req {
        s.send_raw(std::slice::from_ref(b));
        std::thread::sleep(Duration::from_micros(200));
    }
    assert_eq!(s.read_reply(), b"+OK\r\n");
    assert_eq!(s.raw(&c("GET split")), b"$23\r\nvalue with\r\nCRLF inside\r\n");
    // A large value arrives in many reads.
    let big = vec![b'z'; 3 * 1024 * 1024 + 17];
    assert_eq!(s.raw(&cmd!("SET", "big", &big)), b"+OK\r\n");
    assert_eq!(s.q("STRLEN big").int(), big.len() as i64);
    assert_eq!(s.call(&c("GET big")).bulk().unwrap(), big);
}

/// Builds `n` pipelined commands over keys spread across shards, deterministically.
fn mixed_pipeline(n: usize) -> Vec<Vec<Vec<u8>>> {
    let mut cmds = Vec::with_capacity(n);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let k = |j: u64| format!("pk:{}", j % 97);
        let ctr = |j: u64| format!("ctr:{}", j % 31);
        let cmd = match x % 8 {
            // Every fourth SET has a value longer than an inline argument (23 bytes), so a
            // batch mixes arguments copied inline and slices of the read buffer.
            0 if i % 4 == 0 => cmd!("SET", k(x >> 8), format!("long-v{i}-{}", "x".repeat(30))),
            0 => cmd!("SET", k(x >> 8), format!("v{i}")),
            1 => cmd!("GET", k(x >> 8)),
            2 | 3 => cmd!("INCR", ctr(x >> 8)),
            4 => cmd!("DEL", k(x >> 8), ctr(x >> 20)),
            5 => cmd!("MGET", k(x >> 8), k(x >> 16), ctr(x >> 24), k(x >> 32)),
            6 => cmd!(
                "MSET",
                k(x >> 8),
                format!("m{i}"),
                k(x >> 16),
                format!("n{i}"),
                k(x >> 24),
                "z"
            ),
            _ => cmd!("EXISTS", k(x >> 8), ctr(x >> 12), k(x >> 40)),
        };
        cmds.push(cmd);
    }
    cmds
}

/// Writes all of `cmds` in one write (from a second thread, so neither side blocks) and
/// returns the replies in order.
fn pipeline(server: &TestServer, cmds: &[Vec<Vec<u8>>]) -> Vec<Vec<u8>> {
    let mut conn = server.conn();
    let bytes: Vec<u8> = cmds.iter().flat_map(|c| encode(c)).collect();
    let mut writer = conn.stream.try_clone().expect("clone stream");
    let t = std::thread::spawn(move || {
        use std::io::Write;
        writer.write_all(&bytes).expect("pipeline write");
    });
    let replies = (0..cmds.len()).map(|_| conn.read_reply()).collect();
    t.join().expect("writer thread");
    replies
}

#[test]
fn pipeline_of_10000_mixed_commands() {
    let cmds = mixed_pipeline(10_000);
    let redis = TestServer::redis();
    let want = pipeline(&redis, &cmds);
    for shards in [1, 4] {
        let shoal = TestServer::shoal(shards);
        let got = pipeline(&shoal, &cmds);
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                lossy(g),
                lossy(w),
                "reply {i} to `{}` (shards {shards}) differs",
                show(&cmds[i])
            );
        }
        // And the final state matches too.
        let mut s = shoal.conn();
        let mut r = redis.conn();
        assert_eq!(
            lossy(&sorted_form(&s.raw(&c("KEYS *")))),
            lossy(&sorted_form(&r.raw(&c("KEYS *"))))
        );
    }
}

#[test]
fn ping_echo_select_quit_reset_unknown() {
    diff(|p| {
        p.lines(&[
            "PING",
            "PING hi",
            "PING a b",
            "ping",
            "PiNg x",
            "ECHO",
            "ECHO hello",
            "ECHO a b",
            "ECHO ''",
            "SELECT 1",
            "SELECT 0",
            "SELECT 16",
            "SELECT x",
            "SELECT 99999999999999999999",
            "NOSUCH",
            "NOSUCH a b c",
            "nosuch 'a b' c",
            "GET",
            "gEt",
            "AUTH x",
            "AUTH a b c",
            "AUTH default anything",
            "AUTH nouser pass",
            "CLIENT SETNAME myname",
            "CLIENT GETNAME",
            "CLIENT SETNAME 'a b'",
            "CLIENT SETNAME ''",
            "CLIENT GETNAME",
            "CLIENT",
            "SELECT 3",
            "SET x 1",
            "RESET",
            "GET x",
            "RESET extra",
        ]);
        // Long arguments in the unknown-command error.
        p.same(&cmd!("NOSUCH", "x".repeat(300)));
        p.same(&cmd!("x".repeat(300)));
        p.s("QUIT");
        assert!(p.shoal.closed_by_server(), "QUIT closes the connection");
        assert!(p.redis.closed_by_server());
    });
}

#[test]
fn hello_versions() {
    diff(|p| {
        p.lines(&[
            "HELLO",
            "HELLO 2",
            "HELLO 4",
            "HELLO 1",
            "HELLO abc",
            "HELLO 3 BOGUS",
            "HELLO 3 SETNAME",
            "HELLO 3 AUTH default",
            "HELLO 3 AUTH nouser pw",
            "HELLO 2 SETNAME 'bad name'",
            "HELLO 2 SETNAME good AUTH default pw",
            "CLIENT GETNAME",
            "HELLO 3",
            "PING",
            "GET missing",
            "HELLO",
            "HELLO 2",
            "GET missing",
            "HELLO 3",
            "RESET",
            "GET missing",
        ]);
        // Field by field, HELLO 3 says what Redis 7.0.15 says (the id is per server).
        p.s("HELLO 3");
        let r = Reply::parse(&p.shoal.raw(&c("HELLO 3")));
        let Reply::Map(pairs) = r else {
            panic!("HELLO 3 is a map")
        };
        let get = |k: &str| pairs.iter().find(|(a, _)| a.text() == k).map(|(_, v)| v.clone());
        assert_eq!(get("server").unwrap().text(), "redis");
        assert_eq!(get("version").unwrap().text(), "7.0.15");
        assert_eq!(get("proto").unwrap(), Reply::Int(3));
        assert!(get("id").unwrap().int() > 0);
        assert_eq!(get("mode").unwrap().text(), "standalone");
        assert_eq!(get("role").unwrap().text(), "master");
        assert_eq!(get("modules").unwrap(), Reply::Array(vec![]));
    });
}

#[test]
fn config_get_and_time() {
    diff(|p| {
        for name in [
            "maxmemory",
            "maxmemory-policy",
            "databases",
            "timeout",
            "save",
            "appendonly",
            "proto-max-bulk-len",
            "nosuchparam",
            "MAXMEMORY",
        ] {
            p.same(&cmd!("CONFIG", "GET", name));
        }
        p.lines(&["CONFIG", "TIME extra"]);
        // Patterns and several names: the same pairs, in any order.
        for args in [
            c("CONFIG GET maxmemory*"),
            c("CONFIG GET databases timeout databases"),
            c("CONFIG GET hash-max-*"),
        ] {
            let (r, s) = p.both(&args);
            let pairs = |x: Reply| -> Vec<(String, String)> {
                let mut v: Vec<(String, String)> = match x {
                    Reply::Array(items) => items.chunks(2).map(|kv| (kv[0].text(), kv[1].text())).collect(),
                    Reply::Map(m) => m.into_iter().map(|(k, v)| (k.text(), v.text())).collect(),
                    other => panic!("CONFIG GET reply {other:?}"),
                };
                v.sort();
                v
            };
            assert_eq!(pairs(s), pairs(r), "{}", show(&args));
        }
        for _ in 0..2 {
            let t = p.shoal.q("TIME").items();
            assert_eq!(t.len(), 2, "TIME has two elements");
            let secs: u64 = t[0].text().parse().expect("seconds are digits");
            let micros: u64 = t[1].text().parse().expect("micros are digits");
            assert!(micros < 1_000_000);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            assert!(secs.abs_diff(now) <= 2, "TIME {secs} vs clock {now}");
            assert!(matches!(t[0], Reply::Bulk(_)) && matches!(t[1], Reply::Bulk(_)));
            p.s("HELLO 3");
        }
    });
}

/// Known divergences outside the files the test owner may fix (src/command/server.rs and the
/// CLIENT handler): Redis 7.0 treats CONFIG and CLIENT as containers, so an unknown subcommand
/// is "unknown subcommand 'X'" and a bad arity names `config|get`. Run with `--ignored`.
#[test]
#[ignore = "known divergence: container subcommand error texts (CONFIG, CLIENT)"]
fn known_divergence_container_subcommand_errors() {
    diff(|p| {
        p.lines(&[
            "CONFIG GET",
            "CONFIG BOGUS",
            "CONFIG SET maxmemory",
            "CLIENT BOGUS",
            "CLIENT GETNAME extra",
        ]);
    });
}

/// Known divergence in `command/error.rs` (not this test owner's file): Redis 7.0 quotes the
/// arguments of an unknown command until the quoted text reaches 128 bytes, cutting the last
/// one; Shoal quotes up to 16 whole arguments. Run with `--ignored`.
#[test]
#[ignore = "known divergence: unknown-command error quotes args up to 128 bytes in Redis"]
fn known_divergence_unknown_command_args() {
    diff(|p| {
        let mut many = cmd!("NOSUCH");
        for i in 0..40 {
            many.push(format!("arg{i}").into_bytes());
        }
        p.same(&many);
        p.same(&cmd!("NOSUCH", "a".repeat(100), "b".repeat(100)));
    });
}

/// Clients that send one request and half-close at once, the request and the end of stream
/// in one segment (corked), get their reply and are dropped, as by redis-server: an end of
/// stream that arrives with the last data is not lost behind it.
#[test]
fn a_request_with_the_end_of_stream_is_answered_and_the_connection_dropped() {
    use std::io::Write;
    for server in [TestServer::shoal(2), TestServer::redis()] {
        let mut clients: Vec<std::net::TcpStream> = (0..100)
            .map(|_| {
                let socket = std::net::TcpStream::connect(server.addr()).unwrap();
                socket2::SockRef::from(&socket).set_tcp_cork(true).unwrap();
                socket
            })
            .collect();
        for (i, socket) in clients.iter_mut().enumerate() {
            socket
                .write_all(&encode(&cmd!("SET", format!("eos:{i}"), "v")))
                .unwrap();
            socket.shutdown(std::net::Shutdown::Write).unwrap();
        }
        for socket in &mut clients {
            socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut reply = Vec::new();
            socket
                .read_to_end(&mut reply)
                .expect("the server closes after its reply");
            assert_eq!(reply, b"+OK\r\n");
        }
        let mut conn = server.conn();
        assert_eq!(conn.info("clients")["connected_clients"], "1");
    }
}
