//! One database of one shard: the key table plus expiry bookkeeping.
//!
//! Every change of a key's expiry goes through here, so the count of volatile keys (INFO
//! keyspace `expires=`, and whether the active cycle has work) stays exact.

use crate::store::{Entry, SegTable, Value};

#[derive(Default)]
pub struct Db {
    table: SegTable<Entry>,
    volatile: usize,
    /// Where the active expiry cycle resumes (a segment index).
    expire_cursor: usize,
}

impl Db {
    pub fn len(&self) -> usize {
        self.table.len()
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
        self.table.find(hash, |e| e.key() == key)
    }

    pub fn entry_mut(&mut self, hash: u64, key: &[u8]) -> Option<&mut Entry> {
        self.table.find_mut(hash, |e| e.key() == key)
    }

    /// Stores `value` under `key`. An existing key keeps its expiry only with `keep_ttl`
    /// (SET without KEEPTTL clears it, as in Redis).
    pub fn put(&mut self, hash: u64, key: &[u8], value: Value, keep_ttl: bool) -> &mut Entry {
        // Two lookups on the insert path keep the borrow checker simple; the miss is cheap.
        if self.table.find(hash, |e| e.key() == key).is_some() {
            let volatile = &mut self.volatile;
            let e = self.table.find_mut(hash, |e| e.key() == key).expect("entry present");
            e.value = value;
            if !keep_ttl && e.expire_at != 0 {
                e.expire_at = 0;
                *volatile -= 1;
            }
            return e;
        }
        self.table.insert_new(hash, Entry::new(hash, key, value))
    }

    /// Inserts a whole entry (RENAME, MOVE, COPY), replacing any entry with the same key.
    pub fn put_entry(&mut self, entry: Entry) {
        let _ = self.remove(entry.hash(), entry.key());
        if entry.expire_at != 0 {
            self.volatile += 1;
        }
        self.table.insert_new(entry.hash(), entry);
    }

    pub fn remove(&mut self, hash: u64, key: &[u8]) -> Option<Entry> {
        let e = self.table.remove(hash, |e| e.key() == key)?;
        if e.expire_at != 0 {
            self.volatile -= 1;
        }
        Some(e)
    }

    /// Sets (or with 0 clears) the expiry of an existing key; false when the key is missing.
    pub fn set_expire(&mut self, hash: u64, key: &[u8], at_ms: u64) -> bool {
        let Some(e) = self.table.find_mut(hash, |e| e.key() == key) else {
            return false;
        };
        match (e.expire_at != 0, at_ms != 0) {
            (false, true) => self.volatile += 1,
            (true, false) => self.volatile -= 1,
            _ => {}
        }
        e.expire_at = at_ms;
        true
    }

    pub fn clear(&mut self) {
        self.table.clear();
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

    /// One step of the active expiry cycle: removes expired entries from up to `segments`
    /// segments, resuming where the last step stopped. Returns the removed keys.
    pub fn expire_step(&mut self, now_ms: u64, segments: usize) -> Vec<Box<[u8]>> {
        let mut gone = Vec::new();
        if self.volatile == 0 {
            return gone;
        }
        for _ in 0..segments.min(self.table.segment_count()) {
            if self.expire_cursor >= self.table.segment_count() {
                self.expire_cursor = 0;
            }
            let removed = self
                .table
                .extract_from_segment(self.expire_cursor, |e| e.expire_at != 0 && e.expire_at <= now_ms);
            self.volatile -= removed.len();
            gone.extend(removed.into_iter().map(|e| Box::<[u8]>::from(e.key())));
            self.expire_cursor += 1;
            if self.volatile == 0 {
                break;
            }
        }
        gone
    }
}
