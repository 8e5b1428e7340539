//! Tests for syntax, loading, includes and the command line. Expected
//! error texts were checked against redis-server 7.0.15.

use super::load::Loader;
use super::*;
use std::io::Cursor;

fn load(text: &str) -> Loaded {
    Config::load_str(text).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> String {
    Config::load_str(text).unwrap_err().to_string()
}

fn fatal(line: usize, text: &str, msg: &str) -> String {
    format!(
        "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n\
         Reading the configuration file, at line {line}\n>>> '{text}'\n{msg}"
    )
}

fn args(v: &[&str]) -> Vec<String> {
    std::iter::once("shoal-server")
        .chain(v.iter().copied())
        .map(String::from)
        .collect()
}

fn run(v: &[&str], stdin: &str) -> Result<Loaded, ConfigError> {
    match parse_args_with_stdin(&args(v), &mut Cursor::new(stdin.as_bytes().to_vec()))? {
        Invocation::Run(l) => Ok(*l),
        other => panic!("unexpected {other:?}"),
    }
}

/// A fresh directory under the system temp dir, unique per test.
fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("shoal-config-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn split_quoting_rules() {
    let s = |l: &str| split_args(l).unwrap();
    assert_eq!(s("  a  b\tc "), ["a", "b", "c"]);
    assert_eq!(s(r#""a\n\r\t\b\a\\\"z""#), ["a\n\r\t\u{8}\u{7}\\\"z"]);
    assert_eq!(s(r#""\x41\x7a" "\xZZ""#), ["Az", "xZZ"]);
    assert_eq!(s(r"'it\'s' 'a\nb'"), ["it's", "a\\nb"]);
    assert_eq!(s(r#"foo"bar baz" x"#), ["foobar baz", "x"]);
    assert_eq!(s(r#""" ''"#), ["", ""]);
    for bad in [r#""abc"#, r#""a"b"#, "'a'b", "'abc", r#"x "y"#] {
        assert!(split_args(bad).is_err(), "{bad}");
    }
    assert_eq!(quote("a \"b\"\n\u{1}"), r#""a \"b\"\n\x01""#);
    assert_eq!(s(&quote("x\\y \u{7f}é")), ["x\\y \u{7f}é"]);
}

#[test]
fn comments_blank_lines_case_and_last_wins() {
    let l = load("# comment\n\n   \n\tPORT 7000\r\nport 7001\n  # indented comment\nTimeout 5\n");
    assert_eq!(l.config.port, 7001);
    assert_eq!(l.config.timeout, 5);
    assert!(l.warnings.is_empty());
}

#[test]
fn defaults_match_redis_7_0() {
    let c = Config::default();
    assert_eq!(c.port, 6379);
    assert_eq!(c.get("bind")[0].1, "* -::*");
    assert_eq!(c.get("save")[0].1, "3600 1 300 100 60 10000");
    assert_eq!(c.maxmemory_policy, MaxmemoryPolicy::Noeviction);
    assert_eq!(c.repl_backlog_size, 1 << 20);
    assert!(c.repl_diskless_sync);
    assert_eq!(c.hz, 10);
    assert_eq!(c.shards, 0);
    assert_eq!(c.list_max_listpack_size, -2);
    assert_eq!(c.buffer_limit(ClientClass::Replica).hard, 256 << 20);
    assert_eq!(c.passthrough["appendfsync"], ["everysec"]);
    assert!(std::path::Path::new(&c.dir).is_absolute());
}

#[test]
fn save_accumulates_and_empty_clears() {
    let c = load("save 900 1\nsave 300 10\n").config;
    assert_eq!(c.get("save")[0].1, "900 1 300 10");
    let c = load("save 900 1\nsave \"\"\n").config;
    assert!(c.save.is_empty());
    let c = load("save 900 1\nsave \"\"\nsave 60 5\n").config;
    assert_eq!(
        c.save,
        [SavePoint {
            seconds: 60,
            changes: 5
        }]
    );
    let c = load("save \"120 3 60 7\"\n").config;
    assert_eq!(c.get("save")[0].1, "120 3 60 7");
    let c = load("port 1\n").config;
    assert_eq!(c.save.len(), 3, "defaults kept without save lines");
}

#[test]
fn memory_units() {
    let m = |v: &str| load(&format!("maxmemory {v}\n")).config.maxmemory;
    assert_eq!(m("100"), 100);
    assert_eq!(m("1k"), 1000);
    assert_eq!(m("1kb"), 1024);
    assert_eq!(m("2m"), 2_000_000);
    assert_eq!(m("2MB"), 2 << 20);
    assert_eq!(m("3G"), 3_000_000_000);
    assert_eq!(m("3gB"), 3 << 30);
    assert_eq!(m("7b"), 7);
    assert_eq!(m("k"), 0, "redis treats missing digits as 0");
    assert_eq!(m("99999999999999999999"), u64::MAX);
    let e = err("maxmemory 10x\n");
    assert_eq!(e, fatal(1, "maxmemory 10x", "argument must be a memory value"));
    assert!(err("maxmemory -1\n").ends_with("argument must be a memory value"));
}

#[test]
fn booleans_enums_and_clamps() {
    let c = load(
        "daemonize YES\nprotected-mode No\nloglevel WARNING\nsupervised systemd\n\
                  repl-diskless-load swapdb\nhz 1000\nrepl-backlog-size 1\n",
    )
    .config;
    assert!(c.daemonize && !c.protected_mode);
    assert_eq!(c.loglevel, LogLevel::Warning);
    assert_eq!(c.supervised, Supervised::Systemd);
    assert_eq!(c.repl_diskless_load, DisklessLoad::Swapdb);
    assert_eq!(c.hz, 500);
    assert_eq!(c.repl_backlog_size, 16384);
    assert_eq!(load("hz 0\n").config.hz, 1);
}

#[test]
fn aliases_set_the_canonical_field() {
    let c = load(
        "slave-read-only no\nslaveof 10.0.0.1 6380\nslave-priority 5\nmin-slaves-to-write 2\n\
         hash-max-ziplist-entries 10\nzset-max-ziplist-value 1kb\nlua-time-limit 7\n\
         repl-ping-slave-period 3\nslave-announce-ip 1.2.3.4\nlist-max-ziplist-size 8\n",
    )
    .config;
    assert!(!c.replica_read_only);
    assert_eq!(c.replicaof, Some(("10.0.0.1".into(), 6380)));
    assert_eq!(c.replica_priority, 5);
    assert_eq!(c.min_replicas_to_write, 2);
    assert_eq!(c.hash_max_listpack_entries, 10);
    assert_eq!(c.zset_max_listpack_value, 1024);
    assert_eq!(c.busy_reply_threshold, 7);
    assert_eq!(c.repl_ping_replica_period, 3);
    assert_eq!(c.replica_announce_ip.as_deref(), Some("1.2.3.4"));
    assert_eq!(c.list_max_listpack_size, 8);
    assert_eq!(load("replicaof 1.1.1.1 1\nreplicaof no one\n").config.replicaof, None);
}

#[test]
fn special_values() {
    let c = load(
        "bind 127.0.0.1 -::1\nclient-output-buffer-limit replica 1mb 2k 30 pubsub 1 2 3\n\
         notify-keyspace-events Ex\nrequirepass \"p w\"\ndbfilename x.rdb\n",
    )
    .config;
    assert_eq!(
        c.bind,
        [
            BindAddr {
                addr: "127.0.0.1".into(),
                optional: false
            },
            BindAddr {
                addr: "::1".into(),
                optional: true
            }
        ]
    );
    let l = c.buffer_limit(ClientClass::Replica);
    assert_eq!((l.hard, l.soft, l.soft_seconds), (1 << 20, 2000, 30));
    assert_eq!(c.buffer_limit(ClientClass::Pubsub).soft_seconds, 3);
    assert_eq!(c.notify_keyspace_events, events::EXPIRED | events::KEYEVENT);
    assert_eq!(c.requirepass.as_deref(), Some("p w"));
    assert_eq!(load("bind \"\"\n").config.bind, []);
    assert_eq!(load("requirepass \"\"\n").config.requirepass, None);
}

#[test]
fn error_texts_match_redis() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "port \"abc\"",
            "port \"abc\"",
            "argument couldn't be parsed into an integer",
        ),
        (
            "port 70000",
            "port 70000",
            "argument must be between 0 and 65535 inclusive",
        ),
        ("port", "port", "wrong number of arguments"),
        ("port 1 2", "port 1 2", "wrong number of arguments"),
        ("foo bar", "foo bar", "Bad directive or wrong number of arguments"),
        (
            "include a b",
            "include a b",
            "Bad directive or wrong number of arguments",
        ),
        (
            "protected-mode maybe",
            "protected-mode maybe",
            "argument must be 'yes' or 'no'",
        ),
        (
            "loglevel loud",
            "loglevel loud",
            "argument(s) must be one of the following: debug, verbose, notice, warning",
        ),
        (
            "supervised bogus",
            "supervised bogus",
            "argument(s) must be one of the following: upstart, systemd, auto, no",
        ),
        (
            "maxmemory-policy bad",
            "maxmemory-policy bad",
            "argument(s) must be one of the following: volatile-lru, volatile-lfu, \
             volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction",
        ),
        (
            "dbfilename a/b.rdb",
            "dbfilename a/b.rdb",
            "dbfilename can't be a path, just a filename",
        ),
        ("save 60", "save 60", "Invalid save parameters"),
        ("save 0 1", "save 0 1", "Invalid save parameters"),
        (
            "requirepass \"abc",
            "requirepass \"abc",
            "Unbalanced quotes in configuration line",
        ),
        (
            "requirepass 'a'b",
            "requirepass 'a'b",
            "Unbalanced quotes in configuration line",
        ),
        ("slaveof 1.2.3.4 abc", "slaveof 1.2.3.4 abc", "Invalid master port"),
        ("slaveof 1.2.3.4", "slaveof 1.2.3.4", "wrong number of arguments"),
        (
            "client-output-buffer-limit foo 1 2 3",
            "client-output-buffer-limit foo 1 2 3",
            "Invalid client class specified in buffer limit configuration.",
        ),
        (
            "client-output-buffer-limit normal 1 2",
            "client-output-buffer-limit normal 1 2",
            "Wrong number of arguments in buffer limit configuration.",
        ),
        (
            "client-output-buffer-limit normal 1x 2 3",
            "client-output-buffer-limit normal 1x 2 3",
            "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
        ),
        (
            "databases 0",
            "databases 0",
            "argument must be between 1 and 2147483647 inclusive",
        ),
        (
            "timeout -1",
            "timeout -1",
            "argument must be between 0 and 2147483647 inclusive",
        ),
        (
            "timeout 010",
            "timeout 010",
            "argument couldn't be parsed into an integer",
        ),
        (
            "timeout +1",
            "timeout +1",
            "argument couldn't be parsed into an integer",
        ),
        (
            "io-threads 200",
            "io-threads 200",
            "argument must be between 1 and 128 inclusive",
        ),
        (
            "notify-keyspace-events Q",
            "notify-keyspace-events Q",
            "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.",
        ),
        ("dir /nonexistent/x", "dir /nonexistent/x", "No such file or directory"),
        ("foo.bar", "foo.bar", "Module config specified without value"),
    ];
    for (line, shown, msg) in cases {
        assert_eq!(err(&format!("# x\n{line}\n")), fatal(2, shown, msg), "{line}");
    }
    // The line is shown trimmed.
    assert_eq!(
        err("  port x \r\n"),
        fatal(1, "port x", "argument couldn't be parsed into an integer")
    );
}

#[test]
fn known_but_unimplemented_directives_warn_once() {
    let l = load(
        "activerehashing no\nactiverehashing yes\nappendfsync always\n\
                  oom-score-adj-values 0 100 900\nlist-max-ziplist-entries 5\n\
                  rename-command FLUSHALL \"\"\nappendonly yes\n",
    );
    assert_eq!(l.warnings.len(), 6, "{:?}", l.warnings);
    assert!(l.warnings[0].contains("'activerehashing'"));
    let c = l.config;
    assert_eq!(c.get("activerehashing"), [("activerehashing".into(), "yes".into())]);
    assert_eq!(c.get("oom-score-adj-values")[0].1, "0 100 900");
    assert_eq!(c.extra_directives, [vec!["rename-command", "FLUSHALL", ""]]);
    assert!(c.appendonly);
    assert!(err("activerehashing\n").ends_with("wrong number of arguments"));
}

#[test]
fn includes_plain_glob_nested_and_missing() {
    let d = temp_dir("inc");
    std::fs::write(d.join("a.conf"), "port 7100\n").unwrap();
    std::fs::write(d.join("b.conf"), "timeout 9\nport 7200\n").unwrap();
    std::fs::write(d.join("c.txt"), "port 1\n").unwrap();
    std::fs::write(d.join("bad.cfg"), "\n\nnope x\n").unwrap();
    let p = d.display();
    let c = load(&format!("port 1\ninclude {p}/a.conf\n")).config;
    assert_eq!(c.port, 7100);
    let c = load(&format!("include {p}/*.conf\n")).config;
    assert_eq!((c.port, c.timeout), (7200, 9), "sorted glob order, later wins");
    let c = load(&format!("include {p}/*.conf\nport 5\n")).config;
    assert_eq!(c.port, 5);
    load(&format!("include {p}/*.none\n"));
    assert_eq!(
        err(&format!("port 1\ninclude {p}/bad.cfg\n")),
        fatal(3, "nope x", "Bad directive or wrong number of arguments"),
        "line numbers are relative to the included file"
    );
    assert_eq!(
        err(&format!("include {p}/missing.conf\n")),
        format!("Fatal error, can't open config file '{p}/missing.conf': No such file or directory")
    );
    std::fs::write(d.join("loop.conf"), format!("include {p}/loop.conf\n")).unwrap();
    assert!(err(&format!("include {p}/loop.conf\n")).contains("include nesting too deep"));
    let l = Config::load_file(&d.join("a.conf")).unwrap();
    assert_eq!(l.config.port, 7100);
    assert_eq!(l.config_file.as_deref(), Some(d.join("a.conf").as_path()));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn command_line_options() {
    let l = run(
        &["--port", "7000", "--save", "60 10 300 5", "--bind", "127.0.0.1", "::1"],
        "",
    )
    .unwrap();
    assert_eq!(l.config.port, 7000);
    assert_eq!(l.config.get("save")[0].1, "60 10 300 5");
    assert_eq!(l.config.get("bind")[0].1, "127.0.0.1 ::1");
    assert!(l.config_file.is_none());
    assert!(run(&["--save", ""], "").unwrap().config.save.is_empty());
    assert!(run(&["--save"], "").unwrap().config.save.is_empty());
    let l = run(&["--save", "--port", "1"], "").unwrap();
    assert!(l.config.save.is_empty());
    assert_eq!(l.config.port, 1);
    let l = run(&["--requirepass", "--odd", "--port 6"], "").unwrap();
    assert_eq!(l.config.requirepass.as_deref(), Some("--odd"));
    assert_eq!(l.config.port, 6);
    let l = run(&["--requirepass", "a \"b\"\n"], "").unwrap();
    assert_eq!(l.config.requirepass.as_deref(), Some("a \"b\"\n"));
}

#[test]
fn command_line_errors_and_files() {
    let e = |v: &[&str]| run(v, "").unwrap_err().to_string();
    assert_eq!(
        e(&["--port", "abc"]),
        fatal(2, "port \"abc\"", "argument couldn't be parsed into an integer")
    );
    assert_eq!(
        e(&["--port", "1", "--foo", "bar"]),
        fatal(3, "foo \"bar\"", "Bad directive or wrong number of arguments")
    );
    assert_eq!(
        e(&["--port", "1", "a", "b"]),
        fatal(2, "port \"1\" \"a\" \"b\"", "wrong number of arguments")
    );
    assert_eq!(
        e(&["--port", "1", "--timeout"]),
        fatal(3, "timeout", "wrong number of arguments")
    );
    assert_eq!(
        e(&["--save", "60 x"]),
        fatal(2, "save \"60 x\"", "Invalid save parameters")
    );
    let d = temp_dir("cli");
    let f = d.join("s.conf");
    std::fs::write(&f, "port 1\n").unwrap();
    let fs = f.to_str().unwrap();
    assert_eq!(
        e(&[fs, "--timeout", "x"]),
        fatal(3, "timeout \"x\"", "argument couldn't be parsed into an integer")
    );
    std::fs::write(&f, "port 1").unwrap();
    assert_eq!(
        e(&[fs, "--timeout", "x"]),
        fatal(2, "timeout \"x\"", "argument couldn't be parsed into an integer")
    );
    let l = run(&[fs, "--port", "2"], "").unwrap();
    assert_eq!(l.config.port, 2);
    assert_eq!(l.config_file.as_deref(), Some(f.as_path()));
    // `-` reads stdin after the file, before options.
    let l = run(&[fs, "-"], "\ntimeout 4\nport 3\n").unwrap();
    assert_eq!((l.config.port, l.config.timeout), (3, 4));
    let l = run(&["-", "--port", "8"], "port 3\ntimeout 4\n").unwrap();
    assert_eq!((l.config.port, l.config.timeout), (8, 4));
    assert_eq!(
        run(&["-"], "port abc\n").unwrap_err().to_string(),
        fatal(1, "port abc", "argument couldn't be parsed into an integer")
    );
    // `-` in the middle is an ordinary (bad) argument, as in Redis.
    assert_eq!(
        e(&[fs, "-", "--timeout", "1"]),
        fatal(2, "\"-\"", "Bad directive or wrong number of arguments")
    );
    let missing = d.join("nope.conf");
    assert_eq!(
        e(&[missing.to_str().unwrap()]),
        format!(
            "Fatal error, can't open config file '{}': No such file or directory",
            missing.display()
        )
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn version_and_help() {
    let p = |v: &[&str]| parse_args_with_stdin(&args(v), &mut Cursor::new(Vec::new())).unwrap();
    assert!(matches!(p(&["-v"]), Invocation::Version));
    assert!(matches!(p(&["--version"]), Invocation::Version));
    assert!(matches!(p(&["-h"]), Invocation::Help));
    assert!(matches!(p(&["--help"]), Invocation::Help));
    assert!(matches!(p(&[]), Invocation::Run(_)));
}

/// Debian's shipped /etc/redis/redis.conf (redis-server 7.0 package).
const DEBIAN_CONF: &str = include_str!("../../conf/redis-debian.conf");

#[test]
fn debian_redis_conf_loads_without_errors() {
    let mut l = Loader::new();
    // It names /var/lib/redis, which need not exist on a build machine.
    l.ctx.verify_dir = false;
    l.load_text(DEBIAN_CONF).unwrap_or_else(|e| panic!("{e}"));
    let c = l.finish(None).config;
    assert_eq!(c.get("bind")[0].1, "127.0.0.1 -::1");
    assert!(c.daemonize);
    assert_eq!(c.pidfile.as_deref(), Some("/run/redis/redis-server.pid"));
    assert_eq!(c.logfile, "/var/log/redis/redis-server.log");
    assert_eq!(c.dir, "/var/lib/redis");
    assert_eq!(c.get("save")[0].1, "3600 1 300 100 60 10000");
    assert_eq!(c.get("proc-title-template")[0].1, "{title} {listen-addr} {server-mode}");
    // A memory directive Shoal ignores still reads as bytes, as in Redis.
    assert_eq!(c.get("auto-aof-rewrite-min-size")[0].1, "67108864");
}
