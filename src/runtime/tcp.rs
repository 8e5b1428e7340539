//! TCP listeners and streams on the current core.
//!
//! Every core binds its own listener on the same address with SO_REUSEPORT, so the kernel
//! spreads incoming connections over the cores and no core hands a socket to another.

use std::io;
use std::net::SocketAddr;

use futures_lite::AsyncWriteExt;

use super::readiness::Registration;

pub struct Listener(glommio::net::TcpListener);

/// A connected socket of this core, in the core's readiness set while it lives (the
/// registration is declared first, so it is dropped before the socket is closed).
pub struct Stream {
    readiness: Registration,
    socket: glommio::net::TcpStream,
}

impl Stream {
    fn new(socket: glommio::net::TcpStream) -> io::Result<Stream> {
        use std::os::fd::AsRawFd;
        let readiness = Registration::new(socket.as_raw_fd())?;
        Ok(Stream { readiness, socket })
    }
}

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
        Stream::new(self.0.accept().await.map_err(to_io)?)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr().map_err(to_io)
    }
}

impl Stream {
    pub async fn connect(addr: SocketAddr) -> io::Result<Stream> {
        Stream::new(glommio::net::TcpStream::connect(addr).await.map_err(to_io)?)
    }

    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.socket.set_nodelay(on).map_err(to_io)
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
        self.socket.as_raw_fd()
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.socket.peer_addr().map_err(to_io)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr().map_err(to_io)
    }

    /// Waits until data or end-of-stream is readable without consuming it; 0 means closed.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.receive(buf, libc::MSG_PEEK).await
    }

    /// Reads what is available (at least one byte); 0 means the peer closed.
    ///
    /// Not glommio's read, which waits on the io_uring ring whenever the socket is empty: a
    /// ring wait completed while the core runs costs an interrupt. This receives while the
    /// core's readiness set ([`super::readiness`]) says the socket may have data, and parks
    /// until the set reports it otherwise. A short read means the socket was drained, so the
    /// next read parks without a receive that would find nothing. A read dropped while it
    /// waits consumes nothing.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.receive(buf, 0).await
    }

    /// The receive loop of `read` and `peek`: receives once the set says the socket may be
    /// readable, and parks again when it was not.
    async fn receive(&self, buf: &mut [u8], flags: i32) -> io::Result<usize> {
        let fd = self.raw_fd();
        loop {
            self.readiness.readable().await;
            match recv_now(fd, buf, flags) {
                Some(Ok(n)) => {
                    // End-of-stream stays readable, and a peek leaves the data queued; only
                    // a short read of data drains.
                    if flags & libc::MSG_PEEK == 0 && n > 0 && n < buf.len() {
                        self.readiness.drained();
                    }
                    return Ok(n);
                }
                Some(Err(e)) => return Err(e),
                None => self.readiness.drained(),
            }
        }
    }

    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.socket.write_all(data).await
    }

    pub async fn close(&mut self) {
        let _ = self.socket.close().await;
    }
}

/// One non-blocking `recv`; None when nothing is there yet.
fn recv_now(fd: std::os::fd::RawFd, buf: &mut [u8], flags: i32) -> Option<io::Result<usize>> {
    loop {
        // SAFETY: `buf` is valid for writes of its length for the whole call.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags | libc::MSG_DONTWAIT) };
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
    use std::io::Write;
    use std::time::Duration;

    /// Fails the test instead of hanging when `fut` does not finish within 5 s.
    async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
        futures_lite::future::or(fut, async {
            crate::runtime::sleep(Duration::from_secs(5)).await;
            panic!("stalled: {what}")
        })
        .await
    }

    /// The read path's edges with an edge-triggered set. The poller takes each part's event
    /// before anything is read: from then on only the reader's own bookkeeping knows what is
    /// left.
    /// - A read that fills the buffer leaves the socket ready: more may be queued, and no new
    ///   edge would say so.
    /// - Data followed at once by end-of-stream arrive as one edge; the short read that returns
    ///   the data must not park the next read, which returns 0, as does every later one.
    #[test]
    fn reads_park_after_a_drain_and_end_of_stream_stays_readable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (got_part, part_done) = std::sync::mpsc::channel::<()>();
        let peer = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            socket.write_all(b"abcdef").unwrap();
            let _ = part_done.recv_timeout(Duration::from_secs(10));
            socket.write_all(b"gh").unwrap();
        });
        crate::runtime::block_on(async move {
            let mut stream = Stream::connect(addr).await.unwrap();
            let mut buf = [0u8; 4];
            let mut got = Vec::new();
            for want in [6, 8] {
                // Hold the core while the part (and for the second, the end) arrive, so that
                // one pass of the poller takes everything at once, then let it pass.
                std::thread::sleep(Duration::from_millis(50));
                crate::runtime::sleep(Duration::from_millis(50)).await;
                while got.len() < want {
                    let n = within("reading queued data", stream.read(&mut buf)).await.unwrap();
                    assert!(n > 0, "data before end-of-stream");
                    got.extend_from_slice(&buf[..n]);
                }
                let _ = got_part.send(());
            }
            assert_eq!(got, b"abcdefgh");
            assert_eq!(within("end-of-stream", stream.read(&mut buf)).await.unwrap(), 0);
            assert_eq!(within("end-of-stream again", stream.read(&mut buf)).await.unwrap(), 0);
            assert_eq!(within("peek at end-of-stream", stream.peek(&mut buf)).await.unwrap(), 0);
        });
        peer.join().unwrap();
    }
}
