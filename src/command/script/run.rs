//! Running one script: every shard held for its whole run (a script is atomic, and the keys it
//! touches are only known as it runs), its commands through the normal dispatcher, its writes
//! to the replication stream as one MULTI/EXEC group, as redis-server 7.0 replicates a
//! script's effects.
//!
//! The script is a coroutine. Each `redis.call` yields the command here; the command runs
//! like an EXEC's queued command (`ConnCx::scope`), its reply is decoded into Lua, and the
//! coroutine resumes with it. Awaiting a command on another core therefore never blocks this
//! core's executor.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use mlua::thread::ThreadStatus;
use mlua::{IntoLuaMulti, MultiValue, Value};

use super::convert;
use super::engine::{self, Engine, KILL_REQUESTED, REPL_REPLICA};
use crate::command::{ALLOW_BUSY, CmdError, CommandSpec, ConnCx, NOSCRIPT, lookup};
use crate::resp::{Arg, Out, Proto};

/// A script is running (SCRIPT KILL's NOTBUSY).
pub static RUNNING: AtomicBool = AtomicBool::new(false);
/// The running script has called a write command (SCRIPT KILL's UNKILLABLE).
pub static WROTE: AtomicBool = AtomicBool::new(false);

/// What runs: an EVAL script's source, or a library's function (FCALL).
pub enum Code<'a> {
    Script(&'a [u8]),
    Function(mlua::Function),
}

/// What EVAL or FCALL was given.
pub struct Call<'a> {
    /// The script's SHA1, or the function's name (errors name it).
    pub name: &'a str,
    pub code: Code<'a>,
    pub keys: &'a [Arg],
    pub args: &'a [Arg],
    pub read_only: bool,
}

/// When the running script turns busy (unix ms; 0 while none runs): from then on other
/// clients' commands get BUSY, as redis-server answers them past `busy-reply-threshold`.
static BUSY_FROM_MS: AtomicU64 = AtomicU64::new(0);

/// The BUSY refusal for a command that is not one of those allowed while a script has run
/// past `busy-reply-threshold`, or None.
pub fn busy_refusal(spec: &CommandSpec, argv: &[Arg]) -> Option<&'static str> {
    let from = BUSY_FROM_MS.load(Ordering::Relaxed);
    if from == 0 || crate::shard::unix_ms() < from || spec.flags.has(ALLOW_BUSY) {
        return None;
    }
    let sub = argv
        .get(1)
        .map(|a| crate::command::dispatch::lower(a))
        .unwrap_or_default();
    let allowed = match spec.name {
        "script" => sub == "kill",
        "function" => sub == "kill" || sub == "stats",
        _ => false,
    };
    if allowed {
        return None;
    }
    Some(if RUNNING_KIND.load(Ordering::Relaxed) == KIND_FUNCTION {
        "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
    } else {
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    })
}

/// What is running, for SCRIPT KILL and FUNCTION KILL: nothing, a script, a function.
pub static RUNNING_KIND: AtomicU8 = AtomicU8::new(0);
pub const KIND_SCRIPT: u8 = 1;
pub const KIND_FUNCTION: u8 = 2;

/// Runs a script and writes its reply (or its error) to `cx.out`.
pub async fn run_script(cx: &mut ConnCx, call: Call<'_>) -> Result<(), CmdError> {
    let engine = engine::local().map_err(CmdError::other)?;
    let (func, kind) = match &call.code {
        Code::Script(body) => (engine.function(call.name, body).map_err(CmdError::other)?, KIND_SCRIPT),
        Code::Function(f) => (f.clone(), KIND_FUNCTION),
    };
    let nested = cx.scope.is_some();
    let mut txn = cx.txn_all(2);
    if !nested {
        // Takes every shard's gate, in ascending order, before the script starts.
        txn.hop(|_| ()).await;
        cx.scope = Some(txn.id());
    }
    KILL_REQUESTED.store(false, Ordering::Relaxed);
    WROTE.store(false, Ordering::Relaxed);
    RUNNING.store(true, Ordering::Relaxed);
    RUNNING_KIND.store(kind, Ordering::Relaxed);
    let threshold = cx.core.server.config().busy_reply_threshold;
    BUSY_FROM_MS.store(crate::shard::unix_ms() + threshold.max(1), Ordering::Relaxed);
    // A SELECT inside the script changes the database for the script's own calls only.
    let db = cx.session.db;
    let mut monitor_lines = Vec::new();
    let result = drive(cx, &engine, &call, func, &mut monitor_lines).await;
    cx.session.monitor_tail = monitor_lines;
    cx.session.db = db;
    BUSY_FROM_MS.store(0, Ordering::Relaxed);
    RUNNING.store(false, Ordering::Relaxed);
    RUNNING_KIND.store(0, Ordering::Relaxed);
    KILL_REQUESTED.store(false, Ordering::Relaxed);
    engine.note_memory(cx.core.id);
    if !nested {
        cx.scope = None;
        let records = cx.core.take_stash(txn.id());
        cx.core.push_group(records);
    }
    txn.finish();
    result
}

/// Runs the script's coroutine to its end; `monitor_lines` gathers the MONITOR lines of the
/// commands it calls.
async fn drive(
    cx: &mut ConnCx,
    engine: &Engine,
    call: &Call<'_>,
    func: mlua::Function,
    monitor_lines: &mut Vec<u8>,
) -> Result<(), CmdError> {
    let lua_err = |e: mlua::Error| CmdError::other(format!("ERR {}", engine::lua_message(&e)));
    engine.resp.set(2);
    engine.repl.set(engine::REPL_ALL);
    engine.killed.set(false);
    let thread = engine.coroutine().map_err(lua_err)?;
    let is_script = matches!(call.code, Code::Script(_));
    let mut input = engine
        .runner_args(func, is_script, call.keys, call.args)
        .map_err(lua_err)?;
    loop {
        let out: MultiValue = thread.resume(input).map_err(lua_err)?;
        let mut values = out.into_iter();
        match thread.status() {
            ThreadStatus::Resumable => {
                let asks = matches!(values.next(), Some(Value::Table(t)) if t.to_pointer() == engine.mark.to_pointer());
                if !asks {
                    return Err(script_error(
                        call,
                        "ERR attempt to yield across a C-call boundary",
                        None,
                        None,
                    ));
                }
                let _protected = values.next();
                let (ok, reply) = match command_args(values) {
                    Ok(argv) => run_command(cx, engine, argv, call.read_only, monitor_lines).await,
                    Err(msg) => (
                        false,
                        convert::error_table(&engine.lua, msg.as_bytes()).map_err(lua_err)?,
                    ),
                };
                input = (ok, reply).into_lua_multi(&engine.lua).map_err(lua_err)?;
            }
            ThreadStatus::Finished => {
                let ok = matches!(values.next(), Some(Value::Boolean(true)));
                let value = values.next().unwrap_or(Value::Nil);
                engine.keep_coroutine(thread);
                if ok {
                    convert::write_reply(&value, &mut cx.out, engine.resp.get() == 3);
                    return Ok(());
                }
                let (text, line, source) = match &value {
                    Value::Table(t) => (
                        t.raw_get::<mlua::LuaString>("err")
                            .map(|s| String::from_utf8_lossy(&s.as_bytes()).into_owned())
                            .unwrap_or_else(|_| "ERR unknown error".into()),
                        t.raw_get::<i64>("line").ok(),
                        t.raw_get::<String>("source").ok(),
                    ),
                    _ => ("ERR unknown error".into(), None, None),
                };
                let text = if engine.killed.get() {
                    "ERR Script killed by user with SCRIPT KILL...".to_string()
                } else {
                    text
                };
                return Err(script_error(call, &text, line, source));
            }
            _ => return Err(CmdError::other("ERR the script's coroutine ended in an error")),
        }
    }
}

/// redis-server's form of a script's error: the error, the script's SHA1 (or function's
/// name), and where.
fn script_error(call: &Call<'_>, text: &str, line: Option<i64>, source: Option<String>) -> CmdError {
    let source = source.unwrap_or_else(|| {
        match call.code {
            Code::Script(_) => "@user_script",
            Code::Function(_) => "@user_function",
        }
        .to_string()
    });
    // A call in tail position (`return redis.call(...)`) has left no frame of the script to
    // read the line from: Lua replaced it with the callee's.
    let at = line.map_or_else(|| "?".to_string(), |l| l.to_string());
    CmdError::other(format!("{text} script: {}, on {source}:{at}.", call.name))
}

/// The arguments of `redis.call(...)` as a command, or redis-server's error for them.
fn command_args(values: impl Iterator<Item = Value>) -> Result<Vec<Arg>, &'static str> {
    let mut argv = Vec::new();
    for v in values {
        let arg = match v {
            Value::String(s) => Arg::copy_from_slice(&s.as_bytes()),
            Value::Integer(i) => Arg::copy_from_slice(itoa::Buffer::new().format(i).as_bytes()),
            Value::Number(n) => {
                let mut text = Vec::new();
                crate::util::num::format_double(n, &mut text);
                Arg::copy_from_slice(&text)
            }
            _ => return Err("ERR Lua redis lib command arguments must be strings or integers"),
        };
        argv.push(arg);
    }
    if argv.is_empty() {
        return Err("ERR Please specify at least one argument for this redis lib call");
    }
    Ok(argv)
}

/// Runs one command for the script; its reply decoded for Lua, `false` with an error table.
async fn run_command(
    cx: &mut ConnCx,
    engine: &Engine,
    argv: Vec<Arg>,
    read_only: bool,
    monitor_lines: &mut Vec<u8>,
) -> (bool, Value) {
    let refused = match lookup(&argv[0]) {
        None => Some("ERR Unknown Redis command called from script"),
        Some(spec) if !spec.arity_ok(argv.len()) => Some("ERR Wrong number of args calling Redis command from script"),
        Some(spec) if spec.flags.has(NOSCRIPT) => Some("ERR This Redis command is not allowed from script"),
        Some(spec) if read_only && spec.is_write() => {
            Some("ERR Write commands are not allowed from read-only scripts.")
        }
        Some(spec) => {
            if spec.is_write() {
                WROTE.store(true, Ordering::Relaxed);
            }
            None
        }
    };
    if let Some(msg) = refused {
        return (
            false,
            convert::error_table(&engine.lua, msg.as_bytes()).unwrap_or(Value::Nil),
        );
    }
    let scope = cx.scope.unwrap_or_default();
    // redis.set_repl without REPL_REPLICA: this command's writes stay out of the stream.
    let keep_records = engine.repl.get() & REPL_REPLICA != 0;
    let earlier = (!keep_records).then(|| cx.core.take_stash(scope));
    let resp3 = engine.resp.get() == 3;
    let proto = if resp3 { Proto::Resp3 } else { Proto::Resp2 };
    let buffer = engine.reply_buffer.take();
    let client_out = std::mem::replace(&mut cx.out, Out::with_buffer(buffer, proto));
    // MONITOR shows the script's commands as the "lua" client's, after the script's line.
    let monitoring = cx.session.monitor_feed.is_some();
    let (outer_feed, peer) = if monitoring {
        (
            cx.session.monitor_feed.replace(Vec::new()),
            std::mem::replace(&mut cx.session.peer, "lua".into()),
        )
    } else {
        (None, String::new())
    };
    let mut batch = vec![argv];
    crate::command::dispatch::execute(cx, &mut batch).await;
    if monitoring {
        let mut lines = std::mem::replace(&mut cx.session.monitor_feed, outer_feed).unwrap_or_default();
        cx.session.peer = peer;
        monitor_lines.append(&mut lines);
    }
    let reply = std::mem::replace(&mut cx.out, client_out).take();
    if let Some(earlier) = earlier {
        drop(cx.core.take_stash(scope));
        cx.core.stash(scope, earlier);
    }
    let converted = convert::reply_to_lua(&engine.lua, &reply, resp3);
    engine.reply_buffer.set(reply);
    match converted {
        Ok(r) => r,
        Err(e) => (
            false,
            convert::error_table(&engine.lua, format!("ERR {}", engine::lua_message(&e)).as_bytes())
                .unwrap_or(Value::Nil),
        ),
    }
}
