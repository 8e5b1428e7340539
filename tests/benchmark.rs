//! Stock Redis tools against Shoal: `redis-benchmark` runs clean and `redis-cli` works.

mod common;

use std::process::Command;

use common::*;

#[test]
fn redis_benchmark_runs_clean() {
    let bench = require_tool("redis-benchmark");
    let shoal = TestServer::shoal(2);
    let out = Command::new(bench)
        .args(["-h", "127.0.0.1", "-p", &shoal.port.to_string()])
        .args([
            "-t",
            "ping,set,get,incr,mset",
            "-P",
            "16",
            "-c",
            "50",
            "-n",
            "20000",
            "-q",
        ])
        .output()
        .expect("run redis-benchmark");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "redis-benchmark failed: {}\n{stdout}\n{stderr}",
        out.status
    );
    // `-q` prints "\r"-separated progress then one "NAME: N requests per second" line per test.
    let lines: Vec<&str> = stdout
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| l.contains("requests per second"))
        .collect();
    for name in ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET (10 keys)"] {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no rate for {name} in:\n{stdout}"));
        let rate: f64 = line[name.len() + 1..]
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no number in {line:?}"));
        assert!(rate > 0.0, "{line}");
    }
    let all = format!("{stdout}\n{stderr}");
    for bad in ["ERR", "Error", "error", "WRONGTYPE"] {
        assert!(!all.contains(bad), "redis-benchmark printed an error line:\n{all}");
    }
    // The data the benchmark wrote is readable afterwards.
    let mut c = shoal.conn();
    assert_eq!(c.q("GET key:__rand_int__").bulk().map(|v| v.len()), Some(3));
    assert!(c.q("GET counter:__rand_int__").text().parse::<i64>().unwrap() >= 20000);
}

fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new(require_tool("redis-cli"))
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("run redis-cli");
    assert!(
        out.status.success(),
        "redis-cli {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn redis_cli_basics() {
    let shoal = TestServer::shoal(2);
    let p = shoal.port;
    assert_eq!(cli(p, &["set", "a", "b"]), "OK\n");
    assert_eq!(cli(p, &["get", "a"]), "b\n");
    assert_eq!(cli(p, &["incr", "n"]), "1\n");
    assert_eq!(cli(p, &["get", "missing"]), "\n");
    assert_eq!(cli(p, &["ping"]), "PONG\n");
    let err = cli(p, &["nosuch"]);
    assert!(
        err.starts_with("ERR unknown command 'nosuch', with args beginning with: "),
        "{err}"
    );
    for i in 0..30 {
        cli(p, &["set", &format!("scan:{i}"), "x"]);
    }
    let mut keys: Vec<String> = cli(p, &["--scan", "--pattern", "scan:*"])
        .lines()
        .map(String::from)
        .collect();
    keys.sort();
    let mut want: Vec<String> = (0..30).map(|i| format!("scan:{i}")).collect();
    want.sort();
    assert_eq!(keys, want);
    let mut all: Vec<String> = cli(p, &["--scan"]).lines().map(String::from).collect();
    all.sort();
    assert_eq!(all.len(), 32);
    // RESP3 through redis-cli.
    assert_eq!(cli(p, &["-3", "get", "a"]), "b\n");
    assert_eq!(cli(p, &["-3", "incrbyfloat", "f", "1.5"]), "1.5\n");
    assert_eq!(cli(p, &["dbsize"]), "33\n");
}
