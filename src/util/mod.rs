//! Shared low-level helpers that must reproduce redis-server 7.0 behaviour byte for byte.
//!
//! Nothing here depends on other Shoal modules, so every command family (keys, strings,
//! hashes, sorted sets, pub/sub, config) can use the same, separately tested, rules.
//! The expected results in the tests were recorded from a real redis-server 7.0.15.

/// Redis-style glob matching (KEYS, SCAN MATCH, PSUBSCRIBE, CONFIG GET).
pub mod glob;
/// Redis-exact number parsing and formatting (string2ll, strtod, `%.17g`, INCRBYFLOAT).
pub mod num;

/// Asks the CPU to start loading the cache line at `p` and not wait for it: lookups made for a
/// whole batch of requests first prefetch every key's memory, so their cache misses overlap
/// instead of being taken one after another. A hint only; `p` is never dereferenced.
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address; SSE is part of x86_64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// A per-core pool of spare buffers (emptied vectors and the like), reused so that a hot
/// path allocates nothing once warm. One thread-local per kind of buffer.
pub type SparePool<T> = std::thread::LocalKey<std::cell::RefCell<Vec<T>>>;

/// A spare from this core's `pool`, if it holds one.
pub fn take_spare<T: 'static>(pool: &'static SparePool<T>) -> Option<T> {
    pool.try_with(|s| s.borrow_mut().pop()).ok().flatten()
}

/// Keeps `item` in this core's `pool` for a later `take_spare`, unless the pool already holds
/// `limit` (then it is dropped). The caller empties it and checks its size first.
pub fn keep_spare<T: 'static>(pool: &'static SparePool<T>, item: T, limit: usize) {
    let _ = pool.try_with(|s| {
        let mut spare = s.borrow_mut();
        if spare.len() < limit {
            spare.push(item);
        }
    });
}

/// Byte-slice equality for the hot lookups (keys, hash fields, set members, command names).
/// Slices of up to 32 bytes, which most keys, members and names are, are compared with two
/// overlapping loads each instead of a call into the C library's `memcmp`, which in a GET
/// profile cost about 4 % of the server's time; longer slices use the usual comparison.
#[inline]
pub fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => {
            let word = |s: &[u8], at: usize| u32::from_ne_bytes([s[at], s[at + 1], s[at + 2], s[at + 3]]);
            (word(a, 0) ^ word(b, 0)) | (word(a, n - 4) ^ word(b, n - 4)) == 0
        }
        8..=16 => {
            let word = |s: &[u8], at: usize| u64::from_ne_bytes(s[at..at + 8].try_into().expect("8 bytes"));
            (word(a, 0) ^ word(b, 0)) | (word(a, n - 8) ^ word(b, n - 8)) == 0
        }
        17..=32 => {
            let word = |s: &[u8], at: usize| u128::from_ne_bytes(s[at..at + 16].try_into().expect("16 bytes"));
            (word(a, 0) ^ word(b, 0)) | (word(a, n - 16) ^ word(b, n - 16)) == 0
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// Agrees with `==` on every length around the word boundaries, for equal slices and
        /// for slices that differ in exactly one byte at any position.
        #[test]
        fn bytes_eq_agrees_with_slice_equality(
            a in proptest::collection::vec(any::<u8>(), 0..48),
            flip in any::<prop::sample::Index>(),
            bit in 0u8..8,
            other in proptest::collection::vec(any::<u8>(), 0..48),
        ) {
            prop_assert!(super::bytes_eq(&a, &a.clone()));
            if !a.is_empty() {
                let mut b = a.clone();
                b[flip.index(a.len())] ^= 1 << bit;
                prop_assert!(!super::bytes_eq(&a, &b));
            }
            prop_assert_eq!(super::bytes_eq(&a, &other), a == other);
        }
    }
}
