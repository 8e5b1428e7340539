//! A core's view of the server: its own shard, and messages to the other cores' shards.
//!
//! Work is sent to the data: `run_on` ships a closure to the core that owns a shard, which runs
//! it between its other work and sends the result back. Each shard has a `Gate`; a plain job
//! passes through it, a cross-shard transaction holds it (`Lock::Acquire`) across several jobs
//! until it sends `Release`, so no other job sees half of the transaction.
//!
//! Receive loops never wait on a full outgoing queue (results go by `try_send`, or by a spawned
//! task when the queue is full), so two cores sending to each other cannot deadlock.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use hashbrown::HashMap;

use crate::runtime::{self, Gate, GatePass, Mesh, MeshReceiver, TrySendError};
use crate::server::ServerState;
use crate::shard::notify::Notices;
use crate::shard::{Shard, ShardId, WriteRecords};

/// A transaction's id, unique across cores (core id in the high bits).
pub type TxnId = u64;

pub type AnyBox = Box<dyn Any + Send>;

/// A closure shipped to the core that owns a shard.
pub type Job = Box<dyn FnOnce(&mut Shard) -> AnyBox + Send>;

/// How a job treats the shard's gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock {
    /// Pass through the gate: wait while a transaction holds it.
    Pass,
    /// `Pass`, and the job's writes go to the stream as one MULTI/EXEC group (an EXEC whose
    /// queue runs on one shard: one job is atomic there without taking the gate).
    Group,
    /// Take the gate for a transaction and keep it after the job.
    Acquire(TxnId),
    /// The transaction already holds the gate.
    Held(TxnId),
    /// Ignore the gate: for jobs that touch no keys (counters, client and pub/sub registries,
    /// logs), so they also run from inside an EXEC that holds the shard.
    Free,
}

/// Messages between cores.
pub enum CoreMsg {
    Run {
        job: Job,
        ticket: u64,
        lock: Lock,
    },
    Release {
        txn: TxnId,
    },
    /// A job's result, with the keyspace notifications it made: the asking core publishes
    /// them before it uses the result (`publish_notices`).
    Done {
        ticket: u64,
        result: AnyBox,
        notices: Option<Notices>,
    },
}

#[derive(Default)]
struct Tickets {
    next: u64,
    slots: HashMap<u64, (Option<AnyBox>, Option<Waker>)>,
}

pub struct CoreCx {
    pub id: ShardId,
    pub shards: usize,
    pub shard: RefCell<Shard>,
    pub server: Arc<ServerState>,
    gate: Gate,
    held: RefCell<HashMap<TxnId, GatePass>>,
    /// Releases that overtook their acquisition (the requester gave up waiting).
    cancelled: RefCell<hashbrown::HashSet<TxnId>>,
    /// Write records of transactions owned by this core, waiting to be pushed as a group.
    stashed: RefCell<HashMap<TxnId, WriteRecords>>,
    mesh: Mesh<CoreMsg>,
    tickets: RefCell<Tickets>,
    next_txn: Cell<u64>,
}

impl CoreCx {
    pub fn new(shard: Shard, mesh: Mesh<CoreMsg>, server: Arc<ServerState>) -> Rc<CoreCx> {
        Rc::new(CoreCx {
            id: mesh.me(),
            shards: mesh.peers(),
            shard: RefCell::new(shard),
            server,
            gate: Gate::default(),
            held: RefCell::new(HashMap::new()),
            cancelled: RefCell::new(hashbrown::HashSet::new()),
            stashed: RefCell::new(HashMap::new()),
            mesh,
            tickets: RefCell::new(Tickets::default()),
            next_txn: Cell::new(0),
        })
    }

    /// This core's INFO counters.
    pub fn counters(&self) -> &crate::server::stats::CoreCounters {
        &self.server.counters[self.id]
    }

    /// Starts one receive loop per peer core.
    pub fn start_inbox(self: &Rc<Self>) {
        for (peer, rx) in self.mesh.take_receivers() {
            let me = self.clone();
            runtime::spawn(async move { me.inbox(peer, rx).await });
        }
    }

    async fn inbox(self: Rc<Self>, peer: usize, rx: MeshReceiver<CoreMsg>) {
        while let Some(msg) = rx.recv().await {
            match msg {
                CoreMsg::Run { job, ticket, lock } => self.run_remote(peer, job, ticket, lock),
                CoreMsg::Release { txn } => self.drop_hold(txn),
                CoreMsg::Done {
                    ticket,
                    result,
                    notices,
                } => {
                    self.publish_notices(notices);
                    self.complete(ticket, result);
                }
            }
        }
    }

    /// Runs another core's job. Its keyspace notifications go back with its result, so the
    /// asking core publishes them before it answers its client, and that client's next
    /// command (a PUBLISH, say) finds them delivered.
    fn run_remote(self: &Rc<Self>, peer: usize, job: Job, ticket: u64, lock: Lock) {
        // A job that ignores the gate runs at once, so jobs of one peer run in the order they
        // were sent.
        if lock == Lock::Free {
            let (result, notices) = self.run_holding(job);
            self.reply_with(peer, ticket, result, notices);
            return;
        }
        // Fast path: nothing holds the gate, run now inside the receive loop.
        if matches!(lock, Lock::Pass | Lock::Group)
            && let Some(pass) = self.gate.try_enter()
        {
            let (result, notices) = {
                let mut shard = self.shard.borrow_mut();
                let r = job(&mut shard);
                self.flush_log_as(&mut shard, lock == Lock::Group);
                (r, shard.notices.take())
            };
            drop(pass);
            self.reply_with(peer, ticket, result, notices);
            self.serve_blocked();
            return;
        }
        let me = self.clone();
        runtime::spawn(async move {
            let (result, notices) = me.run_job(lock, job).await;
            me.reply_with(peer, ticket, result, notices);
        });
    }

    async fn run_local_job(self: &Rc<Self>, job: Job, lock: Lock) -> AnyBox {
        self.run_here(lock, job).await
    }

    /// Runs `f` on this core's shard under `lock`, as a job sent here would run (waiting at
    /// the gate, taking or keeping a transaction's hold), without boxing it or its result.
    pub async fn run_here<T>(self: &Rc<Self>, lock: Lock, f: impl FnOnce(&mut Shard) -> T) -> T {
        let (r, notices) = self.run_job(lock, f).await;
        self.publish_notices(notices);
        r
    }

    /// `run_here`, handing back the job's keyspace notifications instead of publishing them.
    async fn run_job<T>(self: &Rc<Self>, lock: Lock, f: impl FnOnce(&mut Shard) -> T) -> (T, Option<Notices>) {
        match lock {
            Lock::Pass | Lock::Group => {
                let pass = self.gate.enter().await;
                let r = {
                    let mut shard = self.shard.borrow_mut();
                    let r = f(&mut shard);
                    self.flush_log_as(&mut shard, lock == Lock::Group);
                    (r, shard.notices.take())
                };
                drop(pass);
                self.serve_blocked();
                r
            }
            Lock::Acquire(txn) => {
                let pass = self.gate.enter().await;
                let r = self.run_holding(f);
                if !self.cancelled.borrow_mut().remove(&txn) {
                    self.held.borrow_mut().insert(txn, pass);
                }
                r
            }
            Lock::Held(_) | Lock::Free => self.run_holding(f),
        }
    }

    /// Runs `f` inside a transaction's hold (or on key-less state): its writes wait for the
    /// transaction's group, but its keyspace notifications are handed back to go out now, as
    /// redis-server sends them while EXEC runs.
    fn run_holding<T>(self: &Rc<Self>, f: impl FnOnce(&mut Shard) -> T) -> (T, Option<Notices>) {
        let mut shard = self.shard.borrow_mut();
        let r = f(&mut shard);
        (r, shard.notices.take())
    }

    fn reply(self: &Rc<Self>, peer: usize, ticket: u64, result: AnyBox) {
        self.reply_with(peer, ticket, result, None);
    }

    fn reply_with(self: &Rc<Self>, peer: usize, ticket: u64, result: AnyBox, notices: Option<Notices>) {
        let msg = CoreMsg::Done {
            ticket,
            result,
            notices,
        };
        if let Err(TrySendError::Full(msg)) = self.mesh.try_send(peer, msg) {
            let me = self.clone();
            runtime::spawn(async move {
                let _ = me.mesh.send(peer, msg).await;
            });
        }
    }

    fn complete(&self, ticket: u64, result: AnyBox) {
        let mut t = self.tickets.borrow_mut();
        if let Some(slot) = t.slots.get_mut(&ticket) {
            slot.0 = Some(result);
            if let Some(w) = slot.1.take() {
                w.wake();
            }
        }
    }

    fn drop_hold(self: &Rc<Self>, txn: TxnId) {
        if self.held.borrow_mut().remove(&txn).is_none() {
            self.cancelled.borrow_mut().insert(txn);
        }
        self.serve_blocked();
    }

    /// Serves clients blocked on keys that the last job made ready, then delivers what the
    /// shard's outbox holds (`shard::blocking`). Skipped while a transaction holds the shard:
    /// its release calls this again, so a served pop never splits an atomic group.
    fn serve_blocked(self: &Rc<Self>) {
        if !self.shard.borrow().blocking.has_work() {
            return;
        }
        let Some(pass) = self.gate.try_enter() else {
            return;
        };
        let (served, notices) = {
            let mut shard = self.shard.borrow_mut();
            crate::shard::blocking::serve_ready(&mut shard, crate::shard::unix_ms());
            self.flush_log(&mut shard);
            (std::mem::take(&mut shard.blocking.outbox), shard.notices.take())
        };
        drop(pass);
        self.publish_notices(notices);
        for s in served {
            let result: AnyBox = Box::new(s.reply);
            if s.core == self.id {
                self.complete(s.ticket, result);
            } else {
                self.reply(s.core, s.ticket, result);
            }
        }
    }

    /// Sends what a plain job wrote to the replication stream (one batch, one GSN), before
    /// its reply leaves the core (R3).
    pub fn flush_log(self: &Rc<Self>, shard: &mut Shard) {
        self.flush_log_as(shard, false);
    }

    /// `flush_log`; with `group` the records are one MULTI/EXEC group in the stream.
    fn flush_log_as(self: &Rc<Self>, shard: &mut Shard, group: bool) {
        if shard.log.is_enabled() {
            let records = shard.log.drain();
            if let Some(repl) = self.server.repl.get() {
                repl.seq.push(self.id, records, group);
            }
        }
    }

    /// Hands keyspace notifications to every core's subscribers: this core's at once, the
    /// others' by message. A client's core calls it before it answers the client, and later
    /// messages from this core to a core arrive after these.
    fn publish_notices(self: &Rc<Self>, notices: Option<Notices>) {
        let Some(batch) = notices else {
            return;
        };
        for core in 0..self.shards {
            if core == self.id {
                crate::net::pubsub::publish_notices(&batch);
            } else {
                let batch = batch.clone();
                self.post_as(core, Lock::Free, move |_| crate::net::pubsub::publish_notices(&batch));
            }
        }
    }

    /// Keeps records written under transaction `txn` until the transaction pushes its group.
    pub fn stash(&self, txn: TxnId, records: WriteRecords) {
        if !records.is_empty() {
            self.stashed.borrow_mut().entry(txn).or_default().extend(records);
        }
    }

    /// The records stashed for `txn` on this core.
    pub fn take_stash(&self, txn: TxnId) -> WriteRecords {
        self.stashed.borrow_mut().remove(&txn).unwrap_or_default()
    }

    /// Pushes a transaction's records as one atomic group (R4).
    pub fn push_group(&self, records: WriteRecords) {
        if let Some(repl) = self.server.repl.get() {
            repl.seq.push(self.id, records, true);
        }
    }

    /// A ticket another core (or this one) can complete later (blocked clients).
    pub fn new_ticket(&self) -> u64 {
        let mut t = self.tickets.borrow_mut();
        t.next += 1;
        let id = t.next;
        t.slots.insert(id, (None, None));
        id
    }

    /// Waits for the next result delivered to `ticket`; the ticket stays registered.
    pub async fn wait_ticket(&self, ticket: u64) -> AnyBox {
        TicketWait {
            core: self,
            ticket,
            keep: true,
        }
        .await
    }

    /// Drops a ticket from `new_ticket`.
    pub fn forget_ticket(&self, ticket: u64) {
        self.tickets.borrow_mut().slots.remove(&ticket);
    }

    /// Runs `f` on shard `to` without waiting for it (fire and forget).
    pub fn post(self: &Rc<Self>, to: ShardId, f: impl FnOnce(&mut Shard) + Send + 'static) {
        self.post_as(to, Lock::Pass, f);
    }

    /// `post` under `lock`. Another core's job is queued at once when its queue has room, so
    /// posts to one core arrive in the order they were made.
    fn post_as(self: &Rc<Self>, to: ShardId, lock: Lock, f: impl FnOnce(&mut Shard) + Send + 'static) {
        let job: Job = Box::new(move |s| {
            f(s);
            Box::new(()) as AnyBox
        });
        let me = self.clone();
        if to == self.id {
            runtime::spawn(async move {
                me.run_local_job(job, lock).await;
            });
            return;
        }
        // Ticket 0 is never issued: the acknowledgement is ignored.
        let msg = CoreMsg::Run { job, ticket: 0, lock };
        if let Err(TrySendError::Full(msg)) = self.mesh.try_send(to, msg) {
            runtime::spawn(async move {
                let _ = me.mesh.send(to, msg).await;
            });
        }
    }

    /// A fresh transaction id.
    pub fn new_txn(&self) -> TxnId {
        let n = self.next_txn.get() + 1;
        self.next_txn.set(n);
        ((self.id as u64) << 48) | n
    }

    /// Runs `f` on the shard `to` (this core's or another's) and returns its result.
    pub async fn run_on<T, F>(self: &Rc<Self>, to: ShardId, lock: Lock, f: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(&mut Shard) -> T + Send + 'static,
    {
        let pending = self.submit(to, lock, f).await;
        self.wait(pending).await
    }

    /// Starts `f` on shard `to`: runs it now when `to` is this core, else sends it. Several
    /// submits followed by their `wait`s keep several cores busy at once.
    pub async fn submit<T, F>(self: &Rc<Self>, to: ShardId, lock: Lock, f: F) -> Submitted<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Shard) -> T + Send + 'static,
    {
        let job: Job = Box::new(move |s| Box::new(f(s)) as AnyBox);
        if to == self.id {
            let r = self.run_local_job(job, lock).await;
            return Submitted {
                state: SubmitState::Ready(r),
                _t: PhantomData,
            };
        }
        let ticket = {
            let mut t = self.tickets.borrow_mut();
            t.next += 1;
            let id = t.next;
            t.slots.insert(id, (None, None));
            id
        };
        if self.mesh.send(to, CoreMsg::Run { job, ticket, lock }).await.is_err() {
            panic!("core {to} stopped while core {} still sends to it", self.id);
        }
        Submitted {
            state: SubmitState::Ticket(ticket),
            _t: PhantomData,
        }
    }

    /// The result of a submitted job.
    pub async fn wait<T: 'static>(&self, s: Submitted<T>) -> T {
        let result = match s.state {
            SubmitState::Ready(r) => r,
            SubmitState::Ticket(ticket) => {
                let mut guard = TicketGuard {
                    core: self,
                    ticket,
                    done: false,
                };
                let r = TicketWait {
                    core: self,
                    ticket,
                    keep: false,
                }
                .await;
                guard.done = true;
                r
            }
        };
        *result.downcast::<T>().expect("job result of the expected type")
    }

    /// Runs `f` on this core's shard right away when no transaction holds it.
    /// Serves clients blocked on keys the job made ready, once the gate is open again.
    pub async fn with_local_shard<T>(self: &Rc<Self>, f: impl FnOnce(&mut Shard) -> T) -> T {
        let pass = match self.gate.try_enter() {
            Some(p) => p,
            None => self.gate.enter().await,
        };
        let (r, notices) = {
            let mut shard = self.shard.borrow_mut();
            let r = f(&mut shard);
            // Before the reply leaves this core: the write is in the stream first (R3).
            self.flush_log(&mut shard);
            (r, shard.notices.take())
        };
        drop(pass);
        self.publish_notices(notices);
        self.serve_blocked();
        r
    }

    /// Lets go of a transaction's hold on shard `on`.
    pub fn release(self: &Rc<Self>, on: ShardId, txn: TxnId) {
        if on == self.id {
            self.drop_hold(txn);
            return;
        }
        if let Err(TrySendError::Full(msg)) = self.mesh.try_send(on, CoreMsg::Release { txn }) {
            let me = self.clone();
            runtime::spawn(async move {
                let _ = me.mesh.send(on, msg).await;
            });
        }
    }
}

/// A job started by `submit`.
pub struct Submitted<T> {
    state: SubmitState,
    _t: PhantomData<T>,
}

enum SubmitState {
    Ready(AnyBox),
    Ticket(u64),
}

/// Waits for the result of a job sent to another core.
struct TicketWait<'a> {
    core: &'a CoreCx,
    ticket: u64,
    /// Leave the ticket registered after a result (tickets that get several results).
    keep: bool,
}

impl Future for TicketWait<'_> {
    type Output = AnyBox;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<AnyBox> {
        let mut t = self.core.tickets.borrow_mut();
        let Some(slot) = t.slots.get_mut(&self.ticket) else {
            // Forgotten while waiting: treat as a wake-up with nothing in it.
            return Poll::Ready(Box::new(()));
        };
        if let Some(r) = slot.0.take() {
            if !self.keep {
                t.slots.remove(&self.ticket);
            }
            return Poll::Ready(r);
        }
        slot.1 = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Forgets a ticket whose waiter went away (client disconnected mid-request).
struct TicketGuard<'a> {
    core: &'a CoreCx,
    ticket: u64,
    done: bool,
}

impl Drop for TicketGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.core.tickets.borrow_mut().slots.remove(&self.ticket);
        }
    }
}
