//! MONITOR: every command executed on any core, streamed to monitoring clients as Redis 7.0
//! prints it: `+<unix seconds>.<micros> [<db> <addr>] "ARG" "arg"...`.
//!
//! A monitoring client registers a queue on its own core. A connection that executes commands
//! formats its lines while a batch runs and, at the end of the batch, posts them to every core,
//! where they are appended to the local monitors' queues. Whether anyone monitors is one
//! process-wide counter: the cost with no monitor is one relaxed load per batch. As in Redis,
//! administrative commands and commands that carry secrets (AUTH, HELLO) are not shown, nor
//! are commands refused before they ran.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

use super::*;
use crate::resp::Arg;

/// Monitoring clients on all cores.
static MONITORS: AtomicUsize = AtomicUsize::new(0);

/// True while some client monitors (checked once per batch).
pub fn active() -> bool {
    MONITORS.load(Ordering::Relaxed) != 0
}

/// A monitoring client's queue of lines, written by its core only.
#[derive(Default)]
pub struct Sink {
    queue: RefCell<Vec<u8>>,
    waker: RefCell<Option<Waker>>,
}

impl Sink {
    /// Takes the queued lines (the connection writes them).
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.queue.borrow_mut())
    }

    /// Resolves once lines are queued.
    pub fn ready(self: &Rc<Self>) -> Ready {
        Ready(self.clone())
    }
}

pub struct Ready(Rc<Sink>);

impl Future for Ready {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if !self.0.queue.borrow().is_empty() {
            return Poll::Ready(());
        }
        *self.0.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

thread_local! {
    /// This core's monitoring clients.
    static LOCAL: RefCell<Vec<Rc<Sink>>> = const { RefCell::new(Vec::new()) };
}

fn deliver_local(lines: &[u8]) {
    LOCAL.with(|l| {
        for sink in l.borrow().iter() {
            sink.queue.borrow_mut().extend_from_slice(lines);
            if let Some(w) = sink.waker.borrow_mut().take() {
                w.wake();
            }
        }
    });
}

/// Sends a batch's lines to the monitors of every core.
pub fn broadcast(core: &Rc<crate::txn::CoreCx>, lines: Vec<u8>) {
    let lines = Bytes::from(lines);
    for to in 0..core.shards {
        if to == core.id {
            deliver_local(&lines);
        } else {
            let l = lines.clone();
            core.post(to, move |_| deliver_local(&l));
        }
    }
}

/// Makes the connection a monitor; false if it already is one.
fn start(session: &mut Session) -> bool {
    if session.monitor.is_some() {
        return false;
    }
    let sink = Rc::new(Sink::default());
    LOCAL.with(|l| l.borrow_mut().push(sink.clone()));
    MONITORS.fetch_add(1, Ordering::Relaxed);
    crate::net::clients::with_local(|c| c.set_monitor(session.id, true));
    session.monitor = Some(sink);
    true
}

/// Unregisters a closing (or RESET) monitor.
pub fn stop(session: &mut Session) {
    if let Some(sink) = session.monitor.take() {
        LOCAL.with(|l| l.borrow_mut().retain(|s| !Rc::ptr_eq(s, &sink)));
        MONITORS.fetch_sub(1, Ordering::Relaxed);
        crate::net::clients::with_local(|c| c.set_monitor(session.id, false));
    }
}

/// Whether MONITOR shows this command: not administrative ones, judged per subcommand for
/// CLIENT as Redis 7.0's subcommand flags do (CLIENT REPLY shows, CLIENT LIST does not).
pub fn shows(spec: &CommandSpec, argv: &[Arg]) -> bool {
    if spec.name == "client" {
        let sub = argv.get(1).map(|s| s.to_ascii_lowercase()).unwrap_or_default();
        let admin: &[&[u8]] = &[b"kill", b"list", b"pause", b"unpause", b"no-evict", b"unblock"];
        return !admin.contains(&&sub[..]);
    }
    !spec.flags.has(ADMIN) && !matches!(spec.name, "auth" | "hello" | "monitor")
}

/// Appends one command's line to `buf`.
pub fn format_line(buf: &mut Vec<u8>, db: usize, peer: &str, argv: &[Arg]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    buf.extend_from_slice(format!("+{}.{:06} [{db} {peer}]", now.as_secs(), now.subsec_micros()).as_bytes());
    for a in argv {
        buf.extend_from_slice(b" \"");
        quote_into(buf, a);
        buf.push(b'"');
    }
    buf.extend_from_slice(b"\r\n");
}

/// Escapes an argument the way Redis quotes strings in MONITOR lines.
fn quote_into(buf: &mut Vec<u8>, s: &[u8]) {
    for &c in s {
        match c {
            b'\\' | b'"' => buf.extend_from_slice(&[b'\\', c]),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            7 => buf.extend_from_slice(b"\\a"),
            8 => buf.extend_from_slice(b"\\b"),
            0x20..=0x7e => buf.push(c),
            _ => buf.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
}

pub const SPECS: &[CommandSpec] = &[CommandSpec::new(
    "monitor",
    1,
    ADMIN.union(NOSCRIPT).union(LOADING).union(STALE),
    KeySpan::NONE,
    Run::Conn(monitor),
)
.doc(
    "server",
    "1.0.0",
    "Listens for all requests received by the server in real-time.",
    "",
)];

fn monitor(cx: &mut ConnCx, _argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        if cx.session.multi.is_some() {
            return Err(CmdError::other("ERR MONITOR isn't allowed for DENY BLOCKING client"));
        }
        // A second MONITOR is ignored without a reply, as in Redis.
        if start(&mut cx.session) {
            cx.out.ok();
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_quoted_like_redis() {
        let mut buf = Vec::new();
        let argv = [Arg::from_static(b"SET"), Arg::from_static(b"k\"\n\x01")];
        format_line(&mut buf, 3, "127.0.0.1:5000", &argv);
        let text = String::from_utf8(buf).expect("ascii");
        assert!(text.starts_with('+'));
        assert!(
            text.ends_with(" [3 127.0.0.1:5000] \"SET\" \"k\\\"\\n\\x01\"\r\n"),
            "{text}"
        );
    }
}
