//! The connection family (PING, ECHO, SELECT, HELLO, AUTH, QUIT, RESET, CLIENT) and the
//! per-connection state every command sees.

use std::rc::Rc;

use super::args::{is, parse_int};
use super::dispatch::lower;
use super::error::printable;
use super::*;
use crate::net::clients::{self, ClientFilter, ClientHandle, ClientKind, ClientView};
use crate::resp::Arg;
use crate::resp::{Out, Proto};
use crate::server::REDIS_VERSION;
use crate::shard::unix_ms;
use crate::txn::{CoreCx, Lock};

/// What Redis keeps per client that commands can change.
pub struct Session {
    pub id: u64,
    pub db: usize,
    pub name: Option<Vec<u8>>,
    pub authed: bool,
    /// Set by QUIT (and protocol errors): close once the replies are written.
    pub close_after_reply: bool,
    pub peer: String,
    pub local: String,
    pub created_ms: u64,
    /// Commands queued since MULTI (None outside a transaction).
    pub multi: Option<Multi>,
    /// Keys this client WATCHes, as (db, key).
    pub watched: Vec<(usize, Vec<u8>)>,
    /// Pub/sub subscriptions.
    pub subs: super::pubsub::Subscriptions,
    /// What a replica announced with REPLCONF.
    pub replica: super::replication::ReplicaHello,
    /// Set by PSYNC/SYNC: the connection hands its socket to a replica link.
    pub handoff: Option<super::replication::Handoff>,
    /// The pseudo-client that applies the master's stream on a replica (exempt from
    /// READONLY, LOADING, MISCONF and NOREPLICAS).
    pub master_link: bool,
    /// CLIENT REPLY OFF: replies are dropped until CLIENT REPLY ON.
    pub reply_off: bool,
    /// CLIENT NO-EVICT on (kept across RESET, as in Redis 7.0).
    pub no_evict: bool,
    /// CLIENT REPLY SKIP: the next command's reply is dropped.
    pub reply_skip_next: bool,
    /// Set by MONITOR: where lines of every core's commands arrive.
    pub monitor: Option<Rc<super::monitor::Sink>>,
    /// MONITOR lines of the batch running now (only while someone monitors).
    pub monitor_feed: Option<Vec<u8>>,
    /// MONITOR lines of the commands a script called, shown after the script's own line.
    pub monitor_tail: Vec<u8>,
}

/// A transaction being queued.
#[derive(Default)]
pub struct Multi {
    pub queued: Vec<crate::resp::Request>,
    /// A command failed to queue: EXEC must answer EXECABORT.
    pub aborted: bool,
    /// How many were queued when the transaction failed: Redis 7.0 stops counting there
    /// (CLIENT LIST `multi=`), though it still answers QUEUED.
    pub counted: Option<usize>,
}

impl Session {
    /// Marks a transaction being queued as failed (a command could not be queued).
    pub fn abort_multi(&mut self) {
        if let Some(m) = self.multi.as_mut() {
            m.aborted = true;
            m.counted.get_or_insert(m.queued.len());
        }
    }

    /// Checks that this client may run `spec` now (authentication).
    pub fn may_run(&self, spec: &CommandSpec) -> Result<(), CmdError> {
        if !self.authed && !spec.flags.has(NO_AUTH) {
            return Err(CmdError::other("NOAUTH Authentication required."));
        }
        Ok(())
    }

    /// RESP2 clients in subscribed mode may only run the pub/sub commands, PING, QUIT, RESET.
    pub fn may_run_subscribed(&self, spec: &CommandSpec, proto: Proto) -> Result<(), CmdError> {
        if proto == Proto::Resp2 && self.subs.any() && !super::pubsub::allowed_when_subscribed(spec) {
            return Err(CmdError::other(format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                spec.name
            )));
        }
        Ok(())
    }
}

/// A connection's context: its core, its state and its reply buffer.
pub struct ConnCx {
    pub core: Rc<CoreCx>,
    pub session: Session,
    pub out: Out,
    /// Set while EXEC runs: the transaction that holds every shard the queue may touch.
    pub scope: Option<crate::txn::TxnId>,
    /// The previous command's table entry, looked up again only when the name changes.
    pub recent_command: super::RecentCommand,
}

impl ConnCx {
    pub fn new(core: Rc<CoreCx>, session: Session) -> ConnCx {
        ConnCx {
            core,
            session,
            out: Out::new(Proto::Resp2),
            scope: None,
            recent_command: Default::default(),
        }
    }

    /// A transaction over `shards` for this client's command: inside EXEC it runs under the
    /// EXEC's held shards, otherwise it takes its own locks as needed.
    pub fn txn(&self, shards: Vec<crate::shard::ShardId>, hops: usize) -> crate::txn::Txn {
        match self.scope {
            Some(id) => crate::txn::Txn::within(&self.core, id, shards),
            None => crate::txn::Txn::new(&self.core, shards, hops),
        }
    }

    /// `txn` over every shard.
    pub fn txn_all(&self, hops: usize) -> crate::txn::Txn {
        self.txn((0..self.core.shards).collect(), hops)
    }

    /// How plain shard jobs treat the shards' gates for this client right now.
    pub fn lock_mode(&self) -> Lock {
        match self.scope {
            Some(id) => Lock::Held(id),
            None => Lock::Pass,
        }
    }

    /// Runs `f` on the stored entry of `key` in this client's database, on the key's shard,
    /// for a command that only looks (OBJECT, MEMORY USAGE): None when the key is not stored.
    /// A key past its deadline that is still stored is passed to `f`, which decides.
    pub async fn inspect_key<T: Send + 'static>(
        &self,
        key: Arg,
        f: impl FnOnce(&crate::store::Entry) -> Option<T> + Send + 'static,
    ) -> Option<T> {
        let db = self.session.db;
        let shard = crate::shard::shard_of(&key, self.core.shards);
        self.core
            .run_on(shard, self.lock_mode(), move |s: &mut crate::shard::Shard| {
                s.dbs[db].entry(crate::shard::key_hash(&key), &key).and_then(f)
            })
            .await
    }
}

pub const SPECS: &[CommandSpec] = &[
    CommandSpec::new("ping", -1, FAST, KeySpan::NONE, Run::Conn(ping)).doc(
        "connection",
        "1.0.0",
        "Returns the server's liveliness response.",
        "[message]",
    ),
    CommandSpec::new(
        "echo",
        2,
        FAST.union(LOADING).union(STALE),
        KeySpan::NONE,
        Run::Conn(echo),
    )
    .doc("connection", "1.0.0", "Returns the given string.", "message"),
    CommandSpec::new(
        "select",
        2,
        FAST.union(LOADING).union(STALE),
        KeySpan::NONE,
        Run::Conn(select),
    )
    .doc("connection", "1.0.0", "Changes the selected database.", "index"),
    CommandSpec::new(
        "hello",
        -1,
        FAST.union(NO_AUTH)
            .union(LOADING)
            .union(STALE)
            .union(ALLOW_BUSY)
            .union(NOSCRIPT),
        KeySpan::NONE,
        Run::Conn(hello),
    )
    .doc(
        "connection",
        "6.0.0",
        "Handshakes with the server.",
        "[protover [AUTH username password] [SETNAME clientname]]",
    ),
    CommandSpec::new(
        "auth",
        -2,
        FAST.union(NO_AUTH)
            .union(LOADING)
            .union(STALE)
            .union(ALLOW_BUSY)
            .union(NOSCRIPT),
        KeySpan::NONE,
        Run::Conn(auth),
    )
    .doc(
        "connection",
        "1.0.0",
        "Authenticates the connection.",
        "[username] password",
    ),
    CommandSpec::new(
        "quit",
        -1,
        FAST.union(NO_AUTH)
            .union(LOADING)
            .union(STALE)
            .union(ALLOW_BUSY)
            .union(NOSCRIPT),
        KeySpan::NONE,
        Run::Conn(quit),
    )
    .doc("connection", "1.0.0", "Closes the connection.", ""),
    CommandSpec::new(
        "reset",
        1,
        FAST.union(NO_AUTH)
            .union(LOADING)
            .union(STALE)
            .union(ALLOW_BUSY)
            .union(NOSCRIPT),
        KeySpan::NONE,
        Run::Conn(reset),
    )
    .doc("connection", "6.2.0", "Resets the connection.", ""),
    CommandSpec::new(
        "client",
        -2,
        ADMIN.union(LOADING).union(STALE),
        KeySpan::NONE,
        Run::Conn(client),
    )
    .doc(
        "connection",
        "2.4.0",
        "A container for client connection commands.",
        "subcommand [arguments]",
    ),
];

fn ping(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        if argv.len() > 2 {
            return Err(CmdError::WrongArity("ping".into()));
        }
        if cx.session.subs.any() && cx.out.proto() == Proto::Resp2 {
            // Subscribed RESP2 clients get PING as a two-element array, as in Redis.
            cx.out.array(2);
            cx.out.bulk(b"pong");
            cx.out.bulk(argv.get(1).map_or(&b""[..], |a| &a[..]));
        } else if argv.len() == 2 {
            cx.out.bulk(&argv[1]);
        } else {
            cx.out.simple(b"PONG");
        }
        Ok(())
    })
}

fn echo(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        cx.out.bulk(&argv[1]);
        Ok(())
    })
}

fn select(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let idx = parse_int(&argv[1])?;
        let dbs = cx.core.shard.borrow().dbs.len() as i64;
        if idx < 0 || idx >= dbs {
            return Err(CmdError::DbIndexOutOfRange);
        }
        cx.session.db = idx as usize;
        cx.out.ok();
        Ok(())
    })
}

/// Checks a password for `user` against `requirepass` (the only user Shoal has is `default`).
fn check_password(cx: &ConnCx, user: &[u8], pass: &[u8]) -> Result<(), CmdError> {
    let wrong = || CmdError::other("WRONGPASS invalid username-password pair or user is disabled.");
    match cx.core.server.config().requirepass {
        None if user == b"default" => Ok(()),
        None => Err(wrong()),
        Some(p) if user == b"default" && same_secret(p.as_bytes(), pass) => Ok(()),
        Some(_) => Err(wrong()),
    }
}

/// Compares a password in time that does not depend on where the inputs differ (nor, beyond
/// the longer length, on their lengths), so timing does not leak the secret.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    let mut diff = (a.len() != b.len()) as u8;
    for i in 0..n {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    std::hint::black_box(diff) == 0
}

fn auth(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let (user, pass): (&[u8], &[u8]) = match argv.len() {
            2 => (b"default", &argv[1]),
            3 => (&argv[1], &argv[2]),
            _ => return Err(CmdError::Syntax),
        };
        if argv.len() == 2 && cx.core.server.config().requirepass.is_none() {
            return Err(CmdError::other(
                "ERR AUTH <password> called without any password configured for the default user. \
                 Are you sure your configuration is correct?",
            ));
        }
        check_password(cx, user, pass)?;
        cx.session.authed = true;
        cx.out.ok();
        Ok(())
    })
}

fn hello(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let mut proto = cx.out.proto();
        if argv.len() >= 2 {
            let ver = parse_int(&argv[1])
                .map_err(|_| CmdError::other("ERR Protocol version is not an integer or out of range"))?;
            proto = match ver {
                2 => Proto::Resp2,
                3 => Proto::Resp3,
                _ => return Err(CmdError::other("NOPROTO unsupported protocol version")),
            };
        }
        let mut i = 2;
        let mut name = None;
        while i < argv.len() {
            let more = argv.len() - i - 1;
            if is(&argv[i], "auth") && more >= 2 {
                check_password(cx, &argv[i + 1], &argv[i + 2])?;
                cx.session.authed = true;
                i += 3;
            } else if is(&argv[i], "setname") && more >= 1 {
                name = Some(argv[i + 1].to_vec());
                i += 2;
            } else {
                return Err(CmdError::other(format!(
                    "ERR Syntax error in HELLO option '{}'",
                    printable(&argv[i], 128)
                )));
            }
        }
        if !cx.session.authed {
            return Err(CmdError::other(
                "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
            ));
        }
        if let Some(n) = name {
            check_client_name(&n)?;
            cx.session.name = Some(n);
        }
        cx.out.set_proto(proto);
        let out = &mut cx.out;
        out.map(7);
        out.bulk(b"server");
        out.bulk(b"redis");
        out.bulk(b"version");
        out.bulk(REDIS_VERSION.as_bytes());
        out.bulk(b"proto");
        out.int(if proto == Proto::Resp3 { 3 } else { 2 });
        out.bulk(b"id");
        out.int(cx.session.id as i64);
        out.bulk(b"mode");
        out.bulk(b"standalone");
        out.bulk(b"role");
        out.bulk(b"master");
        out.bulk(b"modules");
        out.array(0);
        Ok(())
    })
}

fn quit(cx: &mut ConnCx, _argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        cx.out.ok();
        cx.session.close_after_reply = true;
        Ok(())
    })
}

fn reset(cx: &mut ConnCx, _argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        cx.session.db = 0;
        cx.session.name = None;
        cx.session.multi = None;
        super::txn::unwatch_all(cx).await;
        super::pubsub::drop_all(cx);
        super::monitor::stop(&mut cx.session);
        cx.session.reply_off = false;
        cx.session.reply_skip_next = false;
        cx.session.authed = cx.core.server.config().requirepass.is_none();
        cx.out.set_proto(Proto::Resp2);
        cx.out.simple(b"RESET");
        Ok(())
    })
}

/// Client names may not contain spaces, newlines or other special characters.
fn check_client_name(name: &[u8]) -> Result<(), CmdError> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(CmdError::other(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

/// CLIENT HELP, in Shoal's words.
const CLIENT_HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ID",
    "    This connection's id.",
    "GETNAME",
    "    This connection's name, or nil.",
    "SETNAME <name>",
    "    Names this connection (no spaces or special characters).",
    "INFO",
    "    This connection, as one CLIENT LIST line.",
    "LIST [TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID <id> [<id> ...]]",
    "    One line per connection, on every core.",
    "KILL <ip:port> | <filter> <value> [<filter> <value> ...]",
    "    Closes connections by address, or by ID, ADDR, LADDR, TYPE, USER or SKIPME.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Holds clients' commands (or only writes) for <timeout> milliseconds.",
    "UNPAUSE",
    "    Ends a pause.",
    "REPLY ON|OFF|SKIP",
    "    Turns this connection's replies off, on, or off for the next command.",
    "NO-EVICT ON|OFF",
    "    Keeps this connection out of client eviction.",
    "UNBLOCK <id> [TIMEOUT|ERROR]",
    "    Ends a blocking command of client <id> as a timeout, or with an error.",
    "HELP",
    "    Prints this help.",
];

/// CLIENT's subcommands (what `cmd=client|...` may name; others are unknown).
const CLIENT_SUBS: &[&str] = &[
    "id", "getname", "setname", "info", "list", "kill", "no-evict", "pause", "unpause", "reply", "unblock", "help",
];

/// The name CLIENT LIST shows as `cmd` for a request, as Redis 7.0 records a client's last
/// command: `container|sub` for a subcommand, the container alone without one, `NULL` for an
/// unknown command (or an unknown CLIENT subcommand).
///
/// Written over `label`, reusing its memory: this runs once per read on every connection,
/// so the name is looked up through the connection's `names` cache.
pub fn set_command_label(argv: &[Arg], names: &mut super::RecentCommand, label: &mut String) {
    label.clear();
    let Some((_, spec)) = argv.first().and_then(|a| names.lookup(a)) else {
        label.push_str("NULL");
        return;
    };
    match argv.get(1) {
        Some(sub) if super::cmdstats::CONTAINERS.contains(&spec.name) => {
            let sub = lower(sub);
            if spec.name == "client" && !CLIENT_SUBS.contains(&sub.as_str()) {
                label.push_str("NULL");
                return;
            }
            label.push_str(spec.name);
            label.push('|');
            label.push_str(&sub);
        }
        _ => label.push_str(spec.name),
    }
}

/// Copies what CLIENT LIST shows of this connection from its session into its handle (after
/// each batch, and before the client lists itself).
pub fn publish(cx: &ConnCx, h: &ClientHandle) {
    let s = &cx.session;
    h.db.set(s.db);
    h.resp.set(if cx.out.proto() == Proto::Resp3 { 3 } else { 2 });
    if *h.name.borrow() != s.name {
        *h.name.borrow_mut() = s.name.clone();
    }
    h.subs.set((
        s.subs.channels.len(),
        s.subs.patterns.len(),
        s.subs.shard_channels.len(),
    ));
    h.multi
        .set(s.multi.as_ref().map(|m| m.counted.unwrap_or(m.queued.len())));
    let multi_mem = s
        .multi
        .as_ref()
        .map_or(0, |m| m.queued.iter().flatten().map(|a| a.len()).sum::<usize>());
    h.update_buffers(|b| {
        b.tot_mem = b.tot_mem.saturating_sub(b.multi_mem) + multi_mem;
        b.multi_mem = multi_mem;
    });
    h.no_evict.set(s.no_evict);
}

/// Brings this client's own handle up to date, with `cmd` the subcommand running now.
/// Inside EXEC the command running is EXEC, and the transaction's count is the one published
/// before EXEC took the queue (right when EXEC came in a batch of its own).
fn publish_self(cx: &ConnCx, cmd: &str) -> Option<ClientView> {
    let h = clients::with_local(|c| c.get(cx.session.id))?;
    let queued = h.multi.get();
    publish(cx, &h);
    let cmd = if cx.scope.is_some() {
        h.multi.set(queued);
        "exec"
    } else {
        cmd
    };
    *h.last_cmd.borrow_mut() = cmd.to_string();
    Some(h.view(unix_ms()))
}

/// The clients matching `filter` on every core (one hop each), by id.
async fn client_views(cx: &ConnCx, filter: ClientFilter) -> Vec<ClientView> {
    let mut all = Vec::new();
    for core in 0..cx.core.shards {
        let f = filter.clone();
        all.extend(
            cx.core
                .run_on(core, Lock::Free, move |_| {
                    clients::with_local(|c| c.list(&f, unix_ms()))
                })
                .await,
        );
    }
    all.sort_unstable_by_key(|v| v.id);
    all
}

/// Kills the clients matching `filter` on every core; returns how many. This client, if it
/// matches, is not cut off: like Redis it gets its reply, then the connection closes.
async fn kill_clients(cx: &mut ConnCx, filter: ClientFilter) -> usize {
    let me = publish_self(cx, "client|kill").is_some_and(|v| filter.matches(&v));
    let mut n = 0;
    for core in 0..cx.core.shards {
        let f = ClientFilter {
            skip: Some(cx.session.id),
            ..filter.clone()
        };
        n += cx
            .core
            .run_on(core, Lock::Free, move |_| clients::with_local(|c| c.kill(&f)))
            .await;
    }
    if me {
        cx.session.close_after_reply = true;
        n += 1;
    }
    n
}

/// Parses CLIENT KILL's filters (new style), as Redis 7.0 reads them: left to right, the first
/// bad one answers; a repeated ID keeps the last.
fn kill_filter(cx: &ConnCx, args: &[Arg]) -> Result<ClientFilter, CmdError> {
    let mut f = ClientFilter {
        skip: Some(cx.session.id),
        ..Default::default()
    };
    for pair in args.chunks(2) {
        let [opt, val] = pair else { return Err(CmdError::Syntax) };
        let val_s = String::from_utf8_lossy(val).into_owned();
        match lower(opt).as_str() {
            "id" => {
                let id = parse_int(val)
                    .ok()
                    .filter(|v| *v > 0)
                    .ok_or_else(|| CmdError::other("ERR client-id should be greater than 0"))?;
                f.ids = vec![id as u64];
            }
            "type" => {
                f.kind = Some(
                    ClientKind::parse(val)
                        .ok_or_else(|| CmdError::other(format!("ERR Unknown client type '{val_s}'")))?,
                )
            }
            "addr" => f.addr = Some(val_s),
            "laddr" => f.laddr = Some(val_s),
            // Shoal has one user, `default`.
            "user" if val_s == "default" => f.user = Some(val_s),
            "user" => return Err(CmdError::other(format!("ERR No such user '{val_s}'"))),
            "skipme" if is(val, "yes") => f.skip = Some(cx.session.id),
            "skipme" if is(val, "no") => f.skip = None,
            _ => return Err(CmdError::Syntax),
        }
    }
    Ok(f)
}

/// CLIENT LIST [TYPE type | ID id [id ...]]: Redis 7.0 takes one form or the other, and lists
/// the IDs in the order given (repeats included).
async fn client_list(cx: &mut ConnCx, argv: &[Arg]) -> Result<(), CmdError> {
    let n = argv.len();
    let mut f = ClientFilter::default();
    let mut order = None;
    if n > 3 && is(&argv[2], "id") {
        let ids = argv[3..]
            .iter()
            .map(|a| parse_int(a).map_err(|_| CmdError::other("ERR Invalid client ID")))
            .collect::<Result<Vec<i64>, _>>()?;
        // Ids are positive: others match nobody (id 0 is never assigned).
        f.ids = ids.iter().map(|&i| i.max(0) as u64).collect();
        order = Some(f.ids.clone());
    } else if n == 4 && is(&argv[2], "type") {
        let t = String::from_utf8_lossy(&argv[3]).into_owned();
        f.kind =
            Some(ClientKind::parse(&argv[3]).ok_or_else(|| CmdError::other(format!("ERR Unknown client type '{t}'")))?);
    } else if n != 2 {
        return Err(CmdError::Syntax);
    }
    publish_self(cx, "client|list");
    let views = client_views(cx, f).await;
    let text: String = match order {
        Some(ids) => ids
            .iter()
            .filter_map(|id| views.iter().find(|v| v.id == *id))
            .map(ClientView::line)
            .collect(),
        None => views.iter().map(ClientView::line).collect(),
    };
    cx.out.verbatim(text.as_bytes());
    Ok(())
}

fn client(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let sub = lower(&argv[1]);
        match (sub.as_str(), argv.len()) {
            ("id", 2) => cx.out.int(cx.session.id as i64),
            ("getname", 2) => match &cx.session.name {
                Some(n) => cx.out.bulk(n),
                None => cx.out.null(),
            },
            ("setname", 3) => {
                check_client_name(&argv[2])?;
                cx.session.name = (!argv[2].is_empty()).then(|| argv[2].to_vec());
                cx.out.ok();
            }
            ("info", 2) => {
                let line = publish_self(cx, "client|info").map(|v| v.line()).unwrap_or_default();
                cx.out.verbatim(line.as_bytes());
            }
            ("list", _) => client_list(cx, &argv).await?,
            ("kill", 3) => {
                // The old form: an address, and this client may kill itself.
                let addr = String::from_utf8_lossy(&argv[2]).into_owned();
                let f = ClientFilter {
                    addr: Some(addr),
                    ..Default::default()
                };
                if kill_clients(cx, f).await == 0 {
                    return Err(CmdError::other("ERR No such client"));
                }
                cx.out.ok();
            }
            ("kill", n) if n > 3 => {
                let f = kill_filter(cx, &argv[2..])?;
                let killed = kill_clients(cx, f).await;
                cx.out.int(killed as i64);
            }
            ("help", 2) => super::slowlog::help_reply(&mut cx.out, CLIENT_HELP),
            ("unblock", 3 | 4) => {
                let id = parse_int(&argv[2])?;
                let error = match argv.get(3) {
                    None => false,
                    Some(a) if is(a, "timeout") => false,
                    Some(a) if is(a, "error") => true,
                    Some(_) => {
                        return Err(CmdError::other("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"));
                    }
                };
                let mut n = 0;
                for core in 0..cx.core.shards {
                    n += cx
                        .core
                        .run_on(core, Lock::Free, move |_| {
                            clients::with_local(|c| c.get(id as u64).is_some_and(|h| h.request_unblock(error)))
                        })
                        .await as i64;
                }
                cx.out.int(n);
            }
            ("no-evict", 3) => {
                if !is(&argv[2], "on") && !is(&argv[2], "off") {
                    return Err(CmdError::Syntax);
                }
                cx.session.no_evict = is(&argv[2], "on");
                cx.out.ok()
            }
            ("pause", n) if n > 4 => {
                return Err(CmdError::other(format!(
                    "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
                    printable(&argv[1], 128)
                )));
            }
            ("pause", 3 | 4) => {
                super::pause::client_pause(&argv)?;
                cx.out.ok();
            }
            ("unpause", 2) => {
                super::pause::client_unpause();
                cx.out.ok();
            }
            ("reply", 3) => match lower(&argv[2]).as_str() {
                // OFF and SKIP answer nothing; ON answers +OK (dispatch drops what must go).
                "on" => {
                    cx.session.reply_off = false;
                    cx.out.ok();
                }
                "off" => cx.session.reply_off = true,
                "skip" => {
                    if !cx.session.reply_off {
                        cx.session.reply_skip_next = true;
                    }
                }
                _ => return Err(CmdError::Syntax),
            },
            _ => {
                return Err(CmdError::subcommand("client", &argv[1], CLIENT_SUBS));
            }
        }
        Ok(())
    })
}

/// A client's fresh state when it connects.
pub fn new_session(core: &Rc<CoreCx>, peer: String, local: String) -> Session {
    Session {
        id: core.server.next_client_id(),
        db: 0,
        name: None,
        authed: core.server.config().requirepass.is_none(),
        close_after_reply: false,
        peer,
        local,
        created_ms: crate::shard::unix_ms(),
        multi: None,
        watched: Vec::new(),
        subs: Default::default(),
        replica: Default::default(),
        handoff: None,
        master_link: false,
        reply_off: false,
        no_evict: false,
        reply_skip_next: false,
        monitor: None,
        monitor_feed: None,
        monitor_tail: Vec::new(),
    }
}

/// Writes `err` as the reply (used by the connection loop for protocol errors).
pub fn write_error(out: &mut Out, err: &str) {
    out.error(err);
}
