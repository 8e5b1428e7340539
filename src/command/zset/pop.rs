//! ZPOPMIN / ZPOPMAX, and the pop that ZMPOP and the blocking wrappers share.
//!
//! For the blocking commands (built on `shard/blocking.rs`), call `pop_and_reply` from the
//! waiter's `serve` on the key's shard:
//! - BZPOPMIN / BZPOPMAX: `pop_and_reply(cx, key, side, 1, PopReply::KeyMemberScore,
//!   PopLog::Bare, out)`: replies `[key, member, score]`, logs `ZPOPMIN key`.
//! - BZMPOP: `pop_and_reply(cx, key, side, count, PopReply::KeyPairs, PopLog::Counted, out)`:
//!   replies `[key, [[member, score], ...]]`, logs `ZPOPMIN key <popped>`.
//!
//! Readiness is "the key holds a non-empty zset": ZADD, ZINCRBY and the *STORE commands
//! signal the key when they create it.

use super::*;
use crate::command::args::parse_int;
use crate::command::list;
use crate::resp::Arg;

/// Popped elements, in pop order.
pub type Popped = Vec<(Box<[u8]>, f64)>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PopSide {
    Min,
    Max,
}

impl PopSide {
    fn command(self) -> &'static [u8] {
        match self {
            PopSide::Min => b"ZPOPMIN",
            PopSide::Max => b"ZPOPMAX",
        }
    }

    /// The keyspace event of a pop from this side.
    fn event(self) -> &'static str {
        match self {
            PopSide::Min => "zpopmin",
            PopSide::Max => "zpopmax",
        }
    }
}

/// The shapes of a pop reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PopReply {
    /// ZPOPMIN key: `[member, score]` in both protocols.
    Flat,
    /// ZPOPMIN key count: flat pairs in RESP2, nested pairs in RESP3.
    Counted,
    /// BZPOPMIN: `[key, member, score]`.
    KeyMemberScore,
    /// ZMPOP / BZMPOP: `[key, [[member, score], ...]]` in both protocols.
    KeyPairs,
}

/// What the pop logs.
#[derive(Clone, Copy, Debug)]
pub enum PopLog<'a> {
    /// The client's command as sent (ZPOPMIN / ZPOPMAX).
    Verbatim(&'a [Arg]),
    /// `ZPOPMIN|ZPOPMAX key <popped>` (ZMPOP, BZMPOP).
    Counted,
    /// `ZPOPMIN|ZPOPMAX key` (BZPOPMIN / BZPOPMAX).
    Bare,
}

/// Pops up to `count` elements from the zset under `key` (deleting it when emptied) and logs
/// the pop. `None` when the key is missing; the elements come in pop order.
pub fn pop_elements(
    cx: &mut ShardCx,
    key: &[u8],
    side: PopSide,
    count: usize,
    log: PopLog,
) -> Result<Option<Popped>, CmdError> {
    let Some(z) = write_zset(cx, key)? else {
        return Ok(None);
    };
    let len = z.len();
    let n = count.min(len);
    let mut items = match side {
        PopSide::Min => z.remove_ranks(0, n),
        PopSide::Max => z.remove_ranks(len - n, len),
    };
    if side == PopSide::Max {
        items.reverse();
    }
    let empty = z.is_empty();
    if !items.is_empty() {
        cx.notify(class::ZSET, side.event(), key);
        if empty {
            cx.remove(key);
            cx.notify(class::GENERIC, "del", key);
        }
        match log {
            PopLog::Verbatim(argv) => cx.emit_argv(argv),
            PopLog::Counted => {
                let n = itoa::Buffer::new().format(items.len()).to_owned();
                cx.emit(&[side.command(), key, n.as_bytes()]);
            }
            PopLog::Bare => cx.emit(&[side.command(), key]),
        }
    }
    Ok(Some(items))
}

/// Pops from `key` and writes the reply in `shape`. Returns false (writing nothing) when the
/// key is missing or empty, so a blocking caller can keep waiting.
pub fn pop_and_reply(
    cx: &mut ShardCx,
    key: &[u8],
    side: PopSide,
    count: usize,
    shape: PopReply,
    log: PopLog,
    out: &mut Out,
) -> Result<bool, CmdError> {
    let items = pop_elements(cx, key, side, count, log)?.unwrap_or_default();
    if items.is_empty() {
        return Ok(false);
    }
    write_pop_reply(out, key, &items, shape);
    Ok(true)
}

fn write_pop_reply(out: &mut Out, key: &[u8], items: &[(Box<[u8]>, f64)], shape: PopReply) {
    match shape {
        PopReply::Flat => {
            out.array(2 * items.len());
            for (m, s) in items {
                out.bulk(m);
                reply_score(out, *s);
            }
        }
        PopReply::Counted => reply_elements(out, items, true),
        PopReply::KeyMemberScore => {
            out.array(1 + 2 * items.len());
            out.bulk(key);
            for (m, s) in items {
                out.bulk(m);
                reply_score(out, *s);
            }
        }
        PopReply::KeyPairs => {
            out.array(2);
            out.bulk(key);
            out.array(items.len());
            for (m, s) in items {
                out.array(2);
                out.bulk(m);
                reply_score(out, *s);
            }
        }
    }
}

/// ZPOPMIN / ZPOPMAX key [count]: the count is checked before the key, but a count of 0
/// still checks the key's type.
fn zpop(cx: &mut ShardCx, args: &mut Args, out: &mut Out, side: PopSide) -> Result<(), CmdError> {
    let argv = args.all();
    if argv.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match argv.get(2) {
        Some(c) => {
            let n = parse_int(c)
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| CmdError::other("ERR value is out of range, must be positive"))?;
            Some(n as usize)
        }
        None => None,
    };
    let shape = if count.is_some() {
        PopReply::Counted
    } else {
        PopReply::Flat
    };
    let items = pop_elements(cx, &argv[1], side, count.unwrap_or(1), PopLog::Verbatim(argv))?;
    match items {
        Some(items) if !items.is_empty() => write_pop_reply(out, &argv[1], &items, shape),
        _ => out.array(0),
    }
    Ok(())
}

pub fn zpopmin(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    zpop(cx, args, out, PopSide::Min)
}

pub fn zpopmax(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    zpop(cx, args, out, PopSide::Max)
}

/// BZPOPMIN / BZPOPMAX key [key ...] timeout: waits on the list machinery's blocking pop
/// (`list::block_on_pop`) with a sorted-set pop.
fn bzpop(cx: &mut ConnCx, argv: Vec<Arg>, side: PopSide) -> CmdFuture<'_> {
    Box::pin(async move {
        let timeout = list::parse_timeout(&argv[argv.len() - 1])?;
        let keys = argv[1..argv.len() - 1].to_vec();
        list::block_on_pop(cx, keys, list::PopHow::ZPop { side, count: None }, timeout).await
    })
}

pub fn bzpopmin(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    bzpop(cx, argv, PopSide::Min)
}

pub fn bzpopmax(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    bzpop(cx, argv, PopSide::Max)
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count].
pub fn bzmpop(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let timeout = list::parse_timeout(&argv[1])?;
        let a = parse_mpop(&argv, 2)?;
        let how = list::PopHow::ZPop {
            side: a.side,
            count: Some(a.count),
        };
        list::block_on_pop(cx, a.keys, how, timeout).await
    })
}

/// ZMPOP's arguments after parsing: the keys, the side and the count.
pub struct MpopArgs {
    pub keys: Vec<Arg>,
    pub side: PopSide,
    pub count: usize,
}

/// Parses `numkeys key [key ...] MIN|MAX [COUNT count]` starting at `argv[at]` (ZMPOP: 1,
/// BZMPOP: 2), with 7.0's error texts.
pub fn parse_mpop(argv: &[Arg], at: usize) -> Result<MpopArgs, CmdError> {
    let numkeys = parse_int(&argv[at])
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| CmdError::other("ERR numkeys should be greater than 0"))?;
    let where_at = (at as i64).saturating_add(numkeys).saturating_add(1);
    if where_at >= argv.len() as i64 {
        return Err(CmdError::Syntax);
    }
    let where_at = where_at as usize;
    let side = match &argv[where_at] {
        w if crate::command::args::is(w, "min") => PopSide::Min,
        w if crate::command::args::is(w, "max") => PopSide::Max,
        _ => return Err(CmdError::Syntax),
    };
    let mut count = None;
    let mut j = where_at + 1;
    while j < argv.len() {
        if count.is_none() && crate::command::args::is(&argv[j], "count") && j + 1 < argv.len() {
            let n = parse_int(&argv[j + 1])
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| CmdError::other("ERR count should be greater than 0"))?;
            count = Some(n as usize);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(MpopArgs {
        keys: argv[at + 1..where_at].to_vec(),
        side,
        count: count.unwrap_or(1),
    })
}

/// ZMPOP on one shard: pops from the first key holding a zset (WRONGTYPE stops the scan).
/// Writes the reply; `Ok(false)` when every key was missing (nothing written).
pub fn mpop_local(cx: &mut ShardCx, a: &MpopArgs, out: &mut Out) -> Result<bool, CmdError> {
    for key in &a.keys {
        if write_zset(cx, key)?.is_some() {
            return pop_and_reply(cx, key, a.side, a.count, PopReply::KeyPairs, PopLog::Counted, out);
        }
    }
    Ok(false)
}
