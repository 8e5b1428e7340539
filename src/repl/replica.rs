//! Replica side, shared part: the replica status every core reads (INFO, ROLE, the READONLY and
//! LOADING checks), and the role changes (REPLICAOF host port / NO ONE).
//!
//! The link itself (`replica_link`) runs as one task on core 0, started by `supervise`: it
//! watches this status and (re)connects whenever a master is configured. A role change only
//! edits the status and bumps `generation`; the link notices within 100 ms and starts over, so
//! a command on any core can change the role without reaching core 0 directly.
//!
//! While the server is a replica its own sequencer is off: the shards' write records are
//! dropped and the master's bytes are appended verbatim (`ReplState::relay`), so sub-replicas
//! see the master's stream with the master's ids and offsets (spec 4.1, 4.4).

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::ReplState;
use crate::shard::unix_ms;
use crate::txn::{CoreCx, Lock};

/// What ROLE calls the link's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    Connect,
    Connecting,
    Handshake,
    Sync,
    Connected,
}

impl LinkState {
    pub fn name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Handshake => "handshake",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// Progress of a payload being received (INFO `master_sync_*`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SyncProgress {
    /// Announced size; 0 for EOF-marked payloads (size unknown).
    pub total: u64,
    pub read: u64,
    pub last_io_ms: u64,
}

/// The replica's view of its master.
#[derive(Clone, Debug)]
pub struct Status {
    /// `None`: this server is a master.
    pub master: Option<(String, u16)>,
    /// Bumped at every role change; a link started under another generation stops.
    pub generation: u64,
    pub state: LinkState,
    /// When the link went down (0: never up since the role was set).
    pub down_since_ms: u64,
    /// Last byte received from the master.
    pub last_io_ms: u64,
    pub sync: Option<SyncProgress>,
    /// Stream bytes read, including a command not complete yet.
    pub read_offset: i64,
    /// PSYNC continues our own history (replid, offset + 1) instead of asking `? -1`.
    pub can_continue: bool,
    /// The master client's selected db, kept across a partial resync.
    pub stream_db: usize,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            master: None,
            generation: 0,
            state: LinkState::Connect,
            down_since_ms: 0,
            last_io_ms: 0,
            sync: None,
            read_offset: 0,
            can_continue: false,
            stream_db: 0,
        }
    }
}

/// The replica status plus the two flags the command path reads without a lock.
#[derive(Default)]
pub struct Shared {
    status: Mutex<Status>,
    active: AtomicBool,
    loading: AtomicBool,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This server is a replica (a master is configured).
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// A master's payload is being loaded: clients get `-LOADING`.
    pub fn is_loading(&self) -> bool {
        self.loading.load(Ordering::Relaxed)
    }

    pub fn set_loading(&self, on: bool) {
        self.loading.store(on, Ordering::SeqCst);
    }

    /// The link is up and streaming.
    pub fn is_connected(&self) -> bool {
        self.is_active() && self.lock().state == LinkState::Connected
    }
}

impl ReplState {
    /// Appends bytes received from the master to this server's own stream: backlog, offset
    /// and sub-replicas get them verbatim.
    pub fn relay(&self, bytes: &[u8]) {
        let mut inner = self.lock();
        super::coordinator::publish(self, &mut inner, bytes.to_vec());
    }

    /// Disconnects every sub-replica (they resync with the new history).
    pub fn drop_replicas(&self) {
        let mut inner = self.lock();
        for r in &inner.replicas {
            r.kill();
        }
        inner.replicas.clear();
    }
}

/// Sets the `is_replica` flag of every shard (replicas neither expire nor delete keys).
async fn mark_shards(core: &Rc<CoreCx>, on: bool) {
    for s in 0..core.shards {
        core.run_on(s, Lock::Pass, move |shard| shard.is_replica = on).await;
    }
}

/// What `REPLICAOF host port` answers.
pub enum SetMaster {
    Started,
    AlreadyConnected,
}

/// Makes this server a replica of `host:port`. `cache_self`: continue our own history with
/// PSYNC (a role change at run time) rather than `PSYNC ? -1` (configured at start-up).
pub async fn set_master(core: &Rc<CoreCx>, host: &str, port: u16, cache_self: bool) -> SetMaster {
    let repl = core.server.repl().clone();
    {
        let mut st = repl.replica.lock();
        if let Some((h, p)) = &st.master
            && h.eq_ignore_ascii_case(host)
            && *p == port
        {
            return SetMaster::AlreadyConnected;
        }
        let was_master = st.master.is_none();
        st.master = Some((host.to_string(), port));
        st.generation += 1;
        st.state = LinkState::Connect;
        st.down_since_ms = 0;
        st.sync = None;
        st.can_continue = cache_self || st.can_continue;
        if was_master {
            st.stream_db = 0;
        }
        repl.replica.active.store(true, Ordering::SeqCst);
    }
    repl.seq.disable();
    repl.drop_replicas();
    mark_shards(core, true).await;
    crate::server::log::notice(&format!("Connecting to MASTER {host}:{port}"));
    if let Ok(mut c) = core.server.config.write() {
        c.replicaof = Some((host.to_string(), port));
    }
    SetMaster::Started
}

/// `REPLICAOF NO ONE`: back to master, shifting the ids so our replicas (and the old master)
/// can continue with PSYNC (spec section 5).
pub async fn unset_master(core: &Rc<CoreCx>) {
    let repl = core.server.repl().clone();
    {
        let mut st = repl.replica.lock();
        if st.master.is_none() {
            return;
        }
        st.master = None;
        st.generation += 1;
        st.sync = None;
        st.can_continue = false;
        repl.replica.active.store(false, Ordering::SeqCst);
        repl.replica.set_loading(false);
    }
    {
        let mut inner = repl.lock();
        inner.replid2 = std::mem::replace(&mut inner.replid, crate::server::random_hex40());
        inner.second_offset = repl.master_offset() + 1;
        // Our own stream starts with a SELECT whatever db the master's stream was in.
        inner.last_db = -1;
        if inner.backlog.is_some() {
            repl.seq.enable();
        }
    }
    repl.drop_replicas();
    mark_shards(core, false).await;
    if let Ok(mut c) = core.server.config.write() {
        c.replicaof = None;
    }
    crate::server::log::notice("MASTER MODE enabled (user request from 'id=0 addr=:0 laddr=:0 fd=0 name= ')");
}

/// The replica manager on core 0: applies `replicaof` from the configuration, then runs the
/// link whenever a master is set, retrying every second after a failure.
pub async fn supervise(core: Rc<CoreCx>) {
    if let Some((host, port)) = core.server.config().replicaof.clone() {
        set_master(&core, &host, port, false).await;
    }
    let repl = core.server.repl().clone();
    loop {
        let target = {
            let st = repl.replica.lock();
            st.master.clone().map(|m| (m, st.generation))
        };
        let Some(((host, port), generation)) = target else {
            crate::runtime::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        };
        let result = super::replica_link::run(&core, &host, port, generation).await;
        let current = {
            let mut st = repl.replica.lock();
            let current = st.generation == generation;
            if current {
                if st.state == LinkState::Connected {
                    st.down_since_ms = unix_ms();
                }
                st.state = LinkState::Connect;
                st.sync = None;
            }
            current
        };
        repl.replica.set_loading(false);
        if let Err(e) = result
            && current
        {
            crate::server::log::warning(&e);
        }
        if current {
            // Retry after a second, but react to a role change at once.
            for _ in 0..10 {
                crate::runtime::sleep(std::time::Duration::from_millis(100)).await;
                if repl.replica.lock().generation != generation {
                    break;
                }
            }
        }
    }
}
