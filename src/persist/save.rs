//! SAVE, BGSAVE, save points and the state INFO persistence reports.

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, Ordering};

use crate::shard::{Shard, unix_ms};
use crate::txn::{CoreCx, Lock, Txn};

/// Save bookkeeping shared by all cores.
pub struct PersistState {
    /// Unix seconds of the last successful save (LASTSAVE).
    pub last_save: AtomicU64,
    pub in_progress: AtomicBool,
    pub last_ok: AtomicBool,
    /// Writes counted at the start of the last successful save.
    pub dirty_at_save: AtomicU64,
    /// Writes counted at the start of the save in progress.
    dirty_at_start: AtomicU64,
    pub last_duration_s: AtomicI64,
    /// SHUTDOWN's choice: 0 default (save when save points exist), 1 NOSAVE, 2 SAVE.
    pub shutdown_mode: AtomicU8,
    pub bgsave_scheduled: AtomicBool,
}

impl Default for PersistState {
    fn default() -> Self {
        PersistState {
            last_save: AtomicU64::new(unix_ms() / 1000),
            in_progress: AtomicBool::new(false),
            last_ok: AtomicBool::new(true),
            dirty_at_save: AtomicU64::new(0),
            dirty_at_start: AtomicU64::new(0),
            last_duration_s: AtomicI64::new(-1),
            shutdown_mode: AtomicU8::new(0),
            bgsave_scheduled: AtomicBool::new(false),
        }
    }
}

/// Redis's refusal of writes after a failed background save.
pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

impl PersistState {
    /// Whether writes must be refused (failed save, `stop-writes-on-bgsave-error yes`).
    pub fn refuses_writes(&self) -> bool {
        !self.last_ok.load(Ordering::Relaxed)
    }
}

/// Sum of the shards' write counters.
pub async fn total_dirty(core: &Rc<CoreCx>) -> u64 {
    let mut n = 0;
    for s in 0..core.shards {
        n += core.run_on(s, Lock::Pass, |sh: &mut Shard| sh.log.dirty).await;
    }
    n
}

/// Takes a snapshot now and writes it to `dir/dbfilename`. With `background`, the file is
/// written by a thread and this returns as soon as the snapshot is encoded.
pub async fn save(core: &Rc<CoreCx>, txn: Txn, background: bool) -> Result<(), String> {
    let st = core.server.clone();
    if st.persist.in_progress.swap(true, Ordering::SeqCst) {
        return Err("ERR Background save already in progress".into());
    }
    let started = unix_ms();
    let dirty = total_dirty(core).await;
    st.persist.dirty_at_start.store(dirty, Ordering::SeqCst);
    let snap = super::snapshot_with(core, txn, None).await;
    let cfg = st.config();
    let (dir, name) = (cfg.dir.clone(), cfg.dbfilename.clone());
    let job = move || {
        let r = super::write_atomically(&dir, &name, &snap.rdb);
        let p = &st.persist;
        match &r {
            Ok(()) => {
                p.last_save.store(unix_ms() / 1000, Ordering::SeqCst);
                p.dirty_at_save
                    .store(p.dirty_at_start.load(Ordering::SeqCst), Ordering::SeqCst);
                p.last_ok.store(true, Ordering::SeqCst);
                crate::server::log::notice("DB saved on disk");
            }
            Err(e) => {
                p.last_ok.store(
                    !cfg.stop_writes_on_bgsave_error || cfg.save.is_empty(),
                    Ordering::SeqCst,
                );
                crate::server::log::warning(&format!("Write error saving DB on disk: {e}"));
            }
        }
        p.last_duration_s
            .store(((unix_ms() - started) / 1000) as i64, Ordering::SeqCst);
        p.in_progress.store(false, Ordering::SeqCst);
        r.map_err(|e| format!("ERR {e}"))
    };
    if background {
        std::thread::spawn(job);
        Ok(())
    } else {
        job()
    }
}

/// Checks the `save` points once a second and starts a BGSAVE when one is reached.
pub async fn save_points(core: Rc<CoreCx>) {
    loop {
        crate::runtime::sleep(std::time::Duration::from_secs(1)).await;
        let st = core.server.clone();
        let p = &st.persist;
        if p.in_progress.load(Ordering::SeqCst) {
            continue;
        }
        let points = st.config().save;
        let scheduled = p.bgsave_scheduled.swap(false, Ordering::SeqCst);
        if points.is_empty() && !scheduled {
            continue;
        }
        let changes = total_dirty(&core)
            .await
            .saturating_sub(p.dirty_at_save.load(Ordering::SeqCst));
        let elapsed = (unix_ms() / 1000).saturating_sub(p.last_save.load(Ordering::SeqCst));
        let due = points.iter().any(|sp| changes >= sp.changes && elapsed >= sp.seconds);
        // After a failure Redis retries only every 5 seconds.
        let retry_ok = p.last_ok.load(Ordering::SeqCst) || elapsed >= 5;
        if scheduled || (due && retry_ok) {
            crate::server::log::notice(&format!("{changes} changes in {elapsed} seconds. Saving..."));
            let txn = Txn::all(&core, 2);
            let _ = save(&core, txn, true).await;
        }
    }
}
