//! A mixed dataset (every supported type, in the encodings Redis 7.0 picks for small and large
//! values, with and without TTLs, in several dbs) and a whole-dataset snapshot through commands,
//! for persistence and replication tests that compare two servers key by key.

use std::collections::BTreeMap;

use super::{Conn, Reply, encode, lossy, scan_all, show};

/// Sends `cmds` pipelined (in chunks) and returns every raw reply in order.
pub fn pipeline(conn: &mut Conn, cmds: &[Vec<Vec<u8>>]) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(cmds.len());
    for chunk in cmds.chunks(500) {
        let mut bytes = Vec::new();
        for c in chunk {
            bytes.extend_from_slice(&encode(c));
        }
        conn.send_raw(&bytes);
        for c in chunk {
            let r = conn.read_reply();
            assert!(r[0] != b'-', "`{}` failed: {}", show(c), lossy(&r));
            out.push(r);
        }
    }
    out
}

/// A small deterministic generator (xorshift), so datasets are reproducible per seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn word(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| b'a' + self.below(26) as u8).collect()
    }
}

fn args(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

/// The commands that create key number `i` (its kind picked by `i`), TTL included. Every 10th
/// round of kinds makes large values (hashtable / skiplist / quicklist encodings).
pub fn key_commands(key: &[u8], i: usize, rng: &mut Rng, with_ttl: bool) -> Vec<Vec<Vec<u8>>> {
    let large = (i / 14).is_multiple_of(10);
    let mut cmds = Vec::new();
    match i % 14 {
        0 => cmds.push(args(&[b"SET", key, (i as i64 * 7 - 5000).to_string().as_bytes()])),
        1 => cmds.push(args(&[b"SET", key, format!("v{i}").as_bytes()])),
        2 => cmds.push(args(&[b"SET", key, &rng.word(100)])),
        3 => cmds.push(args(&[b"SET", key, &b"abc".repeat(200)])),
        4 => {
            let bin: Vec<u8> = (0..=255u8).chain(*b"\r\n\0").collect();
            cmds.push(args(&[b"SET", key, &bin]));
        }
        5 | 6 => {
            let n = if large && i % 14 == 6 {
                300
            } else {
                3 + rng.below(10) as usize
            };
            let mut c = args(&[b"RPUSH", key]);
            for j in 0..n {
                c.push(if j % 3 == 0 {
                    j.to_string().into_bytes()
                } else {
                    rng.word(1 + j % 80)
                });
            }
            cmds.push(c);
        }
        7 => {
            let mut c = args(&[b"SADD", key]);
            for j in 0..(if large { 600 } else { 5 }) {
                c.push((j as i64 * 3 - 7).to_string().into_bytes());
            }
            cmds.push(c);
        }
        8 | 9 => {
            let n = if large { 200 } else { 4 };
            let mut c = args(&[b"SADD", key]);
            for _ in 0..n {
                c.push(rng.word(8));
            }
            cmds.push(c);
        }
        10 | 11 => {
            let n = if large { 200 } else { 5 };
            let mut c = args(&[b"HSET", key]);
            for j in 0..n {
                c.push(format!("f{j}").into_bytes());
                c.push(if j % 2 == 0 {
                    j.to_string().into_bytes()
                } else {
                    rng.word(if i % 14 == 11 { 90 } else { 6 })
                });
            }
            cmds.push(c);
        }
        _ => {
            let n = if large { 200 } else { 6 };
            let mut c = args(&[b"ZADD", key]);
            for j in 0..n {
                let score = match j {
                    0 => "-inf".to_string(),
                    1 => "inf".to_string(),
                    2 => "0.1".to_string(),
                    _ => format!("{}", (rng.below(1_000_000) as f64 - 500_000.0) / 7.0),
                };
                c.push(score.into_bytes());
                c.push(rng.word(1 + j % 12));
            }
            cmds.push(c);
        }
    }
    if with_ttl {
        let ms = 3_600_000 + i as u64 * 1000;
        cmds.push(args(&[b"PEXPIRE", key, ms.to_string().as_bytes()]));
    }
    cmds
}

/// Writes `n` keys spread over `dbs`, a third of them with a TTL (an hour or more away).
pub fn populate(conn: &mut Conn, n: usize, dbs: &[usize], seed: u64) {
    let mut rng = Rng(seed | 1);
    for (d, &db) in dbs.iter().enumerate() {
        let mut cmds = vec![args(&[b"SELECT", db.to_string().as_bytes()])];
        for i in (d..n).step_by(dbs.len()) {
            let key = format!("key:{seed}:{i}").into_bytes();
            cmds.extend(key_commands(&key, i, &mut rng, i % 3 == 0));
        }
        pipeline(conn, &cmds);
    }
    conn.q("SELECT 0");
}

/// One key as commands see it: type, value in an order-free form, PEXPIRETIME.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyData {
    pub kind: String,
    pub value: Vec<Vec<u8>>,
    pub pexpiretime: i64,
}

fn bulks(r: &Reply) -> Vec<Vec<u8>> {
    r.items().iter().map(|x| x.bulk().unwrap_or_default()).collect()
}

/// Every key of `dbs` with its data, read through commands.
pub fn snapshot(conn: &mut Conn, dbs: &[usize]) -> BTreeMap<(usize, Vec<u8>), KeyData> {
    let mut all = BTreeMap::new();
    for &db in dbs {
        conn.call(&args(&[b"SELECT", db.to_string().as_bytes()]));
        let keys = scan_all(conn, &["COUNT", "1000"]);
        let types: Vec<Vec<Vec<u8>>> = keys.iter().map(|k| args(&[b"TYPE", k])).collect();
        let types: Vec<String> = pipeline(conn, &types).iter().map(|r| Reply::parse(r).text()).collect();
        let mut reads = Vec::new();
        for (k, t) in keys.iter().zip(&types) {
            reads.push(match t.as_str() {
                "string" => args(&[b"GET", k]),
                "list" => args(&[b"LRANGE", k, b"0", b"-1"]),
                "set" => args(&[b"SMEMBERS", k]),
                "hash" => args(&[b"HGETALL", k]),
                "zset" => args(&[b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"]),
                // A key gone between SCAN and TYPE, or an unexpected type: keep the type only.
                _ => args(&[b"ECHO", b""]),
            });
            reads.push(args(&[b"PEXPIRETIME", k]));
        }
        let replies = pipeline(conn, &reads);
        for (j, (k, t)) in keys.iter().zip(types).enumerate() {
            let v = Reply::parse(&replies[2 * j]);
            let value = match t.as_str() {
                "string" => vec![v.bulk().unwrap_or_default()],
                "set" => {
                    let mut m = bulks(&v);
                    m.sort();
                    m
                }
                "hash" => {
                    let flat = bulks(&v);
                    let mut pairs: Vec<Vec<u8>> = flat
                        .chunks(2)
                        .map(|p| [p[0].as_slice(), b"\0=\0", p.get(1).map_or(&[][..], |x| x)].concat())
                        .collect();
                    pairs.sort();
                    pairs
                }
                "list" | "zset" => bulks(&v),
                _ => Vec::new(),
            };
            let pexpiretime = Reply::parse(&replies[2 * j + 1]).int();
            all.insert(
                (db, k.clone()),
                KeyData {
                    kind: t,
                    value,
                    pexpiretime,
                },
            );
        }
    }
    conn.q("SELECT 0");
    all
}

/// DBSIZE of each of `dbs`.
pub fn dbsizes(conn: &mut Conn, dbs: &[usize]) -> Vec<i64> {
    let sizes = dbs
        .iter()
        .map(|db| {
            conn.call(&args(&[b"SELECT", db.to_string().as_bytes()]));
            conn.q("DBSIZE").int()
        })
        .collect();
    conn.q("SELECT 0");
    sizes
}

/// Asserts two snapshots are identical, listing the first differences precisely.
pub fn assert_same_data(
    got: &BTreeMap<(usize, Vec<u8>), KeyData>,
    want: &BTreeMap<(usize, Vec<u8>), KeyData>,
    label: &str,
) {
    let mut diffs = Vec::new();
    for (k, w) in want {
        match got.get(k) {
            None => diffs.push(format!("db {} key {:?}: missing (want {})", k.0, lossy(&k.1), w.kind)),
            Some(g) if g != w => diffs.push(format!(
                "db {} key {:?}: got {} ttl {} {:?}.. want {} ttl {} {:?}..",
                k.0,
                lossy(&k.1),
                g.kind,
                g.pexpiretime,
                g.value.iter().take(3).map(|x| lossy(x)).collect::<Vec<_>>(),
                w.kind,
                w.pexpiretime,
                w.value.iter().take(3).map(|x| lossy(x)).collect::<Vec<_>>()
            )),
            _ => {}
        }
    }
    for k in got.keys().filter(|k| !want.contains_key(*k)) {
        diffs.push(format!("db {} key {:?}: unexpected extra key", k.0, lossy(&k.1)));
    }
    assert!(
        diffs.is_empty(),
        "{label}: {} of {} keys differ; first ones:\n{}",
        diffs.len(),
        want.len(),
        diffs.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
}
