//! What packing a batch's commands for another core costs: the client's core copies each
//! command's arguments into one buffer (`command::packed`), the shard's core builds argument
//! vectors from it out of its own pool, and both give their buffers back.
//!
//! Run with `cargo bench --bench packed`. In the server this replaces handing the parsed
//! vectors across; the copy is paid in exchange for the cache lines that no longer cross
//! between cores (see perf/README.md, "The all-to-all mesh").

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shoal::command::lookup_indexed;
use shoal::command::packed::PackedCmds;
use shoal::resp::argv as argv_pool;
use shoal::resp::{Arg, Request};

/// Commands per packed job: about half of a `-P 16` batch on two shards is the other's.
const BATCH: usize = 8;

fn requests(words: &[&[u8]]) -> Vec<(usize, Request)> {
    (0..BATCH)
        .map(|i| {
            let mut argv: Request = words.iter().map(|w| Arg::from(*w)).collect();
            argv[1] = Arg::from(format!("key:{:012}", i * 7919).into_bytes());
            (lookup_indexed(&argv[0]).expect("known command").0, argv)
        })
        .collect()
}

fn pack_unpack(c: &mut Criterion) {
    let mut g = c.benchmark_group("packed");
    g.throughput(Throughput::Elements(BATCH as u64));
    for (name, words) in [
        ("get_x8", &[&b"GET"[..], b"k"][..]),
        ("set_3b_x8", &[&b"SET"[..], b"k", b"xxx"][..]),
        ("set_100b_x8", &[&b"SET"[..], b"k", &[b'x'; 100]][..]),
    ] {
        let batch = requests(words);
        let mut cmds = Vec::with_capacity(BATCH);
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut packed = PackedCmds::take();
                for (idx, argv) in &batch {
                    packed.push(*idx, argv);
                }
                packed.unpack(&mut cmds);
                let n = cmds.len();
                argv_pool::recycle_all(cmds.drain(..).map(|(_, argv, _)| argv));
                packed.give_back();
                black_box(n)
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::quick(20);
    targets = pack_unpack
}
criterion_main!(benches);
