//! The clients connected to one core, for CLIENT LIST / CLIENT KILL, `timeout` and
//! `maxclients`. Each core keeps its own registry; whole-server answers are one hop per core.
//!
//! Besides the connections it serves, a core lists the replica links whose sockets it handed
//! over (PSYNC/SYNC): redis-server 7.0 shows a replica as a client (`flags=S`) and CLIENT KILL
//! reaches it, so Shoal keeps the link here until it dies. The link to our own master (on a
//! replica) is a registered handle flagged `master` on core 0.

use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;

use hashbrown::HashMap;

use crate::repl::ReplicaLink;

/// A client's type, as CLIENT KILL TYPE / CLIENT LIST TYPE name it (Redis 7.0's
/// `getClientType`: master before replica before pubsub; a monitor is normal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    Normal,
    Master,
    Replica,
    PubSub,
}

impl ClientKind {
    /// The type named by a CLIENT KILL / LIST argument (`slave` and `replica` are one type).
    pub fn parse(name: &[u8]) -> Option<ClientKind> {
        match name.to_ascii_lowercase().as_slice() {
            b"normal" => Some(ClientKind::Normal),
            b"master" => Some(ClientKind::Master),
            b"replica" | b"slave" => Some(ClientKind::Replica),
            b"pubsub" => Some(ClientKind::PubSub),
            _ => None,
        }
    }
}

/// What CLIENT LIST shows of one client, wherever the client lives (a connection, a replica
/// link, the master link). Built on the client's core and sent to the asking one.
#[derive(Clone, Debug)]
pub struct ClientView {
    pub id: u64,
    pub peer: String,
    pub local: String,
    pub fd: RawFd,
    pub name: String,
    pub age_s: u64,
    pub idle_s: u64,
    pub kind: ClientKind,
    pub flags: String,
    pub db: usize,
    pub sub: usize,
    pub psub: usize,
    pub ssub: usize,
    /// Commands queued in MULTI, -1 outside one.
    pub multi: i64,
    pub cmd: String,
    /// `(superuser)` for the master link, as Redis shows a client without an ACL user.
    pub user: &'static str,
    pub resp: u8,
    pub buffers: Buffers,
}

/// A connection's buffers in bytes, as CLIENT LIST shows them: published by the connection
/// task at each read and around each write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Buffers {
    /// Bytes read but not yet parsed (a request still arriving), and the room after them.
    pub qbuf: usize,
    pub qbuf_free: usize,
    /// The arguments of the commands queued in MULTI.
    pub multi_mem: usize,
    /// The query buffer's size, and the most it held within the last few seconds.
    pub rbs: usize,
    pub rbp: usize,
    /// Replies (or a subscriber's messages) not yet taken by the socket.
    pub omem: usize,
    /// Everything the connection's buffers hold from the allocator.
    pub tot_mem: usize,
}

impl ClientView {
    /// One CLIENT LIST line, in Redis 7.0's field order. The command being run is parsed into
    /// its own vectors before it runs, so `argv-mem` is 0; replies wait in one buffer, so
    /// `obl` and `oll` are 0 and `omem` holds what is waiting.
    pub fn line(&self) -> String {
        let b = &self.buffers;
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} \
             qbuf={} qbuf-free={} argv-mem=0 multi-mem={} rbs={} rbp={} obl=0 oll=0 omem={} tot-mem={} events=r \
             cmd={} user={} redir=-1 resp={}\n",
            self.id,
            self.peer,
            self.local,
            self.fd,
            self.name,
            self.age_s,
            self.idle_s,
            self.flags,
            self.db,
            self.sub,
            self.psub,
            self.ssub,
            self.multi,
            b.qbuf,
            b.qbuf_free,
            b.multi_mem,
            b.rbs,
            b.rbp,
            b.omem,
            b.tot_mem,
            self.cmd,
            self.user,
            self.resp,
        )
    }
}

/// What other code may see or do about one connection.
pub struct ClientHandle {
    pub id: u64,
    pub peer: String,
    pub local: String,
    pub created_ms: u64,
    pub fd: RawFd,
    /// The link to our master (on a replica): type master, never timed out.
    pub master: bool,
    pub name: RefCell<Option<Vec<u8>>>,
    pub db: Cell<usize>,
    pub resp: Cell<u8>,
    pub last_cmd: RefCell<String>,
    pub last_active_ms: Cell<u64>,
    pub killed: Cell<bool>,
    /// Waiting out a CLIENT PAUSE (flag `b`, as Redis shows postponed clients).
    pub paused: Cell<bool>,
    /// Running a blocking command (BLPOP...): flag `b`.
    pub blocked: Cell<bool>,
    /// CLIENT UNBLOCK's request while blocked: `Some(true)` to answer with an error,
    /// `Some(false)` as a timeout would; cleared when the blocking command ends.
    unblock: Cell<Option<bool>>,
    unblock_waker: RefCell<Option<Waker>>,
    /// Runs MONITOR (flag `O`).
    pub monitor: Cell<bool>,
    /// Sent PSYNC/SYNC and waits for its socket to become a replica link (flag `S`).
    pub replica: Cell<bool>,
    /// CLIENT NO-EVICT on (flag `e`).
    pub no_evict: Cell<bool>,
    /// Channel, pattern and shard channel subscriptions.
    pub subs: Cell<(usize, usize, usize)>,
    /// Commands queued in MULTI (None outside one): flag `x`.
    pub multi: Cell<Option<usize>>,
    pub buffers: Cell<Buffers>,
}

impl ClientHandle {
    /// A fresh handle: no command yet (`cmd=NULL`), db 0, RESP2.
    pub fn new(id: u64, peer: String, local: String, fd: RawFd, created_ms: u64, master: bool) -> ClientHandle {
        ClientHandle {
            id,
            peer,
            local,
            created_ms,
            fd,
            master,
            name: RefCell::new(None),
            db: Cell::new(0),
            resp: Cell::new(2),
            last_cmd: RefCell::new("NULL".into()),
            last_active_ms: Cell::new(created_ms),
            killed: Cell::new(false),
            paused: Cell::new(false),
            blocked: Cell::new(false),
            unblock: Cell::new(None),
            unblock_waker: RefCell::new(None),
            monitor: Cell::new(false),
            replica: Cell::new(false),
            no_evict: Cell::new(false),
            subs: Cell::new((0, 0, 0)),
            multi: Cell::new(None),
            buffers: Cell::new(Buffers::default()),
        }
    }

    /// Updates the buffer figures with `f`.
    pub fn update_buffers(&self, f: impl FnOnce(&mut Buffers)) {
        let mut b = self.buffers.get();
        f(&mut b);
        self.buffers.set(b);
    }

    /// CLIENT UNBLOCK: asks a blocked client to stop waiting (`error`: answer UNBLOCKED rather
    /// than as a timeout). False when it is not blocked (or already asked).
    pub fn request_unblock(&self, error: bool) -> bool {
        if !self.blocked.get() || self.unblock.get().is_some() {
            return false;
        }
        self.unblock.set(Some(error));
        if let Some(w) = self.unblock_waker.borrow_mut().take() {
            w.wake();
        }
        true
    }

    /// Resolves with CLIENT UNBLOCK's request once there is one (`true`: answer with an error).
    pub fn unblocked(self: &Rc<Self>) -> Unblocked {
        Unblocked(self.clone())
    }

    /// The request so far, without waiting.
    pub fn unblock_requested(&self) -> Option<bool> {
        self.unblock.get()
    }

    /// Ends a blocking command: no longer blocked, any request dropped.
    pub fn end_blocking(&self) {
        self.blocked.set(false);
        self.unblock.set(None);
        self.unblock_waker.borrow_mut().take();
    }

    /// Closes the socket under the connection task: its next read returns and it exits.
    pub fn kill(&self) {
        self.killed.set(true);
        // SAFETY: shutting down a socket this core owns; the fd stays open until the task drops it.
        unsafe { libc::shutdown(self.fd, libc::SHUT_RDWR) };
    }

    fn kind(&self) -> ClientKind {
        let (sub, psub, ssub) = self.subs.get();
        if self.master {
            ClientKind::Master
        } else if self.replica.get() {
            ClientKind::Replica
        } else if sub + psub + ssub > 0 {
            ClientKind::PubSub
        } else {
            ClientKind::Normal
        }
    }

    /// The flag letters, in the order Redis 7.0 prints them (`N` when none).
    fn flags(&self) -> String {
        let (sub, psub, ssub) = self.subs.get();
        let mut f = String::new();
        for (on, letter) in [
            (self.replica.get(), 'S'),
            (self.monitor.get() && !self.replica.get(), 'O'),
            (self.master, 'M'),
            (sub + psub + ssub > 0, 'P'),
            (self.multi.get().is_some(), 'x'),
            (self.paused.get() || self.blocked.get(), 'b'),
            (self.no_evict.get(), 'e'),
        ] {
            if on {
                f.push(letter);
            }
        }
        if f.is_empty() {
            f.push('N');
        }
        f
    }

    pub fn view(&self, now_ms: u64) -> ClientView {
        let (sub, psub, ssub) = self.subs.get();
        ClientView {
            id: self.id,
            peer: self.peer.clone(),
            local: self.local.clone(),
            fd: self.fd,
            name: String::from_utf8_lossy(self.name.borrow().as_deref().unwrap_or_default()).into_owned(),
            age_s: now_ms.saturating_sub(self.created_ms) / 1000,
            idle_s: now_ms.saturating_sub(self.last_active_ms.get()) / 1000,
            kind: self.kind(),
            flags: self.flags(),
            db: self.db.get(),
            sub,
            psub,
            ssub,
            multi: self.multi.get().map_or(-1, |n| n as i64),
            cmd: self.last_cmd.borrow().clone(),
            user: if self.master { "(superuser)" } else { "default" },
            resp: self.resp.get(),
            buffers: self.buffers.get(),
        }
    }

    /// One CLIENT LIST line.
    pub fn line(&self, now_ms: u64) -> String {
        self.view(now_ms).line()
    }
}

/// A replica link this core handed its socket to, listed as the client it was.
struct LinkEntry {
    handle: Rc<ClientHandle>,
    link: Arc<ReplicaLink>,
    fd: RawFd,
}

impl LinkEntry {
    fn view(&self, now_ms: u64) -> ClientView {
        let mut v = self.handle.view(now_ms);
        v.fd = self.fd;
        v.kind = ClientKind::Replica;
        v.flags = "S".into();
        // Redis counts a replica idle since its last REPLCONF ACK, its last command.
        v.idle_s = now_ms.saturating_sub(self.link.last_ack_ms()) / 1000;
        v.cmd = if self.link.acked() {
            "replconf".into()
        } else if self.link.pre_psync {
            "sync".into()
        } else {
            "psync".into()
        };
        v
    }
}

/// A filter of CLIENT KILL / CLIENT LIST.
#[derive(Clone, Debug, Default)]
pub struct ClientFilter {
    pub ids: Vec<u64>,
    pub addr: Option<String>,
    pub laddr: Option<String>,
    pub kind: Option<ClientKind>,
    /// CLIENT KILL USER: only `default` exists (the master link has no user).
    pub user: Option<String>,
    /// Skip this client id (CLIENT KILL's SKIPME yes).
    pub skip: Option<u64>,
}

impl ClientFilter {
    pub fn matches(&self, c: &ClientView) -> bool {
        (self.ids.is_empty() || self.ids.contains(&c.id))
            && self.addr.as_ref().is_none_or(|a| *a == c.peer)
            && self.laddr.as_ref().is_none_or(|a| *a == c.local)
            && self.kind.is_none_or(|k| k == c.kind)
            && self.user.as_ref().is_none_or(|u| u == c.user)
            && self.skip != Some(c.id)
    }
}

/// The future of `ClientHandle::unblocked`.
pub struct Unblocked(Rc<ClientHandle>);

impl std::future::Future for Unblocked {
    type Output = bool;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<bool> {
        match self.0.unblock.get() {
            Some(error) => std::task::Poll::Ready(error),
            None => {
                *self.0.unblock_waker.borrow_mut() = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
        }
    }
}

#[derive(Default)]
pub struct Clients {
    map: RefCell<HashMap<u64, Rc<ClientHandle>>>,
    links: RefCell<Vec<LinkEntry>>,
}

impl Clients {
    pub fn add(&self, c: Rc<ClientHandle>) {
        self.map.borrow_mut().insert(c.id, c);
    }

    /// Registers `c` until the returned guard drops.
    pub fn register(&self, c: Rc<ClientHandle>) -> Registered {
        let id = c.id;
        self.add(c);
        Registered(id)
    }

    pub fn get(&self, id: u64) -> Option<Rc<ClientHandle>> {
        self.map.borrow().get(&id).cloned()
    }

    /// The connection `handle` became replica link `link` (its socket now `fd`): listed as a
    /// replica from now on, until the link dies.
    pub fn adopt_link(&self, handle: Rc<ClientHandle>, link: Arc<ReplicaLink>, fd: RawFd) {
        self.map.borrow_mut().remove(&handle.id);
        let mut links = self.links.borrow_mut();
        links.retain(|l| l.link.is_alive());
        links.push(LinkEntry { handle, link, fd });
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

    /// Views of this core's clients and live replica links.
    pub fn views(&self, now_ms: u64) -> Vec<ClientView> {
        let mut links = self.links.borrow_mut();
        links.retain(|l| l.link.is_alive());
        let map = self.map.borrow();
        let mut v: Vec<ClientView> = map.values().map(|c| c.view(now_ms)).collect();
        v.extend(links.iter().map(|l| l.view(now_ms)));
        v
    }

    /// The matching clients' views, by id.
    pub fn list(&self, filter: &ClientFilter, now_ms: u64) -> Vec<ClientView> {
        let mut v: Vec<ClientView> = self.views(now_ms).into_iter().filter(|c| filter.matches(c)).collect();
        v.sort_unstable_by_key(|c| c.id);
        v
    }

    /// Kills the matching clients; returns how many.
    pub fn kill(&self, filter: &ClientFilter) -> usize {
        let now = crate::shard::unix_ms();
        let victims: Vec<_> = {
            let map = self.map.borrow();
            map.values().filter(|c| filter.matches(&c.view(now))).cloned().collect()
        };
        victims.iter().for_each(|c| c.kill());
        let mut links = self.links.borrow_mut();
        links.retain(|l| l.link.is_alive());
        let mut n = victims.len();
        for l in links.iter().filter(|l| filter.matches(&l.view(now))) {
            l.link.kill();
            n += 1;
        }
        links.retain(|l| l.link.is_alive());
        n
    }

    /// Bytes the buffers of this core's clients hold, replica links aside (INFO memory's
    /// `mem_clients_normal`).
    pub fn buffer_bytes(&self) -> u64 {
        self.map.borrow().values().map(|c| c.buffers.get().tot_mem as u64).sum()
    }

    /// Closes clients idle for longer than `timeout_s` seconds (the `timeout` directive).
    /// The master link is exempt, as in Redis (replica links are not in the map).
    pub fn close_idle(&self, timeout_s: u64, now_ms: u64) {
        let map = self.map.borrow();
        for c in map.values() {
            if !c.master && !c.replica.get() && now_ms.saturating_sub(c.last_active_ms.get()) > timeout_s * 1000 {
                c.kill();
            }
        }
    }
}

/// Keeps a client registered on this core until dropped.
pub struct Registered(u64);

impl Drop for Registered {
    fn drop(&mut self) {
        with_local(|c| c.remove(self.0));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(id: u64) -> ClientHandle {
        ClientHandle::new(id, format!("127.0.0.1:{id}"), "127.0.0.1:6379".into(), -1, 0, false)
    }

    #[test]
    fn flags_combine_in_redis_order() {
        let h = handle(1);
        assert_eq!(h.flags(), "N");
        h.subs.set((1, 0, 0));
        h.multi.set(Some(2));
        h.no_evict.set(true);
        assert_eq!(h.flags(), "Pxe");
        assert_eq!(h.kind(), ClientKind::PubSub);
        h.monitor.set(true);
        assert_eq!(h.flags(), "OPxe");
        let line = h.line(5000);
        assert!(line.contains(" flags=OPxe db=0 sub=1 psub=0 ssub=0 multi=2 "), "{line}");
    }

    #[test]
    fn filters_by_type_and_user() {
        let h = handle(7);
        let mut f = ClientFilter {
            kind: ClientKind::parse(b"SLAVE"),
            ..Default::default()
        };
        assert!(!f.matches(&h.view(0)));
        h.replica.set(true);
        assert!(f.matches(&h.view(0)));
        f.user = Some("bob".into());
        assert!(!f.matches(&h.view(0)));
        let m = ClientHandle::new(8, String::new(), String::new(), -1, 0, true);
        let f = ClientFilter {
            user: Some("default".into()),
            ..Default::default()
        };
        assert!(!f.matches(&m.view(0)), "the master link has no user");
        assert_eq!(m.view(0).flags, "M");
    }
}
