//! Reads of one sorted set: ZCARD, ZSCORE, ZMSCORE, ZCOUNT, ZLEXCOUNT, ZRANK, ZREVRANK,
//! ZRANDMEMBER and ZSCAN.

use super::range::{LexRange, ScoreRange};
use super::*;
use crate::command::args::is;
use crate::command::collection::{PickRng, ScanOptions, distinct_positions, parse_rand_count, parse_scan_cursor};

pub fn zcard(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let len = read_zset(cx, &args.all()[1])?.map_or(0, |z| z.len());
    out.int(len as i64);
    Ok(())
}

pub fn zscore(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let argv = args.all();
    match read_zset(cx, &argv[1])?.and_then(|z| z.score(&argv[2])) {
        Some(s) => reply_score(out, s),
        None => out.null(),
    }
    Ok(())
}

pub fn zmscore(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let argv = args.all();
    let z = read_zset(cx, &argv[1])?;
    out.array(argv.len() - 2);
    for m in &argv[2..] {
        match z.and_then(|z| z.score(m)) {
            Some(s) => reply_score(out, s),
            None => out.null(),
        }
    }
    Ok(())
}

/// ZCOUNT key min max: the bounds are checked before the key.
pub fn zcount(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let argv = args.all();
    let range = ScoreRange::parse(&argv[2], &argv[3])?;
    let n = read_zset(cx, &argv[1])?.map_or(0, |z| {
        let (a, b) = range.ranks(z);
        b - a
    });
    out.int(n as i64);
    Ok(())
}

pub fn zlexcount(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let argv = args.all();
    let range = LexRange::parse(&argv[2], &argv[3])?;
    let n = read_zset(cx, &argv[1])?.map_or(0, |z| {
        let (a, b) = range.ranks(z);
        b - a
    });
    out.int(n as i64);
    Ok(())
}

fn rank_generic(cx: &mut ShardCx, args: &mut Args, out: &mut Out, rev: bool) -> Result<(), CmdError> {
    let argv = args.all();
    let Some(z) = read_zset(cx, &argv[1])? else {
        out.null();
        return Ok(());
    };
    match z.rank(&argv[2]) {
        Some((r, _)) if rev => out.int((z.len() - 1 - r) as i64),
        Some((r, _)) => out.int(r as i64),
        None => out.null(),
    }
    Ok(())
}

pub fn zrank(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    rank_generic(cx, args, out, false)
}

pub fn zrevrank(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    rank_generic(cx, args, out, true)
}

/// ZRANDMEMBER key [count [WITHSCORES]]. A negative count allows repeats; a count at least
/// the size returns the whole set (in order here; Redis's order is unspecified).
pub fn zrandmember(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let argv = args.all();
    let seed = cx.shard.rand_below(usize::MAX);
    let mut rng = PickRng::new(seed);
    if argv.len() == 2 {
        match read_zset(cx, &argv[1])? {
            Some(z) => match z.get(rng.below(z.len())) {
                Some((m, _)) => out.bulk(m),
                None => out.null(),
            },
            None => out.null(),
        }
        return Ok(());
    }
    let (count, distinct) = parse_rand_count(&argv[2])?;
    if argv.len() > 4 || (argv.len() == 4 && !is(&argv[3], "withscores")) {
        return Err(CmdError::Syntax);
    }
    let withscores = argv.len() == 4;
    if withscores && count > (i64::MAX / 2) as usize {
        return Err(CmdError::other("ERR value is out of range"));
    }
    let Some(z) = read_zset(cx, &argv[1])? else {
        out.array(0);
        return Ok(());
    };
    let len = z.len();
    if count == 0 || len == 0 {
        out.array(0);
        return Ok(());
    }
    // A packed set finds a rank by walking from its start, so many picks go through a table
    // of its (at most a few hundred) members, built once; a tree finds ranks in O(log n).
    let table: Vec<(&[u8], f64)> = if z.encoding() == "listpack" {
        z.iter().collect()
    } else {
        Vec::new()
    };
    let pick = |p: usize| {
        if table.is_empty() {
            z.get(p)
        } else {
            table.get(p).copied()
        }
    };
    if !distinct {
        reply_elements_header(out, count, withscores);
        for _ in 0..count {
            if let Some((m, s)) = pick(rng.below(len)) {
                reply_element(out, m, s, withscores);
            }
        }
    } else if count >= len {
        reply_elements_header(out, len, withscores);
        z.walk(0, len, false, |m, s| {
            reply_element(out, m, s, withscores);
            true
        });
    } else {
        let picks = distinct_positions(len, count, &mut rng);
        reply_elements_header(out, picks.len(), withscores);
        for p in picks {
            if let Some((m, s)) = pick(p) {
                reply_element(out, m, s, withscores);
            }
        }
    }
    Ok(())
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]. The cursor is checked first, then the key,
/// then the options (a missing key answers an empty scan whatever the options say).
///
/// Every call returns the whole set and cursor 0: Redis does the same for listpack sets, and
/// for larger ones a single full pass still meets SCAN's guarantees (every member present for
/// the whole iteration is returned; COUNT is only a hint).
pub fn zscan(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let argv = args.all();
    parse_scan_cursor(&argv[2])?;
    let Some(z) = read_zset(cx, &argv[1])? else {
        out.array(2);
        out.bulk(b"0");
        out.array(0);
        return Ok(());
    };
    let opts = ScanOptions::parse(&argv[3..])?;
    let mut items = Vec::new();
    for (m, s) in z.iter() {
        if opts.matches(m) {
            items.push(m.to_vec());
            let mut text = Vec::with_capacity(24);
            format_double(s, &mut text);
            items.push(text);
        }
    }
    crate::command::collection::scan_reply(out, 0, &items);
    Ok(())
}
