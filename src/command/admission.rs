//! Admission over `maxmemory`: which commands must find room before they run, and how a
//! refusal reads, as redis-server decides both. The room itself is made by the shards
//! (`shard::evict`).

use super::dispatch::{is_multi_shard_split, refuse};
use super::{CmdError, CommandSpec, ConnCx, Run, lookup};
use crate::resp::Request;

/// Whether `argv`, over `maxmemory`, must find room before it runs, as redis-server decides:
/// a command that may grow memory, EXEC of a queue holding one, and anything queued in a
/// transaction. A command that runs on one shard is not checked here: it makes room on that
/// shard, where its data grows (`run_cmds`).
pub fn needs_room_here(cx: &ConnCx, spec: &CommandSpec, argv: &Request) -> bool {
    if let Some(multi) = &cx.session.multi {
        return match spec.name {
            "exec" => multi
                .queued
                .iter()
                .any(|q| lookup(&q[0]).is_some_and(|c| c.flags.has(super::DENYOOM))),
            "discard" | "quit" | "reset" => false,
            _ => true,
        };
    }
    spec.flags.has(super::DENYOOM)
        && match spec.run {
            Run::Shard(_) => false,
            Run::Split(..) => is_multi_shard_split(argv, cx.core.shards),
            Run::Conn(_) => true,
        }
}

/// Refuses a command for want of memory: in a transaction the transaction fails, and EXEC
/// itself discards it, answering EXECABORT as redis-server does.
pub async fn refuse_for_memory(cx: &mut ConnCx, idx: usize, spec: &CommandSpec) {
    let msg = CmdError::OutOfMemory.message();
    if spec.name == "exec" {
        cx.session.multi = None;
        super::txn::unwatch_all(cx).await;
        refuse(
            cx,
            Some(idx),
            &format!("EXECABORT Transaction discarded because of: {msg}"),
        );
    } else {
        cx.session.abort_multi();
        refuse(cx, Some(idx), &msg);
    }
}
