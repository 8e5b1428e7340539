//! One replica's link: the socket taken over from its core, a writer thread that sends the
//! sync payload then the stream, and a reader thread that takes `REPLCONF ACK`.
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

    pub fn kill(&self) {
        self.alive.store(false, Ordering::SeqCst);
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

    /// `state=...` as INFO prints it.
    pub fn state_name(&self) -> &'static str {
        if self.online.load(Ordering::SeqCst) {
            "online"
        } else {
            "wait_bgsave"
        }
    }
}

/// Starts the link's threads: the writer sends `first` (the sync reply and payload), waits for
/// the first ACK when `wait_ack` (EOF-marked payloads), then forwards the stream.
pub fn start(
    stream: TcpStream,
    link: Arc<ReplicaLink>,
    rx: Receiver<Arc<Vec<u8>>>,
    first: Vec<u8>,
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
    first: Vec<u8>,
    wait_ack: bool,
    timeout_s: u64,
) {
    let _ = s.set_write_timeout(Some(Duration::from_secs(timeout_s.max(1))));
    if s.write_all(&first).is_err() {
        link.kill();
    }
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
