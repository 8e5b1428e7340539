//! LATENCY LATEST / HISTORY / RESET / DOCTOR / HELP: Redis 7.0's latency monitor, for the
//! events Shoal can measure truthfully: `command` (slow commands) and `fast-command` (slow
//! commands flagged `fast`).
//!
//! With `latency-monitor-threshold` 0 (the default) nothing is sampled. Otherwise a command
//! that takes at least the threshold (milliseconds) adds a sample to its event on the core that
//! served the client; as in Redis, samples of the same second keep the largest, and each
//! event keeps its last 160 seconds with samples. The commands merge every core's series.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use hashbrown::HashMap;

use super::dispatch::lower;
use super::slowlog::help_reply;
use super::*;
use crate::server::ServerState;
use crate::txn::Lock;

/// Samples kept per event.
const SAMPLES: usize = 160;
const UNSET: u64 = u64::MAX;

static THRESHOLD_MS: AtomicU64 = AtomicU64::new(UNSET);

/// One event's samples, oldest first, and the largest ever seen.
#[derive(Clone, Debug, Default)]
pub struct Series {
    samples: VecDeque<(u64, u64)>,
    max_ms: u64,
}

impl Series {
    fn add(&mut self, unix_s: u64, ms: u64) {
        self.max_ms = self.max_ms.max(ms);
        if let Some(last) = self.samples.back_mut()
            && last.0 == unix_s
        {
            last.1 = last.1.max(ms);
            return;
        }
        if self.samples.len() == SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back((unix_s, ms));
    }

    fn merge(&mut self, o: &Series) {
        for &(t, ms) in &o.samples {
            match self.samples.iter_mut().find(|s| s.0 == t) {
                Some(s) => s.1 = s.1.max(ms),
                None => self.samples.push_back((t, ms)),
            }
        }
        self.samples.make_contiguous().sort_unstable();
        while self.samples.len() > SAMPLES {
            self.samples.pop_front();
        }
        self.max_ms = self.max_ms.max(o.max_ms);
    }
}

thread_local! {
    static EVENTS: RefCell<HashMap<&'static str, Series>> = RefCell::new(HashMap::new());
}

/// Copies `latency-monitor-threshold` from the configuration (first use, CONFIG SET).
pub fn refresh(st: &ServerState) {
    THRESHOLD_MS.store(st.config().latency_monitor_threshold, Ordering::Relaxed);
}

fn threshold(st: &ServerState) -> u64 {
    let t = THRESHOLD_MS.load(Ordering::Relaxed);
    if t != UNSET {
        return t;
    }
    refresh(st);
    THRESHOLD_MS.load(Ordering::Relaxed)
}

/// Samples a command that took `usec`, when monitoring is on and it reached the threshold.
pub fn maybe_sample(st: &ServerState, spec: &CommandSpec, usec: u64) {
    let t = threshold(st);
    let ms = usec / 1000;
    if t == 0 || ms < t {
        return;
    }
    let event = if spec.flags.has(FAST) {
        "fast-command"
    } else {
        "command"
    };
    let now = crate::shard::unix_ms() / 1000;
    EVENTS.with(|e| e.borrow_mut().entry(event).or_default().add(now, ms));
}

pub const SPECS: &[CommandSpec] = &[CommandSpec::new(
    "latency",
    -2,
    ADMIN.union(NOSCRIPT).union(LOADING).union(STALE),
    KeySpan::NONE,
    Run::Conn(latency),
)
.doc(
    "server",
    "2.8.13",
    "A container for latency diagnostics commands.",
    "subcommand [arguments]",
)];

const HELP: &[&str] = &[
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Reply with a short, readable report on the latency seen so far.",
    "HISTORY <event>",
    "    Reply with the (unix time, milliseconds) samples of <event>.",
    "LATEST",
    "    Reply with the latest and the largest sample of every event.",
    "RESET [<event> ...]",
    "    Forget the samples of the given events (of every event when none is named).",
    "HELP",
    "    Prints this help.",
];

/// Every core's series, merged per event.
async fn all_events(cx: &ConnCx) -> Vec<(&'static str, Series)> {
    let mut merged: HashMap<&'static str, Series> = HashMap::new();
    for core in 0..cx.core.shards {
        let part: Vec<(&'static str, Series)> = cx
            .core
            .run_on(core, Lock::Free, |_| {
                EVENTS.with(|e| e.borrow().iter().map(|(k, v)| (*k, v.clone())).collect())
            })
            .await;
        for (k, v) in part {
            merged.entry(k).or_default().merge(&v);
        }
    }
    let mut v: Vec<_> = merged.into_iter().collect();
    v.sort_unstable_by_key(|(k, _)| *k);
    v
}

fn latency(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        match (lower(&argv[1]).as_str(), argv.len()) {
            ("help", 2) => help_reply(&mut cx.out, HELP),
            ("latest", 2) => {
                let events = all_events(cx).await;
                cx.out.array(events.len());
                for (name, s) in events {
                    let (t, ms) = s.samples.back().copied().unwrap_or_default();
                    cx.out.array(4);
                    cx.out.bulk(name.as_bytes());
                    cx.out.int(t as i64);
                    cx.out.int(ms as i64);
                    cx.out.int(s.max_ms as i64);
                }
            }
            ("history", 3) => {
                let wanted = lower(&argv[2]);
                let events = all_events(cx).await;
                let series = events.into_iter().find(|(k, _)| *k == wanted).map(|(_, s)| s);
                let samples = series.map(|s| s.samples).unwrap_or_default();
                cx.out.array(samples.len());
                for (t, ms) in samples {
                    cx.out.array(2);
                    cx.out.int(t as i64);
                    cx.out.int(ms as i64);
                }
            }
            ("reset", _) => {
                let names: Vec<String> = argv[2..].iter().map(|a| lower(a)).collect();
                let mut reset = hashbrown::HashSet::new();
                for core in 0..cx.core.shards {
                    let names = names.clone();
                    let gone: Vec<&'static str> = cx
                        .core
                        .run_on(core, Lock::Free, move |_| {
                            EVENTS.with(|e| {
                                let mut e = e.borrow_mut();
                                let keys: Vec<&'static str> = e
                                    .keys()
                                    .copied()
                                    .filter(|k| names.is_empty() || names.iter().any(|n| n.as_str() == *k))
                                    .collect();
                                keys.iter().for_each(|k| {
                                    e.remove(k);
                                });
                                keys
                            })
                        })
                        .await;
                    reset.extend(gone);
                }
                cx.out.int(reset.len() as i64);
            }
            ("doctor", 2) => {
                let text = doctor(threshold(&cx.core.server), &all_events(cx).await);
                cx.out.verbatim(text.as_bytes());
            }
            ("help" | "latest" | "history" | "doctor", _) => {
                return Err(CmdError::other(format!(
                    "ERR unknown subcommand or wrong number of arguments for '{}'. Try LATENCY HELP.",
                    super::error::printable(&argv[1], 128)
                )));
            }
            _ => return Err(CmdError::subcommand("latency", &argv[1], &[])),
        }
        Ok(())
    })
}

/// LATENCY DOCTOR's report, in Shoal's own words.
fn doctor(threshold_ms: u64, events: &[(&'static str, Series)]) -> String {
    if threshold_ms == 0 {
        return "Latency monitoring is disabled on this server, so there is nothing to analyse. \
                Enable it with \"CONFIG SET latency-monitor-threshold <milliseconds>\"."
            .to_string();
    }
    if events.is_empty() {
        return format!(
            "No latency spike at or above {threshold_ms} milliseconds has been seen since monitoring started \
             (or since the last LATENCY RESET)."
        );
    }
    let mut s = format!("Latency spikes at or above {threshold_ms} milliseconds were seen for these events:\n\n");
    for (i, (name, series)) in events.iter().enumerate() {
        let n = series.samples.len() as u64;
        let avg = series.samples.iter().map(|x| x.1).sum::<u64>() / n.max(1);
        let _ = writeln!(
            s,
            "{}. {name}: {n} latency spikes (average {avg}ms, worst {}ms).",
            i + 1,
            series.max_ms
        );
    }
    s.push_str(
        "\nSlow commands: look at SLOWLOG GET to see which commands took long, and avoid O(N) \
         commands on large values.\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_of_one_second_keep_the_largest() {
        let mut s = Series::default();
        s.add(10, 5);
        s.add(10, 3);
        s.add(11, 4);
        assert_eq!(s.samples, VecDeque::from(vec![(10, 5), (11, 4)]));
        let mut m = Series::default();
        m.add(11, 9);
        s.merge(&m);
        assert_eq!(s.samples, VecDeque::from(vec![(10, 5), (11, 9)]));
        assert_eq!(s.max_ms, 9);
        assert!(doctor(0, &[]).contains("disabled"));
    }
}
