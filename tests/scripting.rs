//! Lua scripting (EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT) compared with redis-server 7.0
//! reply by reply, in RESP2 and RESP3, with one shard and four; then what only Shoal's design
//! can get wrong: a script over keys of several shards is atomic, its effects replicate to a
//! stock replica, and SCRIPT KILL reaches a script running on another core.

mod common;

use std::time::Duration;

use common::dataset::{assert_same_data, snapshot};
use common::{Conn, Flavor, Pair, Reply, TestServer, diff, wait_in_sync};

/// `EVAL script numkeys keys-and-args...` on both servers, compared.
fn eval(p: &mut Pair, script: &str, rest: &[&str]) {
    let mut args = vec![b"EVAL".to_vec(), script.as_bytes().to_vec()];
    args.extend(rest.iter().map(|a| a.as_bytes().to_vec()));
    p.same(&args);
}

/// Scripts and their `numkeys key... arg...`.
const SCRIPTS: &[(&str, &[&str])] = &[
    // Return values.
    ("return 1", &["0"]),
    ("return 'text'", &["0"]),
    ("return 3.99", &["0"]),
    ("return -3.7", &["0"]),
    ("return 1e20", &["0"]),
    ("return true", &["0"]),
    ("return false", &["0"]),
    ("return nil", &["0"]),
    ("return {1, 2, {3, 'x'}, nil, 5}", &["0"]),
    ("return {1.5, 'x', true, false}", &["0"]),
    ("return {ok = 'fine'}", &["0"]),
    ("return {err = 'bad thing'}", &["0"]),
    ("return {1, {ok = 'a'}, {err = 'e'}}", &["0"]),
    ("return redis.error_reply('My Error')", &["0"]),
    ("return redis.status_reply('HI')", &["0"]),
    ("return {}", &["0"]),
    // KEYS and ARGV; with four shards these keys live on several.
    (
        "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2]}",
        &["2", "k1", "k2", "a1", "a2"],
    ),
    ("return #KEYS .. #ARGV", &["2", "a", "b", "c"]),
    ("return KEYS", &["0"]),
    (
        "for i, k in ipairs(KEYS) do redis.call('SET', k, ARGV[i]) end return redis.call('MGET', unpack(KEYS))",
        &["4", "ka", "kb", "kc", "kd", "1", "2", "3", "4"],
    ),
    // Replies of every type, converted to Lua and back.
    ("return redis.call('SET', 'str', 'v')", &["0"]),
    ("return redis.call('GET', 'str')", &["0"]),
    ("return redis.call('GET', 'nokey')", &["0"]),
    ("return type(redis.call('GET', 'nokey'))", &["0"]),
    ("return redis.call('INCR', 'counter')", &["0"]),
    ("return redis.call('PING')", &["0"]),
    ("return redis.call('PING').ok", &["0"]),
    (
        "redis.call('RPUSH', 'list', 'a', 'b', 'c') return redis.call('LRANGE', 'list', 0, -1)",
        &["0"],
    ),
    ("return redis.call('HSET', 'h', 'f1', 'v1', 'f2', 'v2')", &["0"]),
    ("return redis.call('HGETALL', 'h')", &["0"]),
    ("return redis.call('ZADD', 'z', 1.5, 'm', 2, 'n')", &["0"]),
    ("return redis.call('ZRANGE', 'z', 0, -1, 'WITHSCORES')", &["0"]),
    ("return redis.call('ZSCORE', 'z', 'm')", &["0"]),
    ("return redis.call('EXISTS', 'str', 'nokey', 'list')", &["0"]),
    // SELECT inside a script holds for the script's calls, not for the client after it.
    (
        "redis.call('SELECT', 1) redis.call('SET', 'in-db1', 'x') return redis.call('DBSIZE')",
        &["0"],
    ),
    ("return redis.call('EXISTS', 'in-db1')", &["0"]),
    // Arguments: numbers as redis-server formats them.
    ("redis.call('SET', 'f', 1/3) return redis.call('GET', 'f')", &["0"]),
    ("redis.call('SET', 'f', 1e20) return redis.call('GET', 'f')", &["0"]),
    ("redis.call('SET', 'f', 3) return redis.call('GET', 'f')", &["0"]),
    ("redis.call('SET', 'f', -0.5) return redis.call('GET', 'f')", &["0"]),
    // Errors from commands: raised by call, returned by pcall.
    ("local r = redis.call('INCR', 'str') return r", &["0"]),
    ("return redis.pcall('INCR', 'str')", &["0"]),
    ("return type(redis.pcall('INCR', 'str'))", &["0"]),
    ("return redis.pcall('INCR', 'str').err", &["0"]),
    ("local r = redis.call('LPUSH', 'str', 'x') return r", &["0"]),
    ("local r = redis.call('nosuch') return r", &["0"]),
    ("return redis.pcall('nosuch')", &["0"]),
    ("local r = redis.call() return r", &["0"]),
    ("return redis.pcall()", &["0"]),
    ("local r = redis.call('GET') return r", &["0"]),
    ("return redis.pcall('GET')", &["0"]),
    ("local r = redis.call('GET', {}) return r", &["0"]),
    ("return redis.pcall('GET', {})", &["0"]),
    ("local r = redis.call('MULTI') return r", &["0"]),
    ("local r = redis.call('BLPOP', 'list', 0) return r", &["0"]),
    ("local r = redis.call('EVAL', 'return 1', 0) return r", &["0"]),
    ("local r = redis.call('RESET') return r", &["0"]),
    ("local r = redis.call('QUIT') return r", &["0"]),
    ("local r = redis.call('AUTH', 'x') return r", &["0"]),
    ("local r = redis.call('HELLO') return r", &["0"]),
    (
        "local ok, e = pcall(redis.call, 'INCR', 'str') return {tostring(ok), e.err}",
        &["0"],
    ),
    (
        "local ok, e = pcall(function() return redis.call('INCR', 'str') end) return e.err",
        &["0"],
    ),
    // Script errors and the sandbox.
    ("error('boom')", &["0"]),
    ("error({err = 'X boom'})", &["0"]),
    ("error({err = 'boom'})", &["0"]),
    ("local a = 1\nlocal b = 2\nerror('on line three')", &["0"]),
    ("x = 1", &["0"]),
    ("return y", &["0"]),
    ("string.x = 1", &["0"]),
    ("redis.call = 1", &["0"]),
    ("redis = 1", &["0"]),
    ("return type(os)", &["0"]),
    ("return type(io)", &["0"]),
    ("return type(print)", &["0"]),
    ("return type(debug)", &["0"]),
    ("return type(loadfile)", &["0"]),
    ("return type(dofile)", &["0"]),
    ("return type(require)", &["0"]),
    ("return type(setfenv)", &["0"]),
    (
        "return type(loadstring) .. type(unpack) .. type(pcall) .. type(_G)",
        &["0"],
    ),
    ("return _VERSION", &["0"]),
    ("syntax error here", &["0"]),
    ("return redis.call('GET', 'a'", &["0"]),
    // The libraries.
    ("return redis.sha1hex('')", &["0"]),
    ("return redis.sha1hex(1)", &["0"]),
    ("local r = redis.sha1hex() return r", &["0"]),
    ("local r = redis.setresp(4) return r", &["0"]),
    ("local r = redis.set_repl(9) return r", &["0"]),
    ("return redis.replicate_commands()", &["0"]),
    ("return redis.log(redis.LOG_WARNING, 'from a test')", &["0"]),
    ("return redis.REDIS_VERSION_NUM", &["0"]),
    (
        "return {redis.LOG_DEBUG, redis.LOG_NOTICE, redis.REPL_ALL, redis.REPL_NONE}",
        &["0"],
    ),
    ("return cjson.encode({1, 2, 'a'})", &["0"]),
    ("return cjson.encode({a = 1})", &["0"]),
    (
        "local t = cjson.decode('{\"a\":[1,2,{\"b\":true}]}') return {t.a[1], t.a[2], tostring(t.a[3].b)}",
        &["0"],
    ),
    ("return cjson.decode('[1,null,3]')[3]", &["0"]),
    ("local r = cjson.encode(function() end) return r", &["0"]),
    (
        "return cmsgpack.pack(1, -1, 127, 128, 255, 256, 65535, 65536, -32, -33, -128, -129, 4294967296, 1.5, 0.1, 1e300, true, false, nil)",
        &["0"],
    ),
    (
        "return cmsgpack.pack('abc', string.rep('x', 40), string.rep('y', 300), {1, 2, 3}, {a = 1}, {}, {1, nil, 3})",
        &["0"],
    ),
    (
        "return {cmsgpack.unpack(cmsgpack.pack(1, 'a', {1, 2, {3}}, 1.5))}",
        &["0"],
    ),
    ("local t = cmsgpack.unpack(cmsgpack.pack({x = 'y'})) return t.x", &["0"]),
    ("local r = cmsgpack.unpack('\\196') return r", &["0"]),
    ("return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))}", &["0"]),
    ("return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}", &["0"]),
    ("return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2, 1)}", &["0"]),
    ("return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2), 5)}", &["0"]),
    ("local r = cmsgpack.pack() return r", &["0"]),
    ("return {cmsgpack.unpack('')}", &["0"]),
    ("return cmsgpack.pack({{{{{{{{{{{{{{{{{{1}}}}}}}}}}}}}}}}}})", &["0"]),
    (
        "return bit.band(12, 10) .. ' ' .. bit.bor(12, 10) .. ' ' .. bit.bxor(12, 10)",
        &["0"],
    ),
    ("return string.format('%5.2f|%d|%s', 3.14159, 42, 'x')", &["0"]),
    ("return table.concat({'a', 'b', 'c'}, '-')", &["0"]),
    ("return math.floor(7.9) + math.max(1, 5)", &["0"]),
    ("return tostring(1e15) .. ' ' .. tostring(1/3)", &["0"]),
    ("return string.rep('ab', 3)", &["0"]),
    // RESP3 replies in the script after redis.setresp(3).
    (
        "redis.call('HSET', 'h1', 'only', 'field') redis.setresp(3) return redis.call('HGETALL', 'h1')",
        &["0"],
    ),
    ("redis.setresp(3) return redis.call('GET', 'nokey')", &["0"]),
    (
        "redis.setresp(3) local t = redis.call('HGETALL', 'h') return t.map.f1",
        &["0"],
    ),
    ("redis.setresp(3) return redis.call('ZSCORE', 'z', 'm')", &["0"]),
    ("redis.setresp(3) return redis.call('ZSCORE', 'z', 'm').double", &["0"]),
    ("redis.setresp(3) return redis.call('SMEMBERS', 'noset')", &["0"]),
    ("redis.setresp(3) return true", &["0"]),
    ("redis.setresp(3) return false", &["0"]),
    ("return {double = 3.5}", &["0"]),
    // numkeys.
    ("return 1", &["-1"]),
    ("return 1", &["2", "a"]),
    ("return 1", &["x"]),
];

#[test]
fn scripts_match_redis() {
    for proto in ["2", "3"] {
        diff(|p| {
            p.s(&format!("HELLO {proto}"));
            for (script, rest) in SCRIPTS {
                eval(p, script, rest);
            }
            // The data the scripts left.
            p.lines(&[
                "EXISTS in-db1",
                "SELECT 1",
                "GET in-db1",
                "SELECT 0",
                "MGET str counter f ka kb kc kd",
                "LRANGE list 0 -1",
                "HGETALL h",
                "ZRANGE z 0 -1 WITHSCORES",
            ]);
        });
    }
}

/// An error raised by a call in tail position: Lua has replaced the script's frame with the
/// callee's, so Shoal cannot name the line (redis-server's C `redis.call` keeps it); the rest
/// of the error is redis-server's.
#[test]
fn an_error_in_tail_position_names_no_line() {
    let shoal = TestServer::shoal(1);
    let mut conn = shoal.conn();
    conn.q("SET str text");
    let script = "return redis.call('INCR', 'str')";
    let sha = "3e3a4896b782022be65d0e161f47534362f64b87";
    assert_eq!(
        Reply::parse(&conn.raw(&cmd!("EVAL", script, "0"))),
        Reply::Error(format!(
            "ERR value is not an integer or out of range script: {sha}, on @user_script:?."
        ))
    );
}

#[test]
fn evalsha_and_script_commands_match_redis() {
    diff(|p| {
        let sha = "6f1bf9b6ffbd6d5e4a8e54e3ee8d1e2b44d3cdd3";
        p.same(&cmd!("SCRIPT", "EXISTS", sha, "abc"));
        p.same(&cmd!("EVALSHA", sha, "0"));
        p.same(&cmd!("EVALSHA", "abc", "0"));
        let loaded = p.same(&cmd!("SCRIPT", "LOAD", "return 'hi ' .. ARGV[1]"));
        let sha = String::from_utf8_lossy(&loaded[loaded.len() - 42..loaded.len() - 2]).into_owned();
        p.same(&cmd!("EVALSHA", sha.as_str(), "0", "there"));
        p.same(&cmd!("EVALSHA", sha.to_uppercase().as_str(), "0", "there"));
        p.same(&cmd!("EVALSHA_RO", sha.as_str(), "0", "ro"));
        p.same(&cmd!(
            "SCRIPT",
            "EXISTS",
            sha.as_str(),
            "ffffffffffffffffffffffffffffffffffffffff"
        ));
        p.same(&cmd!("SCRIPT", "LOAD", "return ("));
        // EVAL caches its script too.
        p.same(&cmd!("EVAL", "return 'cached'", "0"));
        p.same(&cmd!("SCRIPT", "EXISTS", "952f49ffc8f7b098d8ab5da45d3164ca36ed18b1"));
        p.same(&cmd!("EVAL_RO", "return redis.call('GET', 'x')", "0"));
        p.same(&cmd!("EVAL_RO", "local r = redis.call('SET', 'x', 1) return r", "0"));
        p.same(&cmd!("EVAL_RO", "return redis.pcall('DEL', 'x')", "0"));
        let cached = |conn: &mut Conn| conn.info("memory").remove("number_of_cached_scripts");
        let (r, s) = (cached(&mut p.redis), cached(&mut p.shoal));
        assert_eq!(s, r, "INFO number_of_cached_scripts");
        assert_eq!(s.as_deref(), Some("5"));
        p.same(&cmd!("SCRIPT", "FLUSH", "BOGUS"));
        p.same(&cmd!("SCRIPT", "FLUSH"));
        p.same(&cmd!("SCRIPT", "EXISTS", sha.as_str()));
        p.same(&cmd!("EVALSHA", sha.as_str(), "0"));
        p.same(&cmd!("SCRIPT", "LOAD", "return 2"));
        p.same(&cmd!("SCRIPT", "FLUSH", "ASYNC"));
        p.same(&cmd!("SCRIPT", "KILL"));
        p.same(&cmd!("SCRIPT", "NOSUCH"));
        p.same(&cmd!("SCRIPT", "LOAD"));
        // Inside MULTI: queued, then run with the transaction.
        p.same(&cmd!("MULTI"));
        p.same(&cmd!("EVAL", "return redis.call('INCR', KEYS[1])", "1", "m1"));
        p.same(&cmd!("INCR", "m2"));
        p.same(&cmd!("EVAL", "return redis.call('INCRBY', KEYS[1], 5)", "1", "m2"));
        p.same(&cmd!("EXEC"));
    });
}

/// A script moving units between keys of different shards never shows a half-done move to
/// a concurrent MGET, and loses no update.
#[test]
fn a_script_over_several_shards_is_atomic() {
    let shoal = TestServer::shoal(4);
    let keys: Vec<String> = (0..8).map(|i| format!("acct:{i}")).collect();
    let mut setup = shoal.conn();
    for k in &keys {
        setup.q(&format!("SET {k} 100"));
    }
    let transfer = "local a = tonumber(redis.call('GET', KEYS[1])) \
                    redis.call('SET', KEYS[1], a - 1) \
                    redis.call('INCR', KEYS[2]) return a";
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let port = shoal.port;
            let keys = keys.clone();
            std::thread::spawn(move || {
                let mut conn = Conn::connect(port);
                for i in 0..300usize {
                    let (from, to) = (&keys[(i + w) % 8], &keys[(i * 3 + w + 1) % 8]);
                    if from == to {
                        continue;
                    }
                    let reply = Reply::parse(&conn.raw(&cmd!("EVAL", transfer, 2, from.as_str(), to.as_str())));
                    assert!(matches!(reply, Reply::Int(_)), "{reply:?}");
                }
            })
        })
        .collect();
    let mut reader = shoal.conn();
    let mut mget = vec![b"MGET".to_vec()];
    mget.extend(keys.iter().map(|k| k.as_bytes().to_vec()));
    let mut reads = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        let Reply::Array(values) = Reply::parse(&reader.raw(&mget)) else {
            panic!("MGET");
        };
        let sum: i64 = values
            .iter()
            .map(|v| {
                String::from_utf8_lossy(&v.bulk().expect("a value"))
                    .parse::<i64>()
                    .expect("a number")
            })
            .sum();
        assert_eq!(sum, 800, "a concurrent MGET saw a half-done script");
        reads += 1;
    }
    for w in writers {
        w.join().expect("writer");
    }
    assert!(reads > 0);
    let Reply::Array(values) = Reply::parse(&reader.raw(&mget)) else {
        panic!("MGET");
    };
    let sum: i64 = values
        .iter()
        .map(|v| {
            String::from_utf8_lossy(&v.bulk().expect("a value"))
                .parse::<i64>()
                .expect("a number")
        })
        .sum();
    assert_eq!(sum, 800);
}

const SCRIPTED_WRITES: &[(&str, &[&str])] = &[
    (
        "for i, k in ipairs(KEYS) do redis.call('INCRBY', k, ARGV[1]) end",
        &["3", "x1", "x2", "x3", "5"],
    ),
    (
        "redis.call('RPUSH', KEYS[1], 'a', 'b') redis.call('LPOP', KEYS[1]) return 1",
        &["1", "l"],
    ),
    (
        "redis.call('SET', 'plain', 'v', 'EX', 1000) return redis.call('TTL', 'plain')",
        &["0"],
    ),
    ("redis.call('HSET', 'h', 'f', math.floor(10 / 3))", &["0"]),
    (
        "redis.set_repl(redis.REPL_NONE) redis.call('SET', 'local-only', 1) redis.set_repl(redis.REPL_ALL) redis.call('SET', 'shared', 1)",
        &["0"],
    ),
    ("redis.call('SET', 'gone', 1) redis.call('DEL', 'gone')", &["0"]),
    ("return redis.call('GET', 'x1')", &["0"]),
];

/// A script's writes reach a stock redis-server replica of a 4-shard Shoal as their effects,
/// and what a redis-server master's scripts propagate applies on a Shoal replica.
#[test]
fn script_effects_replicate_both_ways() {
    let master = TestServer::start_with(Flavor::Shoal { shards: 4 }, None, &[]);
    let port = master.port.to_string();
    let redis = TestServer::start_with(Flavor::Redis, None, &["--replicaof", "127.0.0.1", port.as_str()]);
    wait_in_sync(&master, &redis);
    let mut m = master.conn();
    for (script, rest) in SCRIPTED_WRITES {
        let mut args = vec![b"EVAL".to_vec(), script.as_bytes().to_vec()];
        args.extend(rest.iter().map(|a| a.as_bytes().to_vec()));
        let reply = Reply::parse(&m.raw(&args));
        assert!(!matches!(reply, Reply::Error(_)), "{script}: {reply:?}");
    }
    wait_in_sync(&master, &redis);
    let mut want = snapshot(&mut master.conn(), &[0]);
    // REPL_NONE kept that write on the master alone, as redis-server does.
    assert!(want.remove(&(0, b"local-only".to_vec())).is_some());
    assert_same_data(&snapshot(&mut redis.conn(), &[0]), &want, "redis-server replica");

    let source = TestServer::start_with(Flavor::Redis, None, &[]);
    let port = source.port.to_string();
    let shoal = TestServer::start_with(
        Flavor::Shoal { shards: 4 },
        None,
        &["--replicaof", "127.0.0.1", port.as_str()],
    );
    wait_in_sync(&source, &shoal);
    let mut s = source.conn();
    for (script, rest) in SCRIPTED_WRITES {
        let mut args = vec![b"EVAL".to_vec(), script.as_bytes().to_vec()];
        args.extend(rest.iter().map(|a| a.as_bytes().to_vec()));
        s.raw(&args);
    }
    wait_in_sync(&source, &shoal);
    let mut want = snapshot(&mut source.conn(), &[0]);
    assert!(want.remove(&(0, b"local-only".to_vec())).is_some());
    assert_same_data(
        &snapshot(&mut shoal.conn(), &[0]),
        &want,
        "Shoal replica of redis-server",
    );
}

/// SCRIPT KILL from a connection on another core ends a looping script that has not
/// written; meanwhile, past `busy-reply-threshold`, other commands there get BUSY. One that
/// has written is UNKILLABLE until it ends by itself.
#[test]
fn script_kill_ends_a_busy_script_from_another_core() {
    let shoal = TestServer::start_with(Flavor::Shoal { shards: 2 }, None, &["--busy-reply-threshold", "100"]);
    // Connections are spread over the two cores; a command sent on the busy core waits for
    // the script, one sent on the other core is answered at once.
    let mut others: Vec<Conn> = (0..16).map(|_| shoal.conn()).collect();
    let mut busy = shoal.conn();
    busy.send(&cmd!("EVAL", "local i = 0 while true do i = i + 1 end", "0"));
    std::thread::sleep(Duration::from_millis(300));
    for o in &mut others {
        o.send(&cmd!("GET", "k"));
        o.send(&cmd!("SCRIPT", "KILL"));
    }
    let reply = Reply::parse(&busy.read_reply());
    let Reply::Error(e) = reply else { panic!("{reply:?}") };
    assert!(
        e.starts_with("ERR Script killed by user with SCRIPT KILL... script: "),
        "{e}"
    );
    let busy_error =
        Reply::Error("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.".into());
    let (mut refused, mut oks) = (0, 0);
    for o in &mut others {
        let get = Reply::parse(&o.read_reply());
        let kill = Reply::parse(&o.read_reply());
        // GET is refused while the script runs, or runs once it has ended.
        assert!(get == busy_error || get == Reply::Nil, "{get:?}");
        refused += usize::from(get == busy_error);
        // The first kill ends the script; later ones find none running.
        assert!(
            kill == Reply::Simple("OK".into())
                || kill == Reply::Error("NOTBUSY No scripts in execution right now.".into()),
            "{kill:?}"
        );
        oks += usize::from(kill == Reply::Simple("OK".into()));
    }
    assert!(refused >= 1 && oks >= 1, "{refused} BUSY replies, {oks} kills");
    assert_eq!(busy.q("PING"), Reply::Simple("PONG".into()));

    // A script that wrote cannot be killed; it ends by itself here.
    busy.send(&cmd!(
        "EVAL",
        "redis.call('SET', 'w', 1) local i = 0 while i < 200000000 do i = i + 1 end return i",
        "0"
    ));
    std::thread::sleep(Duration::from_millis(100));
    let mut unkillable = false;
    for o in &mut others {
        o.send(&cmd!("SCRIPT", "KILL"));
    }
    for o in &mut others {
        if let Reply::Error(e) = Reply::parse(&o.read_reply()) {
            unkillable |= e.starts_with("UNKILLABLE ");
        }
    }
    assert_eq!(Reply::parse(&busy.read_reply()), Reply::Int(200_000_000));
    assert!(unkillable, "no connection saw UNKILLABLE");
}

/// Real clients' script helpers: the `redis` crate's `Script` (EVALSHA, and on NOSCRIPT a
/// load and retry) and `redis-cli --eval` with keys and arguments.
#[test]
fn client_script_helpers_work() {
    let shoal = TestServer::shoal(2);
    let mut con = shoal.client();
    let script = redis::Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    let first: i64 = script.key("counter").arg(5).invoke(&mut con).expect("first invoke");
    let second: i64 = script.key("counter").arg(2).invoke(&mut con).expect("second invoke");
    assert_eq!((first, second), (5, 7));
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut con).expect("flush");
    let third: i64 = script
        .key("counter")
        .arg(1)
        .invoke(&mut con)
        .expect("invoke after a flush");
    assert_eq!(third, 8);

    let dir = common::TempDir::new("script-cli");
    let file = dir.path().join("incr.lua");
    std::fs::write(&file, "return redis.call('INCRBY', KEYS[1], ARGV[1])\n").expect("script file");
    let out = std::process::Command::new(common::require_tool("redis-cli"))
        .args(["-p", &shoal.port.to_string(), "--eval"])
        .arg(&file)
        .args(["counter", ",", "10"])
        .output()
        .expect("redis-cli");
    // Not a terminal: redis-cli prints the bare reply.
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "18");
}

/// MONITOR shows a script's line, then the commands it called as the "lua" client's, on both
/// servers (timestamps and the caller's address aside).
#[test]
fn monitor_shows_script_commands_after_the_script() {
    let shapes = |server: &TestServer| -> Vec<String> {
        let mut mon = server.conn();
        assert_eq!(mon.q("MONITOR"), Reply::Simple("OK".into()));
        let mut c = server.conn();
        c.raw(&cmd!(
            "EVAL",
            "redis.call('SET', KEYS[1], 'v') return redis.call('GET', KEYS[1])",
            "1",
            "mk"
        ));
        c.q("PING");
        let mut lines = Vec::new();
        while !lines.iter().any(|l: &String| l.contains("\"PING\"")) {
            let raw = mon.read_reply();
            let line = String::from_utf8_lossy(&raw).trim_end().to_string();
            // "+<secs>.<micros> [<db> <client>] args": keep the client only when it is "lua".
            let (_, rest) = line.split_once(" [").expect("a monitor line");
            let (who, args) = rest.split_once("] ").expect("a monitor line");
            let who = if who.ends_with(" lua") {
                who.to_string()
            } else {
                "client".into()
            };
            lines.push(format!("{who} {args}"));
        }
        lines
    };
    let redis = TestServer::redis();
    let shoal = TestServer::shoal(2);
    let want = shapes(&redis);
    assert_eq!(want[1], "0 lua \"SET\" \"mk\" \"v\"", "{want:?}");
    assert_eq!(shapes(&shoal), want);
}
