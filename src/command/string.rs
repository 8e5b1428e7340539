//! The string family, as redis-server 7.0 behaves.
//!
//! Replication rewrites (R5): SET/SETEX/PSETEX with a relative or second-based expiry are
//! logged as `SET k v PXAT <ms>`; SET's GET flag is dropped; GETSET is logged as SET; GETDEL as
//! DEL; GETEX as PEXPIREAT / PERSIST / DEL; INCRBYFLOAT as `SET k v KEEPTTL`.

use std::borrow::Cow;
use std::sync::Arc;

use super::args::parse_int;
use super::expiry::{ExpireArg, OptionsFor, parse_set_options};
use super::*;
use crate::resp::Arg;
use crate::shard::{Shard, ShardCx, shard_of, unix_ms};
use crate::store::{Kind, Value, ValueRef};
use crate::util::num::incr_by_float;

/// Largest string a command may build (`proto-max-bulk-len`, as Redis checks it).
pub const MAX_STRING: usize = 512 * 1024 * 1024;

const S: &str = "string";

pub const SPECS: &[CommandSpec] = &[
    CommandSpec::new("get", 2, READONLY.union(FAST), KeySpan::single(1), Run::Shard(get))
        .doc(S, "1.0.0", "Returns the string value of a key.", "key"),
    CommandSpec::new("set", -3, WRITE.union(DENYOOM), KeySpan::single(1), Run::Shard(set)).doc(
        S,
        "1.0.0",
        "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]",
    ),
    CommandSpec::new("setnx", 3, WRITE.union(DENYOOM).union(FAST), KeySpan::single(1), Run::Shard(setnx))
        .doc(S, "1.0.0", "Set the string value of a key only when the key doesn't exist.", "key value"),
    CommandSpec::new("setex", 4, WRITE.union(DENYOOM), KeySpan::single(1), Run::Shard(setex))
        .doc(S, "2.0.0", "Sets the string value and expiration time of a key.", "key seconds value"),
    CommandSpec::new("psetex", 4, WRITE.union(DENYOOM), KeySpan::single(1), Run::Shard(psetex))
        .doc(S, "2.6.0", "Sets both string value and expiration time in milliseconds of a key.", "key milliseconds value"),
    CommandSpec::new("getset", 3, WRITE.union(DENYOOM).union(FAST), KeySpan::single(1), Run::Shard(getset))
        .doc(S, "1.0.0", "Returns the previous string value of a key after setting it to a new value.", "key value"),
    CommandSpec::new("getdel", 2, WRITE.union(FAST), KeySpan::single(1), Run::Shard(getdel))
        .doc(S, "6.2.0", "Returns the string value of a key after deleting the key.", "key"),
    CommandSpec::new("getex", -2, WRITE.union(FAST), KeySpan::single(1), Run::Shard(getex)).doc(
        S,
        "6.2.0",
        "Returns the string value of a key after setting its expiration time.",
        "key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|PERSIST]",
    ),
    CommandSpec::new("mget", -2, READONLY.union(FAST), KeySpan::range(1, -1, 1), Run::Split(mget, Merge::KeyOrderArray))
        .doc(S, "1.0.0", "Atomically returns the string values of one or more keys.", "key [key ...]"),
    CommandSpec::new("mset", -3, WRITE.union(DENYOOM), KeySpan::range(1, -1, 2), Run::Split(mset, Merge::AllOk))
        .doc(S, "1.0.1", "Atomically creates or modifies the string values of one or more keys.", "key value [key value ...]"),
    CommandSpec::new("msetnx", -3, WRITE.union(DENYOOM), KeySpan::range(1, -1, 2), Run::Conn(msetnx)).doc(
        S,
        "1.0.1",
        "Set multiple keys to multiple values, only if none of the keys exist",
        "key value [key value ...]",
    ),
    CommandSpec::new("incr", 2, WRITE.union(DENYOOM).union(FAST), KeySpan::single(1), Run::Shard(incr))
        .doc(S, "1.0.0", "Increments the integer value of a key by one.", "key"),
    CommandSpec::new("decr", 2, WRITE.union(DENYOOM).union(FAST), KeySpan::single(1), Run::Shard(decr))
        .doc(S, "1.0.0", "Decrements the integer value of a key by one.", "key"),
    CommandSpec::new("incrby", 3, WRITE.union(DENYOOM).union(FAST), KeySpan::single(1), Run::Shard(incrby))
        .doc(S, "1.0.0", "Increments the integer value of a key by a number.", "key increment"),
    CommandSpec::new("decrby", 3, WRITE.union(DENYOOM).union(FAST), KeySpan::single(1), Run::Shard(decrby))
        .doc(S, "1.0.0", "Decrements a number from the integer value of a key.", "key decrement"),
    CommandSpec::new("incrbyfloat", 3, WRITE.union(DENYOOM).union(FAST), KeySpan::single(1), Run::Shard(incrbyfloat))
        .doc(S, "2.6.0", "Increment the floating point value of a key by a number.", "key increment"),
    CommandSpec::new("append", 3, WRITE.union(DENYOOM).union(FAST), KeySpan::single(1), Run::Shard(append))
        .doc(S, "2.0.0", "Appends a string to the value of a key.", "key value"),
    CommandSpec::new("strlen", 2, READONLY.union(FAST), KeySpan::single(1), Run::Shard(strlen))
        .doc(S, "2.2.0", "Returns the length of a string value.", "key"),
    CommandSpec::new("getrange", 4, READONLY, KeySpan::single(1), Run::Shard(getrange))
        .doc(S, "2.4.0", "Returns a substring of the string stored at a key.", "key start end"),
    CommandSpec::new("substr", 4, READONLY, KeySpan::single(1), Run::Shard(getrange))
        .doc(S, "1.0.0", "Returns a substring from a string value.", "key start end"),
    CommandSpec::new("setrange", 4, WRITE.union(DENYOOM), KeySpan::single(1), Run::Shard(setrange))
        .doc(S, "2.2.0", "Overwrites a part of a string value with another by an offset.", "key offset value"),
];

/// The string under `key`: `None` when missing, WRONGTYPE when it holds another type.
pub(super) fn read_string<'a>(cx: &'a mut ShardCx, key: &[u8]) -> Result<Option<Cow<'a, [u8]>>, CmdError> {
    match cx.lookup_read(key) {
        None => Ok(None),
        Some(e) if e.kind() != Kind::String => Err(CmdError::WrongType),
        Some(e) => Ok(e.value().string_bytes()),
    }
}

/// A copy of the string under `key` for a command about to overwrite it: looked up as a
/// write, so a missing key is no keyspace miss.
fn string_for_write(cx: &mut ShardCx, key: &[u8]) -> Result<Option<Vec<u8>>, CmdError> {
    match cx.lookup(key) {
        None => Ok(None),
        Some(e) if e.kind() != Kind::String => Err(CmdError::WrongType),
        Some(e) => Ok(e.value().string_bytes().map(Cow::into_owned)),
    }
}

/// Replies with an optional string value as a bulk or null.
fn reply_opt(out: &mut Out, v: Option<Cow<'_, [u8]>>) {
    match v {
        Some(b) => out.bulk(&b),
        None => out.null(),
    }
}

fn get(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    match cx.lookup_read(key) {
        None => out.null(),
        Some(e) => match e.value() {
            ValueRef::Int(n) => out.bulk_int(n),
            ValueRef::Str(s) => out.bulk(s),
            #[allow(unreachable_patterns)]
            _ => return Err(CmdError::WrongType),
        },
    }
    Ok(())
}

/// Emits `argv` unchanged (for writes that replicate as the client sent them).
fn emit_verbatim(cx: &mut ShardCx, args: &Args) {
    cx.emit_argv(args.all());
}

/// Stores `value` with an optional absolute deadline and logs it as Redis 7.0 propagates SET,
/// telling subscribers "set" (and "expire" with a deadline).
fn store_and_log(cx: &mut ShardCx, key: &[u8], value: &[u8], deadline: Option<i64>, keep_ttl: bool) {
    cx.put_string(key, value, keep_ttl);
    cx.notify(class::STRING, "set", key);
    if deadline.is_some() {
        cx.notify(class::GENERIC, "expire", key);
    }
    match deadline {
        Some(at) => {
            cx.set_expire(key, at.max(1) as u64);
            let at = itoa::Buffer::new().format(at).to_owned();
            cx.emit(&[b"SET", key, value, b"PXAT", at.as_bytes()]);
        }
        None if keep_ttl => cx.emit(&[b"SET", key, value, b"KEEPTTL"]),
        None => cx.emit(&[b"SET", key, value]),
    }
}

fn set(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let value = args.next()?;
    let o = parse_set_options(args, OptionsFor::Set)?;
    let deadline = o.expire()?.map(|e| e.deadline(cx.now_ms, "set", true)).transpose()?;
    let old = if o.get {
        read_string(cx, key)?.map(Cow::into_owned)
    } else {
        None
    };
    // Only NX and XX need to know whether the key is there; a plain SET looks it up once.
    let blocked = (o.nx || o.xx) && {
        let exists = if o.get { old.is_some() } else { cx.exists(key) };
        (o.nx && exists) || (o.xx && !exists)
    };
    if blocked {
        match (o.get, old) {
            (true, Some(v)) => out.bulk(&v),
            _ => out.null(),
        }
        return Ok(());
    }
    let verbatim = deadline.is_none() && !o.get;
    if verbatim {
        cx.put_string(key, value, o.keep_ttl);
        cx.notify(class::STRING, "set", key);
        emit_verbatim(cx, args);
    } else if deadline.is_none() {
        // GET is dropped from the logged command; the other flags stay.
        cx.put_string(key, value, o.keep_ttl);
        cx.notify(class::STRING, "set", key);
        let argv: Vec<&[u8]> = args
            .all()
            .iter()
            .enumerate()
            .filter(|(i, a)| *i < 3 || !a.eq_ignore_ascii_case(b"get"))
            .map(|(_, a)| &a[..])
            .collect();
        cx.emit(&argv);
    } else {
        store_and_log(cx, key, value, deadline, false);
    }
    match (o.get, old) {
        (true, Some(v)) => out.bulk(&v),
        (true, None) => out.null(),
        _ => out.ok(),
    }
    Ok(())
}

fn setnx(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let value = args.next()?;
    if cx.exists(key) {
        out.int(0);
        return Ok(());
    }
    cx.put_string(key, value, false);
    cx.notify(class::STRING, "set", key);
    emit_verbatim(cx, args);
    out.int(1);
    Ok(())
}

/// SETEX and PSETEX: `key ttl value` with Redis's per-command expire error.
fn set_with_ttl(cx: &mut ShardCx, args: &mut Args, out: &mut Out, millis: bool) -> Result<(), CmdError> {
    let key = args.next()?;
    let ttl = args.int()?;
    let value = args.next()?;
    let (arg, name) = if millis {
        (ExpireArg::RelMillis(ttl), "psetex")
    } else {
        (ExpireArg::RelSeconds(ttl), "setex")
    };
    let at = arg.deadline(cx.now_ms, name, true)?;
    store_and_log(cx, key, value, Some(at), false);
    out.ok();
    Ok(())
}

fn setex(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    set_with_ttl(cx, args, out, false)
}

fn psetex(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    set_with_ttl(cx, args, out, true)
}

fn getset(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let value = args.next()?;
    let old = read_string(cx, key)?.map(Cow::into_owned);
    store_and_log(cx, key, value, None, false);
    reply_opt(out, old.map(Cow::Owned));
    Ok(())
}

fn getdel(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let old = read_string(cx, key)?.map(Cow::into_owned);
    if old.is_some() {
        cx.remove(key);
        cx.emit(&[b"DEL", key]);
        cx.notify(class::GENERIC, "del", key);
    }
    reply_opt(out, old.map(Cow::Owned));
    Ok(())
}

fn getex(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let o = parse_set_options(args, OptionsFor::GetEx)?;
    let deadline = o.expire()?.map(|e| e.deadline(cx.now_ms, "getex", true)).transpose()?;
    let Some(value) = read_string(cx, key)?.map(Cow::into_owned) else {
        out.null();
        return Ok(());
    };
    if let Some(at) = deadline {
        if at <= cx.now_ms as i64 {
            cx.remove(key);
            cx.emit(&[b"DEL", key]);
            cx.notify(class::GENERIC, "del", key);
        } else {
            cx.set_expire(key, at as u64);
            let at = itoa::Buffer::new().format(at).to_owned();
            cx.emit(&[b"PEXPIREAT", key, at.as_bytes()]);
            cx.notify(class::GENERIC, "expire", key);
        }
    } else if o.persist && cx.lookup(key).is_some_and(|e| e.expire_at() != 0) {
        cx.set_expire(key, 0);
        cx.emit(&[b"PERSIST", key]);
        cx.notify(class::GENERIC, "persist", key);
    }
    out.bulk(&value);
    Ok(())
}

fn mget(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let keys = args.rest();
    out.array(keys.len());
    for key in keys {
        match cx.lookup_read(key) {
            Some(e) if e.kind() == Kind::String => match e.value().string_bytes() {
                Some(b) => out.bulk(&b),
                None => out.null(),
            },
            _ => out.null(),
        }
    }
    Ok(())
}

fn mset(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let pairs = args.rest();
    if !pairs.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity("mset".into()));
    }
    for kv in pairs.chunks_exact(2) {
        cx.put_string(&kv[0], &kv[1], false);
        cx.notify(class::STRING, "set", &kv[0]);
    }
    emit_verbatim(cx, args);
    out.ok();
    Ok(())
}

/// MSETNX: every pair is set only when none of the keys exists, atomically whichever shards
/// hold them. One locked hop asks each shard about its keys, a second sets them; each shard
/// logs its part as MSET, and the transaction sends the parts as one MULTI/EXEC group.
fn msetnx(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        if !(argv.len() - 1).is_multiple_of(2) {
            return Err(CmdError::WrongArity("msetnx".into()));
        }
        let db = cx.session.db;
        let shards = cx.core.shards;
        let argv = Arc::new(argv);
        let involved = crate::txn::shards_of(argv[1..].iter().step_by(2), shards);
        let mut txn = cx.txn(involved, 2);
        let a = argv.clone();
        let taken = txn
            .hop(move |s: &mut Shard| {
                let mut cx = ShardCx::new(s, db, unix_ms());
                let me = cx.shard.id;
                a[1..]
                    .chunks(2)
                    .any(|kv| shard_of(&kv[0], shards) == me && cx.exists(&kv[0]))
            })
            .await;
        if taken.iter().any(|(_, t)| *t) {
            txn.finish();
            cx.out.int(0);
            return Ok(());
        }
        let a = argv.clone();
        txn.hop(move |s: &mut Shard| {
            let mut cx = ShardCx::new(s, db, unix_ms());
            let me = cx.shard.id;
            let mut record: Vec<&[u8]> = vec![b"MSET"];
            for kv in a[1..].chunks_exact(2).filter(|kv| shard_of(&kv[0], shards) == me) {
                cx.put_string(&kv[0], &kv[1], false);
                cx.notify(class::STRING, "set", &kv[0]);
                record.extend([&kv[0][..], &kv[1][..]]);
            }
            cx.emit(&record);
        })
        .await;
        txn.finish();
        cx.out.int(1);
        Ok(())
    })
}

/// Adds `delta` to the integer under `key` (0 when missing), keeping its TTL.
fn incr_generic(cx: &mut ShardCx, args: &Args, key: &[u8], delta: i64, out: &mut Out) -> Result<(), CmdError> {
    let current = match cx.lookup(key) {
        None => 0,
        Some(e) => match e.value() {
            ValueRef::Int(n) => n,
            ValueRef::Str(s) => parse_int(s)?,
            #[allow(unreachable_patterns)]
            _ => return Err(CmdError::WrongType),
        },
    };
    let new = current.checked_add(delta).ok_or(CmdError::Overflow)?;
    match cx.lookup(key) {
        Some(e) => e.set_value(Value::Int(new)),
        None => {
            cx.put(key, Value::Int(new), false);
        }
    }
    cx.notify(class::STRING, "incrby", key);
    emit_verbatim(cx, args);
    out.int(new);
    Ok(())
}

fn incr(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    incr_generic(cx, args, key, 1, out)
}

fn decr(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    incr_generic(cx, args, key, -1, out)
}

fn incrby(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let delta = args.int()?;
    incr_generic(cx, args, key, delta, out)
}

fn decrby(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let delta = args.int()?;
    if delta == i64::MIN {
        return Err(CmdError::other("ERR decrement would overflow"));
    }
    incr_generic(cx, args, key, -delta, out)
}

fn incrbyfloat(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let incr = args.next()?;
    let current = string_for_write(cx, key)?;
    let new = incr_by_float(current.as_deref().unwrap_or(b"0"), incr).map_err(|e| CmdError::other(e.message()))?;
    cx.put(key, Value::Str(new.clone()), true);
    cx.notify(class::STRING, "incrbyfloat", key);
    cx.emit(&[b"SET", key, &new, b"KEEPTTL"]);
    out.bulk(&new);
    Ok(())
}

fn append(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let tail = args.next()?;
    let len = match cx.lookup(key) {
        None => {
            cx.put(key, Value::Str(tail.to_vec()), false);
            tail.len()
        }
        Some(e) if e.kind() != Kind::String => return Err(CmdError::WrongType),
        Some(e) => {
            let current = e.value().string_bytes().map_or(0, |b| b.len());
            if current + tail.len() > MAX_STRING {
                return Err(CmdError::StringTooLong);
            }
            e.append(tail)
        }
    };
    cx.notify(class::STRING, "append", key);
    emit_verbatim(cx, args);
    out.int(len as i64);
    Ok(())
}

fn strlen(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let len = read_string(cx, key)?.map_or(0, |s| s.len());
    out.int(len as i64);
    Ok(())
}

fn getrange(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let (mut start, mut end) = (args.int()?, args.int()?);
    let Some(s) = read_string(cx, key)? else {
        out.bulk(b"");
        return Ok(());
    };
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        out.bulk(b"");
        return Ok(());
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0).min(len - 1);
    if len == 0 || start > end {
        out.bulk(b"");
    } else {
        out.bulk(&s[start as usize..=end as usize]);
    }
    Ok(())
}

fn setrange(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let offset = args.int()?;
    let patch = args.next()?;
    if offset < 0 {
        return Err(CmdError::OffsetOutOfRange);
    }
    let offset = offset as usize;
    let current = string_for_write(cx, key)?;
    let Some(mut bytes) = current.or_else(|| (!patch.is_empty()).then(Vec::new)) else {
        out.int(0);
        return Ok(());
    };
    if patch.is_empty() {
        out.int(bytes.len() as i64);
        return Ok(());
    }
    if offset + patch.len() > MAX_STRING {
        return Err(CmdError::StringTooLong);
    }
    if bytes.len() < offset + patch.len() {
        bytes.resize(offset + patch.len(), 0);
    }
    bytes[offset..offset + patch.len()].copy_from_slice(patch);
    let len = bytes.len();
    cx.put(key, Value::Str(bytes), true);
    cx.notify(class::STRING, "setrange", key);
    emit_verbatim(cx, args);
    out.int(len as i64);
    Ok(())
}
