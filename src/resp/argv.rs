//! A per-core pool of emptied argument vectors.
//!
//! Every parsed request needs a `Vec<Arg>` for its arguments. Without reuse that vector is
//! the one heap allocation a GET or SET costs. The dispatcher hands each executed request back with [`recycle`], the
//! parser takes one with [`take`]; a request that outlives its batch (queued in MULTI, kept
//! by a connection command) is simply dropped and the pool falls back to allocating.

use std::cell::RefCell;

use super::Arg;

use crate::util::{keep_spare, take_spare};

/// At most this many spare vectors per core: enough for every request of the batches in
/// flight on a core at once (a pipeline of 16 on each of 50 connections is rarely all in
/// flight; a miss only costs an allocation).
const POOL_LIMIT: usize = 512;

/// A vector is kept only while it has room for at most this many arguments, so that an MSET
/// of thousands of keys does not leave its large buffer parked in the pool.
const KEEP_ROOM: usize = 16;

thread_local! {
    static SPARE: RefCell<Vec<Vec<Arg>>> = const { RefCell::new(Vec::new()) };
}

/// An empty vector with room for `args` arguments: a spare one of this core when there is
/// one, a new one otherwise.
pub fn take(args: usize) -> Vec<Arg> {
    match take_spare(&SPARE) {
        Some(mut v) => {
            v.reserve(args);
            v
        }
        None => Vec::with_capacity(args),
    }
}

/// Drops the arguments and keeps the emptied vector for a later [`take`] on this core.
pub fn recycle(mut argv: Vec<Arg>) {
    if argv.capacity() == 0 || argv.capacity() > KEEP_ROOM {
        return;
    }
    argv.clear();
    keep_spare(&SPARE, argv, POOL_LIMIT);
}

/// Recycles every request of `batch`, leaving it empty (its own buffer is kept).
pub fn recycle_all(batch: impl Iterator<Item = Vec<Arg>>) {
    for argv in batch {
        recycle(argv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_vector_comes_back_empty_and_keeps_its_buffer() {
        let mut v = take(3);
        v.extend([Arg::from_static(b"SET"), Arg::from_static(b"k"), Arg::from_static(b"v")]);
        let at = v.as_ptr();
        recycle(v);
        let again = take(3);
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), at, "the same buffer is handed out again");
    }

    #[test]
    fn large_vectors_are_not_kept() {
        let big: Vec<Arg> = (0..KEEP_ROOM + 1).map(|_| Arg::default()).collect();
        recycle(big);
        assert_eq!(SPARE.with(|s| s.borrow().len()), 0);
        assert!(take(1).capacity() >= 1);
    }

    #[test]
    fn the_pool_is_bounded() {
        let many: Vec<Vec<Arg>> = (0..POOL_LIMIT + 10).map(|_| Vec::with_capacity(2)).collect();
        recycle_all(many.into_iter());
        let held = SPARE.with(|s| s.borrow().len());
        assert!(held <= POOL_LIMIT);
    }
}
