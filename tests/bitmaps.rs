//! SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and BITFIELD_RO compared byte for byte
//! with redis-server 7.0, with one shard and with four (BITOP's keys then sit on several
//! shards), in RESP2 and RESP3; and a long bitmap changed one bit at a time.

mod common;

use common::*;

const SETBIT_GETBIT: &[&str] = &[
    "SETBIT b 7 1",
    "SETBIT b 7 1",
    "SETBIT b 7 0",
    "SETBIT b 100 1",
    "GET b",
    "STRLEN b",
    "GETBIT b 100",
    "GETBIT b 101",
    "GETBIT b 100000",
    "GETBIT nokey 3",
    "SETBIT b -1 1",
    "SETBIT b 4294967296 1",
    "SETBIT b 4294967295x 1",
    "SETBIT b 1 2",
    "SETBIT b 1 -1",
    "SETBIT b 1 x",
    "SETBIT b 1 01",
    "GETBIT b -1",
    "GETBIT b x",
    "SET num 42",
    "SETBIT num 0 1",
    "GET num",
    "SET n2 7",
    "GETBIT n2 2",
    "GETBIT n2 7",
    "LPUSH lst a",
    "SETBIT lst 0 1",
    "GETBIT lst 0",
    "SETBIT",
    "GETBIT b",
    "SET e ''",
    "GETBIT e 0",
    "SETBIT e 0 0",
    "STRLEN e",
];

const COUNT_AND_POS: &[&str] = &[
    "SET s foobar",
    "BITCOUNT s",
    "BITCOUNT s 0 0",
    "BITCOUNT s 1 1",
    "BITCOUNT s 1 -2",
    "BITCOUNT s -100 -200",
    "BITCOUNT s -2 -100",
    "BITCOUNT s 5 30 BIT",
    "BITCOUNT s 5 30 BYTE",
    "BITCOUNT s 0 -1 BIT",
    "BITCOUNT s -3 -1 BIT",
    "BITCOUNT s 7 7 BIT",
    "BITCOUNT s 3 2",
    "BITCOUNT s 0",
    "BITCOUNT s 0 1 WORD",
    "BITCOUNT s x 1",
    "BITCOUNT s 0 1 BIT x",
    "BITCOUNT nokey",
    "BITCOUNT nokey 0 garbage",
    "LPUSH lst a",
    "BITCOUNT lst",
    "SET e ''",
    "BITCOUNT e",
    "BITCOUNT e 0 -1",
    "BITPOS p 0",
    "BITPOS p 1",
    "BITPOS p 0 1",
    "BITPOS p 1 2",
    "BITPOS p 1 2 -1",
    "BITPOS p 0 0 0",
    "BITPOS p 0 -1",
    "BITPOS p 1 5 9 BIT",
    "BITPOS p 0 5 9 BIT",
    "BITPOS p 0 0 3 BIT",
    "BITPOS p 1 13 BIT",
    "BITPOS p 0 2 1",
    "BITPOS p 0 -100 -200",
    "BITPOS ones 0",
    "BITPOS ones 0 1",
    "BITPOS ones 0 0 -1",
    "BITPOS ones 0 3 BIT",
    "BITPOS ones 0 0 15 BIT",
    "BITPOS ones 1 16",
    "BITPOS nokey 0",
    "BITPOS nokey 1",
    "BITPOS nokey 1 garbage",
    "BITPOS nokey 2",
    "BITPOS p 2",
    "BITPOS p x",
    "BITPOS p 1 x",
    "BITPOS p 1 0 x",
    "BITPOS p 1 0 1 WORD",
    "BITPOS p 1 0 1 BIT extra",
    "BITPOS lst 1",
    "BITPOS e 0",
    "BITPOS e 1",
    "BITPOS zeros 1",
    "BITPOS zeros 0 1",
];

const BITOP: &[&str] = &[
    "SET k1 foobar",
    "SET k2 abcdef",
    "SET k3 zz",
    "BITOP AND dest k1 k2",
    "GET dest",
    "BITOP OR dest k1 k2 k3",
    "GET dest",
    "BITOP XOR dest k1 k3",
    "GET dest",
    "BITOP NOT dest k1",
    "GET dest",
    "BITOP AND dest k1 nokey",
    "GET dest",
    "BITOP OR dest nokey other",
    "EXISTS dest",
    "SET dest x",
    "EXPIRE dest 100",
    "BITOP OR dest k3",
    "TTL dest",
    "BITOP NOT dest k1 k2",
    "BITOP NAND dest k1",
    "LPUSH lst a",
    "BITOP AND dest k1 lst",
    "BITOP OR lst k1",
    "GET lst",
    "SET n 123",
    "BITOP NOT dest n",
    "GET dest",
    "BITOP AND dest",
];

const BITFIELD: &[&str] = &[
    "BITFIELD f SET i8 0 100 GET i8 0",
    "BITFIELD f INCRBY i8 0 100",
    "BITFIELD f OVERFLOW SAT INCRBY i8 0 100",
    "BITFIELD f OVERFLOW FAIL INCRBY i8 0 -1000",
    "BITFIELD f OVERFLOW WRAP INCRBY i8 0 -1000",
    "BITFIELD f SET u4 #3 15 GET u4 #3 GET u4 12",
    "BITFIELD f SET u2 100 -1 GET u2 100",
    "BITFIELD f OVERFLOW SAT SET u2 100 -1 GET u2 100",
    "BITFIELD f OVERFLOW FAIL SET u2 100 5",
    "BITFIELD f SET i64 200 -1 GET i64 200 GET u63 200",
    "BITFIELD f INCRBY i64 200 -9223372036854775807 INCRBY i64 200 -9223372036854775807",
    "BITFIELD f OVERFLOW SAT INCRBY i64 200 -9223372036854775807",
    "BITFIELD f SET u63 0 9223372036854775807 INCRBY u63 0 1",
    "BITFIELD f GET i1 0 GET u1 0 GET i3 5",
    "GET f",
    "BITFIELD f",
    "BITFIELD nokey GET u8 0 GET i16 100",
    "EXISTS nokey",
    "BITFIELD nokey2 OVERFLOW FAIL SET u8 0 1000",
    "EXISTS nokey2",
    "BITFIELD f GET u64 0",
    "BITFIELD f GET i65 0",
    "BITFIELD f GET u0 0",
    "BITFIELD f GET x8 0",
    "BITFIELD f GET u8 -1",
    "BITFIELD f GET u8 #-1",
    "BITFIELD f GET u8 4294967296",
    "BITFIELD f SET u8 0 x",
    "BITFIELD f OVERFLOW MAYBE",
    "BITFIELD f OVERFLOW",
    "BITFIELD f GET u8",
    "BITFIELD f SET u8 0",
    "BITFIELD f FROB u8 0",
    "BITFIELD f OVERFLOW SAT",
    "BITFIELD_RO f GET u8 0 GET i4 4",
    "BITFIELD_RO f SET u8 0 1",
    "BITFIELD_RO f OVERFLOW SAT GET u8 0",
    "BITFIELD_RO f INCRBY u8 0 1 GET u8",
    "BITFIELD_RO nokey GET u8 0",
    "LPUSH lst a",
    "BITFIELD lst GET u8 0",
    "BITFIELD lst SET u8 0 1",
    "BITFIELD_RO lst GET u8 0",
    "SET n 5",
    "BITFIELD n GET u8 0 SET u8 0 65",
    "GET n",
];

#[test]
fn setbit_and_getbit_match_redis() {
    diff(|p| p.lines(SETBIT_GETBIT));
}

#[test]
fn bitcount_and_bitpos_match_redis() {
    diff(|p| {
        for (key, bytes) in [
            ("p", &[0xff, 0xf0, 0x00][..]),
            ("ones", &[0xff, 0xff]),
            ("zeros", &[0, 0]),
        ] {
            p.same(&[b"SET".to_vec(), key.as_bytes().to_vec(), bytes.to_vec()]);
        }
        p.lines(COUNT_AND_POS);
    });
}

#[test]
fn bitop_matches_redis_across_shards() {
    diff(|p| p.lines(BITOP));
}

#[test]
fn bitfield_matches_redis_in_both_protocols() {
    diff(|p| {
        p.lines(BITFIELD);
        p.s("FLUSHALL");
        p.s("HELLO 3");
        p.lines(BITFIELD);
    });
}

/// Bits spread over a long string, set one at a time, read back by every read command, and
/// inside MULTI.
#[test]
fn a_long_bitmap_built_bit_by_bit_matches_redis() {
    diff(|p| {
        for i in 0..300u64 {
            let offset = (i * 7919) % 200_000;
            p.s(&format!("SETBIT big {offset} {}", i % 3 % 2));
        }
        p.lines(&[
            "STRLEN big",
            "BITCOUNT big",
            "BITCOUNT big 100 20000",
            "BITCOUNT big 1000 190000 BIT",
            "BITPOS big 1",
            "BITPOS big 1 100",
            "BITPOS big 0 5",
            "BITPOS big 1 1000 190000 BIT",
            "BITFIELD big GET u32 1000 GET i17 #5",
            "BITOP NOT inv big",
            "BITCOUNT inv",
            "MULTI",
            "SETBIT big 5 1",
            "BITFIELD big INCRBY u16 0 7",
            "BITCOUNT big 0 3",
            "EXEC",
        ]);
        let (r, s) = p.both(&cmd!("GET", "big"));
        assert!(r == s, "the bitmaps differ");
    });
}

/// WATCH sees bit writes to a watched key, and only to it: BITOP's sources are read, not
/// written, so watching one leaves EXEC alone.
#[test]
fn watch_sees_bit_writes_but_not_bitop_sources() {
    for shards in [1, 4] {
        let (redis, shoal) = (TestServer::redis(), TestServer::shoal(shards));
        let mut p = Pair::new(&redis, &shoal);
        let mut other = Pair::new(&redis, &shoal);
        for (write, dirty) in [
            ("SETBIT w 3 1", true),
            ("BITFIELD w SET u8 8 7", true),
            ("BITOP NOT w src", true),
            ("BITOP NOT dst w", false),
            ("BITFIELD w GET u8 0", false),
        ] {
            p.lines(&["SET src a", "SET w b", "WATCH w", "MULTI", "PING"]);
            other.s(write);
            let reply = p.s("EXEC");
            assert_eq!(reply.starts_with(b"*-1"), dirty, "{write}");
        }
    }
}
