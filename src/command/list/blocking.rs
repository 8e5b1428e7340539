//! BLPOP, BRPOP, BRPOPLPUSH, BLMOVE and BLMPOP.
//!
//! A blocking command first runs as its non-blocking form (`multi::attempt`, which also
//! registers the client on every key's shard when nothing is there, under the same locks).
//! The connection then waits for its ticket, raced against the timeout; while it waits it
//! handles nothing else, as in Redis. Whoever flips the shared claim flag first wins: a shard
//! serving the client (which pops, logs the non-blocking form and delivers the reply), or
//! the timeout (which unregisters and answers null). A loser of the claim on timeout waits
//! for the result already on its way. If the connection's future is dropped while waiting,
//! the guard claims first, so an element is never popped for a client that is gone.
//!
//! BLMOVE/BRPOPLPUSH whose destination lives on another shard are woken instead of served
//! and retry the cross-shard move themselves (re-registering at the back if it was taken).
//!
//! Inside MULTI/EXEC (`ConnCx::scope` set) nothing blocks: the command answers as its
//! non-blocking form would, with a null (array) when there is nothing, as Redis 7.0 does.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::multi::{Attempt, WaitFor, attempt, move_across, parse_mpop, same_shard};
use super::ops::{How, PopOp};
use super::parse_end;
use crate::command::{CmdError, CmdFuture, ConnCx};
use crate::net::clients::ClientHandle;
use crate::resp::Arg;
use crate::runtime;
use crate::shard::ShardId;
use crate::store::list::End;
use crate::txn::CoreCx;
use crate::util::num::parse_f64;

/// What a client unblocked by `CLIENT UNBLOCK id ERROR` gets.
pub(crate) const UNBLOCKED: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";

/// Parses a timeout in seconds as Redis 7.0 does; `None` = wait forever (0).
///
/// 7.0 reads a long double, multiplies by 1000, rounds up to whole milliseconds and casts
/// to a 64-bit integer: so -0.0001 is 0 (forever), 1e-400 is 1 ms, and a value too large
/// for the cast (1e300, inf) comes out negative on x86, hence "timeout is negative".
pub(crate) fn parse_timeout(arg: &[u8]) -> Result<Option<Duration>, CmdError> {
    let not_float = || CmdError::other("ERR timeout is not a float or out of range");
    let secs = match parse_f64(arg) {
        Some(v) => v,
        // Underflow to zero is fine for a long double: only a positive tiny value is left.
        None => match std::str::from_utf8(arg).ok().and_then(|s| s.parse::<f64>().ok()) {
            Some(v) if v == 0.0 && !arg.starts_with(b"-") && arg.iter().any(|b| (b'1'..=b'9').contains(b)) => {
                f64::MIN_POSITIVE
            }
            _ => return Err(not_float()),
        },
    };
    if secs.is_nan() || arg.first().is_some_and(u8::is_ascii_whitespace) {
        return Err(not_float());
    }
    let ms = (secs * 1000.0).ceil();
    if ms < 0.0 || ms >= i64::MAX as f64 {
        return Err(CmdError::other("ERR timeout is negative"));
    }
    let ms = ms as u64;
    Ok((ms > 0).then(|| Duration::from_millis(ms)))
}

/// A client registered as blocked; dropping it (timeout handled, or the connection gone)
/// claims the client and unregisters it everywhere.
struct Registration {
    core: Rc<CoreCx>,
    db: usize,
    keys: Arc<Vec<Arg>>,
    shards: Vec<ShardId>,
    wait: WaitFor,
}

impl Registration {
    fn unregister(&self) {
        for &s in &self.shards {
            let (db, keys, core, ticket) = (self.db, self.keys.clone(), self.core.id, self.wait.ticket);
            self.core
                .post(s, move |shard| shard.blocking.unregister(db, &keys, core, ticket));
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = self
            .wait
            .claim
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire);
        self.unregister();
        self.core.forget_ticket(self.wait.ticket);
    }
}

/// What the blocked client gets: the served reply, a wake-up (retry), a timeout, or CLIENT
/// UNBLOCK ... ERROR.
enum Woken {
    Reply(Vec<u8>),
    Retry,
    TimedOut,
    Unblocked,
}

/// Why a wait ended before a shard served it.
enum Stop {
    Served(crate::txn::cores::AnyBox),
    TimedOut,
    /// CLIENT UNBLOCK; `true` asks for the UNBLOCKED error.
    Unblocked(bool),
}

async fn wait_served(reg: &Registration, deadline: Option<Instant>, me: Option<Rc<ClientHandle>>) -> Woken {
    let core = reg.core.clone();
    let ticket = reg.wait.ticket;
    let served = async { Stop::Served(core.wait_ticket(ticket).await) };
    let timeout = async {
        match deadline {
            Some(d) => {
                runtime::sleep(d.saturating_duration_since(Instant::now())).await;
                Stop::TimedOut
            }
            None => futures_lite::future::pending().await,
        }
    };
    let unblock = async {
        match &me {
            Some(h) => Stop::Unblocked(h.unblocked().await),
            None => futures_lite::future::pending().await,
        }
    };
    let stop = futures_lite::future::or(served, futures_lite::future::or(timeout, unblock)).await;
    let result = match stop {
        Stop::Served(r) => r,
        other => {
            if reg
                .wait
                .claim
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return match other {
                    Stop::Unblocked(true) => Woken::Unblocked,
                    _ => Woken::TimedOut,
                };
            }
            // A shard won the claim: its result is on the way.
            core.wait_ticket(ticket).await
        }
    };
    match result.downcast::<Option<Vec<u8>>>() {
        Ok(r) => match *r {
            Some(bytes) => Woken::Reply(bytes),
            None => Woken::Retry,
        },
        Err(_) => Woken::Retry,
    }
}

/// The shape of a blocking command.
enum Kind {
    Pop(Vec<Arg>, How),
    Move {
        src: Arg,
        dst: Arg,
        from: End,
        to: End,
        record: Vec<Arg>,
    },
}

/// Runs a blocking command: try, register, wait, retry after wake-ups, until served or timed
/// out. `timeout_null_bulk` is for BLMOVE/BRPOPLPUSH inside MULTI (a null bulk there).
async fn run_blocking(cx: &mut ConnCx, kind: Kind, timeout: Option<Duration>) -> Result<(), CmdError> {
    // A deadline past what the clock can hold is as good as forever.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let can_block = cx.scope.is_none();
    loop {
        let wait = can_block.then(|| WaitFor {
            ticket: cx.core.new_ticket(),
            claim: Arc::new(AtomicBool::new(false)),
        });
        let proto = cx.out.proto();
        let (keys, outcome) = match &kind {
            Kind::Pop(keys, how) => {
                let keys = Arc::new(keys.clone());
                let op = PopOp {
                    how: how.clone(),
                    proto,
                };
                (keys.clone(), attempt(cx, keys, op, wait.clone()).await)
            }
            Kind::Move {
                src,
                dst,
                from,
                to,
                record,
            } if same_shard(cx, src, dst) => {
                let how = How::Move {
                    from: *from,
                    to: *to,
                    dst: dst.clone(),
                    record: record.clone(),
                };
                let keys = Arc::new(vec![src.clone()]);
                (
                    keys.clone(),
                    attempt(cx, keys, PopOp { how, proto }, wait.clone()).await,
                )
            }
            Kind::Move {
                src,
                dst,
                from,
                to,
                record,
            } => {
                let keys = Arc::new(vec![src.clone()]);
                match move_across(cx, src.clone(), dst.clone(), *from, *to, record.clone()).await {
                    Ok(Some(v)) => {
                        let mut out = crate::resp::Out::new(proto);
                        out.bulk(&v);
                        (keys, Ok(Attempt::Reply(out.take())))
                    }
                    Ok(None) => {
                        let op = PopOp { how: How::Wake, proto };
                        (keys.clone(), attempt(cx, keys, op, wait.clone()).await)
                    }
                    Err(e) => (keys, Err(e)),
                }
            }
        };
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                if let Some(w) = &wait {
                    cx.core.forget_ticket(w.ticket);
                }
                return Err(e);
            }
        };
        let shards = match outcome {
            Attempt::Registered(shards) => shards,
            other => {
                if let Some(w) = &wait {
                    cx.core.forget_ticket(w.ticket);
                }
                match other {
                    Attempt::Reply(b) => cx.out.raw(&b),
                    Attempt::Retry => continue,
                    _ if matches!(kind, Kind::Move { .. }) => cx.out.null(),
                    _ => cx.out.null_array(),
                }
                return Ok(());
            }
        };
        let Some(wait) = wait else {
            cx.out.null_array();
            return Ok(());
        };
        let reg = Registration {
            core: cx.core.clone(),
            db: cx.session.db,
            keys,
            shards,
            wait,
        };
        let me = crate::net::clients::with_local(|c| c.get(cx.session.id));
        match wait_served(&reg, deadline, me).await {
            Woken::Reply(b) => {
                cx.out.raw(&b);
                return Ok(());
            }
            Woken::TimedOut => {
                cx.out.null_array();
                return Ok(());
            }
            Woken::Unblocked => return Err(CmdError::other(UNBLOCKED)),
            Woken::Retry => {
                drop(reg);
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    cx.out.null_array();
                    return Ok(());
                }
            }
        }
    }
}

/// Pops as `how` says from the first of `keys` that has data, blocking up to `timeout` (None:
/// forever) until one has: the sorted-set blocking pops' way in.
pub(crate) async fn block_on_pop(
    cx: &mut ConnCx,
    keys: Vec<Arg>,
    how: How,
    timeout: Option<Duration>,
) -> Result<(), CmdError> {
    run_blocking(cx, Kind::Pop(keys, how), timeout).await
}

fn bpop(cx: &mut ConnCx, argv: Vec<Arg>, end: End) -> CmdFuture<'_> {
    Box::pin(async move {
        let timeout = parse_timeout(&argv[argv.len() - 1])?;
        let keys = argv[1..argv.len() - 1].to_vec();
        run_blocking(cx, Kind::Pop(keys, How::One(end)), timeout).await
    })
}

pub fn blpop(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    bpop(cx, argv, End::Left)
}

pub fn brpop(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    bpop(cx, argv, End::Right)
}

/// BRPOPLPUSH src dst timeout: logged as RPOPLPUSH when it moves something.
pub fn brpoplpush(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let timeout = parse_timeout(&argv[3])?;
        let record = vec![Arg::from_static(b"RPOPLPUSH"), argv[1].clone(), argv[2].clone()];
        let kind = Kind::Move {
            src: argv[1].clone(),
            dst: argv[2].clone(),
            from: End::Right,
            to: End::Left,
            record,
        };
        run_blocking(cx, kind, timeout).await
    })
}

/// BLMOVE src dst from to timeout: logged as LMOVE when it moves something.
pub fn blmove(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let (from, to) = (parse_end(&argv[3])?, parse_end(&argv[4])?);
        let timeout = parse_timeout(&argv[5])?;
        let mut record = argv[..5].to_vec();
        record[0] = Arg::from_static(b"LMOVE");
        let kind = Kind::Move {
            src: argv[1].clone(),
            dst: argv[2].clone(),
            from,
            to,
            record,
        };
        run_blocking(cx, kind, timeout).await
    })
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]: logged as LPOP/RPOP key n.
pub fn blmpop(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let timeout = parse_timeout(&argv[1])?;
        let (keys, end, count) = parse_mpop(&argv, 2)?;
        run_blocking(cx, Kind::Pop(keys, How::Many(end, count)), timeout).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_as_redis_does() {
        assert_eq!(parse_timeout(b"0"), Ok(None));
        assert_eq!(parse_timeout(b"0.1"), Ok(Some(Duration::from_millis(100))));
        assert_eq!(parse_timeout(b"-0.0001"), Ok(None));
        assert!(parse_timeout(b"-1").is_err());
        assert!(parse_timeout(b"abc").is_err());
        assert!(parse_timeout(b"inf").is_err());
        assert_eq!(parse_timeout(b"1e-400"), Ok(Some(Duration::from_millis(1))));
        assert_eq!(parse_timeout(b"0.0001"), Ok(Some(Duration::from_millis(1))));
    }
}
