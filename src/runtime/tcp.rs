//! TCP listeners and streams on the current core.
//!
//! Every core binds its own listener on the same address with SO_REUSEPORT, so the kernel
//! spreads incoming connections over the cores and no core hands a socket to another.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;

use futures_lite::AsyncWriteExt;

pub struct Listener(glommio::net::TcpListener);

pub struct Stream(glommio::net::TcpStream);

/// Every listening socket of the process, for `stop_listening`.
static LISTENING: std::sync::Mutex<Vec<std::os::fd::RawFd>> = std::sync::Mutex::new(Vec::new());

/// Stops every listener of the process from accepting, at once. Needed before exiting: a
/// socket with an accept still queued in an executor's ring is released by the kernel only
/// after the process is gone, and meanwhile it keeps the port and takes (then resets) new
/// connections, so a server restarted at once would find its port busy.
pub fn stop_listening() {
    let fds = LISTENING.lock().unwrap_or_else(|e| e.into_inner());
    for &fd in fds.iter() {
        // SAFETY: shutdown on a descriptor this process opened and has not closed; on a
        // listening socket it only stops accepting.
        unsafe {
            libc::shutdown(fd, libc::SHUT_RDWR);
        }
    }
}

/// Binds `addr` without SO_REUSEPORT (but with SO_REUSEADDR, so TIME_WAIT does not count)
/// and lets it go: fails when any socket listens there.
pub fn probe_bind(addr: SocketAddr) -> io::Result<()> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())
}

impl Listener {
    /// Binds with SO_REUSEPORT, so all cores can bind the same address, and SO_REUSEADDR, so
    /// a restart binds at once while connections of the previous process sit in TIME_WAIT.
    /// `backlog` is the `tcp-backlog` directive (the kernel caps it at somaxconn). An IPv6
    /// address listens on IPv6 only, as redis-server does, so `bind * ::` binds both.
    pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<Listener> {
        use socket2::{Domain, Protocol, Socket, Type};
        use std::os::fd::{FromRawFd, IntoRawFd};
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket.bind(&addr.into())?;
        socket.listen(backlog.min(i32::MAX as u32) as i32)?;
        let fd = socket.into_raw_fd();
        LISTENING.lock().unwrap_or_else(|e| e.into_inner()).push(fd);
        // SAFETY: the descriptor is a bound, listening TCP socket that nothing else owns.
        let listener = unsafe { glommio::net::TcpListener::from_raw_fd(fd) };
        Ok(Listener(listener))
    }

    pub async fn accept(&self) -> io::Result<Stream> {
        self.0.accept().await.map(Stream).map_err(to_io)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr().map_err(to_io)
    }
}

impl Stream {
    pub async fn connect(addr: SocketAddr) -> io::Result<Stream> {
        glommio::net::TcpStream::connect(addr).await.map(Stream).map_err(to_io)
    }

    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.0.set_nodelay(on).map_err(to_io)
    }

    /// TCP keepalive as the `tcp-keepalive` directive means it: probes after `secs` idle
    /// seconds, then every third of that, and the peer is dead after three unanswered. 0 = off.
    pub fn set_keepalive(&self, secs: u32) -> io::Result<()> {
        use std::os::fd::BorrowedFd;
        use std::time::Duration;
        // SAFETY: the descriptor belongs to `self`, which outlives this borrow.
        let fd = unsafe { BorrowedFd::borrow_raw(self.raw_fd()) };
        let socket = socket2::SockRef::from(&fd);
        if secs == 0 {
            return socket.set_keepalive(false);
        }
        let idle = Duration::from_secs(secs.into());
        let interval = Duration::from_secs((secs / 3).max(1).into());
        let params = socket2::TcpKeepalive::new()
            .with_time(idle)
            .with_interval(interval)
            .with_retries(3);
        socket.set_tcp_keepalive(&params)
    }

    /// The socket's descriptor (for `shutdown` from CLIENT KILL and `timeout`).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.0.as_raw_fd()
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr().map_err(to_io)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr().map_err(to_io)
    }

    /// Waits until data or end-of-stream is readable without consuming it; 0 means closed.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.peek(buf).await.map_err(to_io)
    }

    /// Reads what is available (at least one byte); 0 means the peer closed.
    ///
    /// Not glommio's read: that one arms a one-shot io_uring poll after every read, and a
    /// poll that fires while the core is busy interrupts the core and leaves a completion to
    /// reap. Under load the next request has usually arrived by the time the core's other
    /// connections had their turn; so this lets them run first, then tries a plain
    /// non-blocking receive, and waits on the ring (a one-byte `MSG_PEEK` receive) only when
    /// nothing came. A read dropped while it waits consumes nothing.
    ///
    /// When nothing came but the core is busy, it lets the others run again and retries
    /// before waiting: a ring wait that the client's send completes costs an inter-processor
    /// interrupt and io_uring task work on this core, a failed `recv` much less. Retries come
    /// from a per-core budget ([`RetryCredit`]): each read that got data adds one, at most 64
    /// are saved, and a retry is taken only if some other connection of the core read data
    /// meanwhile. So failed retries never outnumber the core's successful reads, and an idle
    /// core, or one whose clients are slower than it, goes to the ring wait, not into a spin.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        futures_lite::future::yield_now().await;
        loop {
            let reads_before = RetryCredit::reads();
            if let Some(done) = recv_now(self.raw_fd(), buf) {
                if matches!(done, Ok(n) if n > 0) {
                    RetryCredit::earn();
                }
                return done;
            }
            if RetryCredit::spend() {
                futures_lite::future::yield_now().await;
                if RetryCredit::reads() != reads_before {
                    continue;
                }
            }
            self.0.peek(&mut [0u8; 1]).await.map_err(to_io)?;
        }
    }

    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.0.write_all(data).await
    }

    pub async fn close(&mut self) {
        let _ = self.0.close().await;
    }
}

/// This core's successful reads and the retries they have paid for (see [`Stream::read`]).
struct RetryCredit;

/// Retries saved up at most: enough to ride out a burst of empty sockets, too few to spin
/// for long once the core's clients stop sending.
const RETRY_CREDIT_MAX: u32 = 64;

thread_local! {
    static READS: Cell<u64> = const { Cell::new(0) };
    static CREDIT: Cell<u32> = const { Cell::new(0) };
}

impl RetryCredit {
    fn reads() -> u64 {
        READS.get()
    }

    fn earn() {
        READS.set(READS.get().wrapping_add(1));
        CREDIT.set((CREDIT.get() + 1).min(RETRY_CREDIT_MAX));
    }

    /// Takes one retry if the core has one saved.
    fn spend() -> bool {
        let credit = CREDIT.get();
        if credit == 0 {
            return false;
        }
        CREDIT.set(credit - 1);
        true
    }
}

/// One non-blocking `recv`; None when nothing is there yet.
fn recv_now(fd: std::os::fd::RawFd, buf: &mut [u8]) -> Option<io::Result<usize>> {
    loop {
        // SAFETY: `buf` is valid for writes of its length for the whole call.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n >= 0 {
            return Some(Ok(n as usize));
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::WouldBlock => return None,
            io::ErrorKind::Interrupted => continue,
            _ => return Some(Err(err)),
        }
    }
}

/// glommio's errors carry a non-`Sync` payload; keep only their text.
fn to_io(e: glommio::GlommioError<()>) -> io::Error {
    match e {
        glommio::GlommioError::IoError(io) => io,
        other => io::Error::other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_paid_by_reads_and_capped() {
        assert!(!RetryCredit::spend(), "a core that has read nothing has no retry");
        let before = RetryCredit::reads();
        RetryCredit::earn();
        assert_eq!(RetryCredit::reads(), before + 1);
        assert!(RetryCredit::spend());
        assert!(!RetryCredit::spend(), "one read pays for one retry");
        for _ in 0..RETRY_CREDIT_MAX + 10 {
            RetryCredit::earn();
        }
        let mut spent = 0;
        while RetryCredit::spend() {
            spent += 1;
        }
        assert_eq!(spent, RETRY_CREDIT_MAX);
    }
}
