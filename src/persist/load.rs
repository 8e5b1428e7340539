//! Loading `dir/dbfilename` at start-up: every key goes to the shard that owns it, expired
//! keys are dropped (a master drops them, as Redis does), and a truncated or corrupt file stops
//! start-up with a message saying what and where (S2), never a half-loaded dataset.

use crate::config::Config;
use crate::rdb::{RdbEntry, RdbReader};
use crate::shard::{Shard, key_hash, shard_of, unix_ms};

/// Reads the dump, if there is one, into one bucket per shard.
pub fn load_dump(config: &Config, shards: usize) -> Result<Vec<Vec<RdbEntry>>, String> {
    let mut buckets: Vec<Vec<RdbEntry>> = (0..shards).map(|_| Vec::new()).collect();
    let path = std::path::Path::new(&config.dbfilename);
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(buckets),
        Err(e) => return Err(format!("Fatal error loading the DB: {e}. Exiting.")),
    };
    let started = std::time::Instant::now();
    let reader = std::io::BufReader::with_capacity(1 << 20, file);
    let fail = |e: crate::rdb::RdbError| format!("Fatal error loading the DB ({}): {e}. Exiting.", config.dbfilename);
    let mut rdb = RdbReader::new(reader).map_err(fail)?;
    let now = unix_ms() as i64;
    let (mut loaded, mut expired) = (0u64, 0u64);
    while let Some(entry) = rdb.next_entry().map_err(fail)? {
        if entry.expire_ms.is_some_and(|at| at <= now) {
            expired += 1;
            continue;
        }
        if entry.db >= config.databases as usize {
            return Err(format!(
                "Fatal error loading the DB: the file uses db {} but 'databases' is {}. Exiting.",
                entry.db, config.databases
            ));
        }
        buckets[shard_of(&entry.key, shards)].push(entry);
        loaded += 1;
    }
    for w in rdb.warnings() {
        crate::server::log::warning(w);
    }
    crate::server::log::notice(&format!(
        "Done loading RDB, keys loaded: {loaded}, keys expired: {expired}, in {:.3} seconds.",
        started.elapsed().as_secs_f64()
    ));
    Ok(buckets)
}

/// Puts loaded entries into a shard, building each value with the shard's encodings.
pub fn insert_entries(shard: &mut Shard, entries: Vec<RdbEntry>) {
    let limits = shard.limits;
    for e in entries {
        let value = super::convert::from_rdb(e.value, &limits);
        let hash = key_hash(&e.key);
        let db = &mut shard.dbs[e.db];
        db.put(hash, &e.key, value, false);
        if let Some(at) = e.expire_ms {
            db.set_expire(hash, &e.key, at.max(1) as u64);
        }
    }
}
