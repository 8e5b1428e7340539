//! Redis 7.0 functions (FUNCTION, FCALL, FCALL_RO) compared with redis-server reply by reply,
//! with one shard and four; then what must outlive a command: libraries saved and loaded with
//! the dump, and carried to replicas both ways (by the stream and by a full sync).

mod common;

use common::dataset::{assert_same_data, snapshot};
use common::{Flavor, Reply, TempDir, TestServer, diff, wait_in_sync};

const LIB: &str = "#!lua name=mylib\n\
    redis.register_function('echo', function(keys, args) return {#keys, args[1]} end)\n\
    redis.register_function{function_name = 'setter', callback = function(keys, args)\n\
        return redis.call('SET', keys[1], args[1]) end}\n\
    redis.register_function{function_name = 'getter', callback = function(keys, args)\n\
        return redis.call('GET', keys[1]) end, flags = {'no-writes'}, description = 'reads'}\n\
    redis.register_function{function_name = 'sneaky', callback = function(keys, args)\n\
        local r = redis.call('SET', keys[1], 'x') return r end, flags = {'no-writes'}}\n\
    redis.register_function('boom', function(keys, args)\n\
        error('boom') end)\n\
    redis.register_function('globals', function(keys, args) local k = KEYS return k end)";

fn load(code: &str) -> Vec<Vec<u8>> {
    vec![b"FUNCTION".to_vec(), b"LOAD".to_vec(), code.as_bytes().to_vec()]
}

#[test]
fn functions_match_redis() {
    for proto in ["2", "3"] {
        diff(|p| {
            p.s(&format!("HELLO {proto}"));
            p.same(&load(LIB));
            p.same(&load(LIB));
            p.same(&load(
                "#!lua name=other\nredis.register_function('echo', function() return 1 end)",
            ));
            for bad in [
                "return 1",
                "#!lua\nreturn 1",
                "#!foo name=x\nreturn 1",
                "#!lua name=x foo=bar\nreturn 1",
                "#!lua name=x\nreturn 1",
                "#!lua name=x\nsyntax error",
                "#!lua name=x\nredis.register_function('bad name', function() end)",
                "#!lua name=x\nredis.call('ping')",
                "#!lua name=x\nredis.register_function{function_name='f', callback=function() end, flags={'bogus'}}",
                "#!lua name=x\nredis.register_function('f', function() end)\nredis.register_function('f', function() end)",
                "#!lua name=bad-name\nredis.register_function('f', function() end)",
            ] {
                p.same(&load(bad));
            }
            // One function a library where a list is compared: redis-server lists a
            // library's functions in its hash table's order.
            p.same(&load(
                "#!lua name=solo\nredis.register_function{function_name='solo', callback=function() return 1 end, description='one', flags={'no-writes', 'allow-stale'}}",
            ));
            p.lines(&[
                "FCALL echo 0 hello",
                "FCALL echo 2 a b c",
                "FCALL setter 1 fkey fvalue",
                "FCALL getter 1 fkey",
                "FCALL_RO getter 1 fkey",
                "FCALL_RO echo 0 x",
                "FCALL sneaky 1 fkey",
                "FCALL boom 0",
                "FCALL globals 0",
                "FCALL nosuch 0",
                "FCALL_RO nosuch 0",
                "FCALL echo x",
                "FCALL echo -1",
                "FCALL echo 3 a",
                "FUNCTION LIST LIBRARYNAME other",
                "FUNCTION LIST LIBRARYNAME so* WITHCODE",
                "FUNCTION LIST bogus",
                "FUNCTION LIST LIBRARYNAME",
                "FUNCTION LIST WITHCODE WITHCODE",
                "FUNCTION STATS",
                "FUNCTION KILL",
                "FUNCTION DELETE nosuch",
                "FUNCTION LOAD",
                "FUNCTION NOSUCH",
                "FUNCTION FLUSH bogus",
                "EVAL \"return redis.register_function('a', function() end)\" 0",
                "MULTI",
                "FCALL setter 1 m1 v1",
                "FCALL getter 1 m1",
                "EXEC",
                "FUNCTION DELETE mylib",
                "FCALL echo 0",
                "FUNCTION LIST",
                "FUNCTION DELETE solo",
                "FUNCTION FLUSH",
                "FUNCTION LIST",
                "FUNCTION STATS",
            ]);
            p.same(&cmd!(
                "FUNCTION",
                "LOAD",
                "REPLACE",
                "#!lua name=one\nredis.register_function('f1', function() return 1 end)"
            ));
            p.same(&cmd!(
                "FUNCTION",
                "LOAD",
                "REPLACE",
                "#!lua name=one\nredis.register_function('f2', function() return 2 end)"
            ));
            p.lines(&["FCALL f1 0", "FCALL f2 0", "FUNCTION FLUSH"]);
        });
    }
}

#[test]
fn libraries_are_saved_and_loaded_with_the_dump() {
    let dir = TempDir::new("functions-dump");
    {
        let s = TestServer::start_with(Flavor::Shoal { shards: 2 }, Some(dir.path()), &[]);
        let mut c = s.conn();
        assert_eq!(Reply::parse(&c.raw(&load(LIB))), Reply::Bulk(b"mylib".to_vec()));
        c.q("FCALL setter 1 k v");
        assert_eq!(c.q("SAVE"), Reply::Simple("OK".into()));
    }
    // Shoal reads its own dump back, and redis-server reads it too.
    let s = TestServer::start_with(Flavor::Shoal { shards: 4 }, Some(dir.path()), &[]);
    let mut c = s.conn();
    assert_eq!(c.q("FCALL_RO getter 1 k"), Reply::Bulk(b"v".to_vec()));
    drop(s);
    let r = TestServer::start_with(Flavor::Redis, Some(dir.path()), &[]);
    let mut c = r.conn();
    assert_eq!(c.q("FCALL_RO getter 1 k"), Reply::Bulk(b"v".to_vec()));
}

/// Libraries reach a replica with the full sync's payload and with the stream (LOAD, DELETE,
/// FLUSH as given), from a Shoal master to redis-server and from redis-server to Shoal.
#[test]
fn libraries_replicate_both_ways() {
    for (master_flavor, replica_flavor) in [
        (Flavor::Shoal { shards: 4 }, Flavor::Redis),
        (Flavor::Redis, Flavor::Shoal { shards: 4 }),
    ] {
        let master = TestServer::start_with(master_flavor, None, &[]);
        let mut m = master.conn();
        m.raw(&load(LIB));
        m.q("FCALL setter 1 before 1");
        let port = master.port.to_string();
        let replica = TestServer::start_with(replica_flavor, None, &["--replicaof", "127.0.0.1", port.as_str()]);
        wait_in_sync(&master, &replica);
        let mut r = replica.conn();
        assert_eq!(
            r.q("FCALL_RO getter 1 before"),
            Reply::Bulk(b"1".to_vec()),
            "{master_flavor:?}"
        );
        // A read-only replica refuses a client's library changes, as it refuses writes.
        assert_eq!(
            Reply::parse(&r.raw(&load(
                "#!lua name=mine\nredis.register_function('mine', function() return 1 end)"
            ))),
            Reply::Error("READONLY You can't write against a read only replica.".into()),
            "{replica_flavor:?}"
        );
        assert_eq!(
            r.q("FUNCTION FLUSH"),
            Reply::Error("READONLY You can't write against a read only replica.".into())
        );
        m.raw(&load("#!lua name=later\nredis.register_function{function_name='later', callback=function() return 'l' end, flags={'no-writes'}}"));
        m.q("FCALL setter 1 after 2");
        m.q("FUNCTION DELETE mylib");
        wait_in_sync(&master, &replica);
        assert_eq!(r.q("FCALL_RO later 0"), Reply::Bulk(b"l".to_vec()), "{master_flavor:?}");
        assert_eq!(
            r.q("FCALL_RO getter 1 after"),
            Reply::Error("ERR Function not found".into())
        );
        assert_same_data(&snapshot(&mut r, &[0]), &snapshot(&mut m, &[0]), "replica");
        m.q("FUNCTION FLUSH");
        wait_in_sync(&master, &replica);
        assert_eq!(r.q("FUNCTION LIST"), Reply::Array(vec![]), "{master_flavor:?}");
    }
}

/// FUNCTION DUMP's payload restores on the other server, and RESTORE's policies and errors
/// are redis-server's.
#[test]
fn dump_and_restore_work_across_servers() {
    let redis = TestServer::redis();
    let shoal = TestServer::shoal(2);
    let mut p = common::Pair::new(&redis, &shoal);
    p.same(&load(
        "#!lua name=mylib\nredis.register_function('f1', function() return 1 end)",
    ));
    let from_redis = Reply::parse(&p.redis.raw(&cmd!("FUNCTION", "DUMP")))
        .bulk()
        .expect("a payload");
    let from_shoal = Reply::parse(&p.shoal.raw(&cmd!("FUNCTION", "DUMP")))
        .bulk()
        .expect("a payload");
    let restore = |payload: &[u8], policy: Option<&str>| {
        let mut args = vec![b"FUNCTION".to_vec(), b"RESTORE".to_vec(), payload.to_vec()];
        args.extend(policy.map(|p| p.as_bytes().to_vec()));
        args
    };
    for payload in [&from_redis, &from_shoal] {
        p.same(&restore(payload, None));
        p.same(&restore(payload, Some("APPEND")));
        p.same(&restore(payload, Some("REPLACE")));
        p.same(&restore(payload, Some("BOGUS")));
        p.same(&restore(b"junk", None));
        p.same(&cmd!("FUNCTION", "FLUSH"));
        p.same(&load(
            "#!lua name=lib2\nredis.register_function('f1', function() return 2 end)",
        ));
        p.same(&restore(payload, Some("REPLACE")));
        p.same(&restore(payload, Some("FLUSH")));
        p.same(&cmd!("FCALL", "f1", "0"));
        p.same(&cmd!("FUNCTION", "LIST"));
    }
    // Each server restores the other's payload.
    p.same(&cmd!("FUNCTION", "FLUSH"));
    p.redis.raw(&restore(&from_shoal, None));
    p.shoal.raw(&restore(&from_redis, None));
    p.same(&cmd!("FCALL", "f1", "0"));
    p.same(&cmd!("FUNCTION", "LIST", "WITHCODE"));
    p.same(&cmd!("FUNCTION", "RESTORE", "x", "y", "z"));
}
