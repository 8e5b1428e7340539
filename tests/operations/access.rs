//! Who may talk to the server: `requirepass` with AUTH, HELLO AUTH and `redis-cli -a`,
//! protected mode seen from a non-loopback address, `maxclients` and the idle `timeout`.

use std::io::Read;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{SHOAL, common};
use common::{Flavor, Pair, Reply, TestServer, require_tool};

const PASS: &str = "s3cret";

#[test]
fn auth_and_hello_auth_match_redis() {
    let redis = TestServer::start_with(Flavor::Redis, None, &["--requirepass", PASS]);
    let shoal = TestServer::start_with(SHOAL, None, &["--requirepass", PASS]);
    let mut p = Pair::new(&redis, &shoal);
    p.lines(&[
        "PING",
        "GET a",
        "SET a b",
        "AUTH wrong",
        "AUTH default wrong",
        "AUTH bob s3cret",
        "AUTH a b c",
        "HELLO 3",
        "HELLO 2 SETNAME x",
        "HELLO 3 AUTH default wrong",
        "HELLO 3 AUTH default",
        "HELLO 4 AUTH default s3cret",
        "HELLO abc",
        "PING",
        "HELLO 3 AUTH default s3cret SETNAME x",
        "PING",
        "CLIENT GETNAME",
        // A failed AUTH leaves an authenticated connection authenticated.
        "AUTH wrong",
        "GET a",
        "HELLO 2",
    ]);
    let mut p = Pair::new(&redis, &shoal);
    p.lines(&[
        "AUTH s3cret",
        "SET a b",
        "GET a",
        "AUTH default s3cret",
        "RESET",
        "GET a",
    ]);
    let mut p = Pair::new(&redis, &shoal);
    p.lines(&["AUTH default s3cret", "PING", "HELLO 2 AUTH default s3cret", "PING"]);
    // redis-cli's own AUTH (-a, --user/--pass) and its report of a wrong password.
    let cli = require_tool("redis-cli");
    for args in [
        vec!["-a", PASS, "PING"],
        vec!["--user", "default", "--pass", PASS, "GET", "a"],
        vec!["-a", "nope", "PING"],
        vec!["PING"],
    ] {
        let run = |port: u16| {
            let out = Command::new(&cli)
                .args(["-p", &port.to_string(), "--no-auth-warning"])
                .args(&args)
                .output()
                .expect("redis-cli");
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
        };
        assert_eq!(run(shoal.port), run(redis.port), "redis-cli {args:?} (left: shoal)");
    }
}

#[test]
fn auth_without_a_password_matches_redis() {
    let redis = TestServer::redis();
    let shoal = TestServer::start(SHOAL);
    let mut p = Pair::new(&redis, &shoal);
    p.lines(&[
        "AUTH x",
        "AUTH default anything",
        "AUTH bob x",
        "HELLO 3 AUTH default whatever",
        "HELLO 3 AUTH bob x",
        "PING",
    ]);
}

/// Shell run inside a private network namespace: a veth pair gives the namespace a 10.x
/// address, so a client can reach the server from a non-loopback address while the host's
/// network stays untouched (only loopback is used outside it).
const NETNS_SCRIPT: &str = r#"
set -u
prog="$1"; dir="$2"
ip link set lo up
ip link add va type veth peer name vb
ip addr add 10.211.0.1/24 dev va
ip addr add 10.211.0.2/24 dev vb
ip link set va up; ip link set vb up
start() {
  "$prog" --port 7000 --save '' --bind 10.211.0.1 127.0.0.1 --dir "$dir" "$@" >/dev/null 2>&1 &
  pid=$!
  for i in $(seq 400); do (exec 3<>/dev/tcp/127.0.0.1/7000) 2>/dev/null && return; sleep 0.025; done
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null; }
# A reply lost to a connection reset gets one more try, noted on stderr: Shoal reset a
# connection made just after start-up about once in 150 starts under a 30-fold parallel
# stress of this script (cause not found yet; see the issue notes).
ask() {
  for try in 1 2; do
    exec 3<>"/dev/tcp/$1/7000" || { echo "$1|connect failed"; return; }
    [ -n "$2" ] && printf '%s\r\n' "$2" >&3
    line=""; IFS= read -t 10 -r line <&3
    exec 3>&-
    [ -n "$line" ] && break
    echo "no reply from $1 to '$2' (try $try)" >&2
  done
  printf '%s|%s\n' "$1" "$line"
}
start
ask 10.211.0.1 ""
ask 127.0.0.1 PING
ask 127.0.0.1 "CONFIG SET protected-mode no"
ask 10.211.0.1 PING
stop
start --requirepass pw
ask 10.211.0.1 PING
stop
start --protected-mode no
ask 10.211.0.1 PING
stop
"#;

#[test]
fn protected_mode_refuses_non_loopback_clients() {
    let unshare = common::which("unshare");
    let usable = unshare.as_ref().is_some_and(|u| {
        Command::new(u)
            .args(["--net", "true"])
            .status()
            .is_ok_and(|s| s.success())
    });
    let Some(unshare) = unshare.filter(|_| usable) else {
        // Creating a network namespace needs CAP_SYS_ADMIN; say so loudly rather than pass.
        eprintln!("NOTE: protected mode not tested from a non-loopback address: `unshare --net` unavailable");
        return;
    };
    let run = |program: PathBuf| {
        let dir = common::TempDir::new("ops-netns");
        let out = Command::new(&unshare)
            .args(["--net", "bash", "-c", NETNS_SCRIPT, "netns"])
            .arg(&program)
            .arg(dir.path())
            .output()
            .expect("unshare");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shoal = run(SHOAL.program());
    let redis = run(Flavor::Redis.program());
    let lines: Vec<&str> = shoal.lines().collect();
    assert_eq!(lines.len(), 6, "{shoal}");
    assert!(
        lines[0].starts_with("10.211.0.1|-DENIED Redis is running in protected mode because protected mode is enabled"),
        "{shoal}"
    );
    // `str::lines` drops the CR of each CRLF.
    assert_eq!(lines[1], "127.0.0.1|+PONG");
    assert_eq!(lines[3], "10.211.0.1|+PONG");
    assert_eq!(lines[4], "10.211.0.1|-NOAUTH Authentication required.");
    assert_eq!(lines[5], "10.211.0.1|+PONG");
    // Redis 7.0.15's DENIED text has a typo ("Setup a an") that Shoal's does not copy;
    // everything else must match byte for byte.
    let redis = redis.replace("4) Setup a an authentication", "4) Set up an authentication");
    assert_eq!(shoal, redis, "protected mode (left: shoal, right: redis)");
}

/// Reads whatever the server sends on a fresh connection before closing it.
fn greeting(port: u16) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// A connection the server accepted and served. The slot of a client that just left (the
/// harness's readiness probe, a dropped connection) frees once the server has seen the
/// close, so refusals are retried for a while.
fn admitted(server: &TestServer) -> common::Conn {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = server.conn();
        c.send(&common::c("PING"));
        if c.try_read_reply().as_deref() == Some(b"+PONG\r\n") {
            return c;
        }
        assert!(Instant::now() < deadline, "{:?}: no client slot", server.flavor);
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn maxclients_and_idle_timeout_match_redis() {
    std::thread::scope(|scope| {
        let runs: Vec<_> = [SHOAL, Flavor::Redis]
            .into_iter()
            .map(|flavor| {
                scope.spawn(move || {
                    let server = TestServer::start_with(flavor, None, &["--maxclients", "3", "--timeout", "1"]);
                    let mut busy = admitted(&server);
                    let mut idle = admitted(&server);
                    let third = admitted(&server);
                    let refused = greeting(server.port);
                    drop(third);
                    let _fourth = admitted(&server);
                    // `timeout 1`: an idle client is closed, a busy one is not.
                    let started = Instant::now();
                    while started.elapsed() < Duration::from_millis(2500) {
                        assert_eq!(busy.q("PING"), Reply::Simple("PONG".into()));
                        std::thread::sleep(Duration::from_millis(250));
                    }
                    assert!(idle.closed_by_server(), "{flavor:?}: idle client not closed");
                    refused
                })
            })
            .collect();
        let out: Vec<Vec<u8>> = runs.into_iter().map(|h| h.join().expect("thread")).collect();
        assert_eq!(common::lossy(&out[0]), "-ERR max number of clients reached\r\n");
        assert_eq!(common::lossy(&out[0]), common::lossy(&out[1]));
    });
}

/// Runs `ss` with `args` and returns its lines.
fn ss(args: &[&str]) -> Vec<String> {
    let out = Command::new(require_tool("ss")).args(args).output().expect("ss");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `tcp-backlog` sizes every listen queue and `tcp-keepalive` arms keepalive on client
/// sockets, as `ss` shows them for redis-server.
#[test]
fn tcp_backlog_and_keepalive_are_applied_like_redis() {
    for flavor in [SHOAL, Flavor::Redis] {
        let server = TestServer::start_with(flavor, None, &["--tcp-backlog", "37", "--tcp-keepalive", "9"]);
        let filter = format!("sport = :{}", server.port);
        let listeners = ss(&["-Hltn", &filter]);
        assert!(!listeners.is_empty(), "{flavor:?}: no listener in ss");
        for line in &listeners {
            // State, Recv-Q, Send-Q: a listener's Send-Q is its backlog.
            let send_q = line.split_whitespace().nth(2);
            assert_eq!(send_q, Some("37"), "{flavor:?}: {line}");
        }
        let mut conn = server.conn();
        assert_eq!(conn.call(&common::c("PING")).text(), "PONG");
        let client_sockets = ss(&["-Htno", "state", "established", &filter]);
        assert_eq!(client_sockets.len(), 1, "{flavor:?}: {client_sockets:?}");
        assert!(
            client_sockets[0].contains("timer:(keepalive,"),
            "{flavor:?}: {client_sockets:?}"
        );
    }
}

/// A second server started on a port another process listens on exits with an error, as
/// redis-server does, rather than sharing the port (the cores' SO_REUSEPORT would allow it).
#[test]
fn a_second_server_on_a_taken_port_refuses_to_start() {
    for flavor in [SHOAL, Flavor::Redis] {
        let first = TestServer::start_with(flavor, None, &[]);
        let dir = common::TempDir::new("ops-taken-port");
        let port = first.port.to_string();
        let mut second = Command::new(flavor.program())
            .args(["--port", &port, "--save", "", "--bind", "127.0.0.1"])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = second.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = second.kill();
                let _ = second.wait();
                panic!("{flavor:?}: a second server kept running on a taken port");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(!status.success(), "{flavor:?}: {status}");
        let mut log = String::new();
        second
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut log)
            .expect("log");
        assert!(log.contains("Address already in use"), "{flavor:?}: {log}");
        let mut c = first.conn();
        assert_eq!(c.call(&common::c("PING")).text(), "PONG");
    }
}
