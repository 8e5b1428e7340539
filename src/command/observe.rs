//! What happens after each command, on the core of the client that sent it: INFO
//! commandstats/errorstats, the slow log, the latency monitor and MONITOR's feed.
//!
//! Dispatch calls `finished` once per executed command (in request order, with the exact
//! reply bytes and the time the command took where it ran) and `rejected` for a command
//! refused before it ran. Everything here is per core; the cross-core parts are cold (a slow
//! log id, monitors' lines sent once per batch).

use std::sync::OnceLock;
use std::time::Duration;

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
    if let Some(feed) = session.monitor_feed.as_mut() {
        if monitor::shows(spec, argv) {
            monitor::format_line(feed, session.db, &session.peer, argv);
        }
        // A script's commands come after the script's own line.
        feed.append(&mut session.monitor_tail);
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
    micros(t.elapsed())
}

/// quanta's TSC clock and the monotonic clock, read together when the server starts.
static CLOCK_ORIGIN: OnceLock<(quanta::Instant, std::time::Instant)> = OnceLock::new();

/// Marks the start of the window `micros` measures the TSC's rate over.
pub fn start_clock() {
    CLOCK_ORIGIN.get_or_init(|| {
        // The first reading calibrates quanta's clock; the origin is read after it.
        let _ = quanta::Instant::now();
        (quanta::Instant::now(), std::time::Instant::now())
    });
}

/// A command's duration in microseconds, as the slow log and the latency monitor keep it.
///
/// quanta converts TSC ticks with a rate it calibrates once, at start-up, and on a loaded
/// machine that rate can be off by a fraction of a percent: `DEBUG SLEEP 0.15` was once
/// recorded as 149 ms. A duration of a millisecond or more is therefore rescaled by the
/// TSC's rate measured against the monotonic clock since the server started (two clock
/// reads, only for slow commands); shorter ones are taken as they are.
pub fn micros(d: Duration) -> u64 {
    let raw = d.as_micros() as u64;
    if d < Duration::from_millis(1) {
        return raw;
    }
    let Some((tsc0, mono0)) = CLOCK_ORIGIN.get() else {
        return raw;
    };
    rescale(d, tsc0.elapsed(), mono0.elapsed())
}

/// `d`, read on the TSC clock, in microseconds of the monotonic clock, given how long the same
/// window lasted on each.
fn rescale(d: Duration, tsc_window: Duration, mono_window: Duration) -> u64 {
    if tsc_window.is_zero() {
        return d.as_micros() as u64;
    }
    (d.as_secs_f64() * (mono_window.as_secs_f64() / tsc_window.as_secs_f64()) * 1e6) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tsc_rate_off_by_a_fraction_of_a_percent_is_corrected() {
        // The TSC clock runs 0.7 % slow: 150.2 ms of sleep reads as 149.15 ms on it.
        let tsc_window = Duration::from_secs(10);
        let mono_window = Duration::from_millis(10_070);
        let corrected = rescale(Duration::from_micros(149_150), tsc_window, mono_window);
        assert_eq!(corrected / 1000, 150, "{corrected}");
        assert_eq!(rescale(Duration::from_millis(5), Duration::ZERO, mono_window), 5000);
    }

    #[test]
    fn short_durations_are_taken_as_they_are() {
        start_clock();
        assert_eq!(micros(Duration::from_micros(999)), 999);
        // A slow command's window is at least as long as the command (1 ms or more), so the
        // reads' own spacing (tens of nanoseconds) is noise; over 20 ms the clocks agree closely.
        std::thread::sleep(Duration::from_millis(20));
        let long = micros(Duration::from_millis(150));
        assert!((148_500..151_500).contains(&long), "{long}");
    }
}
