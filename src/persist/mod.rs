//! Persistence: whole-server snapshots as RDB (SAVE, BGSAVE, full resync), and loading a dump
//! at start-up.
//!
//! Snapshots are fork-free and incremental (`snapshot.rs`, S1): a short barrier over every shard
//! fixes the instant, then each shard serializes itself between its ordinary work while writes
//! go on, and one writer thread assembles the pieces into a single RDB stream. Dump files are
//! written to a temp name, fsynced and renamed (S2).

pub mod convert;
pub mod load;
pub mod save;
pub mod snapshot;

use std::io::Write;
use std::rc::Rc;
use std::sync::Arc;

use crate::command::ConnCx;
use crate::shard::unix_ms;
use crate::txn::{CoreCx, Txn};

/// A snapshot taken into memory.
pub struct Snapshot {
    pub rdb: Vec<u8>,
    /// The stream offset the snapshot corresponds to (full sync).
    pub offset: i64,
}

/// Takes a consistent snapshot of every shard into memory. With links in `cut`, it is also a
/// replication cut: the coordinator emits everything written before the instant and
/// registers those replica links from that offset (R6).
pub async fn snapshot(cx: &ConnCx, cut: Vec<Arc<crate::repl::ReplicaLink>>) -> Snapshot {
    snapshot::acquire_slot(&cx.core).await;
    snapshot_with(&cx.core, cx.txn_all(2), cut).await
}

/// `snapshot` under a given all-shards transaction; the caller holds the snapshot slot.
pub async fn snapshot_with(core: &Rc<CoreCx>, txn: Txn, cut: Vec<Arc<crate::repl::ReplicaLink>>) -> Snapshot {
    let running = snapshot::start(core, txn, cut, Vec::new()).await;
    let offset = running.offset;
    let rdb = match running.finished().await {
        Ok(rdb) => rdb,
        Err(e) => {
            crate::server::log::warning(&format!("Snapshot failed: {e}"));
            Vec::new()
        }
    };
    Snapshot { rdb, offset }
}

/// Writes `bytes` to `dir/name` crash-safely: temp file, fsync, rename, fsync of the dir.
pub fn write_atomically(dir: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir_path = std::path::Path::new(dir);
    let tmp = dir_path.join(format!("temp-{}-{}.rdb", std::process::id(), unix_ms()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir_path.join(name))?;
        if let Ok(d) = std::fs::File::open(dir_path) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
