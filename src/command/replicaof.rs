//! REPLICAOF / SLAVEOF: follow a master, or (`NO ONE`) become a master again. The link itself
//! lives in `repl::replica_link`; these commands only change the role (`repl::replica`).

use super::args::is;
use super::*;
use crate::repl::replica::{SetMaster, set_master, unset_master};

const SRV: &str = "server";
const FLAGS: Flags = ADMIN.union(NOSCRIPT).union(STALE);

pub const SPECS: &[CommandSpec] = &[
    CommandSpec::new("replicaof", 3, FLAGS, KeySpan::NONE, Run::Conn(replicaof)).doc(
        SRV,
        "5.0.0",
        "Configures a server as replica of another, or promotes it to a master.",
        "host port",
    ),
    CommandSpec::new("slaveof", 3, FLAGS, KeySpan::NONE, Run::Conn(replicaof)).doc(
        SRV,
        "1.0.0",
        "Sets a Redis server as a replica of another, or promotes it to being a master.",
        "host port",
    ),
];

fn replicaof(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        if is(&argv[1], "no") && is(&argv[2], "one") {
            unset_master(&cx.core).await;
            cx.out.ok();
            return Ok(());
        }
        let port = std::str::from_utf8(&argv[2])
            .ok()
            .and_then(|p| p.parse::<i64>().ok())
            .filter(|p| (0..=65535).contains(p))
            .ok_or_else(|| CmdError::other("ERR Invalid master port"))?;
        let host = String::from_utf8_lossy(&argv[1]).into_owned();
        match set_master(&cx.core, &host, port as u16, true).await {
            SetMaster::Started => cx.out.ok(),
            SetMaster::AlreadyConnected => cx.out.simple(b"OK Already connected to specified master"),
        }
        Ok(())
    })
}
