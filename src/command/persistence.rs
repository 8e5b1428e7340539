//! SAVE, BGSAVE [SCHEDULE] and LASTSAVE (see `persist` for how a snapshot is taken).

use std::sync::atomic::Ordering;

use super::args::is;
use super::*;
use crate::persist::save::save;

const SRV: &str = "server";

pub const SPECS: &[CommandSpec] = &[
    CommandSpec::new(
        "save",
        1,
        ADMIN.union(NOSCRIPT).union(NO_MULTI),
        KeySpan::NONE,
        Run::Conn(save_cmd),
    )
    .doc(SRV, "1.0.0", "Synchronously saves the database(s) to disk.", ""),
    CommandSpec::new("bgsave", -1, ADMIN.union(NOSCRIPT), KeySpan::NONE, Run::Conn(bgsave)).doc(
        SRV,
        "1.0.0",
        "Asynchronously saves the database(s) to disk.",
        "[SCHEDULE]",
    ),
    CommandSpec::new(
        "lastsave",
        1,
        LOADING.union(STALE).union(FAST),
        KeySpan::NONE,
        Run::Conn(lastsave),
    )
    .doc(
        SRV,
        "1.0.0",
        "Returns the Unix timestamp of the last successful save to disk.",
        "",
    ),
];

fn save_cmd(cx: &mut ConnCx, _argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let txn = cx.txn_all(2);
        save(&cx.core, txn, false).await.map_err(CmdError::other)?;
        cx.out.ok();
        Ok(())
    })
}

fn bgsave(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let schedule = match argv.len() {
            1 => false,
            2 if is(&argv[1], "schedule") => true,
            _ => return Err(CmdError::Syntax),
        };
        let p = &cx.core.server.persist;
        if p.in_progress.load(Ordering::SeqCst) {
            if schedule {
                p.bgsave_scheduled.store(true, Ordering::SeqCst);
                cx.out.simple(b"Background saving scheduled");
                return Ok(());
            }
            return Err(CmdError::other("ERR Background save already in progress"));
        }
        let txn = cx.txn_all(2);
        save(&cx.core, txn, true).await.map_err(CmdError::other)?;
        cx.out.simple(b"Background saving started");
        Ok(())
    })
}

fn lastsave(cx: &mut ConnCx, _argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        cx.out
            .int(cx.core.server.persist.last_save.load(Ordering::SeqCst) as i64);
        Ok(())
    })
}
