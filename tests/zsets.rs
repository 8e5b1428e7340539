//! Differential tests of the sorted-set family against redis-server 7.0, under RESP2 and
//! RESP3, with 1 and 4 shards. Random replies (ZRANDMEMBER) and skiplist ZSCAN are compared
//! in a normal form; everything else byte for byte.

mod common;

use common::*;

/// Runs `lines` under RESP2, then again from an empty db under RESP3.
fn both_protocols(p: &mut Pair, lines: &[&str]) {
    p.s("FLUSHALL");
    p.lines(lines);
    p.s("FLUSHALL");
    p.s("HELLO 3");
    p.lines(lines);
    p.s("HELLO 2");
    p.s("FLUSHALL");
}

/// Adds `n` members `m0..` with scores `i * step` to `key` on both servers.
fn fill(p: &mut Pair, key: &str, n: usize, step: f64) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let mut args = cmd!("ZADD", key);
        for i in chunk {
            args.push(format!("{}", *i as f64 * step).into_bytes());
            args.push(format!("m{i}").into_bytes());
        }
        p.same(&args);
    }
}

#[test]
fn zadd_options_and_errors() {
    diff(|p| {
        both_protocols(
            p,
            &[
                "ZADD z 1 a 2 b 3 c",
                "ZADD z xx 5 nothere",
                "ZADD z nx 9 a",
                "ZADD z ch 5 a 6 b 3 c",
                "ZADD z gt ch 1 a 7 b",
                "ZADD z lt ch 1 a 7 b",
                "ZADD z gt incr 1 b",
                "ZADD z lt incr 1 b",
                "ZADD z nx incr 1 b",
                "ZADD z xx incr 1 q",
                "ZADD z incr 1.5 q",
                "ZADD nokey xx 1 a",
                "ZADD nokey xx incr 1 a",
                "EXISTS nokey",
                "ZADD z gt lt 1 a",
                "ZADD z nx xx 1 a",
                "ZADD z nx gt 1 a",
                "ZADD z nx lt 1 a",
                "ZADD z incr 1 a 2 b",
                "ZADD z 1",
                "ZADD z",
                "ZADD z 1 a 2",
                "ZADD z abc a",
                "ZADD z nan a",
                "ZADD z ' 1' a",
                "ZADD z 1e400 a",
                "ZADD z 0x10 hex",
                "ZADD z +inf pinf -inf ninf",
                "ZADD z incr -inf pinf",
                "ZADD z -0 negzero",
                "ZSCORE z negzero",
                "ZINCRBY z 1 a",
                "ZINCRBY z 1e308 a",
                "ZINCRBY z abc a",
                "ZINCRBY z nx a",
                "ZINCRBY z 2.5 newm",
                "ZINCRBY z 1",
                "ZRANGE z 0 -1 WITHSCORES",
                "ZCARD z",
                "OBJECT ENCODING z",
                "SET s x",
                "ZADD s 1 a",
                "ZINCRBY s 1 a",
                "ZADD s xx 1 a",
                "ZADD s abc a",
                "ZCARD s",
                "ZSCORE s a",
                "ZMSCORE s a",
                "ZMSCORE z a nope c",
                "ZMSCORE nokey a b",
                "ZSCORE z nope",
                "ZSCORE nokey a",
            ],
        );
    });
}

#[test]
fn rem_rank_count() {
    diff(|p| {
        both_protocols(
            p,
            &[
                "ZADD z 1 a 2 b 3 c 4 d 5 e",
                "ZRANK z c",
                "ZREVRANK z c",
                "ZRANK z nope",
                "ZRANK nokey a",
                "ZCOUNT z 2 4",
                "ZCOUNT z (2 (4",
                "ZCOUNT z -inf +inf",
                "ZCOUNT z 4 2",
                "ZCOUNT z (2 2",
                "ZCOUNT z x 2",
                "ZCOUNT z 1 nan",
                "ZCOUNT z '' 3",
                "ZCOUNT z ( 3",
                "ZCOUNT z [1 3",
                "ZCOUNT nokey x 1",
                "ZCOUNT nokey 0 1",
                "ZREM z a nope b",
                "ZREM z nope",
                "ZREM nokey a",
                "ZCARD z",
                "ZREM z c d e",
                "EXISTS z",
                "ZADD l 0 a 0 b 0 c 0 d 0 e 0 f",
                "ZLEXCOUNT l - +",
                "ZLEXCOUNT l [b (e",
                "ZLEXCOUNT l (b [e",
                "ZLEXCOUNT l + -",
                "ZLEXCOUNT l [e [b",
                "ZLEXCOUNT l b e",
                "ZLEXCOUNT l [b x",
                "ZLEXCOUNT l -a +",
                "ZLEXCOUNT nokey a b",
                "ZLEXCOUNT nokey - +",
                "SET s x",
                "ZRANK s a",
                "ZREM s a",
                "ZCOUNT s 0 1",
                "ZLEXCOUNT s - +",
            ],
        );
    });
}

#[test]
fn ranges() {
    diff(|p| {
        both_protocols(
            p,
            &[
                "ZADD z 1 a 2 b 3 c 4 d 5 e 5 f 1.5 g -inf ninf +inf pinf",
                "ZRANGE z 0 -1",
                "ZRANGE z 0 -1 WITHSCORES",
                "ZRANGE z 2 4 withscores",
                "ZRANGE z -3 -1",
                "ZRANGE z -100 100",
                "ZRANGE z 5 2",
                "ZRANGE z 50 60",
                "ZRANGE z 0 -1 REV",
                "ZRANGE z 0 1 REV WITHSCORES",
                "ZRANGE z x 1",
                "ZRANGE z 0 -1 LIMIT 0 1",
                "ZRANGE z 0 -1 LIMIT 0 -1",
                "ZRANGE z 0 -1 LIMIT 0",
                "ZRANGE z 0 -1 BYLEX WITHSCORES",
                "ZRANGE z 0 -1 FOO",
                "ZRANGE z 0 -1 REV REV",
                "ZRANGE z 0 -1 BYSCORE BYLEX",
                "ZRANGE z (1 5 BYSCORE",
                "ZRANGE z (1 (5 BYSCORE WITHSCORES",
                "ZRANGE z 5 1 BYSCORE REV WITHSCORES",
                "ZRANGE z 5 (1 BYSCORE REV LIMIT 1 2",
                "ZRANGE z -inf +inf BYSCORE LIMIT 2 3 WITHSCORES",
                "ZRANGE z -inf +inf BYSCORE LIMIT -1 3",
                "ZRANGE z -inf +inf BYSCORE LIMIT 1 -1",
                "ZRANGE z -inf +inf BYSCORE LIMIT 1 0",
                "ZRANGE z -inf +inf BYSCORE LIMIT 100 5",
                "ZRANGE z -inf +inf BYSCORE LIMIT x 5",
                "ZRANGE z a b BYSCORE",
                "ZRANGE z 0 -1 BYLEX",
                "ZRANGEBYSCORE z 2 4",
                "ZRANGEBYSCORE z 2 4 WITHSCORES LIMIT 1 1",
                "ZRANGEBYSCORE z 2 4 REV",
                "ZRANGEBYSCORE z 2 4 BYLEX",
                "ZRANGEBYSCORE z -inf inf withscores",
                "ZRANGEBYSCORE z (inf +inf",
                "ZRANGEBYSCORE z 4 2",
                "ZREVRANGEBYSCORE z 4 2 WITHSCORES",
                "ZREVRANGEBYSCORE z +inf -inf LIMIT 1 3",
                "ZREVRANGEBYSCORE z (5 (1",
                "ZREVRANGE z 0 2 WITHSCORES",
                "ZREVRANGE z -2 -1",
                "ZREVRANGE z 0 -1 LIMIT 0 1",
                "ZREVRANGE z 0 -1 BYSCORE",
                "ZADD l 0 a 0 b 0 c 0 d 0 e 0 f 0 g",
                "ZRANGEBYLEX l - +",
                "ZRANGEBYLEX l [b (e",
                "ZRANGEBYLEX l (b [e LIMIT 1 2",
                "ZRANGEBYLEX l - + LIMIT 0 -1",
                "ZRANGEBYLEX l - + LIMIT -1 1",
                "ZRANGEBYLEX l - + WITHSCORES",
                "ZRANGEBYLEX l [a a",
                "ZRANGEBYLEX l + -",
                "ZREVRANGEBYLEX l + -",
                "ZREVRANGEBYLEX l [e (b",
                "ZREVRANGEBYLEX l + - LIMIT 2 2",
                "ZRANGE l [b [d BYLEX",
                "ZRANGE l [d [b BYLEX REV",
                "ZRANGE l [d [b BYLEX REV LIMIT 1 1",
                "ZRANGE nokey 0 -1",
                "ZRANGE nokey 0 -1 WITHSCORES",
                "ZRANGE nokey a b",
                "ZRANGEBYSCORE nokey 0 1",
                "ZRANGEBYLEX nokey - +",
                "SET s x",
                "ZRANGE s 0 -1",
                "ZRANGE s x y",
                "ZRANGEBYSCORE s 0 1",
                "ZRANGEBYLEX s - +",
            ],
        );
    });
}

#[test]
fn remove_ranges_and_pops() {
    diff(|p| {
        both_protocols(
            p,
            &[
                "ZADD z 1 a 2 b 3 c 4 d 5 e 6 f",
                "ZREMRANGEBYRANK z 0 0",
                "ZREMRANGEBYRANK z -1 -1",
                "ZREMRANGEBYRANK z 10 20",
                "ZREMRANGEBYRANK z x 1",
                "ZREMRANGEBYSCORE z (2 3",
                "ZREMRANGEBYSCORE z 100 200",
                "ZREMRANGEBYSCORE z x 1",
                "ZRANGE z 0 -1 WITHSCORES",
                "ZADD l 0 a 0 b 0 c 0 d",
                "ZREMRANGEBYLEX l [b (d",
                "ZREMRANGEBYLEX l x y",
                "ZREMRANGEBYLEX l - +",
                "EXISTS l",
                "ZREMRANGEBYLEX nokey - +",
                "ZREMRANGEBYRANK nokey 0 -1",
                "ZADD p 1 a 2 b 3 c 4 d 5 e",
                "ZPOPMIN p",
                "ZPOPMAX p",
                "ZPOPMIN p 2",
                "ZPOPMAX p 0",
                "ZPOPMAX p -1",
                "ZPOPMAX p x",
                "ZPOPMAX p 1 2",
                "ZPOPMIN p 10",
                "EXISTS p",
                "ZPOPMIN p",
                "ZPOPMIN p 3",
                "SET s x",
                "ZPOPMIN s",
                "ZPOPMIN s 0",
                "ZREMRANGEBYRANK s 0 1",
                "ZADD m1 1 a 2 b",
                "ZADD m2 3 c 4 d 5 e",
                "ZMPOP 1 m1 MIN",
                "ZMPOP 2 nokey m2 MAX COUNT 2",
                "ZMPOP 3 nokey1 nokey2 m1 min count 10",
                "ZMPOP 2 nokey1 nokey2 MIN",
                "ZMPOP 2 nokey s MIN",
                "ZMPOP 2 m2 s MIN",
                "ZMPOP 0 m1 MIN",
                "ZMPOP x m1 MIN",
                "ZMPOP 1 m1",
                "ZMPOP 5 m1 MIN",
                "ZMPOP 1 m1 LEFT",
                "ZMPOP 1 m1 MIN COUNT 0",
                "ZMPOP 1 m1 MIN COUNT x",
                "ZMPOP 1 m1 MIN COUNT 1 COUNT 1",
                "ZMPOP 1 m1 MIN COUNT",
                "ZMPOP 1 m1 MIN FOO",
            ],
        );
    });
}

#[test]
fn set_operations() {
    diff(|p| {
        both_protocols(
            p,
            &[
                "ZADD a 1 x 2 y 3 z",
                "ZADD b 10 y 20 z 30 w",
                "ZADD c 100 z",
                "ZUNION 2 a b",
                "ZUNION 2 a b WITHSCORES",
                "ZUNION 2 a b WEIGHTS 2 0.5 WITHSCORES",
                "ZUNION 2 a b AGGREGATE MIN WITHSCORES",
                "ZUNION 2 a b AGGREGATE max WITHSCORES",
                "ZUNION 2 a b AGGREGATE avg",
                "ZUNION 2 a b WEIGHTS 1",
                "ZUNION 2 a b WEIGHTS 1 x",
                "ZUNION 2 a b WEIGHTS 1 nan",
                "ZUNION 2 a b WEIGHTS inf -inf withscores",
                "ZUNION 3 a b nokey WITHSCORES",
                "ZUNION 0 a",
                "ZUNION -1 a",
                "ZUNION x a",
                "ZUNION 3 a b",
                "ZUNION 2 a b FOO",
                "ZINTER 2 a b WITHSCORES",
                "ZINTER 3 a b c WITHSCORES",
                "ZINTER 2 a nokey",
                "ZINTER 2 a b WEIGHTS 2 3 AGGREGATE MAX WITHSCORES",
                "ZDIFF 2 a b WITHSCORES",
                "ZDIFF 1 a",
                "ZDIFF 2 nokey a",
                "ZDIFF 2 a b WEIGHTS 1 1",
                "ZDIFF 2 a b AGGREGATE SUM",
                "ZUNIONSTORE d 2 a b",
                "ZRANGE d 0 -1 WITHSCORES",
                "OBJECT ENCODING d",
                "ZINTERSTORE d 2 a b WEIGHTS 1 2",
                "ZRANGE d 0 -1 WITHSCORES",
                "ZINTERSTORE d 2 a nokey",
                "EXISTS d",
                "ZINTERSTORE d 2 a nokey",
                "ZDIFFSTORE d 2 a b",
                "ZRANGE d 0 -1 WITHSCORES",
                "ZUNIONSTORE d 2 a b WITHSCORES",
                "ZUNIONSTORE d 0 a",
                "ZINTERCARD 2 a b",
                "ZINTERCARD 2 a b LIMIT 1",
                "ZINTERCARD 2 a b LIMIT 0",
                "ZINTERCARD 2 a b LIMIT -1",
                "ZINTERCARD 2 a b LIMIT x",
                "ZINTERCARD 2 a b WITHSCORES",
                "ZINTERCARD 0 a",
                "ZINTERCARD 2 a nokey",
                "SET s x",
                "ZUNION 2 a s",
                "ZUNION 2 a s WEIGHTS x",
                "ZUNIONSTORE d 2 a s",
                "ZINTERCARD 2 s a",
                "ZUNIONSTORE s 1 a",
                "TYPE s",
                "SADD set x q",
                "ZUNION 2 a set WITHSCORES",
                "ZINTER 2 a set WITHSCORES",
                "ZDIFF 2 set a",
                "ZRANGESTORE d a 0 1",
                "ZRANGE d 0 -1 WITHSCORES",
                "ZRANGESTORE d a (1 +inf BYSCORE REV LIMIT 0 1",
                "ZRANGE d 0 -1 WITHSCORES",
                "ZRANGESTORE d a [a [y BYLEX",
                "ZRANGESTORE d a 5 6",
                "EXISTS d",
                "ZRANGESTORE d nokey 0 -1",
                "ZRANGESTORE d a 0 -1 WITHSCORES",
                "ZRANGESTORE d a 0 -1 LIMIT 0 1",
                "ZRANGESTORE d s 0 -1",
                "ZRANGESTORE d a x y",
            ],
        );
    });
}

#[test]
fn encodings_and_big_sets() {
    diff(|p| {
        p.s("ZADD big 1 a");
        p.s("OBJECT ENCODING big");
        fill(p, "big", 128, 1.0);
        p.s("OBJECT ENCODING big");
        fill(p, "big", 300, 0.5);
        p.s("OBJECT ENCODING big");
        for line in [
            "ZCARD big",
            "ZRANGE big 100 110 WITHSCORES",
            "ZREVRANGE big 5 9 WITHSCORES",
            "ZRANGEBYSCORE big (10 20 WITHSCORES LIMIT 3 5",
            "ZREVRANGEBYSCORE big 20 (10 LIMIT 3 5",
            "ZRANK big m77",
            "ZREVRANK big m77",
            "ZCOUNT big 10 (50",
            "ZREMRANGEBYRANK big 0 9",
            "ZREMRANGEBYSCORE big 100 120",
            "ZPOPMAX big 3",
            "ZPOPMIN big 3",
            "ZADD big -0 zero",
            "ZSCORE big zero",
            "ZINCRBY big 0.1 m200",
            "ZUNIONSTORE u 1 big WEIGHTS 2",
            "OBJECT ENCODING u",
            "ZRANGE u 0 5 WITHSCORES",
            "ZRANGESTORE r big 0 9",
            "OBJECT ENCODING r",
            "ZADD long 1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "OBJECT ENCODING long",
            "ZREMRANGEBYRANK big 0 -1",
            "EXISTS big",
        ] {
            p.s(line);
        }
    });
}

/// The member/score pairs of a ZSCAN or ZRANDMEMBER WITHSCORES reply, sorted.
fn sorted_items(r: &Reply) -> Vec<String> {
    let mut v: Vec<String> = r
        .items()
        .iter()
        .flat_map(|i| match i {
            Reply::Array(pair) => pair.iter().map(Reply::text).collect::<Vec<_>>(),
            other => vec![other.text()],
        })
        .collect();
    v.sort();
    v
}

#[test]
fn random_members_and_scan() {
    diff(|p| {
        p.lines(&[
            "ZADD z 1 a 2 b 3 c",
            "ZRANDMEMBER nokey",
            "ZRANDMEMBER nokey 3",
            "ZRANDMEMBER z 0",
            "ZRANDMEMBER z x",
            "ZRANDMEMBER z -9223372036854775808",
            "ZRANDMEMBER z 4611686018427387904 WITHSCORES",
            "ZRANDMEMBER z 1 FOO",
            "ZRANDMEMBER z 1 WITHSCORES x",
            "ZSCAN nokey 0",
            "ZSCAN nokey 0 FOO",
            "ZSCAN z x",
            "ZSCAN z 0",
            "ZSCAN z 0 MATCH a*",
            "ZSCAN z 0 COUNT 0",
            "ZSCAN z 0 TYPE zset",
        ]);
        for line in ["ZRANDMEMBER z 5 WITHSCORES", "ZRANDMEMBER z 3", "ZRANDMEMBER z 10"] {
            let (r, s) = p.both(&c(line));
            assert_eq!(sorted_items(&s), sorted_items(&r), "{line}");
        }
        let (_, s) = p.both(&c("ZRANDMEMBER z -10 WITHSCORES"));
        assert_eq!(s.items().len(), 20);
        let (_, s) = p.both(&c("ZRANDMEMBER z 2"));
        assert_eq!(s.items().len(), 2);
        fill(p, "big", 200, 0.1);
        let (r, s) = p.both(&c("ZSCAN big 0 COUNT 1000"));
        // One pass over the whole set (cursor 0) in Shoal; redis may need several.
        let mut all_r = Vec::new();
        let mut cursor = r.items()[0].text();
        all_r.extend(sorted_items(&r.items()[1]));
        while cursor != "0" {
            let next = p.redis.call(&cmd!("ZSCAN", "big", cursor.as_str(), "COUNT", "1000"));
            cursor = next.items()[0].text();
            all_r.extend(sorted_items(&next.items()[1]));
        }
        all_r.sort();
        assert_eq!(sorted_items(&s.items()[1]), all_r);
    });
}
