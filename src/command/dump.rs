//! DUMP and RESTORE, as redis-server 7.0 behaves: a value travels as an RDB payload
//! (`rdb::payload`: the value's RDB encoding, the RDB version and a CRC-64), so a payload
//! dumped by either server restores on the other.
//!
//! Replication: RESTORE with a relative TTL is logged with the absolute deadline and ABSTTL
//! added, as redis-server propagates it; a RESTORE whose deadline has passed logs the DEL of
//! the key it replaced (if any) and stores nothing.

use super::args::{is, parse_int};
use super::*;
use crate::persist::convert::{from_rdb, with_value_ref};
use crate::rdb::payload::{PayloadError, dump_payload, restore_payload};
use crate::shard::ShardCx;
use crate::shard::evict::restore_mark;

const G: &str = "generic";

pub static SPECS: &[CommandSpec] = &[
    CommandSpec::new("dump", 2, READONLY, KeySpan::single(1), Run::Shard(dump)).doc(
        G,
        "2.6.0",
        "Return a serialized version of the value stored at the specified key.",
        "key",
    ),
    CommandSpec::new(
        "restore",
        -4,
        WRITE.union(DENYOOM),
        KeySpan::single(1),
        Run::Shard(restore),
    )
    .doc(
        G,
        "2.6.0",
        "Create a key using the provided serialized value, previously obtained using DUMP.",
        "key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]",
    ),
];

fn dump(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    match cx.lookup_read(key) {
        None => out.null(),
        Some(e) => out.bulk(&with_value_ref(e.value(), |v| dump_payload(v, true))),
    }
    Ok(())
}

/// RESTORE's options after the payload.
#[derive(Default)]
struct Options {
    replace: bool,
    absolute: bool,
    idle_s: Option<u64>,
    freq: Option<u32>,
}

impl Options {
    fn parse(args: &mut Args) -> Result<Options, CmdError> {
        let mut o = Options::default();
        while let Some(opt) = args.next_opt() {
            if is(opt, "replace") {
                o.replace = true;
            } else if is(opt, "absttl") {
                o.absolute = true;
            } else if is(opt, "idletime") && args.remaining() > 0 && o.freq.is_none() {
                let n = args.int()?;
                if n < 0 {
                    return Err(CmdError::other("ERR Invalid IDLETIME value, must be >= 0"));
                }
                o.idle_s = Some(n as u64);
            } else if is(opt, "freq") && args.remaining() > 0 && o.idle_s.is_none() {
                let n = args.int()?;
                if !(0..=255).contains(&n) {
                    return Err(CmdError::other("ERR Invalid FREQ value, must be >= 0 and <= 255"));
                }
                o.freq = Some(n as u32);
            } else {
                return Err(CmdError::Syntax);
            }
        }
        Ok(o)
    }
}

fn restore(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let ttl_arg = args.next()?;
    let payload = args.next()?;
    let o = Options::parse(args)?;
    if !o.replace && cx.exists(key) {
        return Err(CmdError::other("BUSYKEY Target key name already exists."));
    }
    let ttl = parse_int(ttl_arg)?;
    if ttl < 0 {
        return Err(CmdError::other("ERR Invalid TTL value, must be >= 0"));
    }
    let value = restore_payload(payload).map_err(|e| match e {
        PayloadError::Footer => CmdError::other("ERR DUMP payload version or checksum are wrong"),
        PayloadError::Format(_) => CmdError::other("ERR Bad data format"),
    })?;
    let replaced = o.replace && cx.remove(key).is_some();
    let deadline = match ttl {
        0 => None,
        t if o.absolute => Some(t),
        t => Some(t.saturating_add(cx.now_ms as i64)),
    };
    if deadline.is_some_and(|at| at <= cx.now_ms as i64) {
        if replaced {
            cx.emit(&[b"DEL", key]);
            cx.notify(class::GENERIC, "del", key);
        }
        out.ok();
        return Ok(());
    }
    let limits = cx.shard.limits;
    let now = cx.now_ms;
    let entry = cx.put(key, from_rdb(value, &limits), false);
    restore_mark(entry, now, o.idle_s, o.freq);
    match deadline {
        Some(at) => {
            cx.set_expire(key, at as u64);
            let mut record: Vec<&[u8]> = args.all().iter().map(|a| &a[..]).collect();
            let at = itoa::Buffer::new().format(at).to_owned();
            record[2] = at.as_bytes();
            if !o.absolute {
                record.push(b"ABSTTL");
            }
            cx.emit(&record);
        }
        None => cx.emit_argv(args.all()),
    }
    // A restored list or sorted set may serve a client blocked on its key.
    cx.shard.blocking.signal(cx.db, key);
    cx.notify(class::GENERIC, "restore", key);
    out.ok();
    Ok(())
}
