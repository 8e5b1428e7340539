//! Gives freed memory back to the system once the server goes quiet.
//!
//! mimalloc returns the pages freed memory sat on only from inside later allocator calls,
//! after its purge delay. A core that stops serving makes no such calls, so what its last
//! commands freed (a deleted big key, a flushed database, the old half of a table that grew)
//! stayed resident for as long as the server was idle. redis-server's jemalloc returns it
//! from background threads. Here every core looks once a second: when the server ran no
//! command for a whole second, after running some since the core last collected, the core
//! collects its heap once, which frees its empty pages and purges them. A busy server never
//! pays for it; a quiet one pays once.

use std::rc::Rc;
use std::sync::atomic::Ordering;
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

/// Runs for the life of the core (one per core, spawned at start-up).
pub async fn return_when_quiet(core: Rc<CoreCx>) {
    let mut seen = commands_run(&core);
    let mut collected = true;
    loop {
        runtime::sleep(QUIET_FOR).await;
        let now = commands_run(&core);
        if now != seen {
            seen = now;
            collected = false;
        } else if !collected {
            collect_this_core();
            collected = true;
        }
    }
}

/// Frees this thread's empty allocator pages and returns their memory to the system.
pub fn collect_this_core() {
    // SAFETY: mi_collect only walks and trims the calling thread's own heap and the shared
    // arenas under mimalloc's own synchronisation; it takes no pointer from us.
    unsafe { libmimalloc_sys::mi_collect(true) };
}
