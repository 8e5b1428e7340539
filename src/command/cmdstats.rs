//! Per-core command statistics: INFO `commandstats` and `errorstats`, and the error totals of
//! INFO `stats`.
//!
//! Each core counts the commands of its own connections in a thread-local table indexed by
//! the command's position in the command table, so counting is a plain add with no lock and no
//! shared cache line. INFO (and CONFIG RESETSTAT) visit every core with one hop each, like
//! CLIENT LIST, and sum the tables there.
//!
//! Redis 7.0 reports container commands per subcommand (`cmdstat_client|list`) and counts an
//! unknown subcommand as an error only, never as a call; both are kept here.

use std::cell::RefCell;
use std::fmt::Write as _;

use hashbrown::HashMap;

use super::all_commands;
use crate::resp::Arg;

/// Counters of one command (or one container subcommand).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallStats {
    pub calls: u64,
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
}

impl CallStats {
    fn add(&mut self, o: &CallStats) {
        self.calls += o.calls;
        self.usec += o.usec;
        self.rejected += o.rejected;
        self.failed += o.failed;
    }

    fn is_used(&self) -> bool {
        self.calls + self.rejected + self.failed > 0
    }
}

/// Redis stops tracking new error codes after this many distinct ones (memory bound).
const MAX_ERROR_CODES: usize = 128;

/// One core's command statistics.
#[derive(Clone, Debug, Default)]
pub struct CoreStats {
    /// By command-table index (`super::lookup_indexed`).
    pub cmds: Vec<CallStats>,
    /// Container subcommands, by `container|sub`.
    pub subs: HashMap<String, CallStats>,
    /// Error replies by their code (the first word: `ERR`, `WRONGTYPE`...).
    pub errors: HashMap<String, u64>,
    pub total_errors: u64,
}

impl CoreStats {
    fn new() -> CoreStats {
        CoreStats {
            cmds: vec![CallStats::default(); all_commands().len()],
            ..Default::default()
        }
    }

    /// Adds another core's figures to these.
    pub fn merge(&mut self, o: &CoreStats) {
        if self.cmds.len() < o.cmds.len() {
            self.cmds.resize(o.cmds.len(), CallStats::default());
        }
        for (a, b) in self.cmds.iter_mut().zip(&o.cmds) {
            a.add(b);
        }
        for (k, v) in &o.subs {
            self.subs.entry(k.clone()).or_default().add(v);
        }
        for (k, v) in &o.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        self.total_errors += o.total_errors;
    }

    /// Calls of every command on this core (INFO `# Shoal`).
    pub fn calls(&self) -> u64 {
        self.cmds.iter().map(|c| c.calls).sum::<u64>() + self.subs.values().map(|c| c.calls).sum::<u64>()
    }

    fn count_error(&mut self, reply: &[u8]) {
        self.total_errors += 1;
        let text = &reply[1..];
        let head = &text[..text.len().min(32)];
        let code = match head.iter().position(|&c| c == b' ' || c == b'\r') {
            Some(n) if n > 0 => String::from_utf8_lossy(&head[..n]).into_owned(),
            _ => "ERR".to_string(),
        };
        if let Some(n) = self.errors.get_mut(&code) {
            *n += 1;
        } else if self.errors.len() < MAX_ERROR_CODES {
            self.errors.insert(code, 1);
        }
    }
}

/// Commands whose statistics (and CLIENT LIST `cmd=`) Redis 7.0 keeps per subcommand.
pub(crate) const CONTAINERS: &[&str] = &[
    "acl", "client", "cluster", "command", "config", "function", "latency", "memory", "module", "object", "pubsub",
    "script", "slowlog", "xgroup", "xinfo",
];

thread_local! {
    static LOCAL: RefCell<CoreStats> = RefCell::new(CoreStats::new());
    /// Per command-table index: is it a container (precomputed, so the hot path only indexes).
    static IS_CONTAINER: Vec<bool> = all_commands().iter().map(|s| CONTAINERS.contains(&s.name)).collect();
}

fn is_error(reply: &[u8]) -> bool {
    matches!(reply.first(), Some(b'-') | Some(b'!'))
}

/// Counts one executed command: `reply` is exactly its reply (an error counts as failed).
pub fn record_call(idx: usize, argv: &[Arg], usec: u64, reply: &[u8]) {
    let container = IS_CONTAINER.with(|c| c.get(idx).copied().unwrap_or(false));
    LOCAL.with(|s| {
        let mut s = s.borrow_mut();
        let failed = is_error(reply);
        if failed {
            s.count_error(reply);
        }
        let slot = if container {
            if failed && reply.starts_with(b"-ERR unknown subcommand '") {
                // Redis rejects an unknown subcommand before it is a call of anything.
                return;
            }
            let parent = all_commands()[idx].name;
            let sub = argv.get(1).map(|a| String::from_utf8_lossy(a).to_ascii_lowercase());
            let key = format!("{parent}|{}", sub.unwrap_or_default());
            s.subs.entry(key).or_default()
        } else {
            match s.cmds.get_mut(idx) {
                Some(c) => c,
                None => return,
            }
        };
        slot.calls += 1;
        slot.usec += usec;
        slot.failed += failed as u64;
    });
}

/// Counts a command refused before it ran (arity, NOAUTH, READONLY...), and its error reply.
/// `idx` is None for an unknown command, which only counts as an error.
pub fn record_reject(idx: Option<usize>, reply: &[u8]) {
    LOCAL.with(|s| {
        let mut s = s.borrow_mut();
        if is_error(reply) {
            s.count_error(reply);
        }
        if let Some(c) = idx.and_then(|i| s.cmds.get_mut(i)) {
            c.rejected += 1;
        }
    });
}

/// Counts an error reply that belongs to no command (protocol errors).
pub fn record_error(reply: &[u8]) {
    if is_error(reply) {
        LOCAL.with(|s| s.borrow_mut().count_error(reply));
    }
}

/// A copy of this core's statistics (run on each core by INFO).
pub fn snapshot() -> CoreStats {
    LOCAL.with(|s| s.borrow().clone())
}

/// Clears this core's statistics (CONFIG RESETSTAT, on each core).
pub fn reset() {
    LOCAL.with(|s| *s.borrow_mut() = CoreStats::new());
}

/// INFO `# Commandstats` from the merged figures, one line per used command, sorted by name.
pub fn commandstats_section(st: &CoreStats) -> String {
    let mut rows: Vec<(String, CallStats)> = st
        .cmds
        .iter()
        .zip(all_commands())
        .filter(|(c, _)| c.is_used())
        .map(|(c, spec)| (spec.name.to_string(), *c))
        .collect();
    rows.extend(
        st.subs
            .iter()
            .filter(|(_, c)| c.is_used())
            .map(|(k, c)| (k.clone(), *c)),
    );
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let mut s = String::from("# Commandstats\r\n");
    for (name, c) in rows {
        let per_call = if c.calls == 0 {
            0.0
        } else {
            c.usec as f64 / c.calls as f64
        };
        let _ = write!(
            s,
            "cmdstat_{name}:calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
            c.calls, c.usec, c.rejected, c.failed
        );
    }
    s
}

/// INFO `# Errorstats`, sorted by error code.
pub fn errorstats_section(st: &CoreStats) -> String {
    let mut rows: Vec<_> = st.errors.iter().collect();
    rows.sort();
    let mut s = String::from("# Errorstats\r\n");
    for (code, n) in rows {
        let _ = write!(s, "errorstat_{code}:count={n}\r\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(name: &str) -> usize {
        super::super::lookup_indexed(name.as_bytes()).expect("known").0
    }

    #[test]
    fn counts_calls_failures_and_error_codes() {
        reset();
        let set = idx("set");
        record_call(set, &[], 5, b"+OK\r\n");
        record_call(set, &[], 7, b"-WRONGTYPE Operation\r\n");
        record_reject(Some(set), b"-ERR wrong number\r\n");
        record_reject(None, b"-ERR unknown command\r\n");
        let client = idx("client");
        let argv = [Arg::from_static(b"client"), Arg::from_static(b"LIST")];
        record_call(client, &argv, 3, b"=5\r\n");
        record_call(client, &argv, 3, b"-ERR unknown subcommand 'x'\r\n");
        let st = snapshot();
        let text = commandstats_section(&st);
        assert!(text.contains("cmdstat_set:calls=2,usec=12,usec_per_call=6.00,rejected_calls=1,failed_calls=1\r\n"));
        assert!(text.contains("cmdstat_client|list:calls=1,usec=3,"));
        assert_eq!(
            errorstats_section(&st),
            "# Errorstats\r\nerrorstat_ERR:count=3\r\nerrorstat_WRONGTYPE:count=1\r\n"
        );
        assert_eq!(st.total_errors, 4);
        reset();
        assert_eq!(snapshot().total_errors, 0);
    }
}
