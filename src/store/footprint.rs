//! Estimates of the bytes a value holds, for `MEMORY USAGE`.
//!
//! Figures are what was asked of the allocator, rounded up as mimalloc rounds requests to its
//! size classes, so they do not need the allocator's own size query (which the unit tests'
//! system allocator would not answer). Big collections are estimated as redis-server
//! estimates them: the first `samples` elements' average times the element count (0 = all).

use hashbrown::HashTable;

/// Bytes mimalloc hands out for a request of `n`: whole words up to 64 bytes, then one of
/// four size classes per doubling.
pub fn alloc_bytes(n: usize) -> usize {
    match n {
        0 => 0,
        1..=64 => n.next_multiple_of(8),
        _ => n.next_multiple_of(n.next_power_of_two() / 8),
    }
}

/// Bytes of a `hashbrown` table's slots and control bytes (not of what its slots point to).
pub fn hash_table_bytes<T>(t: &HashTable<T>) -> usize {
    let capacity = t.capacity();
    let buckets = match capacity {
        0 => return 0,
        1..=7 => (capacity + 1).next_power_of_two(),
        _ => (capacity * 8 / 7).next_power_of_two(),
    };
    // One control byte per bucket plus a group's worth at the end.
    alloc_bytes(buckets * size_of::<T>() + buckets + 16)
}

/// Sum of `size` over `count` items, from the first `samples` of `items` (all when `samples`
/// is 0 or covers them).
pub fn sampled<I: Iterator>(items: I, count: usize, samples: usize, size: impl Fn(I::Item) -> usize) -> usize {
    let limit = if samples == 0 { usize::MAX } else { samples };
    let (mut seen, mut total) = (0usize, 0usize);
    for item in items.take(limit) {
        total += size(item);
        seen += 1;
    }
    if seen == 0 || seen >= count {
        total
    } else {
        (total as f64 / seen as f64 * count as f64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_up_to_size_classes() {
        assert_eq!(alloc_bytes(0), 0);
        assert_eq!(alloc_bytes(1), 8);
        assert_eq!(alloc_bytes(64), 64);
        assert_eq!(alloc_bytes(65), 80);
        assert_eq!(alloc_bytes(100), 112);
        assert_eq!(alloc_bytes(1000), 1024);
        assert_eq!(alloc_bytes(1025), 1280);
    }

    #[test]
    fn samples_stand_for_the_whole() {
        let sizes = [10usize, 20, 30, 40];
        assert_eq!(sampled(sizes.iter(), 4, 0, |s| *s), 100);
        assert_eq!(sampled(sizes.iter(), 4, 9, |s| *s), 100);
        // The first two average 15: four items are estimated at 60.
        assert_eq!(sampled(sizes.iter(), 4, 2, |s| *s), 60);
        assert_eq!(sampled(std::iter::empty::<usize>(), 0, 5, |s| s), 0);
    }

    #[test]
    fn a_table_counts_its_buckets() {
        let mut t: HashTable<u64> = HashTable::new();
        assert_eq!(hash_table_bytes(&t), 0);
        for n in 0..100u64 {
            t.insert_unique(n, n, |v| *v);
        }
        // 100 entries need 128 buckets of 8 bytes and a control byte each, plus a group.
        assert_eq!(hash_table_bytes(&t), alloc_bytes(128 * 9 + 16));
    }
}
