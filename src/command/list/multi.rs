//! List commands whose keys may live on several shards: LMOVE, RPOPLPUSH and LMPOP, and the
//! try-then-register step the blocking forms share (`attempt`).
//!
//! Keys are tried in argument order and the first one holding a list wins, as in Redis; a
//! key of another type met first is a WRONGTYPE error. With all keys on one shard this is a
//! single plain job; otherwise a locked `Txn` probes every shard, then acts on one (or
//! registers the blocked client on all), so no push can slip in between.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::ops::{How, KeyState, PopOp, list_of, pop_event, probe, told_then_drop_if_empty};
use super::{parse_end, push_elems};
use crate::command::args::{is, parse_int};
use crate::command::{CmdError, CmdFuture, ConnCx};
use crate::resp::Arg;
use crate::resp::Out;
use crate::shard::blocking::{BlockedOp, Waiter};
use crate::shard::{Shard, ShardCx, ShardId, shard_of, unix_ms};
use crate::store::Kind;
use crate::store::list::End;
use crate::txn::keys_by_shard;

/// The outcome of trying a pop (and maybe registering a blocked client).
pub(super) enum Attempt {
    /// The reply, already encoded.
    Reply(Vec<u8>),
    /// Nothing to pop; the client waits on these shards.
    Registered(Vec<ShardId>),
    /// Nothing to pop and no waiting (non-blocking form, or inside MULTI).
    Nothing,
    /// A key became poppable while registering a cross-shard move: try the move again.
    Retry,
}

/// A blocked client's identity on its core: the ticket its result goes to, and its claim.
#[derive(Clone)]
pub(super) struct WaitFor {
    pub ticket: u64,
    pub claim: Arc<AtomicBool>,
}

/// Per shard: try the first list among `keys` (indexes into `all`), else register.
fn try_on_shard(
    shard: &mut Shard,
    db: usize,
    all: &[Arg],
    mine: &[usize],
    op: &Arc<PopOp>,
    wait: Option<(ShardId, &WaitFor)>,
) -> Result<Attempt, CmdError> {
    let mut cx = ShardCx::new(shard, db, unix_ms());
    for &i in mine {
        match probe(&mut cx, &all[i], op.kind()) {
            KeyState::Missing => {}
            KeyState::WrongType => return Err(CmdError::WrongType),
            KeyState::List if matches!(op.how, How::Wake) => return Ok(Attempt::Retry),
            KeyState::List => {
                let mut out = Out::new(op.proto);
                op.apply(&mut cx, &all[i], &mut out)?;
                return Ok(Attempt::Reply(out.take()));
            }
        }
    }
    let Some((core, w)) = wait else {
        return Ok(Attempt::Nothing);
    };
    register(shard, db, all, mine, op, core, w);
    Ok(Attempt::Registered(Vec::new()))
}

fn register(shard: &mut Shard, db: usize, all: &[Arg], mine: &[usize], op: &Arc<PopOp>, core: ShardId, w: &WaitFor) {
    for &i in mine {
        let waiter = Waiter {
            core,
            ticket: w.ticket,
            claim: w.claim.clone(),
            op: op.clone() as Arc<dyn BlockedOp>,
        };
        shard.blocking.register(db, &all[i], waiter);
    }
}

/// Tries `op` on `keys` in order; when nothing is there and `wait` is given, registers the
/// client on every key's shard.
pub(super) async fn attempt(
    cx: &mut ConnCx,
    keys: Arc<Vec<Arg>>,
    op: PopOp,
    wait: Option<WaitFor>,
) -> Result<Attempt, CmdError> {
    let db = cx.session.db;
    let me = cx.core.id;
    let op = Arc::new(op);
    let groups = keys_by_shard(&keys, cx.core.shards);
    let shards: Vec<ShardId> = groups.iter().map(|(s, _)| *s).collect();
    if groups.len() == 1 {
        let (s, mine) = groups.into_iter().next().unwrap_or_default();
        let r = cx
            .core
            .run_on(s, cx.lock_mode(), move |shard| {
                try_on_shard(shard, db, &keys, &mine, &op, wait.as_ref().map(|w| (me, w)))
            })
            .await?;
        return Ok(match r {
            Attempt::Registered(_) => Attempt::Registered(shards),
            other => other,
        });
    }
    let groups = Arc::new(groups);
    let mut txn = cx.txn(shards.clone(), 2);
    let (k, g, kind) = (keys.clone(), groups.clone(), op.kind());
    let states = txn
        .hop(move |shard| {
            let mut cx = ShardCx::new(shard, db, unix_ms());
            let mine = g
                .iter()
                .find(|(s, _)| *s == cx.shard.id)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            mine.into_iter()
                .map(|i| (i, probe(&mut cx, &k[i], kind)))
                .collect::<Vec<_>>()
        })
        .await;
    let mut all: Vec<(usize, KeyState)> = states.into_iter().flat_map(|(_, v)| v).collect();
    all.sort_unstable_by_key(|(i, _)| *i);
    let first = all.iter().find(|(_, st)| *st != KeyState::Missing).copied();
    let result = match first {
        Some((_, KeyState::WrongType)) => Err(CmdError::WrongType),
        Some(_) if matches!(op.how, How::Wake) => Ok(Attempt::Retry),
        Some((i, _)) => {
            let target = shard_of(&keys[i], cx.core.shards);
            let replies = txn
                .hop(move |shard| {
                    if shard.id != target {
                        return None;
                    }
                    Some(try_on_shard(shard, db, &keys, &[i], &op, None))
                })
                .await;
            match replies.into_iter().find_map(|(_, r)| r) {
                Some(r) => r,
                None => Ok(Attempt::Nothing),
            }
        }
        None => match wait {
            Some(w) => {
                txn.hop(move |shard| {
                    let mine = groups
                        .iter()
                        .find(|(s, _)| *s == shard.id)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default();
                    register(shard, db, &keys, &mine, &op, me, &w);
                })
                .await;
                Ok(Attempt::Registered(shards))
            }
            None => Ok(Attempt::Nothing),
        },
    };
    txn.finish();
    result
}

/// LMOVE src dst with the keys on two shards: probe both, take from src, put into dst, in
/// one locked transaction, logged once as `record`. `Ok(None)` when src is missing.
pub(super) async fn move_across(
    cx: &mut ConnCx,
    src: Arg,
    dst: Arg,
    from: End,
    to: End,
    record: Vec<Arg>,
) -> Result<Option<Vec<u8>>, CmdError> {
    let db = cx.session.db;
    let shards = cx.core.shards;
    let (s_src, s_dst) = (shard_of(&src, shards), shard_of(&dst, shards));
    let mut txn = cx.txn(vec![s_src, s_dst], 3);
    let (a, b) = (src.clone(), dst.clone());
    let states = txn
        .hop(move |shard| {
            let mut cx = ShardCx::new(shard, db, unix_ms());
            if cx.shard.id == s_src {
                probe(&mut cx, &a, Kind::List)
            } else {
                probe(&mut cx, &b, Kind::List)
            }
        })
        .await;
    let state = |s| states.iter().find(|(id, _)| *id == s).map(|(_, st)| *st);
    let (src_state, dst_state) = (state(s_src), state(s_dst));
    let checked = match src_state {
        Some(KeyState::Missing) | None => Ok(false),
        Some(KeyState::WrongType) => Err(CmdError::WrongType),
        Some(KeyState::List) if dst_state == Some(KeyState::WrongType) => Err(CmdError::WrongType),
        Some(KeyState::List) => Ok(true),
    };
    if !matches!(checked, Ok(true)) {
        txn.finish();
        return checked.map(|_| None);
    }
    let taken = Arc::new(std::sync::Mutex::new(None::<Vec<u8>>));
    let slot = taken.clone();
    txn.hop(move |shard| {
        if shard.id != s_src {
            return;
        }
        let mut cx = ShardCx::new(shard, db, unix_ms());
        let v = list_of(&mut cx, &src).and_then(|l| l.pop(from));
        if v.is_some() {
            told_then_drop_if_empty(&mut cx, pop_event(from), &src);
        }
        // Others may wait on what is left (woken movers retry one at a time).
        cx.shard.blocking.signal(db, &src);
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = v;
    })
    .await;
    let v = taken.lock().unwrap_or_else(|p| p.into_inner()).take();
    let Some(v) = v else {
        txn.finish();
        return Ok(None);
    };
    let elem = Arg::from(v);
    let e2 = elem.clone();
    txn.hop(move |shard| {
        if shard.id != s_dst {
            return;
        }
        let mut cx = ShardCx::new(shard, db, unix_ms());
        let _ = push_elems(&mut cx, &dst, std::slice::from_ref(&e2), to, false);
        cx.emit_argv(&record);
    })
    .await;
    txn.finish();
    Ok(Some(elem.to_vec()))
}

/// LMOVE / RPOPLPUSH, non-blocking. `record` is what gets logged (the command verbatim).
pub(super) async fn do_move(
    cx: &mut ConnCx,
    src: Arg,
    dst: Arg,
    from: End,
    to: End,
    record: Vec<Arg>,
) -> Result<Option<Vec<u8>>, CmdError> {
    let shards = cx.core.shards;
    if shard_of(&src, shards) != shard_of(&dst, shards) {
        return move_across(cx, src, dst, from, to, record).await;
    }
    let op = PopOp {
        how: How::Move { from, to, dst, record },
        proto: cx.out.proto(),
    };
    match attempt(cx, Arc::new(vec![src]), op, None).await? {
        Attempt::Reply(bytes) => Ok(Some(bytes)),
        _ => Ok(None),
    }
}

/// Writes a move's outcome: the element's reply bytes as `do_move` encoded them, a bulk for
/// a cross-shard element, or null.
fn move_reply(cx: &mut ConnCx, same_shard: bool, r: Option<Vec<u8>>) {
    match r {
        Some(b) if same_shard => cx.out.raw(&b),
        Some(v) => cx.out.bulk(&v),
        None => cx.out.null(),
    }
}

pub(super) fn same_shard(cx: &ConnCx, a: &[u8], b: &[u8]) -> bool {
    shard_of(a, cx.core.shards) == shard_of(b, cx.core.shards)
}

pub fn lmove(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let (from, to) = (parse_end(&argv[3])?, parse_end(&argv[4])?);
        let same = same_shard(cx, &argv[1], &argv[2]);
        let r = do_move(cx, argv[1].clone(), argv[2].clone(), from, to, argv.clone()).await?;
        move_reply(cx, same, r);
        Ok(())
    })
}

pub fn rpoplpush(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let same = same_shard(cx, &argv[1], &argv[2]);
        let r = do_move(
            cx,
            argv[1].clone(),
            argv[2].clone(),
            End::Right,
            End::Left,
            argv.clone(),
        )
        .await?;
        move_reply(cx, same, r);
        Ok(())
    })
}

/// Parses `numkeys key [key ...] LEFT|RIGHT [COUNT count]` starting at `argv[at]`, as
/// LMPOP and BLMPOP share it.
pub(super) fn parse_mpop(argv: &[Arg], at: usize) -> Result<(Vec<Arg>, End, usize), CmdError> {
    let numkeys = match parse_int(&argv[at]) {
        Ok(n) if n >= 1 => n as usize,
        _ => return Err(CmdError::other("ERR numkeys should be greater than 0")),
    };
    let where_at = at.saturating_add(numkeys).saturating_add(1);
    if where_at >= argv.len() {
        return Err(CmdError::Syntax);
    }
    let end = parse_end(&argv[where_at])?;
    let mut count = None;
    let mut j = where_at + 1;
    while j < argv.len() {
        if count.is_none() && is(&argv[j], "count") && j + 1 < argv.len() {
            match parse_int(&argv[j + 1]) {
                Ok(n) if n >= 1 => count = Some(n as usize),
                _ => return Err(CmdError::other("ERR count should be greater than 0")),
            }
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok((argv[at + 1..where_at].to_vec(), end, count.unwrap_or(1)))
}

pub fn lmpop(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let (keys, end, count) = parse_mpop(&argv, 1)?;
        let op = PopOp {
            how: How::Many(end, count),
            proto: cx.out.proto(),
        };
        match attempt(cx, Arc::new(keys), op, None).await? {
            Attempt::Reply(b) => cx.out.raw(&b),
            _ => cx.out.null_array(),
        }
        Ok(())
    })
}
