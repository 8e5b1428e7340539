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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
    /// The master client's (id, creation ms) for CLIENT LIST, kept across a partial resync.
    pub master_client: Option<(u64, u64)>,
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
            master_client: None,
        }
    }
}

/// The replica status plus the two flags the command path reads without a lock.
#[derive(Default)]
pub struct Shared {
    status: Mutex<Status>,
    active: AtomicBool,
    loading: AtomicBool,
    gate: ApplyGate,
}

/// Keeps "apply a batch of the master's stream, then relay its bytes" in one piece with
/// respect to the moments that must not fall between the two: a replication cut taken on
/// this replica for a sub-replica's full sync (the snapshot would hold the batch's effects
/// but the offset would not count its bytes, and the sub-replica would get them twice) and
/// a promotion (bytes relayed after the ids shift would land in our own history).
///
/// Cores share it, so it is an atomic flag polled with short sleeps (a waiter holds nothing
/// the holder may need). Those who wait for a cut or a promotion go first: the link does
/// not take the gate again while one of them waits.
#[derive(Default)]
struct ApplyGate {
    held: AtomicBool,
    /// Cuts and promotions waiting for the gate.
    urgent: AtomicUsize,
}

/// The gate, held until dropped.
pub struct ApplyPass<'a>(&'a ApplyGate);

impl Drop for ApplyPass<'_> {
    fn drop(&mut self) {
        self.0.held.store(false, Ordering::SeqCst);
    }
}

impl ApplyGate {
    async fn enter(&self, urgent: bool) -> ApplyPass<'_> {
        if urgent {
            self.urgent.fetch_add(1, Ordering::SeqCst);
        }
        loop {
            let free = urgent || self.urgent.load(Ordering::SeqCst) == 0;
            if free
                && self
                    .held
                    .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            {
                if urgent {
                    self.urgent.fetch_sub(1, Ordering::SeqCst);
                }
                return ApplyPass(self);
            }
            crate::runtime::sleep(std::time::Duration::from_micros(200)).await;
        }
    }
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

    /// Taken by the link around each applied batch and the relay of its bytes.
    pub async fn enter_apply(&self) -> ApplyPass<'_> {
        self.gate.enter(false).await
    }

    /// Taken around a replication cut (a snapshot whose `repl-offset` must match its data)
    /// before the snapshot locks any shard, and released once the offset is known: the
    /// master's stream is then never half applied at the cut. Also taken by a promotion.
    pub async fn enter_cut(&self) -> ApplyPass<'_> {
        self.gate.enter(true).await
    }

    /// The db the master's stream has selected as of the last applied step: what a
    /// snapshot taken at a cut on this replica records as `repl-stream-db`, because the
    /// relayed stream that follows carries no SELECT of its own. 0 on a master (its own
    /// stream starts with a SELECT after every cut).
    pub fn stream_db(&self) -> usize {
        if self.is_active() { self.lock().stream_db } else { 0 }
    }

    /// The link is up and streaming.
    pub fn is_connected(&self) -> bool {
        self.is_active() && self.lock().state == LinkState::Connected
    }

    /// What a client's command gets from a replica instead of running, in redis-server
    /// 7.0's order: `-READONLY` for a write (with `replica-read-only`), `-MASTERDOWN` for a
    /// command not flagged `stale` while the link is not up (with `replica-serve-stale-data
    /// no`), `-LOADING` for a command not flagged `loading` while the master's payload loads.
    /// The master's own link is never refused (the caller does not ask for it).
    pub fn refusal(&self, cmd: CommandTraits, cfg: &crate::config::Config) -> Option<&'static str> {
        if !self.is_active() {
            return None;
        }
        if cmd.write && cfg.replica_read_only {
            return Some(READONLY);
        }
        if !cmd.stale && !cfg.replica_serve_stale_data && !self.is_connected() {
            return Some(MASTERDOWN);
        }
        if !cmd.loading && self.is_loading() {
            return Some(LOADING);
        }
        None
    }
}

/// The command flags `Shared::refusal` looks at.
#[derive(Clone, Copy, Debug, Default)]
pub struct CommandTraits {
    pub write: bool,
    /// Flagged `stale`: served while the link is down (INFO, REPLICAOF, PING...).
    pub stale: bool,
    /// Flagged `loading`: served while a payload loads.
    pub loading: bool,
}

pub const READONLY: &str = "READONLY You can't write against a read only replica.";
pub const MASTERDOWN: &str = "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
pub const LOADING: &str = "LOADING Redis is loading the dataset in memory";

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

/// Sets the `is_replica` flag of every shard (replicas neither expire nor delete keys). A
/// shard that stops being a replica while this server has a backlog logs its writes from
/// then on: replicas may continue our history with PSYNC without any snapshot turning the
/// logs on.
async fn mark_shards(core: &Rc<CoreCx>, on: bool) {
    let logs = !on && core.server.repl().lock().backlog.is_some();
    for s in 0..core.shards {
        core.run_on(s, Lock::Pass, move |shard| {
            shard.is_replica = on;
            if logs {
                shard.log.set_enabled(true);
            }
        })
        .await;
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
        // A new master gets a new master client, even when it continues our history.
        st.master_client = None;
        if was_master {
            st.stream_db = 0;
        }
        repl.replica.active.store(true, Ordering::SeqCst);
        crate::server::log::set_replica_role(true);
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
///
/// The switch happens between two applied batches of the old master's stream (the apply
/// gate), and in this order: the link is told to stop, the shards start logging their writes
/// (for the stream our own replicas will get, even those that continue with PSYNC and never
/// cause a snapshot), the ids shift, and only then are client writes accepted.
pub async fn unset_master(core: &Rc<CoreCx>) {
    let repl = core.server.repl().clone();
    let _pass = repl.replica.enter_cut().await;
    {
        let mut st = repl.replica.lock();
        if st.master.is_none() {
            return;
        }
        st.master = None;
        st.generation += 1;
        st.sync = None;
        st.can_continue = false;
        repl.replica.set_loading(false);
    }
    mark_shards(core, false).await;
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
    repl.replica.active.store(false, Ordering::SeqCst);
    crate::server::log::set_replica_role(false);
    repl.drop_replicas();
    if let Ok(mut c) = core.server.config.write() {
        c.replicaof = None;
    }
    crate::server::log::notice("MASTER MODE enabled (user request from 'id=0 addr=:0 laddr=:0 fd=0 name= ')");
}

/// Continues from the position the loaded dump recorded: our history becomes the dump's
/// (replid, offset), so the first PSYNC asks for `offset + 1` of it (redis-server 7.0 does the
/// same after a restart).
fn adopt_position(core: &Rc<CoreCx>, pos: crate::persist::load::ReplPosition) {
    let repl = core.server.repl();
    {
        let mut inner = repl.lock();
        inner.replid = pos.replid;
        inner.replid2 = "0".repeat(40);
        inner.second_offset = -1;
        repl.offset.store(pos.offset, Ordering::SeqCst);
    }
    let mut st = repl.replica.lock();
    st.can_continue = true;
    st.stream_db = pos.stream_db;
    crate::server::log::notice(
        "Before turning into a replica, using my own master parameters to synthesize a cached master: I may be able to synchronize with the new master with just a partial transfer.",
    );
}

/// The replica manager on core 0: applies `replicaof` from the configuration, then runs the
/// link whenever a master is set, retrying every second after a failure.
pub async fn supervise(core: Rc<CoreCx>) {
    if let Some((host, port)) = core.server.config().replicaof.clone() {
        set_master(&core, &host, port, false).await;
        if let Some(pos) = crate::persist::load::take_loaded_position() {
            adopt_position(&core, pos);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn traits(write: bool, stale: bool, loading: bool) -> CommandTraits {
        CommandTraits { write, stale, loading }
    }

    #[test]
    fn refusals_follow_redis_order_and_settings() {
        let shared = Shared::default();
        let mut cfg = crate::config::Config {
            replica_read_only: true,
            replica_serve_stale_data: true,
            ..Default::default()
        };
        // A master refuses nothing.
        assert_eq!(shared.refusal(traits(true, false, false), &cfg), None);
        shared.active.store(true, Ordering::SeqCst);
        assert_eq!(shared.refusal(traits(true, false, false), &cfg), Some(READONLY));
        // Link down, stale data served by default.
        assert_eq!(shared.refusal(traits(false, false, false), &cfg), None);
        cfg.replica_serve_stale_data = false;
        assert_eq!(shared.refusal(traits(false, false, false), &cfg), Some(MASTERDOWN));
        assert_eq!(shared.refusal(traits(false, true, false), &cfg), None);
        // READONLY comes first for a write, MASTERDOWN before LOADING.
        assert_eq!(shared.refusal(traits(true, false, false), &cfg), Some(READONLY));
        shared.set_loading(true);
        assert_eq!(shared.refusal(traits(false, false, false), &cfg), Some(MASTERDOWN));
        cfg.replica_serve_stale_data = true;
        assert_eq!(shared.refusal(traits(false, false, false), &cfg), Some(LOADING));
        assert_eq!(shared.refusal(traits(false, false, true), &cfg), None);
        shared.set_loading(false);
        // Link up: nothing but READONLY.
        cfg.replica_serve_stale_data = false;
        shared.lock().state = LinkState::Connected;
        assert_eq!(shared.refusal(traits(false, false, false), &cfg), None);
        cfg.replica_read_only = false;
        assert_eq!(shared.refusal(traits(true, false, false), &cfg), None);
    }
}
