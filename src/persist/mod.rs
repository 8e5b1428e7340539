//! Persistence: whole-server snapshots as RDB (SAVE, BGSAVE, full resync), and loading a dump
//! at start-up.
//!
//! A snapshot locks every shard (ascending, as any cross-shard transaction), has each shard
//! encode its own keys into RDB entry chunks on its own core, in parallel, then releases them;
//! the chunks are assembled into one file with the header, SELECTDB/RESIZEDB per db, EOF and
//! CRC64. The instant is the one at which all shards were held, so the file is a consistent
//! cut (R6). Writes pause only for the encoding, not for the disk: files are written by a
//! background thread to a temp name, fsynced and renamed (S2).
//!
//! Not yet the incremental fork-free design of ARCHITECTURE.md (S1): the encoded chunks are
//! held in memory until written, so peak extra memory is about the size of the dump.

pub mod convert;
pub mod load;
pub mod save;

use std::io::Write;
use std::rc::Rc;
use std::sync::Arc;

use crate::command::ConnCx;
use crate::rdb::{AuxValue, RdbWriter, ReplAux, encode_entry, standard_aux};
use crate::shard::{Shard, unix_ms};
use crate::txn::{CoreCx, Txn};

/// One shard's encoded keys for one db.
pub struct DbChunk {
    pub db: usize,
    pub keys: u64,
    pub expires: u64,
    pub bytes: Vec<u8>,
}

/// Encodes every live key of `shard` (all dbs).
pub fn encode_shard(shard: &Shard, compress: bool) -> Vec<DbChunk> {
    let now = unix_ms();
    let mut chunks = Vec::new();
    for (db, table) in shard.dbs.iter().enumerate() {
        if table.is_empty() {
            continue;
        }
        let mut c = DbChunk {
            db,
            keys: 0,
            expires: 0,
            bytes: Vec::new(),
        };
        for e in table.iter() {
            if e.expire_at != 0 && e.expire_at <= now {
                continue;
            }
            let expire = (e.expire_at != 0).then_some(e.expire_at as i64);
            convert::with_value_ref(&e.value, |v| encode_entry(e.key(), v, expire, compress, &mut c.bytes));
            c.keys += 1;
            c.expires += expire.is_some() as u64;
        }
        if c.keys > 0 {
            chunks.push(c);
        }
    }
    chunks
}

/// Assembles shards' chunks into one RDB file.
pub fn assemble(chunks: Vec<DbChunk>, repl: Option<(String, i64)>, checksum: bool) -> Vec<u8> {
    let mut w = RdbWriter::new(checksum);
    let ctime = (unix_ms() / 1000) as i64;
    let used = crate::server::rss_bytes();
    let aux = standard_aux(
        ctime,
        used,
        repl.as_ref().map(|(id, off)| ReplAux {
            stream_db: 0,
            replid: id,
            offset: *off,
        }),
    );
    let aux: Vec<(&str, AuxValue<'_>)> = aux.iter().map(|(k, v)| (*k, *v)).collect();
    w.header(&aux);
    let mut dbs: Vec<usize> = chunks.iter().map(|c| c.db).collect();
    dbs.sort_unstable();
    dbs.dedup();
    for db in dbs {
        let mine: Vec<&DbChunk> = chunks.iter().filter(|c| c.db == db).collect();
        w.select_db(
            db,
            mine.iter().map(|c| c.keys).sum(),
            mine.iter().map(|c| c.expires).sum(),
        );
        for c in mine {
            w.append(&c.bytes);
        }
    }
    w.finish();
    w.take()
}

/// What a snapshot produced.
pub struct Snapshot {
    pub rdb: Vec<u8>,
    /// The stream offset the snapshot corresponds to (full sync).
    pub offset: i64,
}

/// Takes a consistent snapshot of every shard. With `cut`, it is also a replication cut:
/// while every shard is held, the coordinator emits everything written before and registers
/// the replica link from that offset (R6).
pub async fn snapshot(cx: &ConnCx, cut: Option<Arc<crate::repl::ReplicaLink>>) -> Snapshot {
    snapshot_with(&cx.core, cx.txn_all(2), cut).await
}

/// `snapshot` under a given all-shards transaction (a plain one, or one inside EXEC).
pub async fn snapshot_with(core: &Rc<CoreCx>, mut txn: Txn, cut: Option<Arc<crate::repl::ReplicaLink>>) -> Snapshot {
    let cfg = core.server.config();
    let (compress, checksum) = (cfg.rdbcompression, cfg.rdbchecksum);
    drop(cfg);
    let replicating = cut.is_some();
    // From here on every shard logs its writes for the stream (a no-op when already on).
    txn.hop(move |s: &mut Shard| {
        if replicating {
            s.log.set_enabled(true);
        }
    })
    .await;
    let mut offset = 0;
    let mut replid = None;
    if let Some(link) = cut {
        let repl = core.server.repl().clone();
        let (tx, rx) = crossbeam_channel::bounded(1);
        let upto = repl.seq.next_gsn();
        repl.send(crate::repl::Ctl::FullSync { upto, link, reply: tx });
        offset = loop {
            if let Ok(o) = rx.try_recv() {
                break o;
            }
            crate::runtime::sleep(std::time::Duration::from_micros(100)).await;
        };
        replid = Some(repl.lock().replid.clone());
    }
    let parts = txn.hop(move |s: &mut Shard| encode_shard(s, compress)).await;
    txn.finish();
    let chunks: Vec<DbChunk> = parts.into_iter().flat_map(|(_, c)| c).collect();
    let rdb = assemble(chunks, replid.map(|id| (id, offset)), checksum);
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
