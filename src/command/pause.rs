//! CLIENT PAUSE / CLIENT UNPAUSE (Redis 7.0): clients' commands are delayed, not refused,
//! until the pause ends.
//!
//! The pause is cold state shared by every core: its end (unix ms, 0 = none) and its mode
//! live in process-wide atomics, so a core checks it with one relaxed load per command. In
//! `WRITE` mode only commands that may change data or reach replicas wait (write commands,
//! PUBLISH, and EXEC of a transaction holding a write); in `ALL` mode every command waits,
//! CLIENT UNPAUSE included, as in Redis. The master's link on a replica never waits.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::args::parse_int;
use super::*;
use crate::resp::Arg;
use crate::shard::unix_ms;

/// When the pause ends (unix ms); 0 when there is none.
static END_MS: AtomicU64 = AtomicU64::new(0);
/// True for `ALL`, false for `WRITE`.
static ALL: AtomicBool = AtomicBool::new(false);
/// Clients waiting for the pause to end (INFO `blocked_clients`).
static WAITING: AtomicU64 = AtomicU64::new(0);

/// Clients currently delayed by a pause.
pub fn waiting_clients() -> u64 {
    WAITING.load(Ordering::Relaxed)
}

/// Whether `spec` (with this session's transaction) must wait for a pause right now.
pub fn must_wait(spec: &CommandSpec, session: &Session) -> bool {
    let end = END_MS.load(Ordering::Relaxed);
    if end == 0 || session.master_link || unix_ms() >= end {
        return false;
    }
    ALL.load(Ordering::Relaxed) || may_replicate(spec, session)
}

/// Commands that may change data or reach replicas (Redis's write + may-replicate flags).
fn may_replicate(spec: &CommandSpec, session: &Session) -> bool {
    match spec.name {
        "publish" | "spublish" | "pfcount" => true,
        "exec" => session.multi.as_ref().is_some_and(|m| {
            m.queued
                .iter()
                .any(|q| q.first().and_then(|n| lookup(n)).is_some_and(|s| s.is_write()))
        }),
        _ => spec.is_write(),
    }
}

/// Sleeps until no pause applies to `spec` any more (the pause may be lifted or extended
/// meanwhile: re-checked every few milliseconds).
pub async fn wait_out(spec: &CommandSpec, session: &Session) {
    let _waiting = Waiting::new(session.id, spec.name);
    while must_wait(spec, session) {
        let left = END_MS.load(Ordering::Relaxed).saturating_sub(unix_ms());
        crate::runtime::sleep(Duration::from_millis(left.clamp(1, 10))).await;
    }
}

/// Counts a waiting client (and flags it in CLIENT LIST) until dropped, even if the wait is
/// abandoned.
struct Waiting(u64);

impl Waiting {
    fn new(id: u64, cmd: &str) -> Waiting {
        WAITING.fetch_add(1, Ordering::Relaxed);
        crate::net::clients::with_local(|c| c.set_paused(id, cmd, true));
        Waiting(id)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        crate::net::clients::with_local(|c| c.set_paused(self.0, "", false));
        WAITING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// CLIENT PAUSE timeout [WRITE|ALL]. A second pause keeps the later end and the stricter mode.
pub fn client_pause(argv: &[Arg]) -> Result<(), CmdError> {
    let ms = parse_int(&argv[2]).map_err(|_| CmdError::other("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(CmdError::other("ERR timeout is negative"));
    }
    let all = match argv.get(3) {
        None => true,
        Some(m) if m.eq_ignore_ascii_case(b"all") => true,
        Some(m) if m.eq_ignore_ascii_case(b"write") => false,
        Some(_) => return Err(CmdError::other("ERR CLIENT PAUSE mode must be WRITE or ALL")),
    };
    let end = unix_ms().saturating_add(ms as u64);
    let now = unix_ms();
    let current = END_MS.load(Ordering::Relaxed);
    let active = current > now;
    ALL.store(all || (active && ALL.load(Ordering::Relaxed)), Ordering::Relaxed);
    END_MS.store(if active { end.max(current) } else { end }, Ordering::Relaxed);
    Ok(())
}

/// CLIENT UNPAUSE: lifts any pause at once.
pub fn client_unpause() {
    END_MS.store(0, Ordering::Relaxed);
    ALL.store(false, Ordering::Relaxed);
}
