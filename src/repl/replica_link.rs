//! The link to the master, as one task on core 0: handshake, payload, stream (spec 2-4).
//!
//! The handshake sends exactly what a redis-server 7.0 replica sends. A full sync receives
//! the payload into a temp file, loads it into every shard (keeping expired keys: the master
//! will send their DEL) and keeps it as our dump (`payload`). The stream
//! is parsed like client input and executed through the dispatcher on a pseudo-client flagged
//! as the master link; each applied command's exact bytes are then relayed to our own stream,
//! which advances our offset. A MULTI block is held back until its EXEC has arrived, so the
//! offset never points inside a transaction and a reconnect never replays half of one.

use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::Backlog;
use super::replica::{LinkState, SyncProgress};
use crate::command::ConnCx;
use crate::net::clients::ClientHandle;
use crate::resp::{ParseLimits, Request, RequestParser};
use crate::runtime::tcp::Stream;
use crate::shard::unix_ms;
use crate::txn::CoreCx;

const TICK: Duration = Duration::from_millis(100);
const LOAD_BATCH: usize = 1024;

mod payload;

struct Link {
    core: Rc<CoreCx>,
    stream: Stream,
    /// Received and not consumed yet.
    buf: BytesMut,
    chunk: Vec<u8>,
    generation: u64,
    timeout: Duration,
    last_io: Instant,
}

impl Link {
    fn repl(&self) -> &std::sync::Arc<super::ReplState> {
        self.core.server.repl()
    }

    /// Waits up to one tick for bytes; `Ok(0)` after a quiet tick. Fails when the master
    /// closes, when nothing arrived for `repl-timeout`, or when the role changed.
    async fn fill_tick(&mut self) -> Result<usize, String> {
        let (stream, chunk) = (&mut self.stream, &mut self.chunk);
        let read = futures_lite::future::or(async { Some(stream.read(chunk).await) }, async {
            crate::runtime::sleep(TICK).await;
            None
        })
        .await;
        let repl = self.core.server.repl().clone();
        if repl.replica.lock().generation != self.generation {
            return Err(String::new());
        }
        match read {
            Some(Ok(0)) => Err("Connection with master lost.".into()),
            Some(Err(e)) => Err(format!("Error reading from MASTER: {e}")),
            Some(Ok(n)) => {
                super::count_bytes(&super::NET_INPUT_BYTES, n);
                self.buf.extend_from_slice(&self.chunk[..n]);
                self.last_io = Instant::now();
                let now = unix_ms();
                let mut st = repl.replica.lock();
                st.last_io_ms = now;
                if let Some(p) = st.sync.as_mut() {
                    p.last_io_ms = now;
                }
                Ok(n)
            }
            None if self.last_io.elapsed() > self.timeout => Err("MASTER timeout: no data nor PING received...".into()),
            None => Ok(0),
        }
    }

    async fn fill(&mut self) -> Result<usize, String> {
        loop {
            let n = self.fill_tick().await?;
            if n > 0 {
                return Ok(n);
            }
        }
    }

    /// The next non-empty line (bare `\n` keep-alives are skipped), without its line end.
    async fn line(&mut self) -> Result<String, String> {
        loop {
            while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let raw = self.buf.split_to(pos + 1);
                let text = String::from_utf8_lossy(&raw[..pos]).trim_end_matches('\r').to_string();
                if !text.is_empty() {
                    return Ok(text);
                }
            }
            self.fill().await?;
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(|e| format!("Error writing to MASTER: {e}"))
    }

    async fn send_ack(&mut self, offset: i64) -> Result<(), String> {
        let off = offset.to_string();
        let mut cmd = Vec::new();
        crate::shard::writelog::encode_command(&mut cmd, &[b"REPLCONF", b"ACK", off.as_bytes()]);
        self.send(&cmd).await
    }
}

/// Updates the INFO `master_sync_*` progress, if a payload is being received.
fn progress(repl: &super::ReplState, f: impl FnOnce(&mut SyncProgress)) {
    if let Some(p) = repl.replica.lock().sync.as_mut() {
        f(p);
    }
}

fn set_state(core: &CoreCx, state: LinkState) {
    core.server.repl().replica.lock().state = state;
}

fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    crate::shard::writelog::encode_command(&mut out, args);
    out
}

/// One connection to the master, from connect to the end of the stream. `Err("")` means the
/// role changed (not an error worth logging).
pub async fn run(core: &Rc<CoreCx>, host: &str, port: u16, generation: u64) -> Result<(), String> {
    let cfg = core.server.config();
    let timeout = Duration::from_secs(cfg.repl_timeout.max(1) as u64);
    set_state(core, LinkState::Connecting);
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("Unable to connect to MASTER: cannot resolve {host}"))?;
    let connected = futures_lite::future::or(async { Some(Stream::connect(addr).await) }, async {
        crate::runtime::sleep(timeout).await;
        None
    })
    .await;
    let stream = match connected {
        Some(Ok(s)) => s,
        Some(Err(e)) => return Err(format!("Error condition on socket for SYNC: {e}")),
        None => return Err("Timeout connecting to the MASTER...".into()),
    };
    let _ = stream.set_nodelay(true);
    crate::server::log::notice("MASTER <-> REPLICA sync started");
    let mut link = Link {
        core: core.clone(),
        stream,
        buf: BytesMut::with_capacity(64 * 1024),
        chunk: vec![0u8; 64 * 1024],
        generation,
        timeout,
        last_io: Instant::now(),
    };
    set_state(core, LinkState::Handshake);
    handshake(&mut link, &cfg).await?;
    let full = psync(&mut link).await?;
    let partial = full.is_none();
    if let Some((replid, offset, legacy)) = full {
        full_sync(&mut link, replid, offset, legacy).await?;
    }
    stream_loop(&mut link, host, port, partial).await
}

/// PING, AUTH, REPLCONF listening-port / ip-address / capa (spec 2.1 steps 1-2).
async fn handshake(link: &mut Link, cfg: &crate::config::Config) -> Result<(), String> {
    link.send(&encode(&[b"PING"])).await?;
    let pong = link.line().await?;
    if pong.starts_with('-')
        && !pong.starts_with("-NOAUTH")
        && !pong.starts_with("-NOPERM")
        && !pong.starts_with("-ERR operation not permitted")
    {
        return Err(format!("Error reply to PING from master: '{}'", &pong[1..]));
    }
    let mut out = Vec::new();
    let auth = cfg.masterauth.is_some();
    if let Some(pass) = &cfg.masterauth {
        match &cfg.masteruser {
            Some(user) => out.extend(encode(&[b"AUTH", user.as_bytes(), pass.as_bytes()])),
            None => out.extend(encode(&[b"AUTH", pass.as_bytes()])),
        }
    }
    let port = if cfg.replica_announce_port != 0 {
        cfg.replica_announce_port
    } else {
        cfg.port
    };
    out.extend(encode(&[b"REPLCONF", b"listening-port", port.to_string().as_bytes()]));
    if let Some(ip) = &cfg.replica_announce_ip {
        out.extend(encode(&[b"REPLCONF", b"ip-address", ip.as_bytes()]));
    }
    out.extend(encode(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"]));
    link.send(&out).await?;
    if auth {
        let r = link.line().await?;
        if let Some(e) = r.strip_prefix('-') {
            return Err(format!("Unable to AUTH to MASTER: {e}"));
        }
    }
    let replies = 2 + usize::from(cfg.replica_announce_ip.is_some());
    for _ in 0..replies {
        let r = link.line().await?;
        if let Some(e) = r.strip_prefix('-') {
            crate::server::log::notice(&format!("(Non critical) Master does not understand REPLCONF: {e}"));
        }
    }
    Ok(())
}

/// Sends PSYNC and reads the answer: `Some((replid, offset, legacy))` for a full sync, `None`
/// for a partial one (already applied to our ids and backlog).
async fn psync(link: &mut Link) -> Result<Option<(String, i64, bool)>, String> {
    let repl = link.repl().clone();
    let cont = repl.replica.lock().can_continue;
    let (id, off) = if cont {
        (repl.lock().replid.clone(), (repl.master_offset() + 1).to_string())
    } else {
        ("?".to_string(), "-1".to_string())
    };
    link.send(&encode(&[b"PSYNC", id.as_bytes(), off.as_bytes()])).await?;
    let reply = link.line().await?;
    if let Some(rest) = reply.strip_prefix("+FULLRESYNC") {
        let mut parts = rest.split_whitespace();
        let mut replid = parts.next().unwrap_or("").to_string();
        let offset = parts.next().and_then(|o| o.parse::<i64>().ok()).unwrap_or(-1);
        if replid.len() != 40 {
            // A malformed id is blanked so that the next PSYNC cannot match it.
            replid = "0".repeat(40);
        }
        crate::server::log::notice(&format!("Full resync from master: {replid}:{offset}"));
        return Ok(Some((replid, offset, false)));
    }
    if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        let new_id = rest.trim();
        let size = link.core.server.config().repl_backlog_size as usize;
        let mut inner = repl.lock();
        if new_id.len() == 40 && new_id != inner.replid {
            // The master's history has a new id: keep ours as the second one (spec 2.3).
            inner.replid2 = std::mem::replace(&mut inner.replid, new_id.to_string());
            inner.second_offset = repl.master_offset() + 1;
            drop(inner);
            repl.drop_replicas();
            inner = repl.lock();
        }
        if inner.backlog.is_none() {
            inner.backlog = Some(Backlog::new(size, repl.master_offset() + 1));
        }
        crate::server::log::notice("Successful partial resynchronization with master.");
        return Ok(None);
    }
    if reply.starts_with("-NOMASTERLINK") || reply.starts_with("-LOADING") {
        return Err(format!(
            "Master is currently unable to PSYNC but should be in the future: {reply}"
        ));
    }
    if reply.starts_with("-ERR") || reply.starts_with('-') {
        crate::server::log::notice(&format!(
            "Unexpected reply to PSYNC from master: {reply}; retrying with SYNC..."
        ));
        link.send(b"SYNC\r\n").await?;
        return Ok(Some((crate::server::random_hex40(), 0, true)));
    }
    Err(format!("Unexpected reply to PSYNC from master: {reply}"))
}

/// Receives the payload, loads it into every shard and adopts the master's id and offset.
async fn full_sync(link: &mut Link, replid: String, mut offset: i64, legacy: bool) -> Result<(), String> {
    let repl = link.repl().clone();
    set_state(&link.core, LinkState::Sync);
    repl.replica.lock().sync = Some(SyncProgress {
        total: 0,
        read: 0,
        last_io_ms: unix_ms(),
    });
    let header = link.line().await?;
    if let Some(e) = header.strip_prefix('-') {
        return Err(format!("MASTER aborted replication with an error: {e}"));
    }
    let eof_form = header.starts_with("$EOF:");
    let file = payload::receive(link, &header).await?;
    repl.replica.set_loading(true);
    let loaded = payload::load(&link.core, file.path()).await;
    repl.replica.set_loading(false);
    let (stream_db, aux_offset) = loaded?;
    // Like redis-server with repl-diskless-load disabled, the master's snapshot becomes our dump.
    {
        let cfg = link.core.server.config();
        let (dir, name) = (cfg.dir.clone(), cfg.dbfilename.clone());
        drop(cfg);
        if let Err(e) = file.install(&dir, &name).await {
            crate::server::log::warning(&e);
        }
    }
    if legacy && let Some(o) = aux_offset {
        offset = o;
    }
    // A promotion during the transfer or the load wins: nothing of this master is adopted.
    let _pass = repl.replica.enter_apply().await;
    if repl.replica.lock().generation != link.generation {
        return Err(String::new());
    }
    let size = link.core.server.config().repl_backlog_size as usize;
    {
        let mut inner = repl.lock();
        inner.replid = replid;
        inner.replid2 = "0".repeat(40);
        inner.second_offset = -1;
        inner.backlog = Some(Backlog::new(size, offset + 1));
        inner.last_db = -1;
        repl.offset.store(offset, std::sync::atomic::Ordering::SeqCst);
    }
    repl.drop_replicas();
    {
        let mut st = repl.replica.lock();
        st.can_continue = true;
        st.stream_db = stream_db;
        st.sync = None;
    }
    drop(_pass);
    crate::server::log::notice("MASTER <-> REPLICA sync: Finished with success");
    if eof_form {
        // The master holds the stream back until this first ACK (spec 2.5).
        link.send_ack(offset).await?;
    }
    Ok(())
}

fn is(arg: &[u8], name: &str) -> bool {
    arg.eq_ignore_ascii_case(name.as_bytes())
}

/// Registers the master's client on this core (CLIENT LIST `flags=M`, CLIENT KILL TYPE
/// master) for as long as the stream runs. After a partial resync it keeps the id and age it
/// had, as redis-server resurrects its cached master client; a full sync makes a new one.
fn register_master(
    link: &Link,
    session: &mut crate::command::conn::Session,
    partial: bool,
) -> (std::rc::Rc<ClientHandle>, crate::net::clients::Registered) {
    {
        let mut st = link.repl().replica.lock();
        if let Some((id, created)) = st.master_client.filter(|_| partial) {
            session.id = id;
            session.created_ms = created;
        }
        st.master_client = Some((session.id, session.created_ms));
    }
    let addr = |a: std::io::Result<std::net::SocketAddr>| a.map(|a| a.to_string()).unwrap_or_default();
    let handle = std::rc::Rc::new(ClientHandle::new(
        session.id,
        addr(link.stream.peer_addr()),
        addr(link.stream.local_addr()),
        link.stream.raw_fd(),
        session.created_ms,
        true,
    ));
    handle.last_active_ms.set(unix_ms());
    let registered = crate::net::clients::with_local(|c| c.register(handle.clone()));
    (handle, registered)
}

/// Reads and applies the stream until the link fails or the role changes.
async fn stream_loop(link: &mut Link, host: &str, port: u16, partial: bool) -> Result<(), String> {
    let core = link.core.clone();
    let repl = core.server.repl().clone();
    let db = {
        let mut st = repl.replica.lock();
        st.state = LinkState::Connected;
        st.down_since_ms = 0;
        st.last_io_ms = unix_ms();
        st.stream_db
    };
    crate::server::log::notice(&format!("MASTER <-> REPLICA sync: link with {host}:{port} is up"));
    let mut session = crate::command::conn::new_session(&core, format!("{host}:{port}"), String::new());
    session.master_link = true;
    session.authed = true;
    session.db = db;
    let (handle, _registered) = register_master(link, &mut session, partial);
    let mut cx = ConnCx::new(core.clone(), session);
    let limits = ParseLimits::default();
    let mut parser = RequestParser::new();
    // The same bytes as `link.buf`, kept to cut each command's exact bytes out of it.
    let mut mirror = link.buf.clone();
    let mut consumed = 0usize;
    let mut held: Vec<(Request, Bytes)> = Vec::new();
    let mut last_ack = Instant::now();
    loop {
        loop {
            let before = link.buf.len();
            let next = parser.next(&mut link.buf, &limits);
            consumed += before - link.buf.len();
            match next {
                Ok(Some(req)) => {
                    let raw = mirror.split_to(consumed.min(mirror.len())).freeze();
                    consumed = 0;
                    if !req.is_empty() {
                        held.push((req, raw));
                    } else {
                        repl.relay(&raw);
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(format!("Protocol error from MASTER: {}", e.0)),
            }
        }
        apply_ready(link, &mut cx, &mut held, &handle).await?;
        crate::command::conn::publish(&cx, &handle);
        {
            let pending: usize = held.iter().map(|(_, r)| r.len()).sum::<usize>() + mirror.len();
            repl.replica.lock().read_offset = repl.master_offset() + pending as i64;
        }
        if last_ack.elapsed() >= Duration::from_secs(1) {
            last_ack = Instant::now();
            link.send_ack(repl.master_offset()).await?;
        }
        let before = link.buf.len();
        let n = link.fill_tick().await?;
        if n > 0 {
            mirror.extend_from_slice(&link.buf[before..]);
            handle.last_active_ms.set(unix_ms());
        }
    }
}

/// Applies the held commands up to the last point outside a MULTI block, answering GETACKs
/// in place; what follows an unfinished MULTI stays held. The master client's `cmd` (CLIENT
/// LIST) names the last of them before they run, as Redis records a command before running it.
async fn apply_ready(
    link: &mut Link,
    cx: &mut ConnCx,
    held: &mut Vec<(Request, Bytes)>,
    handle: &ClientHandle,
) -> Result<(), String> {
    let mut ready = 0;
    let mut in_multi = false;
    for (i, (req, _)) in held.iter().enumerate() {
        if is(&req[0], "multi") {
            in_multi = true;
        } else if is(&req[0], "exec") || is(&req[0], "discard") {
            in_multi = false;
        }
        if !in_multi {
            ready = i + 1;
        }
    }
    if ready == 0 {
        return Ok(());
    }
    crate::command::conn::set_command_label(
        &held[ready - 1].0,
        &mut cx.recent_command,
        &mut handle.last_cmd.borrow_mut(),
    );
    let repl = link.repl().clone();
    // Applying and relaying form one step for cuts and promotions (see `ApplyGate`); a
    // promotion that came first leaves nothing to apply.
    let _pass = repl.replica.enter_apply().await;
    if repl.replica.lock().generation != link.generation {
        return Err(String::new());
    }
    let mut batch: Vec<Request> = Vec::new();
    let mut bytes: Vec<u8> = Vec::new();
    for (req, raw) in held.drain(..ready) {
        if is(&req[0], "replconf") {
            if req.len() >= 2 && is(&req[1], "getack") {
                apply(cx, &mut batch, &mut bytes).await;
                // The ACK excludes the GETACK itself (spec 2.6).
                link.send_ack(repl.master_offset()).await?;
            }
            // Other REPLCONFs are not executed, but count in the stream like everything.
            bytes.extend_from_slice(&raw);
            continue;
        }
        batch.push(req);
        bytes.extend_from_slice(&raw);
    }
    apply(cx, &mut batch, &mut bytes).await;
    // The db the relayed stream is in, for a cut taken after this step (`repl-stream-db`).
    repl.replica.lock().stream_db = cx.session.db;
    Ok(())
}

/// Executes `batch` on the master's pseudo-client (replies dropped), then relays its bytes.
async fn apply(cx: &mut ConnCx, batch: &mut Vec<Request>, bytes: &mut Vec<u8>) {
    if !batch.is_empty() {
        crate::command::dispatch::execute(cx, batch).await;
        cx.out.clear();
    }
    if !bytes.is_empty() {
        cx.core.server.repl().relay(bytes);
        bytes.clear();
    }
}
