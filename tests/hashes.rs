//! Differential tests of the hash family against redis-server 7.0, with 1 and 4 shards.
//! Small (listpack) hashes reply in insertion order on both servers and are compared byte for
//! byte; replies from hashtable-encoded hashes and random picks are compared in a normal form.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;

/// The field/value pairs of a flat (RESP2) or map (RESP3) reply, sorted.
fn pairs(r: &Reply) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut v: Vec<_> = match r {
        Reply::Map(m) => m
            .iter()
            .map(|(k, v)| (k.bulk().unwrap_or_default(), v.bulk().unwrap_or_default()))
            .collect(),
        other => other
            .items()
            .chunks(2)
            .map(|p| (p[0].bulk().unwrap_or_default(), p[1].bulk().unwrap_or_default()))
            .collect(),
    };
    v.sort();
    v
}

/// Compares two replies as unordered collections of bulk strings.
fn same_unordered(p: &mut Pair, line: &str) {
    let (r, s) = p.both(&c(line));
    let norm = |x: &Reply| -> Vec<Vec<u8>> {
        let mut v: Vec<_> = x.items().iter().map(|i| i.bulk().unwrap_or_default()).collect();
        v.sort();
        v
    };
    assert_eq!(norm(&s), norm(&r), "[{}] `{line}` differs as a set", p.label);
}

fn fill(p: &mut Pair, key: &str, n: usize, value_len: usize) {
    let v = "v".repeat(value_len);
    for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
        let mut args = cmd!("HSET", key);
        for i in chunk {
            args.push(format!("field:{i}").into_bytes());
            args.push(v.clone().into_bytes());
        }
        p.same(&args);
    }
}

#[test]
fn basic_commands_and_errors() {
    diff(|p| {
        p.lines(&[
            "HSET h a 1 b 2 c 3",
            "HSET h a 10 d 4",
            "HSET h a",
            "HSET h a 1 b",
            "HSET h",
            "HMSET h e 5 f 6",
            "HMSET h e",
            "HGET h a",
            "HGET h zz",
            "HGET nokey a",
            "HGET h",
            "HMGET h a zz b",
            "HMGET nokey a b",
            "HMGET h",
            "HGETALL h",
            "HKEYS h",
            "HVALS h",
            "HLEN h",
            "HLEN nokey",
            "HSTRLEN h a",
            "HSTRLEN h zz",
            "HSTRLEN nokey a",
            "HEXISTS h a",
            "HEXISTS h zz",
            "HEXISTS nokey a",
            "HSETNX h a 99",
            "HSETNX h new 99",
            "HSETNX nokey2 f v",
            "HGETALL nokey2",
            "HDEL h a zz b",
            "HDEL h zz",
            "HDEL nokey a",
            "HDEL h",
            "HGETALL h",
            "HDEL h c d e f new",
            "EXISTS h",
            "HGETALL h",
            "HKEYS nokey",
            "HVALS nokey",
            "HGETALL nokey",
            "SET str x",
            "HSET str a 1",
            "HMSET str a 1",
            "HSETNX str a 1",
            "HGET str a",
            "HMGET str a",
            "HDEL str a",
            "HEXISTS str a",
            "HLEN str",
            "HSTRLEN str a",
            "HKEYS str",
            "HVALS str",
            "HGETALL str",
            "HINCRBY str a 1",
            "HINCRBYFLOAT str a 1",
            "HRANDFIELD str",
            "HRANDFIELD str 2",
            "HSCAN str 0",
            "HSET h '' ''",
            "HGET h ''",
            "HSTRLEN h ''",
            "TYPE h",
        ]);
        p.with_set("s", &["HSET s a 1", "HGET s a", "HGETALL s", "HLEN s"]);
        p.lines(&[
            "HSET",
            "HGET h",
            "HLEN",
            "HKEYS",
            "HRANDFIELD",
            "HSCAN h",
            "HINCRBY h f",
            "HSETNX h f",
        ]);
    });
}

#[test]
fn incr_and_float_edges() {
    diff(|p| {
        p.lines(&[
            "HINCRBY h n 5",
            "HINCRBY h n -7",
            "HINCRBY h n x",
            "HINCRBY h n 1.5",
            "HINCRBY h n ''",
            "HSET h s hello big 9223372036854775807 small -9223372036854775808 sp ' 1'",
            "HINCRBY h s 1",
            "HINCRBY h sp 1",
            "HINCRBY h big 1",
            "HINCRBY h big 0",
            "HINCRBY h small -1",
            "HINCRBY h small 9223372036854775807",
            "HINCRBY h n 9223372036854775808",
            "HINCRBY newh f 3",
            "HGETALL newh",
            "HINCRBYFLOAT h f 10.5",
            "HINCRBYFLOAT h f 0.1",
            "HINCRBYFLOAT h f -5.6",
            "HINCRBYFLOAT h f 1e3",
            "HINCRBYFLOAT h f 5.0e3",
            "HINCRBYFLOAT h f abc",
            "HINCRBYFLOAT h f ''",
            "HINCRBYFLOAT h f nan",
            "HINCRBYFLOAT h f inf",
            "HINCRBYFLOAT h f -inf",
            "HINCRBYFLOAT h f 1e400",
            "HINCRBYFLOAT h s 1",
            "HINCRBYFLOAT h n 1.5",
            "HINCRBYFLOAT h big 1",
            "HSET h huge 1.7e308",
            "HINCRBYFLOAT h huge 1.7e308",
            "HGET h huge",
            "HINCRBYFLOAT nofl f nan",
            "EXISTS nofl",
            "HINCRBYFLOAT nofl2 f 2.5",
            "HGETALL nofl2",
            "OBJECT ENCODING h",
            "HINCRBYFLOAT h g 1e100",
            "OBJECT ENCODING h",
            "HINCRBYFLOAT small f 1e100",
            "OBJECT ENCODING small",
        ]);
        // Long values made `h` a hashtable: same pairs, any order.
        let (r, s) = p.both(&c("HGETALL h"));
        assert_eq!(pairs(&s), pairs(&r));
    });
}

#[test]
fn encoding_transitions() {
    diff(|p| {
        fill(p, "h128", 128, 64);
        p.lines(&[
            "OBJECT ENCODING h128",
            "HLEN h128",
            "HSET h128 field:0 x",
            "OBJECT ENCODING h128",
        ]);
        p.s("HSET h128 one-more v");
        p.lines(&[
            "OBJECT ENCODING h128",
            "HLEN h128",
            "HDEL h128 one-more",
            "OBJECT ENCODING h128",
        ]);
        let long = "x".repeat(65);
        p.s(&format!("HSET hv a {long}"));
        p.s("OBJECT ENCODING hv");
        p.s(&format!("HSET hf {long} 1"));
        p.s("OBJECT ENCODING hf");
        p.s(&format!("HSETNX hn {long} 1"));
        p.s("OBJECT ENCODING hn");
        p.s(&format!("HINCRBY hi {long} 1"));
        p.s("OBJECT ENCODING hi");
        p.s(&format!("HINCRBYFLOAT hff {long} 1"));
        p.s("OBJECT ENCODING hff");
        let edge = "y".repeat(64);
        p.s(&format!("HSET he {edge} {edge}"));
        p.s("OBJECT ENCODING he");
        // Big hashes: same content, any order.
        fill(p, "big", 500, 3);
        p.lines(&[
            "HLEN big",
            "HGET big field:499",
            "HEXISTS big field:7",
            "HSTRLEN big field:3",
        ]);
        same_unordered(p, "HKEYS big");
        same_unordered(p, "HVALS big");
        let (r, s) = p.both(&c("HGETALL big"));
        assert_eq!(pairs(&s), pairs(&r));
        for i in 0..500 {
            if i % 3 == 0 {
                p.s(&format!("HDEL big field:{i} nothing"));
            }
        }
        p.lines(&["HLEN big", "OBJECT ENCODING big"]);
        let (r, s) = p.both(&c("HGETALL big"));
        assert_eq!(pairs(&s), pairs(&r));
    });
}

#[test]
fn resp3_replies() {
    diff(|p| {
        p.s("HELLO 3");
        p.lines(&[
            "HSET h a 1 b 2 c 3",
            "HGETALL h",
            "HGETALL nokey",
            "HMGET h a zz",
            "HGET h zz",
            "HRANDFIELD nokey",
            "HRANDFIELD nokey 3",
            "HRANDFIELD nokey 3 WITHVALUES",
            "HRANDFIELD h 3 WITHVALUES",
            "HRANDFIELD h 10 WITHVALUES",
            "HRANDFIELD h 10",
            "HRANDFIELD h 0 WITHVALUES",
            "HSCAN h 0",
            "HINCRBYFLOAT h f 1.5",
        ]);
        let (r, s) = p.both(&c("HRANDFIELD h -5 WITHVALUES"));
        assert_eq!(r.items().len(), 5);
        assert_eq!(s.items().len(), 5);
        for it in s.items() {
            assert_eq!(it.items().len(), 2);
        }
        p.s("HELLO 2");
    });
}

#[test]
fn hrandfield_counts() {
    diff(|p| {
        p.lines(&[
            "HSET h a 1 b 2 c 3 d 4 e 5",
            "HRANDFIELD h 5",
            "HRANDFIELD h 9 WITHVALUES",
            "HRANDFIELD h 0",
            "HRANDFIELD h x",
            "HRANDFIELD h 1 foo",
            "HRANDFIELD h 1 WITHVALUES foo",
            "HRANDFIELD h -9223372036854775808",
            "HRANDFIELD h -9223372036854775807 WITHVALUES",
            "HRANDFIELD h 9223372036854775807 WITHVALUES",
            "HRANDFIELD nokey -5",
        ]);
        let valid: BTreeMap<Vec<u8>, Vec<u8>> = [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4"), ("e", "5")]
            .iter()
            .map(|(f, v)| (f.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        for _ in 0..20 {
            let f = p.shoal.q("HRANDFIELD h").bulk().expect("a field");
            assert!(valid.contains_key(&f));
            let picks = p.shoal.q("HRANDFIELD h 3").items();
            let distinct: BTreeSet<_> = picks.iter().map(|r| r.bulk().unwrap_or_default()).collect();
            assert_eq!(distinct.len(), 3, "distinct picks");
            assert!(distinct.iter().all(|f| valid.contains_key(f)));
            let rep = p.shoal.q("HRANDFIELD h -8 WITHVALUES").items();
            assert_eq!(rep.len(), 16);
            for pair in rep.chunks(2) {
                let (f, v) = (pair[0].bulk().unwrap_or_default(), pair[1].bulk().unwrap_or_default());
                assert_eq!(valid.get(&f), Some(&v));
            }
        }
        fill(p, "big", 300, 2);
        let picks = p.shoal.q("HRANDFIELD big 250").items();
        let distinct: BTreeSet<_> = picks.iter().map(|r| r.bulk().unwrap_or_default()).collect();
        assert_eq!(distinct.len(), 250);
        let picks = p.shoal.q("HRANDFIELD big 20 WITHVALUES").items();
        assert_eq!(picks.len(), 40);
    });
}

/// Every field (and value) a full HSCAN returns, sorted, with its cursor count.
fn hscan_all(conn: &mut Conn, key: &str, extra: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut cursor = "0".to_string();
    let mut got = Vec::new();
    for _ in 0..100_000 {
        let r = conn.q(&format!("HSCAN {key} {cursor} {extra}")).items();
        cursor = r[0].text();
        let items = r[1].items();
        for pair in items.chunks(2) {
            got.push((pair[0].bulk().unwrap_or_default(), pair[1].bulk().unwrap_or_default()));
        }
        if cursor == "0" {
            break;
        }
    }
    got.sort();
    got.dedup();
    got
}

#[test]
fn hscan() {
    diff(|p| {
        p.lines(&[
            "HSET h a 1 b 2 c 3 ab 4",
            "HSCAN h 0",
            "HSCAN h 0 MATCH a*",
            "HSCAN h 0 MATCH zz*",
            "HSCAN h 0 COUNT 1",
            "HSCAN h 0 COUNT 0",
            "HSCAN h 0 COUNT -1",
            "HSCAN h 0 COUNT x",
            "HSCAN h 0 COUNT",
            "HSCAN h 0 MATCH",
            "HSCAN h 0 TYPE hash",
            "HSCAN h 0 FOO bar",
            "HSCAN h x",
            "HSCAN h -1",
            "HSCAN h ' 1'",
            "HSCAN h 18446744073709551616",
            "HSCAN nokey 0",
            "HSCAN nokey 0 COUNT 0",
            "HSCAN nokey x",
        ]);
        fill(p, "big", 1000, 1);
        let r = hscan_all(&mut p.redis, "big", "COUNT 7");
        let s = hscan_all(&mut p.shoal, "big", "COUNT 7");
        assert_eq!(s.len(), 1000);
        assert_eq!(s, r);
        let r = hscan_all(&mut p.redis, "big", "MATCH field:1*");
        let s = hscan_all(&mut p.shoal, "big", "MATCH field:1*");
        assert_eq!(s, r);
    });
}

/// A cursor walk that keeps growing the hash still returns every field that was there all along.
#[test]
fn hscan_survives_growth() {
    let shoal = TestServer::shoal(2);
    let mut conn = shoal.conn();
    for i in 0..2000 {
        conn.q(&format!("HSET g f{i} v"));
    }
    let mut cursor = "0".to_string();
    let mut seen = BTreeSet::new();
    let mut next = 2000;
    loop {
        let r = conn.q(&format!("HSCAN g {cursor} COUNT 20")).items();
        cursor = r[0].text();
        for pair in r[1].items().chunks(2) {
            seen.insert(pair[0].bulk().unwrap_or_default());
        }
        for _ in 0..30 {
            conn.q(&format!("HSET g f{next} v"));
            next += 1;
        }
        if cursor == "0" {
            break;
        }
    }
    assert!((0..2000).all(|i| seen.contains(format!("f{i}").as_bytes())));
}
