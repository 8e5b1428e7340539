//! Shard-level checks of what each write propagates (the write log), against what
//! redis-server 7.0 puts in its AOF for the same commands.

use super::*;
use crate::resp::Proto;
use crate::shard::Shard;

/// Runs `line` (space-separated) on `shard`, returns the reply bytes.
fn run(shard: &mut Shard, line: &str) -> Vec<u8> {
    crate::command::test_support::run_line(shard, line)
}

/// The commands logged since the last call, as space-separated lines.
fn logged(shard: &mut Shard) -> Vec<String> {
    shard
        .log
        .drain()
        .iter()
        .map(|r| {
            let text = String::from_utf8_lossy(r.resp).into_owned();
            let parts: Vec<&str> = text.split("\r\n").collect();
            parts
                .iter()
                .skip(1)
                .filter(|p| !p.starts_with('$') && !p.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn writes_log_as_redis_propagates() {
    let mut shard = Shard::new(0, 1);
    shard.log.set_enabled(true);
    let cases: &[(&str, &[&str])] = &[
        ("zadd k 1 a 2 b 3 c", &["zadd k 1 a 2 b 3 c"]),
        ("zadd k xx 5 nothere", &[]),
        ("zadd k nx 9 a", &[]),
        ("zadd k ch 1 a", &[]),
        ("zincrby k 1.5 c", &["zincrby k 1.5 c"]),
        ("zadd k incr 1 c", &["zadd k incr 1 c"]),
        ("zpopmin k", &["zpopmin k"]),
        ("zpopmax k 5", &["zpopmax k 5"]),
        ("zpopmin k", &[]),
        ("zadd k 1 a 2 b 3 c", &["zadd k 1 a 2 b 3 c"]),
        ("zrem k a zz", &["zrem k a zz"]),
        ("zrem k zz", &[]),
        ("zremrangebyrank k 0 0", &["zremrangebyrank k 0 0"]),
        ("zremrangebyscore k 100 200", &[]),
        ("zremrangebylex k - +", &["zremrangebylex k - +"]),
    ];
    for (cmd, want) in cases {
        run(&mut shard, cmd);
        assert_eq!(logged(&mut shard), *want, "{cmd}");
    }
    assert!(shard.dbs[0].is_empty());
}

#[test]
fn pops_for_blocking_wrappers() {
    let mut shard = Shard::new(0, 1);
    shard.log.set_enabled(true);
    run(&mut shard, "zadd k 1 a 2 b 3 c");
    shard.log.drain();
    let mut cx = ShardCx::new(&mut shard, 0, 1_000);
    let mut out = Out::new(Proto::Resp2);
    let popped = pop_and_reply(
        &mut cx,
        b"k",
        PopSide::Max,
        1,
        pop::PopReply::KeyMemberScore,
        pop::PopLog::Bare,
        &mut out,
    );
    assert_eq!(popped, Ok(true));
    assert_eq!(out.take(), b"*3\r\n$1\r\nk\r\n$1\r\nc\r\n$1\r\n3\r\n");
    let popped = pop_and_reply(
        &mut cx,
        b"k",
        PopSide::Min,
        5,
        pop::PopReply::KeyPairs,
        pop::PopLog::Counted,
        &mut out,
    );
    assert_eq!(popped, Ok(true));
    let popped = pop_and_reply(
        &mut cx,
        b"k",
        PopSide::Min,
        5,
        pop::PopReply::KeyPairs,
        pop::PopLog::Counted,
        &mut out,
    );
    assert_eq!(popped, Ok(false));
    assert_eq!(logged(&mut shard), ["ZPOPMAX k", "ZPOPMIN k 2"]);
}
