//! Differential tests of the generic key commands and the keyspace commands against
//! redis-server 7.0, with 1 and 4 shards.

mod common;

use std::collections::BTreeSet;

use common::*;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[test]
fn del_exists_touch_unlink_type() {
    diff(|p| {
        p.lines(&[
            "MSET a 1 b 2 c 3 d 4",
            "EXISTS a",
            "EXISTS a b missing a",
            "EXISTS",
            "DEL a missing",
            "DEL a",
            "DEL b c d a",
            "DEL",
            "SET a 1",
            "UNLINK a a",
            "UNLINK",
            "SET t 1",
            "TOUCH t t missing",
            "TOUCH",
            "TYPE t",
            "TYPE missing",
            "TYPE",
            "TYPE a b",
        ]);
        p.with_set("s", &["TYPE s", "EXISTS s", "DEL s", "TYPE s"]);
    });
}

#[test]
fn expire_family_and_conditions() {
    diff(|p| {
        p.lines(&[
            "EXPIRE missing 100",
            "PEXPIRE missing 100",
            "EXPIREAT missing 100",
            "TTL missing",
            "PTTL missing",
            "EXPIRETIME missing",
            "PEXPIRETIME missing",
            "PERSIST missing",
            "SET k v",
            "TTL k",
            "PTTL k",
            "EXPIRETIME k",
            "PEXPIRETIME k",
            "PERSIST k",
            "EXPIRE k",
            "EXPIRE k abc",
            "EXPIRE k 1.5",
            "EXPIRE k 100 BOGUS",
            "EXPIRE k 100 NX XX",
            "EXPIRE k 100 NX GT",
            "EXPIRE k 100 NX LT",
            "EXPIRE k 100 GT LT",
            "EXPIRE k 100 XX",
            "EXPIRE k 100 GT",
            "EXPIRE k 100 LT",
            "TTL k",
            "EXPIRE k 200 NX",
            "EXPIRE k 300 NX",
            "EXPIRE k 50 GT",
            "EXPIRE k 500 GT",
            "EXPIRE k 600 LT",
            "EXPIRE k 400 LT",
            "EXPIRE k 450 XX",
            "EXPIRE k 460 XX GT",
            "EXPIRE k 100 XX LT",
            "EXPIRE k 100 nx",
            "PERSIST k",
            "PERSIST k",
            "TTL k",
            "EXPIRE k 9223372036854775807",
            "EXPIRE k 9223372036854775",
            "PEXPIRE k 9223372036854775807",
            "EXPIREAT k 9223372036854775807",
            "PEXPIREAT k 9223372036854775807",
        ]);
        // The deadline EXPIRE k 9223372036854775 set is far off, and TTL rounds the
        // milliseconds left: the two servers, asked a moment apart, may be a second apart.
        p.close(&c("TTL k"), 1);
        p.lines(&[
            "EXPIRE k -9223372036854775808",
            "EXISTS k",
            "SET k v",
            "EXPIRE k 0",
            "EXISTS k",
            "SET k v",
            "EXPIRE k -1",
            "EXISTS k",
            "SET k v",
            "PEXPIRE k -100",
            "GET k",
            "SET k v",
            "EXPIREAT k 1",
            "GET k",
            "SET k v",
            "PEXPIREAT k 1000",
            "GET k",
            "SET k v",
            "PEXPIRE k 100000",
        ]);
        p.close(&c("TTL k"), 1);
        p.close(&c("PTTL k"), 1500);
        // A past deadline under a condition that refuses it keeps the key.
        p.lines(&[
            "EXPIRE k -1 NX",
            "EXISTS k",
            "EXPIRE k -1 GT",
            "EXISTS k",
            "EXPIRE k -1 LT",
            "EXISTS k",
        ]);
        let at = now_ms() / 1000 + 1000;
        p.same(&cmd!("EXPIREAT", "k", at));
        p.s("EXPIRETIME k");
        p.same(&cmd!("EXPIREAT", "k", at - 10, "GT"));
        p.same(&cmd!("EXPIREAT", "k", at + 10, "GT"));
        p.s("EXPIRETIME k");
        let atm = now_ms() + 2_000_000;
        p.same(&cmd!("PEXPIREAT", "k", atm, "XX"));
        p.s("PEXPIRETIME k");
        p.s("EXPIRETIME k");
        p.close(&c("TTL k"), 1);
        p.s("SET k v");
        p.s("TTL k");
        // A short TTL really expires.
        p.s("SET short v PX 50");
        std::thread::sleep(std::time::Duration::from_millis(120));
        p.lines(&["GET short", "EXISTS short", "TTL short", "DBSIZE"]);
        // GT/LT on keys without TTL: GT refuses, LT allows.
        p.lines(&["SET p v", "EXPIRE p 100 GT", "TTL p", "EXPIRE p 100 LT"]);
        p.close(&c("TTL p"), 1);
    });
}

#[test]
fn object_subcommands() {
    diff(|p| {
        p.lines(&[
            "SET i 1",
            "SET s hello",
            "OBJECT ENCODING i",
            "OBJECT ENCODING s",
            "OBJECT ENCODING missing",
            "OBJECT REFCOUNT missing",
            "OBJECT IDLETIME missing",
            "OBJECT",
            "OBJECT BOGUS",
            "OBJECT BOGUS s",
            "OBJECT ENCODING",
            "OBJECT ENCODING s extra",
            "OBJECT HELP",
            "OBJECT help",
            "OBJECT HELP extra",
            "OBJECT FREQ s",
            "OBJECT REFCOUNT s",
            "SET big 123456",
            "OBJECT REFCOUNT big",
        ]);
        // Idle seconds tick on a second boundary: compare within one.
        p.close(&c("OBJECT IDLETIME s"), 1);
    });
}

#[test]
fn move_between_dbs() {
    diff(|p| {
        p.lines(&[
            "SET a 1",
            "MOVE a 1",
            "EXISTS a",
            "SELECT 1",
            "GET a",
            "SELECT 0",
            "MOVE a 1",
            "MOVE missing 1",
            "SET a 2",
            "MOVE a 1",
            "GET a",
            "MOVE a 0",
            "MOVE a 16",
            "MOVE a -1",
            "MOVE a abc",
            "MOVE a",
            "SET t v EX 100",
            "MOVE t 2",
            "SELECT 2",
        ]);
        p.close(&c("TTL t"), 1);
        p.lines(&["SELECT 0", "DBSIZE", "SELECT 1", "DBSIZE", "GET a"]);
    });
}

#[test]
fn rename_renamenx_copy() {
    diff(|p| {
        p.lines(&[
            "RENAME missing x",
            "RENAMENX missing x",
            "SET a 1",
            "RENAME a a",
            "RENAMENX a a",
            "GET a",
            "RENAME a b",
            "EXISTS a",
            "GET b",
            "SET c 3",
            "RENAMENX b c",
            "RENAMENX b d",
            "GET d",
            "RENAME d c",
            "GET c",
            "RENAME c",
            "RENAME c a b",
            "SET t v EX 100",
            "RENAME t t2",
            "EXISTS t",
        ]);
        p.close(&c("TTL t2"), 1);
        // Renaming over a volatile key drops its TTL for the new value.
        p.lines(&["SET plain p", "RENAME plain t2", "TTL t2", "GET t2"]);
        // Many renames so that sources and destinations land on different shards.
        for i in 0..40 {
            p.same(&cmd!("SET", format!("src{i}"), format!("v{i}")));
            p.same(&cmd!("RENAME", format!("src{i}"), format!("dst{}", i * 13)));
            p.same(&cmd!("GET", format!("dst{}", i * 13)));
        }
        p.s("DBSIZE");
        p.lines(&[
            "COPY missing x",
            "SET a v",
            "COPY a a",
            "COPY a a DB 0",
            "COPY a a DB 1",
            "COPY a b",
            "GET b",
            "COPY a b",
            "SET a v2",
            "COPY a b REPLACE",
            "GET b",
            "COPY a b DB 3",
            "SELECT 3",
            "GET b",
            "SELECT 0",
            "COPY a b DB 3",
            "COPY a b DB 3 REPLACE",
            "COPY a b DB 16",
            "COPY a b DB -1",
            "COPY a b DB abc",
            "COPY a b DB",
            "COPY a b BOGUS",
            "COPY a b REPLACE REPLACE",
            "COPY a",
            "SET n 42",
            "COPY n n2",
            "OBJECT ENCODING n2",
            "SET t v EX 100",
            "COPY t tc",
        ]);
        p.close(&c("TTL tc"), 1);
        p.with_set("s", &["COPY s s2", "TYPE s2", "RENAME s s3", "TYPE s3", "DEL s2 s3"]);
        p.s("DBSIZE");
    });
}

#[test]
fn swapdb_flushdb_dbsize_select() {
    diff(|p| {
        p.lines(&[
            "DBSIZE",
            "MSET a 1 b 2 c 3",
            "DBSIZE",
            "SELECT 1",
            "SET x 9",
            "DBSIZE",
            "SELECT 0",
            "SWAPDB 0 1",
            "DBSIZE",
            "GET x",
            "GET a",
            "SELECT 1",
            "GET a",
            "SELECT 0",
            "SWAPDB 0 0",
            "SWAPDB 0 16",
            "SWAPDB -1 0",
            "SWAPDB a 0",
            "SWAPDB 0 a",
            "SWAPDB 0",
            "SELECT 16",
            "SELECT -1",
            "SELECT abc",
            "SELECT",
            "SELECT 15",
            "SET in15 v",
            "SELECT 0",
            "FLUSHDB BOGUS",
            "FLUSHDB SYNC ASYNC",
            "FLUSHDB",
            "DBSIZE",
            "SELECT 1",
            "DBSIZE",
            "FLUSHDB ASYNC",
            "DBSIZE",
            "SELECT 15",
            "DBSIZE",
            "FLUSHALL SYNC",
            "DBSIZE",
            "DBSIZE extra",
        ]);
    });
}

#[test]
fn keys_glob_patterns() {
    diff(|p| {
        let names = [
            "hello",
            "hallo",
            "hxllo",
            "hllo",
            "heeeello",
            "h*llo",
            "h?llo",
            "user:1",
            "user:2",
            "user:10",
            "user:1:name",
            "a[b",
            "a]b",
            "a\\b",
            "x",
            "",
            "UPPER",
            "foo.bar",
            "f-o-o",
        ];
        for n in names {
            p.same(&cmd!("SET", n, "v"));
        }
        for pat in [
            "*",
            "h?llo",
            "h*llo",
            "h[ae]llo",
            "h[^e]llo",
            "h[a-b]llo",
            "user:*",
            "user:?",
            "user:[0-9]*",
            "*:name",
            "a\\[b",
            "a[\\]]b",
            "a\\\\b",
            "h\\*llo",
            "h\\?llo",
            "nomatch*",
            "",
            "upper",
            "UPP*",
            "[!x]",
            "*.*",
            "f-o-o",
            "[a-",
            "h[",
            "\\",
            "*o",
            "?",
            "??",
            "[x-a]",
        ] {
            p.same(&cmd!("KEYS", pat));
        }
        p.s("KEYS");
        p.s("KEYS a b");
        // Expired keys are not listed.
        p.s("SET gone v PX 30");
        std::thread::sleep(std::time::Duration::from_millis(80));
        p.s("KEYS gone*");
    });
}

#[test]
fn scan_full_iteration() {
    differential(&[1, 4], |p| {
        let mut expected = BTreeSet::new();
        for i in 0..1000 {
            let k = format!("k:{i}");
            p.same(&cmd!("SET", &k, i));
            expected.insert(k.into_bytes());
        }
        let expected: Vec<Vec<u8>> = expected.into_iter().collect();
        for extra in [&[][..], &["COUNT", "3"], &["COUNT", "1000"], &["COUNT", "100000"]] {
            let s = scan_all(&mut p.shoal, extra);
            let r = scan_all(&mut p.redis, extra);
            assert_eq!(r, expected);
            assert_eq!(s, expected, "[{}] SCAN {extra:?} over shoal", p.label);
        }
        for extra in [
            &["MATCH", "k:1*"][..],
            &["MATCH", "k:?", "COUNT", "5"],
            &["MATCH", "nope*"],
        ] {
            let s = scan_all(&mut p.shoal, extra);
            let r = scan_all(&mut p.redis, extra);
            assert_eq!(s, r, "[{}] SCAN {extra:?}", p.label);
        }
        let s = scan_all(&mut p.shoal, &["TYPE", "string"]);
        assert_eq!(s, expected);
        assert_eq!(scan_all(&mut p.redis, &["TYPE", "string"]), expected);
        assert!(scan_all(&mut p.shoal, &["TYPE", "list"]).is_empty());
        assert!(scan_all(&mut p.shoal, &["TYPE", "nosuchtype"]).is_empty());
        if p.set_key("aset") {
            assert_eq!(scan_all(&mut p.shoal, &["TYPE", "set"]), vec![b"aset".to_vec()]);
            assert_eq!(scan_all(&mut p.redis, &["TYPE", "set"]), vec![b"aset".to_vec()]);
        }
        // Errors.
        p.lines(&[
            "SCAN",
            "SCAN abc",
            "SCAN ' 0'",
            "SCAN 0x",
            "SCAN 99999999999999999999",
            "SCAN 0 COUNT 0",
            "SCAN 0 COUNT -1",
            "SCAN 0 COUNT abc",
            "SCAN 0 COUNT",
            "SCAN 0 MATCH",
            "SCAN 0 BOGUS x",
            "SCAN 0 TYPE",
        ]);
        // A database with nothing in it.
        p.s("SELECT 5");
        p.s("SCAN 0");
        p.s("SCAN 0 MATCH * COUNT 10 TYPE string");
        // Cursors are read like strtoul: sign allowed (negative wraps), empty is 0.
        p.lines(&["SCAN -1", "SCAN ''", "SCAN +0", "SCAN 18446744073709551615"]);
    });
}

#[test]
fn scan_survives_concurrent_writes() {
    // Keys present for the whole iteration must be returned even while others are added.
    let shoal = TestServer::shoal(4);
    let mut c1 = shoal.conn();
    for i in 0..500 {
        c1.call(&cmd!("SET", format!("stable:{i}"), "v"));
    }
    let mut cursor = b"0".to_vec();
    let mut seen = BTreeSet::new();
    let mut c2 = shoal.conn();
    let mut n = 0;
    loop {
        let r = c1.call(&cmd!("SCAN", &cursor, "COUNT", 20)).items();
        cursor = r[0].bulk().unwrap();
        for k in r[1].items() {
            seen.insert(k.bulk().unwrap());
        }
        for _ in 0..5 {
            c2.call(&cmd!("SET", format!("new:{n}"), "v"));
            n += 1;
        }
        if cursor == b"0" {
            break;
        }
    }
    for i in 0..500 {
        assert!(
            seen.contains(format!("stable:{i}").as_bytes()),
            "SCAN missed stable:{i}"
        );
    }
}

#[test]
fn randomkey() {
    diff(|p| {
        p.s("RANDOMKEY");
        p.s("RANDOMKEY extra");
        p.s("SET only v");
        p.s("RANDOMKEY");
        p.s("SELECT 3");
        p.s("RANDOMKEY");
        p.s("SELECT 0");
        for i in 0..50 {
            p.same(&cmd!("SET", format!("r{i}"), "v"));
        }
        let mut seen = BTreeSet::new();
        for _ in 0..300 {
            let k = p.shoal.call(&c("RANDOMKEY")).bulk().expect("a key");
            let ok = k == b"only" || (k.starts_with(b"r") && k.len() <= 3);
            assert!(ok, "RANDOMKEY returned a key that does not exist: {}", lossy(&k));
            seen.insert(k);
        }
        assert!(
            seen.len() > 20,
            "RANDOMKEY is not random enough: {} distinct of 51",
            seen.len()
        );
        // Only expired keys left: nil eventually (Redis too).
        p.s("FLUSHDB");
        p.s("SET e v PX 20");
        std::thread::sleep(std::time::Duration::from_millis(60));
        p.s("RANDOMKEY");
    });
}

/// A subset of the keyspace commands over RESP3.
#[test]
fn keys_over_resp3() {
    diff(|p| {
        p.s("HELLO 3");
        p.lines(&[
            "MSET a 1 b 2",
            "KEYS *",
            "EXISTS a b",
            "TTL a",
            "OBJECT ENCODING a",
            "OBJECT ENCODING missing",
            "RANDOMKEY extra",
            "COPY a c",
            "RENAMENX a c",
            "DBSIZE",
            "SCAN 0 COUNT 0",
            "TYPE a",
            "FLUSHDB",
            "RANDOMKEY",
            "SCAN 0",
        ]);
    });
}

/// COMMAND GETKEYS names what redis-server names, including the keys a `numkeys` argument
/// counts (ZUNIONSTORE, LMPOP, SINTERCARD, EVAL, FCALL...) and its errors for a bad count.
#[test]
fn command_getkeys_matches_redis() {
    diff(|p| {
        p.lines(&[
            "COMMAND GETKEYS SET a 1",
            "COMMAND GETKEYS MSET a 1 b 2",
            "COMMAND GETKEYS GET",
            "COMMAND GETKEYS PING",
            "COMMAND GETKEYS PING x",
            "COMMAND GETKEYS NOSUCH x",
            "COMMAND GETKEYS ZUNIONSTORE d 2 a b WEIGHTS 1 2",
            "COMMAND GETKEYS ZUNIONSTORE d 5 a",
            "COMMAND GETKEYS ZUNIONSTORE d 0 a",
            "COMMAND GETKEYS ZINTERSTORE d 1 a",
            "COMMAND GETKEYS ZDIFFSTORE d 2 a b",
            "COMMAND GETKEYS ZUNION 2 a b WITHSCORES",
            "COMMAND GETKEYS ZINTER 1 a",
            "COMMAND GETKEYS ZDIFF 2 a b",
            "COMMAND GETKEYS ZINTERCARD 2 a b LIMIT 1",
            "COMMAND GETKEYS SINTERCARD 2 a b",
            "COMMAND GETKEYS SINTERCARD 0 a",
            "COMMAND GETKEYS LMPOP 2 a b LEFT",
            "COMMAND GETKEYS LMPOP abc a LEFT",
            "COMMAND GETKEYS BLMPOP 0 2 a b LEFT",
            "COMMAND GETKEYS ZMPOP 1 a MIN",
            "COMMAND GETKEYS BZMPOP 1 1 a MIN",
            "COMMAND GETKEYS EVAL x 2 a b c",
            "COMMAND GETKEYS EVAL x 0",
            "COMMAND GETKEYS EVAL x abc",
            "COMMAND GETKEYS EVALSHA x 5 a",
            "COMMAND GETKEYS EVAL_RO x 1 a",
            "COMMAND GETKEYS FCALL f 1 k a",
            "COMMAND GETKEYS FCALL_RO f 0",
        ]);
    });
}
