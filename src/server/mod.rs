//! Server-wide state shared by all cores: read-mostly configuration and a few atomics.
//! Nothing here is shard data; cores never lock it on the hot path.

pub mod alloc;
pub mod daemon;
pub mod log;
pub mod memory;
pub mod metrics;
pub mod start;
pub mod stats;

use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use crate::config::Config;

pub const REDIS_VERSION: &str = "7.0.15";

pub struct ServerState {
    pub config: RwLock<Config>,
    pub shards: usize,
    pub started: Instant,
    pub started_unix_ms: u64,
    /// 40 hex chars, new at every start (INFO run_id).
    pub run_id: String,
    pub executable: String,
    pub config_file: Option<String>,
    next_client_id: AtomicU64,
    pub shutdown: AtomicBool,
    /// One slot of counters per core.
    pub counters: Vec<stats::CoreCounters>,
    /// INFO's instantaneous rates, kept by the sampler on the first core.
    pub rates: metrics::Rates,
    /// `min-replicas-to-write` / `min-replicas-max-lag`, cached for the write path.
    pub min_replicas_to_write: AtomicU64,
    pub min_replicas_max_lag: AtomicU64,
    /// Save bookkeeping (SAVE, BGSAVE, save points, INFO persistence).
    pub persist: crate::persist::save::PersistState,
    /// Replication (sequencer, coordinator, backlog); set once at start-up.
    pub repl: std::sync::OnceLock<std::sync::Arc<crate::repl::ReplState>>,
}

impl ServerState {
    pub fn new(config: Config, shards: usize, config_file: Option<String>) -> ServerState {
        ServerState {
            config: RwLock::new(config),
            shards,
            started: Instant::now(),
            started_unix_ms: crate::shard::unix_ms(),
            run_id: random_hex40(),
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            config_file,
            next_client_id: AtomicU64::new(1),
            shutdown: AtomicBool::new(false),
            counters: (0..shards).map(|_| stats::CoreCounters::default()).collect(),
            rates: metrics::Rates::default(),
            repl: std::sync::OnceLock::new(),
            persist: Default::default(),
            min_replicas_to_write: AtomicU64::new(0),
            min_replicas_max_lag: AtomicU64::new(10),
        }
    }

    /// A snapshot of the configuration (cheap to read, never held across work).
    pub fn config(&self) -> Config {
        self.config.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Copies the config values the hot path reads into atomics (at start and CONFIG SET).
    pub fn refresh_cached_config(&self) {
        let c = self.config();
        self.min_replicas_to_write
            .store(c.min_replicas_to_write as u64, Ordering::Relaxed);
        self.min_replicas_max_lag
            .store(c.min_replicas_max_lag as u64, Ordering::Relaxed);
        crate::shard::evict::configure(
            c.maxmemory,
            eviction_policy(c.maxmemory_policy),
            c.maxmemory_samples,
            c.lfu_log_factor,
            c.lfu_decay_time,
            c.replica_ignore_maxmemory,
        );
        crate::shard::notify::configure(c.notify_keyspace_events);
        crate::command::hll::configure(c.hll_sparse_max_bytes);
    }

    /// The replication state (always set once the server runs).
    pub fn repl(&self) -> &std::sync::Arc<crate::repl::ReplState> {
        self.repl.get().expect("replication state initialised at start-up")
    }

    pub fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// The shard layer's reading of `maxmemory-policy`.
fn eviction_policy(p: crate::config::MaxmemoryPolicy) -> crate::shard::evict::Policy {
    use crate::config::MaxmemoryPolicy as P;
    use crate::shard::evict::{Policy, Rank};
    match p {
        P::VolatileLru => Policy::Volatile(Rank::Lru),
        P::VolatileLfu => Policy::Volatile(Rank::Lfu),
        P::VolatileRandom => Policy::Volatile(Rank::Random),
        P::VolatileTtl => Policy::Volatile(Rank::Ttl),
        P::AllkeysLru => Policy::AllKeys(Rank::Lru),
        P::AllkeysLfu => Policy::AllKeys(Rank::Lfu),
        P::AllkeysRandom => Policy::AllKeys(Rank::Random),
        P::Noeviction => Policy::NoEviction,
    }
}

/// 40 random lowercase hex characters (run ids, replication ids), from the OS's randomness.
pub fn random_hex40() -> String {
    let mut bytes = [0u8; 20];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut bytes);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Resident memory of this process, in bytes.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}
