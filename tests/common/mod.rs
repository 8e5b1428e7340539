//! Shared harness for the integration tests: real server processes on free loopback ports, a
//! raw RESP client that hands back exact reply bytes, and differential comparison against a
//! real redis-server 7.0 (the oracle).
//!
//! Every test file includes this module with `mod common;`, so not every helper is used by
//! every file.
#![allow(dead_code)]

pub mod dataset;
mod launch;
#[macro_use]
mod resp;

pub use resp::*;

// Only the operations suite launches servers this way.
#[allow(unused_imports)]
pub use launch::Launch;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Which program a `TestServer` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Shoal { shards: usize },
    Redis,
}

/// A server process owned by a test: killed by pid and its directory removed on drop.
pub struct TestServer {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
    pub flavor: Flavor,
    /// False when the caller supplied `dir` (restart tests keep it across servers).
    owns_dir: bool,
}

static DIR_SEQ: AtomicU64 = AtomicU64::new(0);

/// A fresh private directory under the system temp dir.
fn make_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "shoal-test-{tag}-{}-{}-{nanos}",
        std::process::id(),
        DIR_SEQ.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// The `process_id` of the server behind `s`, read from `INFO server`.
fn answering_pid(s: &mut TcpStream) -> Option<u32> {
    s.write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n").ok()?;
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while got.len() < 64 * 1024 {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some(rest) = text.split("process_id:").nth(1)
            && let Some((pid, _)) = rest.split_once("\r\n")
        {
            return pid.trim().parse().ok();
        }
    }
    None
}

/// A loopback port nobody listens on right now (the OS picks it).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    l.local_addr().expect("local addr").port()
}

/// Path of `prog` on PATH, if any.
pub fn which(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(prog)).find(|p| p.is_file())
}

/// Panics (never skips) when a redis tool is missing: the differential tests need it.
pub fn require_tool(prog: &str) -> PathBuf {
    which(prog).unwrap_or_else(|| {
        panic!(
            "`{prog}` was not found on PATH. The Shoal integration tests compare against a real \
             Redis 7.0: install it (e.g. `apt-get install redis-server redis-tools`, version 7.0.x) \
             and run the tests again."
        )
    })
}

impl TestServer {
    /// Starts `shoal-server` with `shards` shards.
    pub fn shoal(shards: usize) -> TestServer {
        Self::start(Flavor::Shoal { shards })
    }

    /// Starts the oracle `redis-server`.
    pub fn redis() -> TestServer {
        Self::start(Flavor::Redis)
    }

    pub fn start(flavor: Flavor) -> TestServer {
        Self::start_with(flavor, None, &[])
    }

    /// Starts a server with `extra` arguments after the defaults (so they win), in `dir` when
    /// given: such a directory is the caller's and survives the server (restart tests).
    pub fn start_with(flavor: Flavor, dir: Option<&Path>, extra: &[&str]) -> TestServer {
        let mut last_err = String::new();
        // A port found free can be taken by a parallel test before we bind it: retry.
        for _ in 0..5 {
            match Self::try_start_with(flavor, dir, extra) {
                Ok(s) => return s,
                Err(e) => last_err = e,
            }
        }
        panic!("could not start {flavor:?}: {last_err}");
    }

    /// One start attempt; `Err` carries the exit status and log when the process died.
    pub fn try_start_with(flavor: Flavor, given: Option<&Path>, extra: &[&str]) -> Result<TestServer, String> {
        let port = free_port();
        let (tag, program) = match flavor {
            Flavor::Shoal { .. } => ("shoal", PathBuf::from(env!("CARGO_BIN_EXE_shoal-server"))),
            Flavor::Redis => ("redis", require_tool("redis-server")),
        };
        let dir = given.map_or_else(|| make_dir(tag), Path::to_path_buf);
        let p = port.to_string();
        let d = dir.to_string_lossy().into_owned();
        let mut args: Vec<String> = vec!["--port".into(), p, "--bind".into(), "127.0.0.1".into()];
        match flavor {
            Flavor::Shoal { shards } => {
                args.extend(["--shards".into(), shards.to_string()]);
                args.extend(["--save".into(), String::new(), "--dir".into(), d]);
            }
            Flavor::Redis => {
                args.extend(["--save".into(), String::new(), "--appendonly".into(), "no".into()]);
                args.extend(["--dir".into(), d]);
            }
        }
        // Full syncs start at once; tests that batch replicas set their own delay.
        args.extend(["--repl-diskless-sync-delay".into(), "0".into()]);
        args.extend(extra.iter().map(|a| a.to_string()));
        let log = std::fs::File::create(dir.join("server.log")).map_err(|e| e.to_string())?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let mut command = Command::new(&program);
        command.args(&args).stdin(Stdio::null()).stdout(log).stderr(log2);
        die_with_test_thread(&mut command);
        let child = command
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", program.display()))?;
        let mut server = TestServer {
            child,
            port,
            dir,
            flavor,
            owns_dir: given.is_none(),
        };
        server.wait_ready()?;
        Ok(server)
    }

    /// Waits until the server answers PING with +PONG, or its process dies. Without a
    /// password it also checks through `INFO server` that the answer came from this process:
    /// when a parallel test's server took the port first, ours exits, and the PONG was not ours.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                return Err(format!("server exited with {status}; log:\n{log}"));
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                if s.write_all(b"*1\r\n$4\r\nPING\r\n").is_ok() {
                    let mut buf = [0u8; 7];
                    // A server with `requirepass` answers (the first 7 bytes of) -NOAUTH: it
                    // is up all the same.
                    if s.read_exact(&mut buf).is_ok() {
                        if &buf == b"-NOAUTH" {
                            return Ok(());
                        }
                        if &buf == b"+PONG\r\n" && answering_pid(&mut s) == Some(self.child.id()) {
                            return Ok(());
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("server did not answer PING within 20s".into())
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A new raw RESP connection.
    pub fn conn(&self) -> Conn {
        Conn::connect(self.port)
    }

    /// A `redis` crate connection (a real client library).
    pub fn client(&self) -> redis::Connection {
        let c = redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).expect("redis client");
        c.get_connection().expect("redis connection")
    }

    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Waits up to `limit` for the process to exit on its own (after SHUTDOWN).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// The server gets SIGKILL when the test thread that started it ends. `Drop` stops it on the
/// normal path; this covers a test that failed while helper threads still hold its server (the
/// process then exits without dropping it, and the server would run on, loading the machine).
fn die_with_test_thread(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches only the new process's own state.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Child::kill signals exactly this pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Removes a directory on drop (for tests that need one without a server).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        TempDir(make_dir(tag))
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
/// A raw RESP connection that reads replies back as exact bytes.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
    port: u16,
    /// Start of the last thing sent, for failure messages.
    last_sent: Vec<u8>,
}

impl Conn {
    pub fn connect(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        Conn {
            stream,
            buf: Vec::new(),
            port,
            last_sent: Vec::new(),
        }
    }

    /// Sends exactly `bytes`.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.last_sent = bytes[..bytes.len().min(200)].to_vec();
        self.stream.write_all(bytes).expect("write to server");
    }

    pub fn send(&mut self, args: &[Vec<u8>]) {
        self.send_raw(&encode(args));
    }

    /// Reads one complete reply and returns its bytes. Panics if the connection closes first.
    pub fn read_reply(&mut self) -> Vec<u8> {
        self.try_read_reply()
            .unwrap_or_else(|| panic!("connection closed before a complete reply; got {:?}", self.pending()))
    }

    /// Like `read_reply`, but `None` when the server closed the connection first.
    pub fn try_read_reply(&mut self) -> Option<Vec<u8>> {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            if let Some(end) = reply_end(&self.buf, 0) {
                let rest = self.buf.split_off(end);
                return Some(std::mem::replace(&mut self.buf, rest));
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!(
                    "reading reply from port {} after sending {:?}: {e}; partial {:?}",
                    self.port,
                    lossy(&self.last_sent),
                    self.pending()
                ),
            }
        }
    }

    fn pending(&self) -> String {
        String::from_utf8_lossy(&self.buf).into_owned()
    }

    /// True when the server closes the connection (within the read timeout) without sending
    /// anything more.
    pub fn closed_by_server(&mut self) -> bool {
        let mut chunk = [0u8; 1024];
        self.stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return self.buf.is_empty(),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return self.buf.is_empty(),
                Err(_) => return false,
            }
        }
    }

    /// Sends one command and returns its raw reply.
    pub fn raw(&mut self, args: &[Vec<u8>]) -> Vec<u8> {
        self.send(args);
        self.read_reply()
    }

    /// Sends one command and returns its parsed reply.
    pub fn call(&mut self, args: &[Vec<u8>]) -> Reply {
        Reply::parse(&self.raw(args))
    }

    /// `call` for a space-separated command line.
    pub fn q(&mut self, line: &str) -> Reply {
        self.call(&c(line))
    }

    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// `INFO <section>` as a map of its `field:value` lines.
    pub fn info(&mut self, section: &str) -> std::collections::HashMap<String, String> {
        self.q(&format!("INFO {section}"))
            .text()
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(a, b)| (a.to_string(), b.trim_end().to_string()))
            .collect()
    }
}

/// Polls `f` every 50 ms until it holds; panics naming `what` after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

// ---------------------------------------------------------------------------------------------
// Differential comparison
// ---------------------------------------------------------------------------------------------

pub fn show(args: &[Vec<u8>]) -> String {
    args.iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The form in which two replies to `args` must be byte-identical: unordered replies sorted,
/// the per-server client id of HELLO masked.
pub fn normal_form(args: &[Vec<u8>], raw: &[u8]) -> Vec<u8> {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    match name.as_str() {
        "keys" if raw[0] != b'-' => sorted_form(raw),
        "hello" if raw[0] == b'*' || raw[0] == b'%' => {
            let (header, items) = elements(raw);
            let mut out = header;
            let mut mask_next = false;
            for it in items {
                // RESP3 maps come back as key+value pairs; RESP2 as a flat array.
                let text = String::from_utf8_lossy(&it).into_owned();
                if mask_next {
                    out.extend_from_slice(b":<id>\r\n");
                    mask_next = false;
                } else if text.starts_with("$2\r\nid\r\n:") {
                    out.extend_from_slice(b"$2\r\nid\r\n:<id>\r\n");
                } else {
                    mask_next = text == "$2\r\nid\r\n";
                    out.extend_from_slice(&it);
                }
            }
            out
        }
        _ => raw.to_vec(),
    }
}

/// A redis-server connection and a Shoal connection driven in lock-step.
pub struct Pair {
    pub redis: Conn,
    pub shoal: Conn,
    pub label: String,
}

impl Pair {
    pub fn new(redis: &TestServer, shoal: &TestServer) -> Pair {
        Pair {
            redis: redis.conn(),
            shoal: shoal.conn(),
            label: format!("{:?}", shoal.flavor),
        }
    }

    /// Sends `args` to both and asserts identical replies (in normal form); returns Shoal's.
    pub fn same(&mut self, args: &[Vec<u8>]) -> Vec<u8> {
        let r = self.redis.raw(args);
        let s = self.shoal.raw(args);
        assert_eq!(
            lossy(&normal_form(args, &s)),
            lossy(&normal_form(args, &r)),
            "[{}] reply to `{}` differs (left: shoal, right: redis)",
            self.label,
            show(args)
        );
        s
    }

    /// `same` for a space-separated command line.
    pub fn s(&mut self, line: &str) -> Vec<u8> {
        self.same(&c(line))
    }

    /// Runs a list of space-separated lines, each compared.
    pub fn lines(&mut self, lines: &[&str]) {
        for l in lines {
            self.s(l);
        }
    }

    /// Sends to both without comparing; returns (redis, shoal) replies.
    pub fn both(&mut self, args: &[Vec<u8>]) -> (Reply, Reply) {
        (self.redis.call(args), self.shoal.call(args))
    }

    /// Creates a set under `key` on both servers so WRONGTYPE paths can be compared. Shoal has
    /// no sets while the set family is unwritten: then the key is removed from redis again and
    /// `false` says to skip the WRONGTYPE checks (noted on stderr).
    pub fn set_key(&mut self, key: &str) -> bool {
        let args = cmd!("SADD", key, "member");
        let (r, s) = self.both(&args);
        assert_eq!(r, Reply::Int(1));
        if let Reply::Error(e) = &s {
            assert!(e.starts_with("ERR unknown command"), "SADD on shoal: {e}");
            self.redis.call(&cmd!("DEL", key));
            eprintln!("[{}] shoal has no SADD yet: WRONGTYPE checks skipped", self.label);
            return false;
        }
        assert_eq!(s, Reply::Int(1));
        true
    }

    /// Compared lines that need a set under `key` (skipped when Shoal has no sets).
    pub fn with_set(&mut self, key: &str, lines: &[&str]) {
        if self.set_key(key) {
            self.lines(lines);
            self.s(&format!("DEL {key}"));
        }
    }

    /// Both replies are integers within `tol` of each other (TTLs).
    pub fn close(&mut self, args: &[Vec<u8>], tol: i64) -> i64 {
        let (r, s) = self.both(args);
        let (r, s) = (r.int(), s.int());
        assert!(
            (r - s).abs() <= tol,
            "[{}] `{}`: shoal {s} vs redis {r} (tolerance {tol})",
            self.label,
            show(args)
        );
        s
    }
}

/// Waits (up to 20 s) until `replica`'s link to `master` is up and it has applied every byte
/// of the master's stream.
pub fn wait_in_sync(master: &TestServer, replica: &TestServer) {
    let (mut m, mut r) = (master.conn(), replica.conn());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mo = m.info("replication").remove("master_repl_offset").unwrap_or_default();
        let ri = r.info("replication");
        if ri.get("master_link_status").map(String::as_str) == Some("up") && ri.get("slave_repl_offset") == Some(&mo) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "replica not in sync: {ri:?} master offset {mo}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `f` against a fresh redis-server and a fresh Shoal for each shard count given.
pub fn differential(shard_counts: &[usize], f: impl Fn(&mut Pair)) {
    for &n in shard_counts {
        let redis = TestServer::redis();
        let shoal = TestServer::shoal(n);
        let mut pair = Pair::new(&redis, &shoal);
        f(&mut pair);
    }
}

/// `differential` with 1 and 4 shards, the default for the per-command tests.
pub fn diff(f: impl Fn(&mut Pair)) {
    differential(&[1, 4], f)
}

/// Compares the replies of `cmds` command by command between two servers.
pub fn assert_same(redis: &TestServer, shoal: &TestServer, cmds: &[Vec<Vec<u8>>]) {
    let mut pair = Pair::new(redis, shoal);
    for c in cmds {
        pair.same(c);
    }
}

/// Collects every key a full SCAN iteration returns (with extra options), sorted.
pub fn scan_all(conn: &mut Conn, extra: &[&str]) -> Vec<Vec<u8>> {
    let mut cursor = b"0".to_vec();
    let mut keys = Vec::new();
    let mut rounds = 0;
    loop {
        let mut args = vec![b"SCAN".to_vec(), cursor.clone()];
        args.extend(extra.iter().map(|s| s.as_bytes().to_vec()));
        let r = conn.call(&args).items();
        assert_eq!(r.len(), 2, "SCAN reply has two elements");
        cursor = r[0].bulk().expect("cursor");
        for k in r[1].items() {
            keys.push(k.bulk().expect("key"));
        }
        rounds += 1;
        assert!(rounds < 1_000_000, "SCAN does not terminate");
        if cursor == b"0" {
            break;
        }
    }
    keys.sort();
    keys
}
