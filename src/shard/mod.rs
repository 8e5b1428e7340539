//! A core's shard of the keyspace: its databases, lazy and active expiry, and its write log.
//!
//! A shard is owned by exactly one core and touched only from that core's thread; other cores
//! reach it by message (`txn`, `net`). Nothing here knows about sockets or other shards.

pub mod blocking;
pub mod evict;
pub mod give_way;
pub mod keyspace;
pub mod notify;
pub mod route;
pub mod snapshot;
pub mod watch;
pub mod writelog;

use std::time::{SystemTime, UNIX_EPOCH};

pub use keyspace::{Db, Live};
pub use route::{ShardId, key_hash, shard_of};
pub use writelog::{WriteLog, WriteRecord, WriteRecords};

use crate::store::{EncodingLimits, Entry, Kind, Value};

/// The db of a stream record that belongs to no db (REPLCONF GETACK): it never triggers SELECT.
pub const NO_DB: usize = usize::MAX;

/// Wall clock in unix milliseconds.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Counters a shard keeps for INFO stats.
#[derive(Default, Debug, Clone, Copy)]
pub struct ShardStats {
    pub expired_keys: u64,
    /// Keys removed to stay under `maxmemory`.
    pub evicted_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    /// Active expiry (INFO's `expire_cycle_cpu_milliseconds`, `expired_time_cap_reached_count`,
    /// `expired_stale_perc`): time spent in cycles, cycles cut short by their time limit, and
    /// the smoothed share of expired keys among the keys with a deadline a cycle looked at.
    pub expire_cycle_us: u64,
    pub expire_cycles_capped: u64,
    pub expired_stale_perc: f64,
}

impl ShardStats {
    /// Accounts one active expiry cycle. The stale share moves 5 % of the way to this
    /// cycle's share each cycle, as redis-server smooths it.
    pub fn note_expire_cycle(&mut self, expired: usize, examined: usize, micros: u64, capped: bool) {
        let share = if examined == 0 {
            0.0
        } else {
            expired as f64 / examined as f64
        };
        self.expired_stale_perc = share * 0.05 + self.expired_stale_perc * 0.95;
        self.expire_cycle_us += micros;
        self.expire_cycles_capped += u64::from(capped);
    }
}

pub struct Shard {
    pub id: ShardId,
    pub dbs: Vec<Db>,
    pub log: WriteLog,
    pub stats: ShardStats,
    /// Encoding thresholds from the config (copied here so handlers never read shared state).
    pub limits: EncodingLimits,
    /// Clients blocked on this shard's keys (BLPOP & co.).
    pub blocking: blocking::Blocking,
    /// Clients watching keys of this shard (WATCH).
    pub watches: watch::Watches,
    /// Keyspace notifications of the running job (`notify`).
    pub notices: notify::Outbox,
    /// This server is a replica: expired keys are hidden from reads but only the master's DEL
    /// removes them (no lazy or active expiry here).
    pub is_replica: bool,
    /// Eviction's candidates between evictions (`evict`).
    eviction_pool: evict::EvictionPool,
    /// This shard's running estimate of the process's memory (`evict`).
    memory_view: evict::MemoryView,
    /// What this shard last read of the others' eviction candidates (`give_way`).
    worse_elsewhere: give_way::Elsewhere,
    rng: u64,
}

/// Finds the keys a propagated write changes (installed from the command table at start-up,
/// since the shard layer does not know commands).
pub type WrittenKeys = fn(&[&[u8]], &mut dyn FnMut(&[u8]));

static WRITTEN_KEYS: std::sync::OnceLock<WrittenKeys> = std::sync::OnceLock::new();

/// Installs the function that names the keys of a propagated write.
pub fn set_written_keys(f: WrittenKeys) {
    let _ = WRITTEN_KEYS.set(f);
}

impl Shard {
    pub fn new(id: ShardId, databases: usize) -> Shard {
        Shard {
            id,
            dbs: (0..databases).map(|_| Db::default()).collect(),
            log: WriteLog::default(),
            stats: ShardStats::default(),
            limits: EncodingLimits::default(),
            blocking: blocking::Blocking::default(),
            watches: watch::Watches::default(),
            notices: Default::default(),
            is_replica: false,
            eviction_pool: Default::default(),
            memory_view: Default::default(),
            worse_elsewhere: Default::default(),
            rng: 0x9E37_79B9_7F4A_7C15 ^ ((id as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D)) ^ unix_ms(),
        }
    }

    /// A cheap pseudo-random number below `n` (xorshift; RANDOMKEY and sampling only).
    pub fn rand_below(&mut self, n: usize) -> usize {
        let x = self.rng_next();
        if n == 0 { 0 } else { (x % n as u64) as usize }
    }

    /// The next number of the shard's xorshift sequence.
    fn rng_next(&mut self) -> u64 {
        next_random(&mut self.rng)
    }

    /// The one write door: logs `args` (the command as Redis propagates it) for `db` and
    /// invalidates WATCHes on the keys it changes.
    pub fn record(&mut self, db: usize, args: &[&[u8]]) {
        Self::record_in(&mut self.log, &mut self.watches, &mut self.blocking, db, args);
    }

    /// `record` on the parts it touches, for a caller that holds an entry of `dbs` meanwhile.
    fn record_in(
        log: &mut WriteLog,
        watches: &mut watch::Watches,
        blocking: &mut blocking::Blocking,
        db: usize,
        args: &[&[u8]],
    ) {
        log.emit(db, args);
        if (watches.is_empty() && !blocking.has_waiters()) || args.is_empty() {
            return;
        }
        let name = args[0];
        let whole_db = ["flushall", "flushdb", "swapdb"]
            .iter()
            .any(|c| name.eq_ignore_ascii_case(c.as_bytes()));
        // Whole-db writes touch watchers on every shard, before the change (`touch_whole_db`).
        if whole_db {
            return;
        }
        if let Some(f) = WRITTEN_KEYS.get() {
            // Any write to a key a client blocks on may serve it (RENAME onto it, a push...).
            f(args, &mut |k| {
                watches.touch(db, k);
                blocking.signal(db, k);
            });
        }
    }

    /// Invalidates WATCHes on keys of `db` (`None`: every db) that exist now: call it on every
    /// shard just before FLUSHDB / FLUSHALL / SWAPDB change them.
    pub fn touch_whole_db(&mut self, db: Option<usize>) {
        if self.watches.is_empty() {
            return;
        }
        let now = unix_ms();
        let dbs = &self.dbs;
        self.watches.touch_db(db, |d, k| {
            dbs.get(d)
                .and_then(|t| t.entry(key_hash(k), k))
                .is_some_and(|e| e.expire_at() == 0 || e.expire_at() > now)
        });
    }

    /// Runs one step of active expiry over every db; returns how many keys it removed and how
    /// many keys with a deadline it looked at. Each removal is logged as `DEL`, as Redis
    /// propagates expiry.
    pub fn active_expire(&mut self, now_ms: u64, segments_per_db: usize) -> (usize, usize) {
        if self.is_replica {
            return (0, 0);
        }
        let mut removed = 0;
        let mut examined = 0;
        for db in 0..self.dbs.len() {
            let (gone, looked_at) = self.dbs[db].expire_step(now_ms, segments_per_db);
            examined += looked_at;
            removed += gone.len();
            for key in gone {
                self.record(db, &[b"DEL", &key]);
                self.notices.push(notify::class::EXPIRED, db, "expired", &key);
            }
        }
        self.stats.expired_keys += removed as u64;
        (removed, examined)
    }
}

/// Steps a xorshift state (cheap, not for anything that must be unpredictable).
fn next_random(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

/// A uniform draw in [0, 1) from a xorshift state.
fn unit_draw(state: &mut u64) -> f64 {
    (next_random(state) >> 11) as f64 / (1u64 << 53) as f64
}

/// A key holds a value of another type than the command works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType;

/// What a command handler sees: one shard, the client's selected db, and the clock of this
/// batch (Redis also freezes the clock for the duration of a command).
pub struct ShardCx<'a> {
    pub shard: &'a mut Shard,
    pub db: usize,
    pub now_ms: u64,
}

impl<'a> ShardCx<'a> {
    pub fn new(shard: &'a mut Shard, db: usize, now_ms: u64) -> Self {
        ShardCx { shard, db, now_ms }
    }

    pub fn db(&mut self) -> &mut Db {
        &mut self.shard.dbs[self.db]
    }

    /// Logs a write as Redis would propagate it (see `writelog`).
    pub fn emit(&mut self, args: &[&[u8]]) {
        self.shard.record(self.db, args);
    }

    /// Tells keyspace subscribers that `event` (of `class`, `notify::class`) happened to `key`
    /// in this db, as redis-server's command would (`notify`).
    #[inline]
    pub fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        self.shard.notices.push(class, self.db, event, key);
    }

    /// `notify` for a key of another db (MOVE).
    pub fn notify_in(&mut self, db: usize, class: u32, event: &'static str, key: &[u8]) {
        self.shard.notices.push(class, db, event, key);
    }

    /// Logs the command exactly as the client sent it (writes that replicate verbatim).
    pub fn emit_argv(&mut self, argv: &[impl AsRef<[u8]>]) {
        if !self.shard.log.is_enabled() && self.shard.watches.is_empty() {
            self.shard.log.dirty += 1;
            return;
        }
        let args: Vec<&[u8]> = argv.iter().map(|b| b.as_ref()).collect();
        self.emit(&args);
    }

    /// The live entry under `key` if it holds a `kind`; `Err(WrongType)` if it holds another.
    pub fn lookup_typed(&mut self, key: &[u8], kind: Kind) -> Result<Option<&mut Entry>, WrongType> {
        match self.lookup(key) {
            Some(e) if e.kind() != kind => Err(WrongType),
            other => Ok(other),
        }
    }

    /// Deletes `key` if its deadline has passed, logging `DEL`. True when it was removed (on a
    /// replica: when it is logically expired, which hides it but leaves it in place).
    /// A keyspace with no expiring key skips the check, so its lookups find the key once.
    fn expire_if_due(&mut self, hash: u64, key: &[u8]) -> bool {
        if self.db().volatile_len() == 0 {
            return false;
        }
        let now = self.now_ms;
        let due = matches!(self.db().entry(hash, key), Some(e) if e.expire_at() != 0 && e.expire_at() <= now);
        if due && !self.shard.is_replica {
            self.db().remove(hash, key);
            self.shard.stats.expired_keys += 1;
            self.emit(&[b"DEL", key]);
            self.notify(notify::class::EXPIRED, "expired", key);
        }
        due
    }

    /// The live entry under `key`, marked as accessed (eviction's LRU or LFU mark): an expired
    /// key is removed on the way (lazy expiry).
    pub fn lookup(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.live(key, false, true)
    }

    /// `lookup` for reads: also counts keyspace hits and misses.
    pub fn lookup_read(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.live(key, true, true)
    }

    /// `lookup` that leaves the access mark alone, for what only looks at a key's existence,
    /// type or deadline (EXISTS, TYPE, TTL), as redis-server's do.
    pub fn peek(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.live(key, false, false)
    }

    /// `peek` for a client's read that only looks (EXISTS, TYPE, TTL): counted as a hit or a
    /// miss, and a miss told to keyspace subscribers, as redis-server's no-touch reads are.
    pub fn peek_read(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.live(key, true, false)
    }

    /// The one probe behind `lookup`, `lookup_read` and `peek`. A key found expired is removed
    /// and its DEL logged, as Redis propagates a lazy expiry; on a replica it is only hidden.
    fn live(&mut self, key: &[u8], count_read: bool, touch: bool) -> Option<&mut Entry> {
        let (db, now) = (self.db, self.now_ms);
        let shard = &mut *self.shard;
        let found = match shard.dbs[db].live_entry_mut(key_hash(key), key, now, !shard.is_replica) {
            Live::Found(e) => {
                if touch {
                    evict::note_access(e, now, || unit_draw(&mut shard.rng));
                }
                Some(e)
            }
            Live::Expired { removed } => {
                if removed {
                    shard.stats.expired_keys += 1;
                    Shard::record_in(
                        &mut shard.log,
                        &mut shard.watches,
                        &mut shard.blocking,
                        db,
                        &[b"DEL", key],
                    );
                    shard.notices.push(notify::class::EXPIRED, db, "expired", key);
                }
                None
            }
            Live::Missing => None,
        };
        if count_read {
            match found {
                Some(_) => shard.stats.keyspace_hits += 1,
                None => {
                    shard.stats.keyspace_misses += 1;
                    shard.notices.push(notify::class::KEY_MISS, db, "keymiss", key);
                }
            }
        }
        found
    }

    pub fn exists(&mut self, key: &[u8]) -> bool {
        self.peek(key).is_some()
    }

    /// The type of the live value under `key`.
    pub fn kind_of(&mut self, key: &[u8]) -> Option<Kind> {
        self.peek_read(key).map(|e| e.kind())
    }

    /// Stores a value (not logged: the caller emits what it did).
    pub fn put(&mut self, key: &[u8], value: Value, keep_ttl: bool) -> &mut Entry {
        self.put_with(key, keep_ttl, |db, hash| db.put(hash, key, value, keep_ttl))
    }

    /// `put` of a string straight from its bytes (integer form when canonical).
    pub fn put_string(&mut self, key: &[u8], bytes: &[u8], keep_ttl: bool) -> &mut Entry {
        self.put_with(key, keep_ttl, |db, hash| db.put_string(hash, key, bytes, keep_ttl))
    }

    /// What both puts do around the store itself: an expired key must not lend its TTL to
    /// KEEPTTL, and the entry is marked as just touched.
    fn put_with(&mut self, key: &[u8], keep_ttl: bool, store: impl FnOnce(&mut Db, u64) -> &mut Entry) -> &mut Entry {
        let hash = key_hash(key);
        let now = self.now_ms;
        if keep_ttl {
            self.expire_if_due(hash, key);
        }
        // redis-server tells "new" as it adds a key, before the command's own event.
        if notify::wanted(notify::class::NEW) && !self.exists(key) {
            self.notify(notify::class::NEW, "new", key);
        }
        let shard = &mut *self.shard;
        let e = store(&mut shard.dbs[self.db], hash);
        evict::note_access(e, now, || unit_draw(&mut shard.rng));
        e
    }

    /// Removes a live key (not logged: the caller emits what it did).
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let hash = key_hash(key);
        if self.expire_if_due(hash, key) {
            if self.shard.is_replica {
                // The master's DEL of a key that is already logically gone.
                self.db().remove(hash, key);
            }
            return None;
        }
        self.db().remove(hash, key)
    }

    /// Sets the absolute expiry of a live key (0 = persist). False when the key is missing.
    pub fn set_expire(&mut self, key: &[u8], at_ms: u64) -> bool {
        let hash = key_hash(key);
        self.expire_if_due(hash, key);
        self.db().set_expire(hash, key, at_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lazy_expiry_removes_and_logs_del() {
        let mut shard = Shard::new(0, 16);
        shard.log.set_enabled(true);
        let mut cx = ShardCx::new(&mut shard, 2, 1_000);
        cx.put(b"k", Value::string(b"v"), false);
        assert!(cx.set_expire(b"k", 1_500));
        assert!(cx.lookup(b"k").is_some());
        cx.now_ms = 1_500;
        assert!(cx.lookup(b"k").is_none());
        let recs = shard.log.drain();
        assert_eq!(recs.iter().last().map(|r| r.db), Some(2));
        assert_eq!(shard.dbs[2].volatile_len(), 0);
    }

    #[test]
    fn active_expiry_frees_untouched_keys() {
        let mut shard = Shard::new(0, 1);
        let mut cx = ShardCx::new(&mut shard, 0, 1_000);
        for i in 0..500 {
            let k = format!("k{i}");
            cx.put(k.as_bytes(), Value::Int(i), false);
            if i % 2 == 0 {
                cx.set_expire(k.as_bytes(), 2_000);
            }
        }
        let (mut removed, mut examined) = (0, 0);
        for _ in 0..100 {
            let (gone, looked_at) = shard.active_expire(3_000, 4);
            removed += gone;
            examined += looked_at;
        }
        assert_eq!(removed, 250);
        assert_eq!(examined, 250, "each key with a deadline is looked at until it is gone");
        assert_eq!(shard.dbs[0].len(), 250);
    }

    #[test]
    fn the_stale_share_is_smoothed_over_cycles() {
        let mut stats = ShardStats::default();
        stats.note_expire_cycle(10, 10, 300, false);
        assert!((stats.expired_stale_perc - 0.05).abs() < 1e-9);
        stats.note_expire_cycle(0, 0, 200, true);
        assert!((stats.expired_stale_perc - 0.0475).abs() < 1e-9);
        assert_eq!((stats.expire_cycle_us, stats.expire_cycles_capped), (500, 1));
    }
}
