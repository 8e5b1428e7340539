//! The network layer: per-core listeners and the connection task. Knows nothing about data
//! types; it parses requests, hands them to `command::dispatch` and writes the replies.

pub mod clients;
pub mod conn;
pub mod pubsub;

use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;

use crate::runtime::{self, tcp::Listener};
use crate::server::stats::CoreCounters;
use crate::txn::CoreCx;

/// Resolves the `bind` addresses for `port`. Optional ones (`-` prefix) that cannot be
/// resolved are skipped.
pub fn bind_addrs(binds: &[(String, bool)], port: u16) -> Result<Vec<(SocketAddr, bool)>, String> {
    let mut out = Vec::new();
    for (host, optional) in binds {
        let host = if host == "*" {
            "0.0.0.0"
        } else if host == "::*" {
            "::"
        } else {
            host.as_str()
        };
        match (host, port).to_socket_addrs() {
            Ok(addrs) => out.extend(addrs.map(|a| (a, *optional))),
            Err(e) if !optional => return Err(format!("cannot resolve bind address {host}: {e}")),
            Err(_) => {}
        }
    }
    Ok(out)
}

/// Refuses to start when another process listens on one of the (non-optional) addresses, as
/// redis-server does. The cores bind with SO_REUSEPORT, which the kernel would otherwise let
/// a second server of the same user share, splitting the clients between the two. The probe
/// binds without SO_REUSEPORT, so any listener on the address makes it fail.
pub fn check_free(addrs: &[(SocketAddr, bool)]) -> Result<(), String> {
    for (addr, optional) in addrs {
        if let Err(e) = crate::runtime::tcp::probe_bind(*addr)
            && !optional
        {
            return Err(format!(
                "Could not create server TCP listening socket {addr}: bind: {e}"
            ));
        }
    }
    Ok(())
}

/// Binds this core's listeners and starts accepting on each.
pub fn listen(core: &Rc<CoreCx>, addrs: &[(SocketAddr, bool)]) -> Result<(), String> {
    let backlog = core.server.config().tcp_backlog;
    let mut bound = 0;
    for (addr, optional) in addrs {
        match Listener::bind(*addr, backlog) {
            Ok(l) => {
                bound += 1;
                let core = core.clone();
                runtime::spawn(accept_loop(core, l));
            }
            Err(e) if *optional => {
                if core.id == 0 {
                    crate::server::log::warning(&format!(
                        "Could not create server TCP listening socket {addr}: {e} (optional, skipped)"
                    ));
                }
            }
            Err(e) => return Err(format!("Could not create server TCP listening socket {addr}: {e}")),
        }
    }
    if bound == 0 {
        return Err("Failed listening on all bind addresses".into());
    }
    Ok(())
}

async fn accept_loop(core: Rc<CoreCx>, listener: Listener) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                CoreCounters::add(&core.counters().connections_received, 1);
                let core = core.clone();
                runtime::spawn(async move { conn::serve(core, stream).await });
            }
            Err(e) => {
                crate::server::log::warning(&format!("Accepting client connection: {e}"));
                runtime::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}
