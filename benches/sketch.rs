//! Per-value accumulation cost: `Sketch::add` (the quantile histogram
//! alone) and `StatAcc::add_slice` (sums, min/max and sketch, as the
//! engine flushes a chunk of 128 paths of one metric), on log-normal values
//! like a run rate's. Throughput is in values/s.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::SeedableRng;
use rand_distr::{Distribution, LogNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use revshare::statistics::{Sketch, StatAcc};

const N: usize = 1 << 16;

fn sketch(c: &mut Criterion) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    let dist = LogNormal::new(3.0, 0.5).expect("valid");
    let xs: Vec<f64> = (0..N).map(|_| dist.sample(&mut rng)).collect();
    let mut g = c.benchmark_group("sketch");
    g.throughput(Throughput::Elements(N as u64));
    let mut sk = Sketch::default();
    g.bench_function("sketch_add", |b| {
        b.iter(|| {
            for &x in black_box(&xs) {
                sk.add(x);
            }
        })
    });
    let mut acc = StatAcc::new(20.0, false);
    g.bench_function("statacc_add_slice_128", |b| {
        b.iter(|| {
            for chunk in black_box(&xs).chunks(128) {
                acc.add_slice(chunk);
            }
            acc.end_batch();
        })
    });
    g.finish();
    black_box((sk.count(), acc.count()));
}

criterion_group!(benches, sketch);
criterion_main!(benches);
