//! Operating Shoal the way an operator runs redis-server (issue 3): start-up from Debian's
//! stock redis.conf and from conf/shoal.conf, config-file errors, stdin and command-line
//! overrides, daemonize with pidfile and logfile, systemd readiness, AUTH / HELLO AUTH /
//! protected mode, CONFIG SET / GET / REWRITE / RESETSTAT, INFO and `redis-cli --stat`,
//! maxclients and idle timeouts.
//!
//! Wherever redis-server 7.0.15 can be started the same way it is, and the replies, error
//! layouts and log lines are compared with it.

mod common;

use std::collections::BTreeMap;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Conn, Flavor, Launch, Reply, TempDir, TestServer, require_tool};

const SHOAL: Flavor = Flavor::Shoal { shards: 2 };

/// Debian's stock redis.conf: the installed one, else the copy kept in the repository.
fn debian_conf() -> String {
    std::fs::read_to_string("/etc/redis/redis.conf")
        .or_else(|_| std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/conf/redis-debian.conf")))
        .expect("Debian redis.conf")
}

/// Replaces the value of every (uncommented) line whose directive is `name`.
fn set_line(text: &str, name: &str, value: &str) -> String {
    let mut out = String::new();
    for l in text.lines() {
        if l.split_whitespace().next() == Some(name) {
            out.push_str(&format!("{name} {value}\n"));
        } else {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// The Debian file made self-contained: its port, dir, pidfile and logfile point into `dir`,
/// and it stays in the foreground.
fn debian_in(dir: &Path, port: u16) -> String {
    let d = dir.display();
    let mut t = debian_conf();
    t = set_line(&t, "port", &port.to_string());
    t = set_line(&t, "daemonize", "no");
    t = set_line(&t, "pidfile", &format!("{d}/server.pid"));
    t = set_line(&t, "logfile", &format!("{d}/file.log"));
    t = set_line(&t, "dir", &d.to_string());
    t
}

/// CONFIG GET of several names as a name -> value map (Redis returns them in hash order).
fn config_map(conn: &mut Conn, names: &[&str]) -> BTreeMap<String, String> {
    let mut args = vec![b"CONFIG".to_vec(), b"GET".to_vec()];
    args.extend(names.iter().map(|n| n.as_bytes().to_vec()));
    let items = conn.call(&args).items();
    items.chunks(2).map(|p| (p[0].text(), p[1].text())).collect()
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// Directives in Debian's file that Shoal accepts without implementing them.
const DEBIAN_IGNORED: &[&str] = &[
    "always-show-logo",
    "set-proc-title",
    "proc-title-template",
    "rdb-del-sync-files",
    "repl-disable-tcp-nodelay",
    "acllog-max-len",
    "lazyfree-lazy-eviction",
    "lazyfree-lazy-server-del",
    "lazyfree-lazy-user-del",
    "lazyfree-lazy-user-flush",
    "oom-score-adj",
    "oom-score-adj-values",
    "disable-thp",
    "appendfilename",
    "appenddirname",
    "appendfsync",
    "no-appendfsync-on-rewrite",
    "auto-aof-rewrite-percentage",
    "auto-aof-rewrite-min-size",
    "aof-load-truncated",
    "aof-use-rdb-preamble",
    "aof-timestamp-enabled",
    "stream-node-max-bytes",
    "stream-node-max-entries",
    "activerehashing",
    "dynamic-hz",
    "aof-rewrite-incremental-fsync",
    "rdb-save-incremental-fsync",
    "jemalloc-bg-thread",
];

/// Values both servers must report identically after reading the Debian file.
const DEBIAN_COMPARED: &[&str] = &[
    "bind",
    "protected-mode",
    "tcp-backlog",
    "timeout",
    "tcp-keepalive",
    "daemonize",
    "loglevel",
    "databases",
    "save",
    "stop-writes-on-bgsave-error",
    "rdbcompression",
    "dbfilename",
    "replica-serve-stale-data",
    "repl-diskless-sync-delay",
    "repl-diskless-load",
    "acllog-max-len",
    "oom-score-adj-values",
    "appendonly",
    "appendfilename",
    "appendfsync",
    "auto-aof-rewrite-min-size",
    "slowlog-log-slower-than",
    "notify-keyspace-events",
    "hash-max-listpack-entries",
    "list-max-listpack-size",
    "client-output-buffer-limit",
    "hz",
    "dynamic-hz",
    "proc-title-template",
    "maxmemory",
    "maxmemory-policy",
];

#[test]
fn debian_redis_conf_starts_like_redis() {
    let dirs = [TempDir::new("ops-deb-shoal"), TempDir::new("ops-deb-redis")];
    let mut maps = Vec::new();
    for (flavor, dir) in [SHOAL, Flavor::Redis].into_iter().zip(&dirs) {
        let d = dir.path().to_path_buf();
        let server = TestServer::launch(flavor, &d, |port| {
            // One ignored directive twice: still one warning.
            let text = debian_in(&d, port) + "appendfsync everysec\n";
            std::fs::write(d.join("redis.conf"), text).expect("write conf");
            Launch::args(&["redis.conf"])
        });
        let mut conn = server.conn();
        assert_eq!(conn.q("PING"), Reply::Simple("PONG".into()));
        let own = config_map(&mut conn, &["port", "dir", "pidfile", "logfile"]);
        assert_eq!(own["port"], server.port.to_string());
        let canon = std::fs::canonicalize(&d).expect("canonical dir");
        assert_eq!(own["dir"], canon.display().to_string());
        assert_eq!(own["pidfile"], format!("{}/server.pid", d.display()));
        assert_eq!(own["logfile"], format!("{}/file.log", d.display()));
        maps.push(config_map(&mut conn, DEBIAN_COMPARED));
        if flavor == SHOAL {
            let log = std::fs::read_to_string(d.join("file.log")).expect("shoal log file");
            let warned: Vec<String> = log
                .lines()
                .filter(|l| l.contains("accepted for compatibility but not implemented"))
                .map(|l| l.split('\'').nth(1).unwrap_or("").to_string())
                .collect();
            for name in DEBIAN_IGNORED {
                let n = warned.iter().filter(|w| w == name).count();
                assert_eq!(n, 1, "{name} warned {n} times; log:\n{log}");
            }
            assert_eq!(warned.len(), DEBIAN_IGNORED.len(), "unexpected warnings: {warned:?}");
            assert!(log.lines().all(log_line_ok), "log layout:\n{log}");
        }
    }
    assert_eq!(
        maps[0], maps[1],
        "CONFIG GET after Debian's redis.conf (left: shoal, right: redis)"
    );
    assert_eq!(maps[0]["save"], "3600 1 300 100 60 10000");
    assert_eq!(maps[0]["bind"], "127.0.0.1 -::1");
}

#[test]
fn shoal_conf_starts_without_warnings() {
    let dir = TempDir::new("ops-shoalconf");
    let d = dir.path().to_path_buf();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/conf/shoal.conf")).expect("shoal.conf");
    std::fs::write(d.join("shoal.conf"), text).expect("write");
    // `dir ./` resolves against the working directory, the temp dir.
    let server = TestServer::launch(SHOAL, &d, |port| {
        Launch::args(&[
            "shoal.conf",
            "--port",
            &port.to_string(),
            "--shards",
            "2",
            "--core-spin-us",
            "20",
        ])
    });
    let mut conn = server.conn();
    assert_eq!(conn.q("PING"), Reply::Simple("PONG".into()));
    let m = config_map(
        &mut conn,
        &[
            "hash-max-listpack-entries",
            "repl-backlog-size",
            "save",
            "bind",
            "dir",
            "shards",
            "core-spin-us",
            "maxclients",
        ],
    );
    assert_eq!(m["hash-max-listpack-entries"], "128");
    assert_eq!(m["repl-backlog-size"], "1048576");
    assert_eq!(m["save"], "3600 1 300 100 60 10000");
    assert_eq!(m["bind"], "127.0.0.1 -::1");
    assert_eq!(m["shards"], "2");
    assert_eq!(m["core-spin-us"], "20");
    assert_eq!(m["maxclients"], "10000");
    assert_eq!(m["dir"], std::fs::canonicalize(&d).expect("dir").display().to_string());
    let log = server.log();
    assert!(!log.contains(" # "), "shoal.conf produced warnings:\n{log}");
    assert!(log.lines().all(log_line_ok), "log layout:\n{log}");
}

/// Runs a program that is expected to exit on its own; returns (exit code, stdout + stderr).
fn run_to_exit(program: &Path, dir: &Path, args: &[&str], stdin: &[u8]) -> (Option<i32>, String) {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    if let Some(mut p) = child.stdin.take() {
        use std::io::Write;
        let _ = p.write_all(stdin);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{} {args:?} did not exit", program.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("output");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

#[test]
fn config_errors_are_fatal_with_redis_layout() {
    let dir = TempDir::new("ops-errors");
    let d = dir.path();
    let base = debian_in(d, 1);
    let lines: Vec<&str> = base.lines().collect();
    // A typo on a known line, and a bad value, each at a line of the real file.
    let typo_at = lines.iter().position(|l| l.starts_with("tcp-keepalive")).expect("line") + 1;
    let value_at = lines.iter().position(|l| l.starts_with("port ")).expect("line") + 1;
    let typo = base.replace("tcp-keepalive 300", "tcp-keepalivee 300");
    let bad_value = base.replace("port 1\n", "port abc\n");
    std::fs::write(d.join("typo.conf"), typo).expect("write");
    std::fs::write(d.join("value.conf"), bad_value).expect("write");
    let shoal = PathBuf::from(env!("CARGO_BIN_EXE_shoal-server"));
    let redis = require_tool("redis-server");
    let cases: [(&[&str], &[u8], String); 4] = [
        (
            &["typo.conf"],
            b"",
            format!("at line {typo_at}\n>>> 'tcp-keepalivee 300'\n"),
        ),
        (&["value.conf"], b"", format!("at line {value_at}\n>>> 'port abc'\n")),
        (
            &["-", "--maxmemory", "lots"],
            b"port 7\nhz 12\n",
            "at line 4\n>>> 'maxmemory \"lots\"'".into(),
        ),
        (&["--loglevel", "loud"], b"", ">>> 'loglevel \"loud\"'".into()),
    ];
    for (args, stdin, expect) in cases {
        let (code_s, out_s) = run_to_exit(&shoal, d, args, stdin);
        let (code_r, out_r) = run_to_exit(&redis, d, args, stdin);
        assert_ne!(code_s, Some(0), "shoal {args:?} must fail");
        assert_eq!(code_s, code_r, "exit code for {args:?}");
        assert!(
            out_s.contains("*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***"),
            "{out_s}"
        );
        assert!(out_s.contains(&expect), "{args:?}: {out_s}");
        // Redis also logs "Reading config from stdin" first; the error block is identical.
        let block = |s: &str| s[s.find("\n*** FATAL").unwrap_or(0)..].to_string();
        assert_eq!(block(&out_s), block(&out_r), "error output for {args:?} (left: shoal)");
    }
}

#[test]
fn stdin_config_and_command_line_overrides() {
    let dirs = [TempDir::new("ops-stdin-shoal"), TempDir::new("ops-stdin-redis")];
    let mut seen = Vec::new();
    for (flavor, dir) in [SHOAL, Flavor::Redis].into_iter().zip(&dirs) {
        let d = dir.path().to_path_buf();
        std::fs::write(
            d.join("base.conf"),
            "maxclients 100\nhz 15\nbind 127.0.0.1\nsave \"\"\n",
        )
        .expect("w");
        // Config from stdin only, with an override of a line it contains.
        let s1 = TestServer::launch(flavor, &d, |port| Launch {
            stdin: Some(b"port 1\nbind 127.0.0.1\nmaxmemory 5mb\nhz 20\nsave \"\"\n".to_vec()),
            ..Launch::args(&["-", "--port", &port.to_string(), "--hz", "30"])
        });
        let m1 = config_map(&mut s1.conn(), &["maxmemory", "hz", "port"]);
        assert_eq!(m1["port"], s1.port.to_string());
        drop(s1);
        // A file, then stdin (its last argument), then overrides: later lines win.
        let s2 = TestServer::launch(flavor, &d, |port| Launch {
            stdin: Some(b"hz 40\ntimeout 7\n".to_vec()),
            ..Launch::args(&["base.conf", "--port", &port.to_string(), "--maxclients", "200", "-"])
        });
        let m2 = config_map(&mut s2.conn(), &["maxclients", "hz", "timeout"]);
        seen.push((m1, m2));
    }
    assert_eq!(seen[0].0["maxmemory"], "5242880");
    assert_eq!(seen[0].0["hz"], "30");
    assert_eq!(seen[0].1["maxclients"], "200");
    assert_eq!(seen[0].1["hz"], "40");
    assert_eq!(seen[0].1["timeout"], "7");
    let strip = |m: &BTreeMap<String, String>| {
        let mut m = m.clone();
        m.remove("port");
        m
    };
    assert_eq!(strip(&seen[0].0), strip(&seen[1].0), "stdin config (left: shoal)");
    assert_eq!(seen[0].1, seen[1].1, "file + stdin + overrides (left: shoal)");
}

/// A Redis log line: `pid:role dd Mon yyyy hh:mm:ss.mmm <mark> message`, or the line Redis
/// writes from its signal handler, `pid:signal-handler (unix time) message`.
fn log_line_ok(line: &str) -> bool {
    let Some((pid, rest)) = line.split_once(':') else {
        return false;
    };
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    if let Some(r) = rest.strip_prefix("signal-handler (") {
        return r
            .split_once(") ")
            .is_some_and(|(t, m)| t.parse::<u64>().is_ok() && !m.is_empty());
    }
    let f: Vec<&str> = rest.splitn(7, ' ').collect();
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let time = f.get(4).map(|t| t.as_bytes()).unwrap_or(b"");
    f.len() == 7
        && matches!(f[0], "M" | "S" | "C" | "X")
        && f[1].len() == 2
        && f[1].parse::<u8>().is_ok()
        && months.contains(&f[2])
        && f[3].len() == 4
        && time.len() == 12
        && time[2] == b':'
        && time[5] == b':'
        && time[8] == b'.'
        && matches!(f[5], "." | "-" | "*" | "#")
        && !f[6].is_empty()
}

/// Kills exactly `pid` (one we read from a pidfile of a server we started).
fn kill_pid(pid: i32, sig: i32) {
    let status = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{sig} {pid}");
}

fn pid_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[test]
fn daemonize_pidfile_and_logfile_round_trip() {
    for flavor in [SHOAL, Flavor::Redis] {
        let dir = TempDir::new("ops-daemon");
        let d = dir.path();
        let pidfile = d.join("daemon.pid");
        let logfile = d.join("daemon.log");
        let port = common::free_port();
        let launcher = Command::new(flavor.program())
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--daemonize",
                "yes",
            ])
            .arg("--pidfile")
            .arg(&pidfile)
            .arg("--logfile")
            .arg(&logfile)
            .arg("--dir")
            .arg(d)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("launch");
        // The launcher returns at once; the daemon lives on.
        assert!(launcher.success(), "{flavor:?} launcher: {launcher}");
        assert!(wait_until(Duration::from_secs(10), || pidfile.exists()), "no pidfile");
        let mut pid = 0;
        assert!(wait_until(Duration::from_secs(5), || {
            pid = std::fs::read_to_string(&pidfile)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0);
            pid > 0
        }));
        // From here on the daemon must be stopped whatever happens.
        struct Reaper(i32);
        impl Drop for Reaper {
            fn drop(&mut self) {
                if pid_alive(self.0) {
                    let _ = Command::new("kill").args(["-9", &self.0.to_string()]).status();
                }
            }
        }
        let _reaper = Reaper(pid);
        assert!(pid_alive(pid));
        let mut ok = false;
        wait_until(Duration::from_secs(10), || {
            ok = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            ok
        });
        assert!(ok, "daemon does not listen");
        let mut conn = Conn::connect(port);
        assert_eq!(conn.q("SET k v"), Reply::Simple("OK".into()));
        let info = conn.q("INFO server").text();
        assert!(info.contains(&format!("process_id:{pid}\r\n")), "INFO pid vs pidfile");
        drop(conn);
        kill_pid(pid, 15);
        assert!(
            wait_until(Duration::from_secs(10), || !pid_alive(pid)),
            "daemon did not exit on SIGTERM"
        );
        assert!(!pidfile.exists(), "pidfile left behind");
        let log = std::fs::read_to_string(&logfile).expect("log file");
        assert!(log.lines().all(log_line_ok), "{flavor:?} log layout:\n{log}");
        for want in [
            format!("{pid}:M "),
            "Ready to accept connections".into(),
            "Received SIGTERM scheduling shutdown...".into(),
            "# User requested shutdown...".into(),
            "* Removing the pid file.".into(),
            "is now ready to exit, bye bye...".into(),
        ] {
            assert!(log.contains(&want), "{flavor:?} log lacks {want:?}:\n{log}");
        }
    }
}

#[test]
fn systemd_notify_socket_gets_ready() {
    for flavor in [SHOAL, Flavor::Redis] {
        let dir = TempDir::new("ops-notify");
        let sock_path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&sock_path).expect("bind notify socket");
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let path = sock_path.display().to_string();
        let d = dir.path().to_path_buf();
        let server = TestServer::launch(flavor, &d, |port| Launch {
            env: vec![("NOTIFY_SOCKET".into(), path.clone())],
            ..Launch::args(&[
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--supervised",
                "systemd",
                // Supervised, the server stays in the foreground all the same (the launch
                // fails if this process exits).
                "--daemonize",
                "yes",
            ])
        });
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + Duration::from_secs(10);
        while !got.iter().any(|m: &String| m.lines().any(|l| l == "READY=1")) && Instant::now() < deadline {
            if let Ok(n) = sock.recv(&mut buf) {
                got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        let all: Vec<&str> = got.iter().flat_map(|m| m.lines()).collect();
        assert!(all.contains(&"READY=1"), "{flavor:?}: {got:?}");
        assert!(
            all.contains(&"STATUS=Ready to accept connections"),
            "{flavor:?}: {got:?}"
        );
        // READY means listening.
        assert_eq!(server.conn().q("PING"), Reply::Simple("PONG".into()));
        let mut server = server;
        kill_pid(server.pid() as i32, 15);
        server.wait_exit(Duration::from_secs(10));
        let mut stopping = false;
        while let Ok(n) = sock.recv(&mut buf) {
            stopping |= String::from_utf8_lossy(&buf[..n]).lines().any(|l| l == "STOPPING=1");
        }
        assert!(stopping, "{flavor:?} sent no STOPPING=1");
    }
}

#[test]
fn upstart_supervision_stops_until_continued() {
    for flavor in [SHOAL, Flavor::Redis] {
        let dir = TempDir::new("ops-upstart");
        let port = common::free_port();
        let mut child = Command::new(flavor.program())
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--supervised", "upstart"])
            .arg("--dir")
            .arg(dir.path())
            .env("UPSTART_JOB", "shoal-test")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let pid = child.id() as i32;
        let stopped = wait_until(Duration::from_secs(10), || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") T ")
        });
        if stopped {
            kill_pid(pid, 18); // SIGCONT, as upstart sends it
        }
        let answered = wait_until(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        let pong = answered && Conn::connect(port).q("PING") == Reply::Simple("PONG".into());
        // Child::kill signals exactly this pid.
        let _ = child.kill();
        let _ = child.wait();
        assert!(stopped, "{flavor:?} did not stop itself for upstart");
        assert!(pong, "{flavor:?} does not serve after SIGCONT");
    }
}

#[path = "operations/access.rs"]
mod access;
#[path = "operations/eviction.rs"]
mod eviction;
#[path = "operations/memory.rs"]
mod memory;
#[path = "operations/runtime_config.rs"]
mod runtime_config;
