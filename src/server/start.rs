//! Start-up: read the configuration, check io_uring, start one executor per core, bind every
//! core's listeners, and run the per-core background work (active expiry).

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::log::{self, Level};
use super::{ServerState, daemon};
use crate::config::{self, Config, Invocation, LogLevel};
use crate::net;
use crate::runtime::{self, Mesh};
use crate::shard::{Shard, unix_ms};
use crate::store::EncodingLimits;
use crate::txn::{CoreCx, CoreMsg};

/// The CPUs this process may run on (its affinity mask).
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: sched_getaffinity fills a cpu_set_t we own.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) } == 0;
    let cpus: Vec<usize> = if ok {
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
            .collect()
    } else {
        Vec::new()
    };
    if cpus.is_empty() { vec![0] } else { cpus }
}

fn level_of(l: LogLevel) -> Level {
    match l {
        LogLevel::Debug => Level::Debug,
        LogLevel::Verbose => Level::Verbose,
        LogLevel::Notice => Level::Notice,
        LogLevel::Warning => Level::Warning,
    }
}

/// Runs the server; returns the process exit code.
pub fn main_with_args(args: Vec<String>) -> i32 {
    crate::command::observe::start_clock();
    let loaded = match config::parse_args(args) {
        Ok(Invocation::Run(loaded)) => loaded,
        Ok(Invocation::Version) => {
            println!(
                "Shoal server v={} (Redis {} compatible)",
                env!("CARGO_PKG_VERSION"),
                super::REDIS_VERSION
            );
            return 0;
        }
        Ok(Invocation::Help) => {
            println!(
                "Usage: ./shoal-server [/path/to/redis.conf] [options] [-]\n       ./shoal-server -v or --version\n       ./shoal-server -h or --help\n\nExamples:\n       ./shoal-server (run the server with default config)\n       ./shoal-server /etc/redis/6379.conf\n       ./shoal-server --port 7777 --shards 4\n       ./shoal-server /etc/myredis.conf --loglevel verbose -"
            );
            return 0;
        }
        Err(e) => {
            eprintln!("\n{e}");
            return 1;
        }
    };
    let config = loaded.config;
    let (supervisor, supervision_warning) = daemon::supervisor(config.supervised);
    // A supervised server stays in the foreground even with `daemonize yes`, as Redis does:
    // the supervisor tracks this very process.
    if config.daemonize
        && supervisor == daemon::Supervisor::None
        && let Err(e) = daemon::daemonize()
    {
        eprintln!("{e}");
        return 1;
    }
    if let Err(e) = log::init(level_of(config.loglevel), &config.logfile) {
        eprintln!("{e}");
        return 1;
    }
    for w in loaded.warnings.iter().map(String::as_str).chain(supervision_warning) {
        log::warning(w);
    }
    if supervisor == daemon::Supervisor::Upstart {
        daemon::upstart_stop();
    }
    if let Err(e) = runtime::check::check_io_uring() {
        log::warning(&format!("Shoal cannot start: {e}"));
        eprintln!("Shoal cannot start: {e}");
        return 1;
    }
    daemon::install_signal_handlers();
    crate::shard::set_written_keys(crate::command::written_keys);
    // Redis writes a pidfile when asked, or to its default path when it went to the background.
    let background = config.daemonize && supervisor == daemon::Supervisor::None;
    let pidfile = config
        .pidfile
        .clone()
        .or_else(|| background.then(|| "/var/run/redis.pid".to_string()));
    if let Some(p) = &pidfile
        && let Err(e) = daemon::write_pidfile(p)
    {
        log::warning(&e);
    }
    let supervised = supervisor == daemon::Supervisor::Systemd;
    let cpus = allowed_cpus();
    runtime::set_process_cpus(&cpus);
    let shards = if config.shards == 0 {
        cpus.len()
    } else {
        config.shards as usize
    };
    let placement: Vec<usize> = (0..shards).map(|i| cpus[i % cpus.len()]).collect();
    let binds: Vec<(String, bool)> = config.bind.iter().map(|b| (b.addr.clone(), b.optional)).collect();
    let addrs = match net::bind_addrs(&binds, config.port).and_then(|a| net::check_free(&a).map(|_| a)) {
        Ok(a) => a,
        Err(e) => {
            log::warning(&e);
            return 1;
        }
    };
    let databases = config.databases as usize;
    log::notice(&format!(
        "Shoal {} (Redis {} compatible) starting, pid={}, {} shard(s) on cpus {:?}",
        env!("CARGO_PKG_VERSION"),
        super::REDIS_VERSION,
        std::process::id(),
        shards,
        placement
    ));
    let config_file = loaded.config_file.map(|p| p.display().to_string());
    if let Err(e) = std::env::set_current_dir(&config.dir) {
        log::warning(&format!("Can't chdir to '{}': {e}", config.dir));
        return 1;
    }
    let before_load = crate::server::alloc::used_bytes();
    let loaded_keys = match crate::persist::load::load_dump(&config, shards) {
        Ok(l) => l,
        Err(e) => {
            log::warning(&e);
            eprintln!("{e}");
            return 1;
        }
    };
    let loaded_bytes = crate::server::alloc::used_bytes().saturating_sub(before_load);
    let spin = std::time::Duration::from_micros(config.core_spin_us);
    let state = Arc::new(ServerState::new(config, shards, config_file));
    state.refresh_cached_config();
    let _ = state.repl.set(crate::repl::start(shards, state.clone()));
    let loaded_keys = Arc::new(std::sync::Mutex::new(loaded_keys));
    let ready = Arc::new(AtomicUsize::new(0));
    let boot = Boot {
        loaded: loaded_keys,
        addrs,
        databases,
        ready,
        supervised,
        pidfile,
        loaded_bytes,
    };
    crate::shard::give_way::init(shards);
    let result = runtime::run_cores(&placement, 4096, spin, move |idx, mesh: Mesh<CoreMsg>| {
        let state = state.clone();
        let boot = boot.clone();
        async move { core_main(idx, mesh, state, boot).await }
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            log::warning(&e);
            1
        }
    }
}

/// What every core needs to start.
#[derive(Clone)]
struct Boot {
    /// Keys loaded from the dump, one bucket per shard (each core takes its own).
    loaded: Arc<std::sync::Mutex<Vec<Vec<crate::rdb::RdbEntry>>>>,
    addrs: Vec<(std::net::SocketAddr, bool)>,
    databases: usize,
    ready: Arc<AtomicUsize>,
    supervised: bool,
    pidfile: Option<String>,
    /// What loading the dump added to the process (for MEMORY STATS `startup.allocated`).
    loaded_bytes: u64,
}

async fn core_main(idx: usize, mesh: Mesh<CoreMsg>, state: Arc<ServerState>, boot: Boot) {
    let Boot {
        addrs,
        databases,
        ready,
        ..
    } = boot.clone();
    let mut shard = Shard::new(idx, databases);
    shard.limits = encoding_limits(&state.config());
    let mine = std::mem::take(&mut boot.loaded.lock().unwrap_or_else(|e| e.into_inner())[idx]);
    crate::persist::load::insert_entries(&mut shard, mine);
    let core = CoreCx::new(shard, mesh, state.clone());
    core.start_inbox();
    if let Err(e) = net::listen(&core, &addrs) {
        log::warning(&e);
        std::process::exit(1);
    }
    runtime::spawn(active_expiry(core.clone()));
    runtime::spawn_background(crate::persist::snapshot::driver(core.clone()));
    runtime::spawn(give_way(core.clone()));
    runtime::spawn(idle_clients(state.clone()));
    runtime::spawn(crate::server::memory::return_when_quiet(core.clone()));
    if idx == 0 {
        runtime::spawn(crate::persist::save::save_points(core.clone()));
        runtime::spawn(crate::repl::replica::supervise(core.clone()));
        runtime::spawn(crate::server::metrics::run(state.clone()));
    }
    ready.fetch_add(1, Ordering::SeqCst);
    if idx == 0 {
        while ready.load(Ordering::SeqCst) < state.shards {
            runtime::sleep(Duration::from_millis(1)).await;
        }
        crate::server::memory::note_startup(boot.loaded_bytes);
        let list: Vec<String> = addrs.iter().map(|(a, _)| a.to_string()).collect();
        log::notice(&format!("Ready to accept connections tcp on {}", list.join(", ")));
        if boot.supervised
            && let Err(e) = daemon::notify_ready()
        {
            log::warning(&e);
        }
    }
    loop {
        runtime::sleep(Duration::from_millis(50)).await;
        if idx == 0 && daemon::SIGNALLED.load(Ordering::SeqCst) {
            log::from_signal_handler(&format!("Received {} scheduling shutdown...", daemon::signal_name()));
            log::warning("User requested shutdown...");
            final_save(&core).await;
            shutdown(&state, &boot);
        }
        // SHUTDOWN has logged "User requested shutdown..." already.
        if state.shutdown.load(Ordering::Relaxed) && idx == 0 {
            final_save(&core).await;
            shutdown(&state, &boot);
        }
    }
}

/// Saves before exiting when save points exist (or SHUTDOWN SAVE), unless SHUTDOWN NOSAVE.
async fn final_save(core: &Rc<CoreCx>) {
    let st = &core.server;
    let mode = st.persist.shutdown_mode.load(Ordering::SeqCst);
    if mode == 1 || (mode == 0 && st.config().save.is_empty()) {
        return;
    }
    log::notice("Saving the final RDB snapshot before exiting.");
    while st.persist.in_progress.load(Ordering::SeqCst) {
        runtime::sleep(Duration::from_millis(10)).await;
    }
    let txn = crate::txn::Txn::all(core, 2);
    if let Err(e) = crate::persist::save::save(core, txn, false).await {
        log::warning(&format!("Error trying to save the DB, can't exit: {e}"));
    }
}

/// Clean exit: tell systemd, remove the pidfile, say goodbye as Redis does.
fn shutdown(_state: &ServerState, boot: &Boot) -> ! {
    if boot.supervised {
        daemon::notify_stopping();
    }
    if let Some(p) = &boot.pidfile {
        log::notice("Removing the pid file.");
        daemon::remove_pidfile(p);
    }
    runtime::tcp::stop_listening();
    log::warning("Shoal is now ready to exit, bye bye...");
    std::process::exit(0)
}

/// Closes clients idle for longer than `timeout` seconds (checked once a second).
async fn idle_clients(state: Arc<ServerState>) {
    loop {
        runtime::sleep(Duration::from_secs(1)).await;
        let timeout = state.config().timeout as u64;
        if timeout > 0 {
            crate::net::clients::with_local(|c| c.close_idle(timeout, unix_ms()));
        }
    }
}

/// The encoding thresholds a shard needs, from the config.
pub fn encoding_limits(c: &Config) -> EncodingLimits {
    EncodingLimits {
        list_max_listpack_size: c.list_max_listpack_size,
        hash_max_listpack_entries: c.hash_max_listpack_entries as usize,
        hash_max_listpack_value: c.hash_max_listpack_value as usize,
        set_max_intset_entries: c.set_max_intset_entries as usize,
        set_max_listpack_entries: c.set_max_listpack_entries as usize,
        zset_max_listpack_entries: c.zset_max_listpack_entries as usize,
        zset_max_listpack_value: c.zset_max_listpack_value as usize,
    }
}

/// Active expiry: ten times a second, remove expired keys for at most ~1 ms, continuing while
/// a good share of what was examined had expired (as Redis's cycle does).
async fn active_expiry(core: Rc<CoreCx>) {
    loop {
        runtime::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        let (mut expired, mut examined) = (0, 0);
        let capped = loop {
            let (removed, looked_at) = core.with_local_shard(|s| s.active_expire(unix_ms(), 16)).await;
            expired += removed;
            examined += looked_at;
            if removed < 16 {
                break false;
            }
            if started.elapsed() > Duration::from_millis(1) {
                break true;
            }
            runtime::yield_if_needed().await;
        };
        let micros = started.elapsed().as_micros() as u64;
        core.with_local_shard(|s| s.stats.note_expire_cycle(expired, examined, micros, capped))
            .await;
    }
}

/// Over `maxmemory`, every core's helper evicts from its own shard until the process is under
/// the limit again: at once when another shard asks (its keys are all busier than this one's
/// worst, or it has none left, see `shard::give_way`), and ten times a second otherwise (the
/// limit lowered by CONFIG SET, or writes that make no room of their own such as MSET across
/// shards). Near the limit it also publishes its shard's best candidate ten times a second,
/// so that a shard that takes the writes can compare with shards that take none. It lets
/// client work in after every batch of evictions.
async fn give_way(core: Rc<CoreCx>) {
    use crate::shard::evict::{Room, near_limit, over_limit};
    loop {
        let asked = crate::shard::give_way::wait_until_asked(core.id);
        futures_lite::future::or(asked, runtime::sleep(Duration::from_millis(100))).await;
        if near_limit() {
            core.with_local_shard(|s| s.publish_best_candidate(unix_ms())).await;
        }
        if !over_limit() {
            continue;
        }
        core.with_local_shard(|s| s.renew_exhausted_mark()).await;
        while over_limit() {
            if core.with_local_shard(|s| s.evict_own(unix_ms())).await != Room::Evicting {
                break;
            }
            runtime::yield_to_io().await;
        }
    }
}

/// Loads a configuration from text (tests and tools).
pub fn config_from_text(text: &str) -> Result<Config, String> {
    Config::load_str(text).map(|l| l.config).map_err(|e| e.to_string())
}
