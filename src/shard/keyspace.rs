//! One database of one shard: the key table plus expiry bookkeeping.
//!
//! Every change of a key's expiry goes through here, so the count of volatile keys (INFO
//! keyspace `expires=`, and whether the active cycle has work) stays exact.

use super::snapshot::{DbSnapshot, EntryEncoder};
use crate::store::{Entry, Probe, SegTable, Value};
use crate::util::bytes_eq;

/// What a lookup that honours deadlines found ([`Db::live_entry_mut`]).
pub enum Live<'a> {
    Found(&'a mut Entry),
    /// The deadline has passed; `removed` when the entry was taken out.
    Expired {
        removed: bool,
    },
    Missing,
}

/// Every change to `table` goes through a `&mut self` method here that first calls
/// `before_write`, so a snapshot in progress saves what the change is about to alter, and
/// every insert marks the new entry with `epoch` (see `shard::snapshot`).
#[derive(Default)]
pub struct Db {
    table: SegTable<Entry>,
    volatile: usize,
    /// Where the active expiry cycle resumes (a segment index).
    expire_cursor: usize,
    /// Estimated average time to live of the keys with a deadline, in ms (INFO keyspace
    /// `avg_ttl`): a running average over what the active expiry cycle samples.
    avg_ttl_ms: u64,
    /// The snapshot in progress, if any.
    snapshot: Option<Box<DbSnapshot>>,
    /// The epoch of the latest snapshot begun here; inserted entries carry it.
    epoch: u32,
}

impl Db {
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Bytes of the key table's own structure (MEMORY STATS `overhead.hashtable.main`).
    pub fn table_bytes(&self) -> usize {
        self.table.structure_bytes()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Keys with an expiry set.
    pub fn volatile_len(&self) -> usize {
        self.volatile
    }

    /// The entry under `key`, whether expired or not (callers check expiry).
    pub fn entry(&self, hash: u64, key: &[u8]) -> Option<&Entry> {
        self.table.find(hash, |e| bytes_eq(e.key(), key))
    }

    /// Prefetches what looking up each of a batch's keys will read, given their hashes
    /// (see `SegTable::prefetch_many`).
    pub fn prefetch(&self, hashes: &[u64]) {
        self.table.prefetch_many(hashes, Entry::prefetch);
    }

    pub fn entry_mut(&mut self, hash: u64, key: &[u8]) -> Option<&mut Entry> {
        self.before_write(hash, key);
        self.table.find_mut(hash, |e| bytes_eq(e.key(), key))
    }

    /// The entry under `key` unless its deadline has passed, found in one probe. An expired
    /// entry is removed when `remove_expired` (a master's lazy expiry), else only hidden (a
    /// replica waits for its master's DEL).
    pub fn live_entry_mut(&mut self, hash: u64, key: &[u8], now_ms: u64, remove_expired: bool) -> Live<'_> {
        self.before_write(hash, key);
        let due = |e: &Entry| e.expire_at() != 0 && e.expire_at() <= now_ms;
        let probe = self
            .table
            .find_mut_or_remove_if(hash, |e| bytes_eq(e.key(), key), |e| remove_expired && due(e));
        match probe {
            Probe::Found(e) if due(e) => Live::Expired { removed: false },
            Probe::Found(e) => Live::Found(e),
            Probe::Removed(_) => {
                self.volatile -= 1;
                Live::Expired { removed: true }
            }
            Probe::Missing => Live::Missing,
        }
    }

    /// Lets a snapshot in progress save the entry under `key` before it changes.
    #[inline]
    fn before_write(&mut self, hash: u64, key: &[u8]) {
        if let Some(snap) = self.snapshot.as_mut()
            && let Some(e) = self.table.find_mut(hash, |e| bytes_eq(e.key(), key))
        {
            snap.save(e);
        }
    }

    /// Inserts an entry known to be absent, marked as newer than any snapshot in progress.
    fn insert(&mut self, hash: u64, mut entry: Entry) -> &mut Entry {
        entry.set_saved_in(self.epoch);
        self.table.insert_new(hash, entry)
    }

    /// Starts this db's part of snapshot `epoch` (epochs only grow, the same on every db of
    /// a shard): from now on the db is saved as it is now. A db that is empty now needs no
    /// saving, only the new epoch for what gets inserted.
    pub fn begin_snapshot(&mut self, number: usize, epoch: u32, encode: EntryEncoder) {
        self.epoch = epoch;
        self.snapshot = (!self.is_empty()).then(|| Box::new(DbSnapshot::new(number, epoch, encode)));
    }

    /// The epoch of the latest snapshot begun here.
    pub fn snapshot_epoch(&self) -> u32 {
        self.epoch
    }

    /// Saves more of the snapshot, up to about `budget` bytes. Returns the db's number at the
    /// instant with the bytes produced since the last call (including those written-through
    /// by writes), and whether this db's part is complete (its snapshot state is then gone).
    /// `fresh` gives the empty buffer that replaces a taken one.
    pub fn snapshot_step(&mut self, budget: usize, fresh: impl FnOnce() -> Vec<u8>) -> Option<(usize, Vec<u8>, bool)> {
        let snap = self.snapshot.as_mut()?;
        let done = snap.step(&mut self.table, budget);
        let bytes = if snap.out.is_empty() {
            Vec::new()
        } else {
            std::mem::replace(&mut snap.out, fresh())
        };
        let out = (snap.number, bytes, done);
        if done {
            self.end_snapshot();
        }
        Some(out)
    }

    /// Drops the snapshot state (finished, or abandoned).
    pub fn end_snapshot(&mut self) {
        self.snapshot = None;
    }

    pub fn in_snapshot(&self) -> bool {
        self.snapshot.is_some()
    }

    /// Stores `value` under `key`. An existing key keeps its expiry only with `keep_ttl`
    /// (SET without KEEPTTL clears it, as in Redis).
    pub fn put(&mut self, hash: u64, key: &[u8], value: Value, keep_ttl: bool) -> &mut Entry {
        self.put_with(hash, key, keep_ttl, value, Entry::set_value, Entry::new)
    }

    /// `put` of a string value straight from its bytes (the SET path: no value buffer).
    pub fn put_string(&mut self, hash: u64, key: &[u8], bytes: &[u8], keep_ttl: bool) -> &mut Entry {
        self.put_with(hash, key, keep_ttl, bytes, Entry::set_string, Entry::new_string)
    }

    fn put_with<V>(
        &mut self,
        hash: u64,
        key: &[u8],
        keep_ttl: bool,
        value: V,
        replace: impl FnOnce(&mut Entry, V),
        create: impl FnOnce(&[u8], V) -> Entry,
    ) -> &mut Entry {
        self.before_write(hash, key);
        let epoch = self.epoch;
        let mut fresh = Some(value);
        let (e, inserted) = self.table.find_or_insert_with(
            hash,
            |e| bytes_eq(e.key(), key),
            || {
                let mut entry = create(key, fresh.take().expect("created once"));
                entry.set_saved_in(epoch);
                entry
            },
        );
        if !inserted {
            let value = fresh.expect("kept for the update");
            // The expiry goes first, so that the value after it is moved by neither change.
            if !keep_ttl && e.expire_at() != 0 {
                e.set_expire_at(0);
                self.volatile -= 1;
            }
            replace(e, value);
        }
        e
    }

    /// Inserts a whole entry (RENAME, MOVE, COPY), replacing any entry with the same key.
    pub fn put_entry(&mut self, entry: Entry) {
        let _ = self.remove(entry.hash(), entry.key());
        if entry.expire_at() != 0 {
            self.volatile += 1;
        }
        self.insert(entry.hash(), entry);
    }

    pub fn remove(&mut self, hash: u64, key: &[u8]) -> Option<Entry> {
        self.before_write(hash, key);
        let e = self.table.remove(hash, |e| bytes_eq(e.key(), key))?;
        if e.expire_at() != 0 {
            self.volatile -= 1;
        }
        Some(e)
    }

    /// Sets (or with 0 clears) the expiry of an existing key; false when the key is missing.
    pub fn set_expire(&mut self, hash: u64, key: &[u8], at_ms: u64) -> bool {
        self.before_write(hash, key);
        let Some(e) = self.table.find_mut(hash, |e| bytes_eq(e.key(), key)) else {
            return false;
        };
        match (e.expire_at() != 0, at_ms != 0) {
            (false, true) => self.volatile += 1,
            (true, false) => self.volatile -= 1,
            _ => {}
        }
        e.set_expire_at(at_ms);
        true
    }

    pub fn clear(&mut self) {
        let old = std::mem::take(&mut self.table);
        match self.snapshot.as_mut() {
            // The snapshot still needs the old contents; it saves and drops them later.
            Some(snap) => snap.detach(old),
            None => drop(old),
        }
        self.volatile = 0;
        self.expire_cursor = 0;
    }

    pub fn segment_count(&self) -> usize {
        self.table.segment_count()
    }

    pub fn segment(&self, seg: usize) -> impl Iterator<Item = &Entry> {
        self.table.segment(seg)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.table.iter()
    }

    pub fn random(&self, rand: impl FnMut(usize) -> usize) -> Option<&Entry> {
        self.table.random(rand)
    }

    /// Eviction's sample: visits up to `want` entries (with `volatile_only`, only those with a
    /// deadline) from consecutive segments, beginning at a place `start` picks (any number,
    /// from a random source) and at a varying offset within each segment, so every key gets
    /// its turn. Keys with deadlines may be rare: the walk goes on past 16 segments only
    /// while it has found none. Entries are taken a few at a time and prefetched together:
    /// each is a separate block, so reading them one by one waits on one miss after another.
    pub fn sample(&self, volatile_only: bool, want: usize, start: u64, mut visit: impl FnMut(&Entry)) {
        const BATCH: usize = 8;
        let mut batch: [Option<&Entry>; BATCH] = [None; BATCH];
        let mut queued = 0;
        let mut seen = 0;
        // Visits what is queued; true once `want` entries have been visited.
        let mut drain = |batch: &mut [Option<&Entry>; BATCH], queued: &mut usize, seen: &mut usize| {
            for e in batch[..*queued].iter().flatten() {
                e.prefetch();
            }
            for e in batch[..*queued].iter_mut().filter_map(Option::take) {
                if !volatile_only || e.expire_at() != 0 {
                    visit(e);
                    *seen += 1;
                    if *seen >= want {
                        return true;
                    }
                }
            }
            *queued = 0;
            false
        };
        let segments = self.table.segment_count();
        let first = (start % segments as u64) as usize;
        for i in 0..segments {
            if seen > 0 && i >= 16 {
                break;
            }
            let seg = (first + i) % segments;
            let len = self.table.segment_len(seg);
            if len == 0 {
                continue;
            }
            let offset = ((start >> 32) as usize + i) % len;
            let entries = self
                .table
                .segment(seg)
                .skip(offset)
                .chain(self.table.segment(seg).take(offset));
            for e in entries {
                batch[queued] = Some(e);
                queued += 1;
                // Without a filter no more than are wanted are read.
                let enough = !volatile_only && seen + queued >= want;
                if (queued == BATCH || enough) && drain(&mut batch, &mut queued, &mut seen) {
                    return;
                }
            }
        }
        drain(&mut batch, &mut queued, &mut seen);
    }

    /// One step of the active expiry cycle: removes expired entries from up to `segments`
    /// segments, resuming where the last step stopped. Returns the removed keys and how many
    /// keys with a deadline it looked at (expired or not).
    pub fn expire_step(&mut self, now_ms: u64, segments: usize) -> (Vec<Box<[u8]>>, usize) {
        let mut gone = Vec::new();
        let mut examined = 0;
        if self.volatile == 0 {
            self.avg_ttl_ms = 0;
            return (gone, examined);
        }
        let (mut ttl_sum, mut ttl_samples) = (0u64, 0u64);
        for _ in 0..segments.min(self.table.segment_count()) {
            if self.expire_cursor >= self.table.segment_count() {
                self.expire_cursor = 0;
            }
            if let Some(snap) = self.snapshot.as_mut() {
                snap.save_segment(&mut self.table, self.expire_cursor);
            }
            let removed = self.table.extract_from_segment(self.expire_cursor, |e| {
                let at = e.expire_at();
                examined += usize::from(at != 0);
                if at > now_ms {
                    ttl_sum += at - now_ms;
                    ttl_samples += 1;
                }
                at != 0 && at <= now_ms
            });
            self.volatile -= removed.len();
            gone.extend(removed.into_iter().map(|e| Box::<[u8]>::from(e.key())));
            self.expire_cursor += 1;
            if self.volatile == 0 {
                break;
            }
        }
        if let Some(avg) = ttl_sum.checked_div(ttl_samples) {
            self.note_ttl_sample(avg);
        }
        (gone, examined)
    }

    /// Folds one step's average TTL into the running estimate: the first sample sets it,
    /// later ones move it by a fiftieth, as redis-server's expiry cycle does.
    fn note_ttl_sample(&mut self, avg_ms: u64) {
        if self.avg_ttl_ms == 0 {
            self.avg_ttl_ms = avg_ms;
        }
        self.avg_ttl_ms = self.avg_ttl_ms / 50 * 49 + avg_ms / 50;
    }

    /// The running estimate of the keys' average TTL in ms (0 until the cycle sampled any).
    pub fn avg_ttl_ms(&self) -> u64 {
        self.avg_ttl_ms
    }
}
