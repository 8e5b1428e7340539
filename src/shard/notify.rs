//! Keyspace notifications (`notify-keyspace-events`): what a write tells subscribers.
//!
//! A command that changes a key names the event, as redis-server's commands do ("set",
//! "lpush", "del", "expired", ...), and the shard queues it in its outbox. When the job ends,
//! before its reply leaves the core, the core hands the outbox to every core's pub/sub
//! registry (`txn::cores`), which publishes `__keyspace@<db>__:<key>` with the event and
//! `__keyevent@<db>__:<event>` with the key, as the configured classes ask.
//!
//! Nothing is queued unless the event's class is configured and some connection anywhere
//! subscribes to a pattern or to a `__keyspace@`/`__keyevent@` channel, so a server without
//! listeners pays one atomic load per write.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

pub use crate::config::events as class;

/// The configured classes; 0 when neither K nor E is set (nothing would be published).
static FLAGS: AtomicU32 = AtomicU32::new(0);

/// Subscriptions, on every core, that a notification may reach: every pattern and every
/// channel under one of the two prefixes.
static LISTENERS: AtomicUsize = AtomicUsize::new(0);

const KEYSPACE_PREFIX: &[u8] = b"__keyspace@";
const KEYEVENT_PREFIX: &[u8] = b"__keyevent@";

/// Installs `notify-keyspace-events` (at start and on CONFIG SET).
pub fn configure(flags: u32) {
    let publishes = flags & (class::KEYSPACE | class::KEYEVENT) != 0;
    FLAGS.store(if publishes { flags } else { 0 }, Ordering::Relaxed);
}

/// Whether an event of `class` would reach anyone now.
#[inline]
pub fn wanted(class: u32) -> bool {
    FLAGS.load(Ordering::Relaxed) & class != 0 && LISTENERS.load(Ordering::Relaxed) != 0
}

/// Whether a subscription to `name` (a pattern when `pattern`) may receive notifications.
pub fn may_listen(pattern: bool, name: &[u8]) -> bool {
    pattern || name.starts_with(KEYSPACE_PREFIX) || name.starts_with(KEYEVENT_PREFIX)
}

/// A registry gained (`true`) or lost such a subscription.
pub fn listener_changed(added: bool) {
    if added {
        LISTENERS.fetch_add(1, Ordering::Relaxed);
    } else {
        LISTENERS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One event on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub db: usize,
    pub event: &'static str,
    pub key: Box<[u8]>,
}

impl Notice {
    /// The (channel, message) pairs this notice publishes under the current flags.
    pub fn messages(&self, mut each: impl FnMut(&[u8], &[u8])) {
        let flags = FLAGS.load(Ordering::Relaxed);
        let db = itoa::Buffer::new().format(self.db).to_owned();
        let channel = |prefix: &[u8], tail: &[u8]| [prefix, db.as_bytes(), b"__:", tail].concat();
        if flags & class::KEYSPACE != 0 {
            each(&channel(KEYSPACE_PREFIX, &self.key), self.event.as_bytes());
        }
        if flags & class::KEYEVENT != 0 {
            each(&channel(KEYEVENT_PREFIX, self.event.as_bytes()), &self.key);
        }
    }
}

/// A job's notices, shared by the cores that publish them.
pub type Notices = Arc<Vec<Notice>>;

/// A shard's notices since its last job ended, in the order the writes made them.
#[derive(Default)]
pub struct Outbox {
    notices: Vec<Notice>,
}

impl Outbox {
    /// Queues `event` of `class` on `key` of `db` when anyone may hear it.
    #[inline]
    pub fn push(&mut self, class: u32, db: usize, event: &'static str, key: &[u8]) {
        if wanted(class) {
            self.notices.push(Notice {
                db,
                event,
                key: key.into(),
            });
        }
    }

    /// Takes what is queued, shared for delivery to every core; `None` when nothing is.
    pub fn take(&mut self) -> Option<Notices> {
        (!self.notices.is_empty()).then(|| Arc::new(std::mem::take(&mut self.notices)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_and_messages_follow_the_flags() {
        let n = Notice {
            db: 3,
            event: "lpush",
            key: b"k".as_slice().into(),
        };
        let collect = || {
            let mut got = Vec::new();
            n.messages(|c, m| {
                got.push((
                    String::from_utf8_lossy(c).into_owned(),
                    String::from_utf8_lossy(m).into_owned(),
                ))
            });
            got
        };
        configure(class::ALL | class::KEYSPACE | class::KEYEVENT);
        assert_eq!(
            collect(),
            vec![
                ("__keyspace@3__:k".to_string(), "lpush".to_string()),
                ("__keyevent@3__:lpush".to_string(), "k".to_string()),
            ]
        );
        assert!(may_listen(false, b"__keyevent@0__:del"));
        assert!(may_listen(true, b"news.*"));
        assert!(!may_listen(false, b"news"));
        configure(class::ALL);
        assert!(!wanted(class::LIST), "without K or E nothing is published");
        configure(0);
    }
}
