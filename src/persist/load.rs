//! Loading `dir/dbfilename` at start-up: every key goes to the shard that owns it, expired
//! keys are dropped (a master drops them, as Redis does), and a truncated or corrupt file stops
//! start-up with a message saying what and where (S2), never a half-loaded dataset.
//!
//! A server configured as a replica keeps expired keys (its master will send their DEL) and
//! remembers the replication position the dump carries (`repl-id`, `repl-offset`,
//! `repl-stream-db`), so that its link can continue with PSYNC instead of a full sync.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::Config;
use crate::rdb::{RdbEntry, RdbReader};
use crate::shard::{Shard, key_hash, shard_of, unix_ms};

/// Where in its master's stream a dump was taken: the replid and offset of the stream it
/// holds the effects of, and the db the stream had selected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplPosition {
    pub replid: String,
    pub offset: i64,
    pub stream_db: usize,
}

/// The position found by the last `load_dump`, until the replica link takes it.
static LOADED_POSITION: Mutex<Option<ReplPosition>> = Mutex::new(None);

/// Keys loaded and keys dropped as expired by the last load (start-up or full sync), for INFO.
pub static LAST_LOADED: AtomicU64 = AtomicU64::new(0);
pub static LAST_EXPIRED: AtomicU64 = AtomicU64::new(0);

/// A load in progress (a replica loading its master's payload), for INFO's loading fields.
#[derive(Default)]
pub struct LoadProgress {
    pub active: std::sync::atomic::AtomicBool,
    pub started_s: AtomicU64,
    pub total_bytes: AtomicU64,
    pub loaded_bytes: AtomicU64,
}

pub static LOADING: LoadProgress = LoadProgress {
    active: std::sync::atomic::AtomicBool::new(false),
    started_s: AtomicU64::new(0),
    total_bytes: AtomicU64::new(0),
    loaded_bytes: AtomicU64::new(0),
};

impl LoadProgress {
    pub fn begin(&self, total_bytes: u64) {
        self.started_s.store(unix_ms() / 1000, Ordering::Relaxed);
        self.total_bytes.store(total_bytes, Ordering::Relaxed);
        self.loaded_bytes.store(0, Ordering::Relaxed);
        self.active.store(true, Ordering::SeqCst);
    }

    pub fn at(&self, loaded_bytes: u64) {
        self.loaded_bytes.store(loaded_bytes, Ordering::Relaxed);
    }

    pub fn end(&self) {
        self.active.store(false, Ordering::SeqCst);
    }

    /// INFO's `loading_*` lines (empty when nothing loads).
    pub fn info_lines(&self) -> String {
        if !self.active.load(Ordering::SeqCst) {
            return String::new();
        }
        let started = self.started_s.load(Ordering::Relaxed);
        let total = self.total_bytes.load(Ordering::Relaxed);
        let done = self.loaded_bytes.load(Ordering::Relaxed).min(total);
        let elapsed = (unix_ms() / 1000).saturating_sub(started);
        let perc = if total > 0 {
            done as f64 * 100.0 / total as f64
        } else {
            0.0
        };
        let eta = if done > 0 && elapsed > 0 {
            ((total - done) as f64 / (done as f64 / elapsed as f64)) as u64
        } else {
            1
        };
        format!(
            "loading_start_time:{started}\r\nloading_total_bytes:{total}\r\nloading_rdb_used_mem:0\r\n\
             loading_loaded_bytes:{done}\r\nloading_loaded_perc:{perc:.2}\r\nloading_eta_seconds:{eta}\r\n"
        )
    }
}

/// Records the counts of a finished load.
pub fn record_load(loaded: u64, expired: u64) {
    LAST_LOADED.store(loaded, Ordering::Relaxed);
    LAST_EXPIRED.store(expired, Ordering::Relaxed);
}

/// The replication position of the dump loaded at start-up, once.
pub fn take_loaded_position() -> Option<ReplPosition> {
    LOADED_POSITION.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// Reads the `repl-*` aux fields, when they describe a usable position (a 40-character id,
/// an offset and a db that are not -1, as redis-server 7.0 requires).
fn repl_position<R: std::io::Read>(rdb: &RdbReader<R>, databases: usize) -> Option<ReplPosition> {
    let text = |k: &str| rdb.aux_value(k).and_then(|v| std::str::from_utf8(v).ok());
    let replid = text("repl-id").filter(|id| id.len() == 40)?.to_string();
    let offset = text("repl-offset")?.parse::<i64>().ok().filter(|o| *o >= 0)?;
    let stream_db = text("repl-stream-db")?.parse::<i64>().ok().filter(|d| *d >= 0)? as usize;
    (stream_db < databases).then_some(ReplPosition {
        replid,
        offset,
        stream_db,
    })
}

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
    let replica = config.replicaof.is_some();
    let (mut loaded, mut expired) = (0u64, 0u64);
    while let Some(entry) = rdb.next_entry().map_err(fail)? {
        if !replica && entry.expire_ms.is_some_and(|at| at <= now) {
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
    crate::command::script::library::restore(rdb.functions())
        .map_err(|e| format!("Fatal error loading the DB ({}): {e}. Exiting.", config.dbfilename))?;
    *LOADED_POSITION.lock().unwrap_or_else(|e| e.into_inner()) = repl_position(&rdb, config.databases as usize);
    for w in rdb.warnings() {
        crate::server::log::warning(w);
    }
    record_load(loaded, expired);
    crate::server::log::notice(&format!(
        "Done loading RDB, keys loaded: {loaded}, keys expired: {expired}, in {:.3} seconds.",
        started.elapsed().as_secs_f64()
    ));
    Ok(buckets)
}

/// Puts loaded entries into a shard, building each value with the shard's encodings.
pub fn insert_entries(shard: &mut Shard, entries: Vec<RdbEntry>) {
    let limits = shard.limits;
    let now = crate::shard::unix_ms();
    for e in entries {
        let value = super::convert::from_rdb(e.value, &limits);
        let hash = key_hash(&e.key);
        let db = &mut shard.dbs[e.db];
        // A loaded key counts as just used, as in redis-server (not idle since 1970).
        crate::shard::evict::note_access(db.put(hash, &e.key, value, false), now, || 1.0);
        if let Some(at) = e.expire_ms {
            db.set_expire(hash, &e.key, at.max(1) as u64);
        }
    }
}
