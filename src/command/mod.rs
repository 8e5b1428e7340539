//! The command layer: the command table as data, argument parsing, and one file per family.
//!
//! `CommandSpec` rows (one `SPECS` table per family) are the only list of commands. Dispatch
//! (with its arity check), key routing in `net`, the split of variadic commands over shards,
//! and `COMMAND` / `COMMAND INFO` / `COMMAND DOCS` all read them.
//!
//! Three ways to run, named by `Run`:
//! - `Shard`: every key lives on one shard; the handler runs there, inline or by message,
//!   batched with the other commands of the same read.
//! - `Split`: variadic keys (DEL, MGET, MSET...). If the keys share a shard it runs like
//!   `Shard`; otherwise each shard runs the same handler on its own keys, with all involved
//!   shards locked (atomic), and `Merge` combines the replies.
//! - `Conn`: needs the connection or several hops (SELECT, HELLO, RENAME, SCAN, INFO...).

pub mod admission;
pub mod args;
pub mod bitmap;
pub mod cmdstats;
pub mod collection;
pub mod conn;
pub mod dispatch;
pub mod docs;
pub mod dump;
pub mod error;
pub mod expiry;
pub mod geo;
pub mod hash;
pub mod hll;
pub mod keys;
pub mod keyspace;
pub mod latency;
pub mod lcs;
pub mod list;
pub mod memory;
pub mod monitor;
pub mod observe;
pub mod packed;
pub mod pause;
pub mod persistence;
pub mod pubsub;
pub mod replicaof;
pub mod replication;
pub mod script;
pub mod server;
pub mod set;
pub mod slowlog;
pub mod sort;
pub mod string;
pub mod txn;
pub mod zset;

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

/// Keyspace-notification classes, for the families' `ShardCx::notify` calls.
pub(crate) use crate::shard::notify::class;
pub use args::Args;
pub use conn::{ConnCx, Session};
pub use error::CmdError;

use crate::resp::Arg;
use crate::resp::Out;
use crate::shard::ShardCx;

/// Command flags, as `COMMAND INFO` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flags(u32);

pub const WRITE: Flags = Flags(1);
pub const READONLY: Flags = Flags(1 << 1);
pub const DENYOOM: Flags = Flags(1 << 2);
pub const ADMIN: Flags = Flags(1 << 3);
pub const PUBSUB: Flags = Flags(1 << 4);
pub const NOSCRIPT: Flags = Flags(1 << 5);
pub const BLOCKING: Flags = Flags(1 << 6);
pub const LOADING: Flags = Flags(1 << 7);
pub const STALE: Flags = Flags(1 << 8);
pub const FAST: Flags = Flags(1 << 9);
pub const NO_AUTH: Flags = Flags(1 << 10);
pub const NO_MULTI: Flags = Flags(1 << 11);
pub const ALLOW_BUSY: Flags = Flags(1 << 12);
pub const NONE: Flags = Flags(0);

const FLAG_NAMES: &[(Flags, &str)] = &[
    (WRITE, "write"),
    (READONLY, "readonly"),
    (DENYOOM, "denyoom"),
    (ADMIN, "admin"),
    (PUBSUB, "pubsub"),
    (NOSCRIPT, "noscript"),
    (BLOCKING, "blocking"),
    (LOADING, "loading"),
    (STALE, "stale"),
    (FAST, "fast"),
    (NO_AUTH, "no_auth"),
    (NO_MULTI, "no_multi"),
    (ALLOW_BUSY, "allow_busy"),
];

impl Flags {
    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    pub const fn has(self, other: Flags) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    pub fn names(self) -> impl Iterator<Item = &'static str> {
        FLAG_NAMES.iter().filter(move |(f, _)| self.has(*f)).map(|(_, n)| *n)
    }
}

/// Where the keys are among the arguments (Redis's legacy first/last/step).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpan {
    pub first: i32,
    /// Index of the last key; negative counts from the end (-1 = last argument).
    pub last: i32,
    pub step: i32,
}

impl KeySpan {
    pub const NONE: KeySpan = KeySpan {
        first: 0,
        last: 0,
        step: 0,
    };

    pub const fn single(at: i32) -> KeySpan {
        KeySpan {
            first: at,
            last: at,
            step: 1,
        }
    }

    pub const fn range(first: i32, last: i32, step: i32) -> KeySpan {
        KeySpan { first, last, step }
    }

    /// Indexes of the key arguments of `argv` (empty for keyless commands).
    pub fn positions(&self, argc: usize) -> impl Iterator<Item = usize> {
        let (first, step) = (self.first.max(0) as usize, self.step.max(1) as usize);
        let last = if self.last < 0 {
            argc as i64 + self.last as i64
        } else {
            self.last as i64
        };
        let end = if self.first == 0 {
            0
        } else {
            (last + 1).clamp(0, argc as i64) as usize
        };
        (first..end).step_by(step)
    }
}

/// How the per-shard replies of a split command combine into one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// Integer replies summed (DEL, EXISTS, UNLINK, TOUCH).
    SumInts,
    /// Array replies re-interleaved into key order (MGET).
    KeyOrderArray,
    /// Every shard answered `+OK` (MSET).
    AllOk,
}

pub type ShardHandler = fn(&mut ShardCx, &mut Args, &mut Out) -> Result<(), CmdError>;

pub type CmdFuture<'a> = Pin<Box<dyn Future<Output = Result<(), CmdError>> + 'a>>;

pub type ConnHandler = for<'a> fn(&'a mut ConnCx, Vec<Arg>) -> CmdFuture<'a>;

#[derive(Clone, Copy)]
pub enum Run {
    Shard(ShardHandler),
    Split(ShardHandler, Merge),
    Conn(ConnHandler),
}

/// Documentation for `COMMAND DOCS` (redis-cli builds its hints from it).
#[derive(Clone, Copy, Debug)]
pub struct Doc {
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    /// The argument syntax after the name, e.g. `key value [NX|XX]`.
    pub syntax: &'static str,
}

#[derive(Clone, Copy)]
pub struct CommandSpec {
    pub name: &'static str,
    /// Redis arity: positive = exact argc, negative = at least -arity.
    pub arity: i32,
    pub flags: Flags,
    pub keys: KeySpan,
    pub run: Run,
    pub doc: Doc,
    /// Where the member or field a command looks up in its key's collection is (0: none);
    /// only a hint for the batch prefetch, so a wrong guess (an option there) costs a probe.
    pub member_at: u8,
    /// Where a `numkeys` argument is, the keys following it (0: none): ZUNIONSTORE, LMPOP,
    /// EVAL... For COMMAND GETKEYS; the command itself parses its own arguments.
    pub numkeys_at: u8,
    /// A bad `numkeys` means no keys rather than an error (EVAL and FCALL, as redis-server
    /// treats them).
    pub numkeys_lenient: bool,
}

impl CommandSpec {
    pub const fn new(name: &'static str, arity: i32, flags: Flags, keys: KeySpan, run: Run) -> Self {
        CommandSpec {
            name,
            arity,
            flags,
            keys,
            run,
            member_at: 0,
            numkeys_at: 0,
            numkeys_lenient: false,
            doc: Doc {
                group: "generic",
                since: "1.0.0",
                summary: "",
                syntax: "",
            },
        }
    }

    pub const fn member_at(mut self, at: u8) -> Self {
        self.member_at = at;
        self
    }

    /// Keys counted by a `numkeys` argument at `at`, as in ZUNIONSTORE and LMPOP.
    pub const fn numkeys_at(mut self, at: u8) -> Self {
        self.numkeys_at = at;
        self
    }

    /// `numkeys_at` for EVAL and FCALL, where a bad count means no keys.
    pub const fn script_numkeys_at(mut self, at: u8) -> Self {
        self.numkeys_at = at;
        self.numkeys_lenient = true;
        self
    }

    /// Every key position of `argv` (COMMAND GETKEYS): the fixed ones, then those a
    /// `numkeys` argument counts. `None` for a `numkeys` that is not a count of keys present.
    pub fn key_positions(&self, argv: &[Arg]) -> Option<Vec<usize>> {
        let at = self.numkeys_at as usize;
        let mut keys: Vec<usize> = self.keys.positions(argv.len()).filter(|&p| at == 0 || p < at).collect();
        if at == 0 {
            return Some(keys);
        }
        let n = argv.get(at).and_then(|a| crate::util::num::parse_i64(a));
        match n {
            Some(n) if n >= 1 && (at + 1).saturating_add(n as usize) <= argv.len() => {
                keys.extend(at + 1..at + 1 + n as usize);
                Some(keys)
            }
            _ if self.numkeys_lenient => Some(keys),
            _ => None,
        }
    }

    pub const fn doc(
        mut self,
        group: &'static str,
        since: &'static str,
        summary: &'static str,
        syntax: &'static str,
    ) -> Self {
        self.doc = Doc {
            group,
            since,
            summary,
            syntax,
        };
        self
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i32;
        if self.arity >= 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }

    pub fn is_write(&self) -> bool {
        self.flags.has(WRITE)
    }
}

/// Every family's table, in one list.
fn families() -> impl Iterator<Item = &'static CommandSpec> {
    [
        string::SPECS,
        bitmap::SPECS,
        lcs::SPECS,
        list::SPECS,
        keys::SPECS,
        dump::SPECS,
        sort::SPECS,
        keyspace::SPECS,
        server::SPECS,
        docs::SPECS,
        conn::SPECS,
        hash::SPECS,
        hll::SPECS,
        set::SPECS,
        zset::SPECS,
        geo::SPECS,
        txn::SPECS,
        persistence::SPECS,
        replication::SPECS,
        replicaof::SPECS,
        script::SPECS,
        script::function::SPECS,
        pubsub::SPECS,
        slowlog::SPECS,
        latency::SPECS,
        memory::SPECS,
        monitor::SPECS,
    ]
    .into_iter()
    .flatten()
}

struct Table {
    by_name: hashbrown::HashMap<&'static [u8], (usize, &'static CommandSpec)>,
    all: Vec<&'static CommandSpec>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let all: Vec<_> = families().collect();
        let mut by_name = hashbrown::HashMap::new();
        for (i, spec) in all.iter().enumerate() {
            let dup = by_name.insert(spec.name.as_bytes(), (i, *spec));
            debug_assert!(dup.is_none(), "command {} listed twice", spec.name);
        }
        Table { by_name, all }
    })
}

/// Looks a command up by name, case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    lookup_indexed(name).map(|(_, s)| s)
}

/// `lookup`, with the command's index in `all_commands()` (per-command statistics use it).
pub fn lookup_indexed(name: &[u8]) -> Option<(usize, &'static CommandSpec)> {
    let mut lower = [0u8; 32];
    if name.len() > lower.len() {
        return None;
    }
    for (d, s) in lower.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    table().by_name.get(&lower[..name.len()]).copied()
}

/// The command table entry of a connection's previous command: a pipeline mostly repeats one
/// command, and comparing its name as sent is cheaper than folding case and hashing it.
#[derive(Default)]
pub struct RecentCommand {
    name: [u8; 16],
    len: usize,
    found: Option<(usize, &'static CommandSpec)>,
}

impl RecentCommand {
    pub fn lookup(&mut self, name: &[u8]) -> Option<(usize, &'static CommandSpec)> {
        if self.found.is_some() && crate::util::bytes_eq(name, &self.name[..self.len]) {
            return self.found;
        }
        let found = lookup_indexed(name);
        if found.is_some() && name.len() <= self.name.len() {
            self.name[..name.len()].copy_from_slice(name);
            self.len = name.len();
            self.found = found;
        }
        found
    }
}

/// All commands, in table order.
pub fn all_commands() -> &'static [&'static CommandSpec] {
    &table().all
}

/// The keys a propagated write changes (for WATCH): all its keys, except that `*STORE`
/// commands and BITOP change only their destination.
pub fn written_keys(args: &[&[u8]], f: &mut dyn FnMut(&[u8])) {
    let Some(spec) = args.first().and_then(|n| lookup(n)) else {
        return;
    };
    for (i, p) in spec.keys.positions(args.len()).enumerate() {
        if i > 0 && (spec.name.ends_with("store") || spec.name == "bitop") {
            break;
        }
        f(args[p]);
    }
}

/// Runs a shard command and writes its reply (or error) to `out`.
pub fn run_on_shard(cx: &mut ShardCx, handler: ShardHandler, argv: &[Arg], out: &mut Out) {
    let start = out.len();
    let mut args = Args::new(argv);
    if let Err(e) = handler(cx, &mut args, out) {
        // A handler checks before it writes, but never leave half a reply behind.
        out.truncate(start);
        out.error(&e.message());
    }
}

/// Helpers for the families' shard-level unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use super::{Run, lookup, run_on_shard};
    use crate::resp::{Arg, Out, Proto};
    use crate::shard::{Shard, ShardCx};

    /// Runs `line` (space-separated words) as a shard command on db 0 of `shard` at time
    /// 1000 ms; returns the RESP2 reply bytes.
    pub fn run_line(shard: &mut Shard, line: &str) -> Vec<u8> {
        let argv: Vec<Arg> = line.split(' ').map(Arg::from).collect();
        let spec = lookup(&argv[0]).expect("known command");
        let Run::Shard(h) = spec.run else {
            panic!("{line}: not a shard command")
        };
        let mut out = Out::new(Proto::Resp2);
        run_on_shard(&mut ShardCx::new(shard, 0, 1_000), h, &argv, &mut out);
        out.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_command_cache_answers_as_the_table_does() {
        let mut names = RecentCommand::default();
        let get = lookup_indexed(b"get").expect("GET is known");
        for name in [&b"GET"[..], b"get", b"GeT", b"GET"] {
            assert_eq!(names.lookup(name).map(|(i, _)| i), Some(get.0));
        }
        // An unknown name is not cached and does not evict the known one.
        assert!(names.lookup(b"nosuchcmd").is_none());
        assert_eq!(names.lookup(b"GET").map(|(_, s)| s.name), Some("get"));
        // A name longer than the cache's buffer is still found, just not kept.
        let long = b"cluster-long-name-that-does-not-exist";
        assert!(names.lookup(long).is_none());
        let set = lookup_indexed(b"set").expect("SET is known");
        assert_eq!(names.lookup(b"set").map(|(i, _)| i), Some(set.0));
        assert_eq!(names.lookup(b"get").map(|(i, _)| i), Some(get.0));
    }

    #[test]
    fn key_positions() {
        let v: Vec<_> = KeySpan::range(1, -1, 2).positions(5).collect();
        assert_eq!(v, [1, 3]);
        let v: Vec<_> = KeySpan::single(1).positions(2).collect();
        assert_eq!(v, [1]);
        assert_eq!(KeySpan::NONE.positions(3).count(), 0);
    }

    #[test]
    fn table_has_no_duplicates_and_lookup_ignores_case() {
        let mut names: Vec<_> = all_commands().iter().map(|s| s.name).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(n, names.len());
        assert_eq!(lookup(b"GeT").map(|s| s.name), Some("get"));
    }
}
