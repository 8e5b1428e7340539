//! Shoal's configuration layer: reads an operator's existing `redis.conf`
//! and `redis-server`-style command line, and serves CONFIG GET / SET /
//! REWRITE.
//!
//! Everything is driven by one directive table (`table.rs`): parsing,
//! defaults, CONFIG GET and CONFIG SET all read it, so a directive's name,
//! aliases, value kind, default and mutability are written down once.
//! Behaviour and error texts follow Redis 7.0.15 so that existing
//! deployment tooling (and operators' muscle memory) keep working.
//!
//! Directives Redis 7.0 knows but Shoal does not implement are accepted,
//! kept verbatim (CONFIG GET shows them) and reported as warnings rather
//! than aborting start-up; truly unknown directives are fatal, as in Redis.
//!
//! This module depends on no other Shoal module.

mod glob;
mod load;
mod ops;
mod passthrough;
mod rewrite;
mod split;
mod table;
mod values;

#[cfg(test)]
mod tests_load;
#[cfg(test)]
mod tests_ops;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

pub use load::{parse_args, parse_args_with_stdin};
pub use split::{quote, split_args};

/// The Redis version whose behaviour (and error banner) Shoal mirrors.
pub const REDIS_COMPAT_VERSION: &str = "7.0.15";

/// Defines a configuration enum together with its Redis spelling, so the
/// directive table can list accepted words without repeating them.
macro_rules! config_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($(#[$vm])* $var),+ }
        impl $name {
            /// Accepted words, in the order Redis lists them in errors.
            pub const NAMES: &'static [&'static str] = &[$($text),+];
            const ALL: &'static [$name] = &[$($name::$var),+];
            /// The word Redis uses for this value.
            pub fn as_str(self) -> &'static str {
                Self::NAMES[self as usize]
            }
            fn from_index(i: usize) -> Self {
                Self::ALL[i]
            }
        }
    };
}

config_enum!(
    /// `supervised`: how the server talks to an init system.
    Supervised { Upstart = "upstart", Systemd = "systemd", Auto = "auto", No = "no" }
);
config_enum!(
    /// `loglevel`, most to least verbose.
    LogLevel { Debug = "debug", Verbose = "verbose", Notice = "notice", Warning = "warning" }
);
config_enum!(
    /// `maxmemory-policy`: what to evict when `maxmemory` is reached.
    MaxmemoryPolicy {
        VolatileLru = "volatile-lru",
        VolatileLfu = "volatile-lfu",
        VolatileRandom = "volatile-random",
        VolatileTtl = "volatile-ttl",
        AllkeysLru = "allkeys-lru",
        AllkeysLfu = "allkeys-lfu",
        AllkeysRandom = "allkeys-random",
        Noeviction = "noeviction",
    }
);
config_enum!(
    /// `repl-diskless-load`: how a replica consumes the master's RDB.
    DisklessLoad { Disabled = "disabled", OnEmptyDb = "on-empty-db", Swapdb = "swapdb" }
);

/// One `bind` address. `optional` is the `-` prefix: skip the address
/// instead of failing when it cannot be bound (e.g. no IPv6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindAddr {
    pub addr: String,
    pub optional: bool,
}

impl fmt::Display for BindAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.optional {
            f.write_str("-")?;
        }
        f.write_str(&self.addr)
    }
}

/// A `save <seconds> <changes>` point: snapshot when at least `changes`
/// writes happened within `seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SavePoint {
    pub seconds: u64,
    pub changes: u64,
}

/// Client classes that have their own output buffer limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientClass {
    Normal = 0,
    Replica = 1,
    Pubsub = 2,
}

/// `client-output-buffer-limit` for one class: disconnect at `hard` bytes,
/// or after staying above `soft` bytes for `soft_seconds`. 0 = no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

/// Bit flags of `notify-keyspace-events`.
pub mod events {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const KEYEVENT: u32 = 1 << 1;
    pub const GENERIC: u32 = 1 << 2;
    pub const STRING: u32 = 1 << 3;
    pub const LIST: u32 = 1 << 4;
    pub const SET: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const ZSET: u32 = 1 << 7;
    pub const EXPIRED: u32 = 1 << 8;
    pub const EVICTED: u32 = 1 << 9;
    pub const STREAM: u32 = 1 << 10;
    pub const KEY_MISS: u32 = 1 << 11;
    pub const MODULE: u32 = 1 << 12;
    pub const NEW: u32 = 1 << 13;
    /// What `A` stands for (deliberately excludes key-miss and new).
    pub const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// The typed server configuration. Field defaults are Redis 7.0's and come
/// from the directive table (see [`Config::default`]); sizes are bytes and
/// times are in the unit the directive uses (seconds unless noted).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub bind: Vec<BindAddr>,
    pub port: u16,
    pub protected_mode: bool,
    pub tcp_backlog: u32,
    pub timeout: u32,
    pub tcp_keepalive: u32,
    pub daemonize: bool,
    pub supervised: Supervised,
    pub pidfile: Option<String>,
    pub loglevel: LogLevel,
    /// Empty means standard output.
    pub logfile: String,
    pub databases: u32,
    pub save: Vec<SavePoint>,
    pub stop_writes_on_bgsave_error: bool,
    pub rdbcompression: bool,
    pub rdbchecksum: bool,
    pub dbfilename: String,
    /// Absolute working directory. Redis `chdir`s while parsing; Shoal
    /// leaves that side effect to the caller.
    pub dir: String,
    pub requirepass: Option<String>,
    pub maxclients: u32,
    pub maxmemory: u64,
    /// Largest sparse HyperLogLog, header included, before it turns dense.
    pub hll_sparse_max_bytes: u64,
    pub maxmemory_policy: MaxmemoryPolicy,
    /// Keys looked at per eviction.
    pub maxmemory_samples: u32,
    /// How slowly the LFU counter grows (higher: more hits per step).
    pub lfu_log_factor: u32,
    /// Minutes after which an idle key's LFU counter loses one.
    pub lfu_decay_time: u32,
    pub replicaof: Option<(String, u16)>,
    pub masterauth: Option<String>,
    pub masteruser: Option<String>,
    pub replica_read_only: bool,
    pub replica_serve_stale_data: bool,
    /// A replica leaves `maxmemory` to its master's DELs (yes) or evicts keys itself (no).
    pub replica_ignore_maxmemory: bool,
    pub repl_backlog_size: u64,
    pub repl_backlog_ttl: u64,
    pub repl_timeout: u32,
    pub repl_ping_replica_period: u32,
    pub repl_diskless_sync: bool,
    pub repl_diskless_sync_delay: u32,
    pub repl_diskless_sync_max_replicas: u32,
    pub repl_diskless_load: DisklessLoad,
    pub min_replicas_to_write: u32,
    pub min_replicas_max_lag: u32,
    pub replica_priority: u32,
    pub replica_announce_ip: Option<String>,
    pub replica_announce_port: u16,
    pub replica_announced: bool,
    pub replica_lazy_flush: bool,
    pub lazyfree_lazy_expire: bool,
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    /// Indexed by [`ClientClass`].
    pub client_output_buffer_limit: [BufferLimit; 3],
    /// Accepted for compatibility; Shoal has no AOF.
    pub appendonly: bool,
    pub hz: u32,
    pub list_max_listpack_size: i32,
    pub hash_max_listpack_entries: u64,
    pub hash_max_listpack_value: u64,
    pub set_max_intset_entries: u64,
    pub set_max_listpack_entries: u64,
    pub zset_max_listpack_entries: u64,
    pub zset_max_listpack_value: u64,
    pub list_compress_depth: u32,
    /// `busy-reply-threshold` / `lua-time-limit`, milliseconds.
    pub busy_reply_threshold: u64,
    /// Microseconds; -1 disables the slow log.
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: u64,
    pub latency_monitor_threshold: u64,
    /// See [`events`].
    pub notify_keyspace_events: u32,
    pub io_threads: u32,
    /// Shoal's own: number of data shards, 0 = one per CPU.
    pub shards: u32,
    /// Shoal's own: how long (µs) an idle core polls for work before it sleeps. Waking a
    /// sleeping core costs syscalls and interrupts on both sides; under a steady load of
    /// cross-core work the next message usually comes within this window.
    pub core_spin_us: u64,
    /// Directives Redis knows but Shoal ignores, by canonical name, with
    /// their arguments; CONFIG GET shows them space-joined.
    pub passthrough: BTreeMap<&'static str, Vec<String>>,
    /// Non-config lines Redis accepts (`rename-command`, `user`,
    /// `loadmodule`, `sentinel`, module `a.b` options), verbatim.
    pub extra_directives: Vec<Vec<String>>,
}

impl Config {
    /// The output buffer limit of one client class.
    pub fn buffer_limit(&self, class: ClientClass) -> BufferLimit {
        self.client_output_buffer_limit[class as usize]
    }
}

impl Default for Config {
    /// Redis 7.0 defaults, taken from the directive table.
    fn default() -> Self {
        table::defaults()
    }
}

/// A successfully loaded configuration.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// One line per accepted-but-ignored directive; the caller logs them.
    pub warnings: Vec<String>,
    /// Absolute path of the main config file (CONFIG REWRITE target).
    pub config_file: Option<PathBuf>,
}

/// What the command line asks for.
#[derive(Debug, Clone)]
pub enum Invocation {
    /// Start the server with this configuration.
    Run(Box<Loaded>),
    /// `-v` / `--version`.
    Version,
    /// `-h` / `--help`.
    Help,
}

/// A fatal configuration error. `Display` renders it exactly the way
/// `redis-server` prints it, so scripts that grep start-up output work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A bad line: 1-based line number within the file (or the combined
    /// file + stdin + command-line text) being read, the trimmed line and
    /// the reason.
    Line { line: usize, text: String, message: String },
    /// A config file could not be read.
    Open { path: String, reason: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Line { line, text, message } => write!(
                f,
                "*** FATAL CONFIG FILE ERROR (Redis {REDIS_COMPAT_VERSION}) ***\n\
                 Reading the configuration file, at line {line}\n\
                 >>> '{text}'\n\
                 {message}"
            ),
            ConfigError::Open { path, reason } => {
                write!(f, "Fatal error, can't open config file '{path}': {reason}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}
