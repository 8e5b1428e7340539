//! One client connection: read, parse every complete request, run them as one batch, write
//! all replies with one write.
//!
//! A protocol error is answered with `-ERR Protocol error: ...` after the replies of the
//! requests before it, then the connection closes, as Redis does. A query buffer that grows
//! past `client-query-buffer-limit` closes the connection without a reply.

use std::os::fd::RawFd;
use std::rc::Rc;

use bytes::BytesMut;

use crate::command::conn::new_session;
use crate::command::{ConnCx, dispatch};
use crate::resp::{ParseLimits, RequestParser};
use crate::runtime::tcp::Stream;
use crate::server::stats::{CoreCounters, total};
use crate::shard::unix_ms;

use super::clients::{self, ClientHandle};
use crate::txn::CoreCx;

const READ_CHUNK: usize = 16 * 1024;

pub async fn serve(core: Rc<CoreCx>, mut stream: Stream) {
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let local = stream.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let cfg = core.server.config();
    let _ = stream.set_keepalive(cfg.tcp_keepalive);
    let limits = ParseLimits {
        max_bulk_len: cfg.proto_max_bulk_len as usize,
    };
    let query_limit = cfg.client_query_buffer_limit as usize;
    let cfg_maxclients = cfg.maxclients;
    let protected = cfg.protected_mode && cfg.requirepass.is_none();
    drop(cfg);
    let counters = &core.server.counters[core.id];
    let connected = total(&core.server.counters, |c| &c.connected_clients);
    if connected >= cfg_maxclients as u64 {
        CoreCounters::add(&counters.rejected_connections, 1);
        let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
        stream.close().await;
        return;
    }
    if protected && !is_loopback(&peer) {
        CoreCounters::add(&counters.rejected_connections, 1);
        let _ = stream.write_all(DENIED).await;
        stream.close().await;
        return;
    }
    CoreCounters::add(&counters.connected_clients, 1);
    let session = new_session(&core, peer.clone(), local.clone());
    let handle = Rc::new(ClientHandle::new(
        session.id,
        peer,
        local,
        stream.raw_fd(),
        session.created_ms,
        false,
    ));
    let registered = clients::with_local(|c| c.register(handle.clone()));
    let mut cx = ConnCx::new(core.clone(), session);
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    // The requests of one read; emptied by each batch and reused.
    let mut batch = Vec::new();
    let mut parser = RequestParser::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut read_peak = ReadPeak::default();
    loop {
        let read = match (cx.session.subs.sub.clone(), cx.session.monitor.clone()) {
            // MONITOR: wait for a request or for other commands' lines, like a subscriber.
            (None, Some(mon)) => {
                futures_lite::future::or(async { Some(stream.read(&mut chunk).await) }, async {
                    mon.ready().await;
                    None
                })
                .await
            }
            (None, None) => Some(stream.read(&mut chunk).await),
            // Subscribed: wait for a request or for messages to forward, whichever comes first.
            // A read dropped before completion consumes nothing (readiness, then recv).
            (Some(sub), _) => {
                futures_lite::future::or(async { Some(stream.read(&mut chunk).await) }, async {
                    sub.ready().await;
                    None
                })
                .await
            }
        };
        if let Some(sub) = cx.session.subs.sub.clone() {
            if sub.overflowed.get() {
                crate::server::log::warning("Client closed for overcoming of output buffer limits (pubsub)");
                break;
            }
            let pending = sub.take();
            if !pending.is_empty() {
                count_write(counters, pending.len());
                if !write_out(&mut stream, &handle, &pending).await {
                    break;
                }
            }
        }
        if let Some(mon) = &cx.session.monitor {
            let lines = mon.take();
            if !lines.is_empty() {
                count_write(counters, lines.len());
                if !write_out(&mut stream, &handle, &lines).await {
                    break;
                }
            }
        }
        if read.is_some() {
            CoreCounters::add(&counters.reads_processed, 1);
        }
        let n = match read {
            None => continue,
            Some(Ok(0)) | Some(Err(_)) => break,
            Some(Ok(n)) => n,
        };
        CoreCounters::add(&counters.net_input_bytes, n as u64);
        rbuf.extend_from_slice(&chunk[..n]);
        let filled = rbuf.len();
        let mut protocol_error = None;
        loop {
            match parser.next(&mut rbuf, &limits) {
                Ok(Some(req)) => batch.push(req),
                Ok(None) => break,
                Err(e) => {
                    protocol_error = Some(e);
                    break;
                }
            }
        }
        if protocol_error.is_none() && rbuf.len() > query_limit {
            crate::server::log::warning("Closing client that reached max query buffer length");
            break;
        }
        read_peak.note(filled, handle.last_active_ms.get());
        let fixed = chunk.capacity() + cx.out.capacity();
        handle.update_buffers(|b| {
            b.qbuf = rbuf.len();
            b.qbuf_free = rbuf.capacity() - rbuf.len();
            b.rbs = rbuf.capacity();
            b.rbp = read_peak.most;
            b.tot_mem = rbuf.capacity() + fixed + b.multi_mem;
        });
        if !batch.is_empty() {
            if let Some(req) = batch.last() {
                crate::command::conn::set_command_label(req, &mut cx.recent_command, &mut handle.last_cmd.borrow_mut());
            }
            let blocking = batch.iter().any(|r| {
                cx.recent_command
                    .lookup(&r[0])
                    .is_some_and(|(_, s)| s.flags.has(crate::command::BLOCKING))
            });
            // Shown as blocked (`b`) while it runs; a queued one (MULTI) does not block.
            handle.blocked.set(blocking && cx.session.multi.is_none());
            if blocking {
                // A client that goes away while blocked must not be served later (and lose the
                // element): watch the socket for its close while the batch runs.
                let closed = futures_lite::future::or(
                    async {
                        dispatch::execute(&mut cx, &mut batch).await;
                        false
                    },
                    peer_closed(&stream),
                )
                .await;
                if closed {
                    break;
                }
            } else {
                dispatch::execute(&mut cx, &mut batch).await;
            }
            if blocking {
                handle.end_blocking();
            }
            handle.last_active_ms.set(unix_ms());
            crate::command::conn::publish(&cx, &handle);
        }
        if let Some(e) = &protocol_error {
            let start = cx.out.len();
            cx.out.error(&format!("ERR {}", e.0));
            crate::command::cmdstats::record_error(&cx.out.as_bytes()[start..]);
            cx.session.close_after_reply = true;
        }
        if !cx.out.is_empty() {
            count_write(counters, cx.out.len());
            if !write_out(&mut stream, &handle, cx.out.as_bytes()).await {
                break;
            }
            cx.out.clear();
        }
        if let Some(h) = cx.session.handoff.take() {
            // The socket now belongs to the replica link's threads; leave without closing it.
            // It stays listed (and killable) as a replica while the link lives.
            let link = h.link.clone();
            if let Some(fd) = hand_off(&stream, h, &core) {
                clients::with_local(|c| c.adopt_link(handle.clone(), link, fd));
            }
            drop(registered);
            CoreCounters::sub(&counters.connected_clients, 1);
            return;
        }
        if cx.session.close_after_reply {
            break;
        }
        // Let the core serve other cores' messages when this client keeps it busy.
        crate::runtime::yield_if_needed().await;
    }
    crate::command::pubsub::drop_all(&mut cx);
    crate::command::monitor::stop(&mut cx.session);
    if !cx.session.watched.is_empty() {
        crate::command::txn::unwatch_all(&mut cx).await;
    }
    drop(registered);
    CoreCounters::sub(&counters.connected_clients, 1);
    stream.close().await;
}

/// Writes `bytes` to the client, showing them in CLIENT LIST's `omem` while the socket has
/// not taken them all; false when the client is gone.
async fn write_out(stream: &mut Stream, handle: &ClientHandle, bytes: &[u8]) -> bool {
    handle.update_buffers(|b| b.omem = bytes.len());
    let ok = stream.write_all(bytes).await.is_ok();
    handle.update_buffers(|b| b.omem = 0);
    ok
}

/// The most the query buffer held within the last few seconds (CLIENT LIST `rbp`, which
/// redis-server resets every five seconds).
#[derive(Default)]
struct ReadPeak {
    most: usize,
    since_ms: u64,
}

impl ReadPeak {
    const WINDOW_MS: u64 = 5000;

    /// Notes a fill of `filled` bytes, at the time of the connection's last command.
    fn note(&mut self, filled: usize, now_ms: u64) {
        if now_ms.saturating_sub(self.since_ms) > Self::WINDOW_MS {
            self.most = 0;
            self.since_ms = now_ms;
        }
        self.most = self.most.max(filled);
    }
}

/// Counts one reply write of `len` bytes (INFO's output bytes and writes processed).
fn count_write(counters: &CoreCounters, len: usize) {
    CoreCounters::add(&counters.net_output_bytes, len as u64);
    CoreCounters::add(&counters.writes_processed, 1);
}

/// Resolves (true) once the peer has closed its side; never resolves while it sends data.
async fn peer_closed(stream: &Stream) -> bool {
    let mut probe = [0u8; 1];
    match stream.peek(&mut probe).await {
        Ok(0) | Err(_) => true,
        Ok(_) => std::future::pending().await,
    }
}

/// Gives a replica's socket (a duplicate of its descriptor) to the replica link's threads;
/// returns the duplicate's descriptor (None when it could not be made).
fn hand_off(stream: &Stream, h: crate::command::replication::Handoff, core: &CoreCx) -> Option<RawFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: dup of a descriptor we own; the new one is owned by the std stream from here.
    let fd = unsafe { libc::dup(stream.raw_fd()) };
    if fd < 0 {
        h.link.kill();
        return None;
    }
    // SAFETY: `fd` is a fresh, open, connected TCP socket descriptor.
    let std_stream = unsafe { std::net::TcpStream::from_raw_fd(fd) };
    let _ = std_stream.set_nonblocking(false);
    let timeout = core.server.config().repl_timeout as u64;
    crate::repl::link::start(std_stream, h.link, h.rx, h.first, h.wait_ack, timeout);
    Some(fd)
}

/// Redis's protected-mode refusal (no password set, client not on loopback).
const DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Whether a client's address is on the loopback interface.
pub(crate) fn is_loopback(peer: &str) -> bool {
    peer.parse::<std::net::SocketAddr>()
        .map(|a| a.ip().is_loopback())
        .unwrap_or(false)
        || peer.starts_with("[::ffff:127.")
}
