//! Runs one read's worth of pipelined requests and writes the replies in request order.
//!
//! Consecutive shard commands are collected; at a barrier (a connection-level command, a
//! split over several shards, an error reply) or at the end of the batch they are sent as one
//! job per owning shard, the remote ones first so that every core works at once, and their
//! replies are stitched back together in request order. Commands of one shard run in request
//! order inside their job, so per-key order always holds.

// Per-command timings (commandstats, slow log, latency monitor) read the TSC: one or two
// readings per command, where a clock_gettime cost a measurable share of a PING.
use quanta::Instant;

use super::packed::PackedCmds;
use super::{CmdError, CommandSpec, ConnCx, Run, ShardHandler, lookup, observe, run_on_shard};
use crate::resp::argv as argv_pool;
use crate::resp::{Out, Proto, Request};
use crate::shard::evict::{self, Room};
use crate::shard::{Shard, ShardCx, ShardId, shard_of, unix_ms};
use crate::store::table::{BatchHashes, PREFETCH_BATCH};
use crate::txn::Lock;
use crate::txn::split::{SplitPlan, check_layout, run_splits};
use crate::util::{keep_spare, take_spare};

/// One shard command waiting to be sent, with what its statistics need.
struct Item {
    shard: ShardId,
    handler: ShardHandler,
    argv: Request,
    idx: usize,
    spec: &'static CommandSpec,
}

/// Shard commands waiting to be sent, and where each local reply ended (kept to reuse).
#[derive(Default)]
struct Pending {
    items: Vec<Item>,
    done: Vec<(usize, u64)>,
}

thread_local! {
    /// Emptied `Pending` buffers of this core, reused by the next batches so that a read
    /// allocates none once they have grown. Batches of many connections are in flight at
    /// once, hence a small pool rather than one buffer.
    static SPARE_PENDING: std::cell::RefCell<Vec<Pending>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// At most this many spare buffers per core, each kept only while it holds at most
/// `SPARE_ITEMS` commands' room (a deep pipeline's buffers are freed, not hoarded).
const SPARE_LIMIT: usize = 64;
const SPARE_ITEMS: usize = 256;

/// A command as a shard job runs it: its handler, its arguments and its spec (for the
/// prefetch).
type GroupCmd = (ShardHandler, Request, &'static CommandSpec);

/// Replies of one shard's job: the bytes, where each reply ends and how long each command
/// took, and (inside a transaction) the write records it produced.
struct GroupReplies {
    bytes: Vec<u8>,
    done: Vec<(usize, u64)>,
    records: crate::shard::WriteRecords,
}

impl GroupReplies {
    /// Hands the reply buffers back to this core's pool once the replies are delivered.
    fn give_back(self) {
        ReplyBufs {
            bytes: self.bytes,
            done: self.done,
        }
        .give_back();
    }
}

/// Buffers a shard job writes its replies into. The client's core takes them from its pool
/// and gets them back with the replies, so the shard's core neither allocates nor frees them
/// (a block freed on another core than its own costs mimalloc a deferred collection).
struct ReplyBufs {
    bytes: Vec<u8>,
    done: Vec<(usize, u64)>,
}

thread_local! {
    static SPARE_REPLIES: std::cell::RefCell<Vec<ReplyBufs>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Reply buffers bigger than this are freed rather than kept.
const SPARE_REPLY_BYTES: usize = 64 << 10;

impl ReplyBufs {
    /// A spare pair of this core, or a new one, with room for `cmds` replies' ends.
    fn take(cmds: usize) -> ReplyBufs {
        let mut bufs = take_spare(&SPARE_REPLIES).unwrap_or_else(|| ReplyBufs {
            bytes: Vec::with_capacity(256),
            done: Vec::new(),
        });
        bufs.done.reserve(cmds);
        bufs
    }

    fn give_back(mut self) {
        if self.bytes.capacity() > SPARE_REPLY_BYTES || self.done.capacity() > SPARE_ITEMS {
            return;
        }
        self.bytes.clear();
        self.done.clear();
        keep_spare(&SPARE_REPLIES, self, SPARE_LIMIT);
    }
}

/// Runs `cmds` in order on `shard`, each one's reply after the last in `out` and its end and
/// time in `done`; the batch's keys are prefetched first. With `admit` (not inside EXEC,
/// which was admitted as a whole), a command that may grow memory first makes room under
/// `maxmemory` on this shard, the shard where its data grows, and is refused when there is
/// none to make.
fn run_cmds<'a>(
    shard: &mut Shard,
    db: usize,
    cmds: impl Clone + ExactSizeIterator<Item = (ShardHandler, &'a Request, &'static CommandSpec)>,
    out: &mut Out,
    done: &mut Vec<(usize, u64)>,
    admit: bool,
) {
    prefetch_keys(&shard.dbs[db], cmds.clone().map(|(_, argv, spec)| (argv, spec)));
    let mut cx = ShardCx::new(shard, db, unix_ms());
    let mut t = Instant::now();
    for (h, argv, spec) in cmds {
        if admit && spec.flags.has(super::DENYOOM) && cx.shard.make_room(cx.now_ms) == Room::Full {
            out.error(&CmdError::OutOfMemory.message());
        } else {
            run_on_shard(&mut cx, h, argv, out);
        }
        let now = Instant::now();
        done.push((out.len(), observe::micros(now.duration_since(t))));
        t = now;
    }
}

/// `run_cmds` into `bufs`; with `keep_records` (inside a transaction) the writes' records
/// are taken along to join the transaction's group instead of going to the stream.
fn run_group<'a>(
    shard: &mut Shard,
    db: usize,
    proto: Proto,
    cmds: impl Clone + ExactSizeIterator<Item = (ShardHandler, &'a Request, &'static CommandSpec)>,
    bufs: ReplyBufs,
    keep_records: bool,
    admit: bool,
) -> GroupReplies {
    let mut out = Out::with_buffer(bufs.bytes, proto);
    let mut done = bufs.done;
    run_cmds(shard, db, cmds, &mut out, &mut done, admit);
    GroupReplies {
        bytes: out.take(),
        done,
        records: if keep_records {
            shard.log.drain()
        } else {
            Default::default()
        },
    }
}

/// The job another core's shard runs for a batch: the commands are unpacked into this
/// core's own argument vectors, run, and freed here; the replies and the packed buffer go
/// back to the client's core.
fn run_packed(
    shard: &mut Shard,
    db: usize,
    proto: Proto,
    mut packed: PackedCmds,
    bufs: ReplyBufs,
    keep_records: bool,
    admit: bool,
) -> (GroupReplies, PackedCmds) {
    let mut cmds: Vec<GroupCmd> = take_spare(&SPARE_CMDS).unwrap_or_default();
    packed.unpack(&mut cmds);
    let replies = run_group(
        shard,
        db,
        proto,
        cmds.iter().map(|(h, argv, spec)| (*h, argv, *spec)),
        bufs,
        keep_records,
        admit,
    );
    argv_pool::recycle_all(cmds.drain(..).map(|(_, argv, _)| argv));
    if cmds.capacity() <= SPARE_ITEMS {
        keep_spare(&SPARE_CMDS, cmds, SPARE_LIMIT);
    }
    (replies, packed)
}

thread_local! {
    /// Command lists of the packed jobs this core runs for others, reused.
    static SPARE_CMDS: std::cell::RefCell<Vec<Vec<GroupCmd>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A queued command EXEC has looked up: its table index and spec.
pub type Planned = (usize, &'static CommandSpec);

/// EXEC of a queue that runs wholly on `shard` (every command a shard command with its keys
/// there): one job checks the watches (`dirty`), runs the queue and, as a `Lock::Group` job,
/// sends its writes to the stream as one MULTI/EXEC group before the shard runs anything
/// else. One round trip instead of a lock, a job and a release. Returns false, having run
/// nothing, when a watched key changed.
pub async fn exec_on_one_shard(
    cx: &mut ConnCx,
    shard: ShardId,
    queued: Vec<Request>,
    planned: Vec<Planned>,
    dirty: impl FnOnce(&mut Shard) -> bool + Send + 'static,
) -> bool {
    let mut packed = PackedCmds::take();
    for (&(idx, _), argv) in planned.iter().zip(&queued) {
        packed.push(idx, argv);
    }
    let db = cx.session.db;
    let proto = cx.out.proto();
    let bufs = ReplyBufs::take(queued.len());
    let replies = cx
        .core
        .run_on(shard, Lock::Group, move |s| {
            (!dirty(s)).then(|| run_packed(s, db, proto, packed, bufs, false, false))
        })
        .await;
    let Some((g, packed)) = replies else { return false };
    packed.give_back();
    cx.out.array(queued.len());
    let mut start = 0;
    for ((idx, spec), (argv, &(end, usecs))) in planned.into_iter().zip(queued.iter().zip(&g.done)) {
        observe::finished(&cx.core, &mut cx.session, idx, spec, argv, usecs, &g.bytes[start..end]);
        start = end;
    }
    cx.out.raw(&g.bytes);
    argv_pool::recycle_all(queued.into_iter());
    g.give_back();
    true
}

impl Pending {
    /// A spare buffer of this core, or a new one.
    fn take() -> Pending {
        take_spare(&SPARE_PENDING).unwrap_or_default()
    }

    /// Hands the (flushed) buffers back for reuse.
    fn give_back(mut self) {
        let room = self.items.capacity().max(self.done.capacity());
        if room == 0 || room > SPARE_ITEMS {
            return;
        }
        self.items.clear();
        self.done.clear();
        keep_spare(&SPARE_PENDING, self, SPARE_LIMIT);
    }

    /// Whether what is queued must run before a command for `shard` is queued: inside EXEC a
    /// run of commands on one shard goes as one job, but a change of shard runs what is
    /// queued first, so each command's effects reach the stream (and the later commands) in
    /// command order.
    fn must_flush_before(&self, cx: &ConnCx, shard: ShardId) -> bool {
        cx.scope.is_some() && self.items.last().is_some_and(|i| i.shard != shard)
    }

    /// Runs the queued commands and writes their replies in request order. The arguments
    /// never leave this core: another shard's commands are packed for it.
    async fn flush(&mut self, cx: &mut ConnCx) {
        if self.items.is_empty() {
            return;
        }
        if cx.lock_mode() == Lock::Pass && self.items.iter().all(|i| i.shard == cx.core.id) {
            self.run_here(cx).await;
        } else {
            self.run_spread(cx).await;
        }
        argv_pool::recycle_all(self.items.drain(..).map(|i| i.argv));
    }

    /// The common case: every command is this core's. Replies go straight to the client.
    async fn run_here(&mut self, cx: &mut ConnCx) {
        let db = cx.session.db;
        let items = &self.items;
        let out = &mut cx.out;
        let mut start = out.len();
        let mut done = std::mem::take(&mut self.done);
        cx.core
            .with_local_shard(|shard| {
                run_cmds(
                    shard,
                    db,
                    items.iter().map(|i| (i.handler, &i.argv, i.spec)),
                    out,
                    &mut done,
                    true,
                )
            })
            .await;
        for (it, (end, usec)) in items.iter().zip(done.drain(..)) {
            let reply = &cx.out.as_bytes()[start..end];
            observe::finished(&cx.core, &mut cx.session, it.idx, it.spec, &it.argv, usec, reply);
            start = end;
        }
        self.done = done;
    }

    /// Commands on other shards, or inside a transaction: one packed job per other shard,
    /// sent first so that every core works at once, this core's commands meanwhile, then the
    /// replies interleaved in request order. A batch spans few shards, so they are found by
    /// a linear search, not a map.
    async fn run_spread(&mut self, cx: &mut ConnCx) {
        let core = cx.core.clone();
        let db = cx.session.db;
        let proto = cx.out.proto();
        let lock = cx.lock_mode();
        // Inside EXEC the writes join the transaction's group, and were admitted with it.
        let keep_records = lock != Lock::Pass;
        let admit = !keep_records;
        let mut groups: Vec<(ShardId, PackedCmds)> = Vec::new();
        let mut here = 0;
        for it in &self.items {
            if it.shard == core.id {
                here += 1;
            } else if let Some((_, packed)) = groups.iter_mut().find(|(s, _)| *s == it.shard) {
                packed.push(it.idx, &it.argv);
            } else {
                let mut packed = PackedCmds::take();
                packed.push(it.idx, &it.argv);
                groups.push((it.shard, packed));
            }
        }
        let mut started = Vec::with_capacity(groups.len());
        for (s, packed) in groups {
            let bufs = ReplyBufs::take(packed.len());
            let job = move |shard: &mut Shard| run_packed(shard, db, proto, packed, bufs, keep_records, admit);
            started.push((s, core.submit(s, lock, job).await));
        }
        // Each shard's replies, with the next one to deliver and where it starts.
        let mut results: Vec<(ShardId, GroupReplies, usize, usize)> = Vec::with_capacity(started.len() + 1);
        if here > 0 {
            let bufs = ReplyBufs::take(here);
            let me = core.id;
            let mine = self.items.iter().filter(|i| i.shard == me);
            let r = core
                .run_here(lock, |shard| {
                    let cmds = ExactLen(mine.map(|i| (i.handler, &i.argv, i.spec)), here);
                    run_group(shard, db, proto, cmds, bufs, keep_records, admit)
                })
                .await;
            results.push((me, r, 0, 0));
        }
        for (s, job) in started {
            let (r, packed) = core.wait(job).await;
            packed.give_back();
            results.push((s, r, 0, 0));
        }
        if let Some(scope) = cx.scope {
            for (_, g, _, _) in results.iter_mut() {
                core.stash(scope, std::mem::take(&mut g.records));
            }
        }
        for it in &self.items {
            let (_, g, next, start) = results
                .iter_mut()
                .find(|r| r.0 == it.shard)
                .expect("every shard answered");
            let (end, usecs) = g.done[*next];
            let reply = &g.bytes[*start..end];
            observe::finished(&cx.core, &mut cx.session, it.idx, it.spec, &it.argv, usecs, reply);
            cx.out.raw(reply);
            *start = end;
            *next += 1;
        }
        for (_, g, _, _) in results {
            g.give_back();
        }
    }
}

/// An iterator whose length is known up front (a filter's is not).
#[derive(Clone)]
struct ExactLen<I>(I, usize);

impl<I: Iterator> Iterator for ExactLen<I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<I::Item> {
        let item = self.0.next()?;
        self.1 -= 1;
        Some(item)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.1, Some(self.1))
    }
}

impl<I: Iterator> ExactSizeIterator for ExactLen<I> {}

/// Prefetches the memory a pipelined batch's commands will read before any of them runs, so
/// that their cache misses overlap instead of coming one after another: every command's first
/// key, then the member or field each looks up inside a collection (whose key is cached by
/// then). One command alone gains nothing and is skipped.
fn prefetch_keys<'a>(
    db: &crate::shard::Db,
    cmds: impl Clone + ExactSizeIterator<Item = (&'a Request, &'static CommandSpec)>,
) {
    if cmds.len() < 2 {
        return;
    }
    let key_of = |argv: &'a Request, spec: &CommandSpec| match spec.keys.first {
        first if first > 0 => argv.get(first as usize),
        _ => None,
    };
    // A run of commands on one key (LPUSH mylist ...) is prefetched once. The hashes wait on
    // the stack and are prefetched a chunk at a time, in passes (`SegTable::prefetch_many`).
    let mut hashes = BatchHashes::new();
    let mut last: Option<&[u8]> = None;
    for (argv, spec) in cmds.clone() {
        if let Some(key) = key_of(argv, spec)
            && last != Some(&key[..])
        {
            if hashes.is_full() {
                db.prefetch(&hashes);
                hashes.clear();
            }
            hashes.push(crate::store::key_hash(key));
            last = Some(key);
        }
    }
    db.prefetch(&hashes);
    // Then the members or fields looked up inside collections, a run of commands on one key
    // at a time (the collection's entry is cached by now, and read once per run).
    type KeyRun<'e> = Option<(&'e [u8], Option<&'e crate::store::Entry>)>;
    let prefetch = |run: KeyRun, members: &[&[u8]]| {
        if let Some((_, Some(e))) = run {
            e.value().prefetch_members(members);
        }
    };
    let mut run: KeyRun = None;
    let mut members: [&[u8]; PREFETCH_BATCH] = [&[]; PREFETCH_BATCH];
    let mut count = 0;
    for (argv, spec) in cmds {
        if spec.member_at > 0
            && let (Some(key), Some(member)) = (key_of(argv, spec), argv.get(spec.member_at as usize))
        {
            let same_key = run.is_some_and(|(k, _)| k == &key[..]);
            if count == PREFETCH_BATCH || (count > 0 && !same_key) {
                prefetch(run, &members[..count]);
                count = 0;
            }
            if !same_key {
                run = Some((key, db.entry(crate::store::key_hash(key), key)));
            }
            members[count] = member;
            count += 1;
        }
    }
    prefetch(run, &members[..count]);
}

/// Consecutive multi-shard split commands, run together under one transaction.
#[derive(Default)]
struct Splits {
    plans: Vec<SplitPlan>,
    /// The commands themselves, for the statistics.
    cmds: Vec<(usize, &'static CommandSpec, Request)>,
}

impl Splits {
    async fn run(&mut self, cx: &mut ConnCx) {
        if self.plans.is_empty() {
            return;
        }
        let start = cx.out.len();
        let t = Instant::now();
        run_splits(cx, std::mem::take(&mut self.plans)).await;
        // They ran as one transaction: each is charged an equal share of its time.
        let cmds = std::mem::take(&mut self.cmds);
        let usec = observe::usec_since(t) / cmds.len().max(1) as u64;
        let mut at = start;
        for (idx, spec, argv) in cmds {
            let bytes = cx.out.as_bytes();
            let end = at + crate::resp::scan::reply_len(&bytes[at..]).unwrap_or(bytes.len() - at);
            observe::finished(
                &cx.core,
                &mut cx.session,
                idx,
                spec,
                &argv,
                usec,
                &cx.out.as_bytes()[at..end],
            );
            argv_pool::recycle(argv);
            at = end;
        }
    }
}

/// Writes an error for a command refused before it ran, and counts it.
pub(super) fn refuse(cx: &mut ConnCx, idx: Option<usize>, msg: &str) {
    let start = cx.out.len();
    cx.out.error(msg);
    observe::rejected(idx, &cx.out.as_bytes()[start..]);
}

/// Executes a batch of requests, leaving all replies in `cx.out` and `batch` empty (its
/// memory is the caller's to reuse for the next read).
pub async fn execute(cx: &mut ConnCx, batch: &mut Vec<Request>) {
    // EXEC runs its queue through here again: MONITOR lines and CLIENT REPLY are handled by
    // the outer batch only (EXEC's reply is dropped or kept whole).
    let top = cx.scope.is_none();
    if top {
        observe::batch_start(cx);
    }
    let mut pending = Pending::take();
    let mut splits = Splits::default();
    // CLIENT REPLY OFF/SKIP: where the current command's reply starts, and whether it is the
    // one command SKIP drops. Settled before the next command (or at the end).
    let mut quiet: Option<(usize, bool)> = None;
    for argv in batch.drain(..) {
        if let Some((mark, skip)) = quiet.take() {
            pending.flush(cx).await;
            splits.run(cx).await;
            if skip || cx.session.reply_off {
                cx.out.truncate(mark);
            }
        }
        if cx.session.close_after_reply {
            break;
        }
        if top && (cx.session.reply_off || cx.session.reply_skip_next) {
            pending.flush(cx).await;
            splits.run(cx).await;
            quiet = Some((cx.out.len(), std::mem::take(&mut cx.session.reply_skip_next)));
        }
        if !splits.plans.is_empty() && (cx.scope.is_some() || !is_multi_shard_split(&argv, cx.core.shards)) {
            splits.run(cx).await;
        }
        let Some((idx, spec)) = cx.recent_command.lookup(&argv[0]) else {
            pending.flush(cx).await;
            cx.session.abort_multi();
            refuse(cx, None, &CmdError::unknown(&argv[0], &argv[1..]).message());
            continue;
        };
        if !spec.arity_ok(argv.len()) {
            pending.flush(cx).await;
            cx.session.abort_multi();
            refuse(cx, Some(idx), &CmdError::WrongArity(spec.name.to_string()).message());
            continue;
        }
        if let Err(e) = cx
            .session
            .may_run(spec)
            .and_then(|_| cx.session.may_run_subscribed(spec, cx.out.proto()))
        {
            pending.flush(cx).await;
            refuse(cx, Some(idx), &e.message());
            continue;
        }
        if cx.scope.is_none()
            && !cx.session.master_link
            && let Some(e) = super::script::run::busy_refusal(spec, &argv)
        {
            pending.flush(cx).await;
            cx.session.abort_multi();
            refuse(cx, Some(idx), e);
            continue;
        }
        if cx.scope.is_none()
            && !cx.session.master_link
            && super::admission::needs_room_here(cx, spec, &argv)
            && evict::over_limit()
        {
            // Over `maxmemory`: what is queued runs first, then this core's shard makes room.
            pending.flush(cx).await;
            splits.run(cx).await;
            if cx.core.with_local_shard(|s| s.make_room(unix_ms())).await == Room::Full {
                super::admission::refuse_for_memory(cx, idx, spec).await;
                continue;
            }
        }
        if let Some(e) = role_refusal(cx, spec) {
            pending.flush(cx).await;
            cx.session.abort_multi();
            refuse(cx, Some(idx), e);
            continue;
        }
        if super::pause::must_wait(spec, &cx.session) {
            // CLIENT PAUSE: earlier replies go out first, then this client waits.
            pending.flush(cx).await;
            splits.run(cx).await;
            super::pause::wait_out(spec, &cx.session).await;
        }
        if cx.session.multi.is_some() && !super::txn::runs_inside_multi(spec) {
            pending.flush(cx).await;
            let Some(multi) = cx.session.multi.as_mut() else {
                continue;
            };
            if spec.flags.has(super::NO_MULTI) {
                multi.aborted = true;
                refuse(cx, Some(idx), "ERR Command not allowed inside a transaction");
            } else {
                multi.queued.push(argv);
                cx.out.simple(b"QUEUED");
            }
            continue;
        }
        if spec.is_write()
            && !cx.session.master_link
            && let Err(e) = write_allowed(cx)
        {
            pending.flush(cx).await;
            cx.session.abort_multi();
            refuse(cx, Some(idx), &e);
            continue;
        }
        let shards = cx.core.shards;
        match spec.run {
            Run::Shard(handler) => {
                // A command whose key position lies past its arguments (e.g. a HELP form) has
                // no key: it runs on this core's shard.
                let shard = argv
                    .get(spec.keys.first as usize)
                    .map_or(cx.core.id, |k| shard_of(k, shards));
                if pending.must_flush_before(cx, shard) {
                    pending.flush(cx).await;
                }
                pending.items.push(Item {
                    shard,
                    handler,
                    argv,
                    idx,
                    spec,
                });
            }
            Run::Split(handler, merge) => {
                if let Err(e) = check_layout(spec, argv.len()) {
                    pending.flush(cx).await;
                    cx.session.abort_multi();
                    refuse(cx, Some(idx), &e.message());
                    continue;
                }
                let mut owners = spec.keys.positions(argv.len()).map(|p| shard_of(&argv[p], shards));
                let first = owners.next().unwrap_or(0);
                if owners.all(|s| s == first) {
                    splits.run(cx).await;
                    if pending.must_flush_before(cx, first) {
                        pending.flush(cx).await;
                    }
                    pending.items.push(Item {
                        shard: first,
                        handler,
                        argv,
                        idx,
                        spec,
                    });
                } else {
                    pending.flush(cx).await;
                    splits.plans.push(SplitPlan::new(spec, handler, merge, &argv, shards));
                    splits.cmds.push((idx, spec, argv));
                }
                continue;
            }
            Run::Conn(h) => {
                pending.flush(cx).await;
                let start = cx.out.len();
                let mut kept = argv_pool::take(argv.len());
                kept.extend_from_slice(&argv);
                let t = Instant::now();
                if let Err(e) = h(cx, argv).await {
                    cx.out.truncate(start);
                    cx.out.error(&e.message());
                }
                let usec = observe::usec_since(t);
                let reply = &cx.out.as_bytes()[start..];
                observe::finished(&cx.core, &mut cx.session, idx, spec, &kept, usec, reply);
                argv_pool::recycle(kept);
            }
        }
    }
    splits.run(cx).await;
    pending.flush(cx).await;
    pending.give_back();
    if let Some((mark, skip)) = quiet.take()
        && (skip || cx.session.reply_off)
    {
        cx.out.truncate(mark);
    }
    if top {
        observe::batch_end(cx);
    }
}

/// True for a split command (DEL, MGET, MSET...) whose keys span several shards: those are
/// gathered and run together.
pub(super) fn is_multi_shard_split(argv: &Request, shards: usize) -> bool {
    let Some(spec) = lookup(&argv[0]) else { return false };
    if !matches!(spec.run, Run::Split(..)) || !spec.arity_ok(argv.len()) || check_layout(spec, argv.len()).is_err() {
        return false;
    }
    let mut owners = spec.keys.positions(argv.len()).map(|p| shard_of(&argv[p], shards));
    let first = owners.next().unwrap_or(0);
    !owners.all(|s| s == first)
}

/// Refusals that come from being a replica (`-READONLY`, `-MASTERDOWN`, `-LOADING`, in
/// redis-server 7.0's order: see `repl::replica::Shared::refusal`). The master's own link is
/// never refused.
/// Whether `execute` would run `argv` as it stands: nothing it checks first would refuse it
/// or make it wait (EXEC's one-shard path runs its queue without those checks).
pub fn passes_checks(cx: &ConnCx, spec: &'static CommandSpec, argc: usize) -> bool {
    spec.arity_ok(argc)
        && cx
            .session
            .may_run(spec)
            .and_then(|_| cx.session.may_run_subscribed(spec, cx.out.proto()))
            .is_ok()
        && role_refusal(cx, spec).is_none()
        && !super::pause::must_wait(spec, &cx.session)
        && (!spec.is_write() || cx.session.master_link || write_allowed(cx).is_ok())
}

fn role_refusal(cx: &ConnCx, spec: &super::CommandSpec) -> Option<&'static str> {
    traits_refusal(
        cx,
        crate::repl::replica::CommandTraits {
            write: spec.is_write(),
            stale: spec.flags.has(super::STALE),
            loading: spec.flags.has(super::LOADING),
        },
    )
}

/// The refusal a write subcommand of a container command (FUNCTION LOAD...) gets, whose
/// table entry cannot say it writes: a replica's `-READONLY` (and the others of
/// `role_refusal`), then MISCONF or NOREPLICAS.
pub(super) fn write_refusal(cx: &ConnCx) -> Option<String> {
    if cx.session.master_link {
        return None;
    }
    let traits = crate::repl::replica::CommandTraits {
        write: true,
        stale: false,
        loading: false,
    };
    if let Some(e) = traits_refusal(cx, traits) {
        return Some(e.to_string());
    }
    write_allowed(cx).err()
}

fn traits_refusal(cx: &ConnCx, traits: crate::repl::replica::CommandTraits) -> Option<&'static str> {
    let replica = &cx.core.server.repl.get()?.replica;
    if cx.session.master_link || !replica.is_active() {
        return None;
    }
    let cfg = cx.core.server.config.read().ok()?;
    replica.refusal(traits, &cfg)
}

/// Refuses writes after a failed save (MISCONF) or without enough good replicas (NOREPLICAS).
fn write_allowed(cx: &ConnCx) -> Result<(), String> {
    let st = &cx.core.server;
    if st.persist.refuses_writes() {
        return Err(crate::persist::save::MISCONF.to_string());
    }
    let min = st.min_replicas_to_write.load(std::sync::atomic::Ordering::Relaxed);
    if min > 0 {
        let lag = st.min_replicas_max_lag.load(std::sync::atomic::Ordering::Relaxed);
        if (st.repl().good_replicas(lag) as u64) < min {
            return Err("NOREPLICAS Not enough good replicas to write.".to_string());
        }
    }
    Ok(())
}

/// Lower-cased copy of a command or option name, for messages.
pub fn lower(name: &[u8]) -> String {
    String::from_utf8_lossy(name).to_ascii_lowercase()
}
