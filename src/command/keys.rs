//! Per-key generic commands (DEL, EXISTS, TYPE, the EXPIRE/TTL family, PERSIST, OBJECT, MOVE),
//! as redis-server 7.0 behaves.
//!
//! Replication rewrites (R5): EXPIRE, PEXPIRE and EXPIREAT are logged as
//! `PEXPIREAT key <ms> [condition]`; a deadline already in the past deletes the key and logs
//! `DEL`. DEL, UNLINK, PERSIST and MOVE are logged as sent, and only when they changed
//! something.

use super::args::{is, parse_int};
use super::dispatch::lower;
use super::expiry::{ExpireArg, ExpireCondition};
use super::*;

use crate::shard::{ShardCx, key_hash, unix_ms};

const G: &str = "generic";

pub const SPECS: &[CommandSpec] = &[
    CommandSpec::new(
        "del",
        -2,
        WRITE,
        KeySpan::range(1, -1, 1),
        Run::Split(del, Merge::SumInts),
    )
    .doc(G, "1.0.0", "Deletes one or more keys.", "key [key ...]"),
    CommandSpec::new(
        "unlink",
        -2,
        WRITE.union(FAST),
        KeySpan::range(1, -1, 1),
        Run::Split(del, Merge::SumInts),
    )
    .doc(G, "4.0.0", "Asynchronously deletes one or more keys.", "key [key ...]"),
    CommandSpec::new(
        "exists",
        -2,
        READONLY.union(FAST),
        KeySpan::range(1, -1, 1),
        Run::Split(exists, Merge::SumInts),
    )
    .doc(
        G,
        "1.0.0",
        "Determines whether one or more keys exist.",
        "key [key ...]",
    ),
    CommandSpec::new(
        "touch",
        -2,
        READONLY.union(FAST),
        KeySpan::range(1, -1, 1),
        Run::Split(exists, Merge::SumInts),
    )
    .doc(
        G,
        "3.2.1",
        "Returns the number of existing keys out of those specified after updating the time they were last accessed.",
        "key [key ...]",
    ),
    CommandSpec::new("type", 2, READONLY.union(FAST), KeySpan::single(1), Run::Shard(type_of)).doc(
        G,
        "1.0.0",
        "Determines the type of value stored at a key.",
        "key",
    ),
    CommandSpec::new("expire", -3, WRITE.union(FAST), KeySpan::single(1), Run::Shard(expire)).doc(
        G,
        "1.0.0",
        "Sets the expiration time of a key in seconds.",
        "key seconds [NX|XX|GT|LT]",
    ),
    CommandSpec::new(
        "pexpire",
        -3,
        WRITE.union(FAST),
        KeySpan::single(1),
        Run::Shard(pexpire),
    )
    .doc(
        G,
        "2.6.0",
        "Sets the expiration time of a key in milliseconds.",
        "key milliseconds [NX|XX|GT|LT]",
    ),
    CommandSpec::new(
        "expireat",
        -3,
        WRITE.union(FAST),
        KeySpan::single(1),
        Run::Shard(expireat),
    )
    .doc(
        G,
        "1.2.0",
        "Sets the expiration time of a key to a Unix timestamp.",
        "key unix-time-seconds [NX|XX|GT|LT]",
    ),
    CommandSpec::new(
        "pexpireat",
        -3,
        WRITE.union(FAST),
        KeySpan::single(1),
        Run::Shard(pexpireat),
    )
    .doc(
        G,
        "2.6.0",
        "Sets the expiration time of a key to a Unix milliseconds timestamp.",
        "key unix-time-milliseconds [NX|XX|GT|LT]",
    ),
    CommandSpec::new("ttl", 2, READONLY.union(FAST), KeySpan::single(1), Run::Shard(ttl)).doc(
        G,
        "1.0.0",
        "Returns the expiration time in seconds of a key.",
        "key",
    ),
    CommandSpec::new("pttl", 2, READONLY.union(FAST), KeySpan::single(1), Run::Shard(pttl)).doc(
        G,
        "2.6.0",
        "Returns the expiration time in milliseconds of a key.",
        "key",
    ),
    CommandSpec::new(
        "expiretime",
        2,
        READONLY.union(FAST),
        KeySpan::single(1),
        Run::Shard(expiretime),
    )
    .doc(
        G,
        "7.0.0",
        "Returns the expiration time of a key as a Unix timestamp.",
        "key",
    ),
    CommandSpec::new(
        "pexpiretime",
        2,
        READONLY.union(FAST),
        KeySpan::single(1),
        Run::Shard(pexpiretime),
    )
    .doc(
        G,
        "7.0.0",
        "Returns the expiration time of a key as a Unix milliseconds timestamp.",
        "key",
    ),
    CommandSpec::new("persist", 2, WRITE.union(FAST), KeySpan::single(1), Run::Shard(persist)).doc(
        G,
        "2.2.0",
        "Removes the expiration time of a key.",
        "key",
    ),
    // Run::Conn: the key is optional (`OBJECT HELP`), so the dispatcher cannot route by it.
    CommandSpec::new("object", -2, READONLY, KeySpan::single(2), Run::Conn(object)).doc(
        G,
        "2.2.3",
        "A container for object introspection commands.",
        "subcommand [key]",
    ),
    CommandSpec::new("move", 3, WRITE.union(FAST), KeySpan::single(1), Run::Shard(move_key)).doc(
        G,
        "1.0.0",
        "Moves a key to another database.",
        "key db",
    ),
];

fn del(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let mut removed = 0;
    for k in args.rest() {
        if cx.remove(k).is_some() {
            removed += 1;
            cx.notify(class::GENERIC, "del", k);
        }
    }
    if removed > 0 {
        cx.emit_argv(args.all());
    }
    out.int(removed as i64);
    Ok(())
}

/// EXISTS and TOUCH: counts live keys (a key named twice counts twice).
fn exists(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let touch = is(&args.all()[0], "touch");
    let mut n = 0;
    for k in args.rest() {
        let found = if touch { cx.lookup_read(k) } else { cx.peek_read(k) };
        n += i64::from(found.is_some());
    }
    out.int(n);
    Ok(())
}

fn type_of(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let name = cx.kind_of(key).map_or("none", |k| k.name());
    out.simple(name.as_bytes());
    Ok(())
}

/// The EXPIRE family: `make` turns the number into an expiry, `cmd` names it in errors.
fn expire_generic(
    cx: &mut ShardCx,
    args: &mut Args,
    out: &mut Out,
    make: fn(i64) -> ExpireArg,
    cmd: &'static str,
) -> Result<(), CmdError> {
    let key = args.next()?;
    let n = args.int()?;
    let cond = ExpireCondition::parse(args)?;
    let at = make(n).deadline(cx.now_ms, cmd, false)?;
    let Some(current) = cx.lookup(key).map(|e| e.expire_at()) else {
        out.int(0);
        return Ok(());
    };
    if !cond.allows(current, at) {
        out.int(0);
        return Ok(());
    }
    if at <= cx.now_ms as i64 {
        cx.remove(key);
        cx.emit(&[b"DEL", key]);
        cx.notify(class::GENERIC, "del", key);
    } else {
        cx.set_expire(key, at as u64);
        let ms = itoa::Buffer::new().format(at).to_owned();
        let name: &[u8] = if is(&args.all()[0], "pexpireat") {
            &args.all()[0]
        } else {
            b"PEXPIREAT"
        };
        let mut argv: Vec<&[u8]> = vec![name, key, ms.as_bytes()];
        argv.extend(args.all()[3..].iter().map(|b| &b[..]));
        cx.emit(&argv);
        cx.notify(class::GENERIC, "expire", key);
    }
    out.int(1);
    Ok(())
}

fn expire(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    expire_generic(cx, args, out, ExpireArg::RelSeconds, "expire")
}

fn pexpire(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    expire_generic(cx, args, out, ExpireArg::RelMillis, "pexpire")
}

fn expireat(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    expire_generic(cx, args, out, ExpireArg::AtSeconds, "expireat")
}

fn pexpireat(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    expire_generic(cx, args, out, ExpireArg::AtMillis, "pexpireat")
}

/// What the TTL family reports, in the unit and form asked for.
#[derive(Clone, Copy)]
enum TtlForm {
    RemainingSeconds,
    RemainingMillis,
    AtSeconds,
    AtMillis,
}

fn ttl_generic(cx: &mut ShardCx, args: &mut Args, out: &mut Out, form: TtlForm) -> Result<(), CmdError> {
    let key = args.next()?;
    let now = cx.now_ms as i64;
    let reply = match cx.peek_read(key) {
        None => -2,
        Some(e) if e.expire_at() == 0 => -1,
        Some(e) => {
            let at = e.expire_at() as i64;
            let left = (at - now).max(0);
            match form {
                TtlForm::RemainingSeconds => (left + 500) / 1000,
                TtlForm::RemainingMillis => left,
                TtlForm::AtSeconds => at / 1000,
                TtlForm::AtMillis => at,
            }
        }
    };
    out.int(reply);
    Ok(())
}

fn ttl(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    ttl_generic(cx, args, out, TtlForm::RemainingSeconds)
}

fn pttl(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    ttl_generic(cx, args, out, TtlForm::RemainingMillis)
}

fn expiretime(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    ttl_generic(cx, args, out, TtlForm::AtSeconds)
}

fn pexpiretime(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    ttl_generic(cx, args, out, TtlForm::AtMillis)
}

fn persist(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let had_ttl = cx.lookup(key).is_some_and(|e| e.expire_at() != 0);
    if had_ttl {
        cx.set_expire(key, 0);
        cx.emit(&[b"PERSIST", key]);
        cx.notify(class::GENERIC, "persist", key);
    }
    out.int(had_ttl as i64);
    Ok(())
}

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

/// What OBJECT reads from the entry on the key's shard.
struct ObjectInfo {
    encoding: &'static str,
    refcount: i64,
    idle_s: i64,
    /// The LFU counter, meaningful under an LFU policy only.
    freq: u32,
}

fn object(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let sub = lower(&argv[1]);
        if sub == "help" && argv.len() == 2 {
            cx.out.array(OBJECT_HELP.len());
            for line in OBJECT_HELP {
                cx.out.simple(line.as_bytes());
            }
            return Ok(());
        }
        // Redis 7.0 checks container subcommands by name, then by their own arity.
        let arity = match sub.as_str() {
            "encoding" | "refcount" | "idletime" | "freq" => 3,
            "help" => 2,
            _ => {
                return Err(CmdError::other(format!(
                    "ERR unknown subcommand '{}'. Try OBJECT HELP.",
                    super::error::printable(&argv[1], 128)
                )));
            }
        };
        if argv.len() != arity {
            return Err(CmdError::WrongArity(format!("object|{sub}")));
        }
        let info = cx
            .inspect_key(argv[2].clone(), |e| {
                let now = unix_ms();
                let now_s = (now / 1000) as u32;
                (e.expire_at() == 0 || e.expire_at() > now).then(|| ObjectInfo {
                    encoding: e.value().encoding(),
                    // Redis shares small integers among keys and reports them as never freed.
                    refcount: match e.value() {
                        crate::store::ValueRef::Int(n) if (0..10_000).contains(&n) => i32::MAX as i64,
                        _ => 1,
                    },
                    idle_s: now_s.saturating_sub(e.touched()) as i64,
                    freq: crate::shard::evict::frequency(e, now),
                })
            })
            .await;
        let Some(info) = info else {
            cx.out.null();
            return Ok(());
        };
        match sub.as_str() {
            "encoding" => cx.out.bulk(info.encoding.as_bytes()),
            "refcount" => cx.out.int(info.refcount),
            "idletime" if crate::shard::evict::lfu_mode() => {
                return Err(CmdError::other(
                    "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
                ));
            }
            "idletime" => cx.out.int(info.idle_s),
            _ if crate::shard::evict::lfu_mode() => cx.out.int(info.freq as i64),
            _ => {
                return Err(CmdError::other(
                    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
                ));
            }
        }
        Ok(())
    })
}

fn move_key(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let target = parse_int(args.next()?)?;
    if target < 0 || target as usize >= cx.shard.dbs.len() {
        return Err(CmdError::DbIndexOutOfRange);
    }
    let target = target as usize;
    if target == cx.db {
        return Err(CmdError::SameObject);
    }
    let hash = key_hash(key);
    if !cx.exists(key) {
        out.int(0);
        return Ok(());
    }
    let now = cx.now_ms;
    let dst = &cx.shard.dbs[target];
    if dst
        .entry(hash, key)
        .is_some_and(|e| e.expire_at() == 0 || e.expire_at() > now)
    {
        out.int(0);
        return Ok(());
    }
    let Some(entry) = cx.remove(key) else {
        out.int(0);
        return Ok(());
    };
    cx.shard.dbs[target].put_entry(entry);
    cx.notify_in(target, class::NEW, "new", key);
    cx.notify(class::GENERIC, "move_from", key);
    cx.notify_in(target, class::GENERIC, "move_to", key);
    cx.emit_argv(args.all());
    out.int(1);
    Ok(())
}
