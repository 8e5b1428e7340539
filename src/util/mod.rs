//! Shared low-level helpers that must reproduce redis-server 7.0 behaviour byte for byte.
//!
//! Nothing here depends on other Shoal modules, so every command family (keys, strings,
//! hashes, sorted sets, pub/sub, config) can use the same, separately tested, rules.
//! The expected results in the tests were recorded from a real redis-server 7.0.15.

/// Redis-style glob matching (KEYS, SCAN MATCH, PSUBSCRIBE, CONFIG GET).
pub mod glob;
/// Redis-exact number parsing and formatting (string2ll, strtod, `%.17g`, INCRBYFLOAT).
pub mod num;
