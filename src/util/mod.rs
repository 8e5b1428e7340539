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
