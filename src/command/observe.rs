//! What happens after each command, on the core of the client that sent it: INFO
//! commandstats/errorstats, the slow log, the latency monitor and MONITOR's feed.
//!
//! Dispatch calls `finished` once per executed command (in request order, with the exact
//! reply bytes and the time the command took where it ran) and `rejected` for a command
//! refused before it ran. Everything here is per core; the cross-core parts are cold (a slow
//! log id, monitors' lines sent once per batch).

use super::{CommandSpec, ConnCx, Session, cmdstats, latency, monitor, slowlog};
use crate::resp::Arg;
use crate::server::stats::CoreCounters;
use crate::txn::CoreCx;

/// Records one executed command. `idx` is its index in the command table. Like Redis, only
/// commands that ran count in `total_commands_processed`: not a refused one, not one queued
/// by MULTI (it counts when EXEC runs it).
pub fn finished(
    core: &CoreCx,
    session: &mut Session,
    idx: usize,
    spec: &'static CommandSpec,
    argv: &[Arg],
    usec: u64,
    reply: &[u8],
) {
    let st = &core.server;
    CoreCounters::add(&core.counters().commands_processed, 1);
    cmdstats::record_call(idx, argv, usec, reply);
    slowlog::maybe_log(st, spec, argv, usec, session);
    latency::maybe_sample(st, spec, usec);
    if let Some(feed) = session.monitor_feed.as_mut()
        && monitor::shows(spec, argv)
    {
        monitor::format_line(feed, session.db, &session.peer, argv);
    }
}

/// Records a command refused before it ran, with its error reply.
pub fn rejected(idx: Option<usize>, reply: &[u8]) {
    cmdstats::record_reject(idx, reply);
}

/// At the start of a batch: collect MONITOR lines only while someone monitors.
pub fn batch_start(cx: &mut ConnCx) {
    if monitor::active() && cx.session.monitor_feed.is_none() {
        cx.session.monitor_feed = Some(Vec::new());
    }
}

/// At the end of a batch: send its MONITOR lines to every core.
pub fn batch_end(cx: &mut ConnCx) {
    if let Some(feed) = cx.session.monitor_feed.take()
        && !feed.is_empty()
    {
        monitor::broadcast(&cx.core, feed);
    }
}

/// Microseconds since `t` (the commands' durations).
pub fn usec_since(t: quanta::Instant) -> u64 {
    t.elapsed().as_micros() as u64
}
