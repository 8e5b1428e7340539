//! Gives freed memory back to the system once the server goes quiet.
//!
//! mimalloc returns the pages freed memory sat on only from inside later allocator calls,
//! after its purge delay. A core that stops serving makes no such calls, so what its last
//! commands freed (a deleted big key, a flushed database, the old half of a table that grew)
//! stayed resident for as long as the server was idle. redis-server's jemalloc returns it
//! from background threads. Here every core looks once a second: when the server ran no
//! command for a whole second, after running some since the core last collected, the core
//! collects its heap, which frees its empty pages and purges them, and does so again on the
//! next two quiet seconds. A busy server never pays for it; a quiet one pays three times.

use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::runtime;
use crate::txn::CoreCx;

/// How long the server must run no command before its cores collect.
const QUIET_FOR: Duration = Duration::from_secs(1);

/// Commands run by the whole server so far. Counting every core's, not this core's own,
/// also covers the memory a core freed for commands another core received.
fn commands_run(core: &CoreCx) -> u64 {
    core.server
        .counters
        .iter()
        .map(|c| c.commands_processed.load(Ordering::Relaxed))
        .sum()
}

/// Quiet seconds in a row that each end with a collection. Blocks another core frees into
/// this core's heap after the first collection (the last replies' buffers, a job's result)
/// are only reclaimed by a later one.
const COLLECTIONS_PER_QUIET_SPELL: u32 = 3;

/// Runs for the life of the core (one per core, spawned at start-up).
pub async fn return_when_quiet(core: Rc<CoreCx>) {
    let mut seen = commands_run(&core);
    let mut collections_left = 0;
    loop {
        runtime::sleep(QUIET_FOR).await;
        let now = commands_run(&core);
        if now != seen {
            seen = now;
            collections_left = COLLECTIONS_PER_QUIET_SPELL;
        } else if collections_left > 0 {
            collect_this_core();
            collections_left -= 1;
        }
    }
}

/// Frees this thread's empty allocator pages and returns their memory to the system.
pub fn collect_this_core() {
    // SAFETY: mi_collect only walks and trims the calling thread's own heap and the shared
    // arenas under mimalloc's own synchronisation; it takes no pointer from us.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

/// What the process held once started, its dataset aside (MEMORY STATS `startup.allocated`).
static AT_STARTUP: AtomicU64 = AtomicU64::new(0);

/// Notes what the process holds now, less `loaded` (what the dump's load added, measured
/// around it), as its start-up size. Called once every core is up: the cores' own rings,
/// tables and buffers are part of it.
pub fn note_startup(loaded: u64) {
    AT_STARTUP.store(super::alloc::used_bytes().saturating_sub(loaded), Ordering::Relaxed);
}

pub fn startup_bytes() -> u64 {
    AT_STARTUP.load(Ordering::Relaxed)
}

/// The bytes mimalloc has committed from the system (MEMORY STATS `allocator.active`).
pub fn allocator_committed() -> u64 {
    let mut values = [0usize; 8];
    let [elapsed, user, system, rss, peak_rss, commit, peak_commit, faults] = &mut values;
    // SAFETY: every pointer is to a distinct usize of ours, valid for the call.
    unsafe { libmimalloc_sys::mi_process_info(elapsed, user, system, rss, peak_rss, commit, peak_commit, faults) };
    values[5] as u64
}

/// mimalloc's statistics report (MEMORY MALLOC-STATS).
pub fn allocator_report() -> String {
    unsafe extern "C" fn append(text: *const std::ffi::c_char, out: *mut std::ffi::c_void) {
        // SAFETY: mimalloc passes a NUL-terminated message and our `String` back as `out`.
        unsafe {
            let out = &mut *out.cast::<String>();
            out.push_str(&std::ffi::CStr::from_ptr(text).to_string_lossy());
        }
    }
    let mut report = String::new();
    // SAFETY: the callback only appends to `report`, which outlives the call.
    unsafe { libmimalloc_sys::mi_stats_print_out(Some(append), (&mut report as *mut String).cast()) };
    report
}

/// The highest `used_memory` seen by [`note_used`].
static PEAK_SEEN: AtomicU64 = AtomicU64::new(0);

/// Reads the bytes held now and keeps them if they are the most yet. The metrics sampler
/// calls this every 100 ms, as redis-server's cron samples its peak, so the peak holds sizes
/// the server had only between two INFOs.
pub fn note_used() -> u64 {
    let now = super::alloc::used_bytes();
    PEAK_SEEN.fetch_max(now, Ordering::Relaxed);
    now
}

/// The most bytes the process has held, as sampled by [`note_used`].
pub fn peak_used_bytes() -> u64 {
    PEAK_SEEN.load(Ordering::Relaxed)
}

/// The machine's physical memory in bytes (INFO `total_system_memory`).
pub fn total_system_memory() -> u64 {
    // SAFETY: sysinfo fills a struct we own.
    let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
    if unsafe { libc::sysinfo(&mut info) } != 0 {
        return 0;
    }
    info.totalram as u64 * u64::from(info.mem_unit.max(1))
}

/// A byte count the way INFO prints its `_human` fields: `512B`, `892.97K`, `11.57M`, `23.54G`.
pub fn bytes_human(n: u64) -> String {
    const UNITS: [&str; 5] = ["K", "M", "G", "T", "P"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2}{}", UNITS[unit])
}

/// Where the process's memory goes, read once for INFO memory, MEMORY STATS and DOCTOR.
/// The overhead is what is not the dataset: the start-up size, replication's buffers and the
/// key tables' own structure (a key's entry, with its value and deadline, counts as data).
#[derive(Debug, Clone, Copy, Default)]
pub struct Report {
    pub used: u64,
    pub peak: u64,
    pub startup: u64,
    /// Bytes held in the replication backlog.
    pub backlog: u64,
    /// Bytes queued for replicas (not counted against `maxmemory`).
    pub replica_buffers: u64,
    /// Bytes of the other clients' buffers (CLIENT LIST `tot-mem`, summed).
    pub clients: u64,
    /// The key tables' structure, every shard and database.
    pub tables: u64,
    /// mimalloc's committed bytes.
    pub committed: u64,
    pub rss: u64,
}

impl Report {
    /// Reads the process-wide figures now; `tables`, `clients` and `backlog` come from the
    /// shards, the cores' client lists and the replication state.
    pub fn read(tables: u64, clients: u64, backlog: u64) -> Report {
        let used = note_used();
        Report {
            used,
            peak: peak_used_bytes().max(used),
            startup: startup_bytes(),
            backlog,
            replica_buffers: crate::repl::buffered_for_replicas(),
            clients,
            tables,
            committed: allocator_committed().max(used),
            rss: super::rss_bytes(),
        }
    }

    pub fn overhead(&self) -> u64 {
        self.startup + self.backlog + self.replica_buffers + self.clients + self.tables
    }

    pub fn dataset(&self) -> u64 {
        self.used.saturating_sub(self.overhead())
    }

    /// The dataset's share of what the process holds beyond its start-up size, in percent.
    pub fn dataset_percent(&self) -> f64 {
        percent(self.dataset(), self.used.saturating_sub(self.startup))
    }
}

/// `a` as a percentage of `b` (0 when `b` is 0).
pub fn percent(a: u64, b: u64) -> f64 {
    ratio(a, b) * 100.0
}

/// `a / b` (0 when `b` is 0).
pub fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// INFO's memory section: redis-server 7.0's fields in its order. `used_memory` is what the
/// process holds from its allocator (as redis-server counts it, and what `maxmemory`
/// limits), `used_memory_rss` the resident size, the `allocator_*` figures mimalloc's
/// committed bytes against what is resident. Scripting and functions, which Shoal does not
/// have, hold 0 bytes.
pub fn info_section(r: &Report, maxmemory: u64, policy: &str) -> String {
    let total = total_system_memory();
    let mut s = String::from("# Memory\r\n");
    let mut line = |name: &str, value: String| {
        s.push_str(name);
        s.push(':');
        s.push_str(&value);
        s.push_str("\r\n");
    };
    let human = bytes_human;
    let signed = |a: u64, b: u64| (a as i64 - b as i64).to_string();
    line("used_memory", r.used.to_string());
    line("used_memory_human", human(r.used));
    line("used_memory_rss", r.rss.to_string());
    line("used_memory_rss_human", human(r.rss));
    line("used_memory_peak", r.peak.to_string());
    line("used_memory_peak_human", human(r.peak));
    line("used_memory_peak_perc", format!("{:.2}%", percent(r.used, r.peak)));
    line("used_memory_overhead", r.overhead().to_string());
    line("used_memory_startup", r.startup.to_string());
    line("used_memory_dataset", r.dataset().to_string());
    line("used_memory_dataset_perc", format!("{:.2}%", r.dataset_percent()));
    line("allocator_allocated", r.used.to_string());
    line("allocator_active", r.committed.to_string());
    line("allocator_resident", r.rss.to_string());
    line("total_system_memory", total.to_string());
    line("total_system_memory_human", human(total));
    let scripts = crate::command::script::engine::stats();
    for name in ["used_memory_lua", "used_memory_vm_eval"] {
        line(name, scripts.lua_memory.to_string());
    }
    line("used_memory_lua_human", human(scripts.lua_memory));
    line("used_memory_scripts_eval", scripts.source_bytes.to_string());
    line("number_of_cached_scripts", scripts.cached.to_string());
    let (libraries, functions) = crate::command::script::library::counts();
    line("number_of_functions", functions.to_string());
    line("number_of_libraries", libraries.to_string());
    line("used_memory_vm_functions", "0".into());
    line("used_memory_vm_total", scripts.lua_memory.to_string());
    line("used_memory_vm_total_human", human(scripts.lua_memory));
    line("used_memory_functions", "0".into());
    line("used_memory_scripts", scripts.source_bytes.to_string());
    line("used_memory_scripts_human", human(scripts.source_bytes));
    line("maxmemory", maxmemory.to_string());
    line("maxmemory_human", human(maxmemory));
    line("maxmemory_policy", policy.to_string());
    line("allocator_frag_ratio", format!("{:.2}", ratio(r.committed, r.used)));
    line("allocator_frag_bytes", signed(r.committed, r.used));
    line("allocator_rss_ratio", format!("{:.2}", ratio(r.rss, r.committed)));
    line("allocator_rss_bytes", signed(r.rss, r.committed));
    // The allocator's resident figure is the process's own: nothing lies between them.
    line("rss_overhead_ratio", format!("{:.2}", ratio(r.rss, r.rss)));
    line("rss_overhead_bytes", "0".into());
    line("mem_fragmentation_ratio", format!("{:.2}", ratio(r.rss, r.used)));
    line("mem_fragmentation_bytes", signed(r.rss, r.used));
    line("mem_not_counted_for_evict", r.replica_buffers.to_string());
    line("mem_replication_backlog", r.backlog.to_string());
    line(
        "mem_total_replication_buffers",
        (r.backlog + r.replica_buffers).to_string(),
    );
    line("mem_clients_slaves", r.replica_buffers.to_string());
    line("mem_clients_normal", r.clients.to_string());
    for name in ["mem_cluster_links", "mem_aof_buffer"] {
        line(name, "0".into());
    }
    line("mem_allocator", "mimalloc".into());
    for name in ["active_defrag_running", "lazyfree_pending_objects", "lazyfreed_objects"] {
        line(name, "0".into());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_byte_counts_read_as_info_prints_them() {
        assert_eq!(bytes_human(0), "0B");
        assert_eq!(bytes_human(1023), "1023B");
        assert_eq!(bytes_human(914_400), "892.97K");
        assert_eq!(bytes_human(12_128_256), "11.57M");
        assert_eq!(bytes_human(25_276_510_208), "23.54G");
    }

    #[test]
    fn the_peak_is_at_least_what_is_resident_now() {
        let section = info_section(&Report::read(0, 0, 0), 0, "noeviction");
        let field = |name: &str| -> u64 {
            section
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}:")))
                .and_then(|v| v.parse().ok())
                .expect(name)
        };
        assert!(field("used_memory_peak") >= field("used_memory"));
        assert!(field("total_system_memory") > field("used_memory"));
    }
}
