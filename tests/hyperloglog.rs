//! PFADD, PFCOUNT and PFMERGE compared with redis-server 7.0, down to the bytes of the
//! sketches (GET), sparse and dense, with one shard and four (PFCOUNT and PFMERGE then read
//! several shards), and sketches carried from one server to the other.

mod common;

use common::*;

/// Adds `n` elements named `prefix:i` to `key` on both servers, `batch` per PFADD.
fn add_many(p: &mut Pair, key: &str, prefix: &str, n: usize, batch: usize) {
    let mut i = 0;
    while i < n {
        let mut line = format!("PFADD {key}");
        for j in i..(i + batch).min(n) {
            line.push_str(&format!(" {prefix}:{j}"));
        }
        p.s(&line);
        i += batch;
    }
}

#[test]
fn sparse_sketches_match_redis_byte_for_byte() {
    diff(|p| {
        p.lines(&[
            "PFADD h",
            "GET h",
            "PFCOUNT h",
            "PFADD h a b c",
            "GET h",
            "PFADD h a",
            "PFCOUNT h",
            "GET h",
            "PFCOUNT h nokey",
            "PFCOUNT nokey",
        ]);
        for n in [10, 50, 200, 600] {
            add_many(p, "grow", "e", n, 7);
            p.s("GET grow");
            p.s("PFCOUNT grow");
            p.s("GET grow");
        }
    });
}

#[test]
fn dense_sketches_and_merges_match_redis() {
    diff(|p| {
        // Past hll-sparse-max-bytes (3000) the sketch turns dense.
        add_many(p, "big", "x", 5000, 50);
        p.s("STRLEN big");
        p.s("GET big");
        p.s("PFCOUNT big");
        add_many(p, "small", "y", 300, 30);
        add_many(p, "other", "x", 100, 25);
        p.lines(&[
            "PFCOUNT big small",
            "PFCOUNT small other nokey",
            "PFMERGE m1 small other",
            "GET m1",
            "PFCOUNT m1",
            "PFMERGE m2 small big",
            "STRLEN m2",
            "GET m2",
            "PFCOUNT m2",
            "PFMERGE m1 m1",
            "PFMERGE fresh",
            "GET fresh",
            "PFMERGE small",
            "GET small",
        ]);
        // A small hll-sparse-max-bytes turns sketches dense sooner.
        p.s("CONFIG SET hll-sparse-max-bytes 200");
        add_many(p, "tight", "z", 100, 10);
        p.s("GET tight");
        p.s("CONFIG SET hll-sparse-max-bytes 3000");
    });
}

#[test]
fn errors_match_redis() {
    diff(|p| {
        p.lines(&[
            "SET str hello",
            "PFADD str a",
            "PFCOUNT str",
            "PFCOUNT nokey str",
            "PFMERGE dst str",
            "EXISTS dst",
            "SET num 12345678901234567",
            "PFADD num a",
            "LPUSH lst a",
            "PFADD lst a",
            "PFCOUNT lst",
            "PFMERGE lst",
            "SET fake HYLLxxxxxxxxxxxxxxxxxxxxxx",
            "PFCOUNT fake",
            "PFADD fake a",
            "PFADD",
            "PFCOUNT",
            "PFMERGE",
        ]);
        // A sparse sketch whose runs do not cover the registers.
        let mut bad = b"HYLL\x01\x00\x00\x00".to_vec();
        bad.extend_from_slice(&[0x80; 8]);
        bad.extend_from_slice(&[0x7f, 0x00]);
        p.same(&[b"SET".to_vec(), b"corrupt".to_vec(), bad]);
        p.lines(&[
            "PFCOUNT corrupt",
            "PFADD corrupt a",
            "PFMERGE dst corrupt",
            "PFCOUNT x corrupt",
        ]);
    });
}

/// A sketch built on one server counts the same on the other after SET of its bytes.
#[test]
fn sketches_cross_between_the_servers() {
    let (redis, shoal) = (TestServer::redis(), TestServer::shoal(4));
    for (from_server, to_server) in [(&redis, &shoal), (&shoal, &redis)] {
        let (from, to) = (&mut from_server.conn(), &mut to_server.conn());
        for i in 0..2000 {
            from.raw(&cmd!("PFADD", "k", format!("m{i}").as_str()));
        }
        let bytes = Reply::parse(&from.raw(&cmd!("GET", "k"))).bulk().expect("a sketch");
        to.raw(&[b"SET".to_vec(), b"copy".to_vec(), bytes]);
        assert_eq!(to.raw(&cmd!("PFCOUNT", "copy")), from.raw(&cmd!("PFCOUNT", "k")));
        from.q("FLUSHALL");
        to.q("FLUSHALL");
    }
}

/// PFDEBUG and PFSELFTEST, as redis-server answers them (GETREG and TODENSE turn a sparse
/// sketch dense for good).
#[test]
fn pfdebug_and_pfselftest_match_redis() {
    diff(|p| {
        p.lines(&[
            "PFADD h a b c",
            "PFDEBUG DECODE h",
            "PFDEBUG ENCODING h",
            "PFDEBUG GETREG nokey",
            "PFDEBUG FOO h",
            "PFDEBUG FOO nokey",
            "PFDEBUG DECODE h extra",
            "PFDEBUG TODENSE h",
            "PFDEBUG TODENSE h",
            "PFDEBUG DECODE h",
            "PFDEBUG ENCODING h",
            "GET h",
            "PFADD h2 x",
            "PFDEBUG GETREG h2",
            "PFDEBUG ENCODING h2",
            "SET s x",
            "PFDEBUG ENCODING s",
            "PFSELFTEST",
            "PFSELFTEST extra",
        ]);
    });
}
