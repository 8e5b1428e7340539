//! Differential tests of the set family against redis-server 7.0, with 1 and 4 shards (so the
//! multi-key commands run both on one shard and across shards). Intset replies are sorted on
//! both servers and compared byte for byte; hashtable replies and random picks are compared in
//! a normal form (sorted members, sizes, membership).

mod common;

use std::collections::BTreeSet;

use common::*;

/// The members of an array or set reply, sorted.
fn members(r: &Reply) -> Vec<Vec<u8>> {
    let mut v: Vec<_> = r.items().iter().map(|i| i.bulk().unwrap_or_default()).collect();
    v.sort();
    v
}

/// Same reply type and the same members in any order (or the same error / integer).
fn same_unordered(p: &mut Pair, line: &str) {
    let (r, s) = p.both(&c(line));
    match (&r, &s) {
        (Reply::Array(_), Reply::Array(_)) | (Reply::Set(_), Reply::Set(_)) => {
            assert_eq!(members(&s), members(&r), "[{}] `{line}` differs as a set", p.label)
        }
        _ => assert_eq!(s, r, "[{}] `{line}` differs", p.label),
    }
}

fn fill(p: &mut Pair, key: &str, prefix: &str, range: std::ops::Range<usize>) {
    let all: Vec<usize> = range.collect();
    for chunk in all.chunks(100) {
        let mut args = cmd!("SADD", key);
        args.extend(chunk.iter().map(|i| format!("{prefix}{i}").into_bytes()));
        p.same(&args);
    }
}

#[test]
fn basic_commands_and_errors() {
    diff(|p| {
        p.lines(&[
            "SADD s 3 1 2",
            "SADD s 2 4",
            "SMEMBERS s",
            "SCARD s",
            "SISMEMBER s 2",
            "SISMEMBER s 02",
            "SISMEMBER s x",
            "SISMEMBER nokey x",
            "SMISMEMBER s 1 x 4 4",
            "SMISMEMBER nokey a b",
            "SREM s 1 x",
            "SREM s x",
            "SREM nokey x",
            "SMEMBERS s",
            "OBJECT ENCODING s",
            "SREM s 2 3 4",
            "EXISTS s",
            "SMEMBERS nokey",
            "SCARD nokey",
            "SADD s '' -0 01 -5 9223372036854775807 -9223372036854775808",
            "OBJECT ENCODING s",
            "SCARD s",
            "SADD i -5 9223372036854775807 -9223372036854775808 0",
            "SMEMBERS i",
            "OBJECT ENCODING i",
            "SET str x",
            "SADD str a",
            "SREM str a",
            "SMEMBERS str",
            "SISMEMBER str a",
            "SMISMEMBER str a",
            "SCARD str",
            "SPOP str",
            "SPOP str 2",
            "SRANDMEMBER str",
            "SRANDMEMBER str 2",
            "SSCAN str 0",
            "SADD",
            "SADD s",
            "SREM s",
            "SCARD",
            "SISMEMBER s",
            "SMISMEMBER s",
            "SMEMBERS",
            "SPOP",
            "SRANDMEMBER",
            "SSCAN s",
            "HSET hh f v",
            "SADD hh a",
            "SCARD hh",
        ]);
    });
}

#[test]
fn encoding_transitions() {
    diff(|p| {
        fill(p, "ints", "", 0..512);
        p.lines(&[
            "OBJECT ENCODING ints",
            "SCARD ints",
            "SADD ints 100",
            "OBJECT ENCODING ints",
        ]);
        p.s("SADD ints 512");
        p.lines(&[
            "OBJECT ENCODING ints",
            "SCARD ints",
            "SREM ints 512",
            "OBJECT ENCODING ints",
        ]);
        p.lines(&[
            "SADD mix 1 2 3",
            "OBJECT ENCODING mix",
            "SADD mix a",
            "OBJECT ENCODING mix",
        ]);
        p.lines(&["SREM mix a", "OBJECT ENCODING mix"]);
        same_unordered(p, "SMEMBERS mix");
        p.lines(&["SADD str a", "OBJECT ENCODING str", "SADD str 1", "OBJECT ENCODING str"]);
        fill(p, "many", "m", 0..200);
        p.lines(&["OBJECT ENCODING many", "SCARD many", "SISMEMBER many m199"]);
        same_unordered(p, "SMEMBERS many");
        let long = "z".repeat(100);
        p.s(&format!("SADD long a {long}"));
        p.lines(&["OBJECT ENCODING long", "SCARD long"]);
        p.s(&format!("SISMEMBER long {long}"));
        fill(p, "many", "m", 0..200);
        fill(p, "huge", "", 0..3000);
        p.lines(&[
            "OBJECT ENCODING huge",
            "SCARD huge",
            "SISMEMBER huge 2999",
            "SISMEMBER huge 3000",
        ]);
        same_unordered(p, "SMEMBERS huge");
    });
}

#[test]
fn spop_and_srandmember() {
    diff(|p| {
        p.lines(&[
            "SPOP nokey",
            "SPOP nokey 3",
            "SPOP nokey 0",
            "SPOP nokey -1",
            "SPOP nokey x",
            "SPOP nokey 1 2",
            "SRANDMEMBER nokey",
            "SRANDMEMBER nokey 3",
            "SRANDMEMBER nokey -3",
            "SRANDMEMBER nokey x",
            "SRANDMEMBER nokey 1 2",
            "SADD s 1 2 3",
            "SPOP s 0",
            "SPOP s -1",
            "SRANDMEMBER s 0",
            "SRANDMEMBER s 3",
            "SRANDMEMBER s 10",
            "SRANDMEMBER s -9223372036854775808",
            "SPOP s 3",
            "EXISTS s",
            "SADD s 1 2 3",
            "SPOP s 10",
            "EXISTS s",
            "SADD s a b c",
        ]);
        same_unordered(p, "SRANDMEMBER s 10");
        same_unordered(p, "SPOP s 5");
        p.s("EXISTS s");
        let all: BTreeSet<Vec<u8>> = (0..50).map(|i| format!("m{i}").into_bytes()).collect();
        fill(p, "big", "m", 0..50);
        for _ in 0..10 {
            let one = p.shoal.q("SRANDMEMBER big").bulk().expect("member");
            assert!(all.contains(&one));
            let picks = members(&p.shoal.q("SRANDMEMBER big 20"));
            assert_eq!(picks.iter().collect::<BTreeSet<_>>().len(), 20);
            assert!(picks.iter().all(|m| all.contains(m)));
            let rep = p.shoal.q("SRANDMEMBER big -80").items();
            assert_eq!(rep.len(), 80);
        }
        let mut left: BTreeSet<Vec<u8>> = all.clone();
        let one = p.shoal.q("SPOP big").bulk().expect("member");
        assert!(left.remove(&one));
        let popped = members(&p.shoal.q("SPOP big 30"));
        assert_eq!(popped.len(), 30);
        for m in &popped {
            assert!(left.remove(m), "popped twice or never there");
        }
        assert_eq!(p.shoal.q("SCARD big").int(), 19);
        assert_eq!(
            members(&p.shoal.q("SMEMBERS big")),
            left.into_iter().collect::<Vec<_>>()
        );
        let rest = members(&p.shoal.q("SPOP big 100"));
        assert_eq!(rest.len(), 19);
        assert_eq!(p.shoal.q("EXISTS big").int(), 0);
        // Intsets pop numbers; a popped intset stays an intset.
        p.s("SADD ints 1 2 3 4 5 6");
        let n = p.shoal.q("SPOP ints").bulk().expect("member");
        assert!((1..=6).any(|i| i.to_string().into_bytes() == n));
        p.redis.q("SPOP ints");
        p.lines(&["SCARD ints", "OBJECT ENCODING ints"]);
        // A big table form: repeated pops drain it.
        fill(p, "t", "k", 0..1000);
        let mut total = 0;
        while total < 1000 {
            let got = p.shoal.q("SPOP t 97").items().len();
            assert!(got > 0);
            total += got;
        }
        assert_eq!(total, 1000);
        assert_eq!(p.shoal.q("EXISTS t").int(), 0);
    });
}

#[test]
fn resp3_replies() {
    diff(|p| {
        p.s("HELLO 3");
        p.lines(&[
            "SADD s 1 2 3",
            "SMEMBERS s",
            "SMEMBERS nokey",
            "SPOP nokey",
            "SPOP nokey 2",
            "SPOP s 0",
            "SRANDMEMBER nokey",
            "SRANDMEMBER nokey 2",
            "SRANDMEMBER s 5",
            "SMISMEMBER s 1 9",
            "SINTER s",
            "SINTER s nokey",
            "SUNION s nokey",
            "SDIFF s nokey",
            "SSCAN s 0",
            "SPOP s 5",
        ]);
        p.s("HELLO 2");
    });
}

#[test]
fn algebra() {
    diff(|p| {
        p.lines(&[
            "SADD a 1 2 3 4 5",
            "SADD b 4 5 6",
            "SADD c 5 6 7",
            "SADD x p q r 5",
            "SET str v",
            "SINTER a b",
            "SINTER a b c",
            "SINTER a nokey",
            "SINTER nokey a",
            "SINTER a",
            "SINTER a str",
            "SINTER nokey str",
            "SUNION a b c",
            "SUNION nokey",
            "SUNION a str",
            "SUNION nokey str",
            "SDIFF a b c",
            "SDIFF a nokey",
            "SDIFF nokey a",
            "SDIFF a str",
            "SDIFF nokey str",
            "SDIFF a a",
            "SINTERSTORE d a b",
            "SMEMBERS d",
            "OBJECT ENCODING d",
            "SINTERSTORE d a nokey",
            "EXISTS d",
            "SINTERSTORE d a str",
            "SUNIONSTORE d a b c",
            "SMEMBERS d",
            "SUNIONSTORE d nokey",
            "EXISTS d",
            "SDIFFSTORE d a b",
            "SMEMBERS d",
            "SDIFFSTORE d b a c",
            "EXISTS d",
            "SET sd x",
            "EXPIRE sd 100",
            "SUNIONSTORE sd a",
            "TYPE sd",
            "TTL sd",
            "SUNIONSTORE a a b",
            "SMEMBERS a",
            "SUNIONSTORE u a x",
            "OBJECT ENCODING u",
            "SCARD u",
            "SINTERSTORE",
            "SINTERSTORE d",
            "SINTER",
            "SUNION",
            "SDIFF",
            "SDIFFSTORE d",
            "SINTERCARD 2 a b",
            "SINTERCARD 3 a b c",
            "SINTERCARD 1 a",
            "SINTERCARD 1 a LIMIT 2",
            "SINTERCARD 1 a LIMIT 0",
            "SINTERCARD 2 a nokey",
            "SINTERCARD 2 a str",
            "SINTERCARD 2 nokey str",
            "SINTERCARD 0 a",
            "SINTERCARD -1 a",
            "SINTERCARD x a",
            "SINTERCARD 3 a b",
            "SINTERCARD 1 a LIMIT -1",
            "SINTERCARD 1 a LIMIT x",
            "SINTERCARD 1 a LIMIT",
            "SINTERCARD 1 a FOO",
            "SINTERCARD 1",
            "SINTERCARD 2 a b LIMIT 1 LIMIT 0",
        ]);
        same_unordered(p, "SINTER x a");
        same_unordered(p, "SUNION x a");
        same_unordered(p, "SDIFF x a");
        same_unordered(p, "SDIFF a x");
        fill(p, "big1", "k", 0..400);
        fill(p, "big2", "k", 300..700);
        same_unordered(p, "SINTER big1 big2");
        same_unordered(p, "SUNION big1 big2");
        same_unordered(p, "SDIFF big1 big2");
        p.lines(&[
            "SINTERCARD 2 big1 big2",
            "SINTERCARD 2 big1 big2 LIMIT 10",
            "SINTERSTORE dd big1 big2",
            "SCARD dd",
            "SUNIONSTORE dd big1 big2",
            "SCARD dd",
            "SDIFFSTORE dd big2 big1",
            "SCARD dd",
        ]);
    });
}

#[test]
fn smove() {
    diff(|p| {
        p.lines(&[
            "SADD src 1 2 3 a",
            "SADD dst 9",
            "SET str x",
            "SMOVE src dst 1",
            "SMEMBERS dst",
            "SMOVE src dst 1",
            "SMOVE src dst zz",
            "SMOVE nokey dst 1",
            "SMOVE nokey str 1",
            "SMOVE str dst 1",
            "SMOVE src str 2",
            "SMOVE src str zz",
            "SMOVE src src 2",
            "SMOVE src src zz",
            "SMOVE src newdst a",
            "SMEMBERS newdst",
            "OBJECT ENCODING newdst",
            "SMOVE src newdst 2",
            "OBJECT ENCODING newdst",
            "SMOVE src dst 3",
            "EXISTS src",
            "SMEMBERS dst",
            "SMOVE dst dst 9",
            "SMOVE a",
            "SMOVE a b",
            "SMOVE a b c d",
        ]);
    });
}

/// Every member a full SSCAN returns, sorted and deduplicated.
fn sscan_all(conn: &mut Conn, key: &str, extra: &str) -> Vec<Vec<u8>> {
    let mut cursor = "0".to_string();
    let mut got = Vec::new();
    for _ in 0..100_000 {
        let r = conn.q(&format!("SSCAN {key} {cursor} {extra}")).items();
        cursor = r[0].text();
        got.extend(r[1].items().iter().map(|m| m.bulk().unwrap_or_default()));
        if cursor == "0" {
            break;
        }
    }
    got.sort();
    got.dedup();
    got
}

#[test]
fn sscan() {
    diff(|p| {
        p.lines(&[
            "SADD s 1 2 3 10 11",
            "SSCAN s 0",
            "SSCAN s 0 MATCH 1*",
            "SSCAN s 0 COUNT 1",
            "SSCAN s 0 COUNT 0",
            "SSCAN s 0 COUNT x",
            "SSCAN s 0 MATCH",
            "SSCAN s 0 TYPE set",
            "SSCAN s x",
            "SSCAN nokey 0",
            "SSCAN nokey 0 COUNT 0",
            "SSCAN nokey x",
        ]);
        fill(p, "big", "m", 0..1500);
        let r = sscan_all(&mut p.redis, "big", "COUNT 13");
        let s = sscan_all(&mut p.shoal, "big", "COUNT 13");
        assert_eq!(s.len(), 1500);
        assert_eq!(s, r);
        let r = sscan_all(&mut p.redis, "big", "MATCH m1?");
        let s = sscan_all(&mut p.shoal, "big", "MATCH m1?");
        assert_eq!(s, r);
    });
}

#[test]
fn sscan_survives_growth() {
    let shoal = TestServer::shoal(2);
    let mut conn = shoal.conn();
    for i in 0..2000 {
        conn.q(&format!("SADD g m{i}"));
    }
    let mut cursor = "0".to_string();
    let mut seen = BTreeSet::new();
    let mut next = 2000;
    loop {
        let r = conn.q(&format!("SSCAN g {cursor} COUNT 20")).items();
        cursor = r[0].text();
        seen.extend(r[1].items().iter().map(|m| m.bulk().unwrap_or_default()));
        for _ in 0..30 {
            conn.q(&format!("SADD g m{next}"));
            next += 1;
        }
        if cursor == "0" {
            break;
        }
    }
    assert!((0..2000).all(|i| seen.contains(format!("m{i}").as_bytes())));
}
