//! One replica's link: the socket taken over from its core, a writer thread that sends the
//! sync payload then the stream, and a reader thread that takes `REPLCONF ACK`.
//!
//! The socket is handed over as soon as PSYNC is decided, before a full sync's snapshot is
//! ready: the writer then sends a bare `\n` every second until the payload arrives, as
//! redis-server does, so that a slow snapshot never trips the replica's `repl-timeout` (a
//! replica skips empty lines while it waits for `+FULLRESYNC` or the payload header).
//!
//! The writer's queue is bounded by `client-output-buffer-limit replica`: a replica that falls
//! further behind than the hard limit is disconnected, so a slow replica never costs the master
//! more memory than that.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};

use crate::resp::{ParseLimits, RequestParser};
use crate::shard::unix_ms;

pub struct ReplicaLink {
    pub id: u64,
    pub ip: String,
    pub listening_port: u16,
    tx: Sender<Arc<Vec<u8>>>,
    queued: AtomicUsize,
    hard_limit: usize,
    alive: AtomicBool,
    online: AtomicBool,
    got_ack: AtomicBool,
    ack_offset: AtomicI64,
    last_ack_ms: AtomicU64,
    /// Connected with SYNC: sends no ACKs, never timed out for missing them.
    pub pre_psync: bool,
    /// A handle on the socket so that `kill` (CLIENT KILL, an overflow) closes it at once
    /// rather than when the threads next wake up; taken by the first `kill`.
    socket: std::sync::Mutex<Option<TcpStream>>,
}

impl ReplicaLink {
    /// A link and the receiving end of its stream queue.
    pub fn new(
        id: u64,
        ip: String,
        listening_port: u16,
        hard_limit: usize,
        pre_psync: bool,
    ) -> (Arc<Self>, Receiver<Arc<Vec<u8>>>) {
        let (tx, rx) = unbounded();
        let link = Arc::new(ReplicaLink {
            id,
            ip,
            listening_port,
            tx,
            queued: AtomicUsize::new(0),
            hard_limit,
            alive: AtomicBool::new(true),
            online: AtomicBool::new(false),
            got_ack: AtomicBool::new(false),
            ack_offset: AtomicI64::new(0),
            last_ack_ms: AtomicU64::new(unix_ms()),
            pre_psync,
            socket: std::sync::Mutex::new(None),
        });
        (link, rx)
    }

    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    pub fn is_online(&self) -> bool {
        self.is_alive() && self.online.load(Ordering::SeqCst)
    }

    pub fn ack_offset(&self) -> i64 {
        self.ack_offset.load(Ordering::SeqCst)
    }

    pub fn last_ack_ms(&self) -> u64 {
        self.last_ack_ms.load(Ordering::SeqCst)
    }

    /// Sent at least one `REPLCONF ACK` (CLIENT LIST shows `cmd=replconf` from then on).
    pub fn acked(&self) -> bool {
        self.got_ack.load(Ordering::SeqCst)
    }

    pub fn kill(&self) {
        self.alive.store(false, Ordering::SeqCst);
        let socket = self.socket.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(s) = socket {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Queues stream bytes for the replica (called by the coordinator).
    pub fn feed(&self, chunk: Arc<Vec<u8>>) {
        if !self.is_alive() {
            return;
        }
        let queued = self.queued.fetch_add(chunk.len(), Ordering::SeqCst) + chunk.len();
        if self.hard_limit > 0 && queued > self.hard_limit {
            crate::server::log::warning(&format!(
                "Client id={} addr={}:{} scheduled to be closed ASAP for overcoming of output buffer limits.",
                self.id, self.ip, self.listening_port
            ));
            self.kill();
            return;
        }
        let _ = self.tx.send(chunk);
    }

    /// Stream bytes queued and not yet written to the socket.
    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// `state=...` as INFO prints it.
    pub fn state_name(&self) -> &'static str {
        if self.online.load(Ordering::SeqCst) {
            "online"
        } else {
            "wait_bgsave"
        }
    }
}

/// How often a replica waiting for its payload gets a keep-alive newline.
pub const KEEPALIVE_EVERY: Duration = Duration::from_secs(1);

/// What the writer sends before the stream, in order, until `End`.
pub enum Payload {
    Bytes(Vec<u8>),
    /// An RDB body produced while it is sent (diskless full sync): pieces until `None`; a body
    /// that stops without `None` (the snapshot failed) ends the link.
    Body(Receiver<Option<Vec<u8>>>),
    End,
}

/// Waits for the first message, writing a keep-alive `\n` to `out` every `every` meanwhile.
/// `None` when the link died, the producer gave up (its sender dropped) or the socket failed.
pub fn await_payload<T>(
    out: &mut impl Write,
    first: &Receiver<T>,
    alive: impl Fn() -> bool,
    every: Duration,
) -> Option<T> {
    // Poll in short steps so a replica that went away is noticed quickly.
    let step = every.min(Duration::from_millis(100));
    let mut next_newline = Instant::now() + every;
    loop {
        if !alive() {
            return None;
        }
        match first.recv_timeout(step) {
            Ok(msg) => return Some(msg),
            Err(RecvTimeoutError::Disconnected) => return None,
            Err(RecvTimeoutError::Timeout) => {}
        }
        if Instant::now() >= next_newline {
            next_newline += every;
            if out.write_all(b"\n").and_then(|_| out.flush()).is_err() {
                return None;
            }
        }
    }
}

/// A payload that is ready now (partial resync, in-memory full sync).
pub fn ready(bytes: Vec<u8>) -> Receiver<Payload> {
    let (tx, rx) = unbounded();
    let _ = tx.send(Payload::Bytes(bytes));
    let _ = tx.send(Payload::End);
    rx
}

/// Sends the payload messages to `out` (keep-alives until the first one); false when the
/// link must end instead of going on to the stream.
fn send_payload(out: &mut impl Write, first: &Receiver<Payload>, alive: impl Fn() -> bool) -> bool {
    let Some(mut msg) = await_payload(out, first, &alive, KEEPALIVE_EVERY) else {
        return false;
    };
    loop {
        match msg {
            Payload::Bytes(b) => {
                if out.write_all(&b).is_err() {
                    return false;
                }
                super::count_bytes(&super::NET_OUTPUT_BYTES, b.len());
            }
            Payload::Body(body) => loop {
                match body.recv_timeout(Duration::from_millis(200)) {
                    Ok(Some(piece)) => {
                        if out.write_all(&piece).is_err() {
                            return false;
                        }
                        super::count_bytes(&super::NET_OUTPUT_BYTES, piece.len());
                    }
                    Ok(None) => break,
                    Err(RecvTimeoutError::Timeout) if alive() => {}
                    Err(_) => return false,
                }
            },
            Payload::End => return true,
        }
        msg = match first.recv() {
            Ok(m) => m,
            Err(_) => return false,
        };
    }
}

/// Streams a snapshot to a link as it is produced (diskless full sync), so the RDB is never
/// held whole in memory and the transfer overlaps the serialization. A full channel slows the
/// snapshot down; a dead link fails it.
pub struct LinkSink {
    tx: Sender<Option<Vec<u8>>>,
    buf: Vec<u8>,
    link: Arc<ReplicaLink>,
}

/// Bytes gathered before a piece goes to the writer.
const SINK_PIECE: usize = 256 * 1024;

impl LinkSink {
    /// A sink for `link` and the body to hand its writer (`Payload::Body`).
    pub fn new(link: Arc<ReplicaLink>) -> (LinkSink, Receiver<Option<Vec<u8>>>) {
        let (tx, rx) = crossbeam_channel::bounded(8);
        let sink = LinkSink {
            tx,
            buf: Vec::with_capacity(SINK_PIECE),
            link,
        };
        (sink, rx)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let piece = std::mem::replace(&mut self.buf, Vec::with_capacity(SINK_PIECE));
        self.tx
            .send(Some(piece))
            .map_err(|_| std::io::Error::other("the replica link closed"))
    }
}

impl crate::persist::snapshot::RdbSink for LinkSink {
    type Output = ();

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if !self.link.is_alive() {
            return Err(std::io::Error::other("the replica link closed"));
        }
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= SINK_PIECE {
            self.flush()?;
        }
        Ok(())
    }

    fn finish(mut self) -> std::io::Result<()> {
        self.flush()?;
        self.tx
            .send(None)
            .map_err(|_| std::io::Error::other("the replica link closed"))
    }

    fn abandon(self) {}
}

/// Starts the link's threads: the writer sends the `first` messages (the sync reply and
/// payload; keep-alives until the first one), waits for the first ACK when `wait_ack`
/// (EOF-marked payloads), then forwards the stream.
pub fn start(
    stream: TcpStream,
    link: Arc<ReplicaLink>,
    rx: Receiver<Arc<Vec<u8>>>,
    first: Receiver<Payload>,
    wait_ack: bool,
    repl_timeout_s: u64,
) {
    let _ = stream.set_nodelay(true);
    let reader = match stream.try_clone() {
        Ok(r) => r,
        Err(_) => {
            link.kill();
            return;
        }
    };
    if let Ok(s) = stream.try_clone() {
        *link.socket.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
        if !link.is_alive() {
            // Killed while the socket was being handed over.
            link.kill();
        }
    }
    let l = link.clone();
    let _ = std::thread::Builder::new()
        .name(format!("shoal-replica-{}-r", link.id))
        .spawn(move || read_acks(reader, l));
    let _ = std::thread::Builder::new()
        .name(format!("shoal-replica-{}-w", link.id))
        .spawn(move || write_stream(stream, link, rx, first, wait_ack, repl_timeout_s));
}

fn write_stream(
    mut s: TcpStream,
    link: Arc<ReplicaLink>,
    rx: Receiver<Arc<Vec<u8>>>,
    first: Receiver<Payload>,
    wait_ack: bool,
    timeout_s: u64,
) {
    let _ = s.set_write_timeout(Some(Duration::from_secs(timeout_s.max(1))));
    if !send_payload(&mut s, &first, || link.is_alive()) {
        link.kill();
    }
    drop(first);
    if wait_ack {
        let started = Instant::now();
        while link.is_alive() && !link.got_ack.load(Ordering::SeqCst) {
            if started.elapsed() > Duration::from_secs(timeout_s.max(1)) {
                link.kill();
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    link.online.store(true, Ordering::SeqCst);
    link.last_ack_ms.store(unix_ms(), Ordering::SeqCst);
    while link.is_alive() {
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(chunk) => {
                link.queued.fetch_sub(chunk.len(), Ordering::SeqCst);
                if s.write_all(&chunk).is_err() {
                    link.kill();
                } else {
                    super::count_bytes(&super::NET_OUTPUT_BYTES, chunk.len());
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => link.kill(),
        }
        let silent = unix_ms().saturating_sub(link.last_ack_ms()) / 1000;
        if !link.pre_psync && silent > timeout_s {
            crate::server::log::warning("Disconnecting timedout replica (streaming sync)");
            link.kill();
        }
    }
    let _ = s.shutdown(std::net::Shutdown::Both);
}

fn read_acks(mut s: TcpStream, link: Arc<ReplicaLink>) {
    let mut buf = BytesMut::with_capacity(4096);
    let mut parser = RequestParser::new();
    let mut chunk = [0u8; 4096];
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    while link.is_alive() {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => continue,
            Err(_) => break,
        }
        while let Ok(Some(req)) = parser.next(&mut buf, &ParseLimits::default()) {
            let is_ack =
                req.len() >= 3 && req[0].eq_ignore_ascii_case(b"replconf") && req[1].eq_ignore_ascii_case(b"ack");
            if is_ack && let Some(off) = std::str::from_utf8(&req[2]).ok().and_then(|v| v.parse::<i64>().ok()) {
                link.ack_offset.fetch_max(off, Ordering::SeqCst);
                link.last_ack_ms.store(unix_ms(), Ordering::SeqCst);
                link.got_ack.store(true, Ordering::SeqCst);
            }
        }
    }
    link.kill();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_until_the_payload_arrives() {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let producer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(380));
            let _ = tx.send(b"+FULLRESYNC".to_vec());
        });
        let mut out = Vec::new();
        let got = await_payload(&mut out, &rx, || true, Duration::from_millis(100));
        let _ = producer.join();
        assert_eq!(got.as_deref(), Some(&b"+FULLRESYNC"[..]));
        assert!(
            out.iter().all(|&b| b == b'\n'),
            "only newlines before the payload: {out:?}"
        );
        assert!(
            (2..=4).contains(&out.len()),
            "one newline per period, got {}",
            out.len()
        );
    }

    #[test]
    fn ready_payload_goes_out_without_newlines() {
        let mut out = Vec::new();
        assert!(send_payload(&mut out, &ready(b"+CONTINUE".to_vec()), || true));
        assert_eq!(out, b"+CONTINUE");
    }

    #[test]
    fn streamed_body_goes_out_between_header_and_mark() {
        let (tx, first) = unbounded();
        let (body_tx, body_rx) = crossbeam_channel::bounded(2);
        for m in [
            Payload::Bytes(b"head|".to_vec()),
            Payload::Body(body_rx),
            Payload::Bytes(b"|mark".to_vec()),
            Payload::End,
        ] {
            let _ = tx.send(m);
        }
        let producer = std::thread::spawn(move || {
            for piece in [&b"rdb-"[..], b"bytes"] {
                let _ = body_tx.send(Some(piece.to_vec()));
            }
            let _ = body_tx.send(None);
        });
        let mut out = Vec::new();
        assert!(send_payload(&mut out, &first, || true));
        let _ = producer.join();
        assert_eq!(out, b"head|rdb-bytes|mark");
    }

    #[test]
    fn a_body_that_stops_early_ends_the_link() {
        let (tx, first) = unbounded();
        let (body_tx, body_rx) = crossbeam_channel::bounded(2);
        let _ = tx.send(Payload::Bytes(b"head|".to_vec()));
        let _ = tx.send(Payload::Body(body_rx));
        let _ = tx.send(Payload::Bytes(b"|mark".to_vec()));
        let _ = body_tx.send(Some(b"part".to_vec()));
        drop(body_tx);
        let mut out = Vec::new();
        assert!(!send_payload(&mut out, &first, || true));
        assert_eq!(out, b"head|part", "no mark after a failed body");
    }

    #[test]
    fn gives_up_when_the_producer_or_the_link_goes_away() {
        let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(1);
        drop(tx);
        assert!(await_payload(&mut Vec::new(), &rx, || true, Duration::from_millis(10)).is_none());
        let (_tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(1);
        assert!(await_payload(&mut Vec::new(), &rx, || false, Duration::from_millis(10)).is_none());
    }
}
