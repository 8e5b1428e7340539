//! ZADD, ZINCRBY, ZREM and ZREMRANGEBYSCORE / BYRANK / BYLEX. Scores are exact doubles, so
//! every one of them replicates verbatim, and only when it changed something.

use super::range::{LexRange, ScoreRange, rank_interval};
use super::*;
use crate::command::args::{is, parse_int};
use crate::util::num::parse_f64;

/// ZADD's options.
#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]
pub fn zadd(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    add_generic(cx, args, out, false)
}

/// ZINCRBY key increment member: ZADD INCR underneath, so `ZINCRBY k nx m` is a syntax error
/// (the option parser eats `nx`) exactly as in Redis.
pub fn zincrby(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    add_generic(cx, args, out, true)
}

fn add_generic(cx: &mut ShardCx, args: &mut Args, out: &mut Out, incr: bool) -> Result<(), CmdError> {
    let argv = args.all();
    let key = &argv[1];
    let mut f = AddFlags {
        incr,
        ..AddFlags::default()
    };
    let mut j = 2;
    while let Some(a) = argv.get(j) {
        match () {
            _ if is(a, "nx") => f.nx = true,
            _ if is(a, "xx") => f.xx = true,
            _ if is(a, "gt") => f.gt = true,
            _ if is(a, "lt") => f.lt = true,
            _ if is(a, "ch") => f.ch = true,
            _ if is(a, "incr") => f.incr = true,
            _ => break,
        }
        j += 1;
    }
    let elems = &argv[j..];
    if elems.is_empty() || !elems.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    if f.nx && f.xx {
        return Err(CmdError::other(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if ((f.gt || f.lt) && f.nx) || (f.gt && f.lt) {
        return Err(CmdError::other(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && elems.len() > 2 {
        return Err(CmdError::other(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let mut scores = Vec::with_capacity(elems.len() / 2);
    for pair in elems.chunks_exact(2) {
        scores.push(parse_f64(&pair[0]).ok_or(CmdError::NotFloat)?);
    }

    let limits = cx.shard.limits;
    let exists = write_zset(cx, key)?.is_some();
    if !exists {
        if f.xx {
            add_reply(out, &f, 0, 0, None);
            return Ok(());
        }
        cx.put(key, Value::ZSet(Box::default()), false);
    }
    let Some(z) = write_zset(cx, key)? else {
        return Err(CmdError::NoSuchKey);
    };
    let (mut added, mut updated) = (0, 0);
    let mut last = None;
    let mut nan = false;
    for (pair, &score) in elems.chunks_exact(2).zip(&scores) {
        let member = &pair[1];
        match z.score(member) {
            Some(cur) => {
                if f.nx {
                    continue;
                }
                let new = if f.incr { cur + score } else { score };
                if new.is_nan() {
                    nan = true;
                    break;
                }
                if (f.gt && new <= cur) || (f.lt && new >= cur) {
                    continue;
                }
                last = Some(new);
                if new != cur {
                    z.insert(member, new, &limits);
                    updated += 1;
                }
            }
            None => {
                if f.xx {
                    continue;
                }
                z.insert(member, score, &limits);
                added += 1;
                last = Some(score);
            }
        }
    }
    if added + updated > 0 {
        cx.notify(class::ZSET, if f.incr { "zincr" } else { "zadd" }, key);
        cx.emit_argv(argv);
        if !exists {
            cx.shard.blocking.signal(cx.db, key);
        }
    }
    if nan {
        return Err(CmdError::other("ERR resulting score is not a number (NaN)"));
    }
    add_reply(out, &f, added, updated, last);
    Ok(())
}

fn add_reply(out: &mut Out, f: &AddFlags, added: i64, updated: i64, last: Option<f64>) {
    if f.incr {
        match last {
            Some(s) => reply_score(out, s),
            None => out.null(),
        }
    } else {
        out.int(if f.ch { added + updated } else { added });
    }
}

/// ZREM key member [member ...]
pub fn zrem(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let argv = args.all();
    let key = &argv[1];
    let Some(z) = write_zset(cx, key)? else {
        out.int(0);
        return Ok(());
    };
    let removed = argv[2..].iter().filter(|m| z.remove(m).is_some()).count();
    let empty = z.is_empty();
    finish_removal(cx, argv, key, "zrem", removed, empty);
    out.int(removed as i64);
    Ok(())
}

/// After a removal that did anything: tell `event`, drop the key if it became empty (telling
/// "del"), log the command.
fn finish_removal(
    cx: &mut ShardCx,
    argv: &[crate::resp::Arg],
    key: &[u8],
    event: &'static str,
    removed: usize,
    empty: bool,
) {
    if removed > 0 {
        cx.notify(class::ZSET, event, key);
        if empty {
            cx.remove(key);
            cx.notify(class::GENERIC, "del", key);
        }
        cx.emit_argv(argv);
    }
}

/// Which ZREMRANGEBY* command.
enum RemoveBy {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

fn remove_range(cx: &mut ShardCx, args: &mut Args, out: &mut Out, by: RemoveBy) -> Result<(), CmdError> {
    let argv = args.all();
    let key = &argv[1];
    let Some(z) = write_zset(cx, key)? else {
        out.int(0);
        return Ok(());
    };
    let event = match by {
        RemoveBy::Rank(..) => "zremrangebyrank",
        RemoveBy::Score(_) => "zremrangebyscore",
        RemoveBy::Lex(_) => "zremrangebylex",
    };
    let (start, end) = match by {
        RemoveBy::Rank(a, b) => match rank_interval(a, b, z.len()) {
            Some((s, e)) => (s, e + 1),
            None => (0, 0),
        },
        RemoveBy::Score(r) => r.ranks(z),
        RemoveBy::Lex(r) => r.ranks(z),
    };
    let removed = z.remove_ranks(start, end).len();
    let empty = z.is_empty();
    finish_removal(cx, argv, key, event, removed, empty);
    out.int(removed as i64);
    Ok(())
}

pub fn zremrangebyrank(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let argv = args.all();
    let by = RemoveBy::Rank(parse_int(&argv[2])?, parse_int(&argv[3])?);
    remove_range(cx, args, out, by)
}

pub fn zremrangebyscore(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let argv = args.all();
    let by = RemoveBy::Score(ScoreRange::parse(&argv[2], &argv[3])?);
    remove_range(cx, args, out, by)
}

pub fn zremrangebylex(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let argv = args.all();
    let by = RemoveBy::Lex(LexRange::parse(&argv[2], &argv[3])?);
    remove_range(cx, args, out, by)
}
