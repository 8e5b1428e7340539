//! COMMAND, COMMAND COUNT / LIST / INFO / DOCS / GETKEYS, all read from the command table.
//!
//! COMMAND DOCS derives each command's argument list from the `syntax` line of its `Doc`
//! (top-level words; a bracketed word is optional, `...` repeats), which is what redis-cli
//! needs to show its argument hints.

use super::dispatch::lower;
use super::*;

pub const SPECS: &[CommandSpec] =
    &[
        CommandSpec::new("command", -1, LOADING.union(STALE), KeySpan::NONE, Run::Conn(command)).doc(
            "server",
            "2.8.13",
            "Returns detailed information about all commands.",
            "[subcommand [arguments]]",
        ),
    ];

/// One COMMAND INFO entry, in Redis 7.0's ten-field layout.
fn info_entry(out: &mut Out, spec: &CommandSpec) {
    out.array(10);
    out.bulk(spec.name.as_bytes());
    out.int(spec.arity as i64);
    let flags: Vec<&str> = spec.flags.names().collect();
    out.set(flags.len());
    for f in flags {
        out.simple(f.as_bytes());
    }
    out.int(spec.keys.first as i64);
    out.int(spec.keys.last as i64);
    out.int(spec.keys.step as i64);
    out.set(0);
    out.array(0);
    if spec.keys.first == 0 {
        out.array(0);
    } else {
        out.array(1);
        out.map(3);
        out.bulk(b"flags");
        out.array(0);
        out.bulk(b"begin_search");
        out.map(2);
        out.bulk(b"type");
        out.bulk(b"index");
        out.bulk(b"spec");
        out.map(1);
        out.bulk(b"index");
        out.int(spec.keys.first as i64);
        out.bulk(b"find_keys");
        out.map(2);
        out.bulk(b"type");
        out.bulk(b"range");
        out.bulk(b"spec");
        out.map(3);
        out.bulk(b"lastkey");
        out.int(if spec.keys.last < 0 {
            spec.keys.last as i64
        } else {
            (spec.keys.last - spec.keys.first) as i64
        });
        out.bulk(b"keystep");
        out.int(spec.keys.step as i64);
        out.bulk(b"limit");
        out.int(0);
    }
    out.array(0);
}

/// Splits a syntax line into its top-level words (brackets group).
fn top_level_words(syntax: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for ch in syntax.chars() {
        match ch {
            '[' => depth += 1,
            ']' => depth -= 1,
            ' ' if depth == 0 => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    // "key [key ...]" reads better as one repeated argument.
    words
}

fn docs_entry(out: &mut Out, spec: &CommandSpec) {
    let words = top_level_words(spec.doc.syntax);
    out.bulk(spec.name.as_bytes());
    out.map(4);
    out.bulk(b"summary");
    out.bulk(spec.doc.summary.as_bytes());
    out.bulk(b"since");
    out.bulk(spec.doc.since.as_bytes());
    out.bulk(b"group");
    out.bulk(spec.doc.group.as_bytes());
    out.bulk(b"arguments");
    out.array(words.len());
    for w in words {
        let optional = w.starts_with('[') && w.ends_with(']');
        let inner = if optional { &w[1..w.len() - 1] } else { &w[..] };
        let multiple = inner.ends_with("...");
        let name = inner.trim_end_matches("...").trim();
        let mut flags = Vec::new();
        if optional {
            flags.push("optional");
        }
        if multiple {
            flags.push("multiple");
        }
        out.map(if flags.is_empty() { 3 } else { 4 });
        out.bulk(b"name");
        out.bulk(name.as_bytes());
        out.bulk(b"type");
        out.bulk(if name == "key" { b"key" as &[u8] } else { b"string" });
        out.bulk(b"display_text");
        out.bulk(name.as_bytes());
        if !flags.is_empty() {
            out.bulk(b"flags");
            out.array(flags.len());
            for f in flags {
                out.simple(f.as_bytes());
            }
        }
    }
}

/// COMMAND HELP, in Shoal's words.
const COMMAND_HELP: &[&str] = &[
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Every command's details.",
    "COUNT",
    "    How many commands there are.",
    "LIST",
    "    Every command's name.",
    "INFO [<command-name> ...]",
    "    The details of the named commands (all without names).",
    "DOCS [<command-name> ...]",
    "    The documentation of the named commands (all without names).",
    "GETKEYS <full-command>",
    "    The keys a full command names.",
    "HELP",
    "    Prints this help.",
];

fn command(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let all = all_commands();
        let out = &mut cx.out;
        if argv.len() == 1 {
            out.array(all.len());
            for spec in all {
                info_entry(out, spec);
            }
            return Ok(());
        }
        match (lower(&argv[1]).as_str(), argv.len()) {
            ("help", 2) => super::slowlog::help_reply(out, COMMAND_HELP),
            ("count", 2) => out.int(all.len() as i64),
            ("list", 2) => {
                out.array(all.len());
                for spec in all {
                    out.bulk(spec.name.as_bytes());
                }
            }
            ("info", _) => {
                let names = &argv[2..];
                if names.is_empty() {
                    out.array(all.len());
                    all.iter().for_each(|s| info_entry(out, s));
                } else {
                    out.array(names.len());
                    for n in names {
                        match lookup(n) {
                            Some(spec) => info_entry(out, spec),
                            None => out.null_array(),
                        }
                    }
                }
            }
            ("docs", _) => {
                let names = &argv[2..];
                let chosen: Vec<&CommandSpec> = if names.is_empty() {
                    all.to_vec()
                } else {
                    names.iter().filter_map(|n| lookup(n)).collect()
                };
                out.map(chosen.len());
                for spec in chosen {
                    docs_entry(out, spec);
                }
            }
            ("getkeys", n) if n >= 4 => {
                let target = &argv[2..];
                let spec = lookup(&target[0]).ok_or_else(|| CmdError::other("ERR Invalid command specified"))?;
                if !spec.arity_ok(target.len()) {
                    return Err(CmdError::other("ERR Invalid number of arguments specified for command"));
                }
                let keys = spec
                    .key_positions(target)
                    .ok_or_else(|| CmdError::other("ERR Invalid arguments specified for command"))?;
                if keys.is_empty() && spec.numkeys_at == 0 {
                    return Err(CmdError::other("ERR The command has no key arguments"));
                }
                out.array(keys.len());
                for p in keys {
                    out.bulk(&target[p]);
                }
            }
            _ => {
                return Err(CmdError::subcommand(
                    "command",
                    &argv[1],
                    &["count", "list", "info", "docs", "getkeys", "help"],
                ));
            }
        }
        Ok(())
    })
}
