//! Which of the core's sockets have data, from one edge-triggered epoll set per core.
//!
//! A connection that finds its socket empty does not wait on the io_uring ring: glommio 0.9
//! sets its ring up without `COOP_TASKRUN`, so every ring wait that a client's send completes
//! while the core is running costs io_uring task work and an inter-processor interrupt on this
//! core. Instead every stream is in this core's epoll set (edge-triggered, added once), a
//! stream that drained its socket marks itself not ready and parks, and one poller task per
//! core asks the set with a non-blocking `epoll_wait` each time the core's other ready tasks
//! have had their turn, waking the streams that got data. While the core is busy, arrivals
//! cost no interrupt; only when a pass finds nothing does the poller wait on the ring, once,
//! for the whole set, as redis-server sleeps in `epoll_wait`.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// Empty passes the poller makes after the first before it waits on the ring. One more pass
/// lets tasks woken meanwhile (replies written, cross-core answers) run and their clients
/// answer; none or four more measured within the noise of one (README, Performance).
const EMPTY_PASSES_BEFORE_WAIT: u32 = 1;

/// Events taken per `epoll_wait`; more stay queued in the set for the next pass.
const EVENTS_PER_PASS: usize = 256;

/// Event bits of states that last: peer's end-of-stream, hang-up, error.
const ENDED: u32 = (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;

#[derive(Default)]
struct Slot {
    /// The socket may have data (or end-of-stream): a receive is worth trying.
    ready: bool,
    /// The set reported end-of-stream, a hang-up or an error. These last, but their edge comes
    /// once: it may be taken together with data that a short read then returns, so from here
    /// on the socket never counts as drained (the next receive returns 0 or the error).
    ended: bool,
    /// The task parked until the socket is ready.
    waker: Option<Waker>,
}

/// This core's epoll set and the readiness of every stream in it, indexed by descriptor.
struct Readiness {
    epoll: OwnedFd,
    slots: RefCell<Vec<Slot>>,
    /// Rounds of the poller (the unit test checks that an idle poller stops making them).
    passes: Cell<u64>,
}

thread_local! {
    /// The set of the executor running on this thread, with that executor's id: a thread
    /// that runs a second executor (tools, tests) gets a new set and poller.
    static CORE: RefCell<Option<(usize, Rc<Readiness>)>> = const { RefCell::new(None) };
}

/// The core's readiness set; the first use on an executor creates it and starts its poller.
fn core() -> Rc<Readiness> {
    let executor = glommio::executor().id();
    CORE.with(|cell| {
        let mut cell = cell.borrow_mut();
        match &*cell {
            Some((id, readiness)) if *id == executor => readiness.clone(),
            _ => {
                let readiness = Readiness::start();
                *cell = Some((executor, readiness.clone()));
                readiness
            }
        }
    })
}

impl Readiness {
    fn start() -> Rc<Readiness> {
        // SAFETY: plain syscall; the result is checked before use.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        assert!(fd >= 0, "epoll_create1: {}", io::Error::last_os_error());
        let readiness = Rc::new(Readiness {
            // SAFETY: `fd` is a new epoll descriptor that nothing else owns.
            epoll: unsafe { OwnedFd::from_raw_fd(fd) },
            slots: RefCell::new(Vec::new()),
            passes: Cell::new(0),
        });
        glommio::spawn_local(poll_loop(readiness.clone())).detach();
        readiness
    }
}

/// A socket's place in its core's set; dropping it takes the socket out of the set.
pub struct Registration {
    readiness: Rc<Readiness>,
    fd: RawFd,
}

impl Registration {
    /// Adds a socket to the core's set. It starts out ready, so the first read tries.
    pub fn new(fd: RawFd) -> io::Result<Registration> {
        let readiness = core();
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: fd as u64,
        };
        // SAFETY: `event` is valid for the call; `fd` is the caller's open socket.
        let rc = unsafe { libc::epoll_ctl(readiness.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        {
            let mut slots = readiness.slots.borrow_mut();
            let index = fd as usize;
            if slots.len() <= index {
                slots.resize_with(index + 1, Slot::default);
            }
            slots[index] = Slot {
                ready: true,
                ended: false,
                waker: None,
            };
        }
        Ok(Registration { readiness, fd })
    }

    /// Resolves once the socket may have data or end-of-stream.
    pub fn readable(&self) -> Readable<'_> {
        Readable(self)
    }

    /// Notes that the socket was found drained: the next read parks until the set reports
    /// it. Sound with an edge-triggered set: data arriving after the drain queues a new event,
    /// which a later pass of the poller (on this thread, so after this call) will see. A
    /// socket whose end the set has reported stays ready (see `Slot::ended`).
    pub fn drained(&self) {
        if let Some(slot) = self.readiness.slots.borrow_mut().get_mut(self.fd as usize) {
            slot.ready = slot.ended;
        }
    }
}

impl Drop for Registration {
    /// Runs before the socket's descriptor is closed: a duplicate of it (a replica's socket
    /// handed to its threads) would otherwise keep it in the set.
    fn drop(&mut self) {
        // SAFETY: removing a descriptor that is still open; a null event is allowed.
        unsafe {
            libc::epoll_ctl(
                self.readiness.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                self.fd,
                std::ptr::null_mut(),
            );
        }
        if let Some(slot) = self.readiness.slots.borrow_mut().get_mut(self.fd as usize) {
            *slot = Slot::default();
        }
    }
}

pub struct Readable<'a>(&'a Registration);

impl Future for Readable<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut slots = self.0.readiness.slots.borrow_mut();
        let Some(slot) = slots.get_mut(self.0.fd as usize) else {
            return Poll::Ready(());
        };
        if slot.ready {
            return Poll::Ready(());
        }
        match &mut slot.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            other => *other = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// The core's poller: a non-blocking pass over the set each time the core's other ready tasks
/// have run, and a wait on the ring when passes find nothing.
async fn poll_loop(readiness: Rc<Readiness>) {
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS_PER_PASS];
    let mut empty_passes = 0;
    loop {
        readiness.passes.set(readiness.passes.get() + 1);
        // SAFETY: `events` is valid for EVENTS_PER_PASS entries; timeout 0 never blocks.
        let n = unsafe {
            libc::epoll_wait(
                readiness.epoll.as_raw_fd(),
                events.as_mut_ptr(),
                EVENTS_PER_PASS as i32,
                0,
            )
        };
        if n > 0 {
            let mut slots = readiness.slots.borrow_mut();
            for event in &events[..n as usize] {
                if let Some(slot) = slots.get_mut(event.u64 as usize) {
                    slot.ready = true;
                    slot.ended |= event.events & ENDED != 0;
                    if let Some(w) = slot.waker.take() {
                        w.wake();
                    }
                }
            }
            empty_passes = 0;
        } else if empty_passes < EMPTY_PASSES_BEFORE_WAIT {
            empty_passes += 1;
        } else {
            empty_passes = 0;
            wait_on_ring(readiness.epoll.as_raw_fd()).await;
            continue;
        }
        futures_lite::future::yield_now().await;
    }
}

/// Waits on the core's io_uring ring until the epoll set has an event.
///
/// glommio 0.9 has no public call that waits for a descriptor's readiness, but a glommio
/// stream arms a read-readiness poll on its descriptor the moment it is made, and its read
/// does not touch the descriptor while that poll is pending. So this makes one from a
/// duplicate of the epoll descriptor and reads: the read returns (with ENOTSOCK, from the
/// receive it then tries) once the poll has fired, and dropping the stream closes the
/// duplicate. The idle-CPU test (tests/concurrency.rs) fails if this ever stops waiting.
async fn wait_on_ring(epoll: RawFd) {
    use futures_lite::AsyncReadExt;
    // SAFETY: duplicating a descriptor this core owns; the copy is owned by the stream below.
    let copy = unsafe { libc::fcntl(epoll, libc::F_DUPFD_CLOEXEC, 0) };
    if copy < 0 {
        // Out of descriptors: let other tasks (and accept's back-off) run, then look again.
        glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
        return;
    }
    // SAFETY: `copy` is open and owned by nothing else; the stream closes it when dropped.
    let mut waiter = unsafe { glommio::net::TcpStream::from_raw_fd(copy) };
    let _ = waiter.read(&mut [0u8; 1]).await;
}

/// Passes the poller of this core has made (for tests).
#[cfg(test)]
fn passes() -> u64 {
    core().passes.get()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    #[test]
    fn a_parked_stream_wakes_when_data_arrives_and_the_idle_poller_waits() {
        crate::runtime::block_on(async {
            let (mut ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
            theirs.set_nonblocking(true).unwrap();
            let fd = theirs.as_raw_fd();
            let registration = Registration::new(fd).unwrap();
            registration.drained();
            let woke = Rc::new(Cell::new(false));
            let flag = woke.clone();
            let waiter = glommio::spawn_local(async move {
                registration.readable().await;
                flag.set(true);
                registration
            });
            glommio::timer::sleep(Duration::from_millis(50)).await;
            assert!(!woke.get(), "no data yet");
            let before = passes();
            glommio::timer::sleep(Duration::from_millis(50)).await;
            assert!(
                passes() - before < 10,
                "an idle poller waits on the ring, it does not spin"
            );
            ours.write_all(b"x").unwrap();
            glommio::timer::sleep(Duration::from_millis(50)).await;
            assert!(woke.get(), "data arrival wakes the parked stream");
            drop(waiter.await);
        });
    }
}
