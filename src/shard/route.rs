//! The fixed key → shard function.
//!
//! `shard = (H(k) >> 32) mod N`, where `H` is ahash with fixed seeds and `k` is the key, or
//! the part between the first `{` and the next `}` when that part is non-empty (a Redis
//! Cluster style hash tag), so that related keys can be made to live together. The table
//! inside a shard indexes with the low bits of the full key's hash, so the two never correlate.
//! The function is the same on every core of one process; nothing persisted depends on it (an
//! RDB holds no shard numbers), so a dump loads under any `--shards N`.

/// Index of a shard (and of the core that owns it).
pub type ShardId = usize;

pub use crate::store::key_hash;

/// The `{tag}` of a key, if it has a non-empty one.
fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|&b| b == b'{')?;
    let close = key[open + 1..].iter().position(|&b| b == b'}')?;
    (close > 0).then(|| &key[open + 1..open + 1 + close])
}

/// The shard that owns `key` among `shards`.
pub fn shard_of(key: &[u8], shards: usize) -> ShardId {
    if shards == 1 {
        return 0;
    }
    let h = match hash_tag(key) {
        Some(tag) => key_hash(tag),
        None => key_hash(key),
    };
    ((h >> 32) % shards as u64) as ShardId
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_colocate_and_spread() {
        assert_eq!(shard_of(b"{user1}.a", 8), shard_of(b"{user1}.b", 8));
        assert_eq!(hash_tag(b"a{}b"), None);
        assert_eq!(hash_tag(b"a{x}{y}"), Some(&b"x"[..]));
        let mut counts = [0usize; 4];
        for i in 0..4000 {
            counts[shard_of(format!("key:{i}").as_bytes(), 4)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
    }
}
