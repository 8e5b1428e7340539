//! The shard side of a fork-free point-in-time snapshot (ARCHITECTURE.md, S1).
//!
//! At the snapshot's instant every db of every shard gets a `DbSnapshot`. From then on the
//! db's table does not split, so each entry stays in its segment, and the snapshot tracks
//! which segments it has saved. Two things save a segment, each exactly once:
//! - the background walk (`Db::snapshot_step`), between the core's ordinary work;
//! - the first write to a segment not yet saved (`Db::before_write`), which saves the whole
//!   segment as it still is *before* the write changes it.
//!
//! So whatever the walk or a write saves is the segment as it was at the instant. A flush during
//! the snapshot moves the old table aside whole (`Db::clear`), to be saved from there, and the
//! new empty table belongs entirely to after the instant.
//!
//! What an entry turns into is not this layer's business: the snapshot carries an encoder
//! closure from the persistence layer, and collects its bytes in `out` until they are taken.

use crate::store::{Entry, SegTable};

/// Turns one entry into bytes of the snapshot's stream (skipping what is expired at the instant).
pub type EntryEncoder = Box<dyn FnMut(&Entry, &mut Vec<u8>) + Send>;

/// A table, and which of its segments the snapshot has saved.
struct Marked {
    table: SegTable<Entry>,
    saved: Vec<bool>,
    /// The walk's position: every segment below it is saved.
    next: usize,
}

impl Marked {
    /// The first segment not yet saved, from the walk's position on.
    fn next_unsaved(&mut self) -> Option<usize> {
        while self.next < self.saved.len() && self.saved[self.next] {
            self.next += 1;
        }
        (self.next < self.saved.len()).then_some(self.next)
    }
}

/// One db's part of a snapshot in progress.
pub struct DbSnapshot {
    /// The db's number at the instant (SWAPDB later moves the `Db`, not its identity here).
    pub number: usize,
    /// Saved-segment marks of the live table; `None` once a flush replaced the live table,
    /// since nothing in it then existed at the instant.
    live: Option<Vec<bool>>,
    live_next: usize,
    /// Tables a flush moved aside during the snapshot, saved from here and then dropped.
    detached: Vec<Marked>,
    encode: EntryEncoder,
    /// Encoded bytes not yet taken by the persistence layer.
    pub out: Vec<u8>,
}

impl DbSnapshot {
    pub(crate) fn new(number: usize, segments: usize, encode: EntryEncoder) -> DbSnapshot {
        DbSnapshot {
            number,
            live: Some(vec![false; segments]),
            live_next: 0,
            detached: Vec::new(),
            encode,
            out: Vec::new(),
        }
    }

    /// Saves segment `seg` of the live `table` unless it is saved already.
    pub(crate) fn save_live_segment(&mut self, table: &SegTable<Entry>, seg: usize) {
        let Some(marks) = self.live.as_mut() else {
            return;
        };
        if marks[seg] {
            return;
        }
        marks[seg] = true;
        for e in table.segment(seg) {
            (self.encode)(e, &mut self.out);
        }
    }

    /// A flush is about to replace the live table: keep the old one to save it later.
    pub(crate) fn detach(&mut self, old: SegTable<Entry>) {
        if let Some(marks) = self.live.take() {
            self.detached.push(Marked {
                table: old,
                saved: marks,
                next: 0,
            });
        }
    }

    /// Saves segments until `budget` bytes are waiting in `out` or nothing is left.
    /// Returns true when every segment of the instant has been saved.
    pub(crate) fn step(&mut self, live_table: &SegTable<Entry>, budget: usize) -> bool {
        while self.out.len() < budget {
            if let Some(first) = self.detached.first_mut() {
                match first.next_unsaved() {
                    Some(seg) => {
                        first.saved[seg] = true;
                        for e in first.table.segment(seg) {
                            (self.encode)(e, &mut self.out);
                        }
                    }
                    None => {
                        self.detached.remove(0);
                    }
                }
                continue;
            }
            let Some(marks) = self.live.as_ref() else {
                return true;
            };
            while self.live_next < marks.len() && marks[self.live_next] {
                self.live_next += 1;
            }
            if self.live_next >= marks.len() {
                return true;
            }
            let seg = self.live_next;
            self.save_live_segment(live_table, seg);
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
    use crate::store::Value;

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
            4 => (0u16..600, any::<u16>()).prop_map(|(k, v)| Op::Set(k, v)),
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
            .map(|e| (e.key().to_vec(), (string_of(&e.value), e.expire_at)))
            .collect()
    }

    fn string_of(v: &Value) -> Vec<u8> {
        match v {
            Value::Str(s) => s.to_vec(),
            Value::Int(n) => n.to_string().into_bytes(),
            _ => unreachable!("the test stores strings only"),
        }
    }

    proptest! {
        /// Whatever writes, flushes and expiry cycles run while a snapshot is in progress, the
        /// snapshot saves exactly what the db held at its instant, each key once.
        #[test]
        fn saves_the_instant(initial in 0usize..1500, ops in prop::collection::vec(op(), 0..400)) {
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
            db.begin_snapshot(3, Box::new(move |e, out| {
                out.push(b'.');
                sink.lock().unwrap().push((e.key().to_vec(), string_of(&e.value), e.expire_at));
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
                        if !done && let Some((number, _, fin)) = db.snapshot_step(n) {
                            prop_assert_eq!(number, 3);
                            done = fin;
                        }
                    }
                }
            }
            while !done {
                let (_, _, fin) = db.snapshot_step(64).expect("snapshot in progress");
                done = fin;
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
