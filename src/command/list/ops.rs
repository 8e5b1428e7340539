//! Shard-side pieces shared by the multi-key and blocking pops: probing a key, and `PopOp`,
//! the one description of "pop from this key and reply", used both when a command finds data
//! at once and when a shard serves a blocked client (`shard::blocking`). The sorted-set
//! blocking pops (BZPOPMIN & co.) wait through the same machinery with their own `How`.

use super::{list_write, push_elems};
use crate::command::CmdError;
use crate::command::zset::pop::{PopLog, PopReply, PopSide, pop_and_reply};
use crate::resp::Arg;
use crate::resp::{Out, Proto};
use crate::shard::ShardCx;
use crate::shard::blocking::{BlockedOp, Delivery};
use crate::shard::notify::class;
use crate::store::list::{End, List};
use crate::store::{Kind, ValueRef};

/// What a key holds, for commands that try several keys in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    Missing,
    List,
    WrongType,
}

/// What `key` holds for a pop of `kind` (lists, or sorted sets for BZPOPMIN & co.).
pub fn probe(cx: &mut ShardCx, key: &[u8], kind: Kind) -> KeyState {
    match cx.lookup_typed(key, kind) {
        Ok(Some(_)) => KeyState::List,
        Ok(None) => KeyState::Missing,
        Err(_) => KeyState::WrongType,
    }
}

/// The list under `key`, if `key` holds one.
pub fn list_of<'a>(cx: &'a mut ShardCx, key: &[u8]) -> Option<&'a mut List> {
    list_write(cx, key).ok().flatten()
}

/// Tells subscribers `event` on the list under `key`, then deletes the key when the command
/// left it empty (Redis never keeps an empty list) and tells "del", in redis-server's order.
pub fn told_then_drop_if_empty(cx: &mut ShardCx, event: &'static str, key: &[u8]) {
    cx.notify(class::LIST, event, key);
    if list_of(cx, key).is_some_and(|l| l.is_empty()) {
        cx.remove(key);
        cx.notify(class::GENERIC, "del", key);
    }
}

/// The element-level part of a pop: takes up to `n` elements from `end` of `key`, deleting
/// the key when emptied.
pub fn pop_n(cx: &mut ShardCx, key: &[u8], end: End, n: usize) -> Vec<Vec<u8>> {
    let Some(l) = list_of(cx, key) else {
        return Vec::new();
    };
    let n = n.min(l.len());
    let v: Vec<Vec<u8>> = (0..n).filter_map(|_| l.pop(end)).collect();
    told_then_drop_if_empty(cx, pop_event(end), key);
    v
}

/// Writes `[key, element]` (BLPOP) or `[key, [elements]]` (LMPOP).
pub fn pop_reply(out: &mut Out, key: &[u8], elems: &[Vec<u8>], nested: bool) {
    out.array(2);
    out.bulk(key);
    if nested {
        out.array(elems.len());
    }
    elems.iter().for_each(|e| out.bulk(e));
}

/// What serving a pop does.
#[derive(Clone, Debug)]
pub enum How {
    /// BLPOP/BRPOP: one element, replied `[key, element]`, logged `LPOP key`/`RPOP key`.
    One(End),
    /// LMPOP/BLMPOP: up to `n`, replied `[key, [elements]]`, logged `LPOP key n`.
    Many(End, usize),
    /// LMOVE & co. with both keys on this shard: replied with the element, logged as
    /// `record` (the non-blocking form of the command).
    Move {
        from: End,
        to: End,
        dst: Arg,
        record: Vec<Arg>,
    },
    /// A move whose destination lives on another shard: the client is woken and retries.
    Wake,
    /// BZPOPMIN / BZPOPMAX (`count` None: replied `[key, member, score]`, logged
    /// `ZPOPMIN key`) and BZMPOP (`Some(n)`: replied `[key, [[member, score], ...]]`, logged
    /// `ZPOPMIN key n`), from a sorted set.
    ZPop { side: PopSide, count: Option<usize> },
}

pub struct PopOp {
    pub how: How,
    pub proto: Proto,
}

fn pop_name(end: End) -> &'static [u8] {
    match end {
        End::Left => b"LPOP",
        End::Right => b"RPOP",
    }
}

/// The keyspace event of a pop from `end`.
pub fn pop_event(end: End) -> &'static str {
    match end {
        End::Left => "lpop",
        End::Right => "rpop",
    }
}

impl PopOp {
    /// The type of value this pop takes from.
    pub fn kind(&self) -> Kind {
        match self.how {
            How::ZPop { .. } => Kind::ZSet,
            _ => Kind::List,
        }
    }

    /// Serves from `key`, which holds a non-empty value of `self.kind()`, writing the reply.
    pub fn apply(&self, cx: &mut ShardCx, key: &[u8], out: &mut Out) -> Result<(), CmdError> {
        match &self.how {
            How::One(end) => {
                let v = pop_n(cx, key, *end, 1);
                cx.emit(&[pop_name(*end), key]);
                pop_reply(out, key, &v, false);
            }
            How::Many(end, n) => {
                let v = pop_n(cx, key, *end, *n);
                let count = itoa::Buffer::new().format(v.len()).to_owned();
                cx.emit(&[pop_name(*end), key, count.as_bytes()]);
                pop_reply(out, key, &v, true);
            }
            How::Move { from, to, dst, record } => {
                let v = move_here(cx, key, dst, *from, *to)?;
                cx.emit_argv(record);
                out.bulk(&v);
            }
            How::ZPop { side, count } => {
                match count {
                    None => pop_and_reply(cx, key, *side, 1, PopReply::KeyMemberScore, PopLog::Bare, out)?,
                    Some(n) => pop_and_reply(cx, key, *side, *n, PopReply::KeyPairs, PopLog::Counted, out)?,
                };
            }
            How::Wake => {}
        }
        Ok(())
    }
}

/// LMOVE with both keys on this shard; `src` holds a non-empty list. Checks the destination's
/// type before taking anything, as Redis does.
pub fn move_here(cx: &mut ShardCx, src: &[u8], dst: &[u8], from: End, to: End) -> Result<Vec<u8>, CmdError> {
    if probe(cx, dst, Kind::List) == KeyState::WrongType {
        return Err(CmdError::WrongType);
    }
    let fill = cx.shard.limits.list_max_listpack_size;
    let Some(l) = list_of(cx, src) else {
        return Err(CmdError::WrongType);
    };
    let v = l.pop(from).unwrap_or_default();
    if src == dst {
        // Rotation: push back before the (momentarily empty) list could be deleted.
        l.push(to, &v, fill);
        cx.shard.blocking.signal(cx.db, dst);
        cx.notify(class::LIST, super::push_event(to), dst);
    } else {
        // redis-server pushes (and tells it) before it tells the pop.
        push_elems(cx, dst, &[Arg::copy_from_slice(&v)], to, false)?;
    }
    told_then_drop_if_empty(cx, pop_event(from), src);
    Ok(v)
}

impl BlockedOp for PopOp {
    fn ready(&self, cx: &mut ShardCx, key: &[u8]) -> bool {
        match cx.lookup_typed(key, self.kind()) {
            Ok(Some(e)) => match e.value() {
                ValueRef::List(l) => !l.is_empty(),
                ValueRef::ZSet(z) => !z.is_empty(),
                _ => false,
            },
            _ => false,
        }
    }

    fn serve(&self, cx: &mut ShardCx, key: &[u8]) -> Delivery {
        if matches!(self.how, How::Wake) {
            return Delivery::Wake;
        }
        let mut out = Out::new(self.proto);
        if let Err(e) = self.apply(cx, key, &mut out) {
            out.truncate(0);
            out.error(&e.message());
        }
        Delivery::Reply(out.take())
    }
}
