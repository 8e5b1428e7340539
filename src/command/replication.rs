//! The master side of the replication protocol: REPLCONF, PSYNC, SYNC, ROLE, WAIT, and the
//! `# Replication` INFO section (see `repl` for the stream itself).
//!
//! PSYNC and SYNC decide partial or full resync as redis-server 7.0 does
//! (`../shared/spec/replication-and-rdb.md`, 2.3), prepare what the replica is sent first, and
//! leave a `Handoff` on the session: the connection loop then gives the socket to the
//! replica link's threads.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::args::{is, parse_int};
use super::*;
use crate::config::ClientClass;
use crate::repl::full_sync;
use crate::repl::link::Payload;
use crate::repl::{Backlog, ReplicaLink};
use crate::shard::WriteRecords;

const R: &str = "server";

pub const SPECS: &[CommandSpec] = &[
    CommandSpec::new("replconf", -1, ADMIN.union(NOSCRIPT).union(LOADING).union(STALE).union(ALLOW_BUSY), KeySpan::NONE, Run::Conn(replconf))
        .doc(R, "3.0.0", "An internal command for configuring the replication stream.", ""),
    CommandSpec::new("psync", -3, ADMIN.union(NOSCRIPT).union(NO_MULTI), KeySpan::NONE, Run::Conn(psync))
        .doc(R, "2.8.0", "An internal command used in replication.", "replicationid offset"),
    CommandSpec::new("sync", 1, ADMIN.union(NOSCRIPT).union(NO_MULTI), KeySpan::NONE, Run::Conn(sync))
        .doc(R, "1.0.0", "An internal command used in replication.", ""),
    CommandSpec::new("role", 1, NOSCRIPT.union(LOADING).union(STALE).union(FAST), KeySpan::NONE, Run::Conn(role))
        .doc(R, "2.8.12", "Returns the replication role.", ""),
    CommandSpec::new("wait", 3, NOSCRIPT, KeySpan::NONE, Run::Conn(wait))
        .doc("generic", "3.0.0", "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.", "numreplicas timeout"),
];

/// What the replica announced with REPLCONF.
#[derive(Default, Clone)]
pub struct ReplicaHello {
    pub listening_port: u16,
    pub ip: Option<String>,
    pub capa_eof: bool,
    pub capa_psync2: bool,
}

/// A replica connection about to leave its core: the link, its stream queue, the bytes to
/// send first (delivered when ready: a full sync's snapshot may still be running), and
/// whether to hold the stream until the first ACK.
pub struct Handoff {
    pub link: Arc<ReplicaLink>,
    pub rx: crossbeam_channel::Receiver<Arc<Vec<u8>>>,
    pub first: crossbeam_channel::Receiver<Payload>,
    pub wait_ack: bool,
}

fn replconf(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        if argv.len().is_multiple_of(2) {
            return Err(CmdError::Syntax);
        }
        let mut reply = true;
        for pair in argv[1..].chunks(2) {
            let (opt, val) = (&pair[0], &pair[1]);
            let hello = &mut cx.session.replica;
            if is(opt, "listening-port") {
                hello.listening_port = parse_int(val)?.clamp(0, 65535) as u16;
            } else if is(opt, "ip-address") {
                hello.ip = Some(String::from_utf8_lossy(val).into_owned());
            } else if is(opt, "capa") {
                if is(val, "eof") {
                    hello.capa_eof = true;
                } else if is(val, "psync2") {
                    hello.capa_psync2 = true;
                }
            } else if is(opt, "ack") || is(opt, "getack") {
                // Only meaningful on a replica link (handled by its reader); never answered.
                reply = false;
            } else if is(opt, "rdb-only") || is(opt, "rdb-filter-only") {
                // Accepted; Shoal always sends the full dataset.
            } else {
                return Err(CmdError::other(format!(
                    "ERR Unrecognized REPLCONF option: {}",
                    super::error::printable(opt, 128)
                )));
            }
        }
        if reply {
            cx.out.ok();
        }
        Ok(())
    })
}

/// Creates the backlog (and a fresh replid, as Redis does) when the first replica attaches,
/// and lists `link` as waiting for its full sync, under the same lock, so the backlog cannot
/// be freed for want of replicas (`repl-backlog-ttl`) in between.
fn ensure_backlog(cx: &ConnCx, link: &Arc<ReplicaLink>) {
    let repl = cx.core.server.repl();
    let size = cx.core.server.config().repl_backlog_size as usize;
    let mut inner = repl.lock();
    inner.waiting.retain(|w| w.is_alive());
    inner.waiting.push(link.clone());
    if inner.backlog.is_none() {
        inner.replid = crate::server::random_hex40();
        inner.replid2 = "0".repeat(40);
        inner.second_offset = -1;
        inner.backlog = Some(Backlog::new(size, repl.master_offset() + 1));
        repl.seq.enable();
    }
}

fn new_link(cx: &ConnCx, pre_psync: bool) -> (Arc<ReplicaLink>, crossbeam_channel::Receiver<Arc<Vec<u8>>>) {
    let ip = cx.session.replica.ip.clone().unwrap_or_else(|| {
        cx.session
            .peer
            .rsplit_once(':')
            .map_or(cx.session.peer.clone(), |(h, _)| h.trim_matches(['[', ']']).to_string())
    });
    let limit = cx.core.server.config().buffer_limit(ClientClass::Replica).hard as usize;
    ReplicaLink::new(cx.session.id, ip, cx.session.replica.listening_port, limit, pre_psync)
}

/// A full resync: the replica joins the queue for the next full-sync snapshot (shared with
/// the replicas waiting with it, see `repl::full_sync`), and the socket is handed to the link
/// at once: its writer sends keep-alive newlines until the payload starts (`repl::link`).
async fn full_sync(cx: &mut ConnCx, legacy: bool) {
    let (link, rx) = new_link(cx, legacy);
    ensure_backlog(cx, &link);
    cx.core.server.repl().sync_full.fetch_add(1, Ordering::Relaxed);
    let diskless = cx.session.replica.capa_eof && !legacy && cx.core.server.config().repl_diskless_sync;
    let (payload_tx, payload_rx) = crossbeam_channel::unbounded();
    // On a replica too: the cut falls between two applied steps of its master's stream (the
    // apply gate), so sub-replicas of a chain share snapshots the same way.
    let waiter = full_sync::Waiter {
        link: link.clone(),
        payload: payload_tx,
        legacy,
        diskless,
        since: Instant::now(),
    };
    full_sync::enqueue(&cx.core, waiter);
    cx.session.handoff = Some(Handoff {
        link,
        rx,
        first: payload_rx,
        wait_ack: diskless,
    });
}

fn psync(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        if cx.session.handoff.is_some() {
            return Ok(());
        }
        replica_link_up(cx)?;
        let wanted_id = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
        let offset = parse_int(&argv[2])?;
        listed_as_replica(cx);
        let repl = cx.core.server.repl().clone();
        // Partial resync when the id matches and the backlog still holds `offset` (2.3).
        let mut backlog_bytes = 0;
        let partial = {
            let mut inner = repl.lock();
            let id_ok = wanted_id == inner.replid || (wanted_id == inner.replid2 && offset <= inner.second_offset);
            let bytes = if id_ok {
                inner.backlog.as_ref().and_then(|b| b.since(offset))
            } else {
                None
            };
            bytes.map(|bytes| {
                backlog_bytes = bytes.len();
                let (link, rx) = new_link(cx, false);
                inner.replicas.push(link.clone());
                let mut first = if cx.session.replica.capa_psync2 {
                    format!("+CONTINUE {}\r\n", inner.replid).into_bytes()
                } else {
                    b"+CONTINUE\r\n".to_vec()
                };
                first.extend_from_slice(&bytes);
                Handoff {
                    link,
                    rx,
                    first: crate::repl::link::ready(first),
                    wait_ack: false,
                }
            })
        };
        match partial {
            Some(h) => {
                repl.sync_partial_ok.fetch_add(1, Ordering::Relaxed);
                crate::server::log::notice(&format!(
                    "Partial resynchronization request from {}:{} accepted, sending {} bytes of backlog",
                    h.link.ip, h.link.listening_port, backlog_bytes
                ));
                cx.session.handoff = Some(h);
            }
            None => {
                if wanted_id != "?" {
                    repl.sync_partial_err.fetch_add(1, Ordering::Relaxed);
                }
                full_sync(cx, false).await
            }
        }
        Ok(())
    })
}

fn sync(cx: &mut ConnCx, _argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        if cx.session.handoff.is_none() {
            replica_link_up(cx)?;
            listed_as_replica(cx);
            full_sync(cx, true).await;
        }
        Ok(())
    })
}

/// From PSYNC/SYNC on, CLIENT LIST shows this connection as a replica (`flags=S`), as Redis
/// does while the sync is prepared; after the handoff its core lists the link instead.
fn listed_as_replica(cx: &ConnCx) {
    if let Some(h) = crate::net::clients::with_local(|c| c.get(cx.session.id)) {
        h.replica.set(true);
    }
}

/// A replica serves PSYNC/SYNC only while its own master link is up.
fn replica_link_up(cx: &ConnCx) -> Result<(), CmdError> {
    let replica = &cx.core.server.repl().replica;
    if replica.is_active() && !replica.is_connected() {
        return Err(CmdError::other(
            "NOMASTERLINK Can't SYNC while not connected with my master",
        ));
    }
    Ok(())
}

/// ROLE on a replica: `slave`, master host and port, link state, processed offset.
fn replica_role(cx: &mut ConnCx) -> bool {
    let repl = cx.core.server.repl();
    let st = repl.replica.lock().clone();
    let Some((host, port)) = st.master else {
        return false;
    };
    let connected = st.state == crate::repl::replica::LinkState::Connected;
    let out = &mut cx.out;
    out.array(5);
    out.bulk(b"slave");
    out.bulk(host.as_bytes());
    out.int(port as i64);
    out.bulk(st.state.name().as_bytes());
    out.int(if connected { repl.master_offset() } else { -1 });
    true
}

fn role(cx: &mut ConnCx, _argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        if replica_role(cx) {
            return Ok(());
        }
        stream_caught_up(&cx.core.server, Some(CATCH_UP_LIMIT)).await;
        let repl = cx.core.server.repl();
        let replicas: Vec<(String, u16, i64)> = repl
            .lock()
            .replicas
            .iter()
            .filter(|r| r.is_alive())
            .map(|r| (r.ip.clone(), r.listening_port, r.ack_offset()))
            .collect();
        let out = &mut cx.out;
        out.array(3);
        out.bulk(b"master");
        out.int(repl.master_offset());
        out.array(replicas.len());
        for (ip, port, off) in replicas {
            out.array(3);
            out.bulk(ip.as_bytes());
            out.bulk(port.to_string().as_bytes());
            out.bulk(off.to_string().as_bytes());
        }
        Ok(())
    })
}

/// How long INFO and ROLE wait for the stream to take in earlier writes before they answer
/// with the offset as it is (only a stalled coordinator would take that long).
pub const CATCH_UP_LIMIT: Duration = Duration::from_secs(1);

/// Waits until every write that took effect before the call is in the stream, so that the
/// `master_repl_offset` read next counts it. Redis advances the offset before it replies to
/// a write; Shoal's coordinator thread merges the shards' records a moment later, and a
/// client that got the reply to a write and then asked for the offset (INFO, ROLE, WAIT) must
/// not see the offset from before it: tools compare a replica's offset with it to decide the
/// replica holds everything written so far. Returns at once when nothing is pending.
pub async fn stream_caught_up(st: &crate::server::ServerState, limit: Option<Duration>) {
    let Some(repl) = st.repl.get() else {
        return;
    };
    let upto = repl.seq.next_gsn();
    let started = Instant::now();
    while repl.seq.is_enabled() && repl.published.load(Ordering::SeqCst) < upto {
        if limit.is_some_and(|l| started.elapsed() >= l) {
            return;
        }
        crate::runtime::sleep(Duration::from_micros(100)).await;
    }
}

/// Replicas whose acknowledged offset reached `offset`.
fn acked(cx: &ConnCx, offset: i64) -> i64 {
    let repl = cx.core.server.repl();
    repl.lock()
        .replicas
        .iter()
        .filter(|r| r.is_online() && r.ack_offset() >= offset)
        .count() as i64
}

fn wait(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        if cx.core.server.repl().replica.is_active() && std::env::var_os("SHOAL_EXPERIMENT_QUEUE").is_none() {
            return Err(CmdError::other(
                "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.",
            ));
        }
        let want = parse_int(&argv[1])?;
        let timeout = parse_int(&argv[2])?;
        if timeout < 0 {
            return Err(CmdError::other("ERR timeout is negative"));
        }
        let repl = cx.core.server.repl().clone();
        // The client's own writes must be in the stream before the offset to wait for is read.
        stream_caught_up(&cx.core.server, None).await;
        let target = repl.master_offset();
        if acked(cx, target) >= want {
            cx.out.int(acked(cx, target));
            return Ok(());
        }
        if !repl.lock().replicas.is_empty() {
            // Ask the replicas for their offsets through the stream itself.
            let mut getack = Vec::new();
            crate::shard::writelog::encode_command(&mut getack, &[b"REPLCONF", b"GETACK", b"*"]);
            repl.seq
                .push(cx.core.id, WriteRecords::one(crate::shard::NO_DB, &getack), false);
        }
        let deadline = (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout as u64));
        let me = crate::net::clients::with_local(|c| c.get(cx.session.id));
        let _blocked = BlockedWhile::new(me.clone());
        loop {
            let n = acked(cx, target);
            // CLIENT UNBLOCK ends the wait as a timeout would, or with an error.
            let unblocked = me.as_ref().and_then(|h| h.unblock_requested());
            if unblocked == Some(true) {
                return Err(CmdError::other(super::list::UNBLOCKED));
            }
            if n >= want || unblocked.is_some() || deadline.is_some_and(|d| Instant::now() >= d) {
                cx.out.int(n);
                return Ok(());
            }
            crate::runtime::sleep(Duration::from_millis(5)).await;
        }
    })
}

/// Marks a client blocked while WAIT waits (CLIENT LIST's `b`, CLIENT UNBLOCK), until dropped.
struct BlockedWhile(Option<std::rc::Rc<crate::net::clients::ClientHandle>>);

impl BlockedWhile {
    fn new(client: Option<std::rc::Rc<crate::net::clients::ClientHandle>>) -> Self {
        if let Some(h) = &client {
            h.blocked.set(true);
        }
        BlockedWhile(client)
    }
}

impl Drop for BlockedWhile {
    fn drop(&mut self) {
        if let Some(h) = &self.0 {
            h.end_blocking();
        }
    }
}

/// Bytes held in the replication backlog (0 without one).
pub fn backlog_bytes(st: &crate::server::ServerState) -> u64 {
    st.repl().lock().backlog.as_ref().map_or(0, |b| b.histlen()) as u64
}

/// The `# Replication` section of INFO for a master.
pub fn info_section(st: &crate::server::ServerState) -> String {
    let repl = st.repl();
    let inner = repl.lock();
    let now = crate::shard::unix_ms();
    let live: Vec<_> = inner
        .replicas
        .iter()
        .chain(&inner.waiting)
        .filter(|r| r.is_alive())
        .collect();
    let mut s = format!(
        "# Replication\r\n{}connected_slaves:{}\r\n",
        role_lines(st, repl),
        live.len()
    );
    let good = live
        .iter()
        .filter(|r| now.saturating_sub(r.last_ack_ms()) <= st.min_replicas_max_lag.load(Ordering::Relaxed) * 1000)
        .count();
    if st.min_replicas_to_write.load(Ordering::Relaxed) > 0 {
        s += &format!("min_slaves_good_slaves:{good}\r\n");
    }
    for (i, r) in live.iter().enumerate() {
        s += &format!(
            "slave{i}:ip={},port={},state={},offset={},lag={}\r\n",
            r.ip,
            r.listening_port,
            r.state_name(),
            r.ack_offset(),
            now.saturating_sub(r.last_ack_ms()) / 1000
        );
    }
    let (active, size, first, hist) = match &inner.backlog {
        Some(b) => (1, b.size(), b.first_offset(), b.histlen()),
        None => (0, st.config().repl_backlog_size as usize, 0, 0),
    };
    s += &format!(
        "master_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:{}\r\nmaster_repl_offset:{}\r\n\
         second_repl_offset:{}\r\nrepl_backlog_active:{active}\r\nrepl_backlog_size:{size}\r\n\
         repl_backlog_first_byte_offset:{first}\r\nrepl_backlog_histlen:{hist}\r\n",
        inner.replid,
        inner.replid2,
        repl.master_offset(),
        inner.second_offset,
    );
    s
}

/// The role lines of INFO replication: `role:master`, or the replica's view of its master
/// (spec 6.2, 6.3), in redis-server 7.0's order.
fn role_lines(st: &crate::server::ServerState, repl: &crate::repl::ReplState) -> String {
    use crate::repl::replica::LinkState;
    let status = repl.replica.lock().clone();
    let Some((host, port)) = &status.master else {
        return "role:master\r\n".to_string();
    };
    let now = crate::shard::unix_ms();
    let up = status.state == LinkState::Connected;
    let last_io = if up {
        (now.saturating_sub(status.last_io_ms) / 1000) as i64
    } else {
        -1
    };
    let (read_off, applied) = if up {
        (status.read_offset.max(repl.master_offset()), repl.master_offset())
    } else if status.can_continue {
        (repl.master_offset(), repl.master_offset())
    } else {
        (1, 1)
    };
    let mut s = format!(
        "role:slave\r\nmaster_host:{host}\r\nmaster_port:{port}\r\nmaster_link_status:{}\r\n\
         master_last_io_seconds_ago:{last_io}\r\nmaster_sync_in_progress:{}\r\n\
         slave_read_repl_offset:{read_off}\r\nslave_repl_offset:{applied}\r\n",
        if up { "up" } else { "down" },
        u8::from(status.sync.is_some()),
    );
    if let Some(p) = status.sync {
        let left = p.total.saturating_sub(p.read);
        let perc = if p.total > 0 {
            p.read as f64 * 100.0 / p.total as f64
        } else {
            0.0
        };
        s += &format!(
            "master_sync_total_bytes:{}\r\nmaster_sync_read_bytes:{}\r\nmaster_sync_left_bytes:{}\r\n\
             master_sync_perc:{perc:.2}\r\nmaster_sync_last_io_seconds_ago:{}\r\n",
            p.total,
            p.read,
            if p.total > 0 { left as i64 } else { -1 },
            now.saturating_sub(p.last_io_ms) / 1000
        );
    }
    if !up {
        let since = if status.down_since_ms == 0 {
            -1
        } else {
            (now.saturating_sub(status.down_since_ms) / 1000) as i64
        };
        s += &format!("master_link_down_since_seconds:{since}\r\n");
    }
    let c = st.config();
    s += &format!(
        "slave_priority:{}\r\nslave_read_only:{}\r\nreplica_announced:{}\r\n",
        c.replica_priority,
        u8::from(c.replica_read_only),
        u8::from(c.replica_announced)
    );
    s
}
