//! MEMORY USAGE / STATS / DOCTOR / MALLOC-STATS / PURGE / HELP (Redis 7.0).
//!
//! USAGE asks the key's shard for an estimate of what the entry holds (`Entry::footprint`),
//! sampling big collections as redis-server does. STATS gathers every shard's key counts and
//! table sizes and the process-wide counts of `server::memory`; the figures are Shoal's own
//! (its entries are not redis-server's objects), under redis-server's names.

use super::args::parse_int;
use super::dispatch::lower;
use super::slowlog::help_reply;
use super::*;
use crate::resp::Arg;
use crate::server::memory as mem;
use crate::shard::Shard;
use crate::txn::Lock;

pub const SPECS: &[CommandSpec] = &[
    // Run::Conn: the key is optional (`MEMORY STATS`), so the dispatcher cannot route by it.
    CommandSpec::new("memory", -2, READONLY, KeySpan::single(2), Run::Conn(memory)).doc(
        "server",
        "4.0.0",
        "A container for memory diagnostics commands.",
        "subcommand [arguments]",
    ),
];

const HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Reply with a short report of possible memory problems.",
    "MALLOC-STATS",
    "    Reply with the allocator's (mimalloc's) statistics report.",
    "PURGE",
    "    Have every core return its allocator's free pages to the system.",
    "STATS",
    "    Reply with where the server's memory goes, field by field.",
    "USAGE <key> [SAMPLES <count>]",
    "    Reply with the bytes <key> and its value take. Big collections are estimated",
    "    from <count> of their elements (default 5; 0 reads them all).",
    "HELP",
    "    Prints this help.",
];

/// Elements of a big collection that USAGE reads when no SAMPLES is given.
const DEFAULT_SAMPLES: usize = 5;

const SUBCOMMANDS: &[&str] = &["doctor", "malloc-stats", "purge", "stats", "usage", "help"];

fn memory(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let sub = lower(&argv[1]);
        match (sub.as_str(), argv.len()) {
            ("usage", n) if n >= 3 => usage(cx, &argv).await?,
            ("help", 2) => help_reply(&mut cx.out, HELP),
            ("stats", 2) => {
                let stats = gather(cx).await;
                write_stats(&mut cx.out, &stats);
            }
            ("doctor", 2) => {
                let stats = gather(cx).await;
                cx.out.verbatim(doctor(&stats).as_bytes());
            }
            ("malloc-stats", 2) => cx.out.verbatim(mem::allocator_report().as_bytes()),
            ("purge", 2) => {
                for core in 0..cx.core.shards {
                    cx.core.run_on(core, Lock::Free, |_| mem::collect_this_core()).await;
                }
                cx.out.ok();
            }
            _ => return Err(CmdError::subcommand("memory", &argv[1], SUBCOMMANDS)),
        }
        Ok(())
    })
}

/// MEMORY USAGE key [SAMPLES count]: the option may repeat (the last one counts), as in
/// redis-server; a negative count or any other word is a syntax error.
async fn usage(cx: &mut ConnCx, argv: &[Arg]) -> Result<(), CmdError> {
    let mut samples = DEFAULT_SAMPLES;
    let mut i = 3;
    while i < argv.len() {
        if !argv[i].eq_ignore_ascii_case(b"samples") || i + 1 == argv.len() {
            return Err(CmdError::Syntax);
        }
        let n = parse_int(&argv[i + 1])?;
        if n < 0 {
            return Err(CmdError::Syntax);
        }
        samples = n as usize;
        i += 2;
    }
    // As in redis-server, a key past its deadline that is still stored is measured.
    let bytes = cx
        .inspect_key(argv[2].clone(), move |e| Some(e.footprint(samples)))
        .await;
    match bytes {
        Some(n) => cx.out.int(n as i64),
        None => cx.out.null(),
    }
    Ok(())
}

/// One database's share of STATS, summed over the shards.
#[derive(Default, Clone, Copy)]
struct DbStats {
    keys: u64,
    table_bytes: u64,
}

/// What STATS and DOCTOR report, read once: the process's figures and each database's.
struct Stats {
    report: mem::Report,
    dbs: Vec<DbStats>,
    maxmemory: u64,
}

impl Stats {
    fn keys(&self) -> u64 {
        self.dbs.iter().map(|d| d.keys).sum()
    }
}

async fn gather(cx: &ConnCx) -> Stats {
    let mut dbs: Vec<DbStats> = Vec::new();
    let mut clients = 0;
    for core in 0..cx.core.shards {
        let (part, client_bytes): (Vec<DbStats>, u64) = cx
            .core
            .run_on(core, Lock::Free, |s: &mut Shard| {
                let part = s
                    .dbs
                    .iter()
                    .map(|d| DbStats {
                        keys: d.len() as u64,
                        table_bytes: d.table_bytes() as u64,
                    })
                    .collect();
                (part, crate::net::clients::with_local(|c| c.buffer_bytes()))
            })
            .await;
        clients += client_bytes;
        dbs.resize(dbs.len().max(part.len()), DbStats::default());
        for (sum, p) in dbs.iter_mut().zip(part) {
            sum.keys += p.keys;
            sum.table_bytes += p.table_bytes;
        }
    }
    let tables = dbs.iter().map(|d| d.table_bytes).sum();
    let backlog = super::replication::backlog_bytes(&cx.core.server);
    Stats {
        report: mem::Report::read(tables, clients, backlog),
        dbs,
        maxmemory: crate::shard::evict::maxmemory(),
    }
}

fn double(out: &mut crate::resp::Out, v: f64) {
    let mut text = Vec::new();
    crate::util::num::format_double(v, &mut text);
    out.double_text(&text);
}

/// STATS, under redis-server 7.0's field names and in its order. Figures Shoal has no part
/// for (cluster links, AOF, scripts, functions) are 0; the key tables hold expiry inline, so
/// a database has no separate table of deadlines.
fn write_stats(out: &mut crate::resp::Out, stats: &Stats) {
    let r = &stats.report;
    let used_dbs: Vec<(usize, &DbStats)> = stats.dbs.iter().enumerate().filter(|(_, d)| d.keys > 0).collect();
    let keys = stats.keys();
    let net = r.used.saturating_sub(r.startup);
    out.map(27 + used_dbs.len());
    let ints = |out: &mut crate::resp::Out, fields: &[(&str, u64)]| {
        for (name, v) in fields {
            out.bulk(name.as_bytes());
            out.int(*v as i64);
        }
    };
    ints(
        out,
        &[
            ("peak.allocated", r.peak),
            ("total.allocated", r.used),
            ("startup.allocated", r.startup),
            ("replication.backlog", r.backlog),
            ("clients.slaves", r.replica_buffers),
            ("clients.normal", r.clients),
            ("cluster.links", 0),
            ("aof.buffer", 0),
            ("lua.caches", 0),
            ("functions.caches", 0),
        ],
    );
    for (n, d) in used_dbs {
        out.bulk(format!("db.{n}").as_bytes());
        out.map(3);
        ints(
            out,
            &[
                ("overhead.hashtable.main", d.table_bytes),
                ("overhead.hashtable.expires", 0),
                ("overhead.hashtable.slot-to-keys", 0),
            ],
        );
    }
    ints(
        out,
        &[
            ("overhead.total", r.overhead()),
            ("keys.count", keys),
            ("keys.bytes-per-key", net.checked_div(keys).unwrap_or(0)),
            ("dataset.bytes", r.dataset()),
        ],
    );
    out.bulk(b"dataset.percentage");
    double(out, r.dataset_percent());
    out.bulk(b"peak.percentage");
    double(out, mem::percent(r.used, r.peak));
    ints(
        out,
        &[
            ("allocator.allocated", r.used),
            ("allocator.active", r.committed),
            ("allocator.resident", r.rss),
        ],
    );
    let pairs = [
        ("allocator-fragmentation", r.committed, r.used),
        ("allocator-rss", r.rss, r.committed),
        ("rss-overhead", r.rss, r.rss),
    ];
    for (name, a, b) in pairs {
        out.bulk(format!("{name}.ratio").as_bytes());
        double(out, mem::ratio(a, b));
        out.bulk(format!("{name}.bytes").as_bytes());
        out.int(a as i64 - b as i64);
    }
    out.bulk(b"fragmentation");
    double(out, mem::ratio(r.rss, r.used));
    out.bulk(b"fragmentation.bytes");
    out.int(r.rss as i64 - r.used as i64);
}

/// Below this, DOCTOR has too little to judge by.
const DOCTOR_MIN_BYTES: u64 = 5 << 20;

/// DOCTOR: a few plain checks over STATS, each explained in a sentence.
fn doctor(stats: &Stats) -> String {
    let human = mem::bytes_human;
    let s = &stats.report;
    if s.used < DOCTOR_MIN_BYTES {
        return format!(
            "This server holds only {} in all: too little to judge its memory by. Ask again once it holds some data.\n",
            human(s.used)
        );
    }
    let mut findings = Vec::new();
    if s.peak > s.used + s.used / 2 {
        findings.push(format!(
            "* Peak: the server once held {}, {:.0}% more than the {} it holds now. Resident memory may stay higher than the data needs until the allocator gives pages back; MEMORY PURGE asks every core to do so now.",
            human(s.peak),
            (mem::ratio(s.peak, s.used) - 1.0) * 100.0,
            human(s.used)
        ));
    }
    if s.rss > s.used + (10 << 20) && mem::ratio(s.rss, s.used) > 1.4 {
        findings.push(format!(
            "* Fragmentation: the process is resident at {} for {} allocated (ratio {:.2}). Freed memory not yet returned, or memory split into partly used pages, makes up the difference; MEMORY PURGE may return some of it.",
            human(s.rss),
            human(s.used),
            mem::ratio(s.rss, s.used)
        ));
    }
    if s.replica_buffers > (32 << 20) {
        findings.push(format!(
            "* Replicas: {} of the stream is queued for replicas that have not read it yet. A slow or stalled replica holds it until it catches up or its link is closed (client-output-buffer-limit).",
            human(s.replica_buffers)
        ));
    }
    if stats.maxmemory > 0 && s.used > stats.maxmemory / 100 * 95 {
        findings.push(format!(
            "* Limit: {} of the {} maxmemory is in use; writes now evict keys or are refused, as maxmemory-policy says.",
            human(s.used),
            human(stats.maxmemory)
        ));
    }
    if findings.is_empty() {
        return format!(
            "No memory problem found: {} allocated ({} of it data), {} resident, peak {}.\n",
            human(s.used),
            human(s.dataset()),
            human(s.rss),
            human(s.peak)
        );
    }
    format!("Memory report:\n\n{}\n", findings.join("\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(used: u64, peak: u64, rss: u64) -> Stats {
        Stats {
            report: mem::Report {
                used,
                peak,
                startup: 1 << 20,
                backlog: 0,
                replica_buffers: 0,
                clients: 0,
                tables: 4096,
                committed: used,
                rss,
            },
            dbs: vec![DbStats {
                keys: 10,
                table_bytes: 4096,
            }],
            maxmemory: 0,
        }
    }

    #[test]
    fn the_doctor_names_what_it_finds() {
        assert!(doctor(&stats(1 << 20, 1 << 20, 2 << 20)).contains("too little"));
        assert!(doctor(&stats(100 << 20, 100 << 20, 110 << 20)).starts_with("No memory problem"));
        let report = doctor(&stats(100 << 20, 300 << 20, 200 << 20));
        assert!(
            report.contains("* Peak") && report.contains("* Fragmentation"),
            "{report}"
        );
    }

    #[test]
    fn stats_list_every_field_once() {
        let mut out = crate::resp::Out::new(crate::resp::Proto::Resp3);
        write_stats(&mut out, &stats(10 << 20, 12 << 20, 20 << 20));
        let text = String::from_utf8_lossy(out.as_bytes()).to_string();
        // The header counts 27 fields and the one database.
        assert!(text.starts_with("%28\r\n"), "{text}");
        for field in ["peak.allocated", "db.0", "keys.bytes-per-key", "fragmentation.bytes"] {
            let bulk = format!("${}\r\n{field}\r\n", field.len());
            assert_eq!(text.matches(&bulk).count(), 1, "{field}");
        }
    }
}
