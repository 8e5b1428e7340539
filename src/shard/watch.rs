//! WATCH bookkeeping on one shard: which clients watch which keys, and which of those
//! clients have seen a watched key change since (their EXEC must then fail).
//!
//! Keys are touched from the one write door (`Shard::record`), so every write, expiry and
//! flush that Redis would propagate also invalidates watchers, with no per-family code.

use hashbrown::{HashMap, HashSet};

#[derive(Default)]
pub struct Watches {
    keys: HashMap<(usize, Box<[u8]>), Vec<u64>>,
    dirty: HashSet<u64>,
}

impl Watches {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn watch(&mut self, db: usize, key: &[u8], client: u64) {
        let ids = self.keys.entry((db, key.into())).or_default();
        if !ids.contains(&client) {
            ids.push(client);
        }
    }

    /// Forgets `client`'s watches on `keys` and returns whether one of them changed.
    pub fn unwatch(&mut self, client: u64, keys: &[(usize, Vec<u8>)]) -> bool {
        for (db, key) in keys {
            let k = (*db, Box::<[u8]>::from(key.as_slice()));
            if let Some(ids) = self.keys.get_mut(&k) {
                ids.retain(|&c| c != client);
                if ids.is_empty() {
                    self.keys.remove(&k);
                }
            }
        }
        self.dirty.remove(&client)
    }

    pub fn touch(&mut self, db: usize, key: &[u8]) {
        if let Some(ids) = self.keys.get(&(db, Box::<[u8]>::from(key))) {
            self.dirty.extend(ids.iter().copied());
        }
    }

    /// Watchers of the keys in `db` (`None` = every db) for which `exists` holds: a flush or
    /// swap changes only keys that exist, as Redis 7.0 counts it.
    pub fn touch_db(&mut self, db: Option<usize>, exists: impl Fn(usize, &[u8]) -> bool) {
        for ((d, k), ids) in &self.keys {
            if db.is_none_or(|x| x == *d) && exists(*d, k) {
                self.dirty.extend(ids.iter().copied());
            }
        }
    }

    /// The watched (db, key) pairs of `client` (for the expiry check at EXEC).
    pub fn keys_of(&self, client: u64) -> Vec<(usize, Vec<u8>)> {
        self.keys
            .iter()
            .filter(|(_, ids)| ids.contains(&client))
            .map(|((db, k), _)| (*db, k.to_vec()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touch_marks_only_watchers_of_that_key() {
        let mut w = Watches::default();
        w.watch(0, b"a", 1);
        w.watch(0, b"b", 2);
        w.touch(0, b"a");
        assert!(w.unwatch(1, &[(0, b"a".to_vec())]));
        assert!(!w.unwatch(2, &[(0, b"b".to_vec())]));
        assert!(w.is_empty());
    }
}
