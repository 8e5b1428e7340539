//! RDB interchange with a real redis-server 7.0.15 (invariant S3), and refusal of damaged files
//! (invariant S2).
//!
//! * Files written by redis-server (every encoding it produces) are read by `shoal::rdb` and
//!   compared with what redis itself reports for each key.
//! * Files written by `shoal::rdb` are loaded by redis-server (with deep payload sanitization,
//!   so every listpack/intset we produce is validated) and compared key by key, TTLs included.
//! * Truncated or bit-flipped files are refused.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shoal::rdb::{self, AuxValue, RdbEntry, RdbReader, RdbValue, RdbWriter, encode_entry};

/// A redis-server 7.0 child on a free loopback port with its own directory.
struct Redis {
    child: Child,
    dir: PathBuf,
    con: redis::Connection,
}

impl Redis {
    /// Starts redis-server in `dir` with extra arguments; panics (never skips) without it.
    fn start(dir: &Path, extra: &[&str]) -> Redis {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
            .to_string();
        let mut args: Vec<&str> = vec![
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ];
        let d = dir.to_string_lossy().into_owned();
        args.extend(["--dir", &d]);
        args.extend(extra);
        let log = std::fs::File::create(dir.join("server.log")).unwrap();
        let child = Command::new("redis-server")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("redis-server 7.0 must be installed (apt-get install redis-server)");
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut child = child;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                panic!("redis-server exited with {status}:\n{log}");
            }
            if let Ok(mut con) = client.get_connection()
                && redis::cmd("PING").query::<String>(&mut con).is_ok()
            {
                return Redis {
                    child,
                    dir: dir.to_path_buf(),
                    con,
                };
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn cmd(&mut self, args: &[&[u8]]) -> redis::Value {
        let mut c = redis::cmd(std::str::from_utf8(args[0]).unwrap());
        for a in &args[1..] {
            c.arg(*a);
        }
        c.query(&mut self.con)
            .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(args[0])))
    }

    fn query<T: redis::FromRedisValue>(&mut self, args: &[&[u8]]) -> T {
        redis::from_redis_value(self.cmd(args)).unwrap()
    }

    /// Every key of every db as redis reports it, in the normal form of [`normalize`].
    fn snapshot(&mut self) -> BTreeMap<(usize, Vec<u8>), RdbEntry> {
        let mut all = BTreeMap::new();
        for db in 0..16usize {
            self.cmd(&[b"SELECT", db.to_string().as_bytes()]);
            let keys: Vec<Vec<u8>> = self.query(&[b"KEYS", b"*"]);
            for key in keys {
                let k: &[u8] = &key;
                let kind: String = self.query(&[b"TYPE", k]);
                let value = match kind.as_str() {
                    "string" => RdbValue::String(self.query(&[b"GET", k])),
                    "list" => RdbValue::List(self.query(&[b"LRANGE", k, b"0", b"-1"])),
                    "set" => RdbValue::Set(self.query(&[b"SMEMBERS", k])),
                    "hash" => RdbValue::Hash(self.query(&[b"HGETALL", k])),
                    "zset" => {
                        let flat: Vec<(Vec<u8>, String)> = self.query(&[b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"]);
                        RdbValue::ZSet(flat.into_iter().map(|(m, s)| (m, s.parse::<f64>().unwrap())).collect())
                    }
                    other => panic!("unexpected type {other}"),
                };
                let pexpiretime: i64 = self.query(&[b"PEXPIRETIME", k]);
                let expire_ms = (pexpiretime >= 0).then_some(pexpiretime);
                let entry = normalize(RdbEntry {
                    db,
                    key: key.clone(),
                    value,
                    expire_ms,
                });
                all.insert((db, key), entry);
            }
        }
        all
    }

    fn dbsizes(&mut self) -> Vec<i64> {
        (0..16)
            .map(|db: usize| {
                self.cmd(&[b"SELECT", db.to_string().as_bytes()]);
                self.query(&[b"DBSIZE"])
            })
            .collect()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill(); // this pid only
        let _ = self.child.wait();
    }
}

fn temp_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("shoal-rdb-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Order-free form: sets and hashes sorted, zsets by (score, member) as ZRANGE gives them.
fn normalize(mut e: RdbEntry) -> RdbEntry {
    match &mut e.value {
        RdbValue::Set(v) => v.sort(),
        RdbValue::Hash(v) => v.sort(),
        RdbValue::ZSet(v) => v.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0))),
        _ => {}
    }
    e
}

fn read_file(bytes: &[u8]) -> Result<Vec<RdbEntry>, rdb::RdbError> {
    RdbReader::new(bytes)?.collect()
}

fn index(entries: Vec<RdbEntry>) -> BTreeMap<(usize, Vec<u8>), RdbEntry> {
    entries
        .into_iter()
        .map(|e| ((e.db, e.key.clone()), normalize(e)))
        .collect()
}

fn assert_same(got: &BTreeMap<(usize, Vec<u8>), RdbEntry>, want: &BTreeMap<(usize, Vec<u8>), RdbEntry>) {
    let gk: Vec<_> = got.keys().collect();
    let wk: Vec<_> = want.keys().collect();
    assert_eq!(gk, wk, "key sets differ");
    for (k, w) in want {
        assert!(
            got[k] == *w,
            "key {:?} in db {} differs",
            String::from_utf8_lossy(&k.1),
            k.0
        );
    }
}

fn s(v: &str) -> Vec<u8> {
    v.as_bytes().to_vec()
}

/// Fills redis with data in every encoding 7.0.15 has; returns the encodings it reported.
fn populate(r: &mut Redis) -> Vec<String> {
    let mut lzf_value = vec![b'a'; 76];
    lzf_value.extend_from_slice(b"bcbcbcbcbc");
    let long_text: Vec<u8> = (0..400)
        .flat_map(|i| format!("line {i} of a compressible text; ").into_bytes())
        .collect();
    let mut cmds: Vec<Vec<Vec<u8>>> = vec![
        vec![s("SET"), s("str"), s("hello")],
        vec![s("SET"), s("int8"), s("64")],
        vec![s("SET"), s("int16"), s("12345")],
        vec![s("SET"), s("int32"), s("-2147483648")],
        vec![s("SET"), s("bigint"), s("1234567890123")],
        vec![s("SET"), s("zeros"), s("007")],
        vec![s("SET"), s("binary"), vec![0, 255, 13, 10, 0]],
        vec![s("SET"), s("lzf"), lzf_value],
        vec![s("SET"), s("longtext"), long_text],
        vec![s("SET"), s("ttl"), s("val")],
        vec![s("PEXPIREAT"), s("ttl"), s("1893456000000")],
        vec![
            s("RPUSH"),
            s("list"),
            s("a"),
            s("b"),
            s("7"),
            s("-3"),
            s("300"),
            s("70000"),
        ],
        vec![s("SADD"), s("intset"), s("1"), s("2"), s("-5"), s("100000")],
        vec![
            s("SADD"),
            s("intset64"),
            s("9223372036854775807"),
            s("-9223372036854775808"),
            s("0"),
        ],
        vec![s("SADD"), s("set"), s("x"), s("y"), s("z")],
        vec![s("HSET"), s("hash"), s("name"), s("bob"), s("age"), s("42")],
        vec![s("HSET"), s("widehash"), s("f"), vec![b'v'; 100]],
        vec![
            s("ZADD"),
            s("zset"),
            s("1.5"),
            s("a"),
            s("2"),
            s("b"),
            s("-inf"),
            s("lo"),
            s("inf"),
            s("hi"),
            s("0.1"),
            s("c"),
        ],
        vec![s("SELECT"), s("3")],
        vec![s("SET"), s("db3"), s("three")],
        vec![s("RPUSH"), s("db3list"), s("x")],
        vec![s("SET"), s("db3ttl"), s("t")],
        vec![s("PEXPIREAT"), s("db3ttl"), s("4102444800123")],
        vec![s("SELECT"), s("15")],
        vec![s("HSET"), s("db15"), s("k"), s("v")],
        vec![s("SELECT"), s("0")],
    ];
    let mut big_list = vec![s("RPUSH"), s("biglist")];
    big_list.extend((0..5000).map(|i| format!("element-{i}-{}", "x".repeat(i % 90)).into_bytes()));
    big_list.push(vec![b'L'; 20000]);
    let mut big_intset = vec![s("SADD"), s("bigints")];
    big_intset.extend((0..600).map(|i| (i * 7919).to_string().into_bytes()));
    let mut big_hash = vec![s("HSET"), s("bighash")];
    big_hash.extend((0..200).flat_map(|i| [format!("field{i}").into_bytes(), format!("value{i}").into_bytes()]));
    let mut big_zset = vec![s("ZADD"), s("bigzset"), s("-inf"), s("neg"), s("inf"), s("pos")];
    big_zset.extend((0..200).flat_map(|i| {
        [
            format!("{}", f64::from(i) / 3.0).into_bytes(),
            format!("m{i}").into_bytes(),
        ]
    }));
    cmds.extend([big_list, big_intset, big_hash, big_zset]);
    for c in &cmds {
        let args: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
        r.cmd(&args);
    }
    let mut encodings = Vec::new();
    for key in [
        "str", "int8", "longtext", "list", "biglist", "intset", "set", "bigints", "hash", "bighash", "zset", "bigzset",
    ] {
        encodings.push(r.query::<String>(&[b"OBJECT", b"ENCODING", key.as_bytes()]));
    }
    encodings
}

#[test]
fn reads_every_encoding_redis_writes() {
    let dir = temp_dir("from-redis");
    let mut r = Redis::start(&dir, &[]);
    let encodings = populate(&mut r);
    for want in [
        "embstr",
        "int",
        "raw",
        "listpack",
        "quicklist",
        "intset",
        "hashtable",
        "skiplist",
    ] {
        assert!(
            encodings.iter().any(|e| e == want),
            "no {want} value in the test data: {encodings:?}"
        );
    }
    let want = r.snapshot();
    let sizes = r.dbsizes();
    let _: String = r.query(&[b"SAVE"]);
    let bytes = std::fs::read(r.dir.join("dump.rdb")).unwrap();

    // The LZF string is stored exactly as the spec's example shows.
    assert!(
        bytes.windows(4).any(|w| w == [0xC3, 0x0E, 0x40, 0x56]),
        "expected an LZF string"
    );

    let mut reader = RdbReader::new(&bytes[..]).unwrap();
    let mut entries = Vec::new();
    let mut resize = Vec::new();
    while let Some(item) = reader.next_item().unwrap() {
        match item {
            rdb::RdbItem::Entry(e) => entries.push(e),
            rdb::RdbItem::ResizeDb { db, keys, .. } => resize.push((db, keys)),
            _ => {}
        }
    }
    assert_eq!(reader.aux_value("redis-ver"), Some(&b"7.0.15"[..]));
    assert_eq!(reader.offset(), bytes.len() as u64, "reader stops exactly at the end");
    for (db, keys) in resize {
        assert_eq!(sizes[db], keys as i64, "RESIZEDB of db {db}");
    }
    let got = index(entries);
    assert_same(&got, &want);
    assert_eq!(got[&(0, s("ttl"))].expire_ms, Some(1893456000000));
    assert_eq!(got[&(3, s("db3ttl"))].expire_ms, Some(4102444800123));

    refuses_damage(&bytes);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Truncations and bit flips of a real file all give errors (with the CRC on, even flips in
/// string payloads are caught).
fn refuses_damage(bytes: &[u8]) {
    let step = (bytes.len() / 300).max(1);
    for cut in (0..bytes.len()).step_by(step).chain([bytes.len() - 1, bytes.len() - 8]) {
        let err = read_file(&bytes[..cut]).expect_err("truncated file accepted");
        assert!(err.offset <= cut as u64, "{err}");
    }
    let mut seed = 0x9E3779B97F4A7C15u64;
    for _ in 0..300 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut damaged = bytes.to_vec();
        let at = (seed % bytes.len() as u64) as usize;
        damaged[at] ^= 1 << (seed >> 61);
        assert!(read_file(&damaged).is_err(), "flip at {at} accepted");
    }
}

/// Entries in every encoding our writer picks, over dbs 0 and 3, with future TTLs.
fn our_entries() -> Vec<RdbEntry> {
    let e = |db, k: &str, value, expire_ms| RdbEntry {
        db,
        key: s(k),
        value,
        expire_ms,
    };
    let ttl = Some(4102444800123);
    let big_list: Vec<Vec<u8>> = (0..4000)
        .map(|i| format!("item{i}:{}", "q".repeat(i % 70)).into_bytes())
        .collect();
    vec![
        e(0, "str", RdbValue::String(s("hello")), None),
        e(0, "int", RdbValue::String(s("-123456")), ttl),
        e(0, "bigint", RdbValue::String(s("1234567890123")), None),
        e(
            0,
            "long",
            RdbValue::String("compress me ".repeat(100).into_bytes()),
            None,
        ),
        e(0, "binary", RdbValue::String(vec![0, 1, 255, 254]), None),
        e(
            0,
            "list",
            RdbValue::List(vec![
                s("a"),
                s("7"),
                s("-3"),
                s("300"),
                s("70000"),
                s("-9223372036854775808"),
            ]),
            ttl,
        ),
        e(0, "biglist", RdbValue::List(big_list), None),
        e(0, "hugeitem", RdbValue::List(vec![vec![b'h'; 50000], s("tail")]), None),
        e(
            0,
            "intset",
            RdbValue::Set(vec![s("5"), s("-5"), s("100000"), s("9223372036854775807")]),
            None,
        ),
        e(0, "set", RdbValue::Set(vec![s("x"), s("y"), s("12")]), ttl),
        e(
            0,
            "bigintset",
            RdbValue::Set((0..700).map(|i| i.to_string().into_bytes()).collect()),
            None,
        ),
        e(
            3,
            "hash",
            RdbValue::Hash(vec![(s("name"), s("bob")), (s("age"), s("42")), (s("neg"), s("-4097"))]),
            None,
        ),
        e(3, "widehash", RdbValue::Hash(vec![(s("f"), vec![b'v'; 100])]), ttl),
        e(
            3,
            "bighash",
            RdbValue::Hash(
                (0..300)
                    .map(|i| (format!("f{i}").into_bytes(), format!("{i}").into_bytes()))
                    .collect(),
            ),
            None,
        ),
        e(
            3,
            "zset",
            RdbValue::ZSet(vec![
                (s("a"), 1.5),
                (s("lo"), f64::NEG_INFINITY),
                (s("hi"), f64::INFINITY),
                (s("b"), 2.0),
                (s("c"), 0.1),
                (s("d"), 1e300),
                (s("e"), -4503599627370497.0),
            ]),
            None,
        ),
        e(
            3,
            "bigzset",
            RdbValue::ZSet(
                (0..300)
                    .map(|i| (format!("m{i}").into_bytes(), f64::from(i) / 7.0))
                    .chain([(s("ninf"), f64::NEG_INFINITY), (s("pinf"), f64::INFINITY)])
                    .collect(),
            ),
            ttl,
        ),
    ]
}

#[test]
fn redis_loads_what_we_write() {
    let entries = our_entries();
    let dir = temp_dir("to-redis");

    // Assemble the file the way the server will: header, per-db frame, shard chunks, trailer.
    let mut w = RdbWriter::new(true);
    let mut aux = rdb::standard_aux(1_700_000_000, 1 << 20, None);
    aux.insert(2, ("shoal-unknown-field", AuxValue::Str(b"ignored by loaders")));
    w.header(&aux);
    let mut file = w.take();
    for db in [0usize, 3] {
        let mine: Vec<&RdbEntry> = entries.iter().filter(|e| e.db == db).collect();
        let ttls = mine.iter().filter(|e| e.expire_ms.is_some()).count();
        w.select_db(db, mine.len() as u64, ttls as u64);
        for shard in mine.chunks(3) {
            let mut chunk = Vec::new();
            for e in shard {
                encode_entry(&e.key, e.value.as_value_ref(), e.expire_ms, true, &mut chunk);
            }
            w.append(&chunk);
        }
        file.extend(w.take());
    }
    w.finish();
    file.extend(w.take());
    std::fs::write(dir.join("shoal.rdb"), &file).unwrap();

    let want = index(entries.clone());
    assert_same(&index(read_file(&file).unwrap()), &want);

    // Deep sanitization makes redis validate every listpack and intset we wrote.
    let mut r = Redis::start(&dir, &["--dbfilename", "shoal.rdb", "--sanitize-dump-payload", "yes"]);
    let sizes = r.dbsizes();
    assert_eq!(sizes[0], entries.iter().filter(|e| e.db == 0).count() as i64);
    assert_eq!(sizes[3], entries.iter().filter(|e| e.db == 3).count() as i64);
    assert_eq!(sizes.iter().sum::<i64>(), entries.len() as i64);
    assert_same(&r.snapshot(), &want);
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    assert!(log.contains("DB loaded from disk"), "{log}");

    // And what redis saves from it reads back the same.
    let _: String = r.query(&[b"SAVE"]);
    let again = std::fs::read(dir.join("shoal.rdb")).unwrap();
    assert_same(&index(read_file(&again).unwrap()), &want);
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn redis_loads_uncompressed_unchecked_file() {
    let entries = our_entries();
    let dir = temp_dir("to-redis-plain");
    let bytes = rdb::dump(&entries, &[], false, false);
    assert!(bytes.ends_with(&[0; 8]));
    std::fs::write(dir.join("plain.rdb"), &bytes).unwrap();
    let mut r = Redis::start(&dir, &["--dbfilename", "plain.rdb"]);
    assert_same(&r.snapshot(), &index(entries));
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn damaged_files_are_refused() {
    let bytes = rdb::dump(&our_entries(), &rdb::standard_aux(1, 2, None), true, true);
    refuses_damage(&bytes);
    // Wrong magic and future versions are refused up front.
    assert!(read_file(b"REDIX0010\xff").is_err());
    let err = read_file(b"REDIS0011\xff\0\0\0\0\0\0\0\0").unwrap_err();
    assert!(err.to_string().contains("version 11"), "{err}");
}

/// A dump holding a function library is read whole: its keys, and the library's code for
/// the loader to register (FUNCTION2).
#[test]
fn function_libraries_are_read() {
    let dir = temp_dir("functions");
    let mut r = Redis::start(&dir, &[]);
    r.cmd(&[b"SET", b"k", b"v"]);
    let code: &[u8] = b"#!lua name=shoaltest\nredis.register_function('f', function() return 1 end)";
    r.cmd(&[b"FUNCTION", b"LOAD", code]);
    r.cmd(&[b"SAVE"]);
    let bytes = std::fs::read(r.dir.join("dump.rdb")).unwrap();
    let mut reader = RdbReader::new(&bytes[..]).expect("a dump");
    let mut keys = Vec::new();
    while let Some(e) = reader.next_entry().expect("a readable dump") {
        keys.push(e.key);
    }
    assert_eq!(keys, [b"k".to_vec()]);
    assert_eq!(reader.functions(), [code.to_vec()]);
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
}
