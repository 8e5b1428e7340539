//! SLOWLOG GET / LEN / RESET / HELP, and the slow-command log behind them (Redis 7.0).
//!
//! Each core keeps the entries of its own connections' commands (thread-local, newest first),
//! so logging never crosses cores; SLOWLOG visits every core and merges by id. Ids come from
//! one process-wide counter, touched only when an entry is actually logged, so they are
//! unique and increase in logging order across cores. The two settings are mirrored into
//! atomics so the per-command check is one relaxed load.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use super::args::parse_int;
use super::dispatch::lower;
use super::*;
use crate::resp::Arg;
use crate::server::ServerState;
use crate::txn::Lock;

/// At most this many arguments are kept per entry (the last slot says how many were cut).
const MAX_ARGC: usize = 32;
/// Longer arguments are cut to this many bytes.
const MAX_ARG_LEN: usize = 128;
/// `SLOWER_THAN` before the first read of the configuration.
const UNSET: i64 = i64::MIN;

static SLOWER_THAN: AtomicI64 = AtomicI64::new(UNSET);
static MAX_LEN: AtomicU64 = AtomicU64::new(128);
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// One logged command.
#[derive(Clone, Debug)]
pub struct Entry {
    pub id: u64,
    pub unix_s: u64,
    pub usec: u64,
    pub args: Vec<Arg>,
    pub peer: String,
    pub name: Vec<u8>,
}

thread_local! {
    /// This core's entries, newest first.
    static LOG: RefCell<VecDeque<Entry>> = const { RefCell::new(VecDeque::new()) };
}

/// Copies `slowlog-log-slower-than` and `slowlog-max-len` from the configuration (at first
/// use and after CONFIG SET).
pub fn refresh(st: &ServerState) {
    let cfg = st.config();
    MAX_LEN.store(cfg.slowlog_max_len, Ordering::Relaxed);
    SLOWER_THAN.store(cfg.slowlog_log_slower_than, Ordering::Relaxed);
}

/// Microseconds a command must take to be logged; negative disables the log.
pub fn threshold(st: &ServerState) -> i64 {
    let t = SLOWER_THAN.load(Ordering::Relaxed);
    if t != UNSET {
        return t;
    }
    refresh(st);
    SLOWER_THAN.load(Ordering::Relaxed)
}

/// Logs the command if it took at least the threshold. EXEC is never logged (its commands
/// are, one by one), as Redis's `skip_slowlog` flag says.
pub fn maybe_log(st: &ServerState, spec: &CommandSpec, argv: &[Arg], usec: u64, session: &Session) {
    let t = threshold(st);
    if t < 0 || (usec as i64) < t || spec.name == "exec" {
        return;
    }
    let max_len = MAX_LEN.load(Ordering::Relaxed) as usize;
    let entry = Entry {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        unix_s: crate::shard::unix_ms() / 1000,
        usec,
        args: logged_args(spec, argv),
        peer: session.peer.clone(),
        name: session.name.clone().unwrap_or_default(),
    };
    LOG.with(|l| {
        let mut l = l.borrow_mut();
        l.push_front(entry);
        l.truncate(max_len);
    });
}

/// The arguments as the log keeps them: secrets redacted, at most 32 arguments of at most
/// 128 bytes each, with what was cut said in the last slot.
fn logged_args(spec: &CommandSpec, argv: &[Arg]) -> Vec<Arg> {
    let redacted = redacted_positions(spec, argv);
    let keep = argv.len().min(MAX_ARGC);
    let mut out = Vec::with_capacity(keep);
    for (i, a) in argv.iter().take(keep).enumerate() {
        if keep != argv.len() && i == keep - 1 {
            out.push(Arg::from(format!("... ({} more arguments)", argv.len() - keep + 1)));
        } else if redacted.contains(&i) {
            out.push(Arg::from_static(b"(redacted)"));
        } else if a.len() > MAX_ARG_LEN {
            let mut v = a[..MAX_ARG_LEN].to_vec();
            v.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_ARG_LEN).as_bytes());
            out.push(Arg::from(v));
        } else {
            out.push(a.clone());
        }
    }
    out
}

/// Argument positions holding passwords (AUTH's, HELLO's AUTH pair), never shown.
fn redacted_positions(spec: &CommandSpec, argv: &[Arg]) -> Vec<usize> {
    match spec.name {
        "auth" => (1..argv.len()).collect(),
        "hello" => argv
            .iter()
            .position(|a| a.eq_ignore_ascii_case(b"auth"))
            .filter(|&i| i >= 2)
            .map_or(Vec::new(), |i| vec![i + 1, i + 2]),
        _ => Vec::new(),
    }
}

pub const SPECS: &[CommandSpec] = &[CommandSpec::new(
    "slowlog",
    -2,
    ADMIN.union(LOADING).union(STALE),
    KeySpan::NONE,
    Run::Conn(slowlog),
)
.doc(
    "server",
    "2.2.12",
    "A container for slow log commands.",
    "subcommand [arguments]",
)];

const HELP: &[&str] = &[
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Reply with up to <count> logged commands, newest first (default 10; -1 for all).",
    "    Each entry holds: id, unix time, duration in microseconds, the arguments,",
    "    the client's address and port, and the client's name.",
    "LEN",
    "    Reply with the number of logged commands.",
    "RESET",
    "    Forget every logged command.",
    "HELP",
    "    Prints this help.",
];

/// Writes a HELP reply (an array of status lines, as Redis's HELP subcommands answer).
pub fn help_reply(out: &mut crate::resp::Out, lines: &[&str]) {
    out.array(lines.len());
    for l in lines {
        out.simple(l.as_bytes());
    }
}

/// Every core's entries, newest first.
async fn all_entries(cx: &ConnCx) -> Vec<Entry> {
    let mut all = Vec::new();
    for core in 0..cx.core.shards {
        let part: Vec<Entry> = cx
            .core
            .run_on(core, Lock::Free, |_| LOG.with(|l| l.borrow().iter().cloned().collect()))
            .await;
        all.extend(part);
    }
    all.sort_unstable_by_key(|e| std::cmp::Reverse(e.id));
    all.truncate(MAX_LEN.load(Ordering::Relaxed) as usize);
    all
}

fn slowlog(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        refresh_if_unset(cx);
        match (lower(&argv[1]).as_str(), argv.len()) {
            ("help", 2) => help_reply(&mut cx.out, HELP),
            ("len", 2) => {
                let n = all_entries(cx).await.len();
                cx.out.int(n as i64);
            }
            ("reset", 2) => {
                for core in 0..cx.core.shards {
                    cx.core
                        .run_on(core, Lock::Free, |_| LOG.with(|l| l.borrow_mut().clear()))
                        .await;
                }
                cx.out.ok();
            }
            ("get", 2 | 3) => {
                let count = match argv.get(2) {
                    None => 10,
                    Some(a) => match parse_int(a) {
                        Ok(n) if n >= -1 => n,
                        _ => {
                            return Err(CmdError::other("ERR count should be greater than or equal to -1"));
                        }
                    },
                };
                let mut entries = all_entries(cx).await;
                if count >= 0 {
                    entries.truncate(count as usize);
                }
                write_entries(&mut cx.out, &entries);
            }
            ("get" | "len" | "reset" | "help", _) => {
                return Err(CmdError::other(format!(
                    "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
                    super::error::printable(&argv[1], 128)
                )));
            }
            _ => return Err(CmdError::subcommand("slowlog", &argv[1], &[])),
        }
        Ok(())
    })
}

fn refresh_if_unset(cx: &ConnCx) {
    if SLOWER_THAN.load(Ordering::Relaxed) == UNSET {
        refresh(&cx.core.server);
    }
}

fn write_entries(out: &mut crate::resp::Out, entries: &[Entry]) {
    out.array(entries.len());
    for e in entries {
        out.array(6);
        out.int(e.id as i64);
        out.int(e.unix_s as i64);
        out.int(e.usec as i64);
        out.array(e.args.len());
        for a in &e.args {
            out.bulk(a);
        }
        out.bulk(e.peer.as_bytes());
        out.bulk(&e.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_commands_are_cut_like_redis() {
        let spec = lookup(b"rpush").expect("known");
        let argv: Vec<Arg> = (0..40).map(|i| Arg::from(format!("a{i}"))).collect();
        let args = logged_args(spec, &argv);
        assert_eq!(args.len(), 32);
        assert_eq!(&args[31][..], b"... (9 more arguments)");
        let long = vec![Arg::from_static(b"set"), Arg::from(vec![b'x'; 130])];
        let args = logged_args(spec, &long);
        assert!(args[1].ends_with(b"x... (2 more bytes)"));
        assert_eq!(args[1].len(), 128 + "... (2 more bytes)".len());
        let auth = lookup(b"auth").expect("known");
        let args = logged_args(auth, &[Arg::from_static(b"auth"), Arg::from_static(b"pw")]);
        assert_eq!(&args[1][..], b"(redacted)");
    }
}
