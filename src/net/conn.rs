//! One client connection: read, parse every complete request, run them as one batch, write
//! all replies with one write.
//!
//! A protocol error is answered with `-ERR Protocol error: ...` after the replies of the
//! requests before it, then the connection closes, as Redis does. A query buffer that grows
//! past `client-query-buffer-limit` closes the connection without a reply.

use std::rc::Rc;

use bytes::BytesMut;

use crate::command::conn::new_session;
use crate::command::{ConnCx, dispatch};
use crate::resp::{Out, ParseLimits, Proto, RequestParser};
use crate::runtime::tcp::Stream;
use crate::server::stats::CoreCounters;
use crate::txn::CoreCx;

const READ_CHUNK: usize = 16 * 1024;

pub async fn serve(core: Rc<CoreCx>, mut stream: Stream) {
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let local = stream.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let cfg = core.server.config();
    let limits = ParseLimits {
        max_bulk_len: cfg.proto_max_bulk_len as usize,
    };
    let query_limit = cfg.client_query_buffer_limit as usize;
    drop(cfg);
    let counters = &core.server.counters[core.id];
    CoreCounters::add(&counters.connected_clients, 1);
    let session = new_session(&core, peer, local);
    let mut cx = ConnCx {
        core: core.clone(),
        session,
        out: Out::new(Proto::Resp2),
    };
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut parser = RequestParser::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        CoreCounters::add(&counters.net_input_bytes, n as u64);
        rbuf.extend_from_slice(&chunk[..n]);
        let mut batch = Vec::new();
        let mut protocol_error = None;
        loop {
            match parser.next(&mut rbuf, &limits) {
                Ok(Some(req)) => batch.push(req),
                Ok(None) => break,
                Err(e) => {
                    protocol_error = Some(e);
                    break;
                }
            }
        }
        if protocol_error.is_none() && rbuf.len() > query_limit {
            crate::server::log::warning("Closing client that reached max query buffer length");
            break;
        }
        if !batch.is_empty() {
            dispatch::execute(&mut cx, batch).await;
        }
        if let Some(e) = &protocol_error {
            cx.out.error(&format!("ERR {}", e.0));
            cx.session.close_after_reply = true;
        }
        if !cx.out.is_empty() {
            CoreCounters::add(&counters.net_output_bytes, cx.out.len() as u64);
            if stream.write_all(cx.out.as_bytes()).await.is_err() {
                break;
            }
            cx.out.clear();
        }
        if cx.session.close_after_reply {
            break;
        }
    }
    CoreCounters::sub(&counters.connected_clients, 1);
    stream.close().await;
}
