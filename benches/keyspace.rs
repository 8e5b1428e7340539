//! Keyspace micro-benchmarks: the cost of one shard's put / lookup / remove path (hashing,
//! lazy-expiry check, table probe) and of the segmented table underneath it.
//!
//! Run with `cargo bench --bench keyspace`. Every iteration touches 100k keys, so the numbers
//! include cache misses a real keyspace of that size would have; sample sizes are the minimum
//! criterion allows so the suite stays short on a shared machine.

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use shoal::shard::{Shard, ShardCx, key_hash};
use shoal::store::{Hashed, SegTable, Value};

const KEYS: usize = 100_000;
/// A fixed clock: no key here has a TTL, so the value only has to be plausible.
const NOW_MS: u64 = 1_700_000_000_000;

fn keys() -> Vec<Vec<u8>> {
    (0..KEYS).map(|i| format!("key:{i:06}").into_bytes()).collect()
}

fn filled_shard(keys: &[Vec<u8>]) -> Shard {
    let mut shard = Shard::new(0, 16);
    let mut cx = ShardCx::new(&mut shard, 0, NOW_MS);
    for k in keys {
        cx.put(k, Value::string(b"value"), false);
    }
    shard
}

fn shard_ops(c: &mut Criterion) {
    let keys = keys();
    let mut g = c.benchmark_group("shard_100k");
    g.throughput(Throughput::Elements(KEYS as u64));
    g.bench_function("put", |b| {
        b.iter_batched(
            || Shard::new(0, 16),
            |mut shard| {
                let mut cx = ShardCx::new(&mut shard, 0, NOW_MS);
                for k in &keys {
                    cx.put(black_box(k), Value::string(b"value"), false);
                }
                shard
            },
            BatchSize::LargeInput,
        )
    });
    let mut shard = filled_shard(&keys);
    g.bench_function("lookup_hit", |b| {
        b.iter(|| {
            let mut cx = ShardCx::new(&mut shard, 0, NOW_MS);
            let mut found = 0usize;
            for k in &keys {
                found += cx.lookup(black_box(k)).is_some() as usize;
            }
            assert_eq!(found, KEYS);
        })
    });
    g.bench_function("lookup_miss", |b| {
        let misses: Vec<Vec<u8>> = (0..KEYS).map(|i| format!("nokey:{i:06}").into_bytes()).collect();
        b.iter(|| {
            let mut cx = ShardCx::new(&mut shard, 0, NOW_MS);
            let mut found = 0usize;
            for k in &misses {
                found += cx.lookup(black_box(k)).is_some() as usize;
            }
            black_box(found)
        })
    });
    g.bench_function("remove", |b| {
        b.iter_batched(
            || filled_shard(&keys),
            |mut shard| {
                let mut cx = ShardCx::new(&mut shard, 0, NOW_MS);
                for k in &keys {
                    black_box(cx.remove(black_box(k)));
                }
                shard
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// A minimal table entry, so the table is measured without `Entry`'s value handling.
struct Slot {
    hash: u64,
    key: Box<[u8]>,
}

impl Hashed for Slot {
    fn hash(&self) -> u64 {
        self.hash
    }
}

fn table_ops(c: &mut Criterion) {
    let keys = keys();
    let hashes: Vec<u64> = keys.iter().map(|k| key_hash(k)).collect();
    let mut g = c.benchmark_group("segtable_100k");
    g.throughput(Throughput::Elements(KEYS as u64));
    g.bench_function("insert", |b| {
        b.iter_batched(
            SegTable::<Slot>::new,
            |mut t| {
                for (k, &h) in keys.iter().zip(&hashes) {
                    t.insert_new(
                        h,
                        Slot {
                            hash: h,
                            key: k.as_slice().into(),
                        },
                    );
                }
                t
            },
            BatchSize::LargeInput,
        )
    });
    let mut table = SegTable::<Slot>::new();
    for (k, &h) in keys.iter().zip(&hashes) {
        table.insert_new(
            h,
            Slot {
                hash: h,
                key: k.as_slice().into(),
            },
        );
    }
    g.bench_function("find", |b| {
        b.iter(|| {
            let mut found = 0usize;
            for (k, &h) in keys.iter().zip(&hashes) {
                found += table.find(black_box(h), |s| *s.key == **k).is_some() as usize;
            }
            assert_eq!(found, KEYS);
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::quick(10);
    targets = shard_ops, table_ops
}
criterion_main!(benches);
