//! The random-number floor alone: for each benchmark scenario, a loop that
//! draws exactly the random numbers `revshare run` draws (same batches,
//! same Xoshiro256++ generators, same distributions and count, see
//! `Model::draw_shocks`) and does nothing else; plus the unit costs of one
//! standard normal, one uniform and one `exp`. `benches/sampler.rs`
//! measures the floor again beside the sampler for the ratio.

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use revshare::model::{Model, RngShocks, Shocks};

const PATHS: u64 = 50_000;

fn floor(c: &mut Criterion) {
    let mut g = c.benchmark_group("rng_floor");
    g.sample_size(10).throughput(Throughput::Elements(PATHS));
    for (name, path) in [
        ("base", "scenarios/base.json"),
        ("gbm", "benches/gbm.json"),
        ("annual", "scenarios/annual-steps.json"),
    ] {
        let model = Model::new(&common::scenario(path));
        g.bench_function(BenchmarkId::new(name, 1), |b| {
            b.iter(|| black_box(common::rng_floor(&model, PATHS, 1)))
        });
    }
    g.finish();
}

fn units(c: &mut Criterion) {
    const N: u64 = 10_000;
    let mut g = c.benchmark_group("draw");
    g.throughput(Throughput::Elements(N));
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    g.bench_function("normal", |b| {
        b.iter(|| {
            let mut s = RngShocks(&mut rng);
            let mut acc = 0u64;
            for _ in 0..N {
                acc ^= s.normal().to_bits();
            }
            acc
        })
    });
    g.bench_function("uniform", |b| {
        b.iter(|| {
            let mut s = RngShocks(&mut rng);
            let mut acc = 0u64;
            for _ in 0..N {
                acc ^= s.uniform().to_bits();
            }
            acc
        })
    });
    let xs: Vec<f64> = (0..N).map(|i| 3.0 + i as f64 * 1e-4).collect();
    let mut out = vec![0.0; N as usize];
    g.bench_function("exp", |b| {
        b.iter(|| {
            for (o, &x) in out.iter_mut().zip(black_box(&xs)) {
                *o = x.exp();
            }
            black_box(&out);
        })
    });
    g.finish();
}

criterion_group!(benches, floor, units);
criterion_main!(benches);
