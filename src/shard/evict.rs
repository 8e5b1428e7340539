//! Keeping the data under `maxmemory`: which keys go, and the access marks that choose them.
//!
//! Each shard evicts from its own keyspace, as redis-server evicts from its one keyspace:
//! before a command that may grow memory runs on it, and from the core's background cycle.
//! The limit is the whole process's (the allocator's count, `server::alloc`), so shards that
//! take writes give way together, and a shard whose keys are all busier than another's, or
//! that has none left, has the others give way for it (`give_way`). Candidates are sampled
//! as redis-server samples them (`maxmemory-samples` keys), by idle time (LRU), a logarithmic
//! access counter (LFU), time to live (TTL), or at random.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};

use super::{Shard, give_way, key_hash};
use crate::store::Entry;

/// How eviction ranks the keys it may take, and which keys it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    NoEviction,
    AllKeys(Rank),
    /// Only keys with a deadline.
    Volatile(Rank),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rank {
    Lru,
    Lfu,
    Random,
    Ttl,
}

impl Policy {
    fn code(self) -> u8 {
        let rank = |r: Rank| r as u8;
        match self {
            Policy::NoEviction => 0,
            Policy::AllKeys(r) => 1 + rank(r),
            Policy::Volatile(r) => 5 + rank(r),
        }
    }

    fn from_code(code: u8) -> Policy {
        const RANKS: [Rank; 4] = [Rank::Lru, Rank::Lfu, Rank::Random, Rank::Ttl];
        match code {
            1..=4 => Policy::AllKeys(RANKS[code as usize - 1]),
            5..=8 => Policy::Volatile(RANKS[code as usize - 5]),
            _ => Policy::NoEviction,
        }
    }

    fn rank(self) -> Option<Rank> {
        match self {
            Policy::NoEviction => None,
            Policy::AllKeys(r) | Policy::Volatile(r) => Some(r),
        }
    }
}

/// The eviction settings, process-wide, copied from the config at start and on CONFIG SET
/// (read on every write that may grow memory, so atomics rather than the config's lock).
static MAXMEMORY: AtomicU64 = AtomicU64::new(0);
static POLICY: AtomicU8 = AtomicU8::new(0);
static SAMPLES: AtomicU32 = AtomicU32::new(5);
static LFU_LOG_FACTOR: AtomicU32 = AtomicU32::new(10);
static LFU_DECAY_MINUTES: AtomicU32 = AtomicU32::new(1);
/// The policy is an LFU one (read on every key access, so kept apart from `POLICY`).
static LFU_MODE: AtomicBool = AtomicBool::new(false);
/// `replica-ignore-maxmemory no`: a replica evicts keys itself.
static REPLICA_EVICTS: AtomicBool = AtomicBool::new(false);

/// Installs the eviction settings.
pub fn configure(
    maxmemory: u64,
    policy: Policy,
    samples: u32,
    lfu_log_factor: u32,
    lfu_decay_minutes: u32,
    replica_ignores_maxmemory: bool,
) {
    REPLICA_EVICTS.store(!replica_ignores_maxmemory, Ordering::Relaxed);
    MAXMEMORY.store(maxmemory, Ordering::Relaxed);
    POLICY.store(policy.code(), Ordering::Relaxed);
    LFU_MODE.store(policy.rank() == Some(Rank::Lfu), Ordering::Relaxed);
    SAMPLES.store(samples.max(1), Ordering::Relaxed);
    LFU_LOG_FACTOR.store(lfu_log_factor, Ordering::Relaxed);
    LFU_DECAY_MINUTES.store(lfu_decay_minutes, Ordering::Relaxed);
}

/// `maxmemory` in bytes; 0 is no limit.
pub fn maxmemory() -> u64 {
    MAXMEMORY.load(Ordering::Relaxed)
}

pub fn policy() -> Policy {
    Policy::from_code(POLICY.load(Ordering::Relaxed))
}

/// Whether access marks are LFU counters (an LFU policy) rather than access times.
pub fn lfu_mode() -> bool {
    LFU_MODE.load(Ordering::Relaxed)
}

/// Whether the process holds more than `maxmemory` (never, without a limit).
pub fn over_limit() -> bool {
    let max = maxmemory();
    max != 0 && counted_bytes() > max
}

/// Whether the process holds more than nine tenths of `maxmemory`.
pub fn near_limit() -> bool {
    let max = maxmemory();
    max != 0 && counted_bytes() > max / 10 * 9
}

/// What counts against `maxmemory`: all the process holds but what is queued for replicas.
fn counted_bytes() -> u64 {
    crate::server::alloc::used_bytes().saturating_sub(crate::repl::buffered_for_replicas())
}

// ---------------------------------------------------------------------------------------------
// Access marks. An entry keeps 32 bits for them (`Entry::touched`): under LRU the server
// clock in seconds; under LFU, as in redis-server, the minute of the last decay (16 bits)
// and a logarithmic access counter (8 bits). Switching between the two reads old marks the
// new way for a while, as it does in redis-server.
// ---------------------------------------------------------------------------------------------

/// The counter a new key starts with under LFU, so it is not the first to go.
const LFU_INIT: u32 = 5;

fn minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) & 0xFFFF) as u32
}

/// The LFU counter of `mark` after the decay its idle minutes call for.
fn decayed(mark: u32, now_ms: u64) -> u32 {
    // Masked: a mark written under LRU (seconds) is read here too, after a policy switch.
    let (then, counter) = ((mark >> 8) & 0xFFFF, mark & 0xFF);
    let now = minutes(now_ms);
    let idle = if now >= then { now - then } else { 0x10000 - then + now };
    let per = LFU_DECAY_MINUTES.load(Ordering::Relaxed);
    let periods = idle.checked_div(per).unwrap_or(0);
    counter.saturating_sub(periods)
}

/// Marks an access to `e` at `now_ms`; `chance` gives a uniform draw in [0, 1) for the LFU
/// counter's logarithmic step. A mark of 0 is a new entry's (blocks start zeroed): it starts
/// at the initial count. Under LRU a mark already at this second is left as it is, so a key
/// read many times a second is not written to on every read.
#[inline]
pub fn note_access(e: &mut Entry, now_ms: u64, chance: impl FnOnce() -> f64) {
    if LFU_MODE.load(Ordering::Relaxed) {
        note_lfu_access(e, now_ms, chance());
        return;
    }
    let now_s = (now_ms / 1000) as u32;
    if e.touched() != now_s {
        e.set_touched(now_s);
    }
}

fn note_lfu_access(e: &mut Entry, now_ms: u64, draw: f64) {
    let mark = e.touched();
    let mut counter = decayed(mark, now_ms);
    if mark == 0 {
        counter = LFU_INIT;
    } else if counter < 255 {
        let base = counter.saturating_sub(LFU_INIT) as f64;
        let factor = LFU_LOG_FACTOR.load(Ordering::Relaxed) as f64;
        if draw < 1.0 / (base * factor + 1.0) {
            counter += 1;
        }
    }
    e.set_touched((minutes(now_ms) << 8) | counter);
}

/// RESTORE's IDLETIME / FREQ: sets `e`'s access mark as redis-server does, each only under
/// the policy it belongs to (FREQ under an LFU policy, IDLETIME under any other).
pub fn restore_mark(e: &mut Entry, now_ms: u64, idle_s: Option<u64>, freq: Option<u32>) {
    if LFU_MODE.load(Ordering::Relaxed) {
        if let Some(f) = freq {
            e.set_touched((minutes(now_ms) << 8) | f.min(255));
        }
    } else if let Some(idle) = idle_s {
        let now_s = (now_ms / 1000) as u32;
        e.set_touched(now_s.saturating_sub(idle.min(u64::from(u32::MAX)) as u32));
    }
}

/// `OBJECT FREQ`: the entry's LFU counter as of now.
pub fn frequency(e: &Entry, now_ms: u64) -> u32 {
    decayed(e.touched(), now_ms)
}

/// How much `e` deserves to go under `rank`: higher goes first.
fn badness(rank: Rank, e: &Entry, now_ms: u64) -> u64 {
    match rank {
        Rank::Lru => u64::from(((now_ms / 1000) as u32).saturating_sub(e.touched())),
        Rank::Lfu => u64::from(255 - decayed(e.touched(), now_ms).min(255)),
        Rank::Ttl => u64::MAX - e.expire_at(),
        Rank::Random => 0,
    }
}

/// A shard's estimate of the bytes the process holds. Summing every thread's counter reads a
/// cache line each other core writes, too dear for every write on a many-core host; so the
/// sum is taken at most once per millisecond of the shard's clock, or when this thread's own
/// counter has moved by more than `DRIFT` since, and in between this thread's own change is
/// added to it. What the other shards add meanwhile is at most their own drift each.
#[derive(Default)]
pub struct MemoryView {
    sum: u64,
    own: isize,
    at_ms: u64,
}

/// How far this thread's own count may move before the sum is taken again.
const DRIFT: usize = 256 << 10;

impl MemoryView {
    fn used(&mut self, now_ms: u64) -> u64 {
        let own = crate::server::alloc::this_thread_bytes();
        let drift = own - self.own;
        if now_ms != self.at_ms || drift.unsigned_abs() > DRIFT {
            self.sum = counted_bytes();
            self.own = own;
            self.at_ms = now_ms;
            return self.sum;
        }
        self.sum.saturating_add_signed(drift as i64)
    }
}

/// What `Shard::make_room` achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    /// Under the limit (or no limit).
    Enough,
    /// Still over after this call's share of evictions; more go on the next call.
    Evicting,
    /// Over, and another shard was asked to evict for this one (it holds idler keys, or this
    /// one has none it may evict): commands that may grow memory run meanwhile, up to a
    /// slack over the limit.
    Elsewhere,
    /// Over, and nothing here or on any other shard may be evicted (or the others are too
    /// far behind): commands that may grow memory are refused.
    Full,
}

/// What one step of eviction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Evicted,
    /// The policy lets this shard evict nothing.
    NoneHere,
    /// Another shard holds a clearly worse candidate: it was left to that shard.
    Deferred(usize),
}

/// Evictions one call makes at most, so a write never waits long behind them (redis-server
/// bounds its own by time, `maxmemory-eviction-tenacity`).
const EVICTIONS_PER_CALL: usize = 64;

impl Shard {
    /// Makes room for a command while the process holds more than `maxmemory`: evicts keys
    /// of this shard, or has another shard evict for it (`give_way`). A replica evicts
    /// nothing unless `replica-ignore-maxmemory` is off: its master's DELs keep it in step.
    /// One that evicts diverges from its master, as a redis-server replica does: its own DELs
    /// are not in the stream it passes on (`repl::replica`).
    pub fn make_room(&mut self, now_ms: u64) -> Room {
        self.evict_while_over(now_ms, true)
    }

    /// The helper's eviction (`server::start`): as `make_room`, but a shard with nothing left
    /// asks no other shard (helpers would wake each other for nothing), and a shard whose
    /// candidates are busier than another's leaves the evicting to it whatever the slack.
    pub fn evict_own(&mut self, now_ms: u64) -> Room {
        self.evict_while_over(now_ms, false)
    }

    fn evict_while_over(&mut self, now_ms: u64, for_command: bool) -> Room {
        let max = maxmemory();
        if max == 0 || self.ignores_maxmemory() || self.memory_view.used(now_ms) <= max {
            return Room::Enough;
        }
        let policy = policy();
        for _ in 0..EVICTIONS_PER_CALL {
            let mut step = self.evict_one(policy, now_ms, true);
            if let Step::Deferred(other) = step {
                // Deferring only ever goes to a clearly worse candidate, so helpers that
                // defer in turn never come back round to this shard.
                give_way::ask(other);
                if !for_command || self.within_slack(max, now_ms) {
                    return Room::Elsewhere;
                }
                // The other shard is behind: this one makes room itself after all.
                step = self.evict_one(policy, now_ms, false);
            }
            if step == Step::NoneHere {
                give_way::note_exhausted(self.id, true);
                if !for_command || policy == Policy::NoEviction {
                    return Room::Full;
                }
                return self.none_left_here(max, now_ms);
            }
            give_way::note_exhausted(self.id, false);
            if self.memory_view.used(now_ms) <= max {
                return Room::Enough;
            }
        }
        Room::Evicting
    }

    /// A replica under `replica-ignore-maxmemory yes` (the default).
    fn ignores_maxmemory(&self) -> bool {
        self.is_replica && !REPLICA_EVICTS.load(Ordering::Relaxed)
    }

    /// Whether the process is within the slack over `max` that writes may take while other
    /// shards evict for this one (a sixteenth of the limit).
    pub(super) fn within_slack(&mut self, max: u64, now_ms: u64) -> bool {
        self.memory_view.used(now_ms) <= max.saturating_add(max / 16)
    }

    /// Whether `policy` would let this shard evict any key now.
    pub fn has_evictable_keys(&self) -> bool {
        let volatile = match policy() {
            Policy::NoEviction => return false,
            Policy::AllKeys(_) => false,
            Policy::Volatile(_) => true,
        };
        self.dbs.iter().any(|db| eligible(db, volatile))
    }

    /// Samples candidates into the pool and publishes the best one's score, without evicting
    /// (the helper does so near the limit, so that other shards can compare with this one).
    pub fn publish_best_candidate(&mut self, now_ms: u64) {
        let policy = policy();
        let Some(rank) = policy
            .rank()
            .filter(|r| *r != Rank::Random && !self.ignores_maxmemory())
        else {
            return;
        };
        self.refill_pool(rank, matches!(policy, Policy::Volatile(_)), now_ms);
        if let Some(score) = self.eviction_pool.best_score() {
            self.publish_best(score);
        }
    }

    /// Picks a victim by `policy` and evicts it, as a DEL in the stream; or, when `may_defer`
    /// and another shard holds a clearly worse candidate, leaves the eviction to it.
    fn evict_one(&mut self, policy: Policy, now_ms: u64, may_defer: bool) -> Step {
        let Some(rank) = policy.rank() else {
            return Step::NoneHere;
        };
        let volatile = matches!(policy, Policy::Volatile(_));
        let victim = if rank == Rank::Random {
            self.random_victim(volatile)
        } else {
            self.refill_pool(rank, volatile, now_ms);
            if let Some(score) = self.eviction_pool.best_score() {
                self.publish_best(score);
                if may_defer && let Some(other) = self.worse_elsewhere(rank, score, now_ms) {
                    return Step::Deferred(other);
                }
            }
            self.best_from_pool(volatile)
        };
        let Some((db, key)) = victim else { return Step::NoneHere };
        self.dbs[db].remove(key_hash(&key), &key);
        self.stats.evicted_keys += 1;
        self.record(db, &[b"DEL", &key]);
        self.notices.push(super::notify::class::EVICTED, db, "evicted", &key);
        Step::Evicted
    }

    /// A key of a random eligible db, taken at random.
    fn random_victim(&mut self, volatile: bool) -> Option<(usize, Box<[u8]>)> {
        let dbs = self.dbs.len();
        let first = self.rand_below(dbs);
        for i in 0..dbs {
            let db = (first + i) % dbs;
            if !eligible(&self.dbs[db], volatile) {
                continue;
            }
            let start = self.rng_next();
            let mut found = None;
            self.dbs[db].sample(volatile, 1, start, |e| found = Some(e.key().into()));
            if let Some(key) = found {
                return Some((db, key));
            }
        }
        None
    }

    /// Samples `maxmemory-samples` keys of every eligible db into the pool of candidates.
    fn refill_pool(&mut self, rank: Rank, volatile: bool, now_ms: u64) {
        let samples = SAMPLES.load(Ordering::Relaxed) as usize;
        for db in 0..self.dbs.len() {
            if !eligible(&self.dbs[db], volatile) {
                continue;
            }
            let start = self.rng_next();
            let pool = &mut self.eviction_pool;
            self.dbs[db].sample(volatile, samples, start, |e| {
                pool.offer(badness(rank, e, now_ms), db, e)
            });
        }
    }

    /// The pool's best candidate that is still there (a key deleted, or under a volatile policy
    /// made persistent, since it was sampled is passed over).
    fn best_from_pool(&mut self, volatile: bool) -> Option<(usize, Box<[u8]>)> {
        while let Some((db, key)) = self.eviction_pool.take_best() {
            let live = self.dbs[db]
                .entry(key_hash(&key), &key)
                .is_some_and(|e| !volatile || e.expire_at() != 0);
            if live {
                return Some((db, key));
            }
        }
        None
    }
}

fn eligible(db: &super::Db, volatile: bool) -> bool {
    !db.is_empty() && (!volatile || db.volatile_len() > 0)
}

/// Candidates kept between evictions, best last, as redis-server keeps its eviction pool:
/// each eviction compares its new samples with the best of the earlier ones, which makes
/// five samples at a time pick far better victims than five alone would.
#[derive(Default)]
pub struct EvictionPool {
    candidates: Vec<Candidate>,
}

struct Candidate {
    score: u64,
    /// The entry's `Entry::id` when sampled: the same id is the same entry, or one that took
    /// its block since, which is then the one worth keeping anyway.
    id: usize,
    db: usize,
    key: Box<[u8]>,
}

/// Candidates the pool keeps.
const POOL_SIZE: usize = 16;

impl EvictionPool {
    /// Considers a sampled entry: kept when the pool has room or it beats the worst candidate.
    fn offer(&mut self, score: u64, db: usize, e: &Entry) {
        let id = e.id();
        if let Some(i) = self.candidates.iter().position(|c| c.id == id) {
            self.candidates.remove(i);
        }
        if self.candidates.len() >= POOL_SIZE && self.candidates[0].score >= score {
            return;
        }
        let at = self.candidates.partition_point(|c| c.score < score);
        let key = e.key().into();
        self.candidates.insert(at, Candidate { score, id, db, key });
        if self.candidates.len() > POOL_SIZE {
            self.candidates.remove(0);
        }
    }

    /// The best candidate's score.
    fn best_score(&self) -> Option<u64> {
        self.candidates.last().map(|c| c.score)
    }

    fn take_best(&mut self) -> Option<(usize, Box<[u8]>)> {
        self.candidates.pop().map(|c| (c.db, c.key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_keeps_the_best_candidates_and_gives_the_best_first() {
        let entries: Vec<Entry> = (0..40u64)
            .map(|n| Entry::new_string(format!("k{n}").as_bytes(), b"v"))
            .collect();
        let mut pool = EvictionPool::default();
        for (score, e) in entries.iter().enumerate() {
            pool.offer(score as u64 * 7 % 40, 0, e);
        }
        assert_eq!(pool.candidates.len(), POOL_SIZE);
        // Offered again with a new score, an entry is not kept twice.
        pool.offer(100, 0, &entries[1]);
        assert_eq!(pool.take_best(), Some((0, b"k1".to_vec().into_boxed_slice())));
        let mut last = u64::MAX;
        while let Some((_, key)) = pool.take_best() {
            let n: u64 = std::str::from_utf8(&key[1..]).unwrap().parse().unwrap();
            let score = n * 7 % 40;
            assert!(score < last && score >= 40 - POOL_SIZE as u64 - 1, "score {score}");
            last = score;
        }
    }

    #[test]
    fn policy_codes_round_trip() {
        for rank in [Rank::Lru, Rank::Lfu, Rank::Random, Rank::Ttl] {
            for p in [Policy::AllKeys(rank), Policy::Volatile(rank)] {
                assert_eq!(Policy::from_code(p.code()), p);
            }
        }
        assert_eq!(Policy::from_code(Policy::NoEviction.code()), Policy::NoEviction);
    }

    #[test]
    fn lfu_counters_decay_by_idle_minutes_across_the_wrap() {
        // Counter 20, last decay at minute 10: three minutes later, three periods of 1 min.
        let mark = (10 << 8) | 20;
        assert_eq!(decayed(mark, 13 * 60_000), 17);
        // The 16-bit minute clock wrapped: 0xFFFE then 1 is three minutes.
        let mark = (0xFFFE << 8) | 20;
        assert_eq!(decayed(mark, (0x10000 + 1) * 60_000), 17);
        assert_eq!(decayed(mark, (0x10000 + 100) * 60_000), 0);
        // An LRU mark (seconds since 1970) read as an LFU one gives some counter, no overflow.
        assert!(decayed(1_784_290_228, 1_784_290_228_000) <= 255);
    }
}
