//! Lua scripting, as redis-server 7.0 offers it: EVAL, EVALSHA, their read-only forms, and
//! SCRIPT LOAD / EXISTS / FLUSH / KILL / HELP.
//!
//! Each core has its own Lua state (`engine`); a script's source is told to every core when it
//! is first loaded or run, so EVALSHA and SCRIPT EXISTS answer alike on any connection. A
//! script runs on its client's core with every shard held (`run`), so it is atomic, as on
//! redis-server, and its writes replicate as their effects in one MULTI/EXEC group.
//!
//! Functions (FUNCTION, FCALL) are in `function`. Past `busy-reply-threshold` other
//! clients' commands get BUSY (`run::busy_refusal`); a client on the script's own core waits
//! for the script instead, as that core is running it. Not offered: SCRIPT DEBUG and the
//! `struct` library.

pub mod convert;
pub mod engine;
pub mod function;
pub mod library;
pub mod msgpack;
pub mod run;

use std::sync::atomic::Ordering;

use super::args::parse_int;
use super::dispatch::lower;
use super::*;
use crate::resp::Arg;
use crate::txn::Lock;
use run::{Call, Code, KIND_SCRIPT, RUNNING, RUNNING_KIND, WROTE};

const S: &str = "scripting";

const EVAL_FLAGS: Flags = NOSCRIPT.union(STALE);

pub static SPECS: &[CommandSpec] = &[
    CommandSpec::new("eval", -3, EVAL_FLAGS, KeySpan::NONE, Run::Conn(eval))
        .script_numkeys_at(2)
        .doc(
            S,
            "2.6.0",
            "Execute a Lua script server side",
            "script numkeys [key [key ...]] [arg [arg ...]]",
        ),
    CommandSpec::new("evalsha", -3, EVAL_FLAGS, KeySpan::NONE, Run::Conn(evalsha))
        .script_numkeys_at(2)
        .doc(
            S,
            "2.6.0",
            "Execute a Lua script server side",
            "sha1 numkeys [key [key ...]] [arg [arg ...]]",
        ),
    CommandSpec::new(
        "eval_ro",
        -3,
        EVAL_FLAGS.union(READONLY),
        KeySpan::NONE,
        Run::Conn(eval_ro),
    )
    .script_numkeys_at(2)
    .doc(
        S,
        "7.0.0",
        "Execute a read-only Lua script server side",
        "script numkeys [key [key ...]] [arg [arg ...]]",
    ),
    CommandSpec::new(
        "evalsha_ro",
        -3,
        EVAL_FLAGS.union(READONLY),
        KeySpan::NONE,
        Run::Conn(evalsha_ro),
    )
    .script_numkeys_at(2)
    .doc(
        S,
        "7.0.0",
        "Execute a read-only Lua script server side",
        "sha1 numkeys [key [key ...]] [arg [arg ...]]",
    ),
    CommandSpec::new("script", -2, NOSCRIPT, KeySpan::NONE, Run::Conn(script)).doc(
        S,
        "2.6.0",
        "A container for Lua scripts management commands",
        "subcommand [argument ...]",
    ),
];

fn eval(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(eval_body(cx, argv, false))
}

fn eval_ro(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(eval_body(cx, argv, true))
}

fn evalsha(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(evalsha_body(cx, argv, false))
}

fn evalsha_ro(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(evalsha_body(cx, argv, true))
}

/// Splits `numkeys key... arg...` (argv[2..]) into keys and arguments.
pub(super) fn keys_and_args(argv: &[Arg]) -> Result<(&[Arg], &[Arg]), CmdError> {
    let n = parse_int(&argv[2])?;
    if n < 0 {
        return Err(CmdError::other("ERR Number of keys can't be negative"));
    }
    let rest = &argv[3..];
    if n as u64 > rest.len() as u64 {
        return Err(CmdError::other(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    Ok(rest.split_at(n as usize))
}

async fn eval_body(cx: &mut ConnCx, argv: Vec<Arg>, read_only: bool) -> Result<(), CmdError> {
    let (keys, args) = keys_and_args(&argv)?;
    let body = &argv[1][..];
    let sha = engine::sha1_hex(body);
    if engine::source(&sha).is_none() {
        load(cx, &sha, body).await?;
    }
    let call = Call {
        name: &sha,
        code: Code::Script(body),
        keys,
        args,
        read_only,
    };
    run::run_script(cx, call).await
}

async fn evalsha_body(cx: &mut ConnCx, argv: Vec<Arg>, read_only: bool) -> Result<(), CmdError> {
    let (keys, args) = keys_and_args(&argv)?;
    let sha = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    let Some(body) = engine::source(&sha) else {
        return Err(CmdError::other("NOSCRIPT No matching script. Please use EVAL."));
    };
    let call = Call {
        name: &sha,
        code: Code::Script(&body),
        keys,
        args,
        read_only,
    };
    run::run_script(cx, call).await
}

/// Compiles `body` here (a syntax error is the caller's reply) and tells every core its source.
async fn load(cx: &mut ConnCx, sha: &str, body: &[u8]) -> Result<(), CmdError> {
    let engine = engine::local().map_err(CmdError::other)?;
    engine.function(sha, body).map_err(CmdError::other)?;
    for core in 0..cx.core.shards {
        let (sha, body) = (sha.to_string(), body.to_vec());
        cx.core
            .run_on(core, Lock::Free, move |_| engine::remember(sha, body))
            .await;
    }
    Ok(())
}

const HELP: &[&str] = &[
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "EXISTS <sha1> [<sha1> ...]",
    "    Reply with 1 for each script whose SHA1 is cached, 0 for each that is not.",
    "FLUSH [ASYNC|SYNC]",
    "    Forget every cached script and start every core's Lua state anew.",
    "KILL",
    "    End the running script, if it has not written anything yet.",
    "LOAD <script>",
    "    Cache a script without running it; reply with its SHA1 for EVALSHA.",
    "HELP",
    "    Prints this help.",
];

fn script(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        match (lower(&argv[1]).as_str(), argv.len()) {
            ("help", 2) => super::slowlog::help_reply(&mut cx.out, HELP),
            ("load", 3) => {
                let sha = engine::sha1_hex(&argv[2]);
                load(cx, &sha, &argv[2]).await?;
                cx.out.bulk(sha.as_bytes());
            }
            ("exists", n) if n >= 3 => {
                cx.out.array(n - 2);
                for sha in &argv[2..] {
                    let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
                    cx.out.int(engine::source(&sha).is_some() as i64);
                }
            }
            ("flush", 2 | 3) => {
                if let Some(mode) = argv.get(2)
                    && !matches!(lower(mode).as_str(), "sync" | "async")
                {
                    return Err(CmdError::other("ERR SCRIPT FLUSH only support SYNC|ASYNC option"));
                }
                for core in 0..cx.core.shards {
                    cx.core
                        .run_on(core, Lock::Free, move |_| engine::flush_core(core))
                        .await;
                }
                cx.out.ok();
            }
            ("kill", 2) => {
                kill(KIND_SCRIPT)?;
                cx.out.ok();
            }
            _ => {
                return Err(CmdError::subcommand(
                    "script",
                    &argv[1],
                    &["help", "load", "exists", "flush", "kill"],
                ));
            }
        }
        Ok(())
    })
}

/// SCRIPT KILL and FUNCTION KILL: asks the running script of `kind` to fail, if it has not
/// written anything yet.
pub(super) fn kill(kind: u8) -> Result<(), CmdError> {
    if !RUNNING.load(Ordering::Relaxed) || RUNNING_KIND.load(Ordering::Relaxed) != kind {
        return Err(CmdError::other("NOTBUSY No scripts in execution right now."));
    }
    if WROTE.load(Ordering::Relaxed) {
        return Err(CmdError::other(
            "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
        ));
    }
    engine::KILL_REQUESTED.store(true, Ordering::Relaxed);
    Ok(())
}
