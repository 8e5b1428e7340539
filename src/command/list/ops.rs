//! Shard-side pieces shared by the multi-key and blocking list commands: probing a key, and
//! `PopOp`, the one description of "pop from this key and reply", used both when a command
//! finds data at once and when a shard serves a blocked client (`shard::blocking`).

use super::{list_write, push_elems};
use crate::command::CmdError;
use crate::resp::Arg;
use crate::resp::{Out, Proto};
use crate::shard::ShardCx;
use crate::shard::blocking::{BlockedOp, Delivery};
use crate::store::list::{End, List};
use crate::store::{Kind, ValueRef};

/// What a key holds, for commands that try several keys in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    Missing,
    List,
    WrongType,
}

pub fn probe(cx: &mut ShardCx, key: &[u8]) -> KeyState {
    match cx.lookup_typed(key, Kind::List) {
        Ok(Some(_)) => KeyState::List,
        Ok(None) => KeyState::Missing,
        Err(_) => KeyState::WrongType,
    }
}

/// The list under `key`, if `key` holds one.
pub fn list_of<'a>(cx: &'a mut ShardCx, key: &[u8]) -> Option<&'a mut List> {
    list_write(cx, key).ok().flatten()
}

/// Deletes `key` when its list has no elements left (Redis never keeps an empty list).
pub fn drop_if_empty(cx: &mut ShardCx, key: &[u8]) {
    if list_of(cx, key).is_some_and(|l| l.is_empty()) {
        cx.remove(key);
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
    drop_if_empty(cx, key);
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

impl PopOp {
    /// Serves from `key`, which holds a non-empty list, writing the reply to `out`.
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
            How::Wake => {}
        }
        Ok(())
    }
}

/// LMOVE with both keys on this shard; `src` holds a non-empty list. Checks the destination's
/// type before taking anything, as Redis does.
pub fn move_here(cx: &mut ShardCx, src: &[u8], dst: &[u8], from: End, to: End) -> Result<Vec<u8>, CmdError> {
    if probe(cx, dst) == KeyState::WrongType {
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
    } else {
        drop_if_empty(cx, src);
        push_elems(cx, dst, &[Arg::copy_from_slice(&v)], to, false)?;
    }
    Ok(v)
}

impl BlockedOp for PopOp {
    fn ready(&self, cx: &mut ShardCx, key: &[u8]) -> bool {
        matches!(cx.lookup_typed(key, Kind::List), Ok(Some(e)) if matches!(e.value(), ValueRef::List(l) if !l.is_empty()))
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
