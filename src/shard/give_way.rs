//! Eviction across shards: one shard has another evict for it.
//!
//! Keys are spread over the shards by hash, but writes and idle keys need not be. A shard that
//! takes the writes (one growing list, say) may run out of keys it may evict while another
//! still holds plenty, or hold only keys busier than another's. redis-server, with one
//! keyspace, would evict those idler keys first. So every shard publishes the score of its
//! best eviction candidate (`Shard::publish_best`), and a shard about to evict compares its
//! own with the others' (read at most once a millisecond): when another's is clearly worse,
//! or when it has nothing left, it wakes that core's helper (`wait_until_asked`, run by
//! `server::start`), which evicts from its own shard until the process is under the limit.
//! Meanwhile the asking shard's commands run, as redis-server runs commands while an eviction
//! cycle cut short by its time limit goes on, up to a slack over the limit.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::Shard;
use super::evict::{Rank, Room};

/// One core's part, on a line of its own (other cores read and write it).
#[repr(align(128))]
#[derive(Default)]
struct Slot {
    /// The shard found nothing it may evict when it last tried.
    exhausted: AtomicBool,
    /// Another shard asked this core to evict and its helper has not yet started.
    requested: AtomicBool,
    /// The score of the shard's best candidate when it last sampled, plus one (0: none).
    best: AtomicU64,
    /// The core's helper task, parked until asked.
    helper: atomic_waker::AtomicWaker,
}

static SLOTS: std::sync::OnceLock<Box<[Slot]>> = std::sync::OnceLock::new();

/// Sets up giving way for `shards` shards (once, before the cores start). Without it (tools,
/// unit tests) a shard evicts only its own keys and refuses when it has none left.
pub fn init(shards: usize) {
    let _ = SLOTS.set((0..shards).map(|_| Slot::default()).collect());
}

fn slot(id: usize) -> Option<&'static Slot> {
    SLOTS.get().and_then(|s| s.get(id))
}

/// Marks shard `id` as having (no) keys to evict; written only when it changes.
pub(super) fn note_exhausted(id: usize, exhausted: bool) {
    if let Some(slot) = slot(id)
        && slot.exhausted.load(Ordering::Relaxed) != exhausted
    {
        slot.exhausted.store(exhausted, Ordering::Relaxed);
    }
}

/// Asks core `id`'s helper to evict (a request already pending is not repeated).
pub(super) fn ask(id: usize) {
    if let Some(slot) = slot(id)
        && !slot.requested.swap(true, Ordering::AcqRel)
    {
        slot.helper.wake();
    }
}

/// Resolves when another shard asks shard `id` to evict, clearing the request (a request
/// made after this returns wakes the helper again).
pub async fn wait_until_asked(id: usize) {
    let Some(slot) = slot(id) else {
        return std::future::pending().await;
    };
    std::future::poll_fn(|cx| {
        slot.helper.register(cx.waker());
        if slot.requested.swap(false, Ordering::AcqRel) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

/// Whether a candidate scored `theirs` should go clearly before one scored `ours` (scores as
/// `evict::badness` gives them). The margins keep shards whose keys are alike from handing
/// evictions to each other: only a marked difference is worth a wake-up on another core.
fn clearly_worse(rank: Rank, theirs: u64, ours: u64) -> bool {
    match rank {
        // Idle for more than half as long again, and by more than a second (marks count
        // whole seconds, so a key in use reads 0 or 1).
        Rank::Lru => theirs > ours.saturating_add((ours / 2).max(1)),
        // A counter lower by more than one step.
        Rank::Lfu => theirs > ours.saturating_add(1),
        // A deadline sooner by more than a second.
        Rank::Ttl => theirs > ours.saturating_add(1000),
        Rank::Random => false,
    }
}

/// How often a shard with nothing left asks shards marked exhausted to look again.
const RENEW_MS: u64 = 100;

/// What a shard knows of the others: the one with the worst published candidate, as read at
/// `at_ms`, and when it last asked shards marked exhausted to renew their marks.
#[derive(Default)]
pub struct Elsewhere {
    at_ms: u64,
    found: Option<(usize, u64)>,
    renewed_at_ms: u64,
}

impl Shard {
    /// Publishes the score of this shard's best candidate (a store only when it changed).
    pub(super) fn publish_best(&self, score: u64) {
        if let Some(slot) = slot(self.id) {
            let value = score.saturating_add(1);
            if slot.best.load(Ordering::Relaxed) != value {
                slot.best.store(value, Ordering::Relaxed);
            }
        }
    }

    /// Another shard whose best candidate is clearly worse than ours, scored `ours`. The
    /// others' scores are read at most once per millisecond of the shard's clock.
    pub(super) fn worse_elsewhere(&mut self, rank: Rank, ours: u64, now_ms: u64) -> Option<usize> {
        let slots = SLOTS.get()?;
        if slots.len() < 2 {
            return None;
        }
        if self.worse_elsewhere.at_ms != now_ms {
            let worst = (0..slots.len())
                .filter(|&i| i != self.id && !slots[i].exhausted.load(Ordering::Relaxed))
                .filter_map(|i| slots[i].best.load(Ordering::Relaxed).checked_sub(1).map(|s| (i, s)))
                .max_by_key(|&(_, score)| score);
            self.worse_elsewhere.at_ms = now_ms;
            self.worse_elsewhere.found = worst;
        }
        let (other, theirs) = self.worse_elsewhere.found?;
        clearly_worse(rank, theirs, ours).then_some(other)
    }

    /// Over the limit with nothing here to evict: asks every other shard to give way, and
    /// lets the command run while one of them still has keys to evict and the process is
    /// within the slack over the limit.
    pub(super) fn none_left_here(&mut self, max: u64, now_ms: u64) -> Room {
        let Some(slots) = SLOTS.get() else { return Room::Full };
        // Shards marked exhausted are asked too, at most every RENEW_MS: a mark may be older
        // than keys written there since, and the helper renews it when it wakes.
        let renew = now_ms.saturating_sub(self.worse_elsewhere.renewed_at_ms) >= RENEW_MS;
        if renew {
            self.worse_elsewhere.renewed_at_ms = now_ms;
        }
        let mut others_can = false;
        for (i, slot) in slots.iter().enumerate().filter(|(i, _)| *i != self.id) {
            let exhausted = slot.exhausted.load(Ordering::Relaxed);
            if !exhausted || renew {
                ask(i);
            }
            others_can |= !exhausted;
        }
        if others_can && self.within_slack(max, now_ms) {
            Room::Elsewhere
        } else {
            Room::Full
        }
    }

    /// The helper's renewal of this shard's mark, before it evicts: whether it has keys to
    /// evict may have changed by writes made under the limit, which do not look.
    pub fn renew_exhausted_mark(&self) {
        note_exhausted(self.id, !self.has_evictable_keys());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_marked_difference_hands_an_eviction_over() {
        assert!(!clearly_worse(Rank::Lru, 2, 1));
        assert!(clearly_worse(Rank::Lru, 3, 1));
        assert!(clearly_worse(Rank::Lru, 2, 0));
        assert!(!clearly_worse(Rank::Lru, 150, 100));
        assert!(clearly_worse(Rank::Lru, 151, 100));
        assert!(!clearly_worse(Rank::Lfu, 251, 250));
        assert!(clearly_worse(Rank::Lfu, 255, 250));
        assert!(!clearly_worse(Rank::Ttl, 1500, 1000));
        assert!(!clearly_worse(Rank::Random, 9, 0));
        assert!(!clearly_worse(Rank::Lru, u64::MAX, u64::MAX));
    }
}
