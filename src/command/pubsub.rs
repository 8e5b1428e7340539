//! Pub/sub: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, SSUBSCRIBE, SUNSUBSCRIBE,
//! PUBLISH, SPUBLISH and PUBSUB, across cores (see `net::pubsub` for delivery).
//!
//! A connection subscribes on its own core; PUBLISH visits every core and returns the number
//! of receivers on all of them. In RESP2 a subscribed client may only run the (un)subscribe
//! commands, PING, QUIT and RESET, as in Redis; RESP3 clients get messages as pushes and may
//! run anything.

use std::rc::Rc;

use super::dispatch::lower;
use super::*;
use crate::config::ClientClass;
use crate::net::pubsub::{self, Space, Subscriber};
use crate::resp::Arg;
use crate::txn::Lock;

const P: &str = "pubsub";
const SUBFLAGS: Flags = PUBSUB.union(NOSCRIPT).union(LOADING).union(STALE);

pub const SPECS: &[CommandSpec] = &[
    CommandSpec::new("subscribe", -2, SUBFLAGS, KeySpan::NONE, Run::Conn(subscribe)).doc(
        P,
        "2.0.0",
        "Listens for messages published to channels.",
        "channel [channel ...]",
    ),
    CommandSpec::new("unsubscribe", -1, SUBFLAGS, KeySpan::NONE, Run::Conn(unsubscribe)).doc(
        P,
        "2.0.0",
        "Stops listening to messages posted to channels.",
        "[channel [channel ...]]",
    ),
    CommandSpec::new("psubscribe", -2, SUBFLAGS, KeySpan::NONE, Run::Conn(psubscribe)).doc(
        P,
        "2.0.0",
        "Listens for messages published to channels that match one or more patterns.",
        "pattern [pattern ...]",
    ),
    CommandSpec::new("punsubscribe", -1, SUBFLAGS, KeySpan::NONE, Run::Conn(punsubscribe)).doc(
        P,
        "2.0.0",
        "Stops listening to messages published to channels that match one or more patterns.",
        "[pattern [pattern ...]]",
    ),
    CommandSpec::new("ssubscribe", -2, SUBFLAGS, KeySpan::NONE, Run::Conn(ssubscribe)).doc(
        P,
        "7.0.0",
        "Listens for messages published to shard channels.",
        "shardchannel [shardchannel ...]",
    ),
    CommandSpec::new("sunsubscribe", -1, SUBFLAGS, KeySpan::NONE, Run::Conn(sunsubscribe)).doc(
        P,
        "7.0.0",
        "Stops listening to messages posted to shard channels.",
        "[shardchannel [shardchannel ...]]",
    ),
    CommandSpec::new(
        "publish",
        3,
        PUBSUB.union(LOADING).union(STALE).union(FAST),
        KeySpan::NONE,
        Run::Conn(publish),
    )
    .doc(P, "2.0.0", "Posts a message to a channel.", "channel message"),
    CommandSpec::new(
        "spublish",
        3,
        PUBSUB.union(LOADING).union(STALE).union(FAST),
        KeySpan::NONE,
        Run::Conn(spublish),
    )
    .doc(P, "7.0.0", "Post a message to a shard channel", "shardchannel message"),
    CommandSpec::new(
        "pubsub",
        -2,
        PUBSUB.union(LOADING).union(STALE),
        KeySpan::NONE,
        Run::Conn(pubsub_cmd),
    )
    .doc(
        P,
        "2.8.0",
        "A container for Pub/Sub commands.",
        "subcommand [arguments]",
    ),
];

/// What a connection is subscribed to.
#[derive(Default)]
pub struct Subscriptions {
    pub sub: Option<Rc<Subscriber>>,
    pub channels: Vec<Vec<u8>>,
    pub patterns: Vec<Vec<u8>>,
    pub shard_channels: Vec<Vec<u8>>,
}

impl Subscriptions {
    /// Channels plus patterns (what (P)SUBSCRIBE replies count).
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    pub fn any(&self) -> bool {
        self.count() + self.shard_channels.len() > 0
    }

    fn list(&mut self, space: Space) -> &mut Vec<Vec<u8>> {
        match space {
            Space::Channel => &mut self.channels,
            Space::Pattern => &mut self.patterns,
            Space::Shard => &mut self.shard_channels,
        }
    }

    fn reply_count(&self, space: Space) -> usize {
        if space == Space::Shard {
            self.shard_channels.len()
        } else {
            self.count()
        }
    }
}

/// Commands a RESP2 client in subscribed mode may still run.
pub fn allowed_when_subscribed(spec: &CommandSpec) -> bool {
    matches!(
        spec.name,
        "subscribe"
            | "unsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "ssubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

fn kinds(space: Space) -> (&'static [u8], &'static [u8]) {
    match space {
        Space::Channel => (b"subscribe", b"unsubscribe"),
        Space::Pattern => (b"psubscribe", b"punsubscribe"),
        Space::Shard => (b"ssubscribe", b"sunsubscribe"),
    }
}

fn subscriber(cx: &mut ConnCx) -> Rc<Subscriber> {
    if let Some(s) = &cx.session.subs.sub {
        s.proto.set(cx.out.proto());
        return s.clone();
    }
    let limit = cx.core.server.config().buffer_limit(ClientClass::Pubsub);
    let s = Subscriber::new(
        cx.session.id,
        cx.out.proto(),
        limit.hard as usize,
        limit.soft as usize,
        limit.soft_seconds,
    );
    cx.session.subs.sub = Some(s.clone());
    s
}

fn subscribe_generic(cx: &mut ConnCx, argv: &[Arg], space: Space) {
    let sub = subscriber(cx);
    for name in &argv[1..] {
        let added = pubsub::with_local(|r| r.subscribe(space, name, &sub));
        if added {
            cx.session.subs.list(space).push(name.to_vec());
        }
        let out = &mut cx.out;
        out.push(3);
        out.bulk(kinds(space).0);
        out.bulk(name);
        out.int(cx.session.subs.reply_count(space) as i64);
    }
}

/// Unsubscribes from `names`, or from everything in `space` when `names` is empty.
pub fn unsubscribe_generic(cx: &mut ConnCx, names: &[Arg], space: Space) {
    let id = cx.session.id;
    let names: Vec<Vec<u8>> = if names.is_empty() {
        cx.session.subs.list(space).clone()
    } else {
        names.iter().map(|n| n.to_vec()).collect()
    };
    if names.is_empty() {
        cx.out.push(3);
        cx.out.bulk(kinds(space).1);
        cx.out.null();
        cx.out.int(cx.session.subs.reply_count(space) as i64);
        return;
    }
    for name in names {
        pubsub::with_local(|r| r.unsubscribe(space, &name, id));
        cx.session.subs.list(space).retain(|n| *n != name);
        cx.out.push(3);
        cx.out.bulk(kinds(space).1);
        cx.out.bulk(&name);
        cx.out.int(cx.session.subs.reply_count(space) as i64);
    }
}

/// Drops every subscription of a closing connection.
pub fn drop_all(cx: &mut ConnCx) {
    let id = cx.session.id;
    for space in [Space::Channel, Space::Pattern, Space::Shard] {
        for name in std::mem::take(cx.session.subs.list(space)) {
            pubsub::with_local(|r| r.unsubscribe(space, &name, id));
        }
    }
    cx.session.subs.sub = None;
}

fn subscribe(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        subscribe_generic(cx, &argv, Space::Channel);
        Ok(())
    })
}

fn psubscribe(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        subscribe_generic(cx, &argv, Space::Pattern);
        Ok(())
    })
}

fn ssubscribe(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        subscribe_generic(cx, &argv, Space::Shard);
        Ok(())
    })
}

fn unsubscribe(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        unsubscribe_generic(cx, &argv[1..], Space::Channel);
        Ok(())
    })
}

fn punsubscribe(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        unsubscribe_generic(cx, &argv[1..], Space::Pattern);
        Ok(())
    })
}

fn sunsubscribe(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        unsubscribe_generic(cx, &argv[1..], Space::Shard);
        Ok(())
    })
}

/// Publishes on every core; returns the total number of receivers.
async fn publish_everywhere(cx: &ConnCx, space: Space, channel: Arg, message: Arg) -> i64 {
    let mut n = 0;
    for core in 0..cx.core.shards {
        let (c, m) = (channel.clone(), message.clone());
        n += cx
            .core
            .run_on(core, Lock::Free, move |_| {
                pubsub::with_local(|r| r.publish(space, &c, &m))
            })
            .await;
    }
    n as i64
}

fn publish(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let n = publish_everywhere(cx, Space::Channel, argv[1].clone(), argv[2].clone()).await;
        cx.out.int(n);
        Ok(())
    })
}

fn spublish(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let n = publish_everywhere(cx, Space::Shard, argv[1].clone(), argv[2].clone()).await;
        cx.out.int(n);
        Ok(())
    })
}

/// Runs `f` on every core's registry and collects the answers.
async fn gather<T: Send + 'static>(cx: &ConnCx, f: fn(&mut pubsub::Registry, &[Arg]) -> T, args: Vec<Arg>) -> Vec<T> {
    let args = std::sync::Arc::new(args);
    let mut all = Vec::new();
    for core in 0..cx.core.shards {
        let a = args.clone();
        all.push(
            cx.core
                .run_on(core, Lock::Free, move |_| pubsub::with_local(|r| f(r, &a)))
                .await,
        );
    }
    all
}

/// PUBSUB HELP, in Shoal's words.
const PUBSUB_HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Channels with at least one subscriber, on every core (matching the glob pattern).",
    "NUMSUB [<channel> ...]",
    "    Subscribers of each channel.",
    "NUMPAT",
    "    Patterns subscribed to.",
    "SHARDCHANNELS [<pattern>]",
    "    Shard channels with at least one subscriber.",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Subscribers of each shard channel.",
    "HELP",
    "    Prints this help.",
];

fn pubsub_cmd(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let sub = lower(&argv[1]);
        let rest = argv[2..].to_vec();
        match (sub.as_str(), rest.len()) {
            ("help", 0) => super::slowlog::help_reply(&mut cx.out, PUBSUB_HELP),
            ("channels", 0 | 1) | ("shardchannels", 0 | 1) => {
                let space = if sub == "channels" {
                    Space::Channel
                } else {
                    Space::Shard
                };
                let f = if space == Space::Channel {
                    |r: &mut pubsub::Registry, a: &[Arg]| r.channels(Space::Channel, a.first().map(|p| &p[..]))
                } else {
                    |r: &mut pubsub::Registry, a: &[Arg]| r.channels(Space::Shard, a.first().map(|p| &p[..]))
                };
                let mut names: Vec<Vec<u8>> = gather(cx, f, rest).await.into_iter().flatten().collect();
                names.sort();
                names.dedup();
                cx.out.array(names.len());
                names.iter().for_each(|n| cx.out.bulk(n));
            }
            ("numsub", _) | ("shardnumsub", _) => {
                let f = if sub == "numsub" {
                    |r: &mut pubsub::Registry, a: &[Arg]| {
                        a.iter().map(|c| r.count(Space::Channel, c)).collect::<Vec<_>>()
                    }
                } else {
                    |r: &mut pubsub::Registry, a: &[Arg]| a.iter().map(|c| r.count(Space::Shard, c)).collect::<Vec<_>>()
                };
                let per_core = gather(cx, f, rest.clone()).await;
                cx.out.map(rest.len());
                for (i, ch) in rest.iter().enumerate() {
                    cx.out.bulk(ch);
                    cx.out.int(per_core.iter().map(|v| v[i]).sum::<usize>() as i64);
                }
            }
            ("numpat", 0) => {
                let f = |r: &mut pubsub::Registry, _: &[Arg]| r.channels(Space::Pattern, None);
                let mut pats: Vec<Vec<u8>> = gather(cx, f, rest).await.into_iter().flatten().collect();
                pats.sort();
                pats.dedup();
                cx.out.int(pats.len() as i64);
            }
            _ => {
                return Err(CmdError::subcommand(
                    "pubsub",
                    &argv[1],
                    &["channels", "numsub", "numpat", "shardchannels", "shardnumsub", "help"],
                ));
            }
        }
        Ok(())
    })
}
