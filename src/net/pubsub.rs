//! Pub/sub delivery on one core: who is subscribed here, and each subscriber's queue of
//! encoded messages.
//!
//! Every core keeps its own registry of its own connections; PUBLISH visits every core (one
//! hop each) and each core encodes the message into its subscribers' queues and wakes them.
//! A subscriber's queue is bounded by `client-output-buffer-limit pubsub`: past the hard limit,
//! or past the soft limit for longer than its seconds, the client is disconnected instead of
//! letting memory grow.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use hashbrown::HashMap;

use crate::resp::{Out, Proto};
use crate::shard::notify::{self, Notice};
use crate::util::glob::glob_match;

/// The three subscription namespaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Space {
    Channel,
    Pattern,
    Shard,
}

/// One subscribed connection, shared between its connection task and the registry.
pub struct Subscriber {
    pub id: u64,
    pub proto: Cell<Proto>,
    queue: RefCell<Vec<u8>>,
    waker: RefCell<Option<Waker>>,
    /// When the queue went above the soft limit (None while below).
    soft_since: Cell<Option<Instant>>,
    /// Set when the queue overflowed: the connection must close.
    pub overflowed: Cell<bool>,
    pub limits: (usize, usize, u64),
}

impl Subscriber {
    pub fn new(id: u64, proto: Proto, hard: usize, soft: usize, soft_secs: u64) -> Rc<Subscriber> {
        Rc::new(Subscriber {
            id,
            proto: Cell::new(proto),
            queue: RefCell::new(Vec::new()),
            waker: RefCell::new(None),
            soft_since: Cell::new(None),
            overflowed: Cell::new(false),
            limits: (hard, soft, soft_secs),
        })
    }

    fn deliver(&self, encode: impl FnOnce(&mut Out)) {
        if self.overflowed.get() {
            return;
        }
        let mut o = Out::new(self.proto.get());
        encode(&mut o);
        let mut q = self.queue.borrow_mut();
        q.extend_from_slice(o.as_bytes());
        let (hard, soft, secs) = self.limits;
        let len = q.len();
        if hard > 0 && len > hard {
            self.overflowed.set(true);
        } else if soft > 0 && len > soft {
            let since = *self.soft_since.get().get_or_insert_with(Instant::now);
            self.soft_since.set(Some(since));
            if since.elapsed().as_secs() >= secs {
                self.overflowed.set(true);
            }
        } else {
            self.soft_since.set(None);
        }
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Takes the queued bytes (the connection writes them).
    pub fn take(&self) -> Vec<u8> {
        self.soft_since.set(None);
        std::mem::take(&mut *self.queue.borrow_mut())
    }

    /// Resolves once something is queued (or the queue overflowed).
    pub fn ready(self: &Rc<Self>) -> Ready {
        Ready(self.clone())
    }
}

pub struct Ready(Rc<Subscriber>);

impl Future for Ready {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if !self.0.queue.borrow().is_empty() || self.0.overflowed.get() {
            return Poll::Ready(());
        }
        *self.0.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[derive(Default)]
pub struct Registry {
    subs: HashMap<(Space, Vec<u8>), Vec<Rc<Subscriber>>>,
}

impl Registry {
    /// Adds a subscription; false if it already existed.
    pub fn subscribe(&mut self, space: Space, name: &[u8], sub: &Rc<Subscriber>) -> bool {
        let list = self.subs.entry((space, name.to_vec())).or_default();
        if list.iter().any(|s| s.id == sub.id) {
            return false;
        }
        list.push(sub.clone());
        if notify::may_listen(space == Space::Pattern, name) {
            notify::listener_changed(true);
        }
        true
    }

    pub fn unsubscribe(&mut self, space: Space, name: &[u8], id: u64) -> bool {
        let key = (space, name.to_vec());
        let Some(list) = self.subs.get_mut(&key) else {
            return false;
        };
        let before = list.len();
        list.retain(|s| s.id != id);
        let removed = list.len() != before;
        if list.is_empty() {
            self.subs.remove(&key);
        }
        if removed && notify::may_listen(space == Space::Pattern, name) {
            notify::listener_changed(false);
        }
        removed
    }

    /// Delivers a message to this core's subscribers; returns how many received it.
    pub fn publish(&self, space: Space, channel: &[u8], message: &[u8]) -> usize {
        let mut n = 0;
        let kind: &[u8] = if space == Space::Shard { b"smessage" } else { b"message" };
        if let Some(list) = self.subs.get(&(space, channel.to_vec())) {
            for s in list {
                s.deliver(|o| {
                    o.push(3);
                    o.bulk(kind);
                    o.bulk(channel);
                    o.bulk(message);
                });
                n += 1;
            }
        }
        if space == Space::Channel {
            for ((sp, pattern), list) in &self.subs {
                if *sp == Space::Pattern && glob_match(pattern, channel, false) {
                    for s in list {
                        s.deliver(|o| {
                            o.push(4);
                            o.bulk(b"pmessage");
                            o.bulk(pattern);
                            o.bulk(channel);
                            o.bulk(message);
                        });
                        n += 1;
                    }
                }
            }
        }
        n
    }

    /// Active channels (or shard channels) here matching `pattern`.
    pub fn channels(&self, space: Space, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        self.subs
            .keys()
            .filter(|(sp, name)| *sp == space && pattern.is_none_or(|p| glob_match(p, name, false)))
            .map(|(_, name)| name.clone())
            .collect()
    }

    pub fn count(&self, space: Space, name: &[u8]) -> usize {
        self.subs.get(&(space, name.to_vec())).map_or(0, Vec::len)
    }

    pub fn patterns(&self) -> usize {
        self.subs.keys().filter(|(sp, _)| *sp == Space::Pattern).count()
    }
}

thread_local! {
    static LOCAL: RefCell<Registry> = RefCell::new(Registry::default());
}

/// Publishes keyspace notifications to this core's subscribers.
pub fn publish_notices(notices: &[Notice]) {
    with_local(|r| {
        for n in notices {
            n.messages(|channel, message| {
                r.publish(Space::Channel, channel, message);
            });
        }
    });
}

/// Runs `f` on this core's registry.
pub fn with_local<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    LOCAL.with(|r| f(&mut r.borrow_mut()))
}
