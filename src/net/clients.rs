//! The clients connected to one core, for CLIENT LIST / CLIENT KILL, `timeout` and
//! `maxclients`. Each core keeps its own registry; whole-server answers are one hop per core.

use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;
use std::rc::Rc;

use hashbrown::HashMap;

/// What other code may see or do about one connection.
pub struct ClientHandle {
    pub id: u64,
    pub peer: String,
    pub local: String,
    pub created_ms: u64,
    pub fd: RawFd,
    pub name: RefCell<Option<Vec<u8>>>,
    pub db: Cell<usize>,
    pub resp: Cell<u8>,
    pub last_cmd: RefCell<String>,
    pub last_active_ms: Cell<u64>,
    pub killed: Cell<bool>,
    /// Waiting out a CLIENT PAUSE (flag `b`, as Redis shows postponed clients).
    pub paused: Cell<bool>,
    /// Runs MONITOR (flag `O`).
    pub monitor: Cell<bool>,
}

impl ClientHandle {
    /// Closes the socket under the connection task: its next read returns and it exits.
    pub fn kill(&self) {
        self.killed.set(true);
        // SAFETY: shutting down a socket this core owns; the fd stays open until the task drops it.
        unsafe { libc::shutdown(self.fd, libc::SHUT_RDWR) };
    }

    /// One CLIENT LIST line, in Redis 7.0's field order.
    pub fn line(&self, now_ms: u64) -> String {
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub=0 psub=0 ssub=0 multi=-1 \
             qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r \
             cmd={} user=default redir=-1 resp={}\n",
            self.id,
            self.peer,
            self.local,
            self.fd,
            String::from_utf8_lossy(self.name.borrow().as_deref().unwrap_or_default()),
            now_ms.saturating_sub(self.created_ms) / 1000,
            now_ms.saturating_sub(self.last_active_ms.get()) / 1000,
            match (self.paused.get(), self.monitor.get()) {
                (true, _) => "b",
                (false, true) => "O",
                (false, false) => "N",
            },
            self.db.get(),
            self.last_cmd.borrow(),
            self.resp.get(),
        )
    }
}

/// A filter of CLIENT KILL / CLIENT LIST.
#[derive(Clone, Debug, Default)]
pub struct ClientFilter {
    pub ids: Vec<u64>,
    pub addr: Option<String>,
    pub laddr: Option<String>,
    /// Skip this client id (CLIENT KILL's SKIPME yes).
    pub skip: Option<u64>,
}

impl ClientFilter {
    fn matches(&self, c: &ClientHandle) -> bool {
        (self.ids.is_empty() || self.ids.contains(&c.id))
            && self.addr.as_ref().is_none_or(|a| *a == c.peer)
            && self.laddr.as_ref().is_none_or(|a| *a == c.local)
            && self.skip != Some(c.id)
    }
}

#[derive(Default)]
pub struct Clients {
    map: RefCell<HashMap<u64, Rc<ClientHandle>>>,
}

impl Clients {
    pub fn add(&self, c: Rc<ClientHandle>) {
        self.map.borrow_mut().insert(c.id, c);
    }

    /// Marks client `id` as waiting out a pause (or not), with the command it waits to run.
    pub fn set_paused(&self, id: u64, cmd: &str, paused: bool) {
        if let Some(c) = self.map.borrow().get(&id) {
            c.paused.set(paused);
            if paused {
                *c.last_cmd.borrow_mut() = cmd.to_string();
            }
        }
    }

    /// Marks client `id` as a monitor (CLIENT LIST flag `O`).
    pub fn set_monitor(&self, id: u64, on: bool) {
        if let Some(c) = self.map.borrow().get(&id) {
            c.monitor.set(on);
        }
    }

    pub fn remove(&self, id: u64) {
        self.map.borrow_mut().remove(&id);
    }

    pub fn list(&self, filter: &ClientFilter, now_ms: u64) -> String {
        let map = self.map.borrow();
        let mut ids: Vec<_> = map.keys().copied().collect();
        ids.sort_unstable();
        ids.iter()
            .filter_map(|id| map.get(id))
            .filter(|c| filter.matches(c))
            .map(|c| c.line(now_ms))
            .collect()
    }

    /// Kills the matching clients; returns how many.
    pub fn kill(&self, filter: &ClientFilter) -> usize {
        let map = self.map.borrow();
        let victims: Vec<_> = map.values().filter(|c| filter.matches(c)).cloned().collect();
        victims.iter().for_each(|c| c.kill());
        victims.len()
    }

    /// Closes clients idle for longer than `timeout_s` seconds (the `timeout` directive).
    pub fn close_idle(&self, timeout_s: u64, now_ms: u64) {
        let map = self.map.borrow();
        for c in map.values() {
            if now_ms.saturating_sub(c.last_active_ms.get()) > timeout_s * 1000 {
                c.kill();
            }
        }
    }
}

thread_local! {
    /// This core's clients (each core thread has its own).
    static LOCAL: Clients = Clients::default();
}

/// Runs `f` on the registry of the core this code runs on.
pub fn with_local<R>(f: impl FnOnce(&Clients) -> R) -> R {
    LOCAL.with(f)
}
