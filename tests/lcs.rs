//! LCS compared with redis-server 7.0, in RESP2 and RESP3, with one shard and four (the two
//! keys then often live on different shards).

mod common;

use common::*;

const LINES: &[&str] = &[
    "MSET key1 ohmytext key2 mynewtext",
    "LCS key1 key2",
    "LCS key1 key2 LEN",
    "LCS key1 key2 IDX",
    "LCS key1 key2 IDX MINMATCHLEN 4",
    "LCS key1 key2 IDX MINMATCHLEN 4 WITHMATCHLEN",
    "LCS key1 key2 IDX WITHMATCHLEN MINMATCHLEN -3",
    "LCS key1 key2 LEN IDX",
    "LCS key1 key2 FOO",
    "LCS key1 key2 MINMATCHLEN",
    "LCS key1 key2 MINMATCHLEN x",
    "LCS key1 nokey",
    "LCS nokey nokey2 IDX",
    "MSET a rosettacode b raisethysword c 12345 d 2468",
    "LCS a b",
    "LCS a b IDX WITHMATCHLEN",
    "LCS b a IDX",
    "LCS c d",
    "LCS c d IDX",
    "MSET x aaaa y aa",
    "LCS x y IDX WITHMATCHLEN",
    "LCS y x IDX",
    "MSET p abcabcabc q cbacbacba",
    "LCS p q",
    "LCS p q IDX WITHMATCHLEN",
    "RPUSH lst a",
    "LCS lst key1",
    "LCS key1 lst LEN",
    "LCS lst key1 FOO",
    "LCS key1",
];

#[test]
fn lcs_matches_redis() {
    for proto in ["2", "3"] {
        diff(|p| {
            p.s(&format!("HELLO {proto}"));
            p.lines(LINES);
        });
    }
}

/// Longer strings: the same subsequence, length and ranges as redis-server.
#[test]
fn longer_strings_match_redis() {
    diff(|p| {
        let mut seed: u32 = 12345;
        let mut text = |n: usize| -> String {
            (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (b'a' + ((seed >> 16) % 4) as u8) as char
                })
                .collect()
        };
        let (u, v) = (text(300), text(250));
        p.s(&format!("MSET u {u} v {v}"));
        p.lines(&["LCS u v", "LCS u v LEN", "LCS u v IDX MINMATCHLEN 3 WITHMATCHLEN"]);
    });
}
