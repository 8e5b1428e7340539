//! The server family: INFO, CONFIG, TIME, DEBUG, SHUTDOWN (COMMAND lives in `docs`).
//!
//! INFO gathers per-shard figures with one hop over all shards and prints Redis 7.0's
//! `field:value` layout, section by section.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::dispatch::lower;
use super::*;
use crate::net::pubsub::Space;
use crate::server::stats::total;
use crate::server::{REDIS_VERSION, ServerState};
use crate::shard::{Shard, ShardStats};
use crate::txn::Lock;

const SRV: &str = "server";

pub const SPECS: &[CommandSpec] = &[
    CommandSpec::new("info", -1, LOADING.union(STALE), KeySpan::NONE, Run::Conn(info)).doc(
        SRV,
        "1.0.0",
        "Returns information and statistics about the server.",
        "[section [section ...]]",
    ),
    CommandSpec::new(
        "config",
        -2,
        ADMIN.union(NOSCRIPT).union(LOADING).union(STALE),
        KeySpan::NONE,
        Run::Conn(config),
    )
    .doc(
        SRV,
        "2.0.0",
        "A container for server configuration commands.",
        "subcommand [arguments]",
    ),
    CommandSpec::new(
        "time",
        1,
        FAST.union(LOADING).union(STALE),
        KeySpan::NONE,
        Run::Conn(time),
    )
    .doc(SRV, "2.6.0", "Returns the server time.", ""),
    CommandSpec::new(
        "shutdown",
        -1,
        ADMIN
            .union(NOSCRIPT)
            .union(LOADING)
            .union(STALE)
            .union(NO_MULTI)
            .union(ALLOW_BUSY),
        KeySpan::NONE,
        Run::Conn(shutdown),
    )
    .doc(
        SRV,
        "1.0.0",
        "Synchronously saves the database(s) to disk and shuts down the Redis server.",
        "[NOSAVE|SAVE] [NOW] [FORCE] [ABORT]",
    ),
    CommandSpec::new(
        "debug",
        -2,
        ADMIN.union(NOSCRIPT).union(LOADING).union(STALE),
        KeySpan::NONE,
        Run::Conn(debug),
    )
    .doc(
        SRV,
        "1.0.0",
        "A container for debugging commands.",
        "subcommand [arguments]",
    ),
];

/// Figures one shard contributes to INFO.
#[derive(Clone, Copy, Default)]
struct ShardFigures {
    stats: ShardStats,
    dirty: u64,
    /// Per db: keys, keys with a deadline, their estimated average TTL in ms.
    keys: [(usize, usize, u64); 16],
    dbs: usize,
    /// Bytes of the key tables' own structure (INFO memory's overhead).
    tables: u64,
}

fn shard_figures(s: &mut Shard) -> ShardFigures {
    let mut f = ShardFigures {
        stats: s.stats,
        dirty: s.log.dirty,
        dbs: s.dbs.len(),
        ..Default::default()
    };
    for (i, db) in s.dbs.iter().enumerate().take(16) {
        f.keys[i] = (db.len(), db.volatile_len(), db.avg_ttl_ms());
    }
    f.tables = s.dbs.iter().map(|db| db.table_bytes() as u64).sum();
    f
}

fn cpu_seconds() -> (f64, f64) {
    // SAFETY: getrusage fills a struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_stime), secs(ru.ru_utime))
}

fn section_server(s: &mut String, st: &ServerState) {
    let cfg = st.config();
    let up = st.started.elapsed().as_secs();
    let _ = write!(
        s,
        "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\n\
         redis_build_id:0\r\nredis_mode:standalone\r\nos:{}\r\narch_bits:64\r\nmultiplexing_api:io_uring\r\n\
         atomicvar_api:c11-builtin\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\n\
         server_time_usec:{}\r\nuptime_in_seconds:{up}\r\nuptime_in_days:{}\r\nhz:10\r\nconfigured_hz:10\r\n\
         executable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\nshoal_version:{}\r\nshoal_shards:{}\r\n",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|r| format!("Linux {}", r.trim()))
            .unwrap_or_default(),
        std::process::id(),
        st.run_id,
        cfg.port,
        crate::shard::unix_ms() * 1000,
        up / 86400,
        st.executable,
        st.config_file.clone().unwrap_or_default(),
        env!("CARGO_PKG_VERSION"),
        st.shards,
    );
}

/// What INFO gathers from each core besides its shard: command statistics and its clients.
struct CoreFigures {
    cmds: super::cmdstats::CoreStats,
    clients: u64,
    /// The channels, patterns and shard channels subscribed on the core (for INFO stats only).
    pubsub: [Vec<Vec<u8>>; 3],
    /// Bytes its clients' buffers hold (INFO memory).
    client_bytes: u64,
}

/// Whether INFO with arguments `wanted` shows section `name`. `commandstats` is never part of
/// the default set (as in Redis 7.0).
fn wants_section(wanted: &[String], name: &str) -> bool {
    let all = wanted.iter().any(|w| w == "all" || w == "everything");
    let default = wanted.is_empty() || wanted.iter().any(|w| w == "default");
    all || (default && name != "commandstats") || wanted.iter().any(|w| w == name)
}

fn info_text(st: &ServerState, figs: &[ShardFigures], cores: &[CoreFigures], wanted: &[String]) -> String {
    let want = |name: &str| wants_section(wanted, name);
    let mut merged = super::cmdstats::CoreStats::default();
    for c in cores {
        merged.merge(&c.cmds);
    }
    let c = &st.counters;
    let mut s = String::new();
    let sep = |s: &mut String| {
        if !s.is_empty() {
            s.push_str("\r\n");
        }
    };
    if want("server") {
        section_server(&mut s, st);
    }
    if want("clients") {
        sep(&mut s);
        let _ = write!(
            s,
            "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\n\
             client_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:0\r\n\
             tracking_clients:0\r\nclients_in_timeout_table:0\r\n",
            total(c, |x| &x.connected_clients),
            st.config().maxclients,
        );
        // Clients waiting out a CLIENT PAUSE count as blocked, as in Redis.
        let paused = super::pause::waiting_clients();
        if paused > 0 {
            s = s.replace("blocked_clients:0\r\n", &format!("blocked_clients:{paused}\r\n"));
        }
    }
    if want("memory") {
        sep(&mut s);
        let cfg = st.config();
        let tables = figs.iter().map(|f| f.tables).sum();
        let clients = cores.iter().map(|c| c.client_bytes).sum();
        let report = crate::server::memory::Report::read(tables, clients, super::replication::backlog_bytes(st));
        s += &crate::server::memory::info_section(&report, cfg.maxmemory, cfg.maxmemory_policy.as_str());
    }
    if want("persistence") {
        sep(&mut s);
        let dirty: u64 = figs.iter().map(|f| f.dirty).sum();
        s += &st.persist.info_section(dirty);
    }
    if want("replication") {
        sep(&mut s);
        s += &super::replication::info_section(st);
    }
    if want("stats") {
        sep(&mut s);
        section_stats(&mut s, st, figs, cores, merged.total_errors);
    }
    if want("cpu") {
        sep(&mut s);
        let (sys, user) = cpu_seconds();
        let _ = write!(s, "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\n");
    }
    if want("modules") {
        // No module system: the section exists, empty, as on a Redis without modules.
        sep(&mut s);
        s.push_str("# Modules\r\n");
    }
    if want("commandstats") {
        sep(&mut s);
        s += &super::cmdstats::commandstats_section(&merged);
    }
    if want("errorstats") {
        sep(&mut s);
        s += &super::cmdstats::errorstats_section(&merged);
    }
    if want("cluster") {
        sep(&mut s);
        s.push_str("# Cluster\r\ncluster_enabled:0\r\n");
    }
    if want("keyspace") {
        sep(&mut s);
        s.push_str("# Keyspace\r\n");
        let dbs = figs.first().map_or(0, |f| f.dbs.min(16));
        for db in 0..dbs {
            let keys: usize = figs.iter().map(|f| f.keys[db].0).sum();
            let expires: usize = figs.iter().map(|f| f.keys[db].1).sum();
            // Each shard estimates over its own keys: weigh the estimates made so far by
            // their shards' counts.
            let sampled = figs.iter().filter(|f| f.keys[db].2 > 0);
            let weight: u128 = sampled.clone().map(|f| f.keys[db].1 as u128).sum();
            let weighted: u128 = sampled.map(|f| f.keys[db].2 as u128 * f.keys[db].1 as u128).sum();
            let avg_ttl = weighted.checked_div(weight).unwrap_or(0);
            if keys > 0 {
                let _ = write!(s, "db{db}:keys={keys},expires={expires},avg_ttl={avg_ttl}\r\n");
            }
        }
    }
    if want("shoal") {
        sep(&mut s);
        s += &shoal_section(figs, cores);
    }
    s
}

/// INFO `# Shoal`: one line per shard (= core). `keys`/`expires` count every db of the shard;
/// `calls` and `clients` are the commands run by, and the connections of, that core's clients.
fn shoal_section(figs: &[ShardFigures], cores: &[CoreFigures]) -> String {
    let mut s = String::from("# Shoal\r\n");
    for (i, (f, c)) in figs.iter().zip(cores).enumerate() {
        let keys: usize = f.keys.iter().map(|k| k.0).sum();
        let expires: usize = f.keys.iter().map(|k| k.1).sum();
        let _ = write!(
            s,
            "shard{i}:keys={keys},expires={expires},calls={},clients={},keyspace_hits={},keyspace_misses={},expired_keys={}\r\n",
            c.cmds.calls(),
            c.clients,
            f.stats.keyspace_hits,
            f.stats.keyspace_misses,
            f.stats.expired_keys,
        );
    }
    s
}

/// INFO stats, field for field as redis-server 7.0 lays it out. What Shoal has no use for
/// (forks: snapshots need none; eviction, defragmentation, client tracking, I/O threads,
/// MIGRATE) is there with the zero it truly is.
fn section_stats(s: &mut String, st: &ServerState, figs: &[ShardFigures], cores: &[CoreFigures], errors: u64) {
    use crate::server::metrics::Metric;
    let c = &st.counters;
    let sum = |f: fn(&ShardStats) -> u64| figs.iter().map(|x| f(&x.stats)).sum::<u64>();
    // A name subscribed on several cores counts once.
    let distinct = |space: usize| {
        let mut names: Vec<&Vec<u8>> = cores.iter().flat_map(|c| &c.pubsub[space]).collect();
        names.sort();
        names.dedup();
        names.len()
    };
    let stale = figs.iter().map(|f| f.stats.expired_stale_perc).sum::<f64>() / figs.len().max(1) as f64;
    let kbps = |m: Metric| st.rates.per_sec(m) / 1024.0;
    let repl = st.repl();
    let _ = write!(
        s,
        "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
         instantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\n\
         total_net_repl_input_bytes:{}\r\ntotal_net_repl_output_bytes:{}\r\n\
         instantaneous_input_kbps:{:.2}\r\ninstantaneous_output_kbps:{:.2}\r\n\
         instantaneous_input_repl_kbps:{:.2}\r\ninstantaneous_output_repl_kbps:{:.2}\r\n\
         rejected_connections:{}\r\nsync_full:{}\r\nsync_partial_ok:{}\r\nsync_partial_err:{}\r\n\
         expired_keys:{}\r\nexpired_stale_perc:{:.2}\r\nexpired_time_cap_reached_count:{}\r\n\
         expire_cycle_cpu_milliseconds:{}\r\nevicted_keys:{}\r\nevicted_clients:0\r\n\
         total_eviction_exceeded_time:0\r\ncurrent_eviction_exceeded_time:0\r\n\
         keyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\n\
         pubsubshard_channels:{}\r\nlatest_fork_usec:0\r\ntotal_forks:0\r\nmigrate_cached_sockets:0\r\n\
         slave_expires_tracked_keys:0\r\nactive_defrag_hits:0\r\nactive_defrag_misses:0\r\n\
         active_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\ntotal_active_defrag_time:0\r\n\
         current_active_defrag_time:0\r\ntracking_total_keys:0\r\ntracking_total_items:0\r\n\
         tracking_total_prefixes:0\r\nunexpected_error_replies:0\r\ntotal_error_replies:{}\r\n\
         dump_payload_sanitizations:0\r\ntotal_reads_processed:{}\r\ntotal_writes_processed:{}\r\n\
         io_threaded_reads_processed:0\r\nio_threaded_writes_processed:0\r\n\
         reply_buffer_shrinks:0\r\nreply_buffer_expands:0\r\n",
        total(c, |x| &x.connections_received),
        total(c, |x| &x.commands_processed),
        st.rates.per_sec(Metric::Commands).round() as u64,
        total(c, |x| &x.net_input_bytes),
        total(c, |x| &x.net_output_bytes),
        crate::repl::NET_INPUT_BYTES.load(Ordering::Relaxed),
        crate::repl::NET_OUTPUT_BYTES.load(Ordering::Relaxed),
        kbps(Metric::NetInput),
        kbps(Metric::NetOutput),
        kbps(Metric::ReplInput),
        kbps(Metric::ReplOutput),
        total(c, |x| &x.rejected_connections),
        repl.sync_full.load(Ordering::Relaxed),
        repl.sync_partial_ok.load(Ordering::Relaxed),
        repl.sync_partial_err.load(Ordering::Relaxed),
        sum(|x| x.expired_keys),
        stale * 100.0,
        sum(|x| x.expire_cycles_capped),
        sum(|x| x.expire_cycle_us) / 1000,
        sum(|x| x.evicted_keys),
        sum(|x| x.keyspace_hits),
        sum(|x| x.keyspace_misses),
        distinct(0),
        distinct(1),
        distinct(2),
        errors,
        total(c, |x| &x.reads_processed),
        total(c, |x| &x.writes_processed),
    );
}

fn info(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let wanted: Vec<String> = argv[1..].iter().map(|a| lower(a)).collect();
        let with_stats = wants_section(&wanted, "stats");
        let mut figs = Vec::with_capacity(cx.core.shards);
        let mut cores = Vec::with_capacity(cx.core.shards);
        for shard in 0..cx.core.shards {
            figs.push(cx.core.run_on(shard, Lock::Free, shard_figures).await);
            let (cmds, pubsub, client_bytes) = cx
                .core
                .run_on(shard, Lock::Free, move |_| {
                    let names = |space| crate::net::pubsub::with_local(|r| r.channels(space, None));
                    let pubsub = if with_stats {
                        [names(Space::Channel), names(Space::Pattern), names(Space::Shard)]
                    } else {
                        Default::default()
                    };
                    let client_bytes = crate::net::clients::with_local(|c| c.buffer_bytes());
                    (super::cmdstats::snapshot(), pubsub, client_bytes)
                })
                .await;
            let clients = cx.core.server.counters[shard].connected_clients.load(Ordering::Relaxed);
            cores.push(CoreFigures {
                cmds,
                clients,
                pubsub,
                client_bytes,
            });
        }
        // master_repl_offset must count the writes acknowledged before this INFO.
        super::replication::stream_caught_up(&cx.core.server, Some(super::replication::CATCH_UP_LIMIT)).await;
        let text = info_text(&cx.core.server, &figs, &cores, &wanted);
        cx.out.verbatim(text.as_bytes());
        Ok(())
    })
}

/// CONFIG HELP, in Shoal's words.
const CONFIG_HELP: &[&str] = &[
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern> [<pattern> ...]",
    "    The directives matching the glob patterns, with their values.",
    "SET <directive> <value> [<directive> <value> ...]",
    "    Changes directives at run time, all or none.",
    "RESETSTAT",
    "    Resets the statistics INFO reports.",
    "REWRITE",
    "    Writes the running configuration back to the config file.",
    "HELP",
    "    Prints this help.",
];

/// DEBUG HELP, in Shoal's words.
const DEBUG_HELP: &[&str] = &[
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "SLEEP <seconds>",
    "    Stops the connection's core for <seconds> (fractions allowed).",
    "HELP",
    "    Prints this help.",
];

fn config(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let sub = lower(&argv[1]);
        match sub.as_str() {
            "help" if argv.len() == 2 => super::slowlog::help_reply(&mut cx.out, CONFIG_HELP),
            "get" if argv.len() >= 3 => {
                let cfg = cx.core.server.config();
                let mut pairs = Vec::new();
                for pattern in &argv[2..] {
                    for pair in cfg.get(&String::from_utf8_lossy(pattern)) {
                        if !pairs.contains(&pair) {
                            pairs.push(pair);
                        }
                    }
                }
                cx.out.map(pairs.len());
                for (k, v) in pairs {
                    cx.out.bulk(k.as_bytes());
                    cx.out.bulk(v.as_bytes());
                }
            }
            "set" if argv.len() >= 4 && argv.len().is_multiple_of(2) => {
                let pairs: Vec<(&[u8], &[u8])> = argv[2..].chunks(2).map(|p| (&p[0][..], &p[1][..])).collect();
                let mut guard = cx.core.server.config.write().unwrap_or_else(|e| e.into_inner());
                // `enable-protected-configs local` lets loopback clients change `dir` and friends.
                let local = crate::net::conn::is_loopback(&cx.session.peer);
                guard.set_as(&pairs, local).map_err(CmdError::other)?;
                drop(guard);
                cx.core.server.refresh_cached_config();
                if pairs.iter().any(|(name, _)| name.eq_ignore_ascii_case(b"maxmemory")) {
                    warn_if_over_maxmemory();
                }
                super::slowlog::refresh(&cx.core.server);
                super::latency::refresh(&cx.core.server);
                cx.out.ok();
            }
            "resetstat" if argv.len() == 2 => {
                crate::repl::NET_INPUT_BYTES.store(0, Ordering::Relaxed);
                crate::repl::NET_OUTPUT_BYTES.store(0, Ordering::Relaxed);
                let mut txn = cx.txn_all(1);
                let server = cx.core.server.clone();
                txn.hop(move |s: &mut Shard| {
                    s.stats = ShardStats::default();
                    // The hop runs on each shard's own core: clear that core's command stats
                    // and counters there, their only writer.
                    super::cmdstats::reset();
                    server.counters[s.id].reset();
                })
                .await;
                txn.finish();
                cx.out.ok();
            }
            "rewrite" if argv.len() == 2 => {
                let st = &cx.core.server;
                let Some(path) = st.config_file.clone() else {
                    return Err(CmdError::other("ERR The server is running without a config file"));
                };
                let original = std::fs::read_to_string(&path).unwrap_or_default();
                let text = st.config().rewrite_text(&original);
                std::fs::write(&path, text).map_err(|e| CmdError::other(format!("ERR Rewriting config file: {e}")))?;
                cx.out.ok();
            }
            _ => {
                return Err(CmdError::subcommand(
                    "config",
                    &argv[1],
                    &["get", "set", "resetstat", "rewrite", "help"],
                ));
            }
        }
        Ok(())
    })
}

fn time(cx: &mut ConnCx, _argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        cx.out.array(2);
        cx.out.bulk(now.as_secs().to_string().as_bytes());
        cx.out.bulk(now.subsec_micros().to_string().as_bytes());
        Ok(())
    })
}

/// Whether `enable-debug-command` lets this client run DEBUG ("local": from loopback only),
/// as redis-server 7.0 checks before DEBUG runs (it is off by default).
fn debug_allowed(cx: &ConnCx) -> bool {
    match cx
        .core
        .server
        .config()
        .get("enable-debug-command")
        .first()
        .map(|(_, v)| v.clone())
    {
        Some(v) if v == "yes" => true,
        Some(v) if v == "local" => crate::net::conn::is_loopback(&cx.session.peer),
        _ => false,
    }
}

fn debug(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        if !debug_allowed(cx) {
            return Err(CmdError::other(
                "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
            ));
        }
        match lower(&argv[1]).as_str() {
            "help" if argv.len() == 2 => super::slowlog::help_reply(&mut cx.out, DEBUG_HELP),
            "sleep" if argv.len() == 3 => {
                let secs: f64 = String::from_utf8_lossy(&argv[2])
                    .parse()
                    .map_err(|_| CmdError::NotFloat)?;
                crate::runtime::sleep(std::time::Duration::from_secs_f64(secs.max(0.0))).await;
                cx.out.ok();
            }
            _ => {
                return Err(CmdError::subcommand("debug", &argv[1], &["sleep", "help"]));
            }
        }
        Ok(())
    })
}

fn shutdown(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let mut abort = false;
        let p = &cx.core.server.persist.shutdown_mode;
        for a in &argv[1..] {
            match lower(a).as_str() {
                "nosave" => p.store(1, std::sync::atomic::Ordering::SeqCst),
                "save" => p.store(2, std::sync::atomic::Ordering::SeqCst),
                "now" | "force" => {}
                "abort" => abort = true,
                _ => return Err(CmdError::Syntax),
            }
        }
        if abort {
            return Err(CmdError::other("ERR No shutdown in progress."));
        }
        crate::server::log::warning("User requested shutdown...");
        cx.core.server.shutdown.store(true, std::sync::atomic::Ordering::SeqCst);
        // Like Redis, a successful SHUTDOWN sends no reply: the connection just closes.
        cx.session.close_after_reply = true;
        Ok(())
    })
}

/// After CONFIG SET maxmemory below what the process holds, says what will follow, in
/// redis-server's words.
fn warn_if_over_maxmemory() {
    let max = crate::shard::evict::maxmemory();
    let used = crate::server::alloc::used_bytes();
    if max != 0 && max < used {
        crate::server::log::warning(&format!(
            "WARNING: the new maxmemory value set via CONFIG SET ({max}) is smaller than the current memory usage ({used}). This will result in key eviction and/or the inability to accept new write commands depending on the maxmemory-policy."
        ));
    }
}
