//! `redis-benchmark` with no `-t`: its whole default run (every command family it knows, from
//! PING to LRANGE_600 and MSET) must complete against Shoal without a single error reply, both
//! one request at a time and pipelined. A command Shoal lacked or answered wrongly would show
//! up here as an error line, a missing rate, or a hung benchmark.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The tests of redis-benchmark 7.0's default run, in the order it prints them with `-q`
/// (the text before the colon of each "NAME: N requests per second" line).
const DEFAULT_TESTS: &[&str] = &[
    "PING_INLINE",
    "PING_MBULK",
    "SET",
    "GET",
    "INCR",
    "LPUSH",
    "RPUSH",
    "LPOP",
    "RPOP",
    "SADD",
    "HSET",
    "SPOP",
    "ZADD",
    "ZPOPMIN",
    "LPUSH (needed to benchmark LRANGE)",
    "LRANGE_100 (first 100 elements)",
    "LRANGE_300 (first 300 elements)",
    "LRANGE_500 (first 500 elements)",
    "LRANGE_600 (first 600 elements)",
    "MSET (10 keys)",
];

/// Texts that only appear in redis-benchmark's output when something went wrong. Version 7.0
/// stops at the first error reply ("Error from server: ...", exit status 1; its old `-e` flag
/// is a no-op), and lost connections are reported in words.
const BAD_OUTPUT: &[&str] = &[
    "ERR",
    "Error",
    "error",
    "WRONGTYPE",
    "Server closed",
    "Could not connect",
    "Connection refused",
    "Unexpected",
];

/// A benchmark against a debug build takes seconds; a server that leaves a request
/// unanswered would make redis-benchmark wait forever, so it gets a deadline.
const DEADLINE: Duration = Duration::from_secs(300);

/// Runs redis-benchmark's default suite against `port` at `pipeline` depth and returns its
/// standard output and error, killing it (by its own pid) when it runs past `DEADLINE`.
fn run_default_suite(port: u16, pipeline: u32) -> (String, String) {
    let mut child = Command::new(require_tool("redis-benchmark"))
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-P", &pipeline.to_string(), "-c", "20", "-n", "2000", "-q"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn redis-benchmark");
    // Drained on threads so a full pipe never stalls the benchmark while we poll.
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for redis-benchmark") {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = out.join().unwrap_or_default();
            panic!("redis-benchmark -P {pipeline} still running after {DEADLINE:?}; output so far:\n{stdout}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    assert!(
        status.success(),
        "redis-benchmark -P {pipeline} exited with {status}\n{stdout}\n{stderr}"
    );
    (stdout, stderr)
}

/// The (name, rate) of every final "NAME: N requests per second" line, in printed order.
/// `-q` separates its progress updates with `\r`, so lines are split on both `\r` and `\n`.
fn rates(stdout: &str) -> Vec<(String, f64)> {
    stdout
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| l.contains("requests per second"))
        .map(|l| {
            let (name, rest) = l.split_once(": ").unwrap_or_else(|| panic!("no name in {l:?}"));
            let rate = rest
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or_else(|| panic!("no rate in {l:?}"));
            (name.to_string(), rate)
        })
        .collect()
}

fn check_default_suite(pipeline: u32) {
    let mut shoal = TestServer::shoal(2);
    let (stdout, stderr) = run_default_suite(shoal.port, pipeline);
    let all = format!("{stdout}\n{stderr}");
    for bad in BAD_OUTPUT {
        assert!(
            !all.contains(bad),
            "redis-benchmark -P {pipeline} printed {bad:?}:\n{all}"
        );
    }
    let got = rates(&stdout);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names, DEFAULT_TESTS,
        "redis-benchmark -P {pipeline}: the tests that printed a rate differ from the default list\n{stdout}"
    );
    for (name, rate) in &got {
        assert!(*rate > 0.0, "-P {pipeline}: {name} ran at {rate} requests per second");
        // Seen with --nocapture: the evidence that every default test ran.
        eprintln!("-P {pipeline}: {name}: {rate} requests per second");
    }
    assert!(shoal.is_alive(), "shoal died during the benchmark:\n{}", shoal.log());
    // The run leaves its keys behind (key:__rand_int__, counter, mylist, myset, myhash...).
    let mut c = shoal.conn();
    assert!(c.q("DBSIZE").int() > 0);
    assert_eq!(c.q("PING"), Reply::Simple("PONG".into()));
}

#[test]
fn redis_benchmark_default_run_unpipelined() {
    check_default_suite(1);
}

#[test]
fn redis_benchmark_default_run_pipelined() {
    check_default_suite(16);
}
