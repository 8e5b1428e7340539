//! SAVE, BGSAVE, save points and the state INFO persistence reports.

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::snapshot::Flow;
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
    /// A snapshot (BGSAVE, SAVE or full resync) is running; one at a time.
    pub snapshot_busy: AtomicBool,
    /// The running snapshot's progress, for INFO.
    pub current: Mutex<Option<Arc<Flow>>>,
    /// Peak extra bytes of the last completed snapshot (`rdb_last_cow_size`).
    pub last_peak: AtomicU64,
    /// Completed snapshots (`rdb_saves`).
    pub saves: AtomicU64,
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
            snapshot_busy: AtomicBool::new(false),
            current: Mutex::new(None),
            last_peak: AtomicU64::new(0),
            saves: AtomicU64::new(0),
        }
    }
}

/// Redis's refusal of writes after a failed background save.
pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

impl PersistState {
    /// The writer thread's last act: records the outcome and frees the snapshot slot.
    pub(super) fn finished(&self, flow: &Flow, ok: bool) {
        if ok {
            self.saves.fetch_add(1, Ordering::SeqCst);
        }
        self.last_peak
            .store(flow.peak_in_flight.load(Ordering::SeqCst) as u64, Ordering::SeqCst);
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.snapshot_busy.store(false, Ordering::SeqCst);
    }

    /// Frees the snapshot slot taken with `snapshot::acquire_slot` when no snapshot was
    /// started after all.
    pub fn release_slot(&self) {
        self.snapshot_busy.store(false, Ordering::SeqCst);
    }

    /// The `# Persistence` section of INFO; `dirty` is the shards' write count.
    pub fn info_section(&self, dirty: u64) -> String {
        let now = unix_ms();
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let (cow, peak, age, done, total) = match &current {
            Some(f) => (
                f.in_flight.load(Ordering::Relaxed),
                f.peak_in_flight.load(Ordering::Relaxed),
                now.saturating_sub(f.started_ms.load(Ordering::Relaxed)) / 1000,
                f.keys_done.load(Ordering::Relaxed),
                f.keys_total.load(Ordering::Relaxed),
            ),
            None => (0, 0, 0, 0, 0),
        };
        let bg = self.in_progress.load(Ordering::SeqCst);
        let current_time = match (&current, bg) {
            (Some(_), true) => age as i64,
            _ => -1,
        };
        let perc = if total > 0 {
            done as f64 * 100.0 / total as f64
        } else {
            0.0
        };
        format!(
            "# Persistence\r\nloading:{}\r\nasync_loading:0\r\ncurrent_cow_peak:{peak}\r\ncurrent_cow_size:{cow}\r\n\
             current_cow_size_age:{}\r\ncurrent_fork_perc:{perc:.2}\r\ncurrent_save_keys_processed:{done}\r\n\
             current_save_keys_total:{total}\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\n\
             rdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\n\
             rdb_current_bgsave_time_sec:{current_time}\r\nrdb_saves:{}\r\nrdb_last_cow_size:{}\r\n\
             rdb_last_load_keys_expired:{}\r\nrdb_last_load_keys_loaded:{}\r\naof_enabled:0\r\n\
             aof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\naof_last_rewrite_time_sec:-1\r\n\
             aof_current_rewrite_time_sec:-1\r\naof_last_bgrewrite_status:ok\r\naof_rewrites:0\r\n\
             aof_rewrites_consecutive_failures:0\r\naof_last_write_status:ok\r\naof_last_cow_size:0\r\n\
             module_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n{}",
            super::load::LOADING.active.load(Ordering::SeqCst) as u8,
            if current.is_some() { age } else { 0 },
            dirty.saturating_sub(self.dirty_at_save.load(Ordering::SeqCst)),
            bg as u8,
            self.last_save.load(Ordering::SeqCst),
            if self.last_ok.load(Ordering::SeqCst) {
                "ok"
            } else {
                "err"
            },
            self.last_duration_s.load(Ordering::SeqCst),
            self.saves.load(Ordering::SeqCst),
            self.last_peak.load(Ordering::SeqCst),
            super::load::LAST_EXPIRED.load(Ordering::Relaxed),
            super::load::LAST_LOADED.load(Ordering::Relaxed),
            super::load::LOADING.info_lines(),
        )
    }

    /// Whether writes must be refused (failed save, `stop-writes-on-bgsave-error yes`).
    pub fn refuses_writes(&self) -> bool {
        !self.last_ok.load(Ordering::Relaxed)
    }
}

/// Sum of the shards' write counters.
pub async fn total_dirty(core: &Rc<CoreCx>) -> u64 {
    let mut n = 0;
    for s in 0..core.shards {
        n += core.run_on(s, Lock::Free, |sh: &mut Shard| sh.log.dirty).await;
    }
    n
}

/// Takes a snapshot now and writes it to `dir/dbfilename`. With `background`, this returns
/// once the instant is fixed (BGSAVE); otherwise once the file is on disk (SAVE, SHUTDOWN).
/// `txn` spans every shard and is used only for the instant's barrier.
pub async fn save(core: &Rc<CoreCx>, txn: Txn, background: bool) -> Result<(), String> {
    let st = core.server.clone();
    if st.persist.in_progress.swap(true, Ordering::SeqCst) {
        return Err("ERR Background save already in progress".into());
    }
    let started = unix_ms();
    let dirty = total_dirty(core).await;
    st.persist.dirty_at_start.store(dirty, Ordering::SeqCst);
    let cfg = st.config();
    let (dir, name, stop_writes) = (
        cfg.dir.clone(),
        cfg.dbfilename.clone(),
        cfg.stop_writes_on_bgsave_error && !cfg.save.is_empty(),
    );
    drop(cfg);
    let running = match super::snapshot::FileSink::create(&dir, &name) {
        Ok(sink) => {
            super::snapshot::acquire_slot(core).await;
            Ok(super::snapshot::start(core, txn, Vec::new(), sink).await)
        }
        Err(e) => Err(e),
    };
    let finish = async move {
        let r = match running {
            Ok(running) => running.finished().await,
            Err(e) => Err(e),
        };
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
                p.last_ok.store(!stop_writes, Ordering::SeqCst);
                crate::server::log::warning(&format!("Write error saving DB on disk: {e}"));
            }
        }
        p.last_duration_s
            .store(((unix_ms() - started) / 1000) as i64, Ordering::SeqCst);
        p.in_progress.store(false, Ordering::SeqCst);
        r.map_err(|e| format!("ERR {e}"))
    };
    if background {
        crate::runtime::spawn(async move {
            let _ = finish.await;
        });
        Ok(())
    } else {
        finish.await
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
