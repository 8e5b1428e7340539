//! Wire-protocol micro-benchmarks: how fast a connection turns bytes into requests and
//! replies into bytes, apart from sockets and the keyspace.
//!
//! Run with `cargo bench --bench resp`. Sample sizes are kept small so the whole suite stays
//! within a few minutes on a shared two-core machine; treat the numbers as trends, not as
//! absolute truth.

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use shoal::resp::{Out, ParseLimits, Proto, RequestParser};

/// Commands per pipelined buffer: about what redis-benchmark `-P 16 -c 50` keeps in flight.
const PIPELINE: usize = 1000;

/// `SET key:NNN value` as a client library sends it (RESP multibulk).
fn multibulk_buffer() -> Vec<u8> {
    let mut buf = Vec::new();
    for i in 0..PIPELINE {
        let key = format!("key:{i:03}");
        buf.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
        buf.extend_from_slice(format!("${}\r\n{key}\r\n", key.len()).as_bytes());
        buf.extend_from_slice(b"$5\r\nvalue\r\n");
    }
    buf
}

/// The same commands typed inline, as telnet or `redis-cli` piping would send them.
fn inline_buffer() -> Vec<u8> {
    let mut buf = Vec::new();
    for i in 0..PIPELINE {
        buf.extend_from_slice(format!("SET key:{i:03} value\r\n").as_bytes());
    }
    buf
}

/// Parses every request out of `bytes`; returns the argument count so nothing is optimised out.
fn drain(bytes: &[u8]) -> usize {
    let limits = ParseLimits::default();
    let mut parser = RequestParser::new();
    let mut buf = BytesMut::from(bytes);
    let mut args = 0;
    while let Ok(Some(req)) = parser.next(&mut buf, &limits) {
        args += req.len();
    }
    args
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(PIPELINE as u64));
    let multibulk = multibulk_buffer();
    assert_eq!(drain(&multibulk), 3 * PIPELINE);
    g.bench_function("multibulk_set_x1000", |b| {
        b.iter(|| black_box(drain(black_box(&multibulk))))
    });
    let inline = inline_buffer();
    assert_eq!(drain(&inline), 3 * PIPELINE);
    g.bench_function("inline_set_x1000", |b| b.iter(|| black_box(drain(black_box(&inline)))));
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    let value = vec![b'x'; 100];
    g.throughput(Throughput::Elements(PIPELINE as u64));
    g.bench_function("bulk_100b_x1000", |b| {
        b.iter_batched_ref(
            || Out::new(Proto::Resp2),
            |out| {
                for _ in 0..PIPELINE {
                    out.bulk(black_box(&value));
                }
                black_box(out.len())
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("bulk_int_x1000", |b| {
        b.iter_batched_ref(
            || Out::new(Proto::Resp2),
            |out| {
                for i in 0..PIPELINE as i64 {
                    out.bulk_int(black_box(i * 7919));
                }
                black_box(out.len())
            },
            BatchSize::SmallInput,
        )
    });
    // An MGET / LRANGE style reply: one array header and 1000 short bulks.
    g.bench_function("array_of_1000_bulks", |b| {
        b.iter_batched_ref(
            || Out::new(Proto::Resp2),
            |out| {
                out.array(PIPELINE);
                for _ in 0..PIPELINE {
                    out.bulk(black_box(&value[..10]));
                }
                black_box(out.len())
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::quick(20);
    targets = parse, encode
}
criterion_main!(benches);
