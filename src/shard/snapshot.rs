//! The shard side of a fork-free point-in-time snapshot (ARCHITECTURE.md, S1).
//!
//! Each snapshot has an epoch, and every entry records the epoch of the last snapshot that has
//! it (`Entry::saved_in`). At the instant, a db's epoch moves to the new snapshot's; every entry
//! then carries an older one, i.e. "not saved yet". Two things save an entry, each exactly once:
//! - the background walk (`Db::snapshot_step`) over the table's segments, between the core's
//!   ordinary work;
//! - the first write (or mutable lookup) of an entry not saved yet (`Db::before_write`), which
//!   saves it as it still is *before* the change.
//!
//! Entries inserted after the instant get the new epoch at once, so neither saves them.
//!
//! So whatever is saved is the entry as it was at the instant, and a write costs at most one
//! entry's encoding. The marks are per entry, so the table may keep growing and splitting: an
//! entry moved to a segment the walk already passed is either saved already or re-visited
//! where it now lives (segments split into new ones appended at the end). A flush during the
//! snapshot moves the old table aside whole (`Db::clear`), to be walked from there.
//!
//! What an entry turns into is not this layer's business: the snapshot carries an encoder
//! closure from the persistence layer, and collects its bytes in `out` until they are taken.

use crate::store::{Entry, SegTable};

/// Turns one entry into bytes of the snapshot's stream (skipping what is expired at the instant).
pub type EntryEncoder = Box<dyn FnMut(&Entry, &mut Vec<u8>) + Send>;

/// One db's part of a snapshot in progress.
pub struct DbSnapshot {
    /// The db's number at the instant (SWAPDB later moves the `Db`, not its identity here).
    pub number: usize,
    /// Entries whose `saved_in` differs are not saved yet.
    pub epoch: u32,
    /// False once a flush replaced the live table: nothing in it existed at the instant.
    live: bool,
    /// The walk's next segment of the live table.
    next: usize,
    /// Tables a flush moved aside during the snapshot, walked from here and then dropped.
    detached: Vec<(SegTable<Entry>, usize)>,
    encode: EntryEncoder,
    /// Encoded bytes not yet taken by the persistence layer.
    pub out: Vec<u8>,
}

impl DbSnapshot {
    pub(crate) fn new(number: usize, epoch: u32, encode: EntryEncoder) -> DbSnapshot {
        DbSnapshot {
            number,
            epoch,
            live: true,
            next: 0,
            detached: Vec::new(),
            encode,
            out: Vec::new(),
        }
    }

    /// Saves `e` unless it is saved already or newer than the instant.
    #[inline]
    pub(crate) fn save(&mut self, e: &mut Entry) {
        if self.live && e.saved_in() != self.epoch {
            e.set_saved_in(self.epoch);
            (self.encode)(e, &mut self.out);
        }
    }

    /// Saves every entry of a segment not saved yet (the walk, and the expiry cycle before it
    /// removes entries in bulk).
    pub(crate) fn save_segment(&mut self, table: &mut SegTable<Entry>, seg: usize) {
        for e in table.segment_mut(seg) {
            self.save(e);
        }
    }

    /// A flush is about to replace the live table: keep the old one to save it later.
    pub(crate) fn detach(&mut self, old: SegTable<Entry>) {
        if self.live {
            self.live = false;
            self.detached.push((old, self.next));
        }
    }

    /// Walks segments until `budget` bytes are waiting in `out` or nothing is left.
    /// Returns true when every entry of the instant has been saved.
    pub(crate) fn step(&mut self, live_table: &mut SegTable<Entry>, budget: usize) -> bool {
        while self.out.len() < budget {
            if let Some((table, next)) = self.detached.first_mut() {
                if *next >= table.segment_count() {
                    self.detached.remove(0);
                    continue;
                }
                let seg = *next;
                *next += 1;
                for e in table.segment_mut(seg) {
                    if e.saved_in() != self.epoch {
                        e.set_saved_in(self.epoch);
                        (self.encode)(e, &mut self.out);
                    }
                }
                continue;
            }
            if !self.live || self.next >= live_table.segment_count() {
                return true;
            }
            let seg = self.next;
            self.next += 1;
            self.save_segment(live_table, seg);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use proptest::prelude::*;

    use crate::shard::{Db, key_hash};
    use crate::store::{Value, ValueRef};

    #[derive(Debug, Clone)]
    enum Op {
        Set(u16, u16),
        Del(u16),
        Expire(u16, u64),
        Read(u16),
        ExpireCycle,
        Flush,
        /// Lets the background walk save this many more bytes.
        Walk(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u16..3000, any::<u16>()).prop_map(|(k, v)| Op::Set(k, v)),
            2 => (0u16..600).prop_map(Op::Del),
            1 => (0u16..600, 1u64..100).prop_map(|(k, t)| Op::Expire(k, t)),
            2 => (0u16..600).prop_map(Op::Read),
            1 => Just(Op::ExpireCycle),
            1 => prop::bool::weighted(0.05).prop_map(|_| Op::Flush),
            3 => (1usize..200).prop_map(Op::Walk),
        ]
    }

    /// What the test encoder saw: key, value, expiry.
    type Saved = Arc<Mutex<Vec<(Vec<u8>, Vec<u8>, u64)>>>;

    fn key(k: u16) -> Vec<u8> {
        format!("key:{k}").into_bytes()
    }

    /// The db's contents as a model: key -> (value, expiry).
    fn contents(db: &Db) -> BTreeMap<Vec<u8>, (Vec<u8>, u64)> {
        db.iter()
            .map(|e| (e.key().to_vec(), (string_of(e.value()), e.expire_at())))
            .collect()
    }

    fn string_of(v: ValueRef<'_>) -> Vec<u8> {
        v.string_bytes().expect("the test stores strings only").into_owned()
    }

    proptest! {
        /// Whatever writes, flushes and expiry cycles run while a snapshot is in progress, the
        /// snapshot saves exactly what the db held at its instant, each key once.
        #[test]
        fn saves_the_instant(initial in prop_oneof![Just(0usize), 0usize..1500], ops in prop::collection::vec(op(), 0..1500)) {
            let mut db = Db::default();
            for i in 0..initial {
                let k = key((i % 600) as u16);
                db.put(key_hash(&k), &k, Value::Str(format!("v{i}").into_bytes()), false);
                if i % 7 == 0 {
                    db.set_expire(key_hash(&k), &k, 1_000_000 + i as u64);
                }
            }
            let at_instant = contents(&db);
            let saved: Saved = Arc::default();
            let sink = saved.clone();
            let epoch = db.snapshot_epoch() + 1;
            db.begin_snapshot(3, epoch, Box::new(move |e, out| {
                out.push(b'.');
                sink.lock().unwrap().push((e.key().to_vec(), string_of(e.value()), e.expire_at()));
            }));
            let mut done = false;
            for op in ops {
                match op {
                    Op::Set(k, v) => {
                        let k = key(k);
                        db.put(key_hash(&k), &k, Value::Str(format!("new{v}").into_bytes()), false);
                    }
                    Op::Del(k) => {
                        let k = key(k);
                        db.remove(key_hash(&k), &k);
                    }
                    Op::Expire(k, t) => {
                        let k = key(k);
                        db.set_expire(key_hash(&k), &k, t);
                    }
                    Op::Read(k) => {
                        let k = key(k);
                        let _ = db.entry_mut(key_hash(&k), &k);
                    }
                    Op::ExpireCycle => {
                        db.expire_step(2_000_000, 3);
                    }
                    Op::Flush => db.clear(),
                    Op::Walk(n) => {
                        if !done && let Some((number, _, fin)) = db.snapshot_step(n, Vec::new) {
                            prop_assert_eq!(number, 3);
                            done = fin;
                        }
                    }
                }
            }
            // An empty db at the instant has nothing to save and no snapshot state at all.
            while !done {
                done = db.snapshot_step(64, Vec::new).is_none_or(|(_, _, fin)| fin);
            }
            prop_assert!(!db.in_snapshot());
            let saved = saved.lock().unwrap();
            let mut got = BTreeMap::new();
            for (k, v, at) in saved.iter() {
                prop_assert!(got.insert(k.clone(), (v.clone(), *at)).is_none(), "key saved twice");
            }
            prop_assert_eq!(got, at_instant);
        }
    }
}
