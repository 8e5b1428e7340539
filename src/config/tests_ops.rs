//! Tests for CONFIG GET / SET / REWRITE. Expected replies were compared
//! with redis-server 7.0.15.

use super::*;

fn set(c: &mut Config, pairs: &[(&str, &str)]) -> Result<(), String> {
    let raw: Vec<(&[u8], &[u8])> = pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())).collect();
    c.set(&raw)
}

fn get1(c: &Config, name: &str) -> String {
    let v = c.get(name);
    assert_eq!(v.len(), 1, "{name}: {v:?}");
    v[0].1.clone()
}

fn failed(name: &str, why: &str) -> String {
    format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")
}

#[test]
fn get_exact_echoes_name_and_formats_values() {
    let c = Config::load_str("maxmemory 2mb\nrepl-backlog-size 2mb\nreplicaof 127.0.0.1 17301\n")
        .unwrap()
        .config;
    assert_eq!(c.get("PORT"), [("PORT".to_string(), "6379".to_string())]);
    assert_eq!(c.get("Slave-read-only"), [("Slave-read-only".into(), "yes".into())]);
    assert_eq!(get1(&c, "maxmemory"), "2097152");
    assert_eq!(get1(&c, "repl-backlog-size"), "2097152");
    assert_eq!(get1(&c, "replicaof"), "127.0.0.1 17301");
    assert_eq!(get1(&c, "slaveof"), "127.0.0.1 17301");
    assert_eq!(get1(&Config::default(), "replicaof"), "");
    assert_eq!(get1(&c, "requirepass"), "");
    assert_eq!(get1(&c, "pidfile"), "");
    assert_eq!(get1(&c, "protected-mode"), "yes");
    assert_eq!(get1(&c, "loglevel"), "notice");
    assert_eq!(
        get1(&c, "client-output-buffer-limit"),
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
    );
    assert!(c.get("no-such-thing").is_empty());
}

#[test]
fn get_globs_cover_aliases() {
    let c = Config::default();
    let names = |p: &str| -> Vec<String> { c.get(p).into_iter().map(|(n, _)| n).collect() };
    let mut ro = names("*read-only*");
    ro.sort();
    assert_eq!(ro, ["replica-read-only", "slave-read-only"]);
    let mut ls = names("list-max-*");
    ls.sort();
    assert_eq!(ls, ["list-max-listpack-size", "list-max-ziplist-size"]);
    assert_eq!(names("h?"), ["hz"]);
    assert_eq!(names("H?"), ["hz"], "case-insensitive");
    let mut r = names("repl-[^d]*");
    r.sort();
    assert_eq!(
        r,
        [
            "repl-backlog-size",
            "repl-backlog-ttl",
            "repl-ping-replica-period",
            "repl-ping-slave-period",
            "repl-timeout"
        ]
    );
    assert_eq!(names("[o-p]ort"), ["port"]);
    assert_eq!(
        names("por\\t"),
        Vec::<String>::new(),
        "escape makes it exact-lookup only if no glob"
    );
    assert_eq!(names("p[\\o]rt"), ["port"]);
    // Redis 7.0.15 lists 192 names for `*`; Shoal adds set-max-listpack-entries, shards and
    // core-spin-us.
    assert_eq!(c.get("*").len(), 195);
    let many = c.get_many(&["port", "po*", "bind"]);
    assert_eq!(
        many.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["port", "bind"]
    );
}

#[test]
fn glob_matcher_semantics() {
    use super::glob::glob_match;
    assert!(glob_match("a*b?c", "aXXbYc", false));
    assert!(!glob_match("a*b?c", "aXXbc", false));
    assert!(glob_match("[a-c]x", "bx", false));
    assert!(glob_match("[c-a]x", "bx", false), "reversed range");
    assert!(glob_match("[^a]x", "bx", false));
    assert!(!glob_match("[^a]x", "ax", false));
    assert!(glob_match("\\*", "*", false));
    assert!(!glob_match("\\*", "a", false));
    // Redis's matcher never matches an empty string against a non-empty pattern (names are
    // never empty, so CONFIG GET is unaffected).
    assert!(!glob_match("**", "", false));
    assert!(glob_match("A*", "abc", true));
    assert!(!glob_match("A*", "abc", false));
}

#[test]
fn set_values_and_render() {
    let mut c = Config::default();
    set(
        &mut c,
        &[
            ("maxmemory", "1K"),
            ("loglevel", "WARNING"),
            ("maxmemory-policy", "ALLKEYS-LRU"),
            ("save", "100 2 200 3"),
            ("bind", "127.0.0.1 -::1"),
            ("notify-keyspace-events", "KEA"),
            ("client-output-buffer-limit", "replica 1mb 2mb 3"),
            ("hz", "1000"),
            ("masterauth", "a b"),
            ("lua-time-limit", "100"),
            ("activedefrag", "yes"),
        ],
    )
    .unwrap();
    assert_eq!(get1(&c, "maxmemory"), "1000");
    assert_eq!(get1(&c, "loglevel"), "warning");
    assert_eq!(get1(&c, "maxmemory-policy"), "allkeys-lru");
    assert_eq!(get1(&c, "save"), "100 2 200 3");
    assert_eq!(get1(&c, "bind"), "127.0.0.1 -::1");
    assert_eq!(get1(&c, "notify-keyspace-events"), "AKE");
    assert_eq!(
        get1(&c, "client-output-buffer-limit"),
        "normal 0 0 0 slave 1048576 2097152 3 pubsub 33554432 8388608 60"
    );
    assert_eq!(get1(&c, "hz"), "500");
    assert_eq!(c.masterauth.as_deref(), Some("a b"));
    assert_eq!(get1(&c, "busy-reply-threshold"), "100");
    assert_eq!(get1(&c, "activedefrag"), "yes");
    set(&mut c, &[("save", "")]).unwrap();
    assert_eq!(get1(&c, "save"), "");
    for (v, want) in [
        ("Ex", "xE"),
        ("dtnmKE", "tdnKEm"),
        ("lg", "gl"),
        ("nmdtexzhsl$gKE", "AKEm"),
    ] {
        set(&mut c, &[("notify-keyspace-events", v)]).unwrap();
        assert_eq!(get1(&c, "notify-keyspace-events"), want, "{v}");
    }
}

#[test]
fn set_error_texts() {
    let mut c = Config::default();
    let e = |c: &mut Config, p: &[(&str, &str)]| set(c, p).unwrap_err();
    assert_eq!(
        e(&mut c, &[("port", "abc")]),
        failed("port", "argument couldn't be parsed into an integer")
    );
    assert_eq!(
        e(&mut c, &[("port", "70000")]),
        failed("port", "argument must be between 0 and 65535 inclusive")
    );
    assert_eq!(
        e(&mut c, &[("timeout", "010")]),
        failed("timeout", "argument couldn't be parsed into an integer")
    );
    assert_eq!(
        e(&mut c, &[("maxmemory", " 10")]),
        failed("maxmemory", "argument must be a memory value")
    );
    assert_eq!(
        e(&mut c, &[("foo", "1")]),
        "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
    );
    assert_eq!(
        e(&mut c, &[("daemonize", "yes")]),
        failed("daemonize", "can't set immutable config")
    );
    assert_eq!(
        e(&mut c, &[("replicaof", "a b")]),
        failed("replicaof", "can't set immutable config")
    );
    assert_eq!(
        e(&mut c, &[("dir", "/tmp")]),
        failed("dir", "can't set protected config")
    );
    assert_eq!(
        e(&mut c, &[("dbfilename", "a")]),
        failed("dbfilename", "can't set protected config")
    );
    assert_eq!(
        e(&mut c, &[("port", "1"), ("port", "2")]),
        failed("port", "duplicate parameter")
    );
    assert_eq!(
        e(&mut c, &[("save", "60 x")]),
        failed("save", "Invalid save parameters")
    );
    assert_eq!(
        e(&mut c, &[("save", "60  1")]),
        failed("save", "Invalid save parameters")
    );
    assert_eq!(
        e(&mut c, &[("appendonly", "maybe")]),
        failed("appendonly", "argument must be 'yes' or 'no'")
    );
    assert_eq!(
        e(&mut c, &[("repl-backlog-size", "0")]),
        failed(
            "repl-backlog-size",
            "argument must be between 1 and 9223372036854775807 inclusive"
        )
    );
    assert_eq!(
        e(&mut c, &[("client-output-buffer-limit", "master 1 2 3")]),
        failed(
            "client-output-buffer-limit",
            "Invalid client class specified in buffer limit configuration."
        )
    );
    assert_eq!(
        e(&mut c, &[("enable-protected-configs", "yes")]),
        failed("enable-protected-configs", "can't set immutable config")
    );
    // Name checks run over all pairs before any value is parsed.
    assert_eq!(
        e(&mut c, &[("port", "abc"), ("daemonize", "yes")]),
        failed("daemonize", "can't set immutable config")
    );
    assert_eq!(
        e(&mut c, &[("daemonize", "yes"), ("foo", "1")]),
        failed("daemonize", "can't set immutable config")
    );
    assert_eq!(
        e(&mut c, &[("foo", "1"), ("daemonize", "yes")]),
        "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
    );
    // Aliases are distinct entries in Redis 7.0, so this is accepted.
    set(&mut c, &[("slave-read-only", "no"), ("replica-read-only", "yes")]).unwrap();
    assert!(c.replica_read_only);
    assert_eq!(
        c.set(&[]).unwrap_err(),
        "ERR wrong number of arguments for 'config|set' command"
    );
}

#[test]
fn set_is_all_or_nothing() {
    let mut c = Config::default();
    let before = c.clone();
    let r = set(&mut c, &[("maxmemory", "1kb"), ("timeout", "abc")]);
    assert_eq!(
        r.unwrap_err(),
        failed("timeout", "argument couldn't be parsed into an integer")
    );
    assert_eq!(c, before);
    let r = set(
        &mut c,
        &[("save", "1 1"), ("maxmemory", "10"), ("maxmemory-policy", "bad")],
    );
    assert!(r.is_err());
    assert_eq!(c, before);
    set(&mut c, &[("maxmemory", "10"), ("timeout", "5")]).unwrap();
    assert_eq!((c.maxmemory, c.timeout), (10, 5));
}

#[test]
fn protected_configs_follow_enable_protected_configs() {
    let mut c = Config::load_str("enable-protected-configs local\n").unwrap().config;
    let d = std::env::temp_dir();
    let pairs: [(&[u8], &[u8]); 2] = [(b"dir", d.to_str().unwrap().as_bytes()), (b"dbfilename", b"x.rdb")];
    assert!(c.set_as(&pairs, false).is_err());
    c.set_as(&pairs, true).unwrap();
    assert_eq!(c.dir, std::fs::canonicalize(&d).unwrap().to_str().unwrap());
    assert_eq!(c.dbfilename, "x.rdb");
    let bad: [(&[u8], &[u8]); 1] = [(b"dbfilename", b"a/b")];
    assert_eq!(
        c.set_as(&bad, true).unwrap_err(),
        failed("dbfilename", "dbfilename can't be a path, just a filename")
    );
    let nodir: [(&[u8], &[u8]); 1] = [(b"dir", b"/nonexistent/shoal")];
    assert_eq!(
        c.set_as(&nodir, true).unwrap_err(),
        failed("dir", "No such file or directory")
    );
}

#[test]
fn rewrite_keeps_layout_and_updates_in_place() {
    let original = "# top comment\nport 6379\n\nslave-read-only yes\nsave 900 1\nsave 300 10\n\
                    mystery-line stays\ninclude /etc/x.conf\nactiverehashing yes\nport 1\n";
    let mut c = Config::load_str("port 6379\nsave 900 1\nsave 300 10\nactiverehashing yes\n")
        .unwrap()
        .config;
    set(
        &mut c,
        &[
            ("port", "7000"),
            ("replica-read-only", "no"),
            ("maxmemory", "2mb"),
            ("save", "60 5"),
        ],
    )
    .unwrap();
    let out = c.rewrite_text(original);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "# top comment");
    assert_eq!(lines[1], "port 7000");
    assert_eq!(lines[2], "");
    assert_eq!(lines[3], "replica-read-only no");
    assert_eq!(lines[4], "save 60 5");
    // Lines no longer needed become blank, as in Redis.
    assert_eq!(lines[5], "");
    assert_eq!(lines[6], "mystery-line stays");
    assert_eq!(lines[7], "include /etc/x.conf");
    assert_eq!(lines[8], "activerehashing yes");
    // The orphaned `port 1` and the file's final newline: one blank line.
    assert_eq!(lines[9], "");
    assert_eq!(lines[10], "# Generated by CONFIG REWRITE");
    assert!(!out.contains("save 300 10") && !out.contains("port 1\n"));
    assert!(lines[11..].contains(&"maxmemory 2mb"));
    assert!(lines[11..].iter().any(|l| l.starts_with("dir \"")));
    assert!(!out.contains("timeout"), "defaults are not appended");
    // Round trip: the rewritten text loads back to the same values.
    let clean = out.replace("include /etc/x.conf", "").replace("mystery-line stays", "");
    let back = Config::load_str(&clean).unwrap().config;
    assert_eq!(
        (back.port, back.maxmemory, back.replica_read_only),
        (7000, 2 << 20, false)
    );
    assert_eq!(back.save, c.save);
    // A second rewrite reuses the existing signature.
    assert_eq!(
        back.rewrite_text(&out).matches("# Generated by CONFIG REWRITE").count(),
        1
    );
}

#[test]
fn rewrite_specials() {
    let mut c = Config::default();
    set(
        &mut c,
        &[
            ("save", ""),
            ("requirepass", "p \"q\""),
            ("client-output-buffer-limit", "pubsub 1kb 0 5"),
        ],
    )
    .unwrap();
    c.replicaof = Some(("10.0.0.1".into(), 6380));
    let out = c.rewrite_text("replicaof 1.1.1.1 1\n");
    assert!(out.starts_with("replicaof 10.0.0.1 6380\n"));
    assert!(out.contains("\nsave \"\"\n"));
    assert!(out.contains("\nrequirepass \"p \\\"q\\\"\"\n"));
    assert!(out.contains("\nclient-output-buffer-limit pubsub 1kb 0 5\n"));
    let back = Config::load_str(&out).unwrap().config;
    assert_eq!(back.requirepass.as_deref(), Some("p \"q\""));
    assert!(back.save.is_empty());
    c.replicaof = None;
    assert!(!c.rewrite_text("replicaof 1.1.1.1 1\n").contains("replicaof"));
}

#[test]
fn ignored_memory_directives_read_as_bytes() {
    let mut c = Config::load_str("auto-aof-rewrite-min-size 64mb\nmaxmemory-clients 10%\n")
        .unwrap()
        .config;
    assert_eq!(get1(&c, "auto-aof-rewrite-min-size"), "67108864");
    assert_eq!(get1(&c, "maxmemory-clients"), "10%");
    set(&mut c, &[("hll-sparse-max-bytes", "2kb"), ("maxmemory-clients", "1g")]).unwrap();
    assert_eq!(get1(&c, "hll-sparse-max-bytes"), "2048");
    assert_eq!(get1(&c, "maxmemory-clients"), "1000000000");
    assert_eq!(
        set(&mut c, &[("stream-node-max-bytes", "abc")]).unwrap_err(),
        failed("stream-node-max-bytes", "argument must be a memory value")
    );
    assert_eq!(
        set(&mut c, &[("maxmemory-clients", "x%")]).unwrap_err(),
        failed("maxmemory-clients", "argument must be a memory or percent value")
    );
    // CONFIG REWRITE writes sizes in the largest exact unit, as Redis does.
    let out = c.rewrite_text("auto-aof-rewrite-min-size 1\nhll-sparse-max-bytes 1\n");
    assert!(
        out.starts_with("auto-aof-rewrite-min-size 64mb\nhll-sparse-max-bytes 2kb\n"),
        "{out}"
    );
}

#[test]
fn rewrite_collapses_blank_runs_like_redis() {
    let c = Config::load_str("save 60 1\n").unwrap().config;
    let original = "# a\n\n\n\nsave 60 1\ndir \"/x\"\n\n";
    let out = c.rewrite_text(original);
    assert!(out.starts_with("# a\n\nsave 60 1\ndir "), "{out}");
    // Nothing to append: the final newline's empty line stays, once.
    assert!(out.ends_with("\"\n\n"), "{out:?}");
    assert!(!out.contains("# Generated by CONFIG REWRITE"), "{out}");
}
