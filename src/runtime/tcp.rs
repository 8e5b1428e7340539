//! TCP listeners and streams on the current core.
//!
//! Every core binds its own listener on the same address with SO_REUSEPORT, so the kernel
//! spreads incoming connections over the cores and no core hands a socket to another.

use std::io;
use std::net::SocketAddr;

use futures_lite::{AsyncReadExt, AsyncWriteExt};

pub struct Listener(glommio::net::TcpListener);

pub struct Stream(glommio::net::TcpStream);

impl Listener {
    /// Binds with SO_REUSEPORT (glommio sets it), so all cores can bind the same address.
    pub fn bind(addr: SocketAddr) -> io::Result<Listener> {
        glommio::net::TcpListener::bind(addr).map(Listener).map_err(to_io)
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
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).await
    }

    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.0.write_all(data).await
    }

    pub async fn close(&mut self) {
        let _ = self.0.close().await;
    }
}

/// glommio's errors carry a non-`Sync` payload; keep only their text.
fn to_io(e: glommio::GlommioError<()>) -> io::Error {
    match e {
        glommio::GlommioError::IoError(io) => io,
        other => io::Error::other(other.to_string()),
    }
}
