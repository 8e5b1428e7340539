//! Differential tests of the string family against redis-server 7.0, with 1 and 4 shards.

mod common;

use common::*;

#[test]
fn get_set_basics_and_arity() {
    diff(|p| {
        p.lines(&[
            "GET missing",
            "SET k v",
            "GET k",
            "SET k v2",
            "GET k",
            "SET",
            "SET k",
            "GET",
            "GET a b",
            "SET k v BOGUS",
            "SET k v NX XX",
            "SET k v XX NX",
            "SET k v EX 10 PX 100",
            "SET k v EX 10 KEEPTTL",
            "SET k v KEEPTTL EX 10",
            "SET k v PXAT 1 EXAT 1",
            "SET k v EX",
            "SET k v EX abc",
            "SET k v EX abc foo",
            "SET k v EX 1.5",
            "SET k v EX 0",
            "SET k v EX -1",
            "SET k v PX 0",
            "SET k v PX -5",
            "SET k v EXAT 0",
            "SET k v PXAT -1",
            "SET k v EX 9223372036854775807",
            "SET k v EX 9223372036854775",
            "SET k v PX 9223372036854775807",
            "SET k v EXAT 9223372036854775807",
            "GET k",
            "SET k v EX 10 EX 20",
            "SET k v nx",
            "SET k v xx",
            "GET k",
            "SET nk v XX",
            "GET nk",
            "SET nk v NX",
            "SET nk v2 NX",
            "GET nk",
            "SET nk v3 NX GET",
            "SET nk v4 XX GET",
            "GET nk",
            "SET absent v GET",
            "SET absent2 v XX GET",
            "EXISTS absent2",
            "SET absent3 v NX GET",
            "GET absent3",
            "SET k v get get",
        ]);
        // Values with binary bytes and empty values.
        p.same(&cmd!("SET", "bin", b"\x00\xff\r\n".as_slice()));
        p.same(&cmd!("GET", "bin"));
        p.same(&cmd!("SET", "empty", ""));
        p.same(&cmd!("GET", "empty"));
        p.same(&cmd!("STRLEN", "empty"));
    });
}

#[test]
fn set_expiry_edges() {
    diff(|p| {
        p.s("SET k v EX 100");
        p.close(&c("TTL k"), 1);
        p.close(&c("PTTL k"), 1500);
        p.s("SET k v2 KEEPTTL");
        p.close(&c("TTL k"), 1);
        p.s("SET k v3");
        p.s("TTL k");
        p.s("SET k v PX 100000");
        p.close(&c("PTTL k"), 1500);
        // An absolute deadline in the past: SET succeeds and the key is gone at once.
        p.s("SET k v PXAT 1");
        p.s("GET k");
        p.s("EXISTS k");
        p.s("SET k v EXAT 1");
        p.s("GET k");
        let future = now_ms() / 1000 + 1000;
        p.same(&cmd!("SET", "k", "v", "EXAT", future));
        p.close(&c("TTL k"), 1);
        p.s("EXPIRETIME k");
        let future_ms = now_ms() + 1_000_000;
        p.same(&cmd!("SET", "k", "v", "PXAT", future_ms));
        p.s("PEXPIRETIME k");
        p.close(&c("PTTL k"), 1500);
        // SET with GET on a volatile key keeps nothing of the old TTL.
        p.s("SET k v3 GET");
        p.s("TTL k");
    });
}

#[test]
fn setnx_setex_psetex_getset() {
    diff(|p| {
        p.lines(&[
            "SETNX a 1",
            "SETNX a 2",
            "GET a",
            "SETNX a",
            "SETEX b 100 v",
            "GET b",
            "SETEX b 0 v",
            "SETEX b -1 v",
            "SETEX b abc v",
            "SETEX b 9223372036854775807 v",
            "SETEX b 10",
            "PSETEX c 100000 v",
            "GET c",
            "PSETEX c 0 v",
            "PSETEX c -10 v",
            "PSETEX c 1.5 v",
            "GETSET a new",
            "GETSET nope new",
            "GET nope",
            "GETSET a",
        ]);
        p.close(&c("TTL b"), 1);
        p.close(&c("PTTL c"), 1500);
        p.s("GETSET b x");
        p.s("TTL b");
    });
}

#[test]
fn getdel_getex() {
    diff(|p| {
        p.lines(&[
            "SET a 1",
            "GETDEL a",
            "GETDEL a",
            "EXISTS a",
            "GETDEL",
            "GETDEL a b",
            "GETEX missing",
            "GETEX missing EX 10",
            "SET a v",
            "GETEX a",
            "TTL a",
            "GETEX a EX 100",
            "GETEX a PERSIST",
            "TTL a",
            "GETEX a PERSIST",
            "GETEX a PX 100000",
            "GETEX a EX 0",
            "GETEX a EX -1",
            "GETEX a PX 0",
            "GETEX a EXAT 0",
            "GETEX a EX abc",
            "GETEX a EX",
            "GETEX a EX 10 PX 10",
            "GETEX a EX 10 PERSIST",
            "GETEX a PERSIST EX 10",
            "GETEX a KEEPTTL",
            "GETEX a NX",
            "GETEX a GET",
            "GETEX a BOGUS",
            "GETEX a EX 9223372036854775807",
            "GET a",
            "GETEX a PXAT 1",
            "GET a",
            "EXISTS a",
            "SET a v",
            "GETEX a EXAT 1",
            "EXISTS a",
            "GETEX",
        ]);
        p.s("SET a v");
        let at = now_ms() / 1000 + 500;
        p.same(&cmd!("GETEX", "a", "EXAT", at));
        p.s("EXPIRETIME a");
        p.close(&c("TTL a"), 1);
        let atm = now_ms() + 500_000;
        p.same(&cmd!("GETEX", "a", "PXAT", atm));
        p.s("PEXPIRETIME a");
    });
}

#[test]
fn mget_mset() {
    diff(|p| {
        p.lines(&[
            "MSET a 1 b 2 c 3 d 4 e 5 f 6 g 7 h 8",
            "MGET a b c d e f g h missing a",
            "MGET missing",
            "MSET a",
            "MSET a 1 b",
            "MGET",
            "MSET a x a y",
            "GET a",
            "MGET a a a",
        ]);
        // Keys of other types come back as nil from MGET.
        p.with_set("myset", &["MGET a myset b"]);
        // Many keys, spread over every shard.
        let mut mset = cmd!("MSET");
        let mut mget = cmd!("MGET");
        for i in 0..200 {
            mset.push(format!("key:{i}").into_bytes());
            mset.push(format!("val:{i}").into_bytes());
            mget.push(format!("key:{}", (i * 7) % 250).into_bytes());
        }
        p.same(&mset);
        p.same(&mget);
        p.s("DBSIZE");
    });
}

#[test]
fn incr_decr_family() {
    diff(|p| {
        p.lines(&[
            "INCR n",
            "INCR n",
            "DECR n",
            "INCRBY n 100",
            "DECRBY n 50",
            "INCRBY n -3",
            "DECRBY n -3",
            "GET n",
            "INCR",
            "INCR a b",
            "INCRBY n",
            "INCRBY n abc",
            "INCRBY n 1.5",
            "INCRBY n 99999999999999999999",
            "DECRBY n abc",
            "SET s hello",
            "INCR s",
            "DECR s",
            "INCRBY s 1",
            "SET sp ' 1'",
            "INCR sp",
            "SET lz 007",
            "INCR lz",
            "SET plus +5",
            "INCR plus",
            "SET big 9223372036854775807",
            "INCR big",
            "INCRBY big 1",
            "INCRBY big 0",
            "DECR big",
            "GET big",
            "SET small -9223372036854775808",
            "DECR small",
            "DECRBY small 1",
            "INCR small",
            "DECRBY n -9223372036854775808",
            "DECRBY n 9223372036854775807",
            "INCRBY n -9223372036854775808",
            "SET huge 92233720368547758070",
            "INCR huge",
            "SET neg0 -0",
            "INCR neg0",
            "SET e ''",
            "INCR e",
            "OBJECT ENCODING n",
        ]);
        // INCR keeps an existing TTL.
        p.s("SET t 5 EX 100");
        p.s("INCR t");
        p.close(&c("TTL t"), 1);
        p.with_set("myset", &["INCR myset", "INCRBYFLOAT myset 1", "DECRBY myset 1"]);
    });
}

#[test]
fn incrbyfloat_edges() {
    diff(|p| {
        p.lines(&[
            "INCRBYFLOAT f 10.5",
            "INCRBYFLOAT f 0.1",
            "INCRBYFLOAT f -5",
            "INCRBYFLOAT f 5.0e3",
            "INCRBYFLOAT f 2.0e-3",
            "GET f",
            "INCRBYFLOAT f abc",
            "INCRBYFLOAT f ''",
            "INCRBYFLOAT f inf",
            "INCRBYFLOAT f -inf",
            "INCRBYFLOAT f nan",
            "INCRBYFLOAT f 1e400",
            "INCRBYFLOAT f",
            "SET g 3",
            "INCRBYFLOAT g 1.5",
            "INCRBYFLOAT g -4.5",
            "GET g",
            "SET h 1.7976931348623157e308",
            "INCRBYFLOAT h 1.7976931348623157e308",
            "SET txt hello",
            "INCRBYFLOAT txt 1",
            "SET sp ' 1'",
            "INCRBYFLOAT sp 1",
            "SET i 10",
            "INCRBYFLOAT i 0",
            "OBJECT ENCODING i",
            "INCRBYFLOAT x 0.1",
            "INCRBYFLOAT x 0.2",
            "INCRBYFLOAT y 3.0",
            "INCRBYFLOAT y 1e20",
            "INCRBYFLOAT z -0.0",
            "INCRBYFLOAT w 1.23456789012345678",
            "INCRBYFLOAT v 0x10",
            "INCRBYFLOAT u 1e-310",
        ]);
        // INCRBYFLOAT keeps the TTL.
        p.s("SET t 1 EX 100");
        p.s("INCRBYFLOAT t 1.5");
        p.close(&c("TTL t"), 1);
    });
}

#[test]
fn append_strlen() {
    diff(|p| {
        p.lines(&[
            "APPEND a hello",
            "APPEND a ' world'",
            "GET a",
            "STRLEN a",
            "STRLEN missing",
            "APPEND a",
            "STRLEN",
            "SET n 10",
            "APPEND n 5",
            "GET n",
            "APPEND e ''",
            "EXISTS e",
            "GET e",
            "SET i 12345",
            "STRLEN i",
        ]);
        p.with_set(
            "myset",
            &[
                "APPEND myset x",
                "STRLEN myset",
                "GET myset",
                "GETSET myset x",
                "GETDEL myset",
                "GETEX myset",
                "SET myset v NX GET",
                "SET myset v GET",
            ],
        );
        p.s("SET t x EX 100");
        p.s("APPEND t y");
        p.close(&c("TTL t"), 1);
    });
}

#[test]
fn getrange_setrange() {
    diff(|p| {
        p.lines(&[
            "SET s 'Hello World'",
            "SET s HelloWorld",
            "GETRANGE s 0 3",
            "GETRANGE s -3 -1",
            "GETRANGE s 0 -1",
            "GETRANGE s 10 100",
            "GETRANGE s 5 3",
            "GETRANGE s -100 2",
            "GETRANGE s -1 -5",
            "GETRANGE s -5 -1",
            "GETRANGE s 0 0",
            "GETRANGE s 9 9",
            "GETRANGE s -1 -1",
            "GETRANGE s 100 200",
            "GETRANGE s -100 -90",
            "GETRANGE s 0 9223372036854775807",
            "GETRANGE s -9223372036854775808 -1",
            "GETRANGE s a 1",
            "GETRANGE s 0",
            "GETRANGE missing 0 -1",
            "SUBSTR s 1 3",
            "SET n 12345",
            "GETRANGE n 1 2",
            "SET e ''",
            "GETRANGE e 0 -1",
            "GETRANGE e 0 0",
            "SETRANGE s 5 XYZ",
            "GET s",
            "SETRANGE s 20 tail",
            "GET s",
            "STRLEN s",
            "SETRANGE s -1 x",
            "SETRANGE s abc x",
            "SETRANGE s 0 ''",
            "SETRANGE new 0 ''",
            "EXISTS new",
            "SETRANGE new2 3 ab",
            "GET new2",
            // 536870911 would be legal but builds a 512MB string on both servers: skip it.
            "SETRANGE s 536870912 x",
            "SETRANGE s 536870912 ''",
            "SETRANGE n 0 9",
            "GET n",
            "SETRANGE",
        ]);
        p.with_set(
            "myset",
            &["SETRANGE myset 0 x", "GETRANGE myset 0 1", "SETRANGE myset 0 ''"],
        );
        p.s("SET t x EX 100");
        p.s("SETRANGE t 1 y");
        p.close(&c("TTL t"), 1);
    });
}

#[test]
fn object_encoding_of_strings() {
    diff(|p| {
        p.lines(&[
            "SET i 12345",
            "OBJECT ENCODING i",
            "SET ineg -9223372036854775808",
            "OBJECT ENCODING ineg",
            "SET lz 0123",
            "OBJECT ENCODING lz",
            "SET emb short",
            "OBJECT ENCODING emb",
            "SET f 1.5",
            "OBJECT ENCODING f",
        ]);
        // embstr holds up to 44 bytes; 45 is raw.
        let s44 = "x".repeat(44);
        let s45 = "x".repeat(45);
        p.same(&cmd!("SET", "e44", &s44));
        p.same(&cmd!("OBJECT", "ENCODING", "e44"));
        p.same(&cmd!("SET", "e45", &s45));
        p.same(&cmd!("OBJECT", "ENCODING", "e45"));
        // 20+ digit numbers do not fit an integer.
        p.s("SET long 123456789012345678901");
        p.s("OBJECT ENCODING long");
        p.s("OBJECT ENCODING missing");
        p.s("INCRBYFLOAT fl 1.5");
        p.s("OBJECT ENCODING fl");
        p.s("GETSET emb 77");
        p.s("OBJECT ENCODING emb");
    });
}

/// A subset of the string commands over RESP3 (`HELLO 3`): nulls, integers and doubles.
#[test]
fn strings_over_resp3() {
    diff(|p| {
        p.s("HELLO 3");
        p.lines(&[
            "GET missing",
            "SET k v",
            "GET k",
            "SET k v NX",
            "SET k v2 GET",
            "MGET k missing",
            "INCR n",
            "INCRBYFLOAT f 1.5",
            "GETDEL k",
            "GETEX k",
            "GETRANGE missing 0 1",
            "SET k v XX GET",
            "SETNX k 1",
            "TTL k",
            "INCR k2 x",
        ]);
    });
}

/// The `redis` crate, a real client library, agrees with the raw client on basic values.
#[test]
fn redis_crate_client_roundtrip() {
    let shoal = TestServer::shoal(4);
    let mut con = shoal.client();
    let _: () = redis::cmd("SET").arg("name").arg("shoal").query(&mut con).unwrap();
    let v: String = redis::cmd("GET").arg("name").query(&mut con).unwrap();
    assert_eq!(v, "shoal");
    let n: i64 = redis::cmd("INCRBY").arg("ctr").arg(41).query(&mut con).unwrap();
    assert_eq!(n, 41);
    let vals: Vec<Option<String>> = redis::cmd("MGET")
        .arg(&["name", "nope", "ctr"])
        .query(&mut con)
        .unwrap();
    assert_eq!(vals, vec![Some("shoal".into()), None, Some("41".into())]);
    let err = redis::cmd("INCR").arg("name").query::<i64>(&mut con).unwrap_err();
    assert!(err.to_string().contains("not an integer"), "{err}");
    let mut raw = shoal.conn();
    assert_eq!(raw.raw(&c("GET ctr")), b"$2\r\n41\r\n");
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Known divergence needing a store change (outside this test owner's files): Redis turns a
/// string it modifies in place (APPEND, SETRANGE) into the `raw` encoding, whatever its length;
/// Shoal derives the encoding from the length only. Run with `--ignored`.
#[test]
#[ignore = "known divergence: APPEND/SETRANGE leave Redis strings raw; Value::Str has no raw flag"]
fn known_divergence_append_setrange_encoding() {
    diff(|p| {
        p.lines(&[
            "SET emb short",
            "APPEND emb x",
            "OBJECT ENCODING emb",
            "SET i 12345",
            "SETRANGE i 0 9",
            "OBJECT ENCODING i",
            "APPEND fresh abc",
            "OBJECT ENCODING fresh",
        ]);
    });
}
