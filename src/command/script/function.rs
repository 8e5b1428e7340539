//! Redis 7.0 functions: FUNCTION LOAD / DELETE / FLUSH / LIST / STATS / KILL / DUMP /
//! RESTORE / HELP, FCALL and FCALL_RO.
//!
//! A library's code registers its functions (`redis.register_function`) when it is loaded;
//! the registry (`library`) keeps the code, and each core compiles it into its own Lua state
//! on its next FCALL. A function runs as an EVAL script does (`run`). LOAD, DELETE, FLUSH and
//! RESTORE reach replicas as they were given, as redis-server propagates them, and saves carry the
//! libraries (RDB opcode FUNCTION2).

use super::library::{self, Library, Policy};
use super::run::{self, Call, Code, KIND_FUNCTION};
use super::*;
use crate::command::args::is;
use crate::command::dispatch::lower;
use crate::resp::Arg;
use crate::shard::Shard;

const S: &str = "scripting";

pub static SPECS: &[CommandSpec] = &[
    CommandSpec::new("fcall", -3, NOSCRIPT.union(STALE), KeySpan::NONE, Run::Conn(fcall))
        .script_numkeys_at(2)
        .doc(
            S,
            "7.0.0",
            "Invoke a function",
            "function numkeys [key [key ...]] [arg [arg ...]]",
        ),
    CommandSpec::new(
        "fcall_ro",
        -3,
        NOSCRIPT.union(STALE).union(READONLY),
        KeySpan::NONE,
        Run::Conn(fcall_ro),
    )
    .script_numkeys_at(2)
    .doc(
        S,
        "7.0.0",
        "Invoke a read-only function",
        "function numkeys [key [key ...]] [arg [arg ...]]",
    ),
    CommandSpec::new("function", -2, NOSCRIPT, KeySpan::NONE, Run::Conn(function)).doc(
        S,
        "7.0.0",
        "A container for function commands",
        "subcommand [argument ...]",
    ),
];

fn fcall(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(fcall_body(cx, argv, false))
}

fn fcall_ro(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(fcall_body(cx, argv, true))
}

async fn fcall_body(cx: &mut ConnCx, argv: Vec<Arg>, read_only_command: bool) -> Result<(), CmdError> {
    if super::args::parse_int(&argv[2]).is_err() {
        return Err(CmdError::other("ERR Bad number of keys provided"));
    }
    let (keys, args) = super::keys_and_args(&argv)?;
    let name = String::from_utf8_lossy(&argv[1]).into_owned();
    let engine = engine::local().map_err(CmdError::other)?;
    let Some((func, info)) = engine.library_function(&name) else {
        return Err(CmdError::other("ERR Function not found"));
    };
    if read_only_command && !info.no_writes() {
        return Err(CmdError::other(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    if let Ok(mut r) = RUNNING_FUNCTION.lock() {
        *r = Some((name.clone(), argv.clone(), crate::shard::unix_ms()));
    }
    let call = Call {
        name: &name,
        code: Code::Function(func),
        keys,
        args,
        read_only: read_only_command || info.no_writes(),
    };
    let result = run::run_script(cx, call).await;
    if let Ok(mut r) = RUNNING_FUNCTION.lock() {
        *r = None;
    }
    result
}

/// The running function for FUNCTION STATS: its name, command and start (unix ms). Written
/// twice per FCALL, read by FUNCTION STATS on any core.
static RUNNING_FUNCTION: std::sync::Mutex<Option<(String, Vec<Arg>, u64)>> = std::sync::Mutex::new(None);

const HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Load a library; its first line names it: #!lua name=<library>.",
    "DELETE <LIBRARY NAME>",
    "    Delete a library and its functions.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Reply with each library: its name, engine and functions (name, description,",
    "    flags), and with WITHCODE its code; LIBRARYNAME keeps the libraries that match.",
    "STATS",
    "    Reply with the running function, if any, and the number of libraries and functions.",
    "KILL",
    "    End the running function, if it has not written anything yet.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete every library.",
    "DUMP",
    "    Reply with a payload of every library, for FUNCTION RESTORE.",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Load the libraries of a payload: after deleting every library (FLUSH), failing on a",
    "    library of the same name (APPEND, the default), or in place of it (REPLACE).",
    "HELP",
    "    Prints this help.",
];

fn function(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let sub = lower(&argv[1]);
        if matches!(sub.as_str(), "load" | "delete" | "flush" | "restore")
            && let Some(e) = crate::command::dispatch::write_refusal(cx)
        {
            return Err(CmdError::other(e));
        }
        match (sub.as_str(), argv.len()) {
            ("help", 2) => super::super::slowlog::help_reply(&mut cx.out, HELP),
            ("load", 3 | 4) => {
                let replace = argv.len() == 4;
                if replace && !is(&argv[2], "replace") {
                    return Err(CmdError::other(format!(
                        "ERR Unknown option given: {}",
                        String::from_utf8_lossy(&argv[2])
                    )));
                }
                let code = &argv[argv.len() - 1];
                let engine = engine::local().map_err(CmdError::other)?;
                let lib = engine.load_library(code).map_err(CmdError::other)?;
                let name = lib.name.clone();
                library::add(lib, replace).map_err(CmdError::other)?;
                replicate(cx, argv).await;
                cx.out.bulk(name.as_bytes());
            }
            ("delete", 3) => {
                if !library::delete(&String::from_utf8_lossy(&argv[2])) {
                    return Err(CmdError::other("ERR Library not found"));
                }
                replicate(cx, argv).await;
                cx.out.ok();
            }
            ("flush", 2 | 3) => {
                if let Some(mode) = argv.get(2)
                    && !is(mode, "sync")
                    && !is(mode, "async")
                {
                    return Err(CmdError::other("ERR FUNCTION FLUSH only supports SYNC|ASYNC option"));
                }
                library::flush();
                replicate(cx, argv).await;
                cx.out.ok();
            }
            ("dump", 2) => {
                let libs = library::all();
                let payload = crate::rdb::payload::dump_functions(libs.iter().map(|l| &l.code[..]));
                cx.out.bulk(&payload);
            }
            ("restore", 3 | 4) => {
                let policy = match argv.get(3) {
                    None => Policy::Append,
                    Some(p) if is(p, "append") => Policy::Append,
                    Some(p) if is(p, "replace") => Policy::Replace,
                    Some(p) if is(p, "flush") => Policy::Flush,
                    Some(_) => {
                        return Err(CmdError::other(
                            "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
                        ));
                    }
                };
                let codes = crate::rdb::payload::restore_functions(&argv[2])
                    .map_err(|_| CmdError::other("ERR DUMP payload version or checksum are wrong"))?;
                let engine = engine::local().map_err(CmdError::other)?;
                let libs = codes
                    .iter()
                    .map(|c| engine.load_library(c))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(CmdError::other)?;
                library::restore_all(libs, policy).map_err(CmdError::other)?;
                replicate(cx, argv).await;
                cx.out.ok();
            }
            ("restore", _) => {
                return Err(CmdError::other(format!(
                    "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
                    crate::command::error::printable(&argv[1], 128)
                )));
            }
            ("list", _) => list(cx, &argv[2..])?,
            ("stats", 2) => stats(cx),
            ("kill", 2) => {
                super::kill(KIND_FUNCTION)?;
                cx.out.ok();
            }
            _ => {
                return Err(CmdError::subcommand(
                    "function",
                    &argv[1],
                    &["help", "load", "delete", "flush", "list", "stats", "kill", "dump"],
                ));
            }
        }
        Ok(())
    })
}

/// Puts the command into the replication stream as given (shard 0 logs it).
async fn replicate(cx: &mut ConnCx, argv: Vec<Arg>) {
    let db = cx.session.db;
    let mut txn = cx.txn(vec![0], 1);
    txn.hop(move |s: &mut Shard| {
        let args: Vec<&[u8]> = argv.iter().map(|a| &a[..]).collect();
        s.record(db, &args);
    })
    .await;
    txn.finish();
}

fn list(cx: &mut ConnCx, opts: &[Arg]) -> Result<(), CmdError> {
    let (mut pattern, mut with_code) = (None, false);
    let mut i = 0;
    while i < opts.len() {
        if is(&opts[i], "withcode") && !with_code {
            with_code = true;
        } else if is(&opts[i], "libraryname") && pattern.is_none() {
            let Some(p) = opts.get(i + 1) else {
                return Err(CmdError::other("ERR library name argument was not given"));
            };
            pattern = Some(p.clone());
            i += 1;
        } else {
            return Err(CmdError::other(format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(&opts[i])
            )));
        }
        i += 1;
    }
    let libs: Vec<Library> = library::all()
        .into_iter()
        .filter(|l| {
            pattern
                .as_ref()
                .is_none_or(|p| crate::util::glob::glob_match(p, l.name.as_bytes(), false))
        })
        .collect();
    let out = &mut cx.out;
    out.array(libs.len());
    for lib in &libs {
        out.map(if with_code { 4 } else { 3 });
        out.bulk(b"library_name");
        out.bulk(lib.name.as_bytes());
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array(lib.functions.len());
        for f in &lib.functions {
            out.map(3);
            out.bulk(b"name");
            out.bulk(f.name.as_bytes());
            out.bulk(b"description");
            match &f.description {
                Some(d) => out.bulk(d.as_bytes()),
                None => out.null(),
            }
            out.bulk(b"flags");
            out.set(f.flags.len());
            for flag in &f.flags {
                out.simple(flag.as_bytes());
            }
        }
        if with_code {
            out.bulk(b"library_code");
            out.bulk(&lib.code);
        }
    }
    Ok(())
}

fn stats(cx: &mut ConnCx) {
    let (libraries, functions) = library::counts();
    let out = &mut cx.out;
    out.map(2);
    out.bulk(b"running_script");
    let running = RUNNING_FUNCTION.lock().ok().and_then(|r| r.clone());
    match running {
        Some((name, argv, since)) => {
            out.map(3);
            out.bulk(b"name");
            out.bulk(name.as_bytes());
            out.bulk(b"command");
            out.array(argv.len());
            for a in &argv {
                out.bulk(a);
            }
            out.bulk(b"duration_ms");
            out.int(crate::shard::unix_ms().saturating_sub(since) as i64);
        }
        None => out.null(),
    }
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(libraries as i64);
    out.bulk(b"functions_count");
    out.int(functions as i64);
}
